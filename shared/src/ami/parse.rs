//! Incremental AMI parser over a `BytesMut` read buffer, with a size bound and resync.

use bytes::{Buf, Bytes, BytesMut};
use memchr::memchr;

use super::message::{Message, Span, SpanTable};

/// The default bound on one message, banner or legacy command output, in bytes.
pub const DEFAULT_MAX_MESSAGE_LEN: usize = 1024 * 1024;

/// The largest bound [`Parser::with_max_len`] accepts: header offsets are `u32`.
const MAX_MAX_MESSAGE_LEN: usize = u32::MAX as usize / 2;

/// How much of an offending line an error quotes.
const QUOTE_LEN: usize = 80;

/// The terminator of legacy `Response: Follows` output.
const END_COMMAND: &[u8] = b"--END COMMAND--";

/// The first line the server writes on connect, `Asterisk Call Manager/11.0.0`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Banner {
    line: Bytes,
}

impl Banner {
    /// The whole line without its line end.
    pub fn line(&self) -> &[u8] {
        &self.line
    }

    /// The AMI protocol version after the last `/` (`11.0.0`), if the line has one.
    pub fn version(&self) -> Option<&str> {
        let slash = self.line.iter().rposition(|&b| b == b'/')?;
        std::str::from_utf8(&self.line[slash + 1..]).ok()
    }
}

/// A message the parser had to skip. The stream stays usable: parsing resumes after
/// the next blank line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// A message ran past the size bound; log it and carry on, it was skipped.
    #[error("AMI message at stream offset {offset} exceeds {max} bytes (read {len} so far)")]
    TooLong {
        /// Stream offset of the message's first byte.
        offset: u64,
        /// Bytes of the message buffered when the bound was hit (at least `max`).
        len: usize,
        /// The configured bound.
        max: usize,
    },
    /// A header line has no `:`; log it and carry on, the message was skipped.
    #[error("AMI header line {line} at stream offset {offset} has no colon: {text:?}")]
    MissingColon {
        /// Stream offset of the offending line.
        offset: u64,
        /// 1-based line number inside the message.
        line: usize,
        /// The start of the line, lossily decoded.
        text: String,
    },
}

/// One unit of parser output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// The greeting line; only produced by a parser built with [`Parser::expecting_banner`].
    Banner(Banner),
    /// A complete message.
    Message(Message),
    /// A skipped message; the next frame is the one after it.
    Invalid(ParseError),
}

/// Where the parser is in the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Waiting for the greeting line, which has no blank line after it.
    Banner,
    /// Reading `Key: Value` lines of a message up to a blank line.
    Headers,
    /// Dropping bytes up to the next blank line after an oversized message, without
    /// buffering them; `line_has_content` says whether the line being dropped (which
    /// may span reads) had anything besides `\r` so far.
    Discarding { line_has_content: bool },
}

/// What a line did to the message being scanned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// A blank line before any header: drop these bytes and start over.
    SkipBlank(usize),
    /// The message is the first this many bytes.
    Finish(usize),
}

/// Progress through a legacy `Response: Follows` block (Asterisk before 13).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Legacy {
    /// After `Response: Follows`: `Privilege` and `ActionID` lines are still headers.
    Headers,
    /// Raw CLI lines, each kept as an `Output` header, up to `--END COMMAND--`.
    Output,
    /// After `--END COMMAND--`: only the closing blank line is left.
    Ended,
}

/// An incremental AMI parser: feed it the read buffer, take frames out.
///
/// It never fails as a whole: a bad message comes out as [`Frame::Invalid`] and the
/// parser resynchronises at the next blank line. Partial input is remembered (the
/// scan resumes where it stopped), so calling it after every read costs time linear
/// in the bytes read.
#[derive(Debug)]
pub struct Parser {
    max_len: usize,
    state: State,
    /// Bytes of the current message already split into lines.
    scanned: usize,
    /// Headers of the current message found so far.
    spans: SpanTable,
    /// `Some` inside a legacy `Response: Follows` message.
    legacy: Option<Legacy>,
    /// The first problem in the current message, reported when its blank line arrives.
    error: Option<ParseError>,
    /// Stream offset of the first byte in the caller's buffer.
    consumed: u64,
}

impl Default for Parser {
    fn default() -> Self {
        Self::new()
    }
}

impl Parser {
    /// A parser for messages only, bounded at [`DEFAULT_MAX_MESSAGE_LEN`].
    pub fn new() -> Self {
        Self::with_max_len(DEFAULT_MAX_MESSAGE_LEN)
    }

