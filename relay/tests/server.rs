//! The relay as a browser and an operator see it: real HTTP and WebSocket on loopback.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode};
use futures::StreamExt;
use relay::app::{AppState, router};
use relay::config::Config;
use relay::hub::Hub;
use shared::protocol::ServerMessage;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::{self, Message};
use tower::ServiceExt;

const WAIT: Duration = Duration::from_secs(10);

/// Starts the relay with the demo PBX; it runs until the sender is used or dropped.
async fn start_relay(max_browsers: usize) -> (SocketAddr, oneshot::Sender<()>, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = Config {
        max_browsers,
        ..Config::demo(addr)
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let shutdown = async move {
        let _ = stopped.await;
    };
    let relay = tokio::spawn(async move { relay::run(config, listener, shutdown).await.unwrap() });
    (addr, stop, relay)
}

#[tokio::test]
async fn healthz_answers_without_touching_asterisk() {
    let app = router(AppState::new(Hub::new(), 1));
    let response = app
        .oneshot(Request::get("/healthz").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(to_bytes(response.into_body(), 1024).await.unwrap(), "ok\n");
}

#[tokio::test]
async fn a_browser_gets_a_snapshot_and_the_browser_limit_is_enforced() {
    let (addr, _stop, _relay) = start_relay(1).await;
    let url = format!("ws://{addr}/ws");
    let (mut first, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let frame = tokio::time::timeout(WAIT, first.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let Message::Text(text) = frame else {
        panic!("expected text, got {frame:?}")
    };
    let ServerMessage::Snapshot { servers } = serde_json::from_str(&text).unwrap() else {
        panic!("the first frame is a snapshot: {text}")
    };
    assert_eq!(servers[0].name, "demo");

    match tokio_tungstenite::connect_async(&url).await {
        Err(tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE)
        }
        other => panic!("a second browser over the limit of 1 must be refused, got {other:?}"),
    }
}

#[tokio::test]
async fn shutdown_closes_open_browser_sockets_and_returns() {
    let (addr, stop, relay) = start_relay(10).await;
    let (mut browser, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .unwrap();
    assert!(
        tokio::time::timeout(WAIT, browser.next())
            .await
            .unwrap()
            .is_some(),
        "the snapshot"
    );

    stop.send(()).unwrap();
    // The socket must end (a close frame, then the end of the stream), not stay open.
    let ended = tokio::time::timeout(WAIT, async {
        while let Some(Ok(frame)) = browser.next().await {
            if frame.is_close() {
                break;
            }
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "the browser socket was still open after shutdown"
    );
    tokio::time::timeout(WAIT, relay)
        .await
        .expect("run returns after shutdown")
        .unwrap();
}
