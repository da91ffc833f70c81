//! Replays the recorded AMI conversations against pbxsim and compares every answer.
//!
//! For each action a recording sent, pbxsim's response must have the same header keys in
//! the same order and the same `Message:` text; list actions must frame their items the
//! same way (`EventList: start`, items with the ActionID, `...Complete` with the same keys),
//! and each item must have a recorded key order for its event type.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::Client;
use common::fixture::{self, Step, keys};
use md5::{Digest, Md5};
use pbxsim::SimConfig;
use shared::ami::Message;
use testkit::Pbx as Sim;

/// What one recorded action got back.
struct Expected {
    response: Message,
    items: Vec<Message>,
}

/// For every `Sent` step, the recorded response and list items that carry its ActionID.
fn expectations(conn: &[Step]) -> Vec<(Message, Option<Expected>)> {
    let mut out = Vec::new();
    for (i, step) in conn.iter().enumerate() {
        let Step::Sent(action) = step else { continue };
        let id = action.action_id().map(<[u8]>::to_vec);
        let mut response = None;
        let mut items = Vec::new();
        for later in &conn[i + 1..] {
            match later {
                Step::Sent(_) if response.is_some() => break,
                Step::Recv(m)
                    if m.get("Response").is_some()
                        && m.event_name().is_none()
                        && response.is_none()
                        && m.action_id().map(<[u8]>::to_vec) == id =>
                {
                    response = Some(m.clone());
                }
                Step::Recv(m)
                    if response
                        .as_ref()
                        .is_some_and(|r: &Message| r.get("EventList").is_some())
                        && m.event_name().is_some()
                        && id.is_some()
                        && m.action_id().map(<[u8]>::to_vec) == id =>
                {
                    items.push(m.clone());
                    if m.get("EventList").is_some_and(|v| v == b"Complete") {
                        break;
                    }
                }
                _ => {}
            }
        }
        out.push((
            action.clone(),
            response.map(|response| Expected { response, items }),
        ));
    }
    out
}

/// Recorded key orders of list items, by event name, across all recordings.
fn item_shapes() -> BTreeMap<String, BTreeSet<Vec<String>>> {
    let mut out: BTreeMap<String, BTreeSet<Vec<String>>> = BTreeMap::new();
    for name in [
        "ami-session.txt",
        "ami-session-2.txt",
        "ami-permissions.txt",
        "ami-events-traffic.txt",
    ] {
        for m in fixture::received(name) {
            if let Some(ev) = m.event_name() {
                out.entry(String::from_utf8_lossy(ev).into_owned())
                    .or_default()
                    .insert(keys(&m));
            }
        }
    }
    out
}

/// Sends `action` the way the recording did (an MD5 key is recomputed for our challenge).
fn rewrite(action: &Message, challenge: &Option<String>, secret: &str) -> Vec<u8> {
    let md5 = action
        .get_str("AuthType")
        .is_some_and(|a| a.eq_ignore_ascii_case("md5"));
    if !md5 || action.get("Key").is_none() {
        return action.to_bytes().to_vec();
    }
    let wrong = action
        .get_str("Key")
        .is_some_and(|k| k.starts_with("0123456789abcdef"));
    let mut out = Message::new();
    for (k, v) in action.headers() {
        let key = String::from_utf8_lossy(k);
        if key.eq_ignore_ascii_case("Key") && !wrong {
            let c = challenge.clone().unwrap_or_default();
            let digest: String = Md5::digest(format!("{c}{secret}"))
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            out.push("Key", digest);
        } else {
            out.push(&key, v);
        }
    }
    out.to_bytes().to_vec()
}

/// Reads our answer to an action: its response and, for a list, the items.
async fn answer(client: &mut Client, id: Option<&[u8]>) -> Option<(Message, Vec<Message>)> {
    let response = loop {
        let m = client.message().await?;
        if m.get("Response").is_some() && m.event_name().is_none() && m.action_id() == id {
            break m;
        }
    };
    let mut items = Vec::new();
    if response.get("EventList").is_some_and(|v| v == b"start") {
        loop {
            let m = client.message().await?;
            if m.event_name().is_none() || m.action_id() != id {
                continue;
            }
            let done = m.get("EventList").is_some_and(|v| v == b"Complete");
            items.push(m);
            if done {
                break;
            }
        }
    }
    Some((response, items))
}

