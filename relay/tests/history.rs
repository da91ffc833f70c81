//! The call history over real sockets against pbxsim: calls made on the PBX reach
//! `GET /api/v1/history` from the service session's `Cdr` events, one row per call with
//! its recorded disposition, and the history survives a restart of the relay and one of
//! Asterisk with no call lost and none twice.

mod relay_support;

use std::time::Instant;

use relay::history::HistoryConfig;
use relay_support::{PATIENCE, Pbx, Relay, call, server, side_session};
use serde_json::Value;

fn history_at(path: std::path::PathBuf) -> HistoryConfig {
    HistoryConfig {
        path: Some(path),
        ..HistoryConfig::default()
    }
}

async fn calls(relay: &Relay, token: &str) -> Vec<Value> {
    let response = relay
        .http()
        .get(format!("{}/api/v1/history?limit=1000", relay.base))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status().as_u16(), 200);
    let page: Value = response.json().await.expect("JSON");
    page["calls"].as_array().cloned().unwrap_or_default()
}

/// The history's calls once there are at least `count`.
async fn calls_until(relay: &Relay, token: &str, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let calls = calls(relay, token).await;
        if calls.len() >= count {
            return calls;
        }
        assert!(
            Instant::now() < deadline,
            "{count} calls never came: {calls:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Waits until the relay follows its server again.
async fn link_up(relay: &Relay) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let health = relay.get_json("/healthz").await;
        if health["servers"][0]["state"] == "up" {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the link never came back: {health}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// `(to, disposition)` of each call, oldest first.
fn summary(calls: &[Value]) -> Vec<(String, String)> {
    calls
        .iter()
        .rev()
        .map(|c| {
            let text = |k: &str| c[k].as_str().unwrap_or_default().to_owned();
            (text("to"), text("disposition"))
        })
        .collect()
}

#[tokio::test]
async fn calls_survive_a_relay_restart_and_an_asterisk_restart_once_each() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("history.db");
    let mut pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let config = history_at(path.clone());
    let relay = Relay::start(vec![server("pbx", &pbx)], |c| c.history = config.clone()).await;
    let token = relay
        .login("pbx", "admin", "admin-secret")
        .await
        .expect("admin's login");
    link_up(&relay).await;
    let side = side_session(&pbx);
    // A busy call: its caller's record says BUSY; the far halves are not calls.
    call(&side, "100", "211", 30).await;
    let first = calls_until(&relay, &token, 1).await;
    assert_eq!(
        summary(&first),
        [("211".into(), "BUSY".into())],
        "{first:?}"
    );

    // The relay restarts on the same file: the call is still there.
    relay.stop().await;
    let relay = Relay::start(vec![server("pbx", &pbx)], |c| c.history = config.clone()).await;
    let token = relay
        .login("pbx", "admin", "admin-secret")
        .await
        .expect("admin's login again");
    assert_eq!(summary(&calls(&relay, &token).await), summary(&first));

    // Asterisk restarts: the relay's session comes back, the call before is kept once and
    // the call after is added.
    // A call's key is its server and `UniqueID` (`<creation second>.<counter>`), and the
    // counter starts again with Asterisk: a real restart takes seconds, pbxsim's does not,
    // so the test lets the second turn as Asterisk's would.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    pbx.restart().await;
    // Asterisk sends a `Cdr` once, to whoever is logged in then: the call is made once the
    // relay's service session is back.
    link_up(&relay).await;
    let side = side_session(&pbx);
    call(&side, "100", "221", 30).await;
    let after = calls_until(&relay, &token, 2).await;
    assert_eq!(
        summary(&after),
        [
            ("211".into(), "BUSY".into()),
            ("221".into(), "FAILED".into()),
        ],
        "{after:?}"
    );
    let ids: std::collections::BTreeSet<i64> =
        after.iter().filter_map(|c| c["id"].as_i64()).collect();
    assert_eq!(ids.len(), 2);
    relay.stop().await;
}
