//! The relay as an operator sees it: health, metrics, headers, limits and shutdown,
//! over real HTTP and WebSockets on loopback.

mod relay_support;

use std::time::Duration;

use futures::StreamExt;
use relay_support::*;
use serde_json::Value;
use tokio_tungstenite::tungstenite;

#[tokio::test]
async fn healthz_and_metrics_say_which_servers_are_up() {
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let relay = Relay::start(vec![server("pbx", &pbx)], |_| {}).await;
    let token = relay.login("pbx", "admin", "admin-secret").await.unwrap();
    relay
        .state_until(&token, "the link up", |s| {
            s["servers"][0]["link"]["state"] == "up"
        })
        .await;
    let health: Value = relay.get_json("/healthz").await;
    assert_eq!(health["status"], "ok");
    assert_eq!(health["servers"][0]["server"], "pbx");
    let metrics = relay.get_text("/metrics").await;
    assert!(
        metrics.contains("astpanel_ami_link_up{server=\"pbx\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("astpanel_model_resyncs_total{server=\"pbx\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("astpanel_logins_total 1"), "{metrics}");
}

#[tokio::test]
async fn only_the_screen_pop_may_be_framed_and_only_by_the_crm() {
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let relay = Relay::start(vec![server("pbx", &pbx)], |config| {
        config.pop_frame_ancestors = vec!["https://crm.example.com".into()];
    })
    .await;
    let get = |path: &str| relay.http().get(format!("{}{path}", relay.base)).send();
    let page = get("/supervisor").await.unwrap();
    let policy = |response: &reqwest::Response| {
        response.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned()
    };
    let page_policy = policy(&page);
    assert!(
        page_policy.ends_with("; frame-ancestors 'none'"),
        "{page_policy}"
    );
    // No script runs but the app's own: no 'unsafe-inline' and no 'unsafe-eval' for scripts.
    assert!(
        page_policy.contains("script-src 'self' 'wasm-unsafe-eval'"),
        "{page_policy}"
    );
    assert!(
        !page_policy.contains("script-src 'self' 'unsafe"),
        "{page_policy}"
    );
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    let pop = get("/pop").await.unwrap();
    let pop_policy = policy(&pop);
    assert!(
        pop_policy.ends_with("; frame-ancestors https://crm.example.com"),
        "{pop_policy}"
    );
    assert!(pop.headers().get("x-frame-options").is_none());
}

#[tokio::test]
async fn the_browser_limit_is_enforced() {
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let relay = Relay::start(vec![server("pbx", &pbx)], |config| config.max_browsers = 1).await;
    let token = relay.login("pbx", "viewer", "viewer-secret").await.unwrap();
    let mut first = relay.socket(&token).await;
    first.next_of("snapshot").await;
    let mut request = tungstenite::client::IntoClientRequest::into_client_request(format!(
        "ws://{}/ws?token={token}",
        relay.addr
    ))
    .unwrap();
    request
        .headers_mut()
        .insert("origin", relay.base.parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status().as_u16(), 503),
        other => panic!(
            "a second browser over the limit of 1 must be refused, got {:?}",
            other.map(|_| ())
        ),
    }
}

#[tokio::test]
async fn shutdown_closes_browser_sockets_with_going_away_and_logs_off() {
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let relay = Relay::start(vec![server("pbx", &pbx)], |_| {}).await;
    let token = relay.login("pbx", "agent", "agent-secret").await.unwrap();
    let mut browser = relay.socket(&token).await;
    browser.next_of("snapshot").await;
    assert_eq!(
        pbx.stats.logged_in(),
        2,
        "the service session and the agent's"
    );

    relay.stop().await;
    let code = tokio::time::timeout(PATIENCE, async {
        while let Some(Ok(frame)) = browser.socket.next().await {
            if let tungstenite::Message::Close(frame) = frame {
                return frame.map(|f| u16::from(f.code));
            }
        }
        None
    })
    .await
    .expect("the socket ended");
    assert_eq!(code, Some(1001));
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while pbx.stats.logged_in() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "AMI sessions still logged in"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
