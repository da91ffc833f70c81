//! Every recorded stream through the live model's reducer, with its invariants
//! checked after each event, and the model compared with each status list.
#![cfg(not(target_arch = "wasm32"))] // reads files

mod common;

use std::collections::BTreeSet;

use common::*;
use shared::ami::{Message, MessageKind};
use shared::model::ServerModel;

/// The received messages of a recording, connection by connection.
fn received(name: &str) -> Vec<Vec<Message>> {
    let bytes = fixture(name);
    // Transcripts mark each payload; the event streams are the raw bytes received.
    let raw: Vec<u8> = if bytes.windows(9).any(|w| w == b"<<< RECV\n") {
        transcript(&bytes)
            .into_iter()
            .filter(|(recv, _)| *recv)
            .flat_map(|(_, payload)| payload)
            .collect()
    } else {
        bytes
    };
    connections(&raw)
        .into_iter()
        .map(|conn| parse_connection(conn, 4096).1)
        .collect()
}

/// The structure holds together: bridges and channels agree, counters add up.
fn check_invariants(model: &ServerModel, after: &str) {
    let mut seen = BTreeSet::new();
    for call in model.calls.values() {
        for id in &call.channels {
            assert!(seen.insert(id.clone()), "{id} in two bridges after {after}");
            let channel = model.channels.get(id).unwrap_or_else(|| {
                panic!("bridge {} names gone channel {id} after {after}", call.id)
            });
            assert_eq!(
                channel.bridge.as_deref(),
                Some(call.id.as_str()),
                "after {after}"
            );
        }
    }
    for channel in model.channels.values() {
        if let Some(bridge) = &channel.bridge {
            assert!(
                model
                    .calls
                    .get(bridge)
                    .is_some_and(|c| c.channels.contains(&channel.uniqueid)),
                "{} claims bridge {bridge} after {after}",
                channel.channel
            );
        }
    }
    for queue in model.queues.values() {
        assert_eq!(
            queue.calls as usize,
            queue.callers.len(),
            "queue {} after {after}",
            queue.name
        );
    }
}

/// A hung-up channel is gone from every part of the model.
fn check_gone(model: &ServerModel, uniqueid: &str) {
    assert!(
        !model.channels.contains_key(uniqueid),
        "{uniqueid} still a channel"
    );
    assert!(
        model
            .calls
            .values()
            .all(|c| !c.channels.iter().any(|id| id == uniqueid))
    );
    assert!(
        model
            .queues
            .values()
            .all(|q| !q.callers.contains_key(uniqueid))
    );
    assert!(!model.parked.contains_key(uniqueid));
    assert!(
        model
            .spies
            .values()
            .all(|s| s.spyer_uniqueid != uniqueid && s.spyee_uniqueid != uniqueid)
    );
    assert!(!model.recordings.contains_key(uniqueid));
}

/// Replays one connection; returns how many events and list comparisons it checked.
///
/// On a connection with events, the model kept from them must equal each channel list;
/// on one without (`Events: off`), nothing tells the model a channel went, so there the
/// list is compared with a model rebuilt from it alone, as the relay rebuilds.
fn replay(messages: &[Message], name: &str) -> (usize, usize) {
    let live = messages
        .iter()
        .any(|m| matches!(m.event_name(), Some(b"Newchannel" | b"Hangup")));
    let mut model = ServerModel::default();
    let mut rebuilt = ServerModel::default();
    let mut listed: Option<BTreeSet<String>> = None;
    let (mut events, mut lists) = (0, 0);
    for (n, message) in messages.iter().enumerate() {
        if message.kind() != MessageKind::Event {
            continue;
        }
        let event = message
            .event_name()
            .map(|e| String::from_utf8_lossy(e).into_owned())
            .unwrap_or_default();
        let after = format!("{name} #{n} {event}");
        let before = model.clone();
        let mut changes = Vec::new();
        model.apply_event(message, 1_000_000, &mut changes);
        events += 1;

        let mut replayed = before;
        for change in changes {
            replayed.apply_change(change);
        }
        assert_eq!(
            replayed, model,
            "the changes do not rebuild the model after {after}"
        );
        check_invariants(&model, &after);
        if event == "Hangup" {
            check_gone(&model, &message.get_str("Uniqueid").unwrap_or_default());
        }

        // CoreShowChannels: after its last item, the model holds exactly what it listed.
        match event.as_str() {
            "CoreShowChannel" => {
                let id = message.get_str("Uniqueid").unwrap_or_default().into_owned();
                if listed.is_none() {
                    rebuilt = ServerModel::default();
                }
                listed.get_or_insert_with(BTreeSet::new).insert(id);
                rebuilt.apply_event(message, 1_000_000, &mut Vec::new());
            }
            "CoreShowChannelsComplete" => {
                let listed = listed.take().unwrap_or_default();
                let compared = if live { &model } else { &rebuilt };
                let held: BTreeSet<String> = compared.channels.keys().cloned().collect();
                assert_eq!(
                    held, listed,
                    "the model disagrees with the channel list after {after}"
                );
                lists += 1;
            }
            _ => {}
        }
    }
    (events, lists)
}

