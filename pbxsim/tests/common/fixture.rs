//! Reading the recordings: transcripts split into connections of sent and received messages.

use bytes::BytesMut;
use shared::ami::{Frame, Message, Parser};
use std::collections::{BTreeMap, BTreeSet};

/// One step of a transcript.
#[derive(Debug)]
pub enum Step {
    /// A comment line.
    Comment(String),
    /// An action the client sent.
    Sent(Message),
    /// A message the server sent.
    Recv(Message),
}

/// One TCP connection of a transcript.
pub type Connection = Vec<Step>;

fn parse_all(bytes: &[u8], banner: bool) -> Vec<Message> {
    let mut parser = if banner {
        Parser::new().expecting_banner()
    } else {
        Parser::new()
    };
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    while let Some(frame) = parser.next_frame(&mut buf) {
        if let Frame::Message(m) = frame {
            out.push(m);
        }
    }
    out
}

/// Splits a transcript into connections (a `### CONNECTION` comment or a banner starts one).
pub fn transcript(name: &str) -> Vec<Connection> {
    let data = testkit::fixture(name);
    let mut conns: Vec<Connection> = vec![Vec::new()];
    let mut i = 0;
    let mut mode: Option<bool> = None; // Some(true) = RECV payload, Some(false) = SENT payload
    let mut payload_start = 0;
    let flush = |conns: &mut Vec<Connection>, mode: Option<bool>, payload: &[u8]| {
        let Some(recv) = mode else { return };
        let banner = payload.starts_with(b"Asterisk Call Manager/");
        if banner
            && conns
                .last()
                .is_some_and(|c| c.iter().any(|s| matches!(s, Step::Recv(_) | Step::Sent(_))))
        {
            conns.push(Vec::new());
        }
        let Some(conn) = conns.last_mut() else { return };
        for m in parse_all(payload, banner) {
            conn.push(if recv { Step::Recv(m) } else { Step::Sent(m) });
        }
    };
    while i <= data.len() {
        // A marker line: at start of file or after an LF separator.
        let at_line = i == 0 || data[i - 1] == b'\n';
        let rest = &data[i..];
        let marker = if at_line && rest.starts_with(b"<<< RECV\n") {
            Some((Some(true), 9))
        } else if at_line && rest.starts_with(b">>> SENT\n") {
            Some((Some(false), 9))
        } else if at_line && rest.starts_with(b"### ") {
            let end = rest
                .iter()
                .position(|&b| b == b'\n')
                .map_or(rest.len(), |p| p + 1);
            Some((None, end))
        } else {
            None
        };
        match marker {
            Some((next, len)) => {
                let end = if payload_start < i {
                    i.saturating_sub(1)
                } else {
                    i
                };
                flush(
                    &mut conns,
                    mode,
                    &data[payload_start..end.max(payload_start)],
                );
                if next.is_none() {
                    let text =
                        String::from_utf8_lossy(&rest[4..len.saturating_sub(1)]).into_owned();
                    if text.starts_with("CONNECTION") && conns.last().is_some_and(|c| !c.is_empty())
                    {
                        conns.push(Vec::new());
                    }
                    if let Some(c) = conns.last_mut() {
                        c.push(Step::Comment(text));
                    }
                }
                mode = next;
                i += len;
                payload_start = i;
            }
            None if i == data.len() => {
                flush(&mut conns, mode, &data[payload_start..]);
                break;
            }
            None => i += 1,
        }
    }
    conns.retain(|c| !c.is_empty());
    conns
}

/// Every received message of a transcript, in order.
pub fn received(name: &str) -> Vec<Message> {
    transcript(name)
        .into_iter()
        .flatten()
        .filter_map(|s| match s {
            Step::Recv(m) => Some(m),
            _ => None,
        })
        .collect()
}

/// Key sequence of a message.
pub fn keys(m: &Message) -> Vec<String> {
    m.headers()
        .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
        .collect()
}

/// What the recordings say about one event type.
#[derive(Debug, Default)]
pub struct Recorded {
    /// How many were recorded.
    pub count: usize,
    /// Every key sequence seen.
    pub shapes: BTreeSet<Vec<String>>,
    /// Every value seen per key.
    pub values: BTreeMap<String, BTreeSet<String>>,
}

/// Recorded events by type.
pub fn events_by_type(messages: &[Message]) -> BTreeMap<String, Recorded> {
    let mut out: BTreeMap<String, Recorded> = BTreeMap::new();
    for m in messages {
        let Some(name) = m.event_name() else { continue };
        let rec = out
            .entry(String::from_utf8_lossy(name).into_owned())
            .or_default();
        rec.count += 1;
        rec.shapes.insert(keys(m));
        for (k, v) in m.headers() {
            rec.values
                .entry(String::from_utf8_lossy(k).into_owned())
                .or_default()
                .insert(String::from_utf8_lossy(v).into_owned());
        }
    }
    out
}

/// The shape of a dynamic value: digit runs become `9`, hex runs of a UUID `x`.
pub fn shape(value: &str) -> String {
    // A UUID is one shape whatever digits its groups happen to hold.
    let groups: Vec<&str> = value.split('-').collect();
    if groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups.iter().all(|g| {
            g.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
    {
        return "x-x-x-x-x".into();
    }
    let mut out = String::new();
    let mut last = None;
    for c in value.chars() {
        let class = if c.is_ascii_digit() {
            '9'
        } else if c.is_ascii_hexdigit() && c.is_ascii_lowercase() {
            'x'
        } else {
            c
        };
        if (class == '9' || class == 'x') && last == Some(class) {
            continue;
        }
        // A UUID group mixes digits and hex letters: fold both into `x`.
        if class == '9' && last == Some('x') || class == 'x' && last == Some('9') {
            out.pop();
            out.push('x');
            last = Some('x');
            continue;
        }
        out.push(class);
        last = Some(class);
    }
    out
}

/// Messages of a raw recording (`ami-events-stream*.txt`: banner, then messages, no markers).
pub fn raw_stream(name: &str) -> Vec<Message> {
    parse_all(&testkit::fixture(name), true)
}