    /// A parser that refuses messages longer than `max_len` bytes, counting line ends
    /// and the closing blank line (capped at 2 GiB).
    pub fn with_max_len(max_len: usize) -> Self {
        Parser {
            max_len: max_len.clamp(1, MAX_MAX_MESSAGE_LEN),
            state: State::Headers,
            scanned: 0,
            spans: SpanTable::default(),
            legacy: None,
            error: None,
            consumed: 0,
        }
    }

    /// Makes the first line of the stream come out as a [`Frame::Banner`], as a TCP
    /// client connecting to Asterisk needs.
    #[must_use]
    pub fn expecting_banner(mut self) -> Self {
        self.state = State::Banner;
        self.scanned = 0;
        self
    }

    /// The configured bound.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Takes the next complete frame out of `buf`, or returns `None` when more bytes
    /// are needed (everything needed to resume is kept in `self` and `buf`).
    pub fn next_frame(&mut self, buf: &mut BytesMut) -> Option<Frame> {
        loop {
            match self.state {
                State::Discarding { line_has_content } => {
                    if self.discard(buf, line_has_content) {
                        self.state = State::Headers;
                    } else {
                        return None;
                    }
                }
                State::Banner => return self.banner(buf),
                State::Headers => return self.message(buf),
            }
        }
    }

    /// Drops bytes up to and including the next blank line; true once it is found.
    fn discard(&mut self, buf: &mut BytesMut, mut line_has_content: bool) -> bool {
        loop {
            let Some(nl) = memchr(b'\n', buf) else {
                line_has_content |= buf.iter().any(|&b| b != b'\r');
                self.advance(buf, buf.len());
                self.state = State::Discarding { line_has_content };
                return false;
            };
            let blank = !line_has_content && buf[..nl].iter().all(|&b| b == b'\r');
            self.advance(buf, nl + 1);
            if blank {
                return true;
            }
            line_has_content = false;
        }
    }

    fn advance(&mut self, buf: &mut BytesMut, n: usize) {
        buf.advance(n);
        self.consumed += n as u64;
    }

    /// Reports an oversized message and starts dropping it.
    fn too_long(&mut self, buf: &mut BytesMut) -> Frame {
        let error = ParseError::TooLong {
            offset: self.consumed,
            len: buf.len(),
            max: self.max_len,
        };
        // Complete lines are dropped now; the partial last line is handed to
        // `discard`, which must see its bytes to tell whether it ends up blank.
        let scanned = self.scanned;
        self.reset();
        self.advance(buf, scanned);
        self.state = State::Discarding {
            line_has_content: false,
        };
        Frame::Invalid(error)
    }

    fn reset(&mut self) {
        self.scanned = 0;
        self.legacy = None;
        self.error = None;
        self.spans.clear();
    }

    fn banner(&mut self, buf: &mut BytesMut) -> Option<Frame> {
        let window = &buf[..buf.len().min(self.max_len)];
        let Some(nl) = memchr(b'\n', window) else {
            return (buf.len() >= self.max_len).then(|| self.too_long(buf));
        };
        let end = if nl > 0 && buf[nl - 1] == b'\r' {
            nl - 1
        } else {
            nl
        };
        let mut line = buf.split_to(nl + 1).freeze();
        self.consumed += (nl + 1) as u64;
        line.truncate(end);
        self.state = State::Headers;
        Some(Frame::Banner(Banner { line }))
    }

    fn message(&mut self, buf: &mut BytesMut) -> Option<Frame> {
        loop {
            let limit = buf.len().min(self.max_len);
            match self.scan(&buf[..limit]) {
                None => return (buf.len() >= self.max_len).then(|| self.too_long(buf)),
                Some(Step::SkipBlank(next)) => {
                    self.advance(buf, next);
                    self.scanned = 0;
                }
                Some(Step::Finish(len)) => return Some(self.finish(buf, len)),
            }
        }
    }

    /// Splits `data[self.scanned..]` into lines until one ends or skips the message;
    /// `None` means every complete line was taken in and more bytes are needed.
    fn scan(&mut self, data: &[u8]) -> Option<Step> {
        while let Some(rel) = find_byte(&data[self.scanned..], b'\n') {
            let start = self.scanned;
            let nl = start + rel;
            let end = if nl > start && data[nl - 1] == b'\r' {
                nl - 1
            } else {
                nl
            };
            if let Some(step) = self.line(data, start, end, nl + 1) {
                return Some(step);
            }
        }
        None
    }

