//! End-to-end behaviour over TCP: login, refusals, demo traffic, lists, slow clients, faults.

mod common;

use std::time::{Duration, Instant};

use common::{Client, keys};
use pbxsim::SimConfig;
use testkit::Pbx as Sim;

#[tokio::test]
async fn banner_login_and_boot_events() {
    let sim = Sim::start(SimConfig::quiet()).await;
    let mut c = Client::connect(sim.addr).await;
    assert_eq!(c.banner.as_deref(), Some("Asterisk Call Manager/11.0.0"));
    let resp = c
        .action("Action: Login\r\nUsername: admin\r\nSecret: admin-secret\r\nActionID: l-1\r\n\r\n")
        .await;
    assert_eq!(keys(&resp), ["Response", "ActionID", "Message"]);
    assert_eq!(
        resp.get_str("Message").as_deref(),
        Some("Authentication accepted")
    );
    let booted = c.message().await.expect("FullyBooted");
    assert_eq!(
        keys(&booted),
        ["Event", "Privilege", "Uptime", "LastReload", "Status"]
    );
    let auth = c.message().await.expect("SuccessfulAuth");
    assert_eq!(auth.event_name(), Some(&b"SuccessfulAuth"[..]));
    assert_eq!(auth.get_str("AccountID").as_deref(), Some("admin"));
}

#[tokio::test]
async fn refusals_use_asterisks_words() {
    let sim = Sim::start(SimConfig::quiet()).await;
    let mut c = Client::connect(sim.addr).await;
    let pre = c
        .action("Action: CoreStatus\r\nActionID: pre-1\r\n\r\n")
        .await;
    assert_eq!(pre.get_str("Message").as_deref(), Some("Permission denied"));
    let started = Instant::now();
    let bad = c
        .action("Action: Login\r\nUsername: admin\r\nSecret: wrong\r\nActionID: bad-3\r\n\r\n")
        .await;
    assert_eq!(
        bad.get_str("Message").as_deref(),
        Some("Authentication failed")
    );
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "failed login answered too fast"
    );
    assert!(
        c.message().await.is_none(),
        "server must close after a failed login"
    );

    let mut c = Client::login(sim.addr, "admin", "admin-secret").await;
    let unknown = c
        .action("Action: NoSuchAction\r\nActionID: bad-30\r\n\r\n")
        .await;
    assert_eq!(
        unknown.get_str("Message").as_deref(),
        Some(
            "Invalid/unknown command: NoSuchAction. Use Action: ListCommands to show available commands."
        )
    );
    let missing = c.action("ActionID: bad-35\r\nFoo: bar\r\n\r\n").await;
    assert_eq!(
        missing.get_str("Message").as_deref(),
        Some("Missing action in request")
    );
    let hangup = c.action("Action: Hangup\r\nActionID: bad-31\r\n\r\n").await;
    assert_eq!(
        hangup.get_str("Message").as_deref(),
        Some("No channel specified")
    );
    let bye = c.action("Action: Logoff\r\nActionID: lo\r\n\r\n").await;
    assert_eq!(bye.get_str("Response").as_deref(), Some("Goodbye"));
    assert!(
        c.message().await.is_none(),
        "server must close after Logoff"
    );
}

#[tokio::test]
async fn md5_challenge_login() {
    use md5::{Digest, Md5};
    let sim = Sim::start(SimConfig::quiet()).await;
    let mut c = Client::connect(sim.addr).await;
    let chal = c
        .action("Action: Challenge\r\nAuthType: MD5\r\nActionID: chal-1\r\n\r\n")
        .await;
    let challenge = chal.get_str("Challenge").expect("challenge").into_owned();
    let key: String = Md5::digest(format!("{challenge}admin-secret"))
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let resp = c
        .action(&format!("Action: Login\r\nAuthType: MD5\r\nUsername: admin\r\nKey: {key}\r\nEvents: off\r\nActionID: l\r\n\r\n"))
        .await;
    assert_eq!(
        resp.get_str("Message").as_deref(),
        Some("Authentication accepted")
    );
    let ping = c.action("Action: Ping\r\nActionID: p\r\n\r\n").await;
    assert_eq!(keys(&ping), ["Response", "ActionID", "Ping", "Timestamp"]);
}

