//! One Asterisk server's live model, kept from the relay's own service session.
//!
//! A follower task owns the session's events. On every (re)connect it asks Asterisk
//! to leave out the events the model does not use, rebuilds the model from nothing
//! out of the status lists (buffering the events that arrive meanwhile), and only
//! then publishes it: anything the rebuild does not find is gone, so no ghost of a
//! call from before an Asterisk restart survives. Between rebuilds every event goes
//! through the shared reducer; the changes it makes are published as one
//! [`Delta`] per tick, under the same `seq` as the snapshots, so a browser that
//! subscribes and then takes a snapshot can drop exactly what the snapshot holds.

use std::any::Any;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use shared::ami::{Classes, Message};
use shared::model::figures::{AlarmLevel, QueueThresholds, evaluate};
use shared::model::scope::Scoped;
use shared::model::{Change, ServerModel, coalesce, resync};
use shared::protocol::{DeltaOf, LinkState, LinkStatus, QueueAlarm, ServerMessage};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use crate::ami::{ActionResult, AmiError, SessionEvent, SessionHandle};
use std::collections::{BTreeMap, VecDeque};

use crate::ami::AmiConfig;
use crate::ami::tls::ServerTls;
use crate::control::Dialing;
use crate::metrics::Metrics;
use prometheus_client::metrics::counter::Counter;
use shared::protocol::DemoAccount;

mod figures;
mod raw;
pub use figures::{DayStore, DayStoreError};
use figures::{DayTally, LocalDays};
pub use raw::{RAW_BUFFER, RawDemand, RawFeed};

/// The least time between two refreshes of the queue counters (`queue_refresh_s`): a
/// `QueueStatus` lists every member and caller, so a server is asked at most once a second.
pub const MIN_QUEUE_REFRESH: Duration = Duration::from_secs(1);

/// The default of `queue_refresh_s`.
pub const DEFAULT_QUEUE_REFRESH: Duration = Duration::from_secs(10);

/// How often the queues' alarms are evaluated: a wait crosses its threshold with no
/// event, so they are looked at every second as well as on every change.
const ALARM_CHECK: Duration = Duration::from_secs(1);

/// `queue_refresh_s` as the relay uses it: at least [`MIN_QUEUE_REFRESH`].
pub fn queue_refresh(seconds: u64) -> Duration {
    Duration::from_secs(seconds).max(MIN_QUEUE_REFRESH)
}

/// Updates kept for browsers that are momentarily behind; one further behind gets a
/// fresh snapshot instead (a fixed cost per browser, never a growing queue).
pub const UPDATE_BUFFER: usize = 256;

/// Changes in one delta at most: a longer burst is split over several frames. The
/// pending changes are coalesced (see [`coalesce`]) when they reach it, and published
/// early only if more than three quarters remain: so a tick's delta keeps only the
/// last state of each thing however busy the server, and a burst of changes to
/// different things still costs at most a coalescing pass per quarter of the bound.
const MAX_CHANGES_PER_DELTA: usize = 4096;

/// Events held back while the model is rebuilt; past this the rebuild starts over,
/// as the rebuilt model would be too old to catch up with.
const MAX_BUFFERED_DURING_RESYNC: usize = 100_000;

/// How long to wait before a failed rebuild is tried again.
const RESYNC_RETRY: Duration = Duration::from_secs(2);

/// One Asterisk server: how the relay reaches it and who may see what on it.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub name: String,
    /// The relay's own service session (Events on): it keeps the live model.
    pub ami: AmiConfig,
    /// Event types Asterisk is asked to leave out (the model does not use them).
    pub exclude_events: Vec<String>,
    /// AMI users and their `read=` classes, copied from manager.conf. A user not
    /// listed sees `call` only.
    pub read_classes: BTreeMap<String, Classes>,
    /// Accounts the login page names (the demo's); empty for real servers.
    pub demo_accounts: Vec<DemoAccount>,
    pub dialing: Dialing,
    /// Secrets of further AMI accounts that relay accounts are mapped to (the
    /// service account's own secret is known already).
    pub ami_secrets: BTreeMap<String, String>,
    /// TLS on the AMI link; `crate::run` builds it into `ami.tls` at startup.
    pub tls: Option<ServerTls>,
    /// How often the queue counters are read again with `QueueStatus` (between the
    /// events that keep them); never below [`MIN_QUEUE_REFRESH`].
    pub queue_refresh: Duration,
    /// The queues' alarm thresholds (`[[server.queue_alarm]]`).
    pub queue_alarms: Vec<QueueThresholds>,
}

/// What Asterisk is asked not to send, by default: noisy and unused by the model.
/// `Newexten` is not among them: it is the only live event that says a channel's
/// application, data and priority. Raw readers get every event anyway (see [`raw`]).
/// `Cdr` is not among them: the call history keeps it (see [`LiveServer::send_records_to`]).
pub const DEFAULT_EXCLUDED_EVENTS: &[&str] = &["VarSet", "RTCP", "CEL"];

/// Where a server's `Cdr` events go (the call history's writer), with the server's name.
pub type RecordSink = mpsc::Sender<(Arc<str>, Message)>;

pub fn default_excluded_events() -> Vec<String> {
    DEFAULT_EXCLUDED_EVENTS
        .iter()
        .map(|e| e.to_string())
        .collect()
}

impl ServerConfig {
    /// A server named `name` reached as `ami`, every other setting at its default.
    pub fn new(name: impl Into<String>, ami: AmiConfig) -> ServerConfig {
        ServerConfig {
            name: name.into(),
            ami,
            exclude_events: default_excluded_events(),
            read_classes: BTreeMap::new(),
            demo_accounts: Vec::new(),
            dialing: Dialing::default(),
            ami_secrets: BTreeMap::new(),
            tls: None,
            queue_refresh: DEFAULT_QUEUE_REFRESH,
            queue_alarms: Vec::new(),
        }
    }

    /// The secret of AMI account `username` on this server, if the relay knows it.
    pub fn ami_secret_of(&self, username: &str) -> Option<&str> {
        if username == self.ami.username {
            Some(&self.ami.secret)
        } else {
            self.ami_secrets.get(username).map(String::as_str)
        }
    }

