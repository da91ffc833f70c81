//! The policy spine, from outside: every way in obeys the same rules, and a login
//! that ends closes every socket that holds it at once.

mod relay_support;

use std::time::Duration;

use futures::StreamExt;
use relay_support::{Pbx, Relay, Socket, call, relay_user, server};
use serde_json::{Value, json};
use shared::action::Role;
use shared::ami::{Classes, Message};
use shared::protocol::CLOSE_LOGIN_ENDED;
use tokio_tungstenite::tungstenite;

/// The relay must close a socket whose login ended within this.
const CLOSE_WITHIN: Duration = Duration::from_secs(1);

/// Opens a socket and waits for its snapshot.
async fn socket(relay: &Relay, token: &str) -> Socket {
    let mut socket = relay.socket(token).await;
    socket.next_of("snapshot").await;
    socket
}

/// Turns the event log on and waits until the relay has taken it (a resync asked
/// after it is answered after it, on the same loop).
async fn open_event_log(socket: &mut Socket) -> Vec<Value> {
    socket
        .send(json!({"type": "events", "enabled": true}))
        .await;
    socket.send(json!({"type": "resync"})).await;
    let mut before = Vec::new();
    loop {
        let message = socket.next().await;
        if message["type"] == "snapshot" {
            return before;
        }
        before.push(message);
    }
}

/// The raw events of one `events` frame, as messages.
fn raw_events(frame: &Value) -> Vec<Message> {
    frame["events"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|event| {
            let mut message = Message::new();
            for pair in event["headers"].as_array().into_iter().flatten() {
                message.push(
                    pair[0].as_str().unwrap_or_default(),
                    pair[1].as_str().unwrap_or_default().as_bytes(),
                );
            }
            message
        })
        .collect()
}

/// Reads `events` frames until one holds an event of type `kind`; every event seen.
async fn events_until(socket: &mut Socket, kind: &str) -> Vec<Message> {
    let mut seen = Vec::new();
    loop {
        let frame = socket.next_of("events").await;
        let events = raw_events(&frame);
        let done = events
            .iter()
            .any(|e| e.get_str("Event").as_deref() == Some(kind));
        seen.extend(events);
        if done {
            return seen;
        }
    }
}