#[tokio::test]
async fn demo_traffic_keeps_a_watcher_busy() {
    let sim = Sim::start(SimConfig::demo()).await;
    let mut c = Client::login(sim.addr, "admin", "admin-secret").await;
    let mut last = Instant::now();
    let mut names = std::collections::BTreeSet::new();
    let until = Instant::now() + Duration::from_secs(6);
    while Instant::now() < until {
        let m = c.message().await.expect("events keep coming");
        assert!(
            last.elapsed() < Duration::from_millis(2_500),
            "silence of {:?}",
            last.elapsed()
        );
        last = Instant::now();
        if let Some(name) = m.event_name() {
            names.insert(String::from_utf8_lossy(name).into_owned());
        }
    }
    assert!(
        names.contains("Newchannel"),
        "no call started in 6 s: {names:?}"
    );
}

/// Reads until EOF; returns the bytes read, or `None` if the server kept the connection open.
async fn drain_to_eof(c: &mut Client, limit: Duration) -> Option<usize> {
    use tokio::io::AsyncReadExt;
    let mut total = 0;
    let mut buf = vec![0_u8; 64 * 1024];
    let until = Instant::now() + limit;
    while Instant::now() < until {
        match tokio::time::timeout(Duration::from_secs(2), c.stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(total),
            Ok(Ok(n)) => total += n,
            Err(_) => return None,
        }
    }
    None
}

#[tokio::test]
async fn a_client_that_never_reads_is_dropped_after_a_bounded_buffer() {
    let mut config = SimConfig::load();
    config.max_lag_events = 4_096;
    config.write_timeout = Duration::from_millis(300);
    let sim = Sim::start(config).await;
    let mut slow = Client::login(sim.addr, "admin", "admin-secret").await;
    let mut watcher = Client::login(sim.addr, "viewer", "viewer-secret").await;
    // The watcher keeps reading: once it is far past the lag bound, the slow client must be gone.
    for _ in 0..40_000 {
        watcher
            .message()
            .await
            .expect("the reading client keeps its stream");
    }
    let read = drain_to_eof(&mut slow, Duration::from_secs(30)).await;
    let read = read.expect("the server must close the slow client's connection");
    assert!(
        read < 16 * 1024 * 1024,
        "slow client got {read} bytes: the buffer is not bounded"
    );
    watcher
        .message()
        .await
        .expect("the server still serves the others");
}

#[tokio::test]
async fn load_mode_streams_events() {
    let report = pbxsim::bench::measure(SimConfig::load(), Duration::from_secs(1))
        .await
        .expect("measured");
    assert!(report.events > 1_000, "load mode gave {report}");
}

