//! AJAM's HTTP sessions: the `mansession_id` cookie, a logged-in account, and the
//! bounded event queue that `WaitEvent` empties.
//!
//! Asterisk keeps every event for a session that never asks for them until the
//! session expires (about 470 bytes an event). Here a queue holds at most
//! `capacity` events and [`MAX_QUEUED_BYTES`]; past either the oldest go, and the next
//! WaitEvent starts by saying how many. Only logged-in sessions are kept: an
//! unauthenticated one could only log in, so it costs nothing until it does.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use shared::ami::{Classes, Message};
use tokio::sync::{Notify, broadcast};

use crate::service::Login;
use crate::service::RawDemand;
use crate::sync::lock;

/// Bytes one session may hold queued, whatever the event count: events can be large.
pub const MAX_QUEUED_BYTES: usize = 8 * 1024 * 1024;

/// The logged-in HTTP sessions of the relay.
pub struct Sessions {
    map: Mutex<HashMap<u32, Arc<HttpSession>>>,
    capacity: usize,
    max_sessions: usize,
}

/// One logged-in AJAM session.
pub struct HttpSession {
    pub id: u32,
    /// The login; when it ends (log out everywhere), so does the session.
    pub login: Login,
    /// Keeps the server's unfiltered raw feed open while the session lives.
    _feed: RawDemand,
    /// The classes an event must be wholly inside to be queued (the account's read
    /// classes, narrowed by the Login's `Events:`).
    send_events: Mutex<Classes>,
    expires: Mutex<Instant>,
    queue: Mutex<EventQueue>,
    /// Rung when an event is queued, when a newer WaitEvent takes over, on logoff.
    wake: Notify,
    /// Which WaitEvent is the current one: a newer one ends the older, as in Asterisk.
    waiter: AtomicU64,
    closed: std::sync::atomic::AtomicBool,
}

#[derive(Default)]
struct EventQueue {
    events: VecDeque<Bytes>,
    bytes: usize,
    dropped: u64,
}

/// What a WaitEvent takes from the queue.
pub struct Taken {
    pub events: Vec<Bytes>,
    /// Events dropped since the previous take because the queue was full.
    pub dropped: u64,
}

impl Sessions {
    pub fn new(capacity: usize, max_sessions: usize) -> Sessions {
        Sessions {
            map: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            max_sessions: max_sessions.max(1),
        }
    }

    /// The live session behind a cookie id, its expiry pushed back by `ttl`.
    pub fn touch(&self, id: u32, ttl: Duration) -> Option<Arc<HttpSession>> {
        let session = lock(&self.map).get(&id).cloned()?;
        if session.login.is_ended() {
            self.remove(id);
            return None;
        }
        let now = Instant::now();
        let mut expires = lock(&session.expires);
        if *expires <= now {
            return None;
        }
        *expires = now + ttl;
        drop(expires);
        Some(session)
    }

    /// A fresh id for a new cookie: random, non-zero, not in use.
    pub fn new_id(&self) -> u32 {
        let map = lock(&self.map);
        loop {
            let id: u32 = rand::random();
            if id != 0 && !map.contains_key(&id) {
                return id;
            }
        }
    }

    /// Keeps a session that has just logged in. `None` when the relay holds as many
    /// sessions as it may and none has expired.
    pub fn insert(
        &self,
        id: u32,
        (login, feed): (Login, RawDemand),
        send_events: Classes,
        ttl: Duration,
    ) -> Option<Arc<HttpSession>> {
        let mut map = lock(&self.map);
        if map.len() >= self.max_sessions {
            let now = Instant::now();
            map.retain(|_, s| *lock(&s.expires) > now);
            if map.len() >= self.max_sessions {
                return None;
            }
        }
        let session = Arc::new(HttpSession {
            id,
            login,
            _feed: feed,
            send_events: Mutex::new(send_events),
            expires: Mutex::new(Instant::now() + ttl),
            queue: Mutex::new(EventQueue::default()),
            wake: Notify::new(),
            waiter: AtomicU64::new(0),
            closed: false.into(),
        });
        map.insert(id, session.clone());
        Some(session)
    }

