//! Bursts larger than the session's read batch: every message read is dispatched.
//!
//! The session handles at most a batch of buffered messages per wake-up. These tests
//! make messages pile up (one large write, a consumer that is slow to start) so that
//! batches are full, and check that nothing falls between two batches.

mod ami_support;

use std::collections::BTreeMap;
use std::time::Duration;

use ami_support::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use relay::ami::{AmiConfig, SessionEvent, spawn_session};
use shared::ami::Message;
use tokio::sync::mpsc;

/// The session's read batch (`READ_BATCH` in `relay::ami::session`), on purpose not
/// imported: the tests must catch a change of batch size too.
const BATCH: usize = 256;

/// How long the consumer waits before it starts reading, so that events pile up
/// in the socket and in the session's buffer meanwhile.
const SLOW_START: Duration = Duration::from_millis(300);

/// The recorded events without the banner, the login response and the logoff response.
fn recorded_events() -> Vec<u8> {
    events_part(&fixture("ami-events-stream.txt")).to_vec()
}

/// The admin stream's per-type counts, read from `ami-events-stream-summary.txt`.
fn summary_counts() -> BTreeMap<String, usize> {
    let summary = String::from_utf8(fixture("ami-events-stream-summary.txt")).expect("UTF-8");
    let section = summary
        .split("File: ")
        .find(|part| part.starts_with("ami-events-stream.txt"))
        .expect("the admin stream's section");
    section
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let count = words.next()?.parse().ok()?;
            let name = words.next()?;
            words.next().is_none().then(|| (name.to_owned(), count))
        })
        .collect()
}

/// The event names in the recorded bytes, in order, parsed with no socket in between.
fn names_in(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    text.split("\r\n\r\n")
        .filter_map(|block| {
            block
                .lines()
                .find_map(|l| l.strip_prefix("Event: ").map(str::to_owned))
        })
        .collect()
}

/// A config whose event channel is small, so that a slow consumer holds the session back.
fn slow_consumer_config(addr: &str) -> AmiConfig {
    let mut config = test_config(addr);
    config.event_buffer = 8;
    config
}

/// Waits for `Connected`, sleeps [`SLOW_START`], then collects `count` event names.
async fn collect(events: &mut mpsc::Receiver<SessionEvent>, count: usize) -> Vec<String> {
    connected(events).await;
    tokio::time::sleep(SLOW_START).await;
    let mut names = Vec::with_capacity(count);
    while names.len() < count {
        match next_event(events).await {
            SessionEvent::Event(event) => {
                names.push(event.get_str("Event").unwrap_or_default().into_owned())
            }
            other => panic!("unexpected {other:?} after {} events", names.len()),
        }
    }
    names
}

/// Serves the banner, accepts the login, writes `chunks` of `bytes` in turn, then
/// answers every action.
async fn serve_in_chunks(bytes: Vec<u8>, chunk_sizes: Vec<usize>) -> String {
    let (addr, _) = fake_ami(move |_, mut peer| {
        let bytes = bytes.clone();
        let sizes = chunk_sizes.clone();
        async move {
            peer.accept_login().await;
            peer.write_in_chunks(&bytes, &sizes).await;
            peer.answer_everything().await;
        }
    })
    .await;
    addr
}

async fn replay_and_check(chunk_sizes: Vec<usize>) {
    let events = recorded_events();
    let expected = names_in(&events);
    let summary = summary_counts();
    assert_eq!(summary.values().sum::<usize>(), 4038, "the summary's total");
    assert_eq!(expected.len(), 4038);

    let addr = serve_in_chunks(events, chunk_sizes).await;
    let (_session, mut rx) = spawn_session(slow_consumer_config(&addr));
    // FullyBooted from the login comes first, as Asterisk sends it.
    let names = collect(&mut rx, expected.len() + 1).await;
    assert_eq!(names[0], "FullyBooted");
    let names = &names[1..];
    let mut counts = BTreeMap::new();
    for name in names {
        *counts.entry(name.clone()).or_insert(0) += 1;
    }
    assert_eq!(counts, summary, "per-type counts against the summary");
    assert_eq!(names, expected, "the recorded order");
}

#[tokio::test]
async fn the_recorded_stream_in_one_write_arrives_whole_and_in_order() {
    replay_and_check(vec![usize::MAX]).await;
}

#[tokio::test]
async fn the_recorded_stream_in_writes_of_random_sizes_arrives_whole_and_in_order() {
    // Seeded, so a failure can be replayed; sizes from one byte to far past a batch.
    let mut rng = StdRng::seed_from_u64(8);
    let sizes = (0..64)
        .map(|_| match rng.random_range(0..4) {
            0 => rng.random_range(1..64),
            1 => rng.random_range(64..4096),
            2 => rng.random_range(4096..65_536),
            _ => rng.random_range(65_536..600_000),
        })
        .collect();
    replay_and_check(sizes).await;
}

/// `count` numbered UserEvents in one buffer.
fn numbered_events(count: usize) -> Vec<u8> {
    (0..count)
        .flat_map(|n| {
            format!("Event: UserEvent\r\nPrivilege: user,all\r\nUserEvent: Burst\r\nN: {n}\r\n\r\n")
                .into_bytes()
        })
        .collect()
}

#[tokio::test]
async fn bursts_around_the_batch_size_lose_nothing() {
    for count in [BATCH - 1, BATCH, BATCH + 1, 2 * BATCH + 1, 2 * BATCH + 2] {
        let mut burst = numbered_events(count);
        // A closing event after the burst proves nothing was dropped at its end.
        burst.extend_from_slice(
            b"Event: UserEvent\r\nPrivilege: user,all\r\nUserEvent: End\r\n\r\n",
        );
        let addr = serve_in_chunks(burst, vec![usize::MAX]).await;
        let (_session, mut rx) = spawn_session(slow_consumer_config(&addr));
        connected(&mut rx).await;
        tokio::time::sleep(SLOW_START).await;
        let mut seen = Vec::new();
        loop {
            match next_event(&mut rx).await {
                SessionEvent::Event(event)
                    if event.get_str("UserEvent").as_deref() == Some("End") =>
                {
                    break;
                }
                SessionEvent::Event(event) => {
                    if let Some(n) = event.get_str("N") {
                        seen.push(n.parse::<usize>().expect("a number"));
                    }
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(seen, (0..count).collect::<Vec<_>>(), "a burst of {count}");
    }
}

#[tokio::test]
async fn a_response_that_is_the_257th_message_of_a_burst_reaches_its_action() {
    let (addr, _) = fake_ami(|_, mut peer| async move {
        peer.accept_login().await;
        while let Some(action) = peer.action().await {
            // BATCH events, then the answer, in one write: the answer is message BATCH + 1.
            let mut burst = numbered_events(BATCH);
            let id = action.get_str("ActionID").unwrap_or_default().into_owned();
            burst.extend_from_slice(
                format!("Response: Success\r\nActionID: {id}\r\nPing: Pong\r\n\r\n").as_bytes(),
            );
            peer.write(&burst).await;
        }
    })
    .await;
    let (session, mut rx) = spawn_session(test_config(&addr));
    connected(&mut rx).await;
    for _ in 0..3 {
        let answer = session
            .send(Message::new().with("Action", "Ping"))
            .await
            .expect("the answer, not a timeout");
        assert_eq!(answer.response.get_str("Ping").as_deref(), Some("Pong"));
    }
}