#[tokio::test]
async fn read_classes_and_event_masks_filter_events() {
    use common::fixture::{events_by_type, raw_stream};
    let sim = Sim::start(SimConfig::quiet()).await;
    let mut admin = Client::login(sim.addr, "admin", "admin-secret").await;
    let mut agent = Client::login(sim.addr, "agent", "agent-secret").await;
    let mut viewer = Client::login(sim.addr, "viewer", "viewer-secret").await;
    for (i, exten) in ["300", "650", "950", "200", "211"].iter().enumerate() {
        admin
            .action(&format!(
                "Action: Originate\r\nChannel: Local/100@test\r\nContext: test\r\nExten: {exten}\r\nPriority: 1\r\nAsync: true\r\nActionID: o-{i}\r\n\r\n"
            ))
            .await;
    }
    admin.action("Action: Originate\r\nChannel: Local/101@test\r\nContext: test\r\nExten: 200\r\nPriority: 1\r\nAsync: true\r\nActionID: done\r\n\r\n").await;
    for (client, file) in [
        (&mut agent, "ami-events-stream-agent.txt"),
        (&mut viewer, "ami-events-stream-viewer.txt"),
    ] {
        let mut allowed: std::collections::BTreeSet<String> =
            events_by_type(&raw_stream(file)).into_keys().collect();
        // These streams were recorded without hints; `quiet()` has ami-session-2's, whose
        // `ExtensionStatus` is class `call` there (`Privilege: call,all`).
        allowed.insert("ExtensionStatus".into());
        let mut got = std::collections::BTreeSet::new();
        loop {
            let m = client.message().await.expect("events");
            let name = String::from_utf8_lossy(m.event_name().unwrap_or_default()).into_owned();
            let done = name == "OriginateResponse" && m.action_id() == Some(&b"done"[..]);
            got.insert(name);
            if done {
                break;
            }
        }
        let extra: Vec<&String> = got.difference(&allowed).collect();
        assert!(
            extra.is_empty(),
            "{file}: events the user may not read: {extra:?}"
        );
        assert!(
            got.contains("DeviceStateChange"),
            "{file}: class call must arrive: {got:?}"
        );
    }
    let off = admin
        .action("Action: Events\r\nEventMask: off\r\nActionID: e\r\n\r\n")
        .await;
    assert_eq!(off.get_str("Events").as_deref(), Some("Off"));
    let on = admin
        .action("Action: Events\r\nEventMask: call,agent\r\nActionID: e2\r\n\r\n")
        .await;
    assert_eq!(on.get_str("Events").as_deref(), Some("On"));
    let f = admin.action("Action: Filter\r\nOperation: Add\r\nFilter: Event: DeviceStateChange\r\nActionID: f\r\n\r\n").await;
    assert_eq!(f.get_str("Message").as_deref(), Some("Success"));
    admin.action("Action: Originate\r\nChannel: Local/100@test\r\nContext: test\r\nExten: 999\r\nPriority: 1\r\nAsync: true\r\nActionID: x\r\n\r\n").await;
    let m = admin.message().await.expect("a filtered event");
    assert_eq!(
        m.event_name(),
        Some(&b"DeviceStateChange"[..]),
        "only the filter's events pass"
    );
}