/// Makes one `agent`-class event (a member paused) and call-class ones (a call).
async fn agent_and_call_events(pbx: &Pbx) {
    let ami = relay_support::side_session(pbx);
    let pause = Message::new()
        .with("Action", "QueuePause")
        .with("Queue", "support")
        .with("Interface", "Local/agent1@agents/n")
        .with("Paused", "true")
        .with("Reason", "policy test");
    // The side session may still be logging in: retry until it answers.
    let mut paused = false;
    for _ in 0..50 {
        if ami.send(pause.clone()).await.is_ok() {
            paused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(paused, "pbxsim did not take the QueuePause");
    call(&ami, "100", "200", 1).await;
}

#[tokio::test]
async fn a_read_call_accounts_event_log_holds_only_call_class_events() {
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let relay = Relay::start(vec![server("pbx", &pbx)], |_| {}).await;
    let viewer = relay.login("pbx", "viewer", "viewer-secret").await.unwrap();
    let admin = relay.login("pbx", "admin", "admin-secret").await.unwrap();
    let mut viewer_log = socket(&relay, &viewer).await;
    let mut admin_log = socket(&relay, &admin).await;
    open_event_log(&mut viewer_log).await;
    open_event_log(&mut admin_log).await;

    agent_and_call_events(&pbx).await;
    // The admin (read=all) sees the agent-class event: there was one to leak.
    let admin_saw = events_until(&mut admin_log, "Hangup").await;
    assert!(
        admin_saw
            .iter()
            .any(|e| e.get_str("Event").as_deref() == Some("QueueMemberPause")),
        "the admin's log has the agent-class event"
    );
    let viewer_saw = events_until(&mut viewer_log, "Hangup").await;
    assert!(!viewer_saw.is_empty());
    for event in &viewer_saw {
        assert!(
            Classes::CALL.contains(Classes::of_event(event)),
            "a read=call account got {:?} ({:?})",
            event.get_str("Event"),
            event.get_str("Privilege")
        );
    }
}

#[tokio::test]
async fn an_agent_gets_no_raw_events() {
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let relay = Relay::start(vec![server("pbx", &pbx)], |c| {
        c.users = vec![relay_user("alice", Role::Agent, "100")];
    })
    .await;
    let alice = relay.login("pbx", "alice", "alice-password").await.unwrap();
    let mut log = socket(&relay, &alice).await;
    let before = open_event_log(&mut log).await;
    let refusal = before
        .iter()
        .find(|m| m["type"] == "error")
        .expect("the event log is refused with an error");
    assert!(
        refusal["message"]
            .as_str()
            .unwrap_or_default()
            .contains("event log"),
        "{refusal}"
    );
    // Her own call, and someone else's: no events frame for either.
    agent_and_call_events(&pbx).await;
    call(&relay_support::side_session(&pbx), "101", "200", 1).await;
    log.send(json!({"type": "resync"})).await;
    loop {
        let message = log.next().await;
        assert_ne!(message["type"], "events", "an agent got raw events");
        if message["type"] == "snapshot" {
            break;
        }
    }
}

/// The close code the relay sends, read within [`CLOSE_WITHIN`]; `None` if the socket
/// stayed open that long.
async fn close_code(socket: &mut Socket) -> Option<u16> {
    let read = async {
        while let Some(frame) = socket.socket.next().await {
            match frame {
                Ok(tungstenite::Message::Close(frame)) => {
                    return Some(frame.map_or(0, |f| u16::from(f.code)));
                }
                Ok(_) => {}
                Err(_) => return Some(0),
            }
        }
        Some(0)
    };
    tokio::time::timeout(CLOSE_WITHIN, read)
        .await
        .ok()
        .flatten()
}

/// Whether `socket` can still run an action: it asks for one and waits for its answer.
async fn still_acts(socket: &mut Socket) -> bool {
    let hangup = json!({
        "type": "action", "id": "after-logout", "server": "pbx",
        "action": "hangup", "channel": "PJSIP/none-00000001"
    });
    socket.send(hangup).await;
    let answer = async {
        loop {
            let message = socket.next().await;
            if message["type"] == "action_result" {
                return message;
            }
        }
    };
    tokio::time::timeout(CLOSE_WITHIN, answer).await.is_ok()
}

#[tokio::test]
async fn log_out_everywhere_closes_the_other_devices_socket_at_once() {
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let relay = Relay::start(vec![server("pbx", &pbx)], |_| {}).await;
    let tablet = relay.login("pbx", "admin", "admin-secret").await.unwrap();
    let desk = relay.login("pbx", "admin", "admin-secret").await.unwrap();
    let colleague = relay.login("pbx", "viewer", "viewer-secret").await.unwrap();
    let mut lost_tablet = socket(&relay, &tablet).await;
    let mut other_person = socket(&relay, &colleague).await;
    assert!(still_acts(&mut lost_tablet).await, "it acts before");
    let hangups = pbx.stats.actions("Hangup");

    assert_eq!(relay.logout(&desk, true).await, 204);
    assert_eq!(close_code(&mut lost_tablet).await, Some(CLOSE_LOGIN_ENDED));
    // Whatever it sends now never reaches Asterisk.
    let _ = futures::SinkExt::send(
        &mut lost_tablet.socket,
        tungstenite::Message::Text(
            json!({"type": "action", "id": "late", "server": "pbx",
                   "action": "hangup", "channel": "PJSIP/none-00000001"})
            .to_string()
            .into(),
        ),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(pbx.stats.actions("Hangup"), hangups, "no action ran after");
    assert!(
        close_code(&mut other_person).await.is_none(),
        "another person's socket stays open"
    );
}

#[tokio::test]
async fn a_plain_logout_closes_that_tokens_socket_only() {
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let relay = Relay::start(vec![server("pbx", &pbx)], |_| {}).await;
    let first = relay.login("pbx", "admin", "admin-secret").await.unwrap();
    let second = relay.login("pbx", "admin", "admin-secret").await.unwrap();
    let mut leaving = socket(&relay, &first).await;
    let mut staying = socket(&relay, &second).await;
    assert_eq!(relay.logout(&first, false).await, 204);
    assert_eq!(close_code(&mut leaving).await, Some(CLOSE_LOGIN_ENDED));
    assert!(close_code(&mut staying).await.is_none());
    assert!(still_acts(&mut staying).await);
}

#[tokio::test]
async fn an_expired_token_closes_its_socket() {
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let ttl = Duration::from_secs(2);
    let relay = Relay::start(vec![server("pbx", &pbx)], |c| c.token_ttl = ttl).await;
    let token = relay.login("pbx", "admin", "admin-secret").await.unwrap();
    let mut expiring = socket(&relay, &token).await;
    assert!(still_acts(&mut expiring).await, "it acts before it expires");
    tokio::time::sleep(ttl - CLOSE_WITHIN / 2).await;
    assert_eq!(close_code(&mut expiring).await, Some(CLOSE_LOGIN_ENDED));
    assert_eq!(relay.me(&token).await.0, 401);
}

#[tokio::test]
async fn log_out_everywhere_ends_that_persons_ajam_sessions() {
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let relay = Relay::start(vec![server("pbx", &pbx)], |_| {}).await;
    let http = relay.http();
    let rawman = |query: &str| format!("http://{}/asterisk/rawman?{query}", relay.legacy_addr);
    let login = http
        .get(rawman("action=login&username=admin&secret=admin-secret"))
        .send()
        .await
        .expect("AJAM login");
    let cookie = login
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("mansession_id")
        .to_owned();
    let ping = async || {
        http.get(rawman("action=ping"))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("ping")
            .text()
            .await
            .expect("text")
    };
    assert!(ping().await.contains("Pong"), "logged in");
    let token = relay.login("pbx", "admin", "admin-secret").await.unwrap();
    assert_eq!(relay.logout(&token, true).await, 204);
    assert!(
        ping().await.contains("Permission denied"),
        "the AJAM session ended with the person's other logins"
    );
}

/// A configuration file with `pbx` and the relay account `alice`, enabled or not.
fn config_file(pbx: &Pbx, hash: &str, alice_enabled: bool) -> String {
    format!(
        "[[server]]\nname = \"pbx\"\nhost = \"127.0.0.1\"\nport = {}\nusername = \"admin\"\nsecret = \"admin-secret\"\n\n\
         [[user]]\nname = \"alice\"\npassword_hash = \"{hash}\"\nserver = \"pbx\"\nrole = \"agent\"\nextension = \"100\"\ndisabled = {}\n",
        pbx.addr.port(),
        !alice_enabled
    )
}

#[cfg(unix)]
#[tokio::test]
async fn an_account_disabled_in_the_configuration_loses_its_open_logins_on_sighup() {
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let folder = tempfile::tempdir().expect("a temporary folder");
    let path = folder.path().join("astpanel.toml");
    let hash = relay::auth::users::hash_password(b"alice-password").expect("hash");
    std::fs::write(&path, config_file(&pbx, hash.as_str(), true)).expect("write");
    let users = relay::config::users_in(&path).expect("the file reads");
    let relay = Relay::start(vec![server("pbx", &pbx)], |c| {
        c.file = Some(path.clone());
        c.users = users;
    })
    .await;
    let alice = relay.login("pbx", "alice", "alice-password").await.unwrap();
    let admin = relay.login("pbx", "admin", "admin-secret").await.unwrap();
    let mut hers = socket(&relay, &alice).await;
    let mut other = socket(&relay, &admin).await;

    std::fs::write(&path, config_file(&pbx, hash.as_str(), false)).expect("rewrite");
    let hangup = std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .expect("kill runs");
    assert!(hangup.success());
    assert_eq!(close_code(&mut hers).await, Some(CLOSE_LOGIN_ENDED));
    assert!(close_code(&mut other).await.is_none(), "an AMI login stays");
    assert_eq!(relay.me(&alice).await.0, 401);
    assert!(
        relay.login("pbx", "alice", "alice-password").await.is_err(),
        "a disabled account cannot log in again"
    );
}
