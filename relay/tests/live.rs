//! The live model end to end: pbxsim over real TCP, the relay on a real port, logins
//! over HTTP and browsers over real WebSockets.

mod relay_support;

use std::collections::BTreeSet;
use std::time::Duration;

use relay_support::*;
use serde_json::{Value, json};
use shared::model::follow::{Follower, Step};
use shared::model::{Change, ServerModel};
use testkit::channel_names;

#[tokio::test]
async fn login_ok_wrong_secret_and_unknown_server() {
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let relay = Relay::start(vec![server("pbx", &pbx)], |_| {}).await;

    let response = relay
        .http()
        .post(format!("{}/api/v1/login", relay.base))
        .json(&json!({"server": "pbx", "username": "agent", "secret": "agent-secret"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("astpanel_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let body: Value = response.json().await.unwrap();
    let token = body["token"].as_str().unwrap();
    assert_eq!(token.len(), 64, "256 random bits, hex");
    assert!(
        !body.to_string().contains("agent-secret"),
        "the secret came back: {body}"
    );

    assert_eq!(
        relay.login("pbx", "agent", "wrong").await,
        Err((401, "Authentication failed".to_owned())),
        "Asterisk's own words"
    );
    let (status, error) = relay
        .login("nowhere", "agent", "agent-secret")
        .await
        .unwrap_err();
    assert_eq!(status, 404);
    assert!(error.contains("nowhere"), "{error}");

    // A token works as a bearer; a wrong or missing one is refused.
    relay.state(token).await;
    for auth in [Some("Bearer 0000"), None] {
        let mut request = relay.http().get(format!("{}/api/v1/state", relay.base));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 401);
        let body: Value = response.json().await.unwrap();
        assert!(body["error"].is_string(), "{body}");
    }
}

#[tokio::test]
async fn two_browsers_of_one_account_share_one_ami_session_which_logs_off_after_the_linger() {
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let relay = Relay::start(vec![server("pbx", &pbx)], |_| {}).await;
    let first = relay.login("pbx", "agent", "agent-secret").await.unwrap();
    let second = relay.login("pbx", "agent", "agent-secret").await.unwrap();
    assert_ne!(first, second);
    let mut a = relay.socket(&first).await;
    let mut b = relay.socket(&second).await;
    for socket in [&mut a, &mut b] {
        let hello = socket.next_of("hello").await;
        assert_eq!(hello["username"], "agent");
        assert_eq!(hello["read"], json!(["call", "agent", "user", "dtmf"]));
        socket.next_of("snapshot").await;
    }
    assert_eq!(
        pbx.stats.logins("agent"),
        1,
        "one AMI session for the account"
    );

    drop((a, b));
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while pbx.stats.logged_in() > 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the account never logged off"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The token outlives the session: the next request logs the account in again.
    relay.state(&first).await;
    assert_eq!(pbx.stats.logins("agent"), 2);
}

#[tokio::test]
async fn calls_appear_and_go_and_a_browser_holds_the_same_model_as_the_api() {
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let relay = Relay::start(vec![server("pbx", &pbx)], |_| {}).await;
    let token = relay.login("pbx", "admin", "admin-secret").await.unwrap();
    let mut browser = relay.socket(&token).await;
    browser.next_of("hello").await;
    let snapshot = browser.next_of("snapshot").await;
    let mut follower = Follower::default();
    follower.snapshot(snapshot["seq"].as_u64().unwrap());
    let mut model: ServerModel = serde_json::from_value(snapshot["model"].clone()).unwrap();

    let admin = side_session(&pbx);
    call(&admin, "100", "200", 300).await;
    let long = settled_channels(&relay, &token).await;
    assert!(
        !long.is_empty() && long.iter().all(|c| c.starts_with("Local/")),
        "{long:?}"
    );
    call(&admin, "101", "200", 2).await;
    relay
        .state_until(&token, "the short call", |s| {
            channel_names(s).len() > long.len()
        })
        .await;
    // The short call ends; only the long one's channels stay.
    let after = relay
        .state_until(&token, "the short call gone", |s| channel_names(s) == long)
        .await;

    // Follow the socket until it has everything the API showed.
    let expected: ServerModel = serde_json::from_value(after["servers"][0].clone()).unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while model.channels != expected.channels {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the browser's model never caught up"
        );
        let message = browser.next().await;
        match message["type"].as_str() {
            Some("delta") => match follower.delta(message["seq"].as_u64().unwrap()) {
                Step::Apply => {
                    let changes: Vec<Change> =
                        serde_json::from_value(message["changes"].clone()).unwrap();
                    for change in changes {
                        model.apply_change(change);
                    }
                }
                Step::Drop => {}
                Step::Resync => panic!("a gap in seq: {message}"),
            },
            Some("snapshot") => {
                follower.snapshot(message["seq"].as_u64().unwrap());
                model = serde_json::from_value(message["model"].clone()).unwrap();
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn a_pbx_restart_leaves_no_channel_of_the_old_run() {
    let mut pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let relay = Relay::start(vec![server("pbx", &pbx)], |_| {}).await;
    let token = relay.login("pbx", "admin", "admin-secret").await.unwrap();
    let admin = side_session(&pbx);
    for phone in ["100", "101"] {
        call(&admin, phone, "200", 600).await;
    }
    let old = settled_channels(&relay, &token).await;
    assert!(old.len() >= 4, "{old:?}");

    pbx.restart_with(pbxsim::SimConfig::quiet()).await;
    let admin = side_session(&pbx);
    call(&admin, "100", "200", 600).await;
    let after = relay
        .state_until(&token, "the new run's call, and only it", |s| {
            let names = channel_names(s);
            s["servers"][0]["link"]["state"] == "up"
                && !names.is_empty()
                && names.iter().all(|n| !old.contains(n))
        })
        .await;
    // And it stays that way: nothing of the old run comes back later.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let later = relay.state(&token).await;
    for name in channel_names(&later) {
        assert!(
            !old.contains(&name),
            "ghost of the old run: {name} in {after}"
        );
    }
}

#[tokio::test]
async fn two_servers_at_once() {
    let one = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let two = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let relay = Relay::start(vec![server("one", &one), server("two", &two)], |_| {}).await;
    let servers: Value = relay.get_json("/api/v1/servers").await;
    assert_eq!(servers.as_array().map(Vec::len), Some(2), "{servers}");
    call(&side_session(&two), "100", "200", 600).await;
    let token_two = relay.login("two", "admin", "admin-secret").await.unwrap();
    let token_one = relay.login("one", "admin", "admin-secret").await.unwrap();
    relay
        .state_until(&token_two, "the call on two", |s| {
            !channel_names(s).is_empty()
        })
        .await;
    let on_one = relay.state(&token_one).await;
    assert!(channel_names(&on_one).is_empty(), "{on_one}");
}

#[tokio::test]
async fn a_viewer_sees_channels_but_no_queue_member() {
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let relay = Relay::start(vec![server("pbx", &pbx)], |_| {}).await;
    let admin = relay.login("pbx", "admin", "admin-secret").await.unwrap();
    let viewer = relay.login("pbx", "viewer", "viewer-secret").await.unwrap();
    let full = relay
        .state_until(&admin, "queues with members", |s| {
            s["servers"][0]["queues"].as_array().is_some_and(|q| {
                q.iter()
                    .any(|q| q["members"].as_array().is_some_and(|m| !m.is_empty()))
            })
        })
        .await;
    let queues = full["servers"][0]["queues"].as_array().unwrap();
    let member = queues
        .iter()
        .find_map(|q| q["members"].as_array().and_then(|m| m.first()))
        .unwrap();
    assert!(member["interface"].is_string(), "{member}");
    let seen = relay.state(&viewer).await;
    let queues = &seen["servers"][0]["queues"];
    assert!(
        queues.as_array().is_none_or(|q| q
            .iter()
            .all(|q| q["members"].as_array().is_none_or(Vec::is_empty))),
        "a viewer (read=call) saw queue members: {queues}"
    );
}

#[tokio::test]
async fn a_cross_site_upgrade_is_refused() {
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let relay = Relay::start(vec![server("pbx", &pbx)], |config| {
        config.allowed_origins = vec!["https://crm.example.com".into()];
    })
    .await;
    let token = relay.login("pbx", "admin", "admin-secret").await.unwrap();
    for (origin, allowed) in [
        ("https://evil.example.com", false),
        ("https://crm.example.com", true),
        (relay.base.as_str(), true),
    ] {
        let mut request =
            tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
                format!("ws://{}/ws", relay.addr),
            )
            .unwrap();
        request.headers_mut().insert(
            "cookie",
            format!("astpanel_session={token}").parse().unwrap(),
        );
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
        let result = tokio_tungstenite::connect_async(request).await;
        match (result, allowed) {
            (Ok(_), true) => {}
            (Err(tokio_tungstenite::tungstenite::Error::Http(response)), false) => {
                assert_eq!(response.status().as_u16(), 403, "{origin}");
            }
            (other, _) => panic!("{origin}: unexpected {:?}", other.map(|_| "connected")),
        }
    }
}

#[tokio::test]
async fn bad_input_gets_clear_errors_and_the_socket_goes_on() {
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let relay = Relay::start(vec![server("pbx", &pbx)], |_| {}).await;
    let http = relay.http();
    for body in ["not json", "{}", "{\"server\": 5}"] {
        let response = http
            .post(format!("{}/api/v1/login", relay.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400, "{body}");
        let answer: Value = response.json().await.unwrap();
        assert!(
            answer["error"]
                .as_str()
                .is_some_and(|e| e.starts_with("unusable request")),
            "{answer}"
        );
    }
    let huge = "x".repeat(100 * 1024);
    let response = http
        .post(format!("{}/api/v1/login", relay.base))
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 413);

    let token = relay.login("pbx", "admin", "admin-secret").await.unwrap();
    let mut socket = relay.socket(&token).await;
    socket.next_of("snapshot").await;
    socket.send(json!({"type": "launch_missiles"})).await;
    let error = socket.next_of("error").await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("unusable message"),
        "{error}"
    );
    socket.send(json!({"type": "resync"})).await;
    socket.next_of("snapshot").await;

    // An oversized message closes that socket only; the relay goes on.
    let oversized = json!({"type": "resync", "pad": "y".repeat(100 * 1024)});
    let _ = futures::SinkExt::send(
        &mut socket.socket,
        tokio_tungstenite::tungstenite::Message::Text(oversized.to_string().into()),
    )
    .await;
    let mut fresh = relay.socket(&token).await;
    fresh.next_of("snapshot").await;
}

#[tokio::test]
async fn a_browser_that_does_not_read_is_resynchronised_or_closed_never_queued_for() {
    let pbx = Pbx::start(pbxsim::SimConfig::load_at(20_000)).await;
    // A small send buffer, so that the socket fills up in moments whatever the size of
    // the deltas (each tick's is coalesced to the last state of each thing).
    let ports = Ports {
        send_buffer: Some(16 * 1024),
        ..Ports::default()
    };
    let relay = Relay::start_at(vec![server("pbx", &pbx)], ports, |_| {}).await;
    let token = relay.login("pbx", "admin", "admin-secret").await.unwrap();
    relay
        .state_until(&token, "the model live", |s| {
            s["servers"][0]["link"]["state"] == "up"
        })
        .await;
    let mut slow = relay.socket(&token).await;
    slow.next_of("snapshot").await;
    // Read nothing while more deltas are published than the relay keeps for a browser
    // (50 ticks a second), for less than its send timeout.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let metrics = relay.get_text("/metrics").await;
    let deltas = metric(&metrics, "astpanel_deltas_published_total");
    assert!(
        deltas > relay::live::UPDATE_BUFFER as f64,
        "load too light to test anything: {deltas} deltas"
    );
    // Now read: the relay held a bounded backlog, then a snapshot (or closed us as
    // too slow), never every delta it published meanwhile.
    let mut deltas_read = 0;
    let outcome = loop {
        match tokio::time::timeout(PATIENCE, futures::StreamExt::next(&mut slow.socket)).await {
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text)))) => {
                let message: Value = serde_json::from_str(&text).unwrap();
                match message["type"].as_str() {
                    Some("snapshot") => break "snapshot",
                    Some("delta") => {
                        deltas_read += 1;
                        // As many as were published while it did not read: every one was
                        // queued for it, which is the failure; stop rather than read on.
                        if deltas_read as f64 >= deltas {
                            break "queued";
                        }
                    }
                    _ => {}
                }
            }
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Close(frame)))) => {
                assert_eq!(frame.map(|f| u16::from(f.code)), Some(4008));
                break "closed";
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("socket ended without a snapshot or a close: {other:?}"),
        }
    };
    assert!(
        (deltas_read as f64) < deltas,
        "all {deltas_read} deltas were queued for a browser that did not read ({outcome})"
    );
    let lagged = relay.get_text("/metrics").await;
    let lag_snapshots = metric(&lagged, "astpanel_lag_snapshots_total");
    let resyncs = metric(&lagged, "astpanel_model_resyncs_total{server=\"pbx\"}");
    assert!(
        lag_snapshots >= 1.0 || outcome == "closed",
        "{outcome} after {deltas_read} of {deltas} deltas, {lag_snapshots} lag snapshots, {resyncs} resyncs"
    );
}

