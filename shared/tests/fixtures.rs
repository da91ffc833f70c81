//! Replays every recorded Asterisk 22 byte stream through the parser.
#![cfg(not(target_arch = "wasm32"))] // reads files; the browser has its own copy in wasm.rs

mod common;

use std::collections::BTreeMap;

use bytes::BytesMut;
use common::*;
use shared::ami::{Message, MessageKind};

/// Serializing and parsing again gives the same messages, in order.
fn assert_roundtrip(messages: &[Message]) {
    let mut wire = BytesMut::new();
    for m in messages {
        m.write_to(&mut wire);
    }
    assert_eq!(parse_plain(&wire), messages);
}

#[test]
fn ami_session_recv_raw_parses_at_every_read_size() {
    let raw = fixture("ami-session.recv.raw");
    let conns = connections(&raw);
    assert_eq!(conns.len(), 2, "two connections are concatenated");
    for conn in conns {
        let (banner, whole) = parse_connection(conn, conn.len());
        assert_eq!(banner.expect("banner").version(), Some("11.0.0"));
        for step in [1, 2, 3, 7, 64, 1000] {
            assert_eq!(parse_connection(conn, step).1, whole, "read size {step}");
        }
        assert_roundtrip(&whole);
    }
}

#[test]
fn ami_session_quirks_come_out_right() {
    let raw = fixture("ami-session.recv.raw");
    let (_, messages) = parse_connection(connections(&raw)[0], 4096);
    let by_id = |id: &str| {
        messages
            .iter()
            .find(|m| m.action_id() == Some(id.as_bytes()) && m.kind() == MessageKind::Response)
            .unwrap_or_else(|| panic!("no response {id}"))
    };
    // Bare LF before the blank line, and an extra blank line after it.
    assert_eq!(
        by_id("park-28a").get_str("Message").as_deref(),
        Some("Park successful")
    );
    // An unknown action.
    assert_eq!(
        by_id("bad-30").get_str("Message").as_deref(),
        Some(
            "Invalid/unknown command: NoSuchAction. Use Action: ListCommands to show available commands."
        )
    );
    // `Command` gives one Output header per CLI line, in order; one starts with spaces.
    let outputs: Vec<&[u8]> = messages.iter().flat_map(|m| m.get_all("Output")).collect();
    assert!(outputs.len() > 10, "{} Output lines", outputs.len());
    assert!(
        outputs.iter().any(|o| o.starts_with(b" ")),
        "an indented CLI line keeps its spaces"
    );
    // Values with `: ` in them keep all of it after the first separator.
    assert!(
        messages
            .iter()
            .flat_map(|m| m.headers())
            .any(|(_, v)| v.windows(2).any(|w| w == b": ")),
        "some value contains ': '"
    );
    // Empty values.
    assert!(
        messages
            .iter()
            .flat_map(|m| m.headers())
            .any(|(_, v)| v.is_empty())
    );
}

#[test]
fn ami_session_2_recv_raw_parses() {
    let raw = fixture("ami-session-2.recv.raw");
    for conn in connections(&raw) {
        let (banner, messages) = parse_connection(conn, 1500);
        assert!(banner.is_some());
        assert!(!messages.is_empty());
        assert_roundtrip(&messages);
    }
}

#[test]
fn what_clients_sent_parses_too() {
    for name in [
        "ami-session.sent.raw",
        "ami-session-2.sent.raw",
        "ami-events-stream.sent.raw",
        "ami-events-stream-agent.sent.raw",
        "ami-events-stream-viewer.sent.raw",
    ] {
        let actions = parse_plain(&fixture(name));
        assert!(!actions.is_empty(), "{name}");
        // Every block the recorder sent has an Action header but one, sent on purpose.
        let without: Vec<_> = actions
            .iter()
            .filter(|a| a.kind() != MessageKind::Action)
            .collect();
        assert!(without.len() <= 1, "{name}: {without:?}");
        assert_roundtrip(&actions);
    }
}

/// Event counts per type from `ami-events-stream-summary.txt`, per file.
fn summary() -> BTreeMap<String, (usize, usize, BTreeMap<String, usize>)> {
    let text = String::from_utf8(fixture("ami-events-stream-summary.txt")).expect("UTF-8");
    let mut files = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["File:", name, ..] => {
                current = Some(name.to_string());
                files.insert(name.to_string(), (0, 0, BTreeMap::new()));
            }
            ["Traffic", ..] => current = None,
            ["total", "events:", n, ..] => {
                if let Some(entry) = current.as_ref().and_then(|c| files.get_mut(c)) {
                    entry.0 = n.parse().expect("count");
                }
            }
            ["messages", "that", "are", "responses", .., n] => {
                if let Some(entry) = current.as_ref().and_then(|c| files.get_mut(c)) {
                    entry.1 = n.parse().expect("count");
                }
            }
            [n, name] if n.parse::<usize>().is_ok() => {
                if let Some(entry) = current.as_ref().and_then(|c| files.get_mut(c)) {
                    entry.2.insert(name.to_string(), n.parse().expect("count"));
                }
            }
            _ => {}
        }
    }
    files
}

#[test]
fn event_streams_match_the_recorded_summary() {
    let summary = summary();
    assert_eq!(summary.len(), 3);
    for (name, (total, responses, counts)) in summary {
        let raw = fixture(&name);
        let (banner, messages) = parse_connection(&raw, 65536);
        assert!(banner.is_some(), "{name}");
        let mut seen = BTreeMap::new();
        for m in &messages {
            if let Some(event) = m.event_name() {
                *seen
                    .entry(String::from_utf8_lossy(event).into_owned())
                    .or_insert(0) += 1;
            }
        }
        let events: usize = seen.values().sum();
        assert_eq!(events, total, "{name}: total events");
        assert_eq!(messages.len() - events, responses, "{name}: responses");
        assert_eq!(seen, counts, "{name}: per type");
        assert_roundtrip(&messages);
    }
}

#[test]
fn transcripts_parse_message_by_message() {
    for name in [
        "ami-badlogin.txt",
        "ami-permissions.txt",
        "ami-listcommands.txt",
        "ami-session.txt",
        "ami-session-2.txt",
        "ami-events-traffic.txt",
    ] {
        let text = fixture(name);
        let parts = transcript(&text);
        assert!(
            parts.iter().any(|(recv, _)| *recv),
            "{name} has received payloads"
        );
        // Received payloads, concatenated per connection, parse without error.
        let received: Vec<u8> = parts
            .iter()
            .filter(|(recv, _)| *recv)
            .flat_map(|(_, p)| p.iter().copied())
            .collect();
        for conn in connections(&received) {
            let (_, messages) = parse_connection(conn, 977);
            assert_roundtrip(&messages);
        }
        for (_, sent) in parts.iter().filter(|(recv, _)| !*recv) {
            parse_plain(sent);
        }
    }
}

#[test]
fn non_utf8_bytes_survive_parsing_and_serializing() {
    let wire = b"Event: Newchannel\r\nCallerIDName: M\xfcller\r\n\r\n";
    let messages = parse_plain(wire);
    assert_eq!(messages[0].get("CallerIDName"), Some(&b"M\xfcller"[..]));
    assert_eq!(
        messages[0].get_str("CallerIDName").as_deref(),
        Some("M\u{fffd}ller")
    );
    assert_eq!(&messages[0].to_bytes()[..], wire);
}
