//! Call-control actions over real TCP, compared with `ami-session-2.txt` where it recorded
//! them: ChanSpy (listen, whisper, barge) originated as an application, a dual Redirect,
//! parking and picking up by space or with `ParkedCall`, QueuePause with a reason.

mod common;

use std::collections::BTreeMap;

use common::Client;
use common::fixture::{self, Recorded, keys};
use pbxsim::SimConfig;
use shared::ami::Message;
use testkit::Pbx as Sim;

/// Every key sequence the recordings show for each event type.
fn recorded() -> BTreeMap<String, Recorded> {
    let mut all = fixture::received("ami-session-2.txt");
    all.extend(fixture::raw_stream("ami-events-stream.txt"));
    fixture::events_by_type(&all)
}

fn assert_recorded_shape(rec: &BTreeMap<String, Recorded>, m: &Message) {
    let name = String::from_utf8_lossy(m.event_name().unwrap_or_default()).into_owned();
    let shapes = rec.get(&name).map(|r| &r.shapes);
    assert!(
        shapes.is_some_and(|s| s.contains(&keys(m))),
        "{name} has keys {:?}, recorded {shapes:?}",
        keys(m)
    );
}

/// Starts a bridged call (caller Local/100, callee Local/201) and returns the callee's `;1`.
async fn bridged_call(c: &mut Client, id: &str) -> String {
    c.action(&format!("Action: Originate\r\nChannel: Local/100@test\r\nContext: test\r\nExten: 200\r\nPriority: 1\r\nAsync: true\r\nVariable: DURATION=120\r\nActionID: {id}\r\n\r\n")).await;
    loop {
        let m = c.event("BridgeEnter").await;
        if let Some(name) = m.get_str("Channel")
            && name.starts_with("Local/100@test-")
        {
            break;
        }
    }
    let (_, channels, _) = c
        .list("Action: CoreShowChannels\r\nActionID: csc\r\n\r\n", "csc")
        .await;
    channels
        .iter()
        .filter_map(|m| m.get_str("Channel").map(|n| n.into_owned()))
        .rfind(|n| n.starts_with("Local/201@test-") && n.ends_with(";1"))
        .expect("the callee leg")
}

#[tokio::test]
async fn chanspy_listen_whisper_and_barge_show_the_spy_and_its_events() {
    let rec = recorded();
    let sim = Sim::start(SimConfig::quiet()).await;
    let mut c = Client::login(sim.addr, "admin", "admin-secret").await;
    let callee = bridged_call(&mut c, "o").await;
    for opts in ["q", "qw", "qB"] {
        let id = format!("spy-{opts}");
        let resp = c.action(&format!("Action: Originate\r\nChannel: Local/101@test\r\nApplication: ChanSpy\r\nData: {callee},{opts}\r\nCallerID: \"Spy {opts}\" <800>\r\nAsync: true\r\nVariable: DURATION=60\r\nActionID: {id}\r\n\r\n")).await;
        assert_eq!(
            resp.get_str("Message").as_deref(),
            Some("Originate successfully queued")
        );
        let answer = c.event("OriginateResponse").await;
        assert_recorded_shape(&rec, &answer);
        assert_eq!(answer.get_str("Application").as_deref(), Some("ChanSpy"));
        let spyer = answer.get_str("Channel").expect("spyer").into_owned();
        let start = c.event("ChanSpyStart").await;
        assert_recorded_shape(&rec, &start);
        assert_eq!(start.get_str("SpyerChannel").as_deref(), Some(&*spyer));
        assert_eq!(start.get_str("SpyeeChannel").as_deref(), Some(&*callee));
        let (_, channels, _) = c
            .list("Action: CoreShowChannels\r\nActionID: l\r\n\r\n", "l")
            .await;
        let spy = channels
            .iter()
            .find(|m| m.get_str("Channel").as_deref() == Some(&*spyer))
            .expect("the spy channel is listed");
        assert_eq!(spy.get_str("Application").as_deref(), Some("ChanSpy"));
        assert_eq!(
            spy.get_str("ApplicationData").as_deref(),
            Some(&*format!("{callee},{opts}"))
        );
        let hung = c
            .action(&format!(
                "Action: Hangup\r\nChannel: {spyer}\r\nActionID: h\r\n\r\n"
            ))
            .await;
        assert_eq!(hung.get_str("Message").as_deref(), Some("Channel Hungup"));
        let stop = c.event("ChanSpyStop").await;
        assert_recorded_shape(&rec, &stop);
        assert_eq!(stop.get_str("SpyerChannel").as_deref(), Some(&*spyer));
    }
}

