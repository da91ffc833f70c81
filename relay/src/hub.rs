//! Fan-out from AMI sessions to browsers.
//!
//! Each attached session gets a task that turns its [`SessionEvent`]s into
//! [`ServerMessage`]s, keeps that server's [`ServerStatus`] current, and
//! publishes every message once, already serialized, on a bounded broadcast
//! channel. Browsers subscribe; one that falls more than [`UPDATE_BUFFER`]
//! messages behind is given a fresh snapshot (see [`crate::ws`]), so a slow
//! browser costs the relay a fixed amount of memory, never a growing queue.

use std::sync::{Arc, Mutex};

use axum::extract::ws::Utf8Bytes;
use shared::protocol::{LinkState, ServerMessage, ServerStatus};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use crate::ami::{SessionEvent, SessionHandle};

/// Messages kept for browsers that are momentarily behind.
pub const UPDATE_BUFFER: usize = 1024;

/// The most event names sent in one WebSocket frame.
const MAX_EVENTS_PER_FRAME: usize = 256;

/// Cheap to clone: every clone is the same hub.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    /// A `std` mutex: it guards a short copy or update and is never held across an `.await`.
    servers: Mutex<Vec<ServerStatus>>,
    updates: broadcast::Sender<Utf8Bytes>,
    closing: CancellationToken,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

impl Hub {
    pub fn new() -> Self {
        let (updates, _) = broadcast::channel(UPDATE_BUFFER);
        Hub {
            inner: Arc::new(Inner {
                servers: Mutex::new(Vec::new()),
                updates,
                closing: CancellationToken::new(),
            }),
        }
    }

    /// Follows one AMI session until its event channel closes or the hub closes.
    pub fn attach(
        &self,
        name: String,
        session: SessionHandle,
        events: mpsc::Receiver<SessionEvent>,
    ) {
        // The handle rides along with the follower: dropping the last one would stop the session.
        self.spawn_follower(name, events, session);
    }

    fn spawn_follower<K: Send + 'static>(
        &self,
        name: String,
        events: mpsc::Receiver<SessionEvent>,
        keep_alive: K,
    ) {
        self.update_status(ServerStatus {
            name: name.clone(),
            link: LinkState::Connecting,
            detail: None,
            events_received: 0,
        });
        let hub = self.clone();
        tokio::spawn(async move {
            let _keep_alive = keep_alive;
            tokio::select! {
                _ = hub.follow(name, events) => {}
                _ = hub.inner.closing.cancelled() => {}
            }
        });
    }

    async fn follow(&self, name: String, mut events: mpsc::Receiver<SessionEvent>) {
        let mut names = Vec::new();
        while let Some(first) = events.recv().await {
            let mut next = Some(first);
            // Drain what is already queued so a busy PBX costs one frame per batch, not per event.
            while let Some(event) = next.take() {
                match event {
                    SessionEvent::Event(message) => {
                        let event_name = message
                            .event_name()
                            .map(String::from_utf8_lossy)
                            .unwrap_or_default();
                        names.push(event_name.into_owned());
                    }
                    SessionEvent::Connected { .. } => {
                        self.flush_events(&name, &mut names);
                        self.set_link(&name, LinkState::Up, None);
                    }
                    SessionEvent::Disconnected { reason } => {
                        self.flush_events(&name, &mut names);
                        self.set_link(&name, LinkState::Down, Some(reason));
                    }
                }
                if names.len() < MAX_EVENTS_PER_FRAME {
                    next = events.try_recv().ok();
                }
            }
            self.flush_events(&name, &mut names);
        }
        self.set_link(&name, LinkState::Down, Some("the AMI session ended".into()));
    }

    fn flush_events(&self, server: &str, names: &mut Vec<String>) {
        if names.is_empty() {
            return;
        }
        let count = names.len() as u64;
        self.with_status(server, |status| status.events_received += count);
        self.publish(&ServerMessage::Events {
            server: server.to_owned(),
            names: std::mem::take(names),
        });
    }

    fn set_link(&self, server: &str, link: LinkState, detail: Option<String>) {
        if let Some(status) = self.with_status(server, |status| {
            status.link = link;
            status.detail = detail;
        }) {
            self.publish(&ServerMessage::Link(status));
        }
    }

    fn update_status(&self, status: ServerStatus) {
        let mut servers = self.lock_servers();
        match servers.iter_mut().find(|s| s.name == status.name) {
            Some(existing) => *existing = status,
            None => servers.push(status),
        }
    }

    /// Changes one server's status and returns a copy of the result.
    fn with_status(
        &self,
        server: &str,
        change: impl FnOnce(&mut ServerStatus),
    ) -> Option<ServerStatus> {
        let mut servers = self.lock_servers();
        let status = servers.iter_mut().find(|s| s.name == server)?;
        change(status);
        Some(status.clone())
    }

    fn lock_servers(&self) -> std::sync::MutexGuard<'_, Vec<ServerStatus>> {
        // A panic while holding this lock cannot leave a half-written status, so poison is harmless.
        self.inner
            .servers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn publish(&self, message: &ServerMessage) {
        // No subscriber is not an error: the message only matters to browsers that are open.
        let _ = self.inner.updates.send(encode(message));
    }

    /// The whole state, serialized, for a browser that is new or fell behind.
    pub fn snapshot(&self) -> Utf8Bytes {
        let servers = self.lock_servers().clone();
        encode(&ServerMessage::Snapshot { servers })
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Utf8Bytes> {
        self.inner.updates.subscribe()
    }

    /// Completes when the relay shuts down.
    pub fn closing(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.inner.closing.cancelled()
    }

    /// Stops every session follower and tells every browser loop to finish.
    pub fn close(&self) {
        self.inner.closing.cancel();
    }
}

#[cfg(test)]
impl Hub {
    /// Follows events fed by hand, with no AMI session behind them.
    pub(crate) fn follow_for_test(&self, name: &str, events: mpsc::Receiver<SessionEvent>) {
        self.spawn_follower(name.to_owned(), events, ());
    }
}

pub fn encode(message: &ServerMessage) -> Utf8Bytes {
    // Serializing these plain structs cannot fail: no maps with non-string keys, no custom Serialize.
    serde_json::to_string(message).unwrap_or_default().into()
}
