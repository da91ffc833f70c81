//! The AMI parser and serializer in a browser (wasm32), on recorded Asterisk bytes.
#![cfg(target_arch = "wasm32")]

use bytes::BytesMut;
use shared::ami::{Frame, Message, MessageKind, Parser};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// The admin event stream, byte for byte: banner, login response, 4038 events, logoff.
const STREAM: &[u8] = include_bytes!("../../../shared/fixtures/asterisk/ami-events-stream.txt");

/// Contains the `Park` response with its bare LF (`ami-session.txt`, ActionID park-28a).
const SESSION: &[u8] = include_bytes!("../../../shared/fixtures/asterisk/ami-session.recv.raw");

fn parse(bytes: &[u8], step: usize) -> Vec<Message> {
    let mut parser = Parser::new().expecting_banner();
    let mut buf = BytesMut::new();
    let mut messages = Vec::new();
    for chunk in bytes.chunks(step) {
        buf.extend_from_slice(chunk);
        while let Some(frame) = parser.next_frame(&mut buf) {
            match frame {
                Frame::Message(m) => messages.push(m),
                Frame::Banner(b) => assert_eq!(b.version(), Some("11.0.0")),
                Frame::Invalid(error) => panic!("{error}"),
            }
        }
    }
    messages
}

#[wasm_bindgen_test]
fn the_recorded_event_stream_parses_in_the_browser() {
    let messages = parse(STREAM, 4096);
    let events = messages
        .iter()
        .filter(|m| m.kind() == MessageKind::Event)
        .count();
    assert_eq!(events, 4038);
    assert_eq!(messages.len(), 4040);
    let varsets = messages
        .iter()
        .filter(|m| m.event_name() == Some(b"VarSet"))
        .count();
    assert_eq!(varsets, 1090);
}

#[wasm_bindgen_test]
fn split_reads_bare_lf_and_round_trip_work_in_the_browser() {
    // The first connection only: the second starts with its own banner.
    let second = (1..SESSION.len())
        .find(|&i| SESSION[i - 1] == b'\n' && SESSION[i..].starts_with(b"Asterisk Call Manager/"))
        .unwrap_or(SESSION.len());
    let messages = parse(&SESSION[..second], 13);
    let park = messages
        .iter()
        .find(|m| m.action_id() == Some(b"park-28a") && m.kind() == MessageKind::Response)
        .expect("the Park response");
    assert_eq!(park.get_str("message").as_deref(), Some("Park successful"));
    for m in messages.iter().take(200) {
        let mut buf = BytesMut::from(&m.to_bytes()[..]);
        assert_eq!(
            Parser::new().next_frame(&mut buf),
            Some(Frame::Message(m.clone()))
        );
    }
}
