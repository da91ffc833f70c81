//! End-to-end behaviour over TCP: login, refusals, demo traffic, lists, slow clients, faults.

mod common;

use std::time::{Duration, Instant};

use common::{Client, keys, start};
use pbxsim::SimConfig;

#[tokio::test]
async fn banner_login_and_boot_events() {
    let sim = start(SimConfig::quiet()).await;
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
    let sim = start(SimConfig::quiet()).await;
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
    let sim = start(SimConfig::quiet()).await;
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
    let sim = start(SimConfig::demo()).await;
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