    /// Takes in the line `data[start..end]` (line end excluded, next line at `next`);
    /// returns a step when the line ended or skipped the message.
    fn line(&mut self, data: &[u8], start: usize, end: usize, next: usize) -> Option<Step> {
        let line = &data[start..end];
        match self.legacy {
            Some(Legacy::Output) => {
                if line.ends_with(END_COMMAND) {
                    // Output without a final newline has the marker glued to its last line.
                    let text_end = end - END_COMMAND.len();
                    if text_end > start {
                        self.push_span(Span::output(start, text_end));
                    }
                    self.legacy = Some(Legacy::Ended);
                } else {
                    self.push_span(Span::output(start, end));
                }
                self.scanned = next;
                return None;
            }
            Some(Legacy::Ended) if start != end => {
                // No blank line after the marker: the message ends before this line.
                return Some(Step::Finish(start));
            }
            _ => {}
        }
        if start == end {
            if self.spans.is_empty() && self.error.is_none() {
                // Blank lines between messages (the `Park` response leaves one) are noise.
                return Some(Step::SkipBlank(next));
            }
            return Some(Step::Finish(next));
        }
        let Some(colon) = find_byte(line, b':') else {
            if self.legacy == Some(Legacy::Headers) {
                self.legacy = Some(Legacy::Output);
                return self.line(data, start, end, next);
            }
            if self.error.is_none() {
                self.error = Some(ParseError::MissingColon {
                    offset: self.consumed + start as u64,
                    line: self.spans.len() + 1,
                    text: String::from_utf8_lossy(&line[..line.len().min(QUOTE_LEN)]).into_owned(),
                });
            }
            self.scanned = next;
            return None;
        };
        let key = &line[..colon];
        match self.legacy {
            None if self.spans.is_empty()
                && key.eq_ignore_ascii_case(b"Response")
                && value_of(line, colon).eq_ignore_ascii_case(b"Follows") =>
            {
                self.legacy = Some(Legacy::Headers);
            }
            Some(Legacy::Headers)
                if !key.eq_ignore_ascii_case(b"Privilege")
                    && !key.eq_ignore_ascii_case(b"ActionID") =>
            {
                self.legacy = Some(Legacy::Output);
                return self.line(data, start, end, next);
            }
            _ => {}
        }
        let value_start = start + colon + 1 + usize::from(line.get(colon + 1) == Some(&b' '));
        self.push_span(Span::header(start, start + colon, value_start, end));
        self.scanned = next;
        None
    }

    /// Records a header. Offsets past `u32` cannot occur, as `max_len` is capped at
    /// [`MAX_MAX_MESSAGE_LEN`]; should one appear, the message is skipped as too long
    /// rather than the parser panicking.
    fn push_span(&mut self, span: Option<Span>) {
        match span {
            Some(span) => self.spans.push(span),
            None => {
                self.error.get_or_insert(ParseError::TooLong {
                    offset: self.consumed,
                    len: self.scanned,
                    max: self.max_len,
                });
            }
        }
    }

    /// Splits the message `buf[..len]` off and returns it (or its error).
    fn finish(&mut self, buf: &mut BytesMut, len: usize) -> Frame {
        let frame = buf.split_to(len).freeze();
        self.consumed += len as u64;
        self.scanned = 0;
        self.legacy = None;
        if let Some(error) = self.error.take() {
            self.spans.clear();
            return Frame::Invalid(error);
        }
        Frame::Message(Message::from_parts(frame, self.spans.take()))
    }
}

/// The position of the first `byte` in `haystack`, eight bytes per step.
///
/// AMI lines are short (about 25 bytes, keys about 10): `memchr`'s vector search
/// spends more time starting up on each of them than this word-at-a-time loop needs
/// to finish, and it works the same on wasm32.
fn find_byte(haystack: &[u8], byte: u8) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let pattern = ONES * u64::from(byte);
    let (words, tail) = haystack.as_chunks::<8>();
    for (i, word) in words.iter().enumerate() {
        let x = u64::from_le_bytes(*word) ^ pattern;
        // High bit set in each byte of `x` that is zero. Borrows can only mark bytes
        // above a real zero, so the lowest mark is always a real match.
        let zeros = x.wrapping_sub(ONES) & !x & HIGHS;
        if zeros != 0 {
            return Some(i * 8 + zeros.trailing_zeros() as usize / 8);
        }
    }
    let tail_at = words.len() * 8;
    tail.iter().position(|&b| b == byte).map(|p| tail_at + p)
}

