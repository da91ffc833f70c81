//! Faults the relay must survive, each against pbxsim's fault switches over real
//! sockets: a stalled Asterisk, garbage and oversized AMI, and a relay restart under an
//! AJAM client and under logged-in browsers (`socket_churn.rs` opens and drops thousands of WebSockets, alone in
//! its process so that its memory figures are its own).

mod relay_support;

use std::time::{Duration, Instant};

use relay_support::{PATIENCE, Pbx, Relay, call, server};
use serde_json::Value;
use testkit::channel_names;

/// The link state of the first server, from `/healthz`.
async fn link_state(relay: &Relay) -> String {
    relay.get_json("/healthz").await["servers"][0]["state"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn until_link(relay: &Relay, wanted: impl Fn(&str) -> bool, what: &str) -> Duration {
    let started = Instant::now();
    loop {
        let state = link_state(relay).await;
        if wanted(&state) {
            return started.elapsed();
        }
        assert!(started.elapsed() < PATIENCE, "never {what}: still {state}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_stalled_asterisk_is_noticed_by_the_keepalive_and_followed_again() {
    let config = pbxsim::SimConfig::quiet();
    let faults = config.faults.clone();
    let pbx = Pbx::start(config).await;
    let mut followed = server("pbx", &pbx);
    followed.ami.ping_interval = Duration::from_secs(1);
    followed.ami.ping_timeout = Duration::from_secs(1);
    let relay = Relay::start(vec![followed], |_| {}).await;
    until_link(&relay, |s| s == "up", "up").await;

    // The TCP connection stays open but Asterisk says nothing more: only the keepalive
    // can tell. A Ping goes out within a second and its answer is due a second later.
    faults.stall_writes(true);
    let noticed = until_link(&relay, |s| s != "up", "noticed the stall").await;
    println!("a stalled Asterisk was noticed after {noticed:?} (ping every 1 s, 1 s to answer)");
    assert!(
        noticed >= Duration::from_millis(900),
        "noticed before any Ping could go unanswered: {noticed:?}"
    );

    faults.stall_writes(false);
    until_link(&relay, |s| s == "up", "back up").await;
    let token = relay.login("pbx", "admin", "admin-secret").await.unwrap();
    call(&relay_support::side_session(&pbx), "100", "200", 600).await;
    relay
        .state_until(&token, "a call after the stall", |s| {
            channel_names(s)
                .iter()
                .any(|n| n.starts_with("Local/100@test"))
        })
        .await;
}

#[tokio::test]
async fn garbage_and_an_oversized_message_lose_nothing_else() {
    let config = pbxsim::SimConfig::quiet();
    let faults = config.faults.clone();
    let pbx = Pbx::start(config).await;
    let relay = Relay::start(vec![server("pbx", &pbx)], |_| {}).await;
    let token = relay.login("pbx", "admin", "admin-secret").await.unwrap();
    let admin = relay_support::side_session(&pbx);
    call(&admin, "100", "200", 600).await;
    let has = |phone: &'static str| {
        move |s: &Value| {
            channel_names(s)
                .iter()
                .any(|n| n.starts_with(&format!("Local/{phone}@test")))
        }
    };
    relay
        .state_until(&token, "the first call", has("100"))
        .await;

    // Bytes that are not AMI: skipped, and what follows is read as before.
    faults.send_garbage();
    call(&admin, "101", "200", 600).await;
    let state = relay
        .state_until(&token, "both calls after the garbage", |s| {
            has("100")(s) && has("101")(s)
        })
        .await;
    assert_eq!(state["servers"][0]["link"]["state"], "up");

    // One message past the 1 MiB bound: dropped without being buffered, and the
    // parser picks up at the next message, so the link stays and needs no rebuild.
    let resyncs = |metrics: &str| {
        relay_support::metric(metrics, "astpanel_model_resyncs_total").unwrap_or(0.0)
    };
    let before = resyncs(&relay.get_text("/metrics").await);
    faults.send_oversized(2 * 1024 * 1024);
    // What comes after it is read: a hangup's events take the call away.
    let second = channel_names(&state)
        .into_iter()
        .find(|n| n.starts_with("Local/101@test"))
        .expect("the second call");
    let hangup = serde_json::json!({"server": "pbx", "action": "hangup", "channel": second});
    assert_eq!(relay.act(&token, hangup).await["ok"], true);
    let state = relay
        .state_until(&token, "the hangup after the oversized message", |s| {
            !has("101")(s)
        })
        .await;
    assert!(has("100")(&state), "{state}");
    assert_eq!(state["servers"][0]["link"]["state"], "up");
    assert_eq!(
        resyncs(&relay.get_text("/metrics").await),
        before,
        "no rebuild was needed"
    );
}

#[tokio::test]
async fn after_a_relay_restart_an_ajam_client_gets_a_new_cookie_as_from_asterisk() {
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let relay = Relay::start(vec![server("pbx", &pbx)], |_| {}).await;
    let legacy = relay.legacy_addr;
    // One AJAM request with an optional cookie: the `Set-Cookie` and the body.
    let get = |url: String, cookie: Option<String>| async move {
        let mut request = reqwest::Client::new().get(url);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.expect("AJAM");
        let cookie = response
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (cookie, response.text().await.expect("text"))
    };
    let (cookie, body) = get(
        format!("http://{legacy}/asterisk/rawman?action=login&username=admin&secret=admin-secret"),
        None,
    )
    .await;
    assert!(body.contains("Authentication accepted"), "{body}");
    let id = cookie
        .split('"')
        .nth(1)
        .expect("mansession_id=\"...\"")
        .to_owned();
    relay.stop().await;

    // The same ports, a new relay: the old session is gone, as after an Asterisk restart.
    let ports = relay_support::Ports {
        legacy: Some(legacy),
        ..relay_support::Ports::default()
    };
    let restarted = Relay::start_at(vec![server("pbx", &pbx)], ports, |_| {}).await;
    let (cookie, body) = get(
        format!("http://{legacy}/asterisk/rawman?action=ping"),
        Some(format!("mansession_id=\"{id}\"")),
    )
    .await;
    assert_eq!(
        body,
        "Response: Error\r\nMessage: Permission denied\r\n\r\n"
    );
    assert!(
        cookie.starts_with("mansession_id=\"") && !cookie.contains(&id),
        "{cookie}"
    );
    restarted.stop().await;
}

#[tokio::test]
async fn after_a_relay_restart_browsers_resume_with_their_token_unless_they_logged_out() {
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let store = tempfile::tempdir().expect("tempdir");
    let path = store.path().join("logins.db");
    let users = vec![relay_support::relay_user(
        "alice",
        shared::action::Role::Agent,
        "100",
    )];
    let configure = |users: Vec<relay::auth::users::RelayUser>| {
        let path = path.clone();
        move |config: &mut relay::config::Config| {
            config.login_store = Some(path);
            config.users = users;
        }
    };
    let relay = Relay::start(vec![server("pbx", &pbx)], configure(users.clone())).await;
    let admin = relay
        .login("pbx", "admin", "admin-secret")
        .await
        .expect("admin");
    let agent = relay
        .login("pbx", "agent", "agent-secret")
        .await
        .expect("agent");
    let other_tab = relay
        .login("pbx", "agent", "agent-secret")
        .await
        .expect("agent");
    let alice = relay
        .login("pbx", "alice", "alice-password")
        .await
        .expect("alice");
    let gone = relay
        .login("pbx", "admin", "admin-secret")
        .await
        .expect("admin again");
    assert_eq!(relay.logout(&gone, false).await, 204);
    let ports = relay_support::Ports {
        panel: Some(relay.addr),
        ..relay_support::Ports::default()
    };
    relay.stop().await;

    // The same file, a new process: each token works as before, with its own rights.
    let restarted =
        Relay::start_at(vec![server("pbx", &pbx)], ports, configure(users.clone())).await;
    assert_eq!(restarted.me(&admin).await.0, 200);
    let (_, hello) = restarted.me(&alice).await;
    assert_eq!(hello["role"], "agent", "{hello}");
    let mut socket = restarted.socket(&agent).await;
    assert_eq!(socket.next().await["type"], "hello");
    assert_eq!(
        restarted.me(&gone).await.0,
        401,
        "a token logged out before the restart came back"
    );
    // Log out everywhere ends the saved tokens too, not only those this process has
    // seen since it started (`other_tab` has not come back yet).
    assert_eq!(restarted.logout(&agent, true).await, 204);
    restarted.stop().await;

    // A relay account removed from the configuration takes its tokens with it.
    let again = Relay::start_at(vec![server("pbx", &pbx)], ports, configure(Vec::new())).await;
    assert_eq!(again.me(&alice).await.0, 401);
    assert_eq!(again.me(&other_tab).await.0, 401);
    assert_eq!(again.me(&admin).await.0, 200);
    again.stop().await;
}
