//! The day's queue figures across an Asterisk restart (qpanel issue 113), and queue
//! alarms reaching supervisors: pbxsim over real TCP, the relay on a real port.

mod relay_support;

use std::time::Duration;

use relay_support::*;
use serde_json::Value;
use shared::action::Role;
use shared::model::figures::QueueThresholds;

/// `sales` in the state of `admin`.
fn sales(state: &Value) -> Value {
    state["servers"][0]["queues"]
        .as_array()
        .and_then(|queues| queues.iter().find(|q| q["name"] == "sales"))
        .cloned()
        .unwrap_or(Value::Null)
}

/// A caller waits in `sales` (no members) for a second and hangs up: one abandon.
async fn abandon(side: &relay::ami::SessionHandle) {
    call(side, "100", "310", 1).await;
}

#[tokio::test]
async fn the_days_counts_survive_an_asterisk_restart() {
    let mut pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let relay = Relay::start(vec![server("pbx", &pbx)], |_| {}).await;
    let admin = relay.login("pbx", "admin", "admin-secret").await.unwrap();
    let side = side_session(&pbx);
    abandon(&side).await;
    abandon(&side).await;
    let before = relay
        .state_until(&admin, "two abandons in sales", |s| {
            sales(s)["abandoned"] == 2 && sales(s)["day"]["abandoned"] == 2
        })
        .await;
    assert_eq!(sales(&before)["day"]["abandon_rate_pct"], 100.0);

    // Asterisk restarts: its counters start again at 0, the day's stay.
    pbx.restart().await;
    let after = relay
        .state_until(&admin, "the rebuild after the restart", |s| {
            s["servers"][0]["link"]["state"] == "up" && sales(s)["abandoned"] == 0
        })
        .await;
    assert_eq!(sales(&after)["day"]["abandoned"], 2, "{}", sales(&after));

    let side = side_session(&pbx);
    abandon(&side).await;
    relay
        .state_until(&admin, "one more abandon, counted on top", |s| {
            sales(s)["abandoned"] == 1 && sales(s)["day"]["abandoned"] == 3
        })
        .await;
}

/// With a login store the day is saved there: a relay that stops while Asterisk
/// restarts finds it again, and carries it over Asterisk's new counters.
#[tokio::test]
async fn the_days_counts_survive_a_relay_restart_with_a_login_store() {
    let dir = std::env::temp_dir().join(format!("astpanel-queue-days-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = dir.join("logins.db");
    let _ = std::fs::remove_file(&store);
    let mut pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let saved = store.clone();
    let relay = Relay::start(vec![server("pbx", &pbx)], move |c| {
        c.login_store = Some(saved);
    })
    .await;
    let admin = relay.login("pbx", "admin", "admin-secret").await.unwrap();
    let side = side_session(&pbx);
    abandon(&side).await;
    abandon(&side).await;
    relay
        .state_until(&admin, "two abandons in sales", |s| {
            sales(s)["day"]["abandoned"] == 2
        })
        .await;
    relay.stop().await;
    pbx.restart().await;
    let saved = store.clone();
    let relay = Relay::start(vec![server("pbx", &pbx)], move |c| {
        c.login_store = Some(saved);
    })
    .await;
    let admin = relay.login("pbx", "admin", "admin-secret").await.unwrap();
    let state = relay
        .state_until(&admin, "sales after both restarts", |s| {
            s["servers"][0]["link"]["state"] == "up" && !sales(s).is_null()
        })
        .await;
    assert_eq!(
        (
            &sales(&state)["abandoned"],
            &sales(&state)["day"]["abandoned"]
        ),
        (&Value::from(0), &Value::from(2)),
        "{}",
        sales(&state)
    );
    relay.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_queue_crossing_its_threshold_turns_red_and_notifies_a_supervisor() {
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let mut config = server("pbx", &pbx);
    config.queue_alarms = vec![QueueThresholds {
        queue: "sales".into(),
        waiting_amber: Some(1),
        wait_red_s: Some(2),
        ..QueueThresholds::default()
    }];
    let relay = Relay::start(vec![config], |c| {
        c.users = vec![
            relay_user("sam", Role::Supervisor, "101"),
            relay_user("alice", Role::Agent, "100"),
        ];
    })
    .await;
    let admin = relay.login("pbx", "admin", "admin-secret").await.unwrap();
    let supervisor = relay.login("pbx", "sam", "sam-password").await.unwrap();
    let agent = relay.login("pbx", "alice", "alice-password").await.unwrap();
    let mut socket = relay.socket(&supervisor).await;
    assert_eq!(socket.next_of("snapshot").await["type"], "snapshot");
    let mut agent_socket = relay.socket(&agent).await;
    assert_eq!(agent_socket.next_of("snapshot").await["type"], "snapshot");
    let side = side_session(&pbx);
    // The caller waits 4 s, then hangs up.
    call(&side, "100", "310", 4).await;
    let amber = socket.next_of("queue_alarm").await;
    assert_eq!(
        (&amber["queue"], &amber["level"], &amber["waiting"]),
        (
            &Value::from("sales"),
            &Value::from("amber"),
            &Value::from(1)
        )
    );
    let red = socket.next_of("queue_alarm").await;
    assert_eq!(red["level"], "red", "{red}");
    assert!(red["longest_wait_s"].as_u64() >= Some(2), "{red}");
    let state = relay
        .state_until(&admin, "sales red in the model", |s| {
            sales(s)["alarm"] == "red"
        })
        .await;
    assert_eq!(sales(&state)["callers"].as_array().map(Vec::len), Some(1));
    // The caller leaves: the level falls with no notification, and the card is clear.
    relay
        .state_until(&admin, "sales clear once the caller left", |s| {
            sales(s)["alarm"] == "none"
        })
        .await;
    // An agent's socket got its deltas meanwhile, and no alarm.
    let mut kinds = Vec::new();
    while let Ok(message) =
        tokio::time::timeout(Duration::from_millis(300), agent_socket.next()).await
    {
        kinds.push(message["type"].as_str().unwrap_or_default().to_owned());
    }
    assert!(kinds.iter().any(|k| k == "delta"), "{kinds:?}");
    assert!(!kinds.iter().any(|k| k == "queue_alarm"), "{kinds:?}");
}