/// The channels once they stop changing for a while (a call takes a few events to set up).
async fn settled_channels(relay: &Relay, token: &str) -> BTreeSet<String> {
    let mut last = BTreeSet::new();
    let mut stable = 0;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while stable < 5 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the channels never settled"
        );
        let now = channel_names(&relay.state(token).await);
        if now == last && !now.is_empty() {
            stable += 1;
        } else {
            stable = 0;
            last = now;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    last
}

fn metric(text: &str, name: &str) -> f64 {
    relay_support::metric(text, name).unwrap_or(0.0)
}

#[tokio::test]
async fn a_viewer_gets_every_seq_even_when_it_sees_nothing_of_a_delta() {
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let relay = Relay::start(vec![server("pbx", &pbx)], |_| {}).await;
    let admin = relay.login("pbx", "admin", "admin-secret").await.unwrap();
    let viewer = relay.login("pbx", "viewer", "viewer-secret").await.unwrap();
    relay
        .state_until(&viewer, "the model live", |s| {
            s["servers"][0]["link"]["state"] == "up"
        })
        .await;
    let mut socket = relay.socket(&viewer).await;
    let snapshot = socket.next_of("snapshot").await;
    let seq = snapshot["seq"].as_u64().expect("seq");
    // A queue change only: a viewer (read=call) sees none of it.
    let pause = json!({"server": "pbx", "action": "queue_pause", "queue": "support",
        "interface": "Local/agent1@agents/n", "paused": true, "reason": "Lunch"});
    assert_eq!(relay.act(&admin, pause).await["ok"], true);
    let next = socket.next().await;
    assert_eq!(next["type"], "delta", "no gap, so no snapshot: {next}");
    assert_eq!(next["seq"], seq + 1, "{next}");
    assert_eq!(next["changes"], json!([]), "{next}");
}