#[tokio::test]
async fn fault_switches() {
    use shared::ami::{Frame, ParseError};
    let config = SimConfig::quiet();
    let faults = config.faults.clone();
    let sim = Sim::start(config).await;

    // Garbage, then an oversized message: the client sees skippable frames, the link survives.
    let mut c = Client::login(sim.addr, "admin", "admin-secret").await;
    c.action("Action: Events\r\nEventMask: off\r\nActionID: e\r\n\r\n")
        .await;
    faults.send_garbage();
    loop {
        match c.frame().await.expect("open") {
            Frame::Invalid(ParseError::MissingColon { .. }) => break,
            Frame::Invalid(e) => panic!("unexpected {e}"),
            _ => {}
        }
    }
    faults.send_oversized(2 * 1024 * 1024);
    loop {
        match c.frame().await.expect("open") {
            Frame::Invalid(ParseError::TooLong { .. }) => break,
            Frame::Invalid(e) => panic!("unexpected {e}"),
            _ => {}
        }
    }
    let ping = c.action("Action: Ping\r\nActionID: p\r\n\r\n").await;
    assert_eq!(ping.get_str("Ping").as_deref(), Some("Pong"));

    // Stalled reads: the action is answered only once reading resumes. The switch holds for
    // everything sent after it returns, so no wait is needed between the two.
    faults.stall_reads(true);
    c.send("Action: Ping\r\nActionID: p2\r\n\r\n").await;
    let early = tokio::time::timeout(Duration::from_millis(300), c.message()).await;
    assert!(early.is_err(), "a stalled server must not answer");
    faults.stall_reads(false);
    assert_eq!(
        c.message().await.expect("answer").action_id(),
        Some(&b"p2"[..])
    );

    // Slow writes: each write waits.
    faults.slow_writes(Some(Duration::from_millis(200)));
    let t = Instant::now();
    c.action("Action: Ping\r\nActionID: p3\r\n\r\n").await;
    assert!(
        t.elapsed() >= Duration::from_millis(190),
        "write was not slowed"
    );
    faults.slow_writes(None);

    // Restart: connections drop, calls vanish, Uniqueids start from a later epoch.
    let o = c.action("Action: Originate\r\nChannel: Local/100@test\r\nContext: test\r\nExten: 200\r\nPriority: 1\r\nAsync: true\r\nActionID: o1\r\n\r\n").await;
    assert_eq!(o.get_str("Response").as_deref(), Some("Success"));
    let (_, before, _) = c
        .list("Action: CoreShowChannels\r\nActionID: csc1\r\n\r\n", "csc1")
        .await;
    let old_uid = before
        .first()
        .and_then(|m| m.get_str("Uniqueid"))
        .expect("a channel")
        .into_owned();
    faults.restart();
    assert!(
        drain_to_eof(&mut c, Duration::from_secs(5)).await.is_some(),
        "restart closes connections"
    );
    let mut c = Client::login(sim.addr, "admin", "admin-secret").await;
    let (_, after, _) = c
        .list("Action: CoreShowChannels\r\nActionID: csc2\r\n\r\n", "csc2")
        .await;
    assert!(after.is_empty(), "calls survive a restart: {}", after.len());
    c.action("Action: Originate\r\nChannel: Local/100@test\r\nContext: test\r\nExten: 200\r\nPriority: 1\r\nAsync: true\r\nActionID: o2\r\n\r\n").await;
    let (_, fresh, _) = c
        .list("Action: CoreShowChannels\r\nActionID: csc3\r\n\r\n", "csc3")
        .await;
    let new_uid = fresh
        .first()
        .and_then(|m| m.get_str("Uniqueid"))
        .expect("a channel")
        .into_owned();
    let epoch = |u: &str| {
        u.split('.')
            .next()
            .and_then(|e| e.parse::<u64>().ok())
            .expect("epoch.seq")
    };
    assert!(
        epoch(&new_uid) > epoch(&old_uid),
        "{new_uid} does not follow {old_uid}"
    );

    // Abrupt close.
    faults.close_all();
    assert!(
        drain_to_eof(&mut c, Duration::from_secs(5)).await.is_some(),
        "close_all closes connections"
    );
}

#[tokio::test]
async fn a_line_longer_than_asterisks_buffer_spoils_only_its_action() {
    let sim = Sim::start(SimConfig::quiet()).await;
    let mut c = Client::login(sim.addr, "admin", "admin-secret").await;
    let long = "x".repeat(10_240);
    let resp = c
        .action(&format!("Action: Setvar\r\nActionID: err-98\r\nVariable: AMI_LONG_VALUE\r\nValue: {long}\r\n\r\n"))
        .await;
    assert_eq!(keys(&resp), ["Response", "ActionID", "Message"]);
    assert_eq!(
        resp.get_str("Message").as_deref(),
        Some("Failed to parse message: line too long")
    );
    let get = c
        .action("Action: Getvar\r\nVariable: AMI_LONG_VALUE\r\nActionID: g\r\n\r\n")
        .await;
    assert_eq!(
        get.get_str("Value").as_deref(),
        Some(""),
        "the spoiled Setvar must not run"
    );
    let oversized = format!("Action: Ping\r\nX: {}\r\n\r\n", "y".repeat(128 * 1024));
    let resp = c.action(&oversized).await;
    assert_eq!(
        resp.get_str("Message").as_deref(),
        Some("Failed to parse message: line too long")
    );
    let ping = c.action("Action: Ping\r\nActionID: p\r\n\r\n").await;
    assert_eq!(
        ping.get_str("Ping").as_deref(),
        Some("Pong"),
        "the connection survives"
    );
}

