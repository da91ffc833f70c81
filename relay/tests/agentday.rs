//! The operator's day through the relay, against pbxsim: queue sign-in and penalty,
//! presence, and transfer to voicemail. A read-only account is refused each of these
//! actions before Asterisk sees them; an agent signs in and out of their own seat's
//! queues and sets their own presence only; a supervisor does it for anyone.

mod relay_support;

use std::time::Duration;

use relay::config::Dialing;
use relay_support::{Pbx, Relay, server};
use serde_json::{Value, json};
use shared::action::Role;
use shared::protocol::Seat;
use testkit::channel_names;

/// alice (agent, phone 100, seat `Local/100@agents/n` in `support`) and sam
/// (supervisor) share pbxsim's `admin` AMI account.
fn relay_users() -> Vec<relay::auth::users::RelayUser> {
    let user = relay_support::relay_user;
    vec![
        user("alice", Role::Agent, "100"),
        user("sam", Role::Supervisor, "101"),
    ]
}

fn seats() -> Vec<Seat> {
    let seat = |exten: &str, interface: &str| Seat {
        exten: exten.into(),
        interface: interface.into(),
        queues: vec!["support".into()],
    };
    vec![
        seat("100", "Local/100@agents/n"),
        seat("agent1", "Local/agent1@agents/n"),
    ]
}

async fn start(config: pbxsim::SimConfig) -> (Pbx, Relay) {
    let pbx = Pbx::start(config).await;
    let mut server = server("pbx", &pbx);
    server.dialing = Dialing {
        seats: seats(),
        voicemail_context: pbxsim::VOICEMAIL_CONTEXT.into(),
        dnd_pauses: true,
        ..server.dialing
    };
    let relay = Relay::start(vec![server], |c| {
        c.users = relay_users();
        // Argon2 is slow in a debug build: the shared session must outlast a login.
        c.linger = Duration::from_secs(30);
    })
    .await;
    (pbx, relay)
}

/// The new actions, each aimed at something that exists.
fn new_actions() -> Vec<(Value, &'static str)> {
    vec![
        (
            json!({"server": "pbx", "action": "queue_penalty", "queue": "support",
                   "interface": "Local/agent1@agents/n", "penalty": 2}),
            "QueuePenalty",
        ),
        (
            json!({"server": "pbx", "action": "presence", "exten": "1005", "state": "dnd",
                   "message": "Lunch"}),
            "Setvar",
        ),
        (
            json!({"server": "pbx", "action": "voicemail_transfer",
                   "channel": "Local/100@test-00000000;1", "mailbox": "1001"}),
            "Redirect",
        ),
        (
            json!({"server": "pbx", "action": "queue_add", "queue": "support",
                   "interface": "Local/100@agents/n"}),
            "QueueAdd",
        ),
        (
            json!({"server": "pbx", "action": "queue_remove", "queue": "support",
                   "interface": "Local/agent1@agents/n"}),
            "QueueRemove",
        ),
    ]
}

#[tokio::test]
async fn a_viewer_is_refused_each_new_action_and_asterisk_never_hears_of_it() {
    let (pbx, relay) = start(pbxsim::SimConfig::quiet()).await;
    let viewer = relay
        .login("pbx", "viewer", "viewer-secret")
        .await
        .expect("viewer login");
    let offered = relay.me(&viewer).await.1["permissions"]["actions"].clone();
    for (action, ami) in new_actions() {
        let name = action["action"].as_str().unwrap_or_default().to_owned();
        assert!(
            !offered.as_array().is_some_and(|a| a.contains(&json!(name))),
            "{name} offered to a viewer: {offered}"
        );
        let before = pbx.stats.actions(ami);
        let refused = relay.act(&viewer, action).await;
        assert_eq!(refused["ok"], false, "{refused}");
        assert!(
            refused["message"]
                .as_str()
                .unwrap_or_default()
                .contains("not allowed"),
            "{refused}"
        );
        assert_eq!(pbx.stats.actions(ami), before, "{name} reached Asterisk");
    }
}

