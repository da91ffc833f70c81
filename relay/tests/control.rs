//! Call control end to end: `POST /api/v1/actions` on the relay, pbxsim over real TCP,
//! and the model showing each action's effect the way Asterisk reports it.

mod relay_support;

use relay_support::*;
use serde_json::{Value, json};
use testkit::channel_names;

fn ok(result: &Value) {
    assert_eq!(result["ok"], true, "{result}");
}

/// The first channel whose name starts with `prefix`.
fn channel_starting(state: &Value, prefix: &str) -> Option<String> {
    channel_names(state)
        .into_iter()
        .find(|c| c.starts_with(prefix))
}

fn part<'a>(state: &'a Value, name: &str) -> &'a Vec<Value> {
    state["servers"][0][name].as_array().expect("a list")
}

/// A user with every write class but `system`: a loose manager.conf.
fn power_user() -> pbxsim::User {
    pbxsim::User::new(
        "power",
        "power-secret",
        "all",
        "call,log,verbose,command,agent,user,config,dtmf,reporting,cdr,dialplan,originate,agi,cc,aoc,test,security,message",
    )
}

async fn setup() -> (Pbx, Relay) {
    let mut config = pbxsim::SimConfig::quiet();
    config.users.push(power_user());
    let pbx = Pbx::start(config).await;
    let relay = Relay::start(vec![server("pbx", &pbx)], |_| {}).await;
    (pbx, relay)
}

