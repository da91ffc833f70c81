//! The relay's own protections, over real sockets against pbxsim: failed-login
//! lockout on every way in, relay accounts with roles, the network rules and the
//! connection limits.

mod relay_support;

use std::time::{Duration, Instant};

use relay::auth::throttle::ThrottleConfig;
use relay::auth::users::RelayUser;
use relay::net::access::{GateConfig, NetworkRules};
use relay_support::{Pbx, Relay, server};
use serde_json::{Value, json};
use shared::action::Role;
use testkit::channel_names;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn strict_throttle() -> ThrottleConfig {
    ThrottleConfig {
        failures_per_account: 3,
        failures_per_address: 10,
        window: Duration::from_secs(60),
        lockout: Duration::from_secs(60),
    }
}

async fn login_status(relay: &Relay, user: &str, secret: &str) -> (u16, Option<String>, Value) {
    let response = relay
        .http()
        .post(format!("{}/api/v1/login", relay.base))
        .json(&json!({"server": "pbx", "username": user, "secret": secret}))
        .send()
        .await
        .expect("login request");
    let status = response.status().as_u16();
    let retry = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    (status, retry, response.json().await.expect("JSON"))
}

#[tokio::test]
async fn a_locked_account_is_refused_before_asterisk_is_asked() {
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let relay = Relay::start(vec![server("pbx", &pbx)], |c| {
        c.security.throttle = strict_throttle();
    })
    .await;
    for attempt in 1..=3 {
        let started = Instant::now();
        let (status, _, body) = login_status(&relay, "agent", "guess").await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("Authentication failed"))
        );
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "attempt {attempt} answered in {:?}: a guess must cost a second",
            started.elapsed()
        );
    }
    let asked = pbx.stats.logins("agent");
    let (status, retry, body) = login_status(&relay, "agent", "agent-secret").await;
    assert_eq!(status, 429, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("too many failed logins")
    );
    let retry: u64 = retry.expect("Retry-After").parse().expect("seconds");
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(pbx.stats.logins("agent"), asked, "Asterisk was not asked");

    // Another account from the same address is not locked by it.
    assert!(relay.login("pbx", "viewer", "viewer-secret").await.is_ok());

    // AJAM's Login is the same way in: the lock holds there too.
    let ajam = relay
        .http()
        .get(format!(
            "http://{}/asterisk/rawman?action=login&username=agent&secret=agent-secret",
            relay.legacy_addr
        ))
        .send()
        .await
        .expect("AJAM login")
        .text()
        .await
        .expect("text");
    assert!(ajam.starts_with("Response: Error\r\n"), "{ajam}");
    assert!(ajam.contains("too many failed logins"), "{ajam}");
    assert_eq!(pbx.stats.logins("agent"), asked);
}

#[tokio::test]
async fn a_wrong_pop_token_counts_against_its_address() {
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let relay = Relay::start(vec![server("pbx", &pbx)], |c| {
        c.security.throttle = ThrottleConfig {
            failures_per_address: 2,
            ..strict_throttle()
        };
    })
    .await;
    let good = relay.login("pbx", "admin", "admin-secret").await.unwrap();
    let exchange = |token: String| {
        let relay = &relay;
        async move {
            relay
                .http()
                .post(format!("{}/api/v1/exchange", relay.base))
                .json(&json!({ "token": token }))
                .send()
                .await
                .expect("exchange")
                .status()
                .as_u16()
        }
    };
    assert_eq!(exchange("0".repeat(64)).await, 401);
    assert_eq!(exchange("1".repeat(64)).await, 401);
    assert_eq!(
        exchange(good).await,
        429,
        "the address is locked, even for a good token"
    );
}

/// alice (agent, phone 100) and bob (agent, queue member agent1) and sam
/// (supervisor) share pbxsim's `admin` AMI account; root is an admin.
fn relay_users() -> Vec<RelayUser> {
    let user = relay_support::relay_user;
    vec![
        user("alice", Role::Agent, "100"),
        user("bob", Role::Agent, "agent1"),
        user("sam", Role::Supervisor, "101"),
        user("root", Role::Admin, "102"),
    ]
}

async fn me(relay: &Relay, token: &str) -> Value {
    relay.me(token).await.1
}

