//! Call forward through the relay, against pbxsim: the server's `call_forward`
//! family/key template, written with `DBPut` (cleared with `DBDel`) on the relay's
//! service session. An agent forwards only their own extension, a supervisor anyone's;
//! a read-only account and a server without the template are refused before Asterisk
//! hears of it.

mod relay_support;

use std::time::Duration;

use relay_support::{Pbx, Relay, server};
use serde_json::{Value, json};
use shared::action::Role;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// alice (agent, 100) on pbxsim's `agent` AMI account, which lacks the `system`
/// class DBPut needs (so only the service session can write for her), and sam
/// (supervisor, 101) on `admin`.
async fn start(template: Option<&str>) -> (Pbx, Relay) {
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let mut server = server("pbx", &pbx);
    server.dialing.call_forward = template.map(str::to_owned);
    let relay = Relay::start(vec![server], |c| {
        let user = relay_support::relay_user;
        let hash = relay::auth::users::hash_password(b"alice-password").expect("hash");
        let alice = relay::auth::users::RelayUser::new(
            "alice".into(),
            hash.as_str(),
            "pbx".into(),
            "agent".into(),
            "agent-secret".into(),
            Role::Agent,
            Some("100".into()),
        )
        .expect("alice");
        c.users = vec![alice, user("sam", Role::Supervisor, "101")];
        // Argon2 is slow in a debug build: the shared session must outlast a login.
        c.linger = Duration::from_secs(30);
    })
    .await;
    (pbx, relay)
}

fn forward(exten: &str, to: Option<&str>) -> Value {
    json!({"server": "pbx", "action": "call_forward", "exten": exten, "to": to})
}

/// What pbxsim's AstDB holds at `family/key`, read with `DBGet` on a session of its own.
async fn db_get(pbx: &Pbx, family: &str, key: &str) -> Option<String> {
    let mut stream = tokio::net::TcpStream::connect(pbx.addr).await.expect("AMI");
    let action = format!(
        "Action: Login\r\nUsername: admin\r\nSecret: admin-secret\r\nEvents: off\r\n\r\n\
         Action: DBGet\r\nActionID: get\r\nFamily: {family}\r\nKey: {key}\r\n\r\n"
    );
    stream.write_all(action.as_bytes()).await.expect("write");
    let mut text = String::new();
    let mut buffer = [0u8; 4096];
    let read = async {
        while !text.contains("Event: DBGetComplete") && !text.contains("not found") {
            let n = stream.read(&mut buffer).await.expect("read");
            assert!(n > 0, "pbxsim closed the session: {text}");
            text.push_str(&String::from_utf8_lossy(&buffer[..n]));
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .expect("DBGet answered");
    text.lines()
        .skip_while(|line| *line != "Event: DBGetResponse")
        .find_map(|line| line.strip_prefix("Val: "))
        .map(str::to_owned)
}

/// Whether the login is offered `call_forward` (`/api/v1/me`).
async fn offers_forward(relay: &Relay, token: &str) -> bool {
    let offered = relay.me(token).await.1["permissions"]["actions"].clone();
    offered
        .as_array()
        .is_some_and(|a| a.contains(&json!("call_forward")))
}

/// The action was refused, with `words` in the reason.
fn refused_with(result: &Value, words: &str) {
    assert_eq!(result["ok"], false, "{result}");
    let message = result["message"].as_str().unwrap_or_default();
    assert!(message.contains(words), "{result}");
}

#[tokio::test]
async fn an_agent_forwards_their_own_phone_through_the_service_account() {
    let (pbx, relay) = start(Some("CF/{exten}")).await;
    let alice = relay.login("pbx", "alice", "alice-password").await.unwrap();
    assert!(offers_forward(&relay, &alice).await);

    let set = relay.act(&alice, forward("100", Some("5551234"))).await;
    assert_eq!(set["ok"], true, "{set}");
    assert_eq!(set["message"], "Updated database successfully");
    assert_eq!(pbx.stats.actions("DBPut"), 1);
    assert_eq!(db_get(&pbx, "CF", "100").await.as_deref(), Some("5551234"));

    let cleared = relay.act(&alice, forward("100", None)).await;
    assert_eq!(cleared["message"], "Key deleted successfully", "{cleared}");
    assert_eq!(db_get(&pbx, "CF", "100").await, None);

    // Someone else's phone, or something that is not a number: refused, unsent.
    let other = relay.act(&alice, forward("101", Some("5551234"))).await;
    refused_with(&other, "extension 100");
    let odd = relay.act(&alice, forward("100", Some("1;Hangup"))).await;
    refused_with(&odd, "digits");
    assert_eq!(
        pbx.stats.actions("DBPut"),
        1,
        "a refused forward reached Asterisk"
    );
    assert_eq!(db_get(&pbx, "CF", "101").await, None);
}

#[tokio::test]
async fn a_supervisor_forwards_anyone_and_a_viewer_no_one() {
    let (pbx, relay) = start(Some("CF/{exten}")).await;
    let sam = relay.login("pbx", "sam", "sam-password").await.unwrap();
    let set = relay.act(&sam, forward("100", Some("*72#+1"))).await;
    assert_eq!(set["ok"], true, "{set}");
    assert_eq!(db_get(&pbx, "CF", "100").await.as_deref(), Some("*72#+1"));

    let viewer = relay
        .login("pbx", "viewer", "viewer-secret")
        .await
        .expect("viewer login");
    assert!(!offers_forward(&relay, &viewer).await);
    let refused = relay.act(&viewer, forward("101", Some("5551234"))).await;
    refused_with(&refused, "not allowed");
    assert_eq!(
        pbx.stats.actions("DBPut"),
        1,
        "the viewer's forward reached Asterisk"
    );
}

#[tokio::test]
async fn without_the_template_call_forward_is_off() {
    let (pbx, relay) = start(None).await;
    let alice = relay.login("pbx", "alice", "alice-password").await.unwrap();
    assert!(!offers_forward(&relay, &alice).await);
    let refused = relay.act(&alice, forward("100", Some("5551234"))).await;
    assert_eq!(refused["ok"], false, "{refused}");
    assert_eq!(refused["message"], relay::control::NO_CALL_FORWARD);
    assert_eq!(pbx.stats.actions("DBPut"), 0);
}
