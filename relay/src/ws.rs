//! One browser's WebSocket.
//!
//! The browser gets a snapshot first, then every update the hub publishes.
//! The loop is generic over a `Sink` and a `Stream` so tests can drive it
//! without a socket.

use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures::{Sink, SinkExt, Stream, StreamExt};
use shared::protocol::{ClientMessage, ServerMessage};
use tokio::sync::broadcast::error::RecvError;

use crate::app::AppState;
use crate::hub::{Hub, encode};

/// Browsers only send small control messages; anything larger is refused by the socket.
pub const MAX_CLIENT_MESSAGE: usize = 64 * 1024;

/// A browser that takes longer than this to accept one frame is disconnected;
/// it reconnects and starts again from a snapshot.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn upgrade(upgrade: WebSocketUpgrade, State(state): State<AppState>) -> Response {
    let Ok(permit) = state.browsers.clone().try_acquire_owned() else {
        tracing::warn!("refusing a browser: the --max-browsers limit is reached");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "Too many browsers are connected to this relay.\n",
        )
            .into_response();
    };
    upgrade
        .max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket: WebSocket| async move {
            let (sink, stream) = socket.split();
            browser_session(sink, stream, state.hub).await;
            drop(permit);
        })
}

/// Why a browser's loop ended, for the log.
#[derive(Debug, thiserror::Error)]
enum Ended {
    #[error("the browser did not accept a frame within {SEND_TIMEOUT:?}")]
    SendTimeout,
    #[error("the socket failed: {0}")]
    Socket(String),
}

/// Runs one browser's session until it closes, fails, or the relay shuts down.
pub async fn browser_session<W, R, E>(mut sink: W, mut stream: R, hub: Hub)
where
    W: Sink<Message> + Unpin,
    W::Error: std::fmt::Display,
    R: Stream<Item = Result<Message, E>> + Unpin,
{
    // Subscribe before taking the snapshot, so no update falls between the two.
    let mut updates = hub.subscribe();
    let result: Result<(), Ended> = async {
        send(&mut sink, hub.snapshot()).await?;
        loop {
            tokio::select! {
                update = updates.recv() => match update {
                    Ok(text) => send(&mut sink, text).await?,
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "browser fell behind; sending a fresh snapshot");
                        send(&mut sink, hub.snapshot()).await?;
                    }
                    Err(RecvError::Closed) => return Ok(()),
                },
                incoming = stream.next() => match incoming {
                    Some(Ok(Message::Text(text))) => {
                        let reply = match serde_json::from_str::<ClientMessage>(&text) {
                            Ok(ClientMessage::Resync) => hub.snapshot(),
                            Err(error) => encode(&ServerMessage::Error {
                                message: format!("unusable message: {error}"),
                            }),
                        };
                        send(&mut sink, reply).await?;
                    }
                    Some(Ok(Message::Binary(_))) => {
                        let message = "binary frames are not part of the protocol; send JSON text".to_owned();
                        send(&mut sink, encode(&ServerMessage::Error { message })).await?;
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(_)) | Err(_)) | None => return Ok(()),
                },
                _ = hub.closing() => return Ok(()),
            }
        }
    }
    .await;
    if let Err(ended) = result {
        tracing::info!(%ended, "browser session ended");
    }
}

async fn send<W>(sink: &mut W, text: Utf8Bytes) -> Result<(), Ended>
where
    W: Sink<Message> + Unpin,
    W::Error: std::fmt::Display,
{
    match tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::Text(text))).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(Ended::Socket(error.to_string())),
        Err(_) => Err(Ended::SendTimeout),
    }
}

#[cfg(test)]
mod tests {
    use futures::channel::mpsc;
    use shared::ami::Message as AmiMessage;
    use shared::protocol::{LinkState, ServerMessage};
    use tokio::sync::mpsc as tokio_mpsc;

    use super::*;
    use crate::ami::SessionEvent;

    /// A browser without a socket: frames the relay sends, and frames we send it.
    struct FakeBrowser {
        from_relay: mpsc::Receiver<Message>,
        to_relay: mpsc::Sender<Result<Message, std::convert::Infallible>>,
    }

    impl FakeBrowser {
        fn connect(hub: &Hub, buffer: usize) -> Self {
            let (sink, from_relay) = mpsc::channel(buffer);
            let (to_relay, stream) = mpsc::channel(8);
            tokio::spawn(browser_session(sink, stream, hub.clone()));
            FakeBrowser {
                from_relay,
                to_relay,
            }
        }

        async fn next(&mut self) -> ServerMessage {
            let frame = tokio::time::timeout(Duration::from_secs(5), self.from_relay.next()).await;
            match frame {
                Ok(Some(Message::Text(text))) => serde_json::from_str(&text).unwrap(),
                other => panic!("expected a text frame, got {other:?}"),
            }
        }

