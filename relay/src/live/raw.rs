//! Raw events for the event log and AJAM: a second, unfiltered AMI session per server.
//!
//! The service session asks Asterisk to filter what the model does not use (`VarSet`,
//! `CEL`, `Cdr`, ...), so its stream is not what Asterisk would send a reader on that
//! reader's own connection. Raw readers are fed instead from a session of their own on
//! the service account, with `Events: on` and no `Filter`: every event, in the order
//! Asterisk sent it, and the model's filter costs them nothing. Each reader still keeps
//! only what its read classes let it read (`Classes::reads`).
//!
//! The session exists only while someone reads: the first [`RawDemand`] opens it, and
//! it logs off a linger after the last one is dropped (a reloaded page costs no Login).
//! With no reader there is no second session and the model's path pays nothing.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use shared::ami::Message;
use tokio::sync::{broadcast, watch};
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::ami::{AmiConfig, SessionEvent, spawn_session};
use crate::sync::lock;

/// Raw events kept for the event log and the legacy AJAM sessions.
pub const RAW_BUFFER: usize = 4096;

/// One server's raw feed: the broadcast readers subscribe to, and the session behind it
/// while anyone reads.
pub struct RawFeed {
    server: Arc<str>,
    /// The service account's login, with `Events: on`.
    ami: AmiConfig,
    linger: Duration,
    sender: broadcast::Sender<Message>,
    state: Mutex<FeedState>,
}

#[derive(Default)]
struct FeedState {
    /// [`RawDemand`]s alive now.
    readers: usize,
    /// The running session, while there are readers or their linger runs.
    running: Option<Running>,
    /// Counts the times the readers dropped to none: a linger timer from an older
    /// time does nothing.
    idled: u64,
}

struct Running {
    /// Says whether the session is logged in now.
    up: watch::Receiver<bool>,
    /// Stops the session's task (which logs off) when dropped.
    _stop: DropGuard,
}

impl RawFeed {
    pub fn new(server: Arc<str>, mut ami: AmiConfig, linger: Duration) -> Arc<RawFeed> {
        // Every event the account may read: no class list, and no Filter is ever sent.
        ami.events = "on".into();
        let (sender, _) = broadcast::channel(RAW_BUFFER);
        Arc::new(RawFeed {
            server,
            ami,
            linger,
            sender,
            state: Mutex::new(FeedState::default()),
        })
    }

    /// Every raw event from now on, as long as someone holds a [`RawDemand`] (nothing
    /// flows otherwise). A reader that filters per client itself, such as AJAM's
    /// sessions, subscribes once and holds a demand per client.
    pub fn subscribe(&self) -> broadcast::Receiver<Message> {
        self.sender.subscribe()
    }

    /// Keeps the feed's session open while held, opening it if nobody held one.
    pub fn demand(self: &Arc<Self>) -> RawDemand {
        let mut state = lock(&self.state);
        state.readers += 1;
        let up = match &state.running {
            Some(running) => running.up.clone(),
            None => {
                let up = self.start();
                state.running = Some(Running {
                    up: up.1.clone(),
                    _stop: up.0.drop_guard(),
                });
                up.1
            }
        };
        RawDemand {
            feed: self.clone(),
            up,
        }
    }

    /// Whether the feed's session is open (logged in or trying to be).
    pub fn is_open(&self) -> bool {
        lock(&self.state).running.is_some()
    }

    fn start(&self) -> (CancellationToken, watch::Receiver<bool>) {
        let stop = CancellationToken::new();
        let (up, up_rx) = watch::channel(false);
        tracing::info!(server = %self.server, "raw event session opened for its first reader");
        tokio::spawn(forward(
            self.ami.clone(),
            self.sender.clone(),
            up,
            stop.clone(),
        ));
        (stop, up_rx)
    }

    fn release(self: &Arc<Self>) {
        let mut state = lock(&self.state);
        state.readers -= 1;
        if state.readers > 0 {
            return;
        }
        state.idled += 1;
        let idled = state.idled;
        drop(state);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // No runtime left to wait on: the relay is ending anyway.
            lock(&self.state).running = None;
            return;
        };
        let feed = Arc::downgrade(self);
        let linger = self.linger;
        runtime.spawn(async move {
            tokio::time::sleep(linger).await;
            let Some(feed) = feed.upgrade() else { return };
            let mut state = lock(&feed.state);
            if state.readers == 0 && state.idled == idled && state.running.take().is_some() {
                tracing::info!(server = %feed.server, "raw event session logged off after its last reader left");
            }
        });
    }
}

/// Keeps a server's raw feed open while held; dropping the last one starts the linger.
pub struct RawDemand {
    feed: Arc<RawFeed>,
    up: watch::Receiver<bool>,
}

impl RawDemand {
    /// Waits until the feed's session is logged in, at most `limit`: a reader that
    /// acts right after subscribing (an AJAM Login, then an Originate) then hears
    /// everything that follows. False if it is not up in time (events flow once it is).
    pub async fn ready(&mut self, limit: Duration) -> bool {
        tokio::time::timeout(limit, self.up.wait_for(|up| *up))
            .await
            .is_ok_and(|up| up.is_ok())
    }
}

impl Drop for RawDemand {
    fn drop(&mut self) {
        self.feed.release();
    }
}

/// Runs the feed's session: every event into the broadcast, in the order Asterisk
/// sent them, until `stop`. The broadcast never waits (a slow reader lags and is told
/// how many it missed), so the session's channel drains as fast as events come.
async fn forward(
    ami: AmiConfig,
    sender: broadcast::Sender<Message>,
    up: watch::Sender<bool>,
    stop: CancellationToken,
) {
    let (session, mut events) = spawn_session(ami);
    while let Some(event) = tokio::select! {
        event = events.recv() => event,
        () = stop.cancelled() => None,
    } {
        match event {
            // Nobody listening is not an error.
            SessionEvent::Event(message) => {
                let _ = sender.send(message);
            }
            SessionEvent::Connected { .. } => {
                up.send_replace(true);
            }
            SessionEvent::Disconnected { .. } => {
                up.send_replace(false);
            }
        }
    }
    // Dropping the handle and the receiver ends the session, which logs off.
    drop(session);
}
