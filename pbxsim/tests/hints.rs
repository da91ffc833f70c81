//! Hints, presence and mailboxes against `ami-session-2.txt`: the recorded actions are sent
//! again, in order, to a `SimConfig::quiet()` simulator (which has that recording's hints),
//! and each answer and each event the action raised must equal the recorded ones, header
//! for header. Then the call centre of the demo: hints follow calls, queue agents' phones
//! follow their member state, `MessageWaiting` and presence changes arrive.

mod common;

use std::collections::BTreeSet;

use common::Client;
use common::fixture::{self, Step};
use pbxsim::{Directory, SimConfig};
use shared::ami::Message;
use testkit::Pbx as Sim;

/// The recorded actions of the hints, presence and mailbox blocks of connection 1.
fn replayed(id: &str) -> bool {
    [
        "hints-",
        "esl-",
        "psl-",
        "devstate-",
        "presence-",
        "getvar-3",
        "extstate-",
        "presstate-",
        "mbcount-",
        "mbstatus-",
    ]
    .iter()
    .any(|p| id.starts_with(p))
}

/// One recorded exchange: the action, its response, its list items, the other events after it.
struct Exchange {
    action: Message,
    response: Message,
    items: Vec<Message>,
    events: Vec<Message>,
}

fn recorded() -> Vec<Exchange> {
    let conns = fixture::transcript("ami-session-2.txt");
    let conn = conns.first().expect("connection 1");
    let mut out = Vec::new();
    for (i, step) in conn.iter().enumerate() {
        let Step::Sent(action) = step else { continue };
        let Some(id) = action.action_id().map(<[u8]>::to_vec) else {
            continue;
        };
        if !replayed(&String::from_utf8_lossy(&id)) {
            continue;
        }
        let mut ex = Exchange {
            action: action.clone(),
            response: Message::new(),
            items: Vec::new(),
            events: Vec::new(),
        };
        for later in &conn[i + 1..] {
            match later {
                Step::Sent(_) => break,
                Step::Recv(m) if m.event_name().is_none() => ex.response = m.clone(),
                Step::Recv(m) if m.action_id() == Some(&id[..]) => ex.items.push(m.clone()),
                Step::Recv(m) => ex.events.push(m.clone()),
                Step::Comment(_) => {}
            }
        }
        out.push(ex);
    }
    out
}

/// Events of hints, presence and custom devices (not of the call that keeps 1201 in use).
fn about_hints(m: &Message) -> bool {
    match m.event_name().unwrap_or_default() {
        b"ExtensionStatus" | b"PresenceStatus" | b"PresenceStateChange" | b"MessageWaiting" => true,
        b"DeviceStateChange" => m
            .get_str("Device")
            .is_some_and(|d| d.starts_with("Custom:")),
        _ => false,
    }
}

fn text(m: &Message) -> String {
    String::from_utf8_lossy(&m.to_bytes()).into_owned()
}

/// Our answer to `action`: the response, the list items, and every event up to a marker
/// Ping (so that everything the action raised has been written).
async fn ours(c: &mut Client, action: &Message) -> (Message, Vec<Message>, Vec<Message>) {
    let id = action.action_id().map(<[u8]>::to_vec);
    c.send(&String::from_utf8_lossy(&action.to_bytes())).await;
    c.send("Action: Ping\r\nActionID: marker\r\n\r\n").await;
    let (mut response, mut items, mut events) = (Message::new(), Vec::new(), Vec::new());
    loop {
        let m = c.message().await.expect("answer before close");
        if m.event_name().is_none() {
            if m.action_id() == Some(&b"marker"[..]) {
                return (response, items, events);
            }
            response = m;
        } else if id.is_some() && m.action_id() == id.as_deref() {
            items.push(m);
        } else {
            events.push(m);
        }
    }
}