    /// The read classes of `username` on this server.
    pub fn read_classes_of(&self, username: &str) -> Classes {
        self.read_classes
            .get(username)
            .copied()
            .unwrap_or(Classes::CALL)
    }
}

/// A rebuild that found lists unknown before Asterisk said `FullyBooted` is tried again
/// when it does, or after this, doubling up to [`BOOT_RETRY_MAX`]: in `ami-boot.txt`
/// the boot ended 0.08-0.15 s after AMI took logins.
const BOOT_RETRY_FIRST: Duration = Duration::from_millis(250);

/// The cap of that backoff.
const BOOT_RETRY_MAX: Duration = Duration::from_secs(4);

/// How long a rebuild waits for a `FullyBooted` that never comes (an account that may
/// not read `system` events, a module load that hangs) before it publishes the model
/// without the lists still unknown; a `FullyBooted` after that rebuilds again.
const BOOT_PATIENCE: Duration = Duration::from_secs(30);

/// What a browser is told about one server, in order.
#[derive(Clone, Debug)]
pub enum Update {
    Delta(Arc<Delta>),
    Link(LinkStatus),
    /// The model was rebuilt: take a fresh snapshot.
    Rebuilt,
    /// A queue's alarm rose; for those who hear alarms (`service::policy`).
    Alarm(Arc<QueueAlarm>),
}

/// A reader's encoding of one delta for one view, of whatever type that reader sends
/// (the web layer's WebSocket frames), kept with the delta so that it is made once
/// however many readers share the view.
pub type FrameSlot = OnceLock<Box<dyn Any + Send + Sync>>;

/// One tick's changes, encoded at most once per view (see [`View`]), however many
/// browsers receive it.
#[derive(Debug)]
pub struct Delta {
    pub server: Arc<str>,
    pub seq: u64,
    pub changes: Vec<Change>,
    frames: [FrameSlot; View::COUNT],
}

impl Delta {
    /// The delta as `view` may see it, ready to serialize. One with nothing visible in
    /// it is still sent, with no changes: a browser takes a gap in `seq` for a lost
    /// frame and asks for a snapshot, so a viewer would resynchronise on every tick
    /// that only changed queues.
    pub fn visible(&self, view: View) -> impl serde::Serialize + '_ {
        let read = view.classes();
        DeltaOf {
            server: &self.server,
            seq: self.seq,
            changes: &self.changes,
            shown: move |change: &Change| change.visible_to(read),
        }
    }

    /// Where `view`'s encoding of this delta is kept.
    pub fn frame_slot(&self, view: View) -> &FrameSlot {
        &self.frames[view.0]
    }
}

/// One agent socket's view (see `shared::model::scope`): the scoped parts it last
/// sent, so that each tick sends what changed in what the agent sees. An agent's
/// deltas are made for that socket alone; the unscoped parts of the tick's changes
/// (parking, extension and device states, presence, voicemail) pass through.
pub struct AgentView {
    exten: String,
    read: Classes,
    sent: Scoped,
}

impl AgentView {
    pub fn new(exten: &str, read: Classes) -> AgentView {
        AgentView {
            exten: exten.to_owned(),
            read,
            sent: Scoped::default(),
        }
    }

    /// The agent's part of `model`, which is already seen through its read classes.
    pub fn scope(&mut self, model: ServerModel) -> ServerModel {
        self.sent = Scoped::of(&model, &self.exten);
        self.sent.clone().into_model(model)
    }

    /// The agent's delta for this tick.
    pub fn delta(&mut self, server: &LiveServer, delta: &Delta) -> ServerMessage {
        let mut now = server.with_model(|model| Scoped::of(model, &self.exten));
        if !self.read.intersects(Classes::AGENT) {
            now.queues.clear();
        }
        if !self.read.intersects(Classes::CALL) {
            now = Scoped {
                queues: now.queues,
                ..Scoped::default()
            };
        }
        let mut changes = now.changes_since(&self.sent);
        changes.extend(
            delta
                .changes
                .iter()
                .filter(|c| c.is_unscoped() && c.visible_to(self.read))
                .cloned(),
        );
        self.sent = now;
        ServerMessage::Delta {
            server: delta.server.to_string(),
            seq: delta.seq,
            changes,
        }
    }
}

/// Which parts of a model a reader sees. Only the `call` and `agent` read classes
/// decide it, so there are four views, and a delta is encoded for each at most once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct View(usize);

impl View {
    const COUNT: usize = 4;

    pub fn of(read: Classes) -> View {
        View(
            usize::from(read.intersects(Classes::CALL))
                | usize::from(read.intersects(Classes::AGENT)) << 1,
        )
    }

    fn classes(self) -> Classes {
        let call = if self.0 & 1 != 0 {
            Classes::CALL
        } else {
            Classes::NONE
        };
        let agent = if self.0 & 2 != 0 {
            Classes::AGENT
        } else {
            Classes::NONE
        };
        call.or(agent)
    }
}

/// A server's model and its bookkeeping, behind one lock.
struct Published {
    seq: u64,
    model: ServerModel,
    /// Changes applied to `model` and not yet published.
    pending: Vec<Change>,
    link: LinkStatus,
    /// The AMI version of Asterisk's banner, once the service session has read one.
    version: Option<String>,
    /// How many times the service session has logged in: a reader that saw another
    /// number missed the events of an outage.
    connects: u64,
    /// Each queue's day, across Asterisk restarts and the model's rebuilds.
    tallies: BTreeMap<String, DayTally>,
    days: LocalDays,
    /// Each queue's alarm, kept across rebuilds so that a reconnect raises none again.
    alarms: BTreeMap<String, AlarmLevel>,
}