#[tokio::test]
async fn custom_device_states_and_channel_variables() {
    let sim = Sim::start(SimConfig::quiet()).await;
    let mut c = Client::login(sim.addr, "admin", "admin-secret").await;
    let set = c.action("Action: Setvar\r\nVariable: DEVICE_STATE(Custom:1001)\r\nValue: INUSE\r\nActionID: d\r\n\r\n").await;
    assert_eq!(set.get_str("Message").as_deref(), Some("Variable Set"));
    let ev = c.event("DeviceStateChange").await;
    assert_eq!(keys(&ev), ["Event", "Privilege", "Device", "State"]);
    assert_eq!(ev.get_str("Device").as_deref(), Some("Custom:1001"));
    assert_eq!(ev.get_str("State").as_deref(), Some("INUSE"));
    let (_, items, _) = c
        .list("Action: DeviceStateList\r\nActionID: l\r\n\r\n", "l")
        .await;
    assert!(
        items
            .iter()
            .any(|m| m.get_str("Device").as_deref() == Some("Custom:1001"))
    );
    let bad = c.action("Action: Setvar\r\nChannel: Local/9999@test-deadbeef;1\r\nVariable: X\r\nValue: 1\r\nActionID: v\r\n\r\n").await;
    assert_eq!(bad.get_str("Response").as_deref(), Some("Error"));
}

#[tokio::test]
async fn status_shows_requested_channel_variables() {
    let sim = Sim::start(SimConfig::quiet()).await;
    let mut c = Client::login(sim.addr, "admin", "admin-secret").await;
    c.action("Action: Events\r\nEventMask: off\r\nActionID: e\r\n\r\n")
        .await;
    c.action("Action: Originate\r\nChannel: Local/100@test\r\nContext: test\r\nExten: 200\r\nPriority: 1\r\nAsync: true\r\nVariable: DURATION=300\r\nActionID: o\r\n\r\n").await;
    let (_, all, _) = c
        .list("Action: CoreShowChannels\r\nActionID: c\r\n\r\n", "c")
        .await;
    let caller = all
        .iter()
        .filter_map(|m| m.get_str("Channel"))
        .find(|n| n.starts_with("Local/100@test") && n.ends_with(";1"))
        .expect("the caller leg")
        .into_owned();
    let (resp, items, end) = c
        .list(&format!("Action: Status\r\nChannel: {caller}\r\nVariables: DURATION,NOSUCHVAR\r\nActionID: s\r\n\r\n"), "s")
        .await;
    assert_eq!(resp.get_str("EventList").as_deref(), Some("start"));
    assert_eq!(items.len(), 1);
    let vars: Vec<String> = items[0]
        .get_all("Variable")
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect();
    assert_eq!(vars, ["DURATION=300", "NOSUCHVAR="]);
    assert_eq!(
        keys(&end),
        ["Event", "ActionID", "EventList", "ListItems", "Items"]
    );
    let get = c
        .action(&format!(
            "Action: Getvar\r\nChannel: {caller}\r\nVariable: DURATION\r\nActionID: g\r\n\r\n"
        ))
        .await;
    assert_eq!(get.get_str("Value").as_deref(), Some("300"));
}

