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
    assert!(
        model
            .conferences
            .values()
            .all(|c| !c.participants.contains_key(uniqueid))
    );
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

/// What [`check_against_lists`] compared on one connection.
#[derive(Debug, Default)]
struct Compared {
    /// Queues whose waiting callers (and their places) were compared.
    queues: usize,
    /// Queue members compared field by field.
    members: usize,
    /// Members compared while the list said `InCall: 1`.
    in_call: usize,
    /// Devices compared.
    devices: usize,
    /// What differed, each line starting with `callers`, `member` or `device`.
    differences: Vec<String>,
}

impl Compared {
    /// The differences of one kind (`callers`, `member`, `device`).
    fn of(&self, kind: &str) -> Vec<&String> {
        self.differences
            .iter()
            .filter(|d| d.starts_with(kind))
            .collect()
    }
}

/// The invariant "the live model equals a model rebuilt from the status lists", where a
/// recording has status lists after live events: at the end of each `QueueStatus` or
/// `DeviceStateList` answer, the live model as it stood when the answer began (every
/// event before it applied, list items included, as the relay applies them) is compared
/// with a model rebuilt from the answer's items alone.
///
/// A recorded connection did not start with a rebuild, so the live model knows only
/// what the connection saw. Hence the comparison covers:
/// - a listed queue's callers, when every caller listed joined (or was listed) on this
///   connection: then the two must hold the same callers at the same places (the join
///   time is left out: a list dates it from `Wait`, whole seconds, the replay's clock
///   stands still);
/// - the members the live model holds (from member events), field by field: the others
///   never changed on the connection, so it had no word of them;
/// - the devices the live model holds: each must be listed, in the same state (the
///   devices that never changed on the connection are listed but unknown to it).
///
/// Queue counters (`Holdtime`, `TalkTime`, service level) come only from `QueueParams`,
/// never from a live event, so they are not compared; neither are lists that arrive on
/// a connection with events off (ami-session.txt's second connection).
fn check_against_lists(messages: &[Message]) -> Compared {
    let mut live = ServerModel::default();
    let mut compared = Compared::default();
    // The answer being read: its ActionID, the live model when it began, the rebuild.
    let mut answer: Option<(Vec<u8>, ServerModel, ServerModel)> = None;
    let mut known_callers: BTreeSet<String> = BTreeSet::new();
    for message in messages {
        let Some(event) = message.event_name() else {
            continue;
        };
        let item = matches!(
            event,
            b"QueueParams" | b"QueueMember" | b"QueueEntry" | b"DeviceStateChange"
        ) && message.action_id().is_some();
        let complete = matches!(event, b"QueueStatusComplete" | b"DeviceStateListComplete");
        if item {
            let id = message.action_id().unwrap_or_default().to_vec();
            if answer.as_ref().is_none_or(|(open, _, _)| *open != id) {
                answer = Some((id, live.clone(), ServerModel::default()));
            }
            if let Some((_, _, rebuilt)) = answer.as_mut() {
                rebuilt.apply_event(message, 1_000_000, &mut Vec::new());
            }
        }
        if complete && let Some((_, before, rebuilt)) = answer.take() {
            compare(&before, &rebuilt, &known_callers, &mut compared);
            for queue in rebuilt.queues.values() {
                known_callers.extend(queue.callers.keys().cloned());
            }
        }
        if event == b"QueueCallerJoin" {
            known_callers.insert(message.get_str("Uniqueid").unwrap_or_default().into_owned());
        }
        live.apply_event(message, 1_000_000, &mut Vec::new());
    }
    compared
}