        async fn send(&mut self, message: Message) {
            self.to_relay.send(Ok(message)).await.unwrap();
        }
    }

    fn event(name: &str) -> SessionEvent {
        SessionEvent::Event(
            AmiMessage::new()
                .with("Event", name)
                .with("Privilege", "call,all"),
        )
    }

    #[tokio::test]
    async fn a_browser_gets_a_snapshot_then_link_changes_and_event_batches() {
        let hub = Hub::new();
        let (events, rx) = tokio_mpsc::channel(16);
        hub.follow_for_test("pbx", rx);
        let mut browser = FakeBrowser::connect(&hub, 16);
        assert!(matches!(
            browser.next().await,
            ServerMessage::Snapshot { .. }
        ));

        events
            .send(SessionEvent::Connected {
                version: "11.0.0".into(),
            })
            .await
            .unwrap();
        let ServerMessage::Link(status) = browser.next().await else {
            panic!("expected a link update")
        };
        assert_eq!((status.name.as_str(), status.link), ("pbx", LinkState::Up));

        events.send(event("Newchannel")).await.unwrap();
        events.send(event("Hangup")).await.unwrap();
        let mut names = Vec::new();
        while names.len() < 2 {
            let ServerMessage::Events {
                server,
                names: batch,
            } = browser.next().await
            else {
                panic!("expected events")
            };
            assert_eq!(server, "pbx");
            names.extend(batch);
        }
        assert_eq!(names, ["Newchannel", "Hangup"]);

        events
            .send(SessionEvent::Disconnected {
                reason: "connection reset".into(),
            })
            .await
            .unwrap();
        let ServerMessage::Link(status) = browser.next().await else {
            panic!("expected a link update")
        };
        assert_eq!(status.link, LinkState::Down);
        assert_eq!(status.detail.as_deref(), Some("connection reset"));
        assert_eq!(status.events_received, 2);
    }

    #[tokio::test]
    async fn a_bad_message_gets_an_error_and_the_socket_stays_usable() {
        let hub = Hub::new();
        let mut browser = FakeBrowser::connect(&hub, 16);
        assert!(matches!(
            browser.next().await,
            ServerMessage::Snapshot { .. }
        ));

        browser
            .send(Message::Text("{\"type\":\"launch_missiles\"}".into()))
            .await;
        let ServerMessage::Error { message } = browser.next().await else {
            panic!("expected an error")
        };
        assert!(message.contains("unusable message"), "{message}");

        browser.send(Message::Binary(vec![1, 2, 3].into())).await;
        assert!(matches!(browser.next().await, ServerMessage::Error { .. }));

        browser
            .send(Message::Text("{\"type\":\"resync\"}".into()))
            .await;
        assert!(matches!(
            browser.next().await,
            ServerMessage::Snapshot { .. }
        ));
    }

    #[tokio::test]
    async fn a_browser_that_falls_behind_gets_a_snapshot_not_a_growing_queue() {
        let hub = Hub::new();
        let (events, rx) = tokio_mpsc::channel(16);
        hub.follow_for_test("pbx", rx);
        // A browser that accepts no frame at all until we start reading.
        let mut browser = FakeBrowser::connect(&hub, 0);
        events
            .send(SessionEvent::Connected {
                version: "11.0.0".into(),
            })
            .await
            .unwrap();
        for i in 0..(crate::hub::UPDATE_BUFFER * 2) {
            // Alternate link changes so every update is its own broadcast message.
            let change = if i % 2 == 0 {
                SessionEvent::Disconnected {
                    reason: format!("drop {i}"),
                }
            } else {
                SessionEvent::Connected {
                    version: "11.0.0".into(),
                }
            };
            events.send(change).await.unwrap();
        }
        events
            .send(SessionEvent::Disconnected {
                reason: "the end".into(),
            })
            .await
            .unwrap();

        // Read until the last change shows up, in its own frame or in a snapshot.
        let mut snapshots = 0;
        let mut frames = 0;
        loop {
            let frame =
                tokio::time::timeout(Duration::from_secs(5), browser.from_relay.next()).await;
            let Ok(Some(Message::Text(text))) = frame else {
                panic!("the relay stopped sending: {frame:?}")
            };
            frames += 1;
            if text.as_str().starts_with("{\"type\":\"snapshot\"") {
                snapshots += 1;
            }
            if text.as_str().contains("the end") {
                break;
            }
        }
        assert!(
            snapshots >= 2,
            "the first snapshot and one for the lag, got {snapshots}"
        );
        assert!(
            frames <= crate::hub::UPDATE_BUFFER + 4,
            "the browser was not sent everything it missed: {frames} frames"
        );
    }
}