/// `ami-boot.txt`: a login while Asterisk still boots after a restart.
#[tokio::test]
async fn a_restart_boots_as_recorded() {
    let mut config = SimConfig::quiet();
    // The recording's mailboxes, which app_voicemail announces as it loads.
    config.directory.mailboxes = (1001..=1005)
        .map(|n| pbxsim::directory::Mailbox {
            mailbox: format!("{n}@default"),
            urgent: 0,
            new: 0,
            old: 0,
        })
        .collect();
    let faults = config.faults.clone();
    let sim = Sim::start(config).await;
    faults.boot_time(Duration::from_millis(1_500));
    faults.restart();
    let mut c = Client::connect(sim.addr).await;
    c.send(
        "Action: Login\r\nUsername: admin\r\nSecret: admin-secret\r\nActionID: boot-login\r\n\r\n",
    )
    .await;
    let login = c.message().await.expect("Login answer");
    assert_eq!(
        login.get_str("Message").as_deref(),
        Some("Authentication accepted")
    );
    // No FullyBooted after the Login: SuccessfulAuth, then the mailboxes.
    let auth = c.message().await.expect("SuccessfulAuth");
    assert_eq!(auth.event_name(), Some(&b"SuccessfulAuth"[..]));
    for n in 1001..=1005 {
        let mwi = c.message().await.expect("MessageWaiting");
        assert_eq!(
            keys(&mwi),
            ["Event", "Privilege", "Mailbox", "Waiting", "New", "Old"]
        );
        assert_eq!(
            mwi.get_str("Mailbox").as_deref(),
            Some(format!("{n}@default").as_str())
        );
        assert_eq!(mwi.get_str("Waiting").as_deref(), Some("0"));
    }
    for action in ["QueueStatus", "DeviceStateList", "PresenceStateList"] {
        let refused = c
            .action(&format!("Action: {action}\r\nActionID: b-{action}\r\n\r\n"))
            .await;
        assert_eq!(keys(&refused), ["Response", "ActionID", "Message"]);
        assert_eq!(refused.get_str("Response").as_deref(), Some("Error"));
        assert_eq!(
            refused.get_str("Message").as_deref(),
            Some(
                format!(
                    "Invalid/unknown command: {action}. Use Action: ListCommands to show available commands."
                )
                .as_str()
            )
        );
    }
    let (_, parked, _) = c
        .list(
            "Action: ParkedCalls\r\nActionID: b-parked\r\n\r\n",
            "b-parked",
        )
        .await;
    assert!(parked.is_empty(), "res_parking answers while booting");
    let listed = c
        .action("Action: ListCommands\r\nActionID: b-list\r\n\r\n")
        .await;
    // pbxsim's 103 actions less the 25 the recording lacked while booting.
    assert_eq!(keys(&listed).len() - 2, 78);
    assert!(listed.get("QueueStatus").is_none());

    let varset = c.event("VarSet").await;
    assert_eq!(
        keys(&varset),
        [
            "Event",
            "Privilege",
            "Channel",
            "Uniqueid",
            "Variable",
            "Value"
        ]
    );
    assert_eq!(
        varset.get_str("Variable").as_deref(),
        Some("DEFAULT_DURATION")
    );
    let booted = c.message().await.expect("FullyBooted");
    assert_eq!(booted.event_name(), Some(&b"FullyBooted"[..]));
    assert_eq!(
        keys(&booted),
        ["Event", "Privilege", "Status", "Uptime", "LastReload"]
    );
    assert_eq!(booted.get_str("Privilege").as_deref(), Some("system,all"));
    assert_eq!(booted.get_str("Status").as_deref(), Some("Fully Booted"));
    assert_eq!(booted.get_str("Uptime").as_deref(), Some("1"));
    let (_, queues, _) = c
        .list(
            "Action: QueueStatus\r\nActionID: b-again\r\n\r\n",
            "b-again",
        )
        .await;
    assert!(!queues.is_empty(), "QueueStatus works once booted");

    // A module that is not loaded stays unknown once booted.
    let mut config = SimConfig::quiet();
    config.missing_actions = vec!["QueueStatus".into()];
    let sim = Sim::start(config).await;
    let mut c = Client::login(sim.addr, "admin", "admin-secret").await;
    let refused = c.action("Action: QueueStatus\r\nActionID: q\r\n\r\n").await;
    assert_eq!(refused.get_str("Response").as_deref(), Some("Error"));
}