#[tokio::test]
async fn relay_accounts_act_within_their_role() {
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let relay = Relay::start(vec![server("pbx", &pbx)], |c| {
        c.users = relay_users();
        c.security.ami_login = false;
        // Argon2 is slow in a debug build: the shared session must outlast a login.
        c.linger = Duration::from_secs(30);
    })
    .await;
    // The relay's service session is admin too: let it log in first.
    let deadline = Instant::now() + relay_support::PATIENCE;
    while pbx.stats.logged_in() == 0 {
        assert!(
            Instant::now() < deadline,
            "the service session never logged in"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let service_logins = pbx.stats.logins("admin");

    // No AMI secret works any more, and a wrong password gets Asterisk's words.
    assert_eq!(
        relay
            .login("pbx", "agent", "agent-secret")
            .await
            .unwrap_err(),
        (401, "Authentication failed".to_owned())
    );
    assert_eq!(
        relay
            .login("pbx", "alice", "bob-password")
            .await
            .unwrap_err(),
        (401, "Authentication failed".to_owned())
    );
    let alice = relay.login("pbx", "alice", "alice-password").await.unwrap();
    let bob = relay.login("pbx", "bob", "bob-password").await.unwrap();
    let sam = relay.login("pbx", "sam", "sam-password").await.unwrap();
    let hello = me(&relay, &alice).await;
    assert_eq!(
        (&hello["username"], &hello["role"], &hello["extension"]),
        (&json!("alice"), &json!("agent"), &json!("100"))
    );
    let offered: Vec<&str> = hello["permissions"]["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(offered.contains(&"hangup") && !offered.contains(&"spy") && !offered.contains(&"ami"));
    assert!(
        me(&relay, &sam).await["permissions"]["actions"]
            .as_array()
            .expect("actions")
            .contains(&json!("spy"))
    );
    // Three people, one AMI session for their shared account.
    assert_eq!(pbx.stats.logins("admin"), service_logins + 1);

    // Alice dials from her own phone only; the refusal costs Asterisk nothing.
    let originates = pbx.stats.actions("Originate");
    let refused = relay
        .act(
            &alice,
            json!({"server": "pbx", "action": "originate", "from": "101", "to": "200"}),
        )
        .await;
    assert_eq!(refused["ok"], false, "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap_or_default()
            .contains("extension 100"),
        "{refused}"
    );
    assert_eq!(pbx.stats.actions("Originate"), originates);
    let dialled = relay
        .act(
            &alice,
            json!({"server": "pbx", "action": "originate", "from": "100", "to": "200"}),
        )
        .await;
    assert_eq!(dialled["ok"], true, "{dialled}");
    let admin = relay_support::side_session(&pbx);
    relay_support::call(&admin, "101", "200", 60).await;
    let state = relay
        .state_until(&sam, "both calls", |s| {
            let names = channel_names(s);
            names.iter().any(|n| n.starts_with("Local/100@test"))
                && names.iter().any(|n| n.starts_with("Local/101@test"))
        })
        .await;
    let names = channel_names(&state);
    let hers = names
        .iter()
        .find(|n| n.starts_with("Local/100@test"))
        .unwrap();
    let others = names
        .iter()
        .find(|n| n.starts_with("Local/101@test"))
        .unwrap();

    // Alice sees her own call and whom she talks to, not 101's call: by the API and
    // on her socket, whose deltas are hers alone.
    let seen = relay.state(&alice).await;
    let hers_seen = channel_names(&seen);
    assert!(
        hers_seen.iter().any(|n| n.starts_with("Local/100@test"))
            && !hers_seen.iter().any(|n| n.starts_with("Local/101@test")),
        "an agent's view: {hers_seen:?}"
    );
    let mut socket = relay.socket(&alice).await;
    let snapshot = socket.next_of("snapshot").await;
    let channels_of = |model: &Value| -> Vec<(String, String)> {
        model["channels"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| {
                Some((
                    c["uniqueid"].as_str()?.to_owned(),
                    c["channel"].as_str()?.to_owned(),
                ))
            })
            .collect()
    };
    let mut held: std::collections::BTreeMap<String, String> =
        channels_of(&snapshot["model"]).into_iter().collect();
    assert!(
        held.values().any(|n| n.starts_with("Local/100@test"))
            && !held.values().any(|n| n.starts_with("Local/101@test")),
        "{held:?}"
    );

    let refused = relay
        .act(
            &alice,
            json!({"server": "pbx", "action": "hangup", "channel": others}),
        )
        .await;
    assert_eq!(refused["ok"], false, "{refused}");
    let spy = relay.act(&alice, json!({"server": "pbx", "action": "spy", "target_channel": others, "from": "100", "mode": "listen"})).await;
    assert_eq!(spy["ok"], false, "{spy}");
    let hung_up = relay
        .act(
            &alice,
            json!({"server": "pbx", "action": "hangup", "channel": hers}),
        )
        .await;
    assert_eq!(hung_up["ok"], true, "{hung_up}");
    // Her socket's deltas take her call away, and never bring 101's.
    let deadline = Instant::now() + relay_support::PATIENCE;
    while held.values().any(|n| n.starts_with("Local/100@test")) {
        assert!(
            Instant::now() < deadline,
            "her call never left her socket: {held:?}"
        );
        let delta = socket.next_of("delta").await;
        for change in delta["changes"].as_array().expect("changes") {
            match change["kind"].as_str() {
                Some("channel") => {
                    let name = change["channel"].as_str().unwrap_or_default();
                    assert!(!name.starts_with("Local/101@test"), "{change}");
                    let id = change["uniqueid"].as_str().unwrap_or_default();
                    held.insert(id.to_owned(), name.to_owned());
                }
                Some("channel_removed") => {
                    held.remove(change["uniqueid"].as_str().unwrap_or_default());
                }
                _ => {}
            }
        }
    }
    let supervised = relay
        .act(
            &sam,
            json!({"server": "pbx", "action": "hangup", "channel": others}),
        )
        .await;
    assert_eq!(
        supervised["ok"], true,
        "a supervisor acts on anyone's call: {supervised}"
    );

    // Queue pause: bob's own membership, not someone else's.
    let pause = |interface: &str| {
        json!({"server": "pbx", "action": "queue_pause", "queue": "support",
        "interface": interface, "paused": true, "reason": "Lunch"})
    };
    let foreign = relay.act(&alice, pause("Local/agent1@agents/n")).await;
    assert_eq!(foreign["ok"], false, "{foreign}");
    let own = relay.act(&bob, pause("Local/agent1@agents/n")).await;
    assert_eq!(own["ok"], true, "{own}");
}

#[tokio::test]
async fn ajam_is_for_admins_among_relay_accounts() {
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let relay = Relay::start(vec![server("pbx", &pbx)], |c| c.users = relay_users()).await;
    let login = |user: &str| {
        let url = format!(
            "http://{}/asterisk/rawman?action=login&username={user}&secret={user}-password",
            relay.legacy_addr
        );
        let http = relay.http();
        async move {
            http.get(url)
                .send()
                .await
                .expect("AJAM")
                .text()
                .await
                .expect("text")
        }
    };
    let agent = login("alice").await;
    assert!(agent.contains("Message: Authentication failed"), "{agent}");
    let root = login("root").await;
    assert!(root.contains("Message: Authentication accepted"), "{root}");
    // AMI accounts still log in while `ami_login` is on.
    assert!(relay.login("pbx", "viewer", "viewer-secret").await.is_ok());
}

/// Whether the relay closes a fresh connection without answering a request.
async fn closed_at_once(addr: std::net::SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr).await else {
        return true;
    };
    let _ = stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let mut buffer = [0u8; 64];
    match tokio::time::timeout(relay_support::PATIENCE, stream.read(&mut buffer)).await {
        Ok(Ok(0)) | Ok(Err(_)) => true,
        Ok(Ok(_)) => false,
        Err(_) => panic!("neither answered nor closed"),
    }
}

#[tokio::test]
async fn network_rules_keep_a_denied_network_out_of_both_listeners() {
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let rules = |text: &[&str]| NetworkRules(text.iter().map(|r| r.parse().unwrap()).collect());
    let denied = Relay::start(vec![server("pbx", &pbx)], |c| {
        c.security.gate.rules = rules(&["permit 0.0.0.0/0", "deny 127.0.0.0/8"]);
    })
    .await;
    assert!(closed_at_once(denied.addr).await);
    assert!(closed_at_once(denied.legacy_addr).await);
    let permitted = Relay::start(vec![server("pbx", &pbx)], |c| {
        c.security.gate.rules = rules(&["deny 0.0.0.0/0", "permit 127.0.0.1"]);
    })
    .await;
    assert!(!closed_at_once(permitted.addr).await);
    assert!(!closed_at_once(permitted.legacy_addr).await);
}

#[tokio::test]
async fn one_address_holds_at_most_its_share_of_connections() {
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let relay = Relay::start(vec![server("pbx", &pbx)], |c| {
        c.security.gate = GateConfig {
            max_connections_per_address: 3,
            ..GateConfig::default()
        };
    })
    .await;
    // Two idle connections, and a third that asks: all admitted.
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(TcpStream::connect(relay.addr).await.expect("connect"));
    }
    held.push(
        TcpStream::connect(relay.legacy_addr)
            .await
            .expect("connect"),
    );
    // Both listeners count against the one address: the fourth is closed.
    assert!(closed_at_once(relay.addr).await);
    assert!(closed_at_once(relay.legacy_addr).await);
    drop(held.pop());
    // The place comes back once the relay has seen the close.
    let deadline = Instant::now() + relay_support::PATIENCE;
    while closed_at_once(relay.addr).await {
        assert!(Instant::now() < deadline, "the place never came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn logging_out_everywhere_ends_every_token_of_that_person_only() {
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let relay = Relay::start(vec![server("pbx", &pbx)], |_| {}).await;
    let tablet = relay.login("pbx", "admin", "admin-secret").await.unwrap();
    let desk = relay.login("pbx", "admin", "admin-secret").await.unwrap();
    let colleague = relay.login("pbx", "viewer", "viewer-secret").await.unwrap();
    let me_status = async |token: &str| relay.me(token).await.0;
    assert_eq!(relay.logout(&desk, true).await, 204);
    assert_eq!(
        me_status(&tablet).await,
        401,
        "the other device is logged out too"
    );
    assert_eq!(me_status(&desk).await, 401);
    assert_eq!(me_status(&colleague).await, 200, "another person is not");
}