/// The value of a `Key: Value` line whose colon is at `colon`: one space after the
/// colon is part of the separator, any further ones belong to the value.
fn value_of(line: &[u8], colon: usize) -> &[u8] {
    let rest = &line[colon + 1..];
    rest.strip_prefix(b" ").unwrap_or(rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ami::MessageKind;

    /// Feeds `input` in pieces of `step` bytes and collects every frame.
    fn parse_in_steps(mut parser: Parser, input: &[u8], step: usize) -> Vec<Frame> {
        let mut buf = BytesMut::new();
        let mut frames = Vec::new();
        for chunk in input.chunks(step.max(1)) {
            buf.extend_from_slice(chunk);
            while let Some(frame) = parser.next_frame(&mut buf) {
                frames.push(frame);
            }
        }
        frames
    }

    fn messages(frames: &[Frame]) -> Vec<&Message> {
        frames
            .iter()
            .filter_map(|f| match f {
                Frame::Message(m) => Some(m),
                _ => None,
            })
            .collect()
    }

    const SESSION: &[u8] = b"Asterisk Call Manager/11.0.0\r\n\
        Response: Success\r\nActionID: 1\r\nMessage: Authentication accepted\r\n\r\n\
        Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted\r\n\r\n";

    #[test]
    fn banner_then_messages_at_every_split() {
        for step in 1..SESSION.len() {
            let frames = parse_in_steps(Parser::new().expecting_banner(), SESSION, step);
            assert_eq!(frames.len(), 3, "step {step}");
            let Frame::Banner(banner) = &frames[0] else {
                panic!("no banner at step {step}: {frames:?}");
            };
            assert_eq!(banner.line(), b"Asterisk Call Manager/11.0.0");
            assert_eq!(banner.version(), Some("11.0.0"));
            let msgs = messages(&frames);
            assert_eq!(
                msgs[0].get("message"),
                Some(&b"Authentication accepted"[..])
            );
            assert_eq!(msgs[1].get("Status"), Some(&b"Fully Booted"[..]));
        }
    }

    #[test]
    fn without_banner_the_first_line_is_a_header() {
        let frames = parse_in_steps(Parser::new(), b"Event: X\r\n\r\n", 64);
        assert_eq!(frames, [Frame::Message(Message::new().with("Event", "X"))]);
    }

    #[test]
    fn bare_lf_and_extra_blank_lines_as_in_the_park_response() {
        let input = b"Response: Success\r\nActionID: park-28a\r\nMessage: Park successful\n\r\n\r\nEvent: CEL\r\n\r\n";
        let frames = parse_in_steps(Parser::new(), input, 7);
        let msgs = messages(&frames);
        assert_eq!(frames.len(), 2);
        assert_eq!(msgs[0].get("Message"), Some(&b"Park successful"[..]));
        assert_eq!(msgs[1].event_name(), Some(&b"CEL"[..]));
    }

    #[test]
    fn values_keep_colons_extra_spaces_and_can_be_empty() {
        let frames = parse_in_steps(
            Parser::new(),
            b"Output:   Channel: x\r\nAccountCode: \r\nEmpty:\r\n\r\n",
            3,
        );
        let msg = messages(&frames)[0];
        assert_eq!(msg.get("Output"), Some(&b"  Channel: x"[..]));
        assert_eq!(msg.get("AccountCode"), Some(&b""[..]));
        assert_eq!(msg.get("Empty"), Some(&b""[..]));
    }

    #[test]
    fn a_line_without_colon_skips_only_its_message() {
        let input = b"Event: A\r\nno colon here\r\nMore: x\r\n\r\nEvent: B\r\n\r\n";
        let frames = parse_in_steps(Parser::new(), input, 5);
        assert_eq!(
            frames[0],
            Frame::Invalid(ParseError::MissingColon {
                offset: 10,
                line: 2,
                text: "no colon here".into()
            })
        );
        assert_eq!(frames[1], Frame::Message(Message::new().with("Event", "B")));
        assert_eq!(frames.len(), 2);
    }

    #[test]
    fn the_size_bound_accepts_n_and_refuses_n_plus_one() {
        let exact = b"Event: AB\r\n\r\n"; // 13 bytes
        let frames = parse_in_steps(Parser::with_max_len(13), exact, 1);
        assert_eq!(messages(&frames).len(), 1);

        let over = b"Event: ABC\r\n\r\nEvent: D\r\n\r\n";
        for step in [1, 3, over.len()] {
            let frames = parse_in_steps(Parser::with_max_len(13), over, step);
            assert!(
                matches!(frames[0], Frame::Invalid(ParseError::TooLong { offset: 0, len, max: 13 }) if len >= 13),
                "step {step}: {frames:?}"
            );
            assert_eq!(
                frames[1..],
                [Frame::Message(Message::new().with("Event", "D"))],
                "step {step}"
            );
        }
    }

    #[test]
    fn an_oversized_message_is_dropped_without_being_buffered() {
        let mut parser = Parser::with_max_len(64);
        let mut buf = BytesMut::from(&b"Event: Big\r\nData: "[..]);
        buf.extend_from_slice(&[b'x'; 100]);
        assert!(matches!(
            parser.next_frame(&mut buf),
            Some(Frame::Invalid(ParseError::TooLong { .. }))
        ));
        assert_eq!(parser.next_frame(&mut buf), None);
        assert!(buf.is_empty(), "discarded bytes must not pile up");
        // The discarded line ends in a partial `\r`, then the blank line follows.
        buf.extend_from_slice(b"xx\r");
        assert_eq!(parser.next_frame(&mut buf), None);
        buf.extend_from_slice(b"\n\r");
        assert_eq!(parser.next_frame(&mut buf), None);
        buf.extend_from_slice(b"\nEvent: After\r\n\r\n");
        assert_eq!(
            parser.next_frame(&mut buf),
            Some(Frame::Message(Message::new().with("Event", "After")))
        );
    }

    #[test]
    fn legacy_follows_output_becomes_output_headers() {
        let input = b"Response: Follows\r\nPrivilege: Command\r\nActionID: c1\r\n\
            Channel              Location: here\n\nlast line--END COMMAND--\r\n\r\nEvent: Next\r\n\r\n";
        for step in [1, 2, 9, input.len()] {
            let frames = parse_in_steps(Parser::new(), input, step);
            let msgs = messages(&frames);
            assert_eq!(msgs.len(), 2, "step {step}");
            assert_eq!(msgs[0].kind(), MessageKind::CommandOutput);
            assert_eq!(msgs[0].action_id(), Some(&b"c1"[..]));
            assert_eq!(
                msgs[0].get_all("output").collect::<Vec<_>>(),
                [
                    &b"Channel              Location: here"[..],
                    b"",
                    b"last line"
                ]
            );
            assert_eq!(msgs[1].event_name(), Some(&b"Next"[..]));
        }
    }

    #[test]
    fn legacy_output_roundtrips_through_the_serializer() {
        let msg = Message::new()
            .with("Response", "Follows")
            .with("Privilege", "Command")
            .with("Output", "a: b")
            .with("Output", "");
        let frames = parse_in_steps(Parser::new(), &msg.to_bytes(), 4);
        assert_eq!(frames, [Frame::Message(msg)]);
    }

    #[test]
    fn find_byte_finds_the_first_match_at_every_position() {
        for len in 0..40 {
            for at in 0..len {
                let mut hay = vec![b'x'; len];
                hay[at] = b'\n';
                // A later match, and a byte one above the target, must not confuse it.
                if at + 1 < len {
                    hay[at + 1] = b'\x0b';
                }
                if at + 3 < len {
                    hay[at + 3] = b'\n';
                }
                assert_eq!(find_byte(&hay, b'\n'), Some(at), "len {len} at {at}");
            }
            assert_eq!(find_byte(&vec![b'x'; len], b'\n'), None);
        }
        assert_eq!(find_byte(&[0x0a, 0x01, 0x00, 0x0b], 0x0b), Some(3));
        assert_eq!(
            find_byte(b"\x00\x01\x01\x01\x01\x01\x01\x01:", 0x01),
            Some(1)
        );
    }

    #[test]
    fn stream_offsets_count_every_consumed_byte() {
        let input = b"\r\nEvent: A\r\n\r\nEvent: B\r\nbad\r\n\r\n";
        let frames = parse_in_steps(Parser::new(), input, 1);
        assert_eq!(
            frames[1],
            Frame::Invalid(ParseError::MissingColon {
                offset: 24,
                line: 2,
                text: "bad".into()
            })
        );
    }
}