impl Published {
    /// Fills in the day's figures and the alarm of every queue that `pending[from..]`
    /// changed, in the model and in the change.
    fn figure(&mut self, from: usize) {
        let queues = self.pending.get(from..).unwrap_or_default();
        if !queues.iter().any(|c| matches!(c, Change::Queue(_))) {
            return;
        }
        let day = self.days.day(now_ms());
        let Published {
            model,
            pending,
            tallies,
            alarms,
            ..
        } = self;
        for change in pending.iter_mut().skip(from) {
            let Change::Queue(queue) = change else {
                continue;
            };
            queue.day = tallies
                .entry(queue.name.clone())
                .or_default()
                .observe(queue, day);
            queue.alarm = alarms.get(&queue.name).copied().unwrap_or_default();
            if let Some(held) = model.queues.get_mut(&queue.name) {
                held.day = queue.day.clone();
                held.alarm = queue.alarm;
            }
        }
    }
}

/// One Asterisk server, shared by every browser and AJAM session that follows it.
pub struct LiveServer {
    pub config: ServerConfig,
    name: Arc<str>,
    /// A `std` mutex: held for an apply or a copy, never across an `.await`.
    state: Mutex<Published>,
    updates: broadcast::Sender<Update>,
    /// Raw events come from a session of their own (see [`raw`]), never from this
    /// one's filtered stream.
    raw: Arc<RawFeed>,
    /// Changes within one tick go out as one delta.
    tick: Duration,
    /// Where the queues' days are saved, if anywhere ([`LiveServer::keep_days_in`]).
    day_store: OnceLock<Arc<DayStore>>,
    metrics: Metrics,
    events_in: Counter,
    /// The call history's queue, once wired.
    records: OnceLock<RecordSink>,
    /// `Cdr` events the full history queue refused.
    records_lost: AtomicU64,
    /// Set by [`LiveServer::read_rooms`]; one stored permit, so requests coalesce.
    rooms_wanted: tokio::sync::Notify,
    /// The service session while [`LiveServer::follow`] follows it: what
    /// [`LiveServer::send_as_service`] sends on.
    service: Mutex<Option<SessionHandle>>,
}

impl LiveServer {
    /// `linger`: how long the raw feed's session stays after its last reader.
    pub fn new(
        config: ServerConfig,
        tick: Duration,
        linger: Duration,
        metrics: Metrics,
    ) -> Arc<LiveServer> {
        let (updates, _) = broadcast::channel(UPDATE_BUFFER);
        let name: Arc<str> = config.name.as_str().into();
        let raw = RawFeed::new(name.clone(), config.ami.clone(), linger);
        let events_in = metrics.events_in(&config.name);
        let link = LinkStatus {
            server: config.name.clone(),
            state: LinkState::Connecting,
            detail: None,
            events_received: 0,
        };
        Arc::new(LiveServer {
            name,
            config,
            state: Mutex::new(Published {
                seq: 0,
                model: ServerModel::default(),
                pending: Vec::new(),
                link,
                version: None,
                connects: 0,
                tallies: BTreeMap::new(),
                days: LocalDays::default(),
                alarms: BTreeMap::new(),
            }),
            updates,
            raw,
            tick: tick.max(Duration::from_millis(1)),
            day_store: OnceLock::new(),
            events_in,
            metrics,
            records: OnceLock::new(),
            records_lost: AtomicU64::new(0),
            rooms_wanted: tokio::sync::Notify::new(),
            service: Mutex::new(None),
        })
    }

    /// Sends this server's `Cdr` events to `sink` from now on (the call history). They
    /// change nothing live, so they never reach the reducer.
    pub fn send_records_to(&self, sink: RecordSink) {
        if self.records.set(sink).is_err() {
            tracing::warn!(server = %self.name, "the call history was wired twice; the first stays");
        }
    }