#[tokio::test]
async fn admin_actions_change_the_model_as_asterisk_reports_them() {
    let (_pbx, relay) = setup().await;
    let admin = relay.login("pbx", "admin", "admin-secret").await.unwrap();

    // Click-to-dial: the call appears.
    ok(&relay
        .act(
            &admin,
            json!({"server": "pbx", "action": "originate", "from": "100", "to": "200"}),
        )
        .await);
    let state = relay
        .state_until(&admin, "the dialled call", |s| {
            channel_starting(s, "Local/201@test").is_some()
        })
        .await;
    let callee = channel_starting(&state, "Local/201@test").unwrap();

    // Recording starts and stops.
    ok(&relay
        .act(
            &admin,
            json!({"server": "pbx", "action": "record_start", "channel": callee}),
        )
        .await);
    relay
        .state_until(&admin, "a recording", |s| !part(s, "recordings").is_empty())
        .await;
    ok(&relay
        .act(
            &admin,
            json!({"server": "pbx", "action": "record_stop", "channel": callee}),
        )
        .await);
    relay
        .state_until(&admin, "the recording stopped", |s| {
            part(s, "recordings").is_empty()
        })
        .await;

    // A supervisor listens in: the spy session appears.
    ok(&relay.act(&admin, json!({"server": "pbx", "action": "spy", "target_channel": callee, "from": "101", "mode": "listen"})).await);
    relay
        .state_until(&admin, "a spy session", |s| !part(s, "spies").is_empty())
        .await;

    // Park the call; pick-up takes it.
    ok(&relay
        .act(
            &admin,
            json!({"server": "pbx", "action": "park", "channel": callee}),
        )
        .await);
    let parked = relay
        .state_until(&admin, "a parked call", |s| !part(s, "parked").is_empty())
        .await;
    let space = part(&parked, "parked")[0]["space"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(&relay
        .act(
            &admin,
            json!({"server": "pbx", "action": "pickup", "space": space, "from": "101"}),
        )
        .await);
    relay
        .state_until(&admin, "the parked call picked up", |s| {
            part(s, "parked").is_empty()
        })
        .await;

    // Pause a member with a reason.
    let paused = relay
        .act(
            &admin,
            json!({"server": "pbx", "action": "queue_pause", "queue": "support",
               "interface": "Local/agent1@agents/n", "paused": true, "reason": "Lunch"}),
        )
        .await;
    ok(&paused);
    relay
        .state_until(&admin, "the member paused for Lunch", |s| {
            part(s, "queues").iter().any(|q| {
                q["members"].as_array().into_iter().flatten().any(|m| {
                    m["interface"] == "Local/agent1@agents/n"
                        && m["paused"] == true
                        && m["paused_reason"] == "Lunch"
                })
            })
        })
        .await;

    // Hang up: the channel goes when Asterisk says so.
    ok(&relay
        .act(
            &admin,
            json!({"server": "pbx", "action": "originate", "from": "100", "to": "200"}),
        )
        .await);
    let state = relay
        .state_until(&admin, "a call to hang up", |s| {
            channel_starting(s, "Local/100@test").is_some()
        })
        .await;
    let caller = channel_starting(&state, "Local/100@test").unwrap();
    ok(&relay
        .act(
            &admin,
            json!({"server": "pbx", "action": "hangup", "channel": caller}),
        )
        .await);
    relay
        .state_until(&admin, "the caller gone", |s| {
            !channel_names(s).contains(&caller)
        })
        .await;

    // Asterisk's own words for a channel that does not exist.
    let missing = relay
        .act(
            &admin,
            json!({"server": "pbx", "action": "hangup", "channel": "PJSIP/nobody-00000000"}),
        )
        .await;
    assert_eq!(missing["ok"], false);
    assert_eq!(missing["message"], "No such channel", "{missing}");
}

#[tokio::test]
async fn a_viewer_is_refused_before_asterisk_sees_anything() {
    let (pbx, relay) = setup().await;
    let viewer = relay.login("pbx", "viewer", "viewer-secret").await.unwrap();
    let before = pbx.stats.actions("Hangup")
        + pbx.stats.actions("Originate")
        + pbx.stats.actions("QueuePause");
    for action in [
        json!({"server": "pbx", "action": "hangup", "channel": "Local/100@test-00000001;1"}),
        json!({"server": "pbx", "action": "originate", "from": "100", "to": "200"}),
        json!({"server": "pbx", "action": "spy", "target_channel": "x", "from": "101", "mode": "barge"}),
        json!({"server": "pbx", "action": "queue_pause", "interface": "Local/agent1@agents/n", "paused": true}),
        json!({"server": "pbx", "action": "ami", "headers": {"Action": "Hangup", "Channel": "x"}}),
    ] {
        let result = relay.act(&viewer, action.clone()).await;
        assert_eq!(result["ok"], false, "{action}");
        assert!(
            result["message"].as_str().unwrap().contains("not allowed"),
            "{result}"
        );
    }
    let after = pbx.stats.actions("Hangup")
        + pbx.stats.actions("Originate")
        + pbx.stats.actions("QueuePause");
    assert_eq!(before, after, "a refused action reached pbxsim");
}

#[tokio::test]
async fn without_the_system_class_the_shell_is_out_of_reach() {
    let (pbx, relay) = setup().await;
    let power = relay.login("pbx", "power", "power-secret").await.unwrap();
    let refused = [
        json!({"server": "pbx", "action": "ami", "headers": {"Action": "Command", "Command": "core show channels"}}),
        json!({"server": "pbx", "action": "ami", "headers": {"Action": "UpdateConfig", "SrcFilename": "manager.conf"}}),
        json!({"server": "pbx", "action": "ami", "headers": {"Action": "Originate", "Channel": "Local/100@test", "Application": "System", "Data": "id"}}),
        json!({"server": "pbx", "action": "ami", "headers": {"Action": "Setvar", "Variable": "X", "Value": "${SHELL(id)}"}}),
        json!({"server": "pbx", "action": "ami", "headers": {"Action": "Originate", "Channel": "Local/100@test", "Exten": "200", "Variable": ["A=1", "B=${FILE(/etc/passwd)}"]}}),
        json!({"server": "pbx", "action": "originate", "from": "100", "to": "200", "caller_id": "${EVAL(${X})}"}),
    ];
    for action in refused {
        let result = relay.act(&power, action.clone()).await;
        assert_eq!(result["ok"], false, "{action}");
        assert!(
            result["message"]
                .as_str()
                .unwrap()
                .contains("not allowed for this account"),
            "{result}"
        );
    }
    assert_eq!(pbx.stats.actions("Command"), 0);
    assert_eq!(pbx.stats.actions("Setvar"), 0);
    // The console itself works, with Asterisk's whole answer.
    let status = relay
        .act(
            &power,
            json!({"server": "pbx", "action": "ami", "headers": {"Action": "CoreStatus"}}),
        )
        .await;
    ok(&status);
    let response = status["response"].as_array().unwrap();
    assert!(
        response.iter().any(|h| h[0] == "CoreCurrentCalls"),
        "{status}"
    );
}

#[tokio::test]
async fn bad_actions_get_clear_errors() {
    let (_pbx, relay) = setup().await;
    let admin = relay.login("pbx", "admin", "admin-secret").await.unwrap();
    for body in [
        json!({"server": "pbx", "action": "launch"}),
        json!({"server": "pbx", "action": "hangup"}),
        json!({"server": "pbx", "action": "hangup", "channel": 5}),
    ] {
        let response = relay
            .http()
            .post(format!("{}/api/v1/actions", relay.base))
            .bearer_auth(&admin)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400, "{body}");
    }
    let elsewhere = relay
        .act(
            &admin,
            json!({"server": "other", "action": "hangup", "channel": "x"}),
        )
        .await;
    assert_eq!(elsewhere["ok"], false);
    assert!(
        elsewhere["message"]
            .as_str()
            .unwrap()
            .contains("not \"other\""),
        "{elsewhere}"
    );
}

