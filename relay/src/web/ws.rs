//! One browser's WebSocket at `/ws`.
//!
//! The browser proves its login with the cookie (or `?token=` for scripts), gets a
//! `hello`, a snapshot of its server's model as its account may see it, then the
//! deltas. One that falls behind the bounded update buffer gets a fresh snapshot,
//! never a backlog; one that keeps falling behind is closed with
//! [`CLOSE_TOO_SLOW`]. Pings find dead sockets. Actions run beside the update loop,
//! bounded per account, so a slow action never holds up the deltas.

use std::collections::VecDeque;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::{Sink, SinkExt, Stream, StreamExt};
use shared::protocol::{
    CLOSE_GOING_AWAY, CLOSE_LOGIN_ENDED, CLOSE_TOO_SLOW, ClientMessage, RawEvent, ServerMessage,
};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;

use crate::live::{AgentView, Delta, Update, View};
use crate::service::{Caller, Login, RawEvents, policy};
use crate::web::api::{ClientIp, Failure, origin_allowed, token_of};
use crate::web::state::AppState;

/// Browsers only send small control messages; anything larger closes the socket.
pub const MAX_CLIENT_MESSAGE: usize = 64 * 1024;

/// A browser that takes longer than this to accept one frame is disconnected;
/// it reconnects and starts again from a snapshot.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// How often the relay pings, and how long a silent browser lives.
pub const PING_INTERVAL: Duration = Duration::from_secs(20);
pub const SILENCE_LIMIT: Duration = Duration::from_secs(60);

/// Snapshots for lag within [`LAG_WINDOW`] before the browser is given up on.
const MAX_LAG_SNAPSHOTS: usize = 3;
const LAG_WINDOW: Duration = Duration::from_secs(30);

/// Raw events per `events` frame, and kept for one browser at most.
const MAX_RAW_PER_FRAME: usize = 256;

/// Per-socket read buffer: browsers send little, and tungstenite's default of
/// 128 KiB per socket would cost a gigabyte for ten thousand idle browsers.
const READ_BUFFER: usize = 4 * 1024;
const WRITE_BUFFER: usize = 16 * 1024;

#[derive(serde::Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