    /// Logs a session off: it is forgotten, and a WaitEvent in progress ends.
    pub fn remove(&self, id: u32) {
        if let Some(session) = lock(&self.map).remove(&id) {
            session.closed.store(true, Ordering::Release);
            session.wake.notify_waiters();
        }
    }

    /// Forgets expired sessions and those whose login ended (log out everywhere),
    /// dropping their queues and account leases; a WaitEvent in progress ends.
    pub fn reap(&self) {
        let now = Instant::now();
        let mut expired = Vec::new();
        lock(&self.map).retain(|_, s| {
            let alive = *lock(&s.expires) > now && !s.login.is_ended();
            if !alive {
                expired.push(s.clone());
            }
            alive
        });
        for session in expired {
            tracing::info!(id = %format!("{:08x}", session.id), user = %session.login.display_name(), "AJAM session ended");
            session.closed.store(true, Ordering::Release);
            session.wake.notify_waiters();
        }
    }

    pub fn len(&self) -> usize {
        lock(&self.map).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Queues one event of `server` for every session there whose classes cover it.
    pub fn offer(&self, server: &str, event: &Message) {
        let mut encoded: Option<Bytes> = None;
        // `Classes::reads`, with the event's classes read once for every session.
        let classes = Classes::of_event(event);
        let sessions: Vec<Arc<HttpSession>> = lock(&self.map)
            .values()
            .filter(|s| s.login.server().name() == server && lock(&s.send_events).contains(classes))
            .cloned()
            .collect();
        for session in sessions {
            let bytes = encoded.get_or_insert_with(|| event.to_bytes()).clone();
            session.push(bytes, self.capacity);
        }
    }

    /// Counts `missed` events as dropped for every session of `server`: the relay fell
    /// behind its own event stream, and the sessions must hear of it.
    pub fn missed(&self, server: &str, missed: u64) {
        for session in lock(&self.map).values() {
            if session.login.server().name() == server {
                lock(&session.queue).dropped += missed;
                session.wake.notify_waiters();
            }
        }
    }
}

impl EventQueue {
    /// Appends, then drops the oldest past `capacity` events or [`MAX_QUEUED_BYTES`].
    fn push(&mut self, event: Bytes, capacity: usize) {
        self.bytes += event.len();
        self.events.push_back(event);
        while self.events.len() > capacity || self.bytes > MAX_QUEUED_BYTES {
            let Some(old) = self.events.pop_front() else {
                break;
            };
            self.bytes -= old.len();
            self.dropped += 1;
        }
    }

    fn take(&mut self) -> Taken {
        self.bytes = 0;
        Taken {
            events: self.events.drain(..).collect(),
            dropped: std::mem::take(&mut self.dropped),
        }
    }
}

impl HttpSession {
    fn push(&self, event: Bytes, capacity: usize) {
        lock(&self.queue).push(event, capacity);
        self.wake.notify_waiters();
    }

    /// Waits until an event is queued, `limit` passes, a newer WaitEvent starts or the
    /// session closes, then takes what is queued. `None` when a newer WaitEvent took
    /// over: that one answers, this one ends empty (as Asterisk abandons it).
    pub async fn wait_events(&self, limit: Option<Duration>) -> Option<Taken> {
        let me = self.waiter.fetch_add(1, Ordering::AcqRel) + 1;
        self.wake.notify_waiters();
        let deadline = limit.map(|limit| tokio::time::Instant::now() + limit);
        loop {
            let notified = self.wake.notified();
            tokio::pin!(notified);
            // Registered before the checks, so a wake between them is not lost.
            notified.as_mut().enable();
            if self.waiter.load(Ordering::Acquire) != me {
                return None;
            }
            if self.has_events() || self.closed.load(Ordering::Acquire) {
                break;
            }
            match deadline {
                Some(deadline) => {
                    if tokio::time::timeout_at(deadline, notified).await.is_err() {
                        break;
                    }
                }
                None => notified.await,
            }
        }
        Some(self.take())
    }

    fn has_events(&self) -> bool {
        let queue = lock(&self.queue);
        !queue.events.is_empty() || queue.dropped > 0
    }

    fn take(&self) -> Taken {
        lock(&self.queue).take()
    }