    /// Hands a `Cdr` to the history without waiting (a slow disk must not hold up the
    /// live model); `true` when `message` was one, which the reducer then skips.
    fn to_history(&self, message: &Message) -> bool {
        if !message
            .event_name()
            .is_some_and(|e| e.eq_ignore_ascii_case(b"Cdr"))
        {
            return false;
        }
        if let Some(sink) = self.records.get()
            && sink.try_send((self.name.clone(), message.clone())).is_err()
        {
            let lost = self.records_lost.fetch_add(1, Ordering::Relaxed) + 1;
            if lost.is_power_of_two() {
                tracing::warn!(server = %self.name, lost, "the call history's queue is full: calls were not stored");
            }
        }
        true
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Saves the queues' days in `store` from now on, and takes today's from it (what a
    /// relay before this one counted). Called once, before [`LiveServer::follow`].
    pub fn keep_days_in(&self, store: Arc<DayStore>) -> Result<(), DayStoreError> {
        let mut state = self.lock();
        let today = state.days.day(now_ms());
        state.tallies = store.load(&self.name, today)?;
        drop(state);
        // A second call keeps the first store: there is one file per relay.
        let _ = self.day_store.set(store);
        Ok(())
    }

    /// Writes the queues' days to the store, if there is one; a failure is logged (the
    /// day is still kept in memory).
    fn save_days(&self) {
        let Some(store) = self.day_store.get() else {
            return;
        };
        let tallies = self.lock().tallies.clone();
        if let Err(error) = store.save(&self.name, &tallies) {
            tracing::warn!(server = %self.name, %error, "saving the queues' day failed");
        }
    }

    /// Follows the service session until its events end or `closing` fires.
    pub fn follow(
        self: &Arc<Self>,
        session: SessionHandle,
        events: mpsc::Receiver<SessionEvent>,
        closing: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let server = self.clone();
        *server.service_slot() = Some(session.clone());
        tokio::spawn(async move {
            tokio::select! {
                () = server.run(&session, events) => {}
                () = closing.cancelled() => {}
            }
            // The session stops once no handle is left.
            server.service_slot().take();
            // The day as it stands, for the next relay.
            server.save_days();
            server.set_link(LinkState::Down, Some("the relay is shutting down".into()));
        })
    }

    async fn run(&self, session: &SessionHandle, mut events: mpsc::Receiver<SessionEvent>) {
        let mut tick = tokio::time::interval(self.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let refresh_every = self.config.queue_refresh.max(MIN_QUEUE_REFRESH);
        let mut refresh =
            tokio::time::interval_at(tokio::time::Instant::now() + refresh_every, refresh_every);
        refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut alarm_check = tokio::time::interval(ALARM_CHECK);
        alarm_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut batch = Vec::with_capacity(512);
        // The model was published before Asterisk said it had booted.
        let mut awaiting_boot = false;
        // A `ConfbridgeListRooms` asked for by `read_rooms`, in flight.
        let mut rooms: Option<futures::future::BoxFuture<'_, Result<ActionResult, AmiError>>> =
            None;
        loop {
            tokio::select! {
                received = events.recv_many(&mut batch, 512) => {
                    if received == 0 {
                        break;
                    }
                    if self.take_batch(session, &mut events, &mut batch, &mut awaiting_boot).await {
                        // The rebuild read the rooms; an answer from before it is stale.
                        rooms = None;
                    }
                }
                answer = async { rooms.as_mut().expect("guarded by is_some").await }, if rooms.is_some() => {
                    rooms = None;
                    // The session queues events before it routes a later answer: what is
                    // queued now came before this answer, so it is applied first.
                    let queued = events.len();
                    if queued > 0 {
                        events.recv_many(&mut batch, queued).await;
                        if self.take_batch(session, &mut events, &mut batch, &mut awaiting_boot).await {
                            continue;
                        }
                    }
                    match answer {
                        Ok(answer) => answer.events.iter().for_each(|item| self.apply(item)),
                        Err(error) => tracing::info!(server = %self.name, %error, "ConfbridgeListRooms refused"),
                    }
                }
                () = self.rooms_wanted.notified(), if rooms.is_none() => {
                    rooms = Some(Box::pin(session.send(Message::new().with("Action", "ConfbridgeListRooms"))));
                }
                _ = tick.tick() => self.flush(),
                _ = refresh.tick(), if self.link().state == LinkState::Up => {
                    // `None`: the link dropped; its next `Connected` rebuilds.
                    if let Some(held) = self.refresh_queues(session, &mut events).await
                        && (held.overflowed || (held.booted && awaiting_boot))
                    {
                        awaiting_boot = self
                            .resync(session, &mut events, false, true)
                            .await
                            .unwrap_or(false);
                    }
                    self.save_days();
                }
                _ = alarm_check.tick() => self.check_alarms(),
            }
        }
        self.flush();
        self.set_link(LinkState::Down, Some("the AMI session ended".into()));
    }

    /// Sends `action` on the relay's own service session and waits for its answer (the
    /// session's timeout bounds it): for what a person's AMI account may lack the class
    /// for, such as the AstDB writes of a call forward (`system`). Its events, if any,
    /// reach the model through the follower as every other event does.
    pub async fn send_as_service(&self, action: Message) -> Result<ActionResult, AmiError> {
        let session = self.service_slot().clone().ok_or(AmiError::NotConnected)?;
        session.send(action).await
    }

    fn service_slot(&self) -> MutexGuard<'_, Option<SessionHandle>> {
        self.service
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Asks the service session for `ConfbridgeListRooms` and applies its items: the
    /// only way to learn a room's lock, since ConfBridge sends no event for it
    /// (ami-session-3). `service` calls it after locking or unlocking a room; the
    /// rebuild reads the same list. Requests made while one is in flight are one.
    pub fn read_rooms(&self) {
        self.rooms_wanted.notify_one();
    }

    /// Applies a batch of the session's events; true if it rebuilt the model (the link
    /// came back, or the boot ended after a rebuild).
    async fn take_batch(
        &self,
        session: &SessionHandle,
        events: &mut mpsc::Receiver<SessionEvent>,
        batch: &mut Vec<SessionEvent>,
        awaiting_boot: &mut bool,
    ) -> bool {
        let mut reconnected = false;
        let mut booted_since = false;
        // A `FullyBooted` after the `Connected` of this batch.
        let mut booted = false;
        for event in batch.drain(..) {
            match event {
                SessionEvent::Event(message) => {
                    // The boot ended after the rebuild: build it again.
                    let fully_booted = is_fully_booted(&message);
                    booted_since |= *awaiting_boot && fully_booted;
                    booted |= fully_booted;
                    if !self.to_history(&message) {
                        self.apply(&message);
                    }
                }
                SessionEvent::Connected { version } => {
                    let mut state = self.lock();
                    state.version = Some(version);
                    state.connects += 1;
                    drop(state);
                    reconnected = true;
                    booted = false;
                }
                SessionEvent::Disconnected { reason } => {
                    self.flush();
                    self.set_link(LinkState::Down, Some(reason));
                }
            }
        }
        if !(reconnected || booted_since) {
            return false;
        }
        // Events of this batch before the Connected belong to the old link; the rebuild
        // replaces whatever they did. The filters of this link are set already unless
        // it is a new one.
        *awaiting_boot = self
            .resync(session, events, reconnected, booted)
            .await
            .unwrap_or(false);
        true
    }

    /// One event through the reducer; its changes wait for the next tick.
    fn apply(&self, message: &Message) {
        self.events_in.inc();
        let mut state = self.lock();
        state.link.events_received += 1;
        let from = state.pending.len();
        let Published { model, pending, .. } = &mut *state;
        model.apply_event(message, now_ms(), pending);
        state.figure(from);
        if state.pending.len() >= MAX_CHANGES_PER_DELTA {
            coalesce(&mut state.pending);
            if state.pending.len() > MAX_CHANGES_PER_DELTA / 4 * 3 {
                self.publish_pending(&mut state);
            }
        }
    }

    /// Reads the queue counters again (`QueueStatus`), holding the events that arrive
    /// meanwhile and applying them first: whatever came before the answer is in it, and
    /// an `AgentComplete` applied after the answer would count its call twice. Only the
    /// `QueueParams` items are taken (the counters no event carries exactly: the
    /// averages, the service level); members and callers follow their events. `None`
    /// when the link dropped, else what the hold saw: a `FullyBooted`, or too many
    /// events to keep (then the model must be rebuilt).
    /// `QueueSummary` would be lighter but says neither `Completed` nor `Abandoned`.
    async fn refresh_queues(
        &self,
        session: &SessionHandle,
        events: &mut mpsc::Receiver<SessionEvent>,
    ) -> Option<Held> {
        let mut held = Held::default();
        let status = Message::new().with("Action", "QueueStatus");
        let answer = self.holding(events, &mut held, session.send(status)).await;
        let answer = answer.and_then(|answer| self.take_queued(events, &mut held).map(|()| answer));
        for message in held.events.drain(..) {
            self.apply(&message);
        }
        let Some(answer) = answer else {
            self.flush();
            return None;
        };
        match answer {
            Ok(answer) => {
                let mut state = self.lock();
                let Published { model, pending, .. } = &mut *state;
                let from = pending.len();
                for item in answer
                    .events
                    .iter()
                    .filter(|m| m.event_name() == Some(b"QueueParams".as_slice()))
                {
                    model.apply_event(item, now_ms(), pending);
                }
                state.figure(from);
            }
            Err(error) => {
                tracing::info!(server = %self.name, %error, "refreshing the queue counters failed")
            }
        }
        Some(held)
    }

    /// Evaluates every queue's alarm ([`evaluate`]); a change goes out with the tick's
    /// delta, and a rise also as an [`Update::Alarm`].
    fn check_alarms(&self) {
        if self.config.queue_alarms.is_empty() {
            return;
        }
        let now = now_ms();
        let mut risen = Vec::new();
        let mut state = self.lock();
        let Published {
            model,
            pending,
            alarms,
            ..
        } = &mut *state;
        for thresholds in &self.config.queue_alarms {
            let Some(queue) = model.queues.get_mut(&thresholds.queue) else {
                continue;
            };
            let level = evaluate(thresholds, queue, now);
            if level == queue.alarm {
                continue;
            }
            if level > queue.alarm {
                risen.push(Arc::new(QueueAlarm::of(&self.name, queue, level, now)));
            }
            queue.alarm = level;
            alarms.insert(queue.name.clone(), level);
            pending.push(Change::Queue(queue.clone()));
        }
        drop(state);
        for alarm in risen {
            tracing::info!(server = %self.name, queue = %alarm.queue, level = alarm.level.as_str(), "queue alarm");
            let _ = self.updates.send(Update::Alarm(alarm));
        }
    }

    /// Publishes the changes of this tick, if any.
    fn flush(&self) {
        let mut state = self.lock();
        self.publish_pending(&mut state);
    }

    fn publish_pending(&self, state: &mut Published) {
        if state.pending.is_empty() {
            return;
        }
        coalesce(&mut state.pending);
        state.seq += 1;
        let delta = Delta {
            server: self.name.clone(),
            seq: state.seq,
            changes: std::mem::take(&mut state.pending),
            frames: Default::default(),
        };
        self.metrics.delta_published();
        // No subscriber is not an error: deltas only matter to open browsers.
        let _ = self.updates.send(Update::Delta(Arc::new(delta)));
    }

    /// Rebuilds the model from Asterisk's status lists, holding back the events that
    /// arrive meanwhile and applying them after; retries until it works or the link
    /// drops again (then the next `Connected` starts a new one); a `new_link` is first
    /// asked to filter events; `booted`: a `FullyBooted` came already. `None` when the link
    /// dropped; else whether the model was published before Asterisk was known to be
    /// fully booted, so that a `FullyBooted` arriving later must rebuild it again.
    ///
    /// Every wait in here, for the `Filter` answers, the lists and the pauses between
    /// tries, drains the session's events at the same time (into the bounded hold): an
    /// answer that sits behind events in the session's bounded queue would otherwise
    /// never be read while Asterisk floods (issue 21).
    ///
    /// A rebuild counts only once Asterisk is fully booted and every list it asked for
    /// was answered. AMI takes logins before app_queue and the device and presence state
    /// managers have registered their actions (`ami-boot.txt`): those lists answer
    /// `Invalid/unknown command` and the Login answer carries no `FullyBooted`, which
    /// then comes as an event once the boot ends. So a rebuild whose first answer came
    /// before any `FullyBooted` is tried again when one arrives, or after a capped
    /// backoff, with the link `resyncing`; a list still unknown after the boot (or after
    /// [`BOOT_PATIENCE`]) is unavailable: a WARN names it and `link.detail` shows it.
    async fn resync(
        &self,
        session: &SessionHandle,
        events: &mut mpsc::Receiver<SessionEvent>,
        new_link: bool,
        booted: bool,
    ) -> Option<bool> {
        self.set_link(LinkState::Resyncing, None);
        let mut held = Held {
            booted,
            ..Held::default()
        };
        if new_link {
            self.ask_to_filter(session, events, &mut held).await?;
        }
        let started = tokio::time::Instant::now();
        let mut retry = BOOT_RETRY_FIRST;
        loop {
            // What came before this try's lists is in their answers.
            self.release(&mut held);
            let rebuilt = match self.rebuild(session, events, &mut held).await? {
                Ok(rebuilt) => rebuilt,
                Err(error) => {
                    tracing::warn!(server = %self.name, %error, "rebuilding the model failed; retrying");
                    self.set_link(
                        LinkState::Resyncing,
                        Some(format!("rebuilding the model failed: {error}")),
                    );
                    self.holding(events, &mut held, tokio::time::sleep(RESYNC_RETRY))
                        .await?;
                    continue;
                }
            };
            if held.overflowed {
                tracing::warn!(server = %self.name, "too many events during the rebuild; starting over");
                continue;
            }
            let Rebuilt {
                model,
                unknown,
                booted,
            } = rebuilt;
            if booted || (unknown.is_empty() && !held.booted) {
                // Booted: what is unknown now stays unknown. Not known to be booted and
                // nothing refused: the account may not read `system` events, so no
                // `FullyBooted` may ever come; should one come, it rebuilds again.
                let detail = self.unavailable(&unknown);
                self.publish_rebuilt(model, &mut held, detail);
                return Some(!booted);
            }
            if held.booted {
                // The boot ended during this try: its early answers may be incomplete.
                continue;
            }
            if started.elapsed() >= BOOT_PATIENCE {
                let detail = self.unavailable(&unknown);
                self.publish_rebuilt(model, &mut held, detail);
                return Some(true);
            }
            let names: Vec<&str> = unknown.iter().map(|(action, _)| action.as_str()).collect();
            tracing::info!(server = %self.name, lists = ?names, "Asterisk is still booting; rebuilding again once it has");
            self.set_link(
                LinkState::Resyncing,
                Some(format!(
                    "Asterisk is still booting: {} not available yet",
                    names.join(", ")
                )),
            );
            self.wait_for_boot(events, &mut held, retry).await?;
            retry = (retry * 2).min(BOOT_RETRY_MAX);
        }
    }

    /// One pass over the status lists, every wait draining events into `held`; `None`
    /// when the link dropped.
    async fn rebuild(
        &self,
        session: &SessionHandle,
        events: &mut mpsc::Receiver<SessionEvent>,
        held: &mut Held,
    ) -> Option<Result<Rebuilt, AmiError>> {
        let mut model = ServerModel::default();
        let mut ignored = Vec::new();
        let mut unknown = Vec::new();
        let mut booted = None;
        // The rooms' participants come last, one `ConfbridgeList` per room listed. An
        // optional list is asked only if ListCommands has it: asking an Asterisk without
        // the module costs a `RequestBadFormat` security event per rebuild.
        let mut actions = resync::actions().into_iter().collect::<VecDeque<_>>();
        let mut rooms_asked = false;
        let mut listed: Option<Message> = None;
        loop {
            if actions.is_empty() && !rooms_asked {
                rooms_asked = true;
                actions.extend(resync::rooms(&model));
            }
            let Some(action) = actions.pop_front() else {
                break;
            };
            let name = action
                .get_str("Action")
                .map(|a| a.into_owned())
                .unwrap_or_default();
            if resync::OPTIONAL.contains(&name.as_str()) {
                if listed.is_none() {
                    let list = Message::new().with("Action", "ListCommands");
                    let answer = self.holding(events, held, session.send(list)).await?;
                    listed = Some(answer.map(|a| a.response).unwrap_or_default());
                }
                if listed.as_ref().is_none_or(|l| l.get(&name).is_none()) {
                    continue;
                }
            }
            let answer = self.holding(events, held, session.send(action)).await?;
            // The session queues events in the order they came, before it routes a later
            // answer: whatever is queued now came before this answer.
            self.take_queued(events, held)?;
            let booted = *booted.get_or_insert(held.booted);
            match answer {
                Ok(answer) => {
                    for item in &answer.events {
                        model.apply_event(item, now_ms(), &mut ignored);
                    }
                    ignored.clear();
                }
                // Unknown while booting is retried; unknown once booted is unavailable.
                Err(AmiError::UnknownAction { message })
                    if booted && resync::OPTIONAL.contains(&name.as_str()) =>
                {
                    tracing::debug!(server = %self.name, action = %name, %message, "optional status list unavailable");
                }
                Err(AmiError::UnknownAction { message }) => {
                    if booted {
                        tracing::warn!(server = %self.name, action = %name, %message, "status list unavailable: Asterisk does not know it");
                    }
                    unknown.push((name, message));
                }
                // The service account lacks the class: that part stays empty, for good.
                Err(AmiError::PermissionDenied { message }) => {
                    tracing::info!(server = %self.name, action = %name, %message, "status list not permitted to the service account");
                }
                Err(AmiError::ActionFailed { message, .. }) => {
                    tracing::info!(server = %self.name, action = %name, %message, "status list refused");
                }
                Err(error) => return Some(Err(error)),
            }
        }
        Some(Ok(Rebuilt {
            model,
            unknown,
            booted: booted.unwrap_or(held.booted),
        }))
    }

    /// Publishes a rebuilt model with the held events applied to it, and the link `up`.
    fn publish_rebuilt(&self, mut model: ServerModel, held: &mut Held, detail: Option<String>) {
        let mut ignored = Vec::new();
        for message in &held.events {
            model.apply_event(message, now_ms(), &mut ignored);
        }
        let count = held.events.len();
        held.events.clear();
        self.events_in.inc_by(count as u64);
        let mut state = self.lock();
        state.link.events_received += count as u64;
        // The day's figures and the alarms outlive the rebuild (an Asterisk restart).
        let day = state.days.day(now_ms());
        for queue in model.queues.values_mut() {
            let tally = state.tallies.entry(queue.name.clone()).or_default();
            queue.day = tally.observe(queue, day);
            queue.alarm = state.alarms.get(&queue.name).copied().unwrap_or_default();
        }
        state.model = model;
        state.pending.clear();
        state.seq += 1;
        drop(state);
        self.metrics.resync(&self.name);
        self.save_days();
        let _ = self.updates.send(Update::Rebuilt);
        self.set_link(LinkState::Up, detail);
        tracing::info!(server = %self.name, held = count, "model rebuilt");
    }

    /// The link's detail for lists Asterisk does not know (a WARN for each).
    fn unavailable(&self, unknown: &[(String, String)]) -> Option<String> {
        if unknown.is_empty() {
            return None;
        }
        for (action, message) in unknown {
            tracing::warn!(server = %self.name, %action, %message, "status list unavailable; that part of the model stays empty");
        }
        let names: Vec<&str> = unknown.iter().map(|(action, _)| action.as_str()).collect();
        Some(format!(
            "status lists unavailable (Invalid/unknown command): {}",
            names.join(", ")
        ))
    }

    /// Empties the hold of events that a new try makes useless (raw readers have them
    /// from the raw feed's own session).
    fn release(&self, held: &mut Held) {
        let count = held.events.len();
        held.events.clear();
        held.overflowed = false;
        self.events_in.inc_by(count as u64);
        self.lock().link.events_received += count as u64;
    }

    /// Runs `work` while holding every event that arrives; `None` when the link dropped.
    async fn holding<T>(
        &self,
        events: &mut mpsc::Receiver<SessionEvent>,
        held: &mut Held,
        work: impl Future<Output = T>,
    ) -> Option<T> {
        tokio::pin!(work);
        loop {
            tokio::select! {
                done = &mut work => return Some(done),
                event = events.recv() => self.hold(event?, held)?,
            }
        }
    }

    /// Holds events for `delay`, or until a `FullyBooted` arrives; `None` when the link dropped.
    async fn wait_for_boot(
        &self,
        events: &mut mpsc::Receiver<SessionEvent>,
        held: &mut Held,
        delay: Duration,
    ) -> Option<()> {
        let until = tokio::time::sleep(delay);
        tokio::pin!(until);
        while !held.booted {
            tokio::select! {
                () = &mut until => return Some(()),
                event = events.recv() => self.hold(event?, held)?,
            }
        }
        Some(())
    }

    /// Holds what the session has queued already, and no more (a flood never ends).
    fn take_queued(
        &self,
        events: &mut mpsc::Receiver<SessionEvent>,
        held: &mut Held,
    ) -> Option<()> {
        for _ in 0..events.len() {
            match events.try_recv() {
                Ok(event) => self.hold(event, held)?,
                Err(_) => break,
            }
        }
        Some(())
    }

    /// One event during a rebuild; `None` when the link dropped.
    fn hold(&self, event: SessionEvent, held: &mut Held) -> Option<()> {
        match event {
            SessionEvent::Event(message) => {
                held.booted |= is_fully_booted(&message);
                if self.to_history(&message) {
                    return Some(());
                }
                if held.events.len() < MAX_BUFFERED_DURING_RESYNC {
                    held.events.push(message);
                } else {
                    held.overflowed = true;
                }
            }
            SessionEvent::Connected { .. } => {}
            SessionEvent::Disconnected { reason } => {
                self.set_link(LinkState::Down, Some(reason));
                return None;
            }
        }
        Some(())
    }

    /// Asks Asterisk (AMI's `Filter` action) not to send what the model does not use.
    /// An Asterisk that refuses keeps sending them; the reducer ignores them anyway.
    /// `None` when the link dropped.
    async fn ask_to_filter(
        &self,
        session: &SessionHandle,
        events: &mut mpsc::Receiver<SessionEvent>,
        held: &mut Held,
    ) -> Option<()> {
        for event in &self.config.exclude_events {
            let filter = Message::new()
                .with("Action", "Filter")
                .with("Operation", "Add")
                .with("Filter", format!("!Event: {event}"));
            if let Err(error) = self.holding(events, held, session.send(filter)).await? {
                tracing::info!(server = %self.name, %error, event, "Asterisk did not take the event filter");
                break;
            }
        }
        Some(())
    }

    fn set_link(&self, link: LinkState, detail: Option<String>) {
        let mut state = self.lock();
        if state.link.state == link && state.link.detail == detail {
            return;
        }
        state.link.state = link;
        state.link.detail = detail;
        self.metrics.link(&self.name, link == LinkState::Up);
        let _ = self.updates.send(Update::Link(state.link.clone()));
    }

    /// Subscribes to updates; call before [`LiveServer::snapshot`] so nothing falls between.
    pub fn subscribe(&self) -> broadcast::Receiver<Update> {
        self.updates.subscribe()
    }

    /// The raw events (the event log, WaitEvent): every event, unfiltered, while
    /// someone holds a [`RawDemand`] of this feed.
    pub fn raw_feed(&self) -> &Arc<RawFeed> {
        &self.raw
    }

    /// The model as a reader with `read` classes sees it, with its `seq`. Changes not
    /// yet published go out first, so the snapshot's `seq` covers exactly what it holds.
    pub fn snapshot(&self, read: Classes) -> (u64, LinkStatus, ServerModel) {
        let mut state = self.lock();
        self.publish_pending(&mut state);
        (state.seq, state.link.clone(), state.model.visible_to(read))
    }

    pub fn link(&self) -> LinkStatus {
        self.lock().link.clone()
    }

    /// The AMI version of the last banner Asterisk sent (`11.0.0` for Asterisk 22),
    /// which the AMI proxy repeats to its clients; `None` before the first connect.
    pub fn version(&self) -> Option<String> {
        self.lock().version.clone()
    }

    /// How many times the service session has logged in since the relay started.
    pub fn connects(&self) -> u64 {
        self.lock().connects
    }

    /// A look at the whole model as it is now, without copying it.
    pub fn with_model<R>(&self, look: impl FnOnce(&ServerModel) -> R) -> R {
        look(&self.lock().model)
    }

    fn lock(&self) -> MutexGuard<'_, Published> {
        // Every update leaves the model whole before it can panic, so poison is harmless.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The events held back during a rebuild, and what they told.
#[derive(Default)]
struct Held {
    events: Vec<Message>,
    /// Some were dropped at [`MAX_BUFFERED_DURING_RESYNC`]: the try must start over.
    overflowed: bool,
    /// A `FullyBooted` arrived since the link came up.
    booted: bool,
}

/// One pass over the status lists.
struct Rebuilt {
    model: ServerModel,
    /// The lists Asterisk answered `Invalid/unknown command`, with its words.
    unknown: Vec<(String, String)>,
    /// A `FullyBooted` had arrived before the first list's answer.
    booted: bool,
}

/// Asterisk's `FullyBooted`: after a Login once booted, or as the boot ends.
fn is_fully_booted(message: &Message) -> bool {
    message
        .event_name()
        .is_some_and(|name| name.eq_ignore_ascii_case(b"FullyBooted"))
}

/// Wall-clock milliseconds since the epoch, the time base of the shared model.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> Arc<LiveServer> {
        let config = ServerConfig::new("pbx", AmiConfig::new("h:5038", "u", "s"));
        LiveServer::new(
            config,
            Duration::from_secs(3600),
            Duration::from_secs(30),
            Metrics::new(),
        )
    }

    fn newchannel(n: usize) -> Message {
        Message::new()
            .with("Event", "Newchannel")
            .with("Privilege", "call,all")
            .with("Uniqueid", format!("1.{n}"))
            .with("ChannelState", "4")
    }

    fn newstate(n: usize, state: usize) -> Message {
        Message::new()
            .with("Event", "Newstate")
            .with("Privilege", "call,all")
            .with("Uniqueid", format!("1.{n}"))
            .with("ChannelState", (state % 7).to_string())
    }

    /// The changes of every delta published so far.
    fn deltas(updates: &mut broadcast::Receiver<Update>) -> Vec<usize> {
        let mut sizes = Vec::new();
        while let Ok(update) = updates.try_recv() {
            if let Update::Delta(delta) = update {
                sizes.push(delta.changes.len());
            }
        }
        sizes
    }

    /// Lets the follower and pbxsim (same runtime, real loopback TCP) run until they
    /// wait, without moving the paused clock: yielding keeps the runtime busy, so tokio
    /// polls the sockets instead of jumping to the next timer.
    async fn settle() {
        for _ in 0..2_000 {
            tokio::task::yield_now().await;
        }
    }

    /// The queue counters are read again every `queue_refresh`, and never more than once
    /// a second whatever the setting says (N-1, N, N+1 around the floor), on a paused
    /// clock over twenty seconds.
    #[tokio::test]
    async fn queue_counters_are_read_at_the_interval_and_at_most_once_a_second() {
        for (refresh, expected) in [(0, 20), (1, 20), (2, 10), (5, 4)] {
            let pbx = testkit::Pbx::start(pbxsim::SimConfig::quiet()).await;
            let mut config = ServerConfig::new(
                "pbx",
                AmiConfig::new(pbx.addr.to_string(), "admin", "admin-secret"),
            );
            config.queue_refresh = Duration::from_secs(refresh);
            let live = LiveServer::new(
                config,
                Duration::from_millis(100),
                Duration::from_secs(30),
                Metrics::new(),
            );
            let (session, events) = crate::ami::spawn_session(live.config.ami.clone());
            let closing = CancellationToken::new();
            let following = live.follow(session, events, closing.clone());
            // Login and rebuild on the real clock; the interval on the paused one.
            let up = tokio::time::Instant::now() + Duration::from_secs(10);
            while live.link().state != LinkState::Up {
                assert!(tokio::time::Instant::now() < up, "the link never came up");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            tokio::time::pause();
            settle().await;
            let rebuilt = pbx.stats.actions("QueueStatus");
            for _ in 0..20 {
                // tokio's timers round a deadline up to the next millisecond.
                tokio::time::advance(Duration::from_millis(1_001)).await;
                settle().await;
            }
            assert_eq!(
                pbx.stats.actions("QueueStatus") - rebuilt,
                expected,
                "queue_refresh of {refresh} s"
            );
            closing.cancel();
            let _ = following.await;
            tokio::time::resume();
        }
    }

    #[test]
    fn a_burst_of_distinct_things_is_split_at_the_bound() {
        const N: usize = MAX_CHANGES_PER_DELTA;
        // Channels created, then the deltas published before the tick and at it.
        for (channels, early, at_tick) in [
            (N - 1, vec![], vec![N - 1]),
            (N, vec![N], vec![]),
            (N + 1, vec![N], vec![1]),
        ] {
            let live = server();
            let mut updates = live.subscribe();
            for n in 0..channels {
                live.apply(&newchannel(n));
            }
            assert_eq!(
                deltas(&mut updates),
                early,
                "{channels} channels, before the tick"
            );
            live.flush();
            assert_eq!(
                deltas(&mut updates),
                at_tick,
                "{channels} channels, at the tick"
            );
        }
    }

    #[test]
    fn a_tick_of_changes_to_a_few_things_is_one_delta_of_their_last_states() {
        let live = server();
        let mut updates = live.subscribe();
        for n in 0..10 {
            live.apply(&newchannel(n));
        }
        // Far more changes than one delta holds, to ten channels only.
        for round in 1..=(3 * MAX_CHANGES_PER_DELTA / 10) {
            for n in 0..10 {
                live.apply(&newstate(n, round));
            }
        }
        live.flush();
        let published: Vec<Arc<Delta>> = std::iter::from_fn(|| updates.try_recv().ok())
            .filter_map(|update| match update {
                Update::Delta(delta) => Some(delta),
                _ => None,
            })
            .collect();
        assert_eq!(published.len(), 1, "coalesced, nothing published early");
        let changes = &published[0].changes;
        assert_eq!(changes.len(), 10);
        let (model_seq, _, model) = live.snapshot(Classes::ALL);
        assert_eq!(model_seq, published[0].seq);
        let mut browser = ServerModel::default();
        for change in changes.iter().cloned() {
            browser.apply_change(change);
        }
        assert_eq!(browser, model);
    }

    /// Issue 24: `Cdr` records go to the call history, never through the reducer, also
    /// while a rebuild holds events back; a full history queue loses the record, not the
    /// live model's events.
    #[test]
    fn cdr_records_go_to_the_history_and_never_to_the_model() {
        let live = server();
        let (sink, mut records) = mpsc::channel(1);
        live.send_records_to(sink);
        let cdr = Message::new()
            .with("Event", "Cdr")
            .with("Channel", "Local/100@test-0000001b;1")
            .with("UniqueID", "1796677822.55");
        assert!(live.to_history(&cdr));
        assert!(!live.to_history(&newchannel(1)));
        let (server, record) = records.try_recv().expect("the record");
        assert_eq!(&*server, "pbx");
        assert_eq!(record, cdr);
        let mut held = Held {
            events: Vec::new(),
            overflowed: false,
            booted: false,
        };
        live.hold(SessionEvent::Event(cdr.clone()), &mut held);
        live.hold(SessionEvent::Event(newchannel(2)), &mut held);
        assert_eq!(held.events, [newchannel(2)]);
        // The queue (of one) is full now: the record is lost, and said so.
        assert!(live.to_history(&cdr));
        assert_eq!(live.records_lost.load(Ordering::Relaxed), 1);
    }
}