#[tokio::test]
async fn an_agent_signs_only_themselves_in_and_sets_only_their_own_presence() {
    let (pbx, relay) = start(pbxsim::SimConfig::quiet()).await;
    let alice = relay.login("pbx", "alice", "alice-password").await.unwrap();
    let sam = relay.login("pbx", "sam", "sam-password").await.unwrap();
    let hello = relay.me(&alice).await.1;
    assert_eq!(
        hello["seats"],
        json!([{"exten": "100", "interface": "Local/100@agents/n", "queues": ["support"]}])
    );

    // Someone else's presence, someone else's member, a queue not hers, a penalty:
    // refused, and Asterisk is not asked.
    for (action, ami) in [
        (
            json!({"server": "pbx", "action": "presence", "exten": "1005", "state": "dnd"}),
            "Setvar",
        ),
        (
            json!({"server": "pbx", "action": "queue_add", "queue": "support",
                   "interface": "Local/agent1@agents/n"}),
            "QueueAdd",
        ),
        (
            json!({"server": "pbx", "action": "queue_remove", "queue": "support",
                   "interface": "Local/agent1@agents/n"}),
            "QueueRemove",
        ),
        (
            json!({"server": "pbx", "action": "queue_add", "queue": "sales",
                   "interface": "Local/100@agents/n"}),
            "QueueAdd",
        ),
        (
            json!({"server": "pbx", "action": "queue_penalty", "queue": "support",
                   "interface": "Local/100@agents/n", "penalty": 3}),
            "QueuePenalty",
        ),
    ] {
        let before = pbx.stats.actions(ami);
        let refused = relay.act(&alice, action.clone()).await;
        assert_eq!(refused["ok"], false, "{action}: {refused}");
        assert_eq!(pbx.stats.actions(ami), before, "{action} reached Asterisk");
    }

    // Her own presence, as ami-session-2 set it.
    let own = relay
        .act(
            &alice,
            json!({"server": "pbx", "action": "presence", "exten": "100", "state": "away",
                   "message": "Lunch"}),
        )
        .await;
    assert_eq!(own["ok"], true, "{own}");
    relay
        .state_until(&sam, "alice away", |s| {
            s["servers"][0]["presence"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|p| {
                    p["presentity"] == "CustomPresence:100"
                        && p["status"] == "away"
                        && p["message"] == "Lunch"
                })
        })
        .await;

    // Signing in and out of her seat's queue; the supervisor sees it.
    let member_of = |s: &Value| {
        s["servers"][0]["queues"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|q| q["name"] == "support")
            .flat_map(|q| q["members"].as_array().cloned().unwrap_or_default())
            .any(|m| m["interface"] == "Local/100@agents/n")
    };
    let added = relay
        .act(
            &alice,
            json!({"server": "pbx", "action": "queue_add", "queue": "support",
                   "interface": "Local/100@agents/n"}),
        )
        .await;
    assert_eq!(added["ok"], true, "{added}");
    relay.state_until(&sam, "alice signed in", member_of).await;
    let removed = relay
        .act(
            &alice,
            json!({"server": "pbx", "action": "queue_remove", "queue": "support",
                   "interface": "Local/100@agents/n"}),
        )
        .await;
    assert_eq!(removed["ok"], true, "{removed}");
    relay
        .state_until(&sam, "alice signed out", |s| !member_of(s))
        .await;

    // The supervisor sets a member's penalty and anyone's presence.
    let penalty = relay
        .act(
            &sam,
            json!({"server": "pbx", "action": "queue_penalty", "queue": "support",
                   "interface": "Local/agent1@agents/n", "penalty": 2}),
        )
        .await;
    assert_eq!(penalty["ok"], true, "{penalty}");
    relay
        .state_until(&sam, "penalty 2", |s| {
            s["servers"][0]["queues"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|q| q["members"].as_array().cloned().unwrap_or_default())
                .any(|m| m["interface"] == "Local/agent1@agents/n" && m["penalty"] == 2)
        })
        .await;
    let theirs = relay
        .act(
            &sam,
            json!({"server": "pbx", "action": "presence", "exten": "1005", "state": "dnd",
                   "message": "In a meeting"}),
        )
        .await;
    assert_eq!(theirs["ok"], true, "{theirs}");
}

#[tokio::test]
async fn a_call_sent_to_voicemail_leaves_a_message_in_the_mailbox() {
    let mut config = pbxsim::SimConfig::quiet();
    config.directory.mailboxes = pbxsim::Directory::recorded_mailboxes();
    let (_pbx, relay) = start(config).await;
    let sam = relay.login("pbx", "sam", "sam-password").await.unwrap();
    let admin = relay_support::side_session(&_pbx);
    relay_support::call(&admin, "101", "200", 60).await;
    let state = relay
        .state_until(&sam, "the call", |s| {
            channel_names(s)
                .iter()
                .any(|n| n.starts_with("Local/101@test") && n.ends_with(";1"))
        })
        .await;
    let caller = channel_names(&state)
        .into_iter()
        .find(|n| n.starts_with("Local/101@test") && n.ends_with(";1"))
        .unwrap();
    let sent = relay
        .act(
            &sam,
            json!({"server": "pbx", "action": "voicemail_transfer", "channel": caller,
                   "mailbox": "1001@default"}),
        )
        .await;
    assert_eq!(sent["ok"], true, "{sent}");
    relay
        .state_until(&sam, "a new message in 1001", |s| {
            s["servers"][0]["mailboxes"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|m| m["mailbox"] == "1001@default" && m["new"] == 1)
        })
        .await;
}

/// With `dnd_pauses_queues`, DND pauses the extension's seat in its queues with the
/// presence's message as the reason, and the next presence unpauses it.
#[tokio::test]
async fn dnd_pauses_the_seat_in_its_queues() {
    let (_pbx, relay) = start(pbxsim::SimConfig::quiet()).await;
    let sam = relay.login("pbx", "sam", "sam-password").await.unwrap();
    let agent1 = |s: &Value| {
        s["servers"][0]["queues"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|q| q["members"].as_array().cloned().unwrap_or_default())
            .find(|m| m["interface"] == "Local/agent1@agents/n")
            .unwrap_or_default()
    };
    let dnd = relay
        .act(
            &sam,
            json!({"server": "pbx", "action": "presence", "exten": "agent1", "state": "dnd",
                   "message": "Lunch"}),
        )
        .await;
    assert_eq!(dnd["ok"], true, "{dnd}");
    relay
        .state_until(&sam, "agent1 paused for lunch", |s| {
            let m = agent1(s);
            m["paused"] == true && m["paused_reason"] == "Lunch"
        })
        .await;
    let back = relay
        .act(
            &sam,
            json!({"server": "pbx", "action": "presence", "exten": "agent1", "state": "available"}),
        )
        .await;
    assert_eq!(back["ok"], true, "{back}");
    relay
        .state_until(&sam, "agent1 unpaused", |s| agent1(s)["paused"] == false)
        .await;
}
