//! Conference actions end to end: a viewer is refused each before Asterisk sees it; an
//! admin mutes, locks (the model learns it from ConfbridgeListRooms) and kicks.

mod relay_support;

use relay_support::*;
use serde_json::{Value, json};

const CONFBRIDGE: &[&str] = &[
    "ConfbridgeMute",
    "ConfbridgeUnmute",
    "ConfbridgeKick",
    "ConfbridgeLock",
    "ConfbridgeUnlock",
    "ConfbridgeStartRecord",
    "ConfbridgeStopRecord",
];

fn conference_actions() -> [Value; 5] {
    [
        json!({"server": "pbx", "action": "conf_mute", "room": "1000", "channel": "Local/100@test-00000000;1", "mute": true}),
        json!({"server": "pbx", "action": "conf_kick", "room": "1000", "channel": "all"}),
        json!({"server": "pbx", "action": "conf_lock", "room": "1000", "locked": true}),
        json!({"server": "pbx", "action": "conf_record", "room": "1000", "recording": true}),
        json!({"server": "pbx", "action": "conf_record", "room": "1000", "recording": false}),
    ]
}

fn sent(pbx: &Pbx) -> u64 {
    CONFBRIDGE.iter().map(|a| pbx.stats.actions(a)).sum()
}

#[tokio::test]
async fn a_viewer_is_refused_every_conference_action_before_asterisk_sees_it() {
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let relay = Relay::start(vec![server("pbx", &pbx)], |_| {}).await;
    let viewer = relay.login("pbx", "viewer", "viewer-secret").await.unwrap();
    for action in conference_actions() {
        let result = relay.act(&viewer, action.clone()).await;
        assert_eq!(result["ok"], false, "{action}");
        assert!(
            result["message"]
                .as_str()
                .is_some_and(|m| m.contains("not allowed")),
            "{result}"
        );
    }
    assert_eq!(sent(&pbx), 0, "a refused action reached pbxsim");
}

fn room<'a>(state: &'a Value, name: &str) -> Option<&'a Value> {
    state["servers"][0]["conferences"]
        .as_array()?
        .iter()
        .find(|r| r["name"] == name)
}

#[tokio::test]
async fn an_admin_mutes_locks_and_kicks_and_the_model_follows() {
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let relay = Relay::start(vec![server("pbx", &pbx)], |_| {}).await;
    let admin = relay.login("pbx", "admin", "admin-secret").await.unwrap();
    for (phone, exten) in [("100", "1000"), ("101", "1010")] {
        let result = relay
            .act(
                &admin,
                json!({"server": "pbx", "action": "ami", "headers": {"Action": "Originate", "Channel": format!("Local/{phone}@test"), "Context": "test", "Exten": exten, "Priority": "1"}}),
            )
            .await;
        assert_eq!(result["ok"], true, "{result}");
    }
    let state = relay
        .state_until(&admin, "two users in room 1000", |s| {
            room(s, "1000").is_some_and(|r| r["participants"].as_array().map(Vec::len) == Some(2))
        })
        .await;
    let user = room(&state, "1000").unwrap()["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["admin"] == false)
        .unwrap()["channel"]
        .as_str()
        .unwrap()
        .to_owned();
    let act = |action: Value| relay.act(&admin, action);
    let mute = act(json!({"server": "pbx", "action": "conf_mute", "room": "1000", "channel": user, "mute": true})).await;
    assert_eq!(mute["message"], "User muted", "{mute}");
    relay
        .state_until(&admin, "the user muted", |s| {
            room(s, "1000").is_some_and(|r| {
                r["participants"]
                    .as_array()
                    .is_some_and(|p| p.iter().any(|p| p["channel"] == user && p["muted"] == true))
            })
        })
        .await;
    let lock =
        act(json!({"server": "pbx", "action": "conf_lock", "room": "1000", "locked": true})).await;
    assert_eq!(lock["message"], "Conference locked", "{lock}");
    relay
        .state_until(&admin, "the room locked, with no lock event", |s| {
            room(s, "1000").is_some_and(|r| r["locked"] == true)
        })
        .await;
    let kick =
        act(json!({"server": "pbx", "action": "conf_kick", "room": "1000", "channel": user})).await;
    assert_eq!(kick["message"], "User kicked", "{kick}");
    relay
        .state_until(&admin, "the user gone", |s| {
            room(s, "1000").is_some_and(|r| r["participants"].as_array().map(Vec::len) == Some(1))
        })
        .await;
}
