//! Over real TCP: the `Stats` handle counts logins and sessions, a restarted simulator reuses
//! no channel name or Uniqueid, and `Filter` rules are regexes kept per session.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{Client, WAIT};
use pbxsim::SimConfig;
use testkit::Pbx as Sim;

/// Polls `f` until it holds, for at most [`WAIT`].
async fn eventually(what: &str, f: impl Fn() -> bool) {
    let until = Instant::now() + WAIT;
    while !f() {
        assert!(Instant::now() < until, "{what} did not happen in time");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn stats_count_logins_per_user_and_open_sessions() {
    let config = SimConfig::quiet();
    let stats = config.stats.clone();
    let sim = Sim::start(config).await;
    assert_eq!(stats.logins("admin"), 0);
    let a1 = Client::login(sim.addr, "admin", "admin-secret").await;
    let a2 = Client::login(sim.addr, "admin", "admin-secret").await;
    let mut agent = Client::login(sim.addr, "agent", "agent-secret").await;
    let _anonymous = Client::connect(sim.addr).await;
    assert_eq!(stats.logins("admin"), 2);
    assert_eq!(stats.logins("ADMIN"), 2, "user names are case-insensitive");
    assert_eq!(stats.logins("agent"), 1);
    assert_eq!(stats.logins("viewer"), 0);
    assert_eq!(stats.logged_in(), 3);
    assert_eq!(stats.connected(), 4);
    // A refused login is not counted.
    let mut bad = Client::connect(sim.addr).await;
    bad.send("Action: Login\r\nUsername: admin\r\nSecret: wrong\r\n\r\n")
        .await;
    assert!(bad.message().await.is_some());
    assert_eq!(stats.logins("admin"), 2);
    agent.action("Action: Ping\r\nActionID: p\r\n\r\n").await;
    assert_eq!(stats.actions("ping"), 1);
    drop(a1);
    drop(a2);
    eventually("two logged-in sessions closing", || stats.logged_in() == 1).await;
}

/// Channel names and Uniqueids of the calls a fresh simulator sets up.
async fn names_of_one_run() -> (BTreeSet<String>, BTreeSet<String>) {
    let sim = Sim::start(SimConfig::quiet()).await;
    let mut c = Client::login(sim.addr, "admin", "admin-secret").await;
    c.action("Action: Originate\r\nChannel: Local/100@test\r\nContext: test\r\nExten: 200\r\nPriority: 1\r\nAsync: true\r\nActionID: o\r\n\r\n").await;
    c.event("BridgeEnter").await;
    let (_, items, _) = c
        .list("Action: CoreShowChannels\r\nActionID: c\r\n\r\n", "c")
        .await;
    let field = |k: &str| -> BTreeSet<String> {
        items
            .iter()
            .filter_map(|m| m.get_str(k).map(|v| v.into_owned()))
            .collect()
    };
    (field("Channel"), field("Uniqueid"))
}

#[tokio::test]
async fn a_restarted_simulator_reuses_no_channel_name_or_uniqueid() {
    let (names1, uids1) = names_of_one_run().await;
    let (names2, uids2) = names_of_one_run().await;
    assert!(
        names1.len() >= 2 && names2.len() >= 2,
        "{names1:?} {names2:?}"
    );
    assert!(names1.is_disjoint(&names2), "{names1:?} and {names2:?}");
    assert!(uids1.is_disjoint(&uids2), "{uids1:?} and {uids2:?}");
}

/// Event names a session receives while a bridged call of 2 s runs to its end.
async fn events_of_a_call(filters: &[&str]) -> Vec<String> {
    let sim = Sim::start(SimConfig::quiet()).await;
    let mut c = Client::login(sim.addr, "admin", "admin-secret").await;
    let mut other = Client::login(sim.addr, "admin", "admin-secret").await;
    for (i, f) in filters.iter().enumerate() {
        let r = c
            .action(&format!(
                "Action: Filter\r\nOperation: Add\r\nFilter: {f}\r\nActionID: f{i}\r\n\r\n"
            ))
            .await;
        assert_eq!(r.get_str("Message").as_deref(), Some("Success"), "{f}");
    }
    c.action("Action: Originate\r\nChannel: Local/100@test\r\nContext: test\r\nExten: 200\r\nPriority: 1\r\nAsync: true\r\nVariable: DURATION=2\r\nActionID: o\r\n\r\n").await;
    // The other session has no filter: it still sees the noise.
    other.event("VarSet").await;
    let mut names = Vec::new();
    loop {
        let m = c.message().await.expect("events");
        let Some(name) = m.get_str("Event").map(|n| n.into_owned()) else {
            continue;
        };
        names.push(name);
        // Two Local pairs: the call is over once its four channels have hung up.
        if names.iter().filter(|n| *n == "Hangup").count() == 4 {
            return names;
        }
    }
}

#[tokio::test]
async fn the_relays_exclude_filters_drop_only_their_events() {
    let relay = [
        "!Event: VarSet",
        "!Event: Newexten",
        "!Event: RTCP*",
        "!Event: Cdr",
        "!Event: CEL",
    ];
    let names = events_of_a_call(&relay).await;
    for gone in ["VarSet", "Newexten", "Cdr", "CEL"] {
        assert!(!names.iter().any(|n| n == gone), "{gone} passed: {names:?}");
    }
    for kept in [
        "Newchannel",
        "BridgeEnter",
        "DialBegin",
        "DeviceStateChange",
    ] {
        assert!(names.iter().any(|n| n == kept), "{kept} missing: {names:?}");
    }
}

#[tokio::test]
async fn include_filters_are_regexes_over_the_whole_event() {
    // `Bridge(Enter|Leave)` only matches as a regex, not as text; an unanchored
    // `Event: Hangup` also matches `Event: HangupRequest` (but not `SoftHangupRequest`).
    let names = events_of_a_call(&["Event: Bridge(Enter|Leave)", "Event: Hangup"]).await;
    let kinds: BTreeSet<&str> = names.iter().map(String::as_str).collect();
    assert_eq!(
        kinds,
        BTreeSet::from(["BridgeEnter", "BridgeLeave", "Hangup", "HangupRequest"])
    );
}

fn now_us() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_micros()
}

#[tokio::test]
async fn load_mode_stamps_every_hundredth_event_with_its_send_time() {
    let cap = 2_000;
    let sim = Sim::start(SimConfig::load_at(cap)).await;
    let before = now_us();
    let mut c = Client::login(sim.addr, "admin", "admin-secret").await;
    let started = Instant::now();
    let (mut stamps, mut between, mut events) = (Vec::new(), Vec::new(), 0_u64);
    let mut since_stamp: Option<u64> = None;
    while stamps.len() < 8 {
        let m = c.message().await.expect("events");
        if m.event_name().is_none() {
            continue;
        }
        events += 1;
        if m.get_str("UserEvent").as_deref() == Some(pbxsim::load::STAMP_EVENT) {
            let sent: u128 = m.get_str("SentUs").expect("SentUs").parse().expect("µs");
            let seq: u64 = m.get_str("Seq").expect("Seq").parse().expect("seq");
            assert!(
                before <= sent && sent <= now_us(),
                "{sent} is not a send time"
            );
            stamps.push((seq, sent));
            if let Some(n) = since_stamp {
                between.push(n);
            }
            since_stamp = Some(0);
        } else if m.get_str("Event").as_deref() != Some("SuccessfulAuth") {
            since_stamp = since_stamp.map(|n| n + 1);
        }
    }
    assert!(between.iter().all(|&n| n == 100), "{between:?}");
    assert!(
        stamps
            .windows(2)
            .all(|w| w[1].0 == w[0].0 + 1 && w[1].1 >= w[0].1),
        "{stamps:?}"
    );
    // The cap is an upper bound: a slow machine only sends fewer.
    let allowed = (started.elapsed().as_secs_f64() + 1.0) * cap as f64 + 600.0;
    assert!((events as f64) < allowed, "{events} events, cap {cap}/s");
}

#[tokio::test]
async fn the_load_measurement_times_the_stamps_it_receives() {
    let report = pbxsim::bench::measure(SimConfig::load_at(5_000), Duration::from_secs(1))
        .await
        .expect("measured");
    // About 50 stamps a second at 5000 events/s; a slow machine sends fewer, never none.
    assert!(!report.stamp_latencies.is_empty(), "{report}");
    assert!(report.stamp_latencies.len() as u64 <= report.events / 100 + 1);
    assert!(report.stamp_latencies.is_sorted());
    assert!(report.stamp_latency(0.5) <= report.stamp_latency(0.99));
    assert!(report.to_string().contains("stamps, latency p50"));
}

#[tokio::test]
async fn held_traffic_keeps_every_channel_as_it_is_until_released() {
    let config = SimConfig::load_at(5_000);
    let faults = config.faults.clone();
    let sim = Sim::start(config).await;
    let mut c = Client::login(sim.addr, "admin", "admin-secret").await;
    c.event("BridgeEnter").await;
    let mut lists = 0;
    let mut channels = async move || {
        lists += 1;
        let id = format!("c{lists}");
        let (_, items, _) = c
            .list(
                &format!("Action: CoreShowChannels\r\nActionID: {id}\r\n\r\n"),
                &id,
            )
            .await;
        items
            .iter()
            .filter_map(|m| m.get_str("Channel").map(String::from))
            .collect::<BTreeSet<String>>()
    };
    faults.hold_traffic(true);
    // The batch the driver was making when the switch flipped still goes out.
    tokio::time::sleep(pbxsim::fault::POLL).await;
    let held = channels().await;
    assert!(!held.is_empty(), "calls were up when the traffic was held");
    // At 5,000 events/s, 300 ms of running traffic changes the channel list.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(channels().await, held, "nothing moves while held");
    faults.hold_traffic(false);
    let until = Instant::now() + WAIT;
    while channels().await == held {
        assert!(Instant::now() < until, "the traffic did not resume");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