    /// What WaitEvent gets from now on (`Action: Events`).
    pub fn set_send_events(&self, classes: Classes) {
        *lock(&self.send_events) = classes;
    }

    /// How long until the session expires.
    pub fn remaining(&self) -> Duration {
        lock(&self.expires).saturating_duration_since(Instant::now())
    }

    /// Events queued now (for tests and metrics).
    pub fn queued(&self) -> usize {
        lock(&self.queue).events.len()
    }
}

/// Feeds every raw event of `server` to the sessions until the relay stops.
pub async fn follow(
    server: String,
    mut events: broadcast::Receiver<Message>,
    sessions: Arc<Sessions>,
) {
    loop {
        match events.recv().await {
            Ok(event) => sessions.offer(&server, &event),
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(%server, missed, "AJAM event feed fell behind");
                sessions.missed(&server, missed);
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbered(n: usize) -> Bytes {
        Bytes::from(format!("Event: N\r\nN: {n}\r\n\r\n"))
    }

    #[test]
    fn a_full_queue_drops_the_oldest_and_counts_them() {
        for (pushed, kept, dropped) in [(4, 4, 0), (5, 5, 0), (6, 5, 1), (12, 5, 7)] {
            let mut queue = EventQueue::default();
            for n in 0..pushed {
                queue.push(numbered(n), 5);
            }
            let taken = queue.take();
            assert_eq!(
                (taken.events.len(), taken.dropped),
                (kept, dropped),
                "{pushed} pushed"
            );
            assert_eq!(
                taken.events.last(),
                Some(&numbered(pushed - 1)),
                "the newest stays"
            );
            assert_eq!(taken.events.first(), Some(&numbered(pushed - kept)));
            let again = queue.take();
            assert!(
                again.events.is_empty() && again.dropped == 0,
                "a take empties the queue"
            );
        }
    }

    /// One logged-in AJAM session of `admin`, reading every class.
    async fn logged_in(service: &crate::service::Service) -> Arc<HttpSession> {
        let login = crate::testing::admin(service).await;
        let demand = login.server().raw_feed().demand();
        Sessions::new(10, 10)
            .insert(
                1,
                (login, demand),
                Classes::parse("all"),
                Duration::from_secs(3600),
            )
            .expect("room for a session")
    }

    #[tokio::test]
    async fn wait_event_answers_empty_at_its_timeout_and_at_once_when_an_event_comes() {
        let (service, _pbx) = crate::testing::service().await;
        let session = logged_in(&service).await;
        // The login went over loopback on the real clock; the wait runs on a paused one.
        tokio::time::pause();
        const LIMIT: Duration = Duration::from_secs(30);
        let waiting = tokio::spawn({
            let session = session.clone();
            async move { session.wait_events(Some(LIMIT)).await }
        });
        tokio::time::advance(LIMIT - Duration::from_millis(1)).await;
        assert!(
            !waiting.is_finished(),
            "still waiting just before the limit"
        );
        // tokio's timers round their deadline up to the next millisecond.
        tokio::time::advance(Duration::from_millis(2)).await;
        let taken = waiting
            .await
            .expect("the wait")
            .expect("still the current wait");
        assert!(taken.events.is_empty() && taken.dropped == 0);

        let started = tokio::time::Instant::now();
        let waiting = tokio::spawn({
            let session = session.clone();
            async move { session.wait_events(Some(LIMIT)).await }
        });
        tokio::task::yield_now().await;
        session.push(numbered(1), 10);
        let taken = waiting
            .await
            .expect("the wait")
            .expect("still the current wait");
        assert_eq!(taken.events, [numbered(1)]);
        assert_eq!(
            started.elapsed(),
            Duration::ZERO,
            "an event ends the wait at once"
        );
    }

    #[test]
    fn the_byte_bound_holds_whatever_the_count() {
        let mut queue = EventQueue::default();
        let big = Bytes::from(vec![b'x'; MAX_QUEUED_BYTES / 4 + 1]);
        for _ in 0..4 {
            queue.push(big.clone(), 10_000);
        }
        assert_eq!(queue.events.len(), 3);
        assert!(queue.bytes <= MAX_QUEUED_BYTES);
        assert_eq!(queue.take().dropped, 1);
    }
}