#[tokio::test]
async fn a_spy_stops_when_the_spied_call_ends() {
    let sim = Sim::start(SimConfig::quiet()).await;
    let mut c = Client::login(sim.addr, "admin", "admin-secret").await;
    let callee = bridged_call(&mut c, "o").await;
    c.action(&format!("Action: Originate\r\nChannel: Local/101@test\r\nApplication: ChanSpy\r\nData: {callee},q\r\nAsync: true\r\nVariable: DURATION=60\r\nActionID: s\r\n\r\n")).await;
    c.event("ChanSpyStart").await;
    c.action(&format!(
        "Action: Hangup\r\nChannel: {callee}\r\nActionID: h\r\n\r\n"
    ))
    .await;
    let stop = c.event("ChanSpyStop").await;
    assert_eq!(stop.get_str("SpyeeChannel").as_deref(), Some(&*callee));
}

#[tokio::test]
async fn a_dual_redirect_moves_both_legs_and_keeps_both() {
    let sim = Sim::start(SimConfig::quiet()).await;
    let mut c = Client::login(sim.addr, "admin", "admin-secret").await;
    let callee = bridged_call(&mut c, "o").await;
    let (_, channels, _) = c
        .list("Action: CoreShowChannels\r\nActionID: l\r\n\r\n", "l")
        .await;
    let caller = channels
        .iter()
        .filter_map(|m| m.get_str("Channel").map(|n| n.into_owned()))
        .find(|n| n.starts_with("Local/100@test-") && n.ends_with(";1"))
        .expect("the caller leg");
    let errors = [
        (
            format!("ExtraChannel: {callee}\r\nExtraContext: test\r\n"),
            "ExtraExten not specified".to_string(),
        ),
        (
            "ExtraChannel: Local/nosuch@test-00000000;1\r\nExtraContext: test\r\nExtraExten: 100\r\nExtraPriority: 1\r\n".to_string(),
            "ExtraChannel does not exist: Local/nosuch@test-00000000;1".to_string(),
        ),
    ];
    for (extra, text) in errors {
        let r = c.action(&format!("Action: Redirect\r\nChannel: {caller}\r\nContext: test\r\nExten: 250\r\nPriority: 1\r\n{extra}ActionID: e\r\n\r\n")).await;
        assert_eq!(r.get_str("Message").as_deref(), Some(&*text));
    }
    let r = c.action(&format!("Action: Redirect\r\nChannel: {caller}\r\nContext: test\r\nExten: 250\r\nPriority: 1\r\nExtraChannel: {callee}\r\nExtraContext: test\r\nExtraExten: 100\r\nExtraPriority: 1\r\nActionID: r\r\n\r\n")).await;
    assert_eq!(
        r.get_str("Message").as_deref(),
        Some("Dual Redirect successful")
    );
    // The caller dials the transfer target (Local/202), the callee runs extension 100.
    let mut callee_moved = false;
    loop {
        let m = c.message().await.expect("events");
        if m.event_name() == Some(&b"Newexten"[..])
            && m.get_str("Channel").as_deref() == Some(&*callee)
            && m.get_str("Extension").as_deref() == Some("100")
        {
            callee_moved = true;
        }
        if m.event_name() == Some(&b"Newchannel"[..])
            && m.get_str("Channel")
                .is_some_and(|n| n.starts_with("Local/202@test-"))
        {
            break;
        }
    }
    assert!(callee_moved, "no Newexten of {callee} at 100");
    let (_, channels, _) = c
        .list("Action: CoreShowChannels\r\nActionID: l2\r\n\r\n", "l2")
        .await;
    let names: Vec<String> = channels
        .iter()
        .filter_map(|m| m.get_str("Channel").map(|n| n.into_owned()))
        .collect();
    assert!(
        names.contains(&callee) && names.contains(&caller),
        "{names:?}"
    );
}