/// Keys whose values are compared exactly (the rest are dynamic).
const EXACT: &[&str] = &[
    "Response",
    "Message",
    "EventList",
    "Events",
    "Ping",
    "AMIversion",
    "AsteriskVersion",
];

async fn replay(
    sim_addr: std::net::SocketAddr,
    file: &str,
    skip_connections: &[usize],
    problems: &mut Vec<String>,
) -> usize {
    let shapes = item_shapes();
    let mut checked = 0;
    for (n, conn) in fixture::transcript(file).iter().enumerate() {
        if skip_connections.contains(&n) {
            continue;
        }
        let mut client = Client::connect(sim_addr).await;
        let mut challenge = None;
        let mut secret = String::new();
        for (action, expected) in expectations(conn) {
            let name = action
                .get_str("Action")
                .map(|a| a.into_owned())
                .unwrap_or_else(|| "(none)".into());
            if let Some(user) = action.get_str("Username") {
                secret = match user.as_ref() {
                    "admin" => "admin-secret",
                    "agent" => "agent-secret",
                    _ => "viewer-secret",
                }
                .into();
            }
            client
                .send(&String::from_utf8_lossy(&rewrite(
                    &action, &challenge, &secret,
                )))
                .await;
            let Some(expected) = expected else { continue };
            let Some((got, items)) = answer(&mut client, action.action_id()).await else {
                problems.push(format!(
                    "{file} #{n} {name}: connection closed before the response"
                ));
                break;
            };
            checked += 1;
            if let Some(c) = got.get_str("Challenge") {
                challenge = Some(c.into_owned());
            }
            let where_ = format!(
                "{file} #{n} {name} {:?}",
                action.action_id().map(String::from_utf8_lossy)
            );
            if keys(&got) != keys(&expected.response) {
                problems.push(format!(
                    "{where_}: keys {:?}, recorded {:?}",
                    keys(&got),
                    keys(&expected.response)
                ));
            }
            for key in EXACT {
                if let Some(want) = expected.response.get_str(key)
                    && got.get_str(key) != Some(want.clone())
                {
                    problems.push(format!(
                        "{where_}: {key} {:?}, recorded {want:?}",
                        got.get_str(key)
                    ));
                }
            }
            if name.eq_ignore_ascii_case("ListCommands") && got != expected.response {
                problems.push(format!("{where_}: ListCommands differs from the recording"));
            }
            for item in &items {
                let ev =
                    String::from_utf8_lossy(item.event_name().unwrap_or_default()).into_owned();
                if !shapes.get(&ev).is_some_and(|s| s.contains(&keys(item))) {
                    problems.push(format!(
                        "{where_}: item {ev} keys {:?} not recorded",
                        keys(item)
                    ));
                }
            }
            let (got_end, want_end) = (items.last(), expected.items.last());
            if let (Some(g), Some(w)) = (got_end, want_end)
                && (keys(g) != keys(w) || g.event_name() != w.event_name())
            {
                problems.push(format!(
                    "{where_}: list end {:?}, recorded {:?}",
                    keys(g),
                    keys(w)
                ));
            }
            if got_end.is_some() != want_end.is_some() {
                problems.push(format!(
                    "{where_}: list framing differs (ours {} items)",
                    items.len()
                ));
            }
        }
    }
    checked
}

/// The state `ami-session.txt` was recorded in: two bridged calls, two queue callers
/// waiting (both members paused) and one parked call, in the same channel order.
async fn recorded_setup(addr: std::net::SocketAddr) {
    let mut c = Client::login(addr, "admin", "admin-secret").await;
    for (agent, reason) in [("agent1", "lunch"), ("agent2", "meeting")] {
        c.action(&format!(
            "Action: QueuePause\r\nQueue: support\r\nInterface: Local/{agent}@agents/n\r\nPaused: true\r\nReason: {reason}\r\nActionID: p-{agent}\r\n\r\n"
        ))
        .await;
    }
    for (i, (phone, exten)) in [
        ("100", "200"),
        ("101", "200"),
        ("101", "300"),
        ("100", "300"),
        ("100", "400"),
    ]
    .iter()
    .enumerate()
    {
        let resp = c
            .action(&format!(
                "Action: Originate\r\nChannel: Local/{phone}@test\r\nContext: test\r\nExten: {exten}\r\nPriority: 1\r\nAsync: true\r\nVariable: DURATION=300\r\nActionID: setup-{i}\r\n\r\n"
            ))
            .await;
        assert_eq!(
            resp.get_str("Message").as_deref(),
            Some("Originate successfully queued")
        );
    }
}