#[test]
fn every_recording_keeps_the_model_whole() {
    let mut total_events = 0;
    let mut total_lists = 0;
    for name in [
        "ami-events-stream.txt",
        "ami-events-stream-agent.txt",
        "ami-events-stream-viewer.txt",
        "ami-events-traffic.txt",
        "ami-session.txt",
        "ami-session-2.txt",
        "ami-permissions.txt",
        "ami-listcommands.txt",
    ] {
        for (n, connection) in received(name).iter().enumerate() {
            let (events, lists) = replay(connection, &format!("{name} connection {n}"));
            total_events += events;
            total_lists += lists;
        }
    }
    assert!(total_events > 8000, "only {total_events} events replayed");
    assert!(total_lists >= 1, "no CoreShowChannels list was compared");
}

#[test]
fn the_recorded_stream_ends_with_the_calls_it_left_up() {
    let connection = &received("ami-events-stream.txt")[0];
    let mut model = ServerModel::default();
    let mut changes = Vec::new();
    let mut hung_up = BTreeSet::new();
    let mut created = BTreeSet::new();
    for message in connection {
        match message.event_name() {
            Some(b"Newchannel") => {
                created.insert(message.get_str("Uniqueid").unwrap_or_default().into_owned());
            }
            Some(b"Hangup") => {
                hung_up.insert(message.get_str("Uniqueid").unwrap_or_default().into_owned());
            }
            _ => {}
        }
        model.apply_event(message, 0, &mut changes);
    }
    let expected: BTreeSet<String> = created.difference(&hung_up).cloned().collect();
    let held: BTreeSet<String> = model.channels.keys().cloned().collect();
    assert_eq!(held, expected, "channels left after the recording");
    assert!(!changes.is_empty());
}

/// A tick's changes coalesced to the last change of each thing bring a browser to the
/// same model as all of them, whatever the tick's size (the relay coalesces each
/// delta): checked after every tick of every recording.
#[test]
fn coalesced_ticks_rebuild_the_same_model() {
    let (mut before, mut after) = (0, 0);
    for name in ["ami-events-stream.txt", "ami-events-traffic.txt"] {
        for connection in received(name) {
            for tick in [1, 2, 7, 64, 500, usize::MAX] {
                let mut model = ServerModel::default();
                let mut browser = ServerModel::default();
                for events in connection.chunks(tick.min(connection.len().max(1))) {
                    let mut changes = Vec::new();
                    for message in events {
                        model.apply_event(message, 1_000_000, &mut changes);
                    }
                    before += changes.len();
                    shared::model::coalesce(&mut changes);
                    after += changes.len();
                    for change in changes {
                        browser.apply_change(change);
                    }
                    assert_eq!(browser, model, "{name}, ticks of {tick} events");
                }
            }
        }
    }
    assert!(
        after < before,
        "coalescing saved nothing: {after} of {before}"
    );
}