/// One comparison of [`check_against_lists`].
fn compare(
    live: &ServerModel,
    rebuilt: &ServerModel,
    known_callers: &BTreeSet<String>,
    compared: &mut Compared,
) {
    for (name, listed) in &rebuilt.queues {
        let held = live.queues.get(name);
        if listed.callers.keys().all(|id| known_callers.contains(id)) {
            let places = |queue: Option<&shared::model::Queue>| -> Vec<(String, u32, String)> {
                queue.map_or_else(Vec::new, |q| {
                    q.callers
                        .values()
                        .map(|c| (c.uniqueid.clone(), c.position, c.channel.clone()))
                        .collect()
                })
            };
            if places(held) != places(Some(listed)) {
                compared.differences.push(format!(
                    "callers of {name}: live {:?}, listed {:?}",
                    places(held),
                    places(Some(listed))
                ));
            }
            compared.queues += 1;
        }
        for (interface, member) in &listed.members {
            if let Some(live_member) = held.and_then(|q| q.members.get(interface)) {
                if live_member != member {
                    compared.differences.push(format!(
                        "member {interface} of {name}: live {live_member:?}, listed {member:?}"
                    ));
                }
                compared.members += 1;
                compared.in_call += usize::from(member.in_call);
            }
        }
    }
    if !rebuilt.devices.is_empty() {
        for (name, device) in &live.devices {
            if rebuilt.devices.get(name) != Some(device) {
                compared.differences.push(format!(
                    "device {name}: live {device:?}, listed {:?}",
                    rebuilt.devices.get(name)
                ));
            }
            compared.devices += 1;
        }
    }
}

/// ami-session-3: four callers wait in `sales`; when the first (then the one at place 2)
/// leaves, Asterisk's next QueueStatus lists the others at 1-3 (then 1-2). The live
/// model must have moved them up the same way.
#[test]
fn a_caller_leaving_moves_everyone_behind_up_one_place() {
    let compared = check_against_lists(&received("ami-session-3.txt")[0]);
    assert_eq!(compared.of("callers"), Vec::<&String>::new());
    // sales with 4, 3 and 2 callers, and support's lists around its five calls.
    assert!(compared.queues >= 3, "{compared:?}");
}

/// ami-session-3: during support call 1 QueueStatus says agent1 is `InCall: 1`, though
/// its only QueueMemberStatus said `InCall: 0`; the live model must say so too, from
/// `AgentConnect`, and no longer after `AgentComplete`.
#[test]
fn a_member_is_in_call_from_agent_connect_to_agent_complete() {
    let compared = check_against_lists(&received("ami-session-3.txt")[0]);
    assert_eq!(compared.of("member"), Vec::<&String>::new());
    assert!(
        compared.in_call >= 1,
        "no member in call compared: {compared:?}"
    );
    assert!(compared.members >= 4, "{compared:?}");
}

/// DeviceStateList never lists a `Local/` device (ami-session-2's two answers list
/// `Queue:`, `park:` and `Custom:` devices only; Asterisk does not cache Local channels'
/// states), so after every recorded event the live model holds none either, or a
/// rebuilt model would lack what the live one shows. The recordings' lists come before
/// any Local device changes state, so this replays the events to the end instead.
#[test]
fn a_local_device_never_enters_the_device_list() {
    for name in [
        "ami-session-2.txt",
        "ami-session-3.txt",
        "ami-events-stream.txt",
    ] {
        let mut model = ServerModel::default();
        for connection in received(name) {
            for message in &connection {
                model.apply_event(message, 0, &mut Vec::new());
            }
        }
        let locals: Vec<&String> = model
            .devices
            .keys()
            .filter(|d| d.starts_with("Local/"))
            .collect();
        assert_eq!(locals, Vec::<&String>::new(), "{name}");
        assert!(
            model.devices.keys().any(|d| !d.starts_with("Local/")),
            "{name}: no device at all"
        );
    }
}

/// The invariant on every recording with status lists after live events: the live
/// model's callers, members and devices equal those of a model rebuilt from each list.
#[test]
fn every_recording_keeps_the_live_model_equal_to_its_status_lists() {
    let mut total = Compared::default();
    for name in [
        "ami-events-stream.txt",
        "ami-events-traffic.txt",
        "ami-session.txt",
        "ami-session-2.txt",
        "ami-session-3.txt",
        "ami-permissions.txt",
        "ami-boot.txt",
    ] {
        for connection in received(name) {
            let c = check_against_lists(&connection);
            total.queues += c.queues;
            total.members += c.members;
            total.devices += c.devices;
            total
                .differences
                .extend(c.differences.into_iter().map(|d| format!("{name}: {d}")));
        }
    }
    assert_eq!(total.differences, Vec::<String>::new());
    assert!(
        total.queues >= 3 && total.members >= 4 && total.devices >= 1,
        "{total:?}"
    );
}