pub async fn upgrade(
    upgrade: WebSocketUpgrade,
    State(state): State<AppState>,
    client: ClientIp,
    headers: HeaderMap,
    Query(query): Query<TokenQuery>,
) -> Response {
    if !origin_allowed(&headers, &state.allowed_origins) {
        tracing::warn!(origin = ?headers.get("origin"), "refusing a cross-site WebSocket");
        return Failure(StatusCode::FORBIDDEN, "cross-site WebSocket refused".into())
            .into_response();
    }
    let Some(token) = query.token.or_else(|| token_of(&headers).map(|(t, _)| t)) else {
        return Failure(
            StatusCode::UNAUTHORIZED,
            "log in first: no session token".into(),
        )
        .into_response();
    };
    let login = match state.service.resume(&token).await {
        Ok(login) => login,
        Err(error) => return Failure::from(error).into_response(),
    };
    let Ok(permit) = state.browsers.clone().try_acquire_owned() else {
        tracing::warn!("refusing a browser: the max_browsers limit is reached");
        return Failure(
            StatusCode::SERVICE_UNAVAILABLE,
            "Too many browsers are connected to this relay.".into(),
        )
        .into_response();
    };
    upgrade
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket: WebSocket| async move {
            let _open = state.metrics.browser_opened();
            let (sink, stream) = socket.split();
            let caller = client.caller(shared::protocol::AuditVia::Panel);
            browser_session(sink, stream, state, login, caller).await;
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
    #[error("the browser was silent for {SILENCE_LIMIT:?}")]
    Silent,
    #[error("the browser fell behind {MAX_LAG_SNAPSHOTS} times within {LAG_WINDOW:?}")]
    TooSlow,
    #[error("the login ended")]
    LoggedOut,
}

/// One socket's state.
struct Browser<W> {
    sink: W,
    state: AppState,
    login: Login,
    /// Where the browser is, for the audit log of its actions.
    caller: Caller,
    view: View,
    /// The `seq` the browser holds: deltas at or below it are already in its snapshot.
    seq: u64,
    lag_snapshots: VecDeque<Instant>,
    /// The event log's feed, while it is open.
    raw: Option<RawEvents>,
    /// An agent's own view of the model, instead of the shared deltas.
    agent: Option<AgentView>,
}

/// Runs one browser's session until it closes, fails, or the relay shuts down.
pub async fn browser_session<W, R, E>(
    sink: W,
    mut stream: R,
    state: AppState,
    login: Login,
    caller: Caller,
) where
    W: Sink<Message> + Unpin,
    W::Error: std::fmt::Display,
    R: Stream<Item = Result<Message, E>> + Unpin,
{
    let server = login.server().clone();
    // Subscribe before the snapshot, so no delta falls between the two.
    let mut updates = server.subscribe();
    let closing = state.closing.clone();
    // Watched beside the browser's own copy, which the loop borrows mutably.
    let watched = login.clone();
    let agent = login.agent_view();
    let mut browser = Browser {
        sink,
        view: View::of(login.read()),
        state,
        login,
        caller,
        seq: 0,
        lag_snapshots: VecDeque::new(),
        raw: None,
        agent,
    };
    let (results_tx, mut results) = mpsc::channel(16);
    let mut ping = tokio::time::interval_at(Instant::now() + PING_INTERVAL, PING_INTERVAL);
    let mut last_heard = Instant::now();
    let result: Result<(), Ended> = async {
        let hello = ServerMessage::Hello(crate::web::api::hello(&browser.state, &browser.login));
        browser.send(encode(&hello)).await?;
        browser.snapshot().await?;
        loop {
            tokio::select! {
                update = updates.recv() => match update {
                    Ok(Update::Delta(delta)) if delta.seq > browser.seq => {
                        browser.seq = delta.seq;
                        let frame = match &mut browser.agent {
                            Some(agent) => encode(&agent.delta(&server, &delta)),
                            None => frame(&delta, browser.view),
                        };
                        browser.send(frame).await?;
                    }
                    Ok(Update::Delta(_)) => {}
                    Ok(Update::Link(link)) => browser.send(encode(&ServerMessage::Link(link))).await?,
                    Ok(Update::Rebuilt) => browser.snapshot().await?,
                    Ok(Update::Alarm(alarm)) => if policy::hears_queue_alarms(&browser.login) {
                        browser.send(encode(&ServerMessage::QueueAlarm((*alarm).clone()))).await?;
                    },
                    Err(RecvError::Lagged(missed)) => {
                        tracing::info!(missed, "browser fell behind; sending a fresh snapshot");
                        browser.lagged()?;
                        browser.snapshot().await?;
                    }
                    Err(RecvError::Closed) => return Ok(()),
                },
                raw = recv_raw(&mut browser.raw) => browser.forward_raw(raw).await?,
                result = results.recv() => if let Some(result) = result {
                    browser.send(encode(&ServerMessage::ActionResult(result))).await?;
                },
                incoming = stream.next() => {
                    last_heard = Instant::now();
                    match incoming {
                        Some(Ok(Message::Text(text))) => browser.handle(&text, &results_tx).await?,
                        Some(Ok(Message::Binary(_))) => {
                            browser.error("binary frames are not part of the protocol; send JSON text").await?;
                        }
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                        Some(Ok(Message::Close(_)) | Err(_)) | None => return Ok(()),
                    }
                }
                _ = ping.tick() => {
                    if last_heard.elapsed() > SILENCE_LIMIT {
                        return Err(Ended::Silent);
                    }
                    browser.send_message(Message::Ping(Default::default())).await?;
                }
                () = closing.cancelled() => {
                    browser.close(CLOSE_GOING_AWAY, "the relay is shutting down").await;
                    return Ok(());
                }
                // Nothing the browser sends after this runs: the loop is over.
                () = watched.ended() => return Err(Ended::LoggedOut),
            }
        }
    }
    .await;
    if let Err(ended) = result {
        match ended {
            Ended::TooSlow => {
                browser
                    .close(CLOSE_TOO_SLOW, "too slow to keep up with the updates")
                    .await;
            }
            Ended::LoggedOut => browser.close(CLOSE_LOGIN_ENDED, "login ended").await,
            _ => {}
        }
        tracing::info!(%ended, "browser session ended");
    }
}

/// The next raw event, or never when the event log is off.
async fn recv_raw(raw: &mut Option<RawEvents>) -> Result<shared::ami::Message, RecvError> {
    match raw {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

impl<W> Browser<W>
where
    W: Sink<Message> + Unpin,
    W::Error: std::fmt::Display,
{
    async fn snapshot(&mut self) -> Result<(), Ended> {
        let (seq, link, model) = self.state.service.snapshot(&self.login, &mut self.agent);
        let server = self.login.server();
        self.seq = seq;
        let message = ServerMessage::Snapshot {
            server: server.name().to_owned(),
            seq,
            link,
            model,
        };
        self.send(encode(&message)).await
    }

    /// Counts a lag; too many in a short time and the browser is given up on.
    fn lagged(&mut self) -> Result<(), Ended> {
        self.state.metrics.lag_snapshot();
        let now = Instant::now();
        while self
            .lag_snapshots
            .front()
            .is_some_and(|t| now - *t > LAG_WINDOW)
        {
            self.lag_snapshots.pop_front();
        }
        self.lag_snapshots.push_back(now);
        if self.lag_snapshots.len() > MAX_LAG_SNAPSHOTS {
            return Err(Ended::TooSlow);
        }
        Ok(())
    }

    async fn handle(
        &mut self,
        text: &str,
        results: &mpsc::Sender<shared::action::ActionResult>,
    ) -> Result<(), Ended> {
        match serde_json::from_str::<ClientMessage>(text) {
            Ok(ClientMessage::Resync) => self.snapshot().await,
            Ok(ClientMessage::Action(request)) => {
                let login = self.login.clone();
                let service = self.state.service.clone();
                let caller = self.caller;
                let results = results.clone();
                // The account's limiter bounds how many of these run at once.
                tokio::spawn(async move {
                    let result = service.run(&login, &request, caller).await;
                    let _ = results.send(result).await;
                });
                Ok(())
            }
            Ok(ClientMessage::Events { enabled: false }) => {
                self.raw = None;
                Ok(())
            }
            Ok(ClientMessage::Events { enabled: true }) => {
                match self.state.service.raw_events(&self.login) {
                    Ok(feed) => {
                        self.raw = Some(feed);
                        Ok(())
                    }
                    Err(refused) => self.error(&refused.to_string()).await,
                }
            }
            Err(error) => self.error(&format!("unusable message: {error}")).await,
        }
    }

    /// Sends the event log's next frame: this event and whatever else is queued.
    async fn forward_raw(
        &mut self,
        first: Result<shared::ami::Message, RecvError>,
    ) -> Result<(), Ended> {
        let mut dropped = 0;
        let mut events = Vec::new();
        let mut next = Some(first);
        while let Some(received) = next.take() {
            match received {
                Ok(message) => events.push(RawEvent::from(&message)),
                Err(RecvError::Lagged(missed)) => dropped += missed,
                Err(RecvError::Closed) => {
                    self.raw = None;
                    break;
                }
            }
            if events.len() < MAX_RAW_PER_FRAME {
                next = self.raw.as_mut().and_then(|r| match r.try_recv() {
                    Ok(message) => Some(Ok(message)),
                    Err(broadcast::error::TryRecvError::Lagged(n)) => {
                        Some(Err(RecvError::Lagged(n)))
                    }
                    Err(_) => None,
                });
            }
        }
        if events.is_empty() && dropped == 0 {
            return Ok(());
        }
        let message = ServerMessage::Events {
            server: self.login.server().name().to_owned(),
            events,
            dropped,
        };
        self.send(encode(&message)).await
    }

    async fn error(&mut self, message: &str) -> Result<(), Ended> {
        let message = ServerMessage::Error {
            message: message.to_owned(),
        };
        self.send(encode(&message)).await
    }

    async fn send(&mut self, text: Utf8Bytes) -> Result<(), Ended> {
        self.send_message(Message::Text(text)).await
    }

    async fn send_message(&mut self, message: Message) -> Result<(), Ended> {
        match tokio::time::timeout(SEND_TIMEOUT, self.sink.send(message)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(Ended::Socket(error.to_string())),
            Err(_) => Err(Ended::SendTimeout),
        }
    }

    /// A close frame with a code that says why; best effort, the socket may be gone.
    async fn close(&mut self, code: u16, reason: &str) {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = tokio::time::timeout(
            Duration::from_secs(1),
            self.sink.send(Message::Close(Some(frame))),
        )
        .await;
    }
}

/// A message as a WebSocket text frame.
pub fn encode(message: &impl serde::Serialize) -> Utf8Bytes {
    // These types serialize without maps keyed by non-strings or fallible impls.
    serde_json::to_string(message).unwrap_or_default().into()
}

/// `delta` as `view` sees it, encoded once however many sockets share the view.
fn frame(delta: &Delta, view: View) -> Utf8Bytes {
    let encoded = delta
        .frame_slot(view)
        .get_or_init(|| Box::new(encode(&delta.visible(view))));
    match encoded.downcast_ref::<Utf8Bytes>() {
        Some(frame) => frame.clone(),
        // Only this module fills the slots, always with frames.
        None => encode(&delta.visible(view)),
    }
}

/// The browser loop through its seam: [`browser_session`] over channels instead of a
/// socket, so that what it sends, in which order, and how it closes is seen frame by
/// frame.
#[cfg(test)]
mod tests {
    use futures::channel::mpsc as channel;
    use serde_json::Value;
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::testing;

    /// How long a frame may take: the loop answers at once, so this only ends a hang.
    const PATIENCE: Duration = Duration::from_secs(10);

    /// What the browser side holds: the frames the loop sends, and its own sender,
    /// which keeps the loop's stream open.
    struct Page {
        frames: channel::Receiver<Message>,
        _sends: channel::Sender<Result<Message, std::convert::Infallible>>,
    }

    impl Page {
        async fn frame(&mut self) -> Message {
            tokio::time::timeout(PATIENCE, self.frames.next())
                .await
                .expect("a frame in time")
                .expect("the loop is running")
        }

        async fn json(&mut self) -> Value {
            match self.frame().await {
                Message::Text(text) => serde_json::from_str(&text).expect("JSON"),
                other => panic!("expected a text frame, got {other:?}"),
            }
        }

        async fn close_code(&mut self) -> u16 {
            match self.frame().await {
                Message::Close(Some(frame)) => frame.code,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    }

    /// Starts the loop for `login`; the relay shuts down when `closing` fires.
    fn open(state: AppState, login: Login) -> (Page, tokio::task::JoinHandle<()>) {
        let (sink, frames) = channel::channel(16);
        let (sends, stream) = channel::channel(16);
        let session = tokio::spawn(browser_session(sink, stream, state, login, testing::CALLER));
        let page = Page {
            frames,
            _sends: sends,
        };
        (page, session)
    }

    #[tokio::test]
    async fn hello_then_snapshot_and_a_going_away_close_when_the_relay_stops() {
        let (service, _pbx) = testing::service().await;
        let login = testing::admin(&service).await;
        let closing = CancellationToken::new();
        let (mut page, session) = open(testing::app_state(service, closing.clone()), login);
        let hello = page.json().await;
        assert_eq!(hello["type"], "hello", "{hello}");
        assert_eq!(hello["server"], testing::SERVER, "{hello}");
        let snapshot = page.json().await;
        assert_eq!(snapshot["type"], "snapshot", "{snapshot}");
        assert_eq!(snapshot["server"], testing::SERVER, "{snapshot}");
        closing.cancel();
        assert_eq!(page.close_code().await, CLOSE_GOING_AWAY);
        tokio::time::timeout(PATIENCE, session)
            .await
            .expect("the loop ends")
            .expect("without a panic");
    }

    #[tokio::test]
    async fn a_logout_closes_the_socket_with_the_login_ended_code() {
        let (service, _pbx) = testing::service().await;
        let admin = testing::admin(&service).await;
        let token = service.issue_token(&admin).await.expect("a token");
        let login = service.resume(&token).await.expect("the token's login");
        let state = testing::app_state(service.clone(), CancellationToken::new());
        let (mut page, session) = open(state, login.clone());
        assert_eq!(page.json().await["type"], "hello");
        assert_eq!(page.json().await["type"], "snapshot");
        service.logout(&login, false).await;
        assert_eq!(page.close_code().await, CLOSE_LOGIN_ENDED);
        tokio::time::timeout(PATIENCE, session)
            .await
            .expect("the loop ends")
            .expect("without a panic");
    }
}