#[tokio::test]
async fn transfers_queue_membership_and_muting() {
    let (pbx, relay) = setup().await;
    let admin = relay.login("pbx", "admin", "admin-secret").await.unwrap();

    // A call whose caller may transfer attended (`FEATUREMAP(atxfer)`, as in ami-session-2).
    let side = side_session(&pbx);
    let originate = shared::ami::Message::new()
        .with("Action", "Originate")
        .with("Channel", "Local/100@test")
        .with("Context", "test")
        .with("Exten", "200")
        .with("Priority", "1")
        .with("Variable", "BRIDGE_FEATURES=T")
        .with("Variable", "FEATUREMAP(atxfer)=*2")
        .with("Variable", "DURATION=300");
    side.send(originate).await.expect("the setup call");
    // 201 rings for a second before it answers: wait for the bridge, not the ringing.
    let state = relay
        .state_until(&admin, "the call bridged", |s| {
            part(s, "channels").iter().any(|c| {
                c["channel"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("Local/201@test"))
                    && !c["bridge"].is_null()
            })
        })
        .await;
    let caller = channel_starting(&state, "Local/100@test").unwrap();

    let asked = std::time::Instant::now();
    let consult = relay
        .act(
            &admin,
            json!({"server": "pbx", "action": "atxfer", "channel": caller, "exten": "200"}),
        )
        .await;
    // pbxsim's transfer, like the recorded one, holds the caller and drops at once
    // (no consultation call): queued, never started, and said so within seconds.
    assert_eq!(
        (&consult["ok"], &consult["message"]),
        (
            &json!(false),
            &json!(
                "Asterisk accepted the transfer (Atxfer successfully queued) but never started it"
            )
        ),
        "{consult}"
    );
    assert!(
        asked.elapsed() < relay::control::transfer::START_WAIT + std::time::Duration::from_secs(3),
        "reported within a few seconds"
    );
    // Cancelling then is Asterisk's to answer.
    let cancel = relay
        .act(
            &admin,
            json!({"server": "pbx", "action": "atxfer_cancel", "channel": caller}),
        )
        .await;
    assert!(cancel["message"].is_string(), "{cancel}");

    // Blind transfer of a bridged channel moves the other party on: to 250, which
    // dials Local/202 (the recorded transfer target).
    ok(&relay
        .act(
            &admin,
            json!({"server": "pbx", "action": "redirect", "channel": caller, "exten": "250"}),
        )
        .await);
    relay
        .state_until(&admin, "the transferee dialling 250's phone", |s| {
            channel_starting(s, "Local/202@test").is_some()
        })
        .await;

    // Recording muted on one side, as MixMonitorMute reports it.
    let callee = channel_starting(&relay.state(&admin).await, "Local/201@test").unwrap();
    ok(&relay
        .act(
            &admin,
            json!({"server": "pbx", "action": "record_start", "channel": callee}),
        )
        .await);
    ok(&relay.act(&admin, json!({"server": "pbx", "action": "record_mute", "channel": callee, "direction": "read", "mute": true})).await);
    relay
        .state_until(&admin, "the recording muted", |s| {
            part(s, "recordings").iter().any(|r| r["muted"] == "read")
        })
        .await;

    // Queue membership comes and goes.
    let member = |s: &Value| {
        part(s, "queues").iter().any(|q| {
            q["name"] == "sales"
                && q["members"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|m| m["interface"] == "Local/105@test")
        })
    };
    ok(&relay.act(&admin, json!({"server": "pbx", "action": "queue_add", "queue": "sales", "interface": "Local/105@test", "penalty": 1})).await);
    relay.state_until(&admin, "the new member", member).await;
    ok(&relay.act(&admin, json!({"server": "pbx", "action": "queue_remove", "queue": "sales", "interface": "Local/105@test"})).await);
    relay
        .state_until(&admin, "the member gone", |s| !member(s))
        .await;
}

#[tokio::test]
async fn an_action_on_a_server_that_is_down_fails_clearly() {
    let (mut pbx, relay) = setup().await;
    let admin = relay.login("pbx", "admin", "admin-secret").await.unwrap();
    relay.state(&admin).await;
    // Take the PBX away: stop it and keep its port closed.
    pbx.stop();
    let result = relay
        .act(
            &admin,
            json!({"server": "pbx", "action": "hangup", "channel": "Local/100@test-00000000;1"}),
        )
        .await;
    assert_eq!(result["ok"], false, "{result}");
    assert!(
        result["message"]
            .as_str()
            .unwrap()
            .contains("not reachable")
            || result["message"].as_str().unwrap().contains("AMI"),
        "{result}"
    );
}
