//! tokio-util `Decoder`/`Encoder` over the shared AMI parser and serializer.

use bytes::BytesMut;
use shared::ami::{Frame, Message, Parser};
use tokio_util::codec::{Decoder, Encoder};

/// Bytes ⇄ AMI frames. A malformed or oversized message is an item
/// ([`Frame::Invalid`]), not an error: the parser resynchronises at the next blank
/// line, so one bad message never kills the stream.
#[derive(Debug)]
pub struct AmiCodec {
    parser: Parser,
}

impl AmiCodec {
    /// A codec for a client connection: the first line is the server's banner, and no
    /// message may exceed `max_len` bytes.
    pub fn client(max_len: usize) -> Self {
        AmiCodec {
            parser: Parser::with_max_len(max_len).expecting_banner(),
        }
    }

    /// A codec for the server side of a connection, which sees no banner.
    pub fn server(max_len: usize) -> Self {
        AmiCodec {
            parser: Parser::with_max_len(max_len),
        }
    }
}

impl Decoder for AmiCodec {
    type Item = Frame;
    type Error = std::io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, std::io::Error> {
        Ok(self.parser.next_frame(src))
    }
}

impl Encoder<&Message> for AmiCodec {
    type Error = std::io::Error;

    fn encode(&mut self, message: &Message, dst: &mut BytesMut) -> Result<(), std::io::Error> {
        message.write_to(dst);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::ami::ParseError;

    #[test]
    fn decodes_banner_messages_and_skippable_errors_as_items() {
        let mut codec = AmiCodec::client(32);
        let mut buf = BytesMut::from(
            &b"Asterisk Call Manager/11.0.0\r\nEvent: A\r\n\r\nbad line\r\n\r\nEvent: B\r\n\r\n"[..],
        );
        let mut frames = Vec::new();
        while let Some(frame) = codec.decode(&mut buf).map_err(|e| e.to_string()).unwrap() {
            frames.push(frame);
        }
        assert!(matches!(&frames[0], Frame::Banner(b) if b.version() == Some("11.0.0")));
        assert_eq!(frames[1], Frame::Message(Message::new().with("Event", "A")));
        assert!(matches!(
            frames[2],
            Frame::Invalid(ParseError::MissingColon { line: 1, .. })
        ));
        assert_eq!(frames[3], Frame::Message(Message::new().with("Event", "B")));
    }

    #[test]
    fn encodes_the_wire_form() {
        let mut buf = BytesMut::new();
        let action = Message::new().with("Action", "Ping").with("ActionID", "7");
        AmiCodec::server(1024)
            .encode(&action, &mut buf)
            .map_err(|e| e.to_string())
            .unwrap();
        assert_eq!(&buf[..], b"Action: Ping\r\nActionID: 7\r\n\r\n");
    }
}
