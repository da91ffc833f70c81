//! An action in flight when the AMI link drops fails with a clear answer, and the
//! account's session comes back for the next one.

mod ami_support;

use ami_support::*;
use relay::ami::spawn_session;
use relay::config::Dialing;
use shared::action::{Action, ActionRequest, Permissions};

#[tokio::test]
async fn an_action_in_flight_when_the_link_drops_fails_clearly() {
    // The first connection hangs up on the first action; the next one answers it.
    let (addr, _) = fake_ami(|n, mut peer| async move {
        peer.accept_login().await;
        if n == 0 {
            let _ = peer.action().await;
            return;
        }
        peer.answer_everything().await;
    })
    .await;
    let (session, mut events) = spawn_session(test_config(&addr));
    connected(&mut events).await;
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    let permissions = Permissions {
        actions: ["hangup".to_owned()].into(),
        ..Permissions::default()
    };
    let request = ActionRequest {
        id: Some("h1".into()),
        server: "pbx".into(),
        action: Action::Hangup {
            channel: "PJSIP/1001-00000001".into(),
        },
    };
    let dropped =
        relay::control::execute(&request, &session, &permissions, &Dialing::default()).await;
    assert!(!dropped.ok);
    assert_eq!(dropped.id.as_deref(), Some("h1"));
    assert!(
        dropped.message.starts_with("the PBX is not reachable"),
        "{}",
        dropped.message
    );

    // After the reconnect the same session carries the next action.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let again =
            relay::control::execute(&request, &session, &permissions, &Dialing::default()).await;
        if again.ok {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never reconnected: {}",
            again.message
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