#[tokio::test]
async fn recorded_hints_presence_and_mailboxes_of_session_2() {
    let sim = Sim::start(SimConfig::quiet()).await;
    let mut c = Client::login(sim.addr, "admin", "admin-secret").await;
    // As in the recording, a bridged call to Local/201 (hint 1201) is up.
    c.send("Action: Originate\r\nChannel: Local/100@test\r\nContext: test\r\nExten: 200\r\nPriority: 1\r\nAsync: true\r\nVariable: DURATION=300\r\nActionID: o\r\n\r\n").await;
    // 1201 may show InUse as its channel appears, then Ringing: the call is up at the
    // InUse that follows the ringing, once 201 answered.
    let mut rang = false;
    loop {
        let m = c.event("ExtensionStatus").await;
        if m.get_str("Exten").as_deref() != Some("1201") {
            continue;
        }
        match m.get_str("StatusText").as_deref() {
            Some("Ringing") => rang = true,
            Some("InUse") if rang => break,
            _ => {}
        }
    }
    let exchanges = recorded();
    assert!(exchanges.len() >= 35, "only {} exchanges", exchanges.len());
    let mut problems = Vec::new();
    for ex in &exchanges {
        let id = String::from_utf8_lossy(ex.action.action_id().unwrap_or_default()).into_owned();
        let (response, items, events) = ours(&mut c, &ex.action).await;
        if text(&response) != text(&ex.response) {
            problems.push(format!(
                "{id}: response\n{}recorded\n{}",
                text(&response),
                text(&ex.response)
            ));
        }
        let listed = |v: &[Message]| v.iter().map(text).collect::<Vec<_>>();
        if listed(&items) != listed(&ex.items) {
            problems.push(format!(
                "{id}: items {:?}\nrecorded {:?}",
                listed(&items),
                listed(&ex.items)
            ));
        }
        // Asterisk's threads order ExtensionStatus and DeviceStateChange either way; the
        // set-up call's own events are not part of the comparison.
        let set = |v: &[Message]| {
            v.iter()
                .filter(|m| about_hints(m))
                .map(text)
                .collect::<BTreeSet<_>>()
        };
        if set(&events) != set(&ex.events) {
            problems.push(format!(
                "{id}: events {:?}\nrecorded {:?}",
                set(&events),
                set(&ex.events)
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[tokio::test]
async fn the_call_centre_lists_named_hints_presence_and_voicemail() {
    let sim = Sim::start(SimConfig {
        directory: Directory::call_centre(),
        ..SimConfig::quiet()
    })
    .await;
    let mut c = Client::login(sim.addr, "admin", "admin-secret").await;
    let (_, hints, end) = c
        .list("Action: ExtensionStateList\r\nActionID: l\r\n\r\n", "l")
        .await;
    assert_eq!(hints.len(), 36);
    assert_eq!(end.get_str("ListItems").as_deref(), Some("36"));
    assert_eq!(
        hints[0].get_str("Hint").as_deref(),
        Some("PJSIP/1001,CustomPresence:1001")
    );
    let unavailable = hints
        .iter()
        .filter(|h| h.get_str("StatusText").as_deref() == Some("Unavailable"))
        .count();
    assert_eq!(unavailable, 2, "two phones are unregistered");
    let (_, presence, _) = c
        .list("Action: PresenceStateList\r\nActionID: p\r\n\r\n", "p")
        .await;
    let away: Vec<String> = presence
        .iter()
        .filter(|p| p.get_str("Status").as_deref() != Some("available"))
        .filter_map(|p| p.get_str("Status").map(|s| s.into_owned()))
        .collect();
    assert!(away.contains(&"dnd".to_string()) && away.contains(&"away".to_string()));
    let count = c
        .action("Action: MailboxCount\r\nMailbox: 1001@default\r\nActionID: m\r\n\r\n")
        .await;
    assert_eq!(count.get_str("NewMessages").as_deref(), Some("2"));
    let status = c
        .action("Action: MailboxStatus\r\nMailbox: 1003@default\r\nActionID: s\r\n\r\n")
        .await;
    assert_eq!(status.get_str("Waiting").as_deref(), Some("0"));
    let (_, members, _) = c
        .list(
            "Action: QueueStatus\r\nQueue: support\r\nActionID: q\r\n\r\n",
            "q",
        )
        .await;
    let paused: Vec<(String, String)> = members
        .iter()
        .filter(|m| m.get_str("Paused").as_deref() == Some("1"))
        .map(|m| {
            (
                m.get_str("Name").unwrap_or_default().into_owned(),
                m.get_str("PausedReason").unwrap_or_default().into_owned(),
            )
        })
        .collect();
    assert_eq!(paused, [("Chloe Dubois".to_string(), "Lunch".to_string())]);
}

#[tokio::test]
async fn a_call_centre_agents_phone_rings_and_is_in_use_with_its_member() {
    let sim = Sim::start(SimConfig {
        directory: Directory::call_centre(),
        ..SimConfig::quiet()
    })
    .await;
    let mut c = Client::login(sim.addr, "admin", "admin-secret").await;
    c.send("Action: Originate\r\nChannel: Local/100@test\r\nContext: test\r\nExten: 300\r\nPriority: 1\r\nAsync: true\r\nVariable: DURATION=3\r\nActionID: o\r\n\r\n").await;
    // The caller (Local/100) has no hint: only the offered agent's phone changes.
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let m = c.event("ExtensionStatus").await;
        seen.push((
            m.get_str("Exten").unwrap_or_default().into_owned(),
            m.get_str("StatusText").unwrap_or_default().into_owned(),
        ));
    }
    let exten = &seen[0].0;
    assert!(seen.iter().all(|(e, _)| e == exten), "{seen:?}");
    let states: Vec<&str> = seen.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(states, ["Ringing", "InUse", "Idle"]);
}

#[tokio::test]
async fn a_desk_phone_originates_to_another_desk_by_extension() {
    let sim = Sim::start(SimConfig {
        directory: Directory::call_centre(),
        ..SimConfig::quiet()
    })
    .await;
    let mut c = Client::login(sim.addr, "admin", "admin-secret").await;
    let r = c.action("Action: Originate\r\nChannel: PJSIP/1005\r\nContext: test\r\nExten: 1007\r\nPriority: 1\r\nAsync: true\r\nVariable: DURATION=2\r\nActionID: d\r\n\r\n").await;
    assert_eq!(
        r.get_str("Message").as_deref(),
        Some("Originate successfully queued")
    );
    let answer = c.event("OriginateResponse").await;
    assert_eq!(answer.get_str("Response").as_deref(), Some("Success"));
    assert_eq!(answer.get_str("CallerIDNum").as_deref(), Some("1005"));
    assert_eq!(
        answer.get_str("CallerIDName").as_deref(),
        Some("Elena Rossi")
    );
    let mut seen = Vec::new();
    while seen.len() < 5 {
        let m = c.event("ExtensionStatus").await;
        seen.push(format!(
            "{} {}",
            m.get_str("Exten").unwrap_or_default(),
            m.get_str("StatusText").unwrap_or_default()
        ));
    }
    assert_eq!(seen[..3], ["1005 InUse", "1007 Ringing", "1007 InUse"]);
    let ends: BTreeSet<&str> = seen[3..].iter().map(String::as_str).collect();
    assert_eq!(ends, BTreeSet::from(["1005 Idle", "1007 Idle"]));
}

/// Through 15 minutes of the demo's traffic, as the relay's reducer sees it: a caller
/// phone's channel (`Local/100@test`, `Local/101@test`) carrying a desk's number as its
/// caller ID is that desk's call, so the desk's hint is never idle meanwhile. (The test
/// dialplan's caller phones claimed 1001 and 1002 for every call, a desk's second call
/// ending freed it while the first went on, and a transfer freed the wrong desk: each
/// showed a desk "Idle" beside its own call.) Channels further down a call keep the
/// caller ID they were dialled with, as in Asterisk, so they prove nothing here. And a
/// queue member in a call has its phone in use, whatever else that desk did.
#[test]
fn a_desk_in_a_call_is_never_shown_idle() {
    use pbxsim::pbx::{Pbx, PbxOptions};
    use pbxsim::traffic::Generator;
    use shared::model::ServerModel;
    let directory = Directory::call_centre();
    let desks: BTreeSet<String> = directory
        .phones
        .iter()
        .filter(|p| !p.name.is_empty())
        .map(|p| p.exten.clone())
        .collect();
    let mut pbx = Pbx::new(PbxOptions {
        directory,
        ..PbxOptions::new(1_795_418_000, 11)
    });
    let mut generator = Generator::new(11, 30.0);
    let mut model = ServerModel::default();
    let mut changes = Vec::new();
    let (mut desk_calls_seen, mut agent_calls_seen) = (0, 0);
    for t in (0..900_000).step_by(500) {
        pbx.advance_to(t);
        generator.run_due(&mut pbx);
        for event in pbx.drain() {
            model.apply_event(&event.msg, t as i64, &mut changes);
        }
        changes.clear();
        for channel in model.channels.values() {
            let desk = &channel.caller_id_num;
            let caller_phone = ["Local/100@test-", "Local/101@test-"]
                .iter()
                .any(|p| channel.channel.starts_with(p));
            if !caller_phone || !desks.contains(desk) {
                continue;
            }
            desk_calls_seen += 1;
            let status = model
                .extensions
                .values()
                .find(|e| &e.exten == desk)
                .map(|e| e.status);
            assert!(
                status.is_some_and(|s| s != 0),
                "at {t} ms {} calls as desk {desk}, whose hint is {status:?}",
                channel.channel
            );
        }
        for member in model.queues.values().flat_map(|q| q.members.values()) {
            if !member.in_call {
                continue;
            }
            agent_calls_seen += 1;
            let state = model
                .devices
                .values()
                .find(|d| d.device == member.state_interface)
                .map(|d| d.state.as_str());
            assert!(
                state.is_some_and(|s| s != "NOT_INUSE"),
                "at {t} ms {} is in a queue call, and its phone is {state:?}",
                member.name
            );
        }
    }
    assert!(
        desk_calls_seen > 1000,
        "only {desk_calls_seen} desk channels seen"
    );
    assert!(
        agent_calls_seen > 100,
        "only {agent_calls_seen} agents in calls seen"
    );
}

/// The demo's call centre lives the operator's day within fifteen minutes: an agent signs
/// out of a queue and back in, someone goes DND, and a waiting caller is sent to
/// voicemail and leaves a message (`MessageWaiting` with the caller's channel).
#[test]
fn the_call_centre_signs_in_and_out_goes_dnd_and_leaves_voicemail() {
    use pbxsim::pbx::{Pbx, PbxOptions};
    use pbxsim::traffic::Generator;
    let mut pbx = Pbx::new(PbxOptions {
        directory: Directory::call_centre(),
        ..PbxOptions::new(1_795_418_000, 11)
    });
    let mut generator = Generator::new(11, 30.0);
    let mut seen = BTreeSet::new();
    for t in (0..900_000).step_by(500) {
        pbx.advance_to(t);
        generator.run_due(&mut pbx);
        for event in pbx.drain() {
            let m = &event.msg;
            let name = m
                .event_name()
                .map(|n| String::from_utf8_lossy(n).into_owned());
            match name.as_deref() {
                Some(kind @ ("QueueMemberRemoved" | "QueueMemberAdded")) => {
                    seen.insert(kind.to_owned());
                }
                Some("PresenceStateChange") if m.get("Status") == Some(&b"dnd"[..]) => {
                    seen.insert("dnd".to_owned());
                }
                Some("MessageWaiting") if m.get("Channel").is_some() => {
                    seen.insert("voicemail left".to_owned());
                }
                _ => {}
            }
        }
    }
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        [
            "QueueMemberAdded",
            "QueueMemberRemoved",
            "dnd",
            "voicemail left"
        ]
    );
}
