//! Reading the recordings in `../shared/fixtures/asterisk/`, for every test file here.
#![allow(dead_code)] // each test file uses part of this

use bytes::BytesMut;
use shared::ami::{Banner, Frame, Message, Parser};
pub use testkit::fixture;

/// Parses one connection's received bytes, fed `step` bytes per read, and insists
/// that every frame is valid.
pub fn parse_connection(bytes: &[u8], step: usize) -> (Option<Banner>, Vec<Message>) {
    let mut parser = Parser::new().expecting_banner();
    let mut buf = BytesMut::new();
    let mut banner = None;
    let mut messages = Vec::new();
    for chunk in bytes.chunks(step) {
        buf.extend_from_slice(chunk);
        while let Some(frame) = parser.next_frame(&mut buf) {
            match frame {
                Frame::Banner(b) => banner = Some(b),
                Frame::Message(m) => messages.push(m),
                Frame::Invalid(error) => panic!("fixture did not parse: {error}"),
            }
        }
    }
    assert!(buf.is_empty(), "{} bytes left over", buf.len());
    (banner, messages)
}

/// Parses bytes that hold no banner (what a client sent, or one payload).
pub fn parse_plain(bytes: &[u8]) -> Vec<Message> {
    let mut parser = Parser::new();
    let mut buf = BytesMut::from(bytes);
    let mut messages = Vec::new();
    while let Some(frame) = parser.next_frame(&mut buf) {
        match frame {
            Frame::Message(m) => messages.push(m),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(buf.is_empty(), "{} bytes left over", buf.len());
    messages
}

/// Splits concatenated connections at each banner line.
pub fn connections(bytes: &[u8]) -> Vec<&[u8]> {
    let banner = b"Asterisk Call Manager/";
    let mut starts: Vec<usize> = (0..bytes.len())
        .filter(|&i| bytes[i..].starts_with(banner) && (i == 0 || bytes[i - 1] == b'\n'))
        .collect();
    starts.push(bytes.len());
    starts.windows(2).map(|w| &bytes[w[0]..w[1]]).collect()
}

/// The payloads of a transcript (`*.txt` with markers), tagged `true` if received.
///
/// Markers and comments end in a bare LF and are preceded by one LF separator that
/// belongs to no payload (fixtures README).
pub fn transcript(text: &[u8]) -> Vec<(bool, Vec<u8>)> {
    let mut parts = Vec::new();
    let mut current: Option<(bool, Vec<u8>)> = None;
    for line in text.split_inclusive(|&b| b == b'\n') {
        let recv = line == b"<<< RECV\n";
        if recv || line == b">>> SENT\n" || line.starts_with(b"### ") {
            if let Some((was_recv, mut payload)) = current.take() {
                payload.pop(); // the separator LF before this marker
                parts.push((was_recv, payload));
            }
            if !line.starts_with(b"### ") {
                current = Some((recv, Vec::new()));
            }
        } else if let Some((_, payload)) = current.as_mut() {
            payload.extend_from_slice(line);
        }
    }
    // The last payload runs to the end of the file, with no separator after it.
    parts.extend(current);
    parts
}
