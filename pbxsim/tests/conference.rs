//! ConfBridge against ami-session-3: the Confbridge events' key orders, the list items'
//! and the actions' answers as recorded, and the lock only ConfbridgeListRooms shows.

mod common;

use std::collections::BTreeSet;

use common::Client;
use common::fixture::{self, events_by_type, keys};
use pbxsim::SimConfig;
use shared::ami::Message;
use testkit::Pbx as Sim;

/// Originates a conference caller and returns its ConfbridgeJoin.
async fn join(client: &mut Client, exten: &str, phone: &str, name: &str, n: usize) -> Message {
    client
        .action(&format!(
            "Action: Originate\r\nAsync: true\r\nChannel: Local/{phone}@test\r\nContext: test\r\n\
             Exten: {exten}\r\nPriority: 1\r\nCallerID: \"{name}\" <500{n}>\r\n\
             Variable: DURATION=300\r\nActionID: conf-orig-{n}\r\n\r\n"
        ))
        .await;
    client.event("ConfbridgeJoin").await
}

fn text(m: &Message, key: &str) -> String {
    m.get_str(key).unwrap_or_default().into_owned()
}

#[tokio::test]
async fn conferences_answer_and_report_as_recorded() {
    let recording = fixture::received("ami-session-3.txt");
    let recorded = events_by_type(&recording);
    let sim = Sim::start(SimConfig::quiet()).await;
    let mut c = Client::login(sim.addr, "admin", "admin-secret").await;
    let mut seen = Vec::new();

    let a = join(&mut c, "1000", "100", "Conf User A", 1).await;
    let admin = join(&mut c, "1010", "101", "Conf Admin", 2).await;
    assert_eq!(
        (text(&a, "Admin"), text(&admin, "Admin")),
        ("No".into(), "Yes".into())
    );
    seen.extend([a.clone(), admin]);
    seen.push(join(&mut c, "1000", "610", "Conf Talker", 3).await);
    let on = c.event("ConfbridgeTalking").await;
    assert_eq!(text(&on, "TalkingStatus"), "on");
    seen.push(on);
    seen.push(join(&mut c, "1020", "100", "Room2000 User", 4).await);
    let user_a = text(&a, "Channel");

    let (response, rooms, complete) = c
        .list("Action: ConfbridgeListRooms\r\nActionID: r1\r\n\r\n", "r1")
        .await;
    assert_eq!(
        text(&response, "Message"),
        "Confbridge conferences will follow"
    );
    let parties: Vec<(String, String)> = rooms
        .iter()
        .map(|r| (text(r, "Conference"), text(r, "Parties")))
        .collect();
    assert_eq!(
        parties,
        [("2000".into(), "1".into()), ("1000".into(), "3".into())]
    );
    seen.extend(rooms);
    seen.push(complete);
    let (_, users, complete) = c
        .list(
            "Action: ConfbridgeList\r\nConference: 1000\r\nActionID: l1\r\n\r\n",
            "l1",
        )
        .await;
    assert_eq!(users.len(), 3);
    seen.extend(users);
    seen.push(complete);

    let answer = |m: &Message| (text(m, "Response"), text(m, "Message"));
    let ask = async |c: &mut Client, action: &str| {
        answer(&c.action(&format!("{action}ActionID: x\r\n\r\n")).await)
    };
    let ok = |t: &str| ("Success".to_string(), t.to_string());
    let err = |t: &str| ("Error".to_string(), t.to_string());
    assert_eq!(
        ask(&mut c, "Action: ConfbridgeList\r\nConference: 9999\r\n").await,
        err("No Conference by that name found.")
    );
    let mute = format!("Action: ConfbridgeMute\r\nConference: 1000\r\nChannel: {user_a}\r\n");
    assert_eq!(ask(&mut c, &mute).await, ok("User muted"));
    seen.push(c.event("ConfbridgeMute").await);
    let unmute = mute.replace("ConfbridgeMute", "ConfbridgeUnmute");
    assert_eq!(ask(&mut c, &unmute).await, ok("User unmuted"));
    seen.push(c.event("ConfbridgeUnmute").await);
    assert_eq!(
        ask(
            &mut c,
            "Action: ConfbridgeMute\r\nConference: 1000\r\nChannel: Local/nobody@test-1;1\r\n"
        )
        .await,
        err("No Channel by that name found in Conference.")
    );
    assert_eq!(
        ask(&mut c, "Action: ConfbridgeLock\r\nConference: 1000\r\n").await,
        ok("Conference locked")
    );
    let (_, rooms, _) = c
        .list("Action: ConfbridgeListRooms\r\nActionID: r2\r\n\r\n", "r2")
        .await;
    assert_eq!(text(&rooms[1], "Locked"), "Yes", "{rooms:?}");
    assert_eq!(
        ask(&mut c, "Action: ConfbridgeUnlock\r\nConference: 1000\r\n").await,
        ok("Conference unlocked")
    );
    assert_eq!(
        ask(&mut c, "Action: ConfbridgeLock\r\nConference: 9999\r\n").await,
        err("No Conference by that name found.")
    );
    let record = "Action: ConfbridgeStartRecord\r\nConference: 1000\r\n";
    assert_eq!(
        ask(&mut c, record).await,
        ok("Conference Recording Started.")
    );
    let started = c.event("ConfbridgeRecord").await;
    assert_eq!(
        text(&started, "BridgeNumChannels"),
        "5",
        "three users, CBAnn, CBRec"
    );
    seen.push(started);
    assert_eq!(
        ask(&mut c, record).await,
        err("Conference is already being recorded.")
    );
    let stop = "Action: ConfbridgeStopRecord\r\nConference: 1000\r\n";
    assert_eq!(ask(&mut c, stop).await, ok("Conference Recording Stopped."));
    seen.push(c.event("ConfbridgeStopRecord").await);
    assert_eq!(
        ask(&mut c, stop).await,
        err("Internal error while stopping recording.")
    );
    let kick = format!("Action: ConfbridgeKick\r\nConference: 1000\r\nChannel: {user_a}\r\n");
    assert_eq!(ask(&mut c, &kick).await, ok("User kicked"));
    seen.push(c.event("ConfbridgeLeave").await);
    assert_eq!(
        ask(&mut c, &kick).await,
        err("No Channel by that name found in Conference.")
    );
    assert_eq!(
        ask(
            &mut c,
            "Action: ConfbridgeKick\r\nConference: 2000\r\nChannel: all\r\n"
        )
        .await,
        ok("All participants kicked")
    );
    seen.push(c.event("ConfbridgeLeave").await);
    let end = c.event("ConfbridgeEnd").await;
    assert_eq!(text(&end, "Conference"), "2000");
    seen.push(end);
    seen.push(
        c.message()
            .await
            .filter(|m| m.event_name() == Some(b"DeviceStateChange"))
            .expect("the room's device state"),
    );

    // Every Confbridge message has a recorded key order.
    let mut problems = BTreeSet::new();
    for m in &seen {
        let name = String::from_utf8_lossy(m.event_name().unwrap_or_default()).into_owned();
        let ok = recorded
            .get(&name)
            .is_some_and(|r| r.shapes.contains(&keys(m)));
        if !ok {
            problems.insert(format!("{name}: {:?}", keys(m)));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// The room's bridge is ConfBridge's softmix bridge from its `BridgeCreate` on.
#[tokio::test]
async fn the_room_bridge_is_created_as_confbridge_creates_it() {
    let sim = Sim::start(SimConfig::quiet()).await;
    let mut c = Client::login(sim.addr, "admin", "admin-secret").await;
    c.send(
        "Action: Originate\r\nAsync: true\r\nChannel: Local/100@test\r\nContext: test\r\n\
         Exten: 1000\r\nPriority: 1\r\nActionID: o\r\n\r\n",
    )
    .await;
    let create = c.event("BridgeCreate").await;
    let fields: Vec<String> = [
        "BridgeType",
        "BridgeTechnology",
        "BridgeCreator",
        "BridgeName",
    ]
    .iter()
    .map(|k| text(&create, k))
    .collect();
    assert_eq!(fields, ["base", "softmix", "ConfBridge", "1000"]);
    assert_eq!(
        text(&c.event("ConfbridgeStart").await, "BridgeNumChannels"),
        "1"
    );
    assert_eq!(
        text(&c.event("ConfbridgeJoin").await, "BridgeNumChannels"),
        "2"
    );
}