/// The dialplan position of the channel whose name starts with `prefix` and ends with
/// `leg`: (application, data, priority), if there is one.
fn position(state: &Value, prefix: &str, leg: &str) -> Option<(String, String, String)> {
    state["servers"][0]["channels"]
        .as_array()?
        .iter()
        .find(|c| {
            c["channel"]
                .as_str()
                .is_some_and(|name| name.starts_with(prefix) && name.ends_with(leg))
        })
        .map(|c| {
            let text = |key: &str| c[key].as_str().unwrap_or_default().to_owned();
            (
                text("application"),
                text("application_data"),
                text("priority"),
            )
        })
}

/// Issue 22, item 4: a channel moving through the dialplan shows where it is now
/// (application, data, priority), as `Newexten` says, not where it was when the model
/// was last rebuilt: the callee rings (`Wait(1)` at priority 4), then talks (`Wait(5)`
/// at 7), and the caller phone waits at 5.
#[tokio::test]
async fn a_channel_moving_through_the_dialplan_shows_its_current_step() {
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let relay = Relay::start(vec![server("pbx", &pbx)], |_| {}).await;
    let token = relay.login("pbx", "admin", "admin-secret").await.unwrap();
    call(&side_session(&pbx), "100", "200", 5).await;
    // The callee ringing, then talking; the caller phone waiting; its dialler in Dial.
    for [prefix, leg, app, data, priority] in [
        ["Local/201@test-", ";2", "Wait", "1", "4"],
        ["Local/201@test-", ";2", "Wait", "5", "7"],
        ["Local/100@test-", ";2", "Wait", "5", "5"],
        ["Local/100@test-", ";1", "Dial", "Local/201@test,30", "3"],
    ] {
        let want = Some((app.to_owned(), data.to_owned(), priority.to_owned()));
        let what = format!("{prefix}…{leg} in {app}({data}) at {priority}");
        relay
            .state_until(&token, &what, |state| position(state, prefix, leg) == want)
            .await;
    }
}