/// The participants of a room, by caller ID name, each with its muted, talking and
/// admin flags.
fn room(model: &ServerModel, name: &str) -> Vec<(String, bool, bool, bool)> {
    model.conferences.get(name).map_or_else(Vec::new, |room| {
        let mut users: Vec<_> = room
            .participants
            .values()
            .map(|p| (p.caller_id_name.clone(), p.muted, p.talking, p.admin))
            .collect();
        users.sort();
        users
    })
}

/// ami-session-3's conference part, event by event: four joins make room 1000 with
/// three users (one admin) and room 2000 with one; a mute, talking on and off, the
/// lock that only `ConfbridgeListRooms` shows, a recording, a kick, and each room gone
/// at its `ConfbridgeEnd`.
#[test]
fn the_recorded_conferences_follow_their_events() {
    let messages = &received("ami-session-3.txt")[0];
    let mut model = ServerModel::default();
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    let mut checked = 0;
    let user = |name: &str, muted, talking, admin| (name.to_owned(), muted, talking, admin);
    for message in messages {
        if message.kind() != MessageKind::Event {
            continue;
        }
        model.apply_event(message, 0, &mut Vec::new());
        let name = String::from_utf8_lossy(message.event_name().unwrap_or_default()).into_owned();
        let count = seen.entry(name.clone()).or_default();
        *count += 1;
        let room_of = message
            .get_str("Conference")
            .unwrap_or_default()
            .into_owned();
        match (name.as_str(), *count) {
            ("ConfbridgeJoin", 4) => {
                assert_eq!(
                    room(&model, "1000"),
                    [
                        user("Conf Admin", false, false, true),
                        user("Conf Talker", false, false, false),
                        user("Conf User A", false, false, false),
                    ]
                );
                assert_eq!(
                    room(&model, "2000"),
                    [user("Room2000 User", false, false, false)]
                );
                checked += 1;
            }
            ("ConfbridgeTalking", 1) => {
                assert!(room(&model, "1000").contains(&user("Conf Talker", false, true, false)));
                checked += 1;
            }
            ("ConfbridgeTalking", 2) => {
                assert!(room(&model, "1000").contains(&user("Conf Talker", false, false, false)));
                checked += 1;
            }
            ("ConfbridgeMute", 1) => {
                assert!(room(&model, "1000").contains(&user("Conf User A", true, false, false)));
                checked += 1;
            }
            ("ConfbridgeUnmute", 1) => {
                assert!(
                    room(&model, "1000").iter().all(|u| !u.1),
                    "{:?}",
                    room(&model, "1000")
                );
                checked += 1;
            }
            // `Channel: participants` mutes the two who are not admins, not the admin.
            ("ConfbridgeMute", 3) => {
                assert_eq!(
                    room(&model, "1000"),
                    [
                        user("Conf Admin", false, false, true),
                        user("Conf Talker", true, false, false),
                        user("Conf User A", true, false, false),
                    ]
                );
                checked += 1;
            }
            ("ConfbridgeListRoomsComplete", n) => {
                // The lock shows in the second listing only (after ConfbridgeLock).
                assert_eq!(
                    model.conferences.get("1000").map(|r| r.locked),
                    match n {
                        1 | 3 | 4 => Some(false),
                        2 => Some(true),
                        _ => None,
                    },
                    "listing {n}"
                );
                checked += 1;
            }
            ("ConfbridgeRecord", 1) => {
                assert!(model.conferences["1000"].recording);
                checked += 1;
            }
            ("ConfbridgeStopRecord", 1) => {
                assert!(!model.conferences["1000"].recording);
                checked += 1;
            }
            // The kick of Conf User A.
            ("ConfbridgeLeave", 1) => {
                assert_eq!(
                    room(&model, "1000"),
                    [
                        user("Conf Admin", false, false, true),
                        user("Conf Talker", false, false, false),
                    ]
                );
                checked += 1;
            }
            ("ConfbridgeEnd", _) => {
                assert!(!model.conferences.contains_key(&room_of), "{room_of} left");
                checked += 1;
            }
            _ => {}
        }
    }
    assert_eq!(checked, 15, "{seen:?}");
    assert!(model.conferences.is_empty());
}
