//! The relay's AMI client against pbxsim over real loopback TCP: the two were
//! written independently (pbxsim shares only `shared`'s message model), so
//! agreement here is evidence, not an echo.

use std::time::Duration;

use relay::ami::{AmiConfig, AmiError, AuthMethod, SessionEvent, SessionHandle, spawn_session};
use shared::ami::Message;
use testkit::Pbx;
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(10);

async fn wait_connected(events: &mut mpsc::Receiver<SessionEvent>) -> Result<String, String> {
    tokio::time::timeout(WAIT, async {
        loop {
            match events.recv().await {
                Some(SessionEvent::Connected { version }) => return Ok(version),
                Some(SessionEvent::Disconnected { reason }) => return Err(reason),
                Some(SessionEvent::Event(_)) => {}
                None => return Err("session ended".into()),
            }
        }
    })
    .await
    .expect("the session reports within the timeout")
}

async fn logged_in(
    user: &str,
    secret: &str,
    auth: AuthMethod,
) -> (SessionHandle, mpsc::Receiver<SessionEvent>, Pbx) {
    // No generated traffic: only the test's own actions make calls.
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let mut config = AmiConfig::new(pbx.addr.to_string(), user, secret);
    config.auth = auth;
    let (session, mut events) = spawn_session(config);
    assert_eq!(wait_connected(&mut events).await.as_deref(), Ok("11.0.0"));
    (session, events, pbx)
}

fn names(result: &[Message]) -> Vec<String> {
    result
        .iter()
        .filter_map(|m| m.get_str("Event").map(|e| e.into_owned()))
        .collect()
}

#[tokio::test]
async fn originate_then_core_show_channels_lists_the_call() {
    let (session, _events, _pbxsim) = logged_in("admin", "admin-secret", AuthMethod::Plain).await;
    let originate = Message::new()
        .with("Action", "Originate")
        .with("Channel", "Local/100@test")
        .with("Context", "test")
        .with("Exten", "200")
        .with("Priority", "1")
        .with("Async", "true")
        .with("Variable", "DURATION=30");
    let result = session
        .send(originate)
        .await
        .expect("originate is accepted");
    assert_eq!(
        result.response.get_str("Message").as_deref(),
        Some("Originate successfully queued")
    );
    assert_eq!(names(&result.events), ["OriginateResponse"]);
    assert_eq!(
        result.events[0].get_str("Response").as_deref(),
        Some("Success")
    );

    let listed = session
        .send(Message::new().with("Action", "CoreShowChannels"))
        .await
        .expect("listed");
    assert_eq!(
        listed.response.get_str("EventList").as_deref(),
        Some("start")
    );
    let events = names(&listed.events);
    assert_eq!(
        events.last().map(String::as_str),
        Some("CoreShowChannelsComplete")
    );
    let channels: Vec<_> = listed
        .events
        .iter()
        .filter_map(|m| m.get_str("Channel"))
        .collect();
    assert!(
        channels.iter().any(|c| c.starts_with("Local/100@test")),
        "{channels:?}"
    );
    let complete = listed.events.last().unwrap();
    assert_eq!(
        complete.get_str("ListItems").map(|n| n.into_owned()),
        Some((events.len() - 1).to_string())
    );
}

#[tokio::test]
async fn md5_challenge_login_works() {
    let (session, _events, _pbxsim) = logged_in("agent", "agent-secret", AuthMethod::Md5).await;
    let pong = session
        .send(Message::new().with("Action", "Ping"))
        .await
        .expect("ping");
    assert_eq!(pong.response.get_str("Ping").as_deref(), Some("Pong"));
}

#[tokio::test]
async fn refusals_arrive_as_typed_errors_with_asterisks_words() {
    let (session, _events, _pbxsim) = logged_in("viewer", "viewer-secret", AuthMethod::Plain).await;
    match session
        .send(Message::new().with("Action", "CoreShowChannels"))
        .await
    {
        Err(AmiError::PermissionDenied { message }) => assert_eq!(message, "Permission denied"),
        other => panic!("expected Permission denied, got {other:?}"),
    }
    match session
        .send(Message::new().with("Action", "NoSuchAction"))
        .await
    {
        Err(AmiError::UnknownAction { message }) => {
            assert!(message.starts_with("Invalid/unknown command"), "{message}")
        }
        other => panic!("expected an unknown-action error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_wrong_secret_is_reported_and_actions_fail_with_asterisks_words() {
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let (session, mut events) = spawn_session(AmiConfig::new(
        pbx.addr.to_string(),
        "admin",
        "wrong-secret",
    ));
    let reason = wait_connected(&mut events)
        .await
        .expect_err("the login is refused");
    assert!(reason.contains("Authentication failed"), "{reason}");
    match session.send(Message::new().with("Action", "Ping")).await {
        Err(AmiError::AuthenticationFailed { message }) => {
            assert_eq!(message, "Authentication failed")
        }
        other => panic!("expected the login failure, got {other:?}"),
    }
}