#[tokio::test]
async fn a_parked_call_is_picked_up_by_space_or_with_parkedcall() {
    let sim = Sim::start(SimConfig::quiet()).await;
    let mut c = Client::login(sim.addr, "admin", "admin-secret").await;
    for pickup in [
        "Exten: 701\r\nContext: test\r\nPriority: 1\r\n",
        "Application: ParkedCall\r\nData: default,701\r\n",
    ] {
        let callee = bridged_call(&mut c, "o").await;
        c.send(&format!(
            "Action: Park\r\nChannel: {callee}\r\nActionID: p\r\n\r\n"
        ))
        .await;
        let parked = c.event("ParkedCall").await;
        assert_eq!(parked.get_str("ParkingSpace").as_deref(), Some("701"));
        c.action(&format!("Action: Originate\r\nChannel: Local/101@test\r\n{pickup}Async: true\r\nVariable: DURATION=2\r\nActionID: u\r\n\r\n")).await;
        let unparked = c.event("UnParkedCall").await;
        assert_eq!(
            unparked.get_str("ParkeeChannel").as_deref(),
            Some(&*callee),
            "{pickup}"
        );
        let (_, items, _) = c
            .list("Action: ParkedCalls\r\nActionID: pc\r\n\r\n", "pc")
            .await;
        assert!(items.is_empty(), "still parked after {pickup}");
    }
}

#[tokio::test]
async fn queue_pause_with_a_reason_raises_the_recorded_member_pause() {
    let rec = recorded();
    let sim = Sim::start(SimConfig::quiet()).await;
    let mut c = Client::login(sim.addr, "admin", "admin-secret").await;
    let r = c.action("Action: QueuePause\r\nInterface: Local/agent1@agents/n\r\nQueue: support\r\nPaused: true\r\nReason: Lunch\r\nActionID: qp\r\n\r\n").await;
    assert_eq!(
        r.get_str("Message").as_deref(),
        Some("Interface paused successfully")
    );
    let pause = c.event("QueueMemberPause").await;
    assert_recorded_shape(&rec, &pause);
    assert_eq!(pause.get_str("PausedReason").as_deref(), Some("Lunch"));
    assert_eq!(pause.get_str("Paused").as_deref(), Some("1"));
}

#[tokio::test]
async fn queue_add_takes_a_state_interface_and_a_paused_reason() {
    let rec = recorded();
    let sim = Sim::start(SimConfig::quiet()).await;
    let mut c = Client::login(sim.addr, "admin", "admin-secret").await;
    for (headers, text) in [
        ("Interface: PJSIP/1020\r\n", "'Queue' not specified."),
        ("Queue: support\r\n", "'Interface' not specified."),
        (
            "Queue: nosuch\r\nInterface: PJSIP/1020\r\n",
            "Unable to add interface to queue: No such queue",
        ),
    ] {
        let r = c
            .action(&format!("Action: QueueAdd\r\n{headers}ActionID: e\r\n\r\n"))
            .await;
        assert_eq!(r.get_str("Message").as_deref(), Some(text));
    }
    let r = c.action("Action: QueueAdd\r\nQueue: support\r\nInterface: Local/agent9@agents/n\r\nMemberName: Tara Singh\r\nStateInterface: PJSIP/1020\r\nPaused: yes\r\nReason: Break\r\nActionID: a\r\n\r\n").await;
    assert_eq!(
        r.get_str("Message").as_deref(),
        Some("Added interface to queue")
    );
    let added = c.event("QueueMemberAdded").await;
    assert_recorded_shape(&rec, &added);
    let r = c.action("Action: QueueRemove\r\nQueue: support\r\nInterface: Local/agent1@agents/n\r\nActionID: r\r\n\r\n").await;
    assert_eq!(r.get_str("Message").as_deref(), Some("Member not dynamic"));
    for (k, v) in [
        ("StateInterface", "PJSIP/1020"),
        ("Paused", "1"),
        ("PausedReason", "Break"),
        ("Membership", "dynamic"),
    ] {
        assert_eq!(added.get_str(k).as_deref(), Some(v), "{k}");
    }
}

/// Reads raw bytes from `stream` until `needle` has arrived (within the test wait).
async fn read_until(stream: &mut tokio::net::TcpStream, seen: &mut Vec<u8>, needle: &[u8]) {
    use tokio::io::AsyncReadExt;
    while !seen.windows(needle.len()).any(|w| w == needle) {
        let mut buf = [0_u8; 4096];
        let n = tokio::time::timeout(common::WAIT, stream.read(&mut buf))
            .await
            .expect("answer in time")
            .expect("read");
        assert!(n > 0, "closed before {:?}", String::from_utf8_lossy(needle));
        seen.extend_from_slice(&buf[..n]);
    }
}

