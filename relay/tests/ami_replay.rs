//! A session fed the recorded Asterisk 22 event stream, byte for byte, in uneven reads.

mod ami_support;

use std::collections::BTreeMap;

use ami_support::*;
use bytes::BytesMut;
use relay::ami::{SessionEvent, spawn_session};
use shared::ami::{Frame, Parser};

/// Event names in order, parsed straight from the bytes with no socket in between.
fn expected_names(bytes: &[u8]) -> Vec<String> {
    let mut parser = Parser::new();
    let mut buf = BytesMut::from(bytes);
    let mut names = Vec::new();
    while let Some(frame) = parser.next_frame(&mut buf) {
        if let Frame::Message(m) = frame {
            names.push(m.get_str("Event").expect("only events").into_owned());
        }
    }
    names
}

#[tokio::test]
async fn every_recorded_event_reaches_the_consumer_in_order() {
    let stream = fixture("ami-events-stream.txt");
    let events = events_part(&stream).to_vec();
    let expected = expected_names(&events);
    assert_eq!(expected.len(), 4038, "the summary's total");

    let (addr, _) = fake_ami(move |_, mut peer| {
        let events = events.clone();
        async move {
            let login = peer.action().await.expect("Login");
            peer.replay(&login, "ami-events-stream.txt", "ev-login")
                .await;
            // Uneven writes, so that messages are cut at many different places.
            let sizes = [1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 987];
            peer.write_in_chunks(&events, &sizes).await;
            peer.answer_everything().await;
        }
    })
    .await;

    let (_session, mut rx) = spawn_session(test_config(&addr));
    assert_eq!(connected(&mut rx).await, "11.0.0");
    let mut names = Vec::with_capacity(expected.len());
    while names.len() < expected.len() {
        match next_event(&mut rx).await {
            SessionEvent::Event(event) => {
                names.push(event.get_str("Event").expect("a name").into_owned())
            }
            other => panic!("unexpected {other:?} after {} events", names.len()),
        }
    }
    assert_eq!(names, expected);
    let mut counts = BTreeMap::new();
    for name in &names {
        *counts.entry(name.as_str()).or_insert(0) += 1;
    }
    // Spot checks against ami-events-stream-summary.txt.
    assert_eq!(counts["VarSet"], 1090);
    assert_eq!(counts["OriginateResponse"], 37);
    assert_eq!(counts.len(), 51);
}