#[tokio::test]
async fn recorded_conversations_get_the_recorded_answers() {
    let mut problems = Vec::new();
    let mut checked = 0;
    for (file, skip) in [
        ("ami-session.txt", &[][..]),
        ("ami-badlogin.txt", &[][..]),
        ("ami-permissions.txt", &[][..]),
        ("ami-listcommands.txt", &[][..]),
    ] {
        let mut config = SimConfig::quiet();
        config.failed_login_delay = std::time::Duration::from_millis(50);
        // The recording's channel names are those of a freshly started Asterisk.
        config.ids_from = Some(0);
        // These were recorded with app_confbridge `noload`ed (fixtures README).
        config.missing_actions = [
            "ConfbridgeKick",
            "ConfbridgeList",
            "ConfbridgeListRooms",
            "ConfbridgeLock",
            "ConfbridgeMute",
            "ConfbridgeSetSingleVideoSrc",
            "ConfbridgeStartRecord",
            "ConfbridgeStopRecord",
            "ConfbridgeUnlock",
            "ConfbridgeUnmute",
        ]
        .map(String::from)
        .to_vec();
        let sim = Sim::start(config).await;
        if file == "ami-session.txt" {
            recorded_setup(sim.addr).await;
        }
        checked += replay(sim.addr, file, skip, &mut problems).await;
    }
    assert!(checked >= 60, "only {checked} actions replayed");
    assert!(
        problems.is_empty(),
        "{} differences:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// Notes in `problems` where `got` differs from the recorded response `want`: its key
/// order, or one of the `texts` values.
fn same_response(
    aid: &str,
    got: &Message,
    want: &Message,
    texts: &[&str],
    problems: &mut Vec<String>,
) {
    if keys(got) != keys(want) {
        problems.push(format!(
            "{aid}: keys {:?}, recorded {:?}",
            keys(got),
            keys(want)
        ));
    }
    for key in texts {
        if got.get_str(key) != want.get_str(key) {
            problems.push(format!(
                "{aid}: {key} {:?}, recorded {:?}",
                got.get_str(key),
                want.get_str(key)
            ));
        }
    }
}

/// Answers of `ami-session-2.txt` that do not depend on that recording's run-time hints:
/// errors, the long line, Filter, Events with a class list, Atxfer without a feature code.
const SESSION_2_IDS: &[&str] = &[
    "events-2",
    "filter-5",
    "filter-12",
    "filter-13",
    "filter-14",
    "atxfer-69",
    "err-90",
    "err-91",
    "err-92",
    "err-93",
    "err-94",
    "err-95",
    "err-96",
    "err-97",
    "err-98",
    "ping-99",
    "getvar-100",
    "qpenalty-74",
    "qpenalty-75",
    "qpenalty-76",
    "qringinuse-77",
    "qringinuse-78",
    "qlog-79",
    "qlog-80",
    "bi-47",
];

#[tokio::test]
async fn recorded_error_answers_of_session_2() {
    let sim = Sim::start(SimConfig::quiet()).await;
    let mut c = Client::login(sim.addr, "admin", "admin-secret").await;
    c.action("Action: Events\r\nEventMask: off\r\nActionID: e\r\n\r\n")
        .await;
    c.action("Action: Originate\r\nChannel: Local/100@test\r\nContext: test\r\nExten: 200\r\nPriority: 1\r\nAsync: true\r\nVariable: DURATION=300\r\nActionID: o\r\n\r\n").await;
    // Each run of the simulator numbers its channels from its own block: ask for the name.
    let (_, channels, _) = c
        .list("Action: CoreShowChannels\r\nActionID: csc\r\n\r\n", "csc")
        .await;
    let caller = channels
        .iter()
        .filter_map(|m| m.get_str("Channel"))
        .find(|n| n.starts_with("Local/100@test-") && n.ends_with(";1"))
        .expect("the bridged caller leg")
        .into_owned();
    let mut problems = Vec::new();
    let mut checked = 0;
    for conn in fixture::transcript("ami-session-2.txt") {
        for (action, expected) in expectations(&conn) {
            let Some(aid) = action
                .action_id()
                .map(|a| String::from_utf8_lossy(a).into_owned())
            else {
                continue;
            };
            let (true, Some(expected)) = (SESSION_2_IDS.contains(&aid.as_str()), expected) else {
                continue;
            };
            // The recording's first bridged caller leg is our first one.
            let raw = String::from_utf8_lossy(&action.to_bytes())
                .replace("Local/100@test-00000046;1", &caller);
            c.send(&raw).await;
            let Some((got, items)) = answer(&mut c, action.action_id()).await else {
                problems.push(format!("{aid}: connection closed"));
                break;
            };
            checked += 1;
            same_response(
                &aid,
                &got,
                &expected.response,
                &["Response", "Message", "EventList", "Events"],
                &mut problems,
            );
            if let (Some(g), Some(w)) = (items.last(), expected.items.last())
                && (keys(g) != keys(w) || g.get_str("ListItems") != w.get_str("ListItems"))
            {
                problems.push(format!(
                    "{aid}: list end {:?}, recorded {:?}",
                    keys(g),
                    keys(w)
                ));
            }
        }
    }
    assert_eq!(
        checked,
        SESSION_2_IDS.len(),
        "not every chosen action was replayed"
    );
    assert!(
        problems.is_empty(),
        "{} differences:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The MixMonitor block of `ami-session-2.txt`: start, mute both/read, an invalid direction,
/// stop, a second stop, an unknown channel, no channel. Every response and every
/// `MixMonitor*` event must have the recorded keys and texts, in the recorded order.
#[tokio::test]
async fn recorded_mixmonitor_answers_of_session_2() {
    const IDS: &[&str] = &[
        "mixmon-54",
        "mixmute-55",
        "mixmute-56",
        "mixmute-57",
        "stopmixmon-58",
        "stopmixmon-59",
        "mixmon-60",
        "mixmon-61",
    ];
    let is_mixmonitor = |m: &Message| m.event_name().is_some_and(|e| e.starts_with(b"MixMonitor"));
    let sim = Sim::start(SimConfig::quiet()).await;
    let mut c = Client::login(sim.addr, "admin", "admin-secret").await;
    c.action("Action: Originate\r\nChannel: Local/100@test\r\nContext: test\r\nExten: 200\r\nPriority: 1\r\nAsync: true\r\nVariable: DURATION=300\r\nActionID: o\r\n\r\n").await;
    // The callee enters the bridge first: once it has, it is the recording's recorded leg.
    let callee = loop {
        let m = c.event("BridgeEnter").await;
        if let Some(name) = m
            .get_str("Channel")
            .filter(|n| n.starts_with("Local/201@test-"))
        {
            break name.into_owned();
        }
    };
    let mut problems = Vec::new();
    let mut ours = Vec::new();
    let mut checked = 0;
    for conn in fixture::transcript("ami-session-2.txt") {
        for (action, expected) in expectations(&conn) {
            let aid = action
                .action_id()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .unwrap_or_default();
            let (true, Some(expected)) = (IDS.contains(&aid.as_str()), expected) else {
                continue;
            };
            let raw = String::from_utf8_lossy(&action.to_bytes())
                .replace("Local/201@test-00000047;1", &callee);
            c.send(&raw).await;
            let got = loop {
                let m = c.message().await.expect("response before close");
                if is_mixmonitor(&m) {
                    ours.push(m);
                } else if m.event_name().is_none() && m.action_id() == action.action_id() {
                    break m;
                }
            };
            checked += 1;
            same_response(
                &aid,
                &got,
                &expected.response,
                &["Response", "Message"],
                &mut problems,
            );
        }
    }
    assert_eq!(
        checked,
        IDS.len(),
        "not every MixMonitor action was replayed"
    );
    let recorded: Vec<Message> = fixture::received("ami-session-2.txt")
        .into_iter()
        .filter(is_mixmonitor)
        .collect();
    while ours.len() < recorded.len() {
        let m = c.message().await.expect("events before close");
        if is_mixmonitor(&m) {
            ours.push(m);
        }
    }
    for (got, want) in ours.iter().zip(&recorded) {
        let name = String::from_utf8_lossy(want.event_name().unwrap_or_default()).into_owned();
        if got.event_name() != want.event_name() || keys(got) != keys(want) {
            problems.push(format!(
                "event {name}: ours {:?}, recorded {:?}",
                keys(got),
                keys(want)
            ));
        }
        for key in ["Privilege", "ChannelStateDesc", "Direction", "State"] {
            if got.get_str(key) != want.get_str(key) {
                problems.push(format!(
                    "event {name}: {key} {:?}, recorded {:?}",
                    got.get_str(key),
                    want.get_str(key)
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} differences:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