#[tokio::test]
async fn texts_asterisk_ends_with_a_line_feed_keep_the_bare_lf() {
    use tokio::io::AsyncWriteExt;
    let sim = Sim::start(SimConfig::quiet()).await;
    let mut stream = tokio::net::TcpStream::connect(sim.addr).await.unwrap();
    let mut seen = Vec::new();
    stream
        .write_all(
            b"Action: Login\r\nUsername: admin\r\nSecret: admin-secret\r\nEvents: off\r\n\r\n",
        )
        .await
        .unwrap();
    read_until(&mut stream, &mut seen, b"Authentication accepted\r\n\r\n").await;
    stream.write_all(b"Action: QueueMemberRingInUse\r\nQueue: support\r\nInterface: Local/nosuch@agents/n\r\nRingInUse: true\r\nActionID: r\r\n\r\n").await.unwrap();
    read_until(
        &mut stream,
        &mut seen,
        b"Response: Error\r\nActionID: r\r\nMessage: Invalid interface, queuename, or ringinuse value\n\r\n\r\n",
    )
    .await;
    stream
        .write_all(b"Action: Park\r\nChannel: Local/nosuch@test-00000000;1\r\nActionID: p\r\n\r\n")
        .await
        .unwrap();
    read_until(
        &mut stream,
        &mut seen,
        b"Response: Error\r\nActionID: p\r\nMessage: Unable to park\n\r\n\r\n",
    )
    .await;
}

#[tokio::test]
async fn queue_penalty_and_ringinuse_raise_the_recorded_member_events() {
    let rec = recorded();
    let sim = Sim::start(SimConfig::quiet()).await;
    let mut c = Client::login(sim.addr, "admin", "admin-secret").await;
    let r = c.action("Action: QueuePenalty\r\nInterface: Local/agent2@agents/n\r\nPenalty: 5\r\nActionID: p\r\n\r\n").await;
    assert_eq!(
        r.get_str("Message").as_deref(),
        Some("Interface penalty set successfully")
    );
    let penalty = c.event("QueueMemberPenalty").await;
    assert_recorded_shape(&rec, &penalty);
    assert_eq!(penalty.get_str("Penalty").as_deref(), Some("5"));
    let r = c.action("Action: QueueMemberRingInUse\r\nQueue: support\r\nInterface: Local/agent2@agents/n\r\nRingInUse: yes\r\nActionID: r\r\n\r\n").await;
    assert_eq!(
        r.get_str("Message").as_deref(),
        Some("Interface ringinuse set successfully")
    );
    let ring = c.event("QueueMemberRinginuse").await;
    assert_recorded_shape(&rec, &ring);
    assert_eq!(ring.get_str("Ringinuse").as_deref(), Some("1"));
    let r = c.action("Action: QueueMemberRingInUse\r\nInterface: Local/agent2@agents/n\r\nRingInUse: maybe\r\nActionID: x\r\n\r\n").await;
    assert_eq!(
        r.get_str("Message").as_deref(),
        Some("'RingInUse' parameter must be a truth value (yes/no, on/off, 0/1, etc)")
    );
}

#[tokio::test]
async fn bridge_info_lists_the_bridged_channels_as_recorded() {
    let conns = fixture::transcript("ami-session-2.txt");
    let recorded: Vec<Message> = conns
        .iter()
        .flatten()
        .filter_map(|s| match s {
            fixture::Step::Recv(m) if m.action_id() == Some(&b"bi-46"[..]) => Some(m.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(recorded.len(), 4, "response, two channels, complete");
    let sim = Sim::start(SimConfig::quiet()).await;
    let mut c = Client::login(sim.addr, "admin", "admin-secret").await;
    let callee = bridged_call(&mut c, "o").await;
    let (_, bridges, _) = c
        .list(
            "Action: BridgeList\r\nBridgeType: basic\r\nActionID: bl\r\n\r\n",
            "bl",
        )
        .await;
    let bridge = bridges[0]
        .get_str("BridgeUniqueid")
        .expect("id")
        .into_owned();
    let (resp, items, end) = c
        .list(
            &format!("Action: BridgeInfo\r\nBridgeUniqueid: {bridge}\r\nActionID: bi-46\r\n\r\n"),
            "bi-46",
        )
        .await;
    let got: Vec<&Message> = [&resp].into_iter().chain(&items).chain([&end]).collect();
    for (g, r) in got.iter().zip(&recorded) {
        assert_eq!(keys(g), keys(r));
    }
    assert_eq!(got.len(), recorded.len());
    assert!(
        items
            .iter()
            .any(|m| m.get_str("Channel").as_deref() == Some(&*callee))
    );
    assert_eq!(end.get_str("BridgeUniqueid").as_deref(), Some(&*bridge));
    let none = c.action("Action: BridgeInfo\r\nActionID: n\r\n\r\n").await;
    assert_eq!(
        none.get_str("Message").as_deref(),
        Some("BridgeUniqueid must be provided")
    );
}
