//! The AMI session: login, ActionID correlation, event lists, keepalive and reconnect.
//!
//! One task owns the [`Connection`] and everything about it; callers talk to it through
//! a [`SessionHandle`] (a request plus a `oneshot` for its answer) and receive the
//! unsolicited events on a bounded channel of [`SessionEvent`]s.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::FutureExt;
use rand::Rng;
use shared::ami::{DEFAULT_MAX_MESSAGE_LEN, Message, MessageKind, is_true, md5_key};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, sleep_until, timeout};
use tracing::Instrument;

use super::connection::{AmiStream, Connection};
use super::error::AmiError;
pub use super::pending::ActionResult;
use super::pending::{PendingActions, is_error};
use super::tls::AmiTls;

/// Messages handled in one go once the socket has data, before commands and timers
/// get a look in: large enough to amortise the `select!`, small enough to stay fair.
const READ_BATCH: usize = 256;

/// Requests queued for the session task; callers wait here (within their timeout)
/// while a burst is being written.
const COMMAND_BUFFER: usize = 64;

/// How the session logs in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AuthMethod {
    /// `Login` with `Secret:` in clear text.
    #[default]
    Plain,
    /// `Challenge` with `AuthType: MD5`, then `Login` with `Key: md5(challenge + secret)`,
    /// so the secret never crosses the wire.
    Md5,
}

/// What the session does with an event when the consumer's channel is full.
///
/// The choice matters because Asterisk itself does not wait for a slow client for long:
/// when its write to a manager socket blocks longer than `writetimeout` (manager.conf,
/// 100 ms by default) it drops that client.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SlowConsumer {
    /// Stop reading the socket until the consumer catches up, with no time limit.
    /// Nothing is lost, but
    /// action answers and Pings wait behind the events, and a long stall lets TCP push
    /// back to Asterisk, which then drops the connection (the session reconnects and
    /// the consumer sees `Disconnected`, then `Connected`).
    #[default]
    Wait,
    /// Drop the event and count it ([`SessionHandle::dropped_events`]). The link stays
    /// up, but the consumer's picture may be wrong until it asks Asterisk again.
    DropNewest,
    /// Drop the connection and reconnect: the consumer sees `Disconnected` and then
    /// `Connected`, which is its cue to rebuild its state from fresh status actions.
    Resync,
}

/// Where and how to connect, and every bound the session works within.
#[derive(Clone)]
pub struct AmiConfig {
    /// `host:port` of the AMI listener, usually port 5038 (5039 with TLS).
    pub addr: String,
    /// TLS on the link (Asterisk's `tlsenable`), or plain TCP when `None`.
    pub tls: Option<AmiTls>,
    /// The manager.conf user.
    pub username: String,
    /// The user's secret.
    pub secret: String,
    /// How to prove the secret.
    pub auth: AuthMethod,
    /// The `Events:` value sent at login: `on`, `off`, or classes like `call,agent`.
    pub events: String,
    /// Bound on the TCP connect plus the banner.
    pub connect_timeout: Duration,
    /// Bound on each action's answer (login included); an async `Originate` gets its
    /// own `Timeout` added, as its `OriginateResponse` comes only after the call is
    /// answered or given up.
    pub action_timeout: Duration,
    /// How often a `Ping` is sent.
    pub ping_interval: Duration,
    /// How long after a `Ping` the link may stay silent before it is declared dead.
    pub ping_timeout: Duration,
    /// How long one write may wait for the server to take our bytes; a server that
    /// stops reading would otherwise block the session (and its Ping timer) for ever.
    /// Past it the link is dropped and reconnected ([`AmiError::WriteTimeout`]).
    pub write_timeout: Duration,
    /// First reconnect delay; it doubles after each failure.
    pub backoff_initial: Duration,
    /// Cap on the reconnect delay.
    pub backoff_max: Duration,
    /// Bound on one incoming message, in bytes.
    pub max_message_len: usize,
    /// Capacity of the event channel returned by [`spawn_session`].
    pub event_buffer: usize,
    /// What happens when that channel is full.
    pub slow_consumer: SlowConsumer,
    /// Bound on actions sent and not yet answered.
    pub max_pending: usize,
    /// Bound on the items collected for one list action; past it the caller gets
    /// [`AmiError::ListTooLong`] and the rest of the list is dropped.
    pub max_list_items: usize,
}

impl AmiConfig {
    /// A configuration with the defaults: plain login, all events, 5 s connect, 10 s
    /// actions, a Ping every 20 s with 10 s to answer, 10 s per write, reconnect from
    /// 0.5 s up to 30 s, 1 MiB messages, 4096 buffered events, [`SlowConsumer::Wait`],
    /// 1024 actions in flight, 100,000 items per list.
    pub fn new(
        addr: impl Into<String>,
        username: impl Into<String>,
        secret: impl Into<String>,
    ) -> Self {
        AmiConfig {
            addr: addr.into(),
            tls: None,
            username: username.into(),
            secret: secret.into(),
            auth: AuthMethod::Plain,
            events: "on".into(),
            connect_timeout: Duration::from_secs(5),
            action_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(20),
            ping_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            max_message_len: DEFAULT_MAX_MESSAGE_LEN,
            event_buffer: 4096,
            slow_consumer: SlowConsumer::Wait,
            max_pending: 1024,
            max_list_items: 100_000,
        }
    }
}

/// Leaves the secret out, as configurations end up in logs.
impl fmt::Debug for AmiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmiConfig")
            .field("addr", &self.addr)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("auth", &self.auth)
            .field("events", &self.events)
            .field("slow_consumer", &self.slow_consumer)
            .finish_non_exhaustive()
    }
}

/// What the session tells its consumer.
#[derive(Clone, Debug)]
pub enum SessionEvent {
    /// Logged in; `version` is the AMI version from the banner. After a reconnect the
    /// consumer should rebuild its state, as events were missed while down.
    Connected {
        /// AMI protocol version, `11.0.0` for Asterisk 22.
        version: String,
    },
    /// The link failed or could not be set up; the session retries after a backoff.
    Disconnected {
        /// Human-readable cause.
        reason: String,
    },
    /// An event nobody asked for (list items and a caller's own `OriginateResponse` go
    /// to that caller instead).
    Event(Message),
}

/// State shared by the handles and the task.
#[derive(Debug)]
struct Shared {
    /// Random per session: Asterisk sends `OriginateResponse` to every session that may
    /// read `call`, with the originating session's ActionID, so ids must not collide
    /// across connections or relays.
    id_prefix: String,
    next_id: AtomicU64,
    dropped_events: AtomicU64,
    action_timeout: Duration,
}

/// A request for the session task.
struct Command {
    action: Message,
    id: Vec<u8>,
    /// Complete an `Async: true` Originate at its `OriginateResponse`, not its response.
    await_originate: bool,
    reply: oneshot::Sender<Result<ActionResult, AmiError>>,
}

/// Sends actions on a session. Cheap to clone; the session stops once every handle
/// and the event receiver are gone.
#[derive(Clone, Debug)]
pub struct SessionHandle {
    commands: mpsc::Sender<Command>,
    shared: Arc<Shared>,
}

impl SessionHandle {
    /// Sends `action` and waits for its complete answer: the response, plus the list
    /// events or the `OriginateResponse` it started. Adds an `ActionID` if missing.
    /// An error response becomes the matching [`AmiError`] with Asterisk's text.
    pub async fn send(&self, action: Message) -> Result<ActionResult, AmiError> {
        self.submit(action, true).await
    }

    /// [`SessionHandle::send`], except that an `Async: true` Originate completes at its
    /// response, as Asterisk answers it: its `OriginateResponse` is left to whoever reads
    /// events (an AJAM client picks it up with WaitEvent).
    pub async fn send_until_response(&self, action: Message) -> Result<ActionResult, AmiError> {
        self.submit(action, false).await
    }

    async fn submit(
        &self,
        mut action: Message,
        await_originate: bool,
    ) -> Result<ActionResult, AmiError> {
        let id = match action.action_id() {
            Some(id) => id.to_vec(),
            None => {
                let n = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
                let id = format!("{}-{n}", self.shared.id_prefix);
                action.push("ActionID", &id);
                id.into_bytes()
            }
        };
        let originate = if await_originate {
            originate_wait(&action).unwrap_or_default()
        } else {
            Duration::ZERO
        };
        let limit = self.shared.action_timeout + originate;
        let (reply, answer) = oneshot::channel();
        let exchange = async {
            self.commands
                .send(Command {
                    action,
                    id,
                    await_originate,
                    reply,
                })
                .await
                .map_err(|_| AmiError::SessionStopped)?;
            answer.await.map_err(|_| AmiError::SessionStopped)?
        };
        timeout(limit, exchange)
            .await
            .map_err(|_| AmiError::Timeout(limit))?
    }

    /// Events dropped so far under [`SlowConsumer::DropNewest`].
    pub fn dropped_events(&self) -> u64 {
        self.shared.dropped_events.load(Ordering::Relaxed)
    }
}

/// For an `Async: true` Originate, how long its `OriginateResponse` may take: the
/// action's `Timeout` (milliseconds, Asterisk's default 30 s).
fn originate_wait(action: &Message) -> Option<Duration> {
    if !is_async_originate(action) {
        return None;
    }
    let millis = action
        .get_str("Timeout")
        .and_then(|t| t.trim().parse::<u64>().ok())
        .unwrap_or(30_000);
    Some(Duration::from_millis(millis))
}

fn is_async_originate(action: &Message) -> bool {
    action
        .get("Action")
        .is_some_and(|a| a.eq_ignore_ascii_case(b"Originate"))
        && action.get("Async").is_some_and(is_true)
}

/// Starts a background task that connects, logs in, keeps the link alive and reconnects for
/// ever (until the handle and receiver are dropped). Failures, a refused login included,
/// are reported as [`SessionEvent::Disconnected`] and retried: right for a service
/// account that must come back by itself when Asterisk does.
pub fn spawn_session(config: AmiConfig) -> (SessionHandle, mpsc::Receiver<SessionEvent>) {
    let (handle, session, events) = Session::new(config);
    let span = session.span();
    tokio::spawn(session.run(None).instrument(span));
    (handle, events)
}

/// Connects and logs in once, on the caller's task, and only then starts the session
/// task (which reconnects like [`spawn_session`]'s from then on). A person logging in
/// must hear at once, in Asterisk's words, that the secret is wrong or the PBX is
/// unreachable; retrying a refused login would only hide that.
///
/// The first [`SessionEvent`] on the receiver is the `Connected` of this login.
pub async fn connect_session(
    config: AmiConfig,
) -> Result<(SessionHandle, mpsc::Receiver<SessionEvent>), AmiError> {
    let (handle, mut session, events) = Session::new(config);
    let span = session.span();
    let conn = session.connect().instrument(span.clone()).await?;
    tokio::spawn(session.run(Some(conn)).instrument(span));
    Ok((handle, events))
}

/// The session task's state.
struct Session {
    config: AmiConfig,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<SessionEvent>,
    shared: Arc<Shared>,
}

impl Session {
    fn new(config: AmiConfig) -> (SessionHandle, Session, mpsc::Receiver<SessionEvent>) {
        let (commands_tx, commands) = mpsc::channel(COMMAND_BUFFER);
        let (events, events_rx) = mpsc::channel(config.event_buffer.max(1));
        let shared = Arc::new(Shared {
            id_prefix: format!("ap{:08x}", rand::rng().random::<u32>()),
            next_id: AtomicU64::new(1),
            dropped_events: AtomicU64::new(0),
            action_timeout: config.action_timeout,
        });
        let handle = SessionHandle {
            commands: commands_tx,
            shared: shared.clone(),
        };
        let session = Session {
            config,
            commands,
            events,
            shared,
        };
        (handle, session, events_rx)
    }

    fn span(&self) -> tracing::Span {
        tracing::info_span!("ami", addr = %self.config.addr, user = %self.config.username)
    }

    /// Runs the session, starting on `first` if the caller already logged in.
    async fn run(mut self, mut first: Option<Connection<AmiStream>>) {
        let mut backoff = self.config.backoff_initial;
        loop {
            let attempt = match first.take() {
                Some(conn) => Ok(conn),
                None => self.connect().await,
            };
            let failure = match attempt {
                Ok(mut conn) => {
                    backoff = self.config.backoff_initial;
                    tracing::info!(version = conn.version(), "AMI logged in");
                    let version = conn.version().to_owned();
                    self.notify(SessionEvent::Connected { version }).await;
                    match self.serve(&mut conn).await {
                        Some(error) => error,
                        None => return,
                    }
                }
                Err(error) => error,
            };
            if self.stopped() {
                return;
            }
            tracing::warn!(error = %failure, "AMI link down");
            self.notify(SessionEvent::Disconnected {
                reason: failure.to_string(),
            })
            .await;
            // A refused login will be refused again: callers learn why, typed.
            let refused = match &failure {
                AmiError::AuthenticationFailed { message } => Some(message.clone()),
                _ => None,
            };
            let delay = jitter(backoff);
            backoff = (backoff * 2).min(self.config.backoff_max);
            if !self.idle(delay, refused).await {
                return;
            }
        }
    }

    /// True once nobody can send actions or read events any more.
    fn stopped(&self) -> bool {
        self.commands.is_closed() && self.events.is_closed()
    }

    /// Delivers a link notice; these are never dropped, whatever the policy.
    async fn notify(&self, event: SessionEvent) {
        // A closed receiver only means nobody listens.
        let _ = self.events.send(event).await;
    }

    /// Waits out a backoff delay, refusing actions meanwhile (with the login's refusal
    /// if that is why the link is down); false if the session should stop.
    async fn idle(&mut self, delay: Duration, refused: Option<String>) -> bool {
        let until = Instant::now() + delay;
        loop {
            tokio::select! {
                () = sleep_until(until) => return true,
                command = self.commands.recv() => match command {
                    Some(command) => {
                        let error = match &refused {
                            Some(message) => AmiError::AuthenticationFailed { message: message.clone() },
                            None => AmiError::NotConnected,
                        };
                        let _ = command.reply.send(Err(error));
                    }
                    None if self.events.is_closed() => return false,
                    None => {
                        sleep_until(until).await;
                        return true;
                    }
                },
                () = self.events.closed(), if self.commands.is_closed() => return false,
            }
        }
    }

    async fn connect(&mut self) -> Result<Connection<AmiStream>, AmiError> {
        let config = &self.config;
        let mut conn = Connection::connect(
            &config.addr,
            config.tls.as_ref(),
            config.connect_timeout,
            config.max_message_len,
        )
        .await?
        .with_write_timeout(config.write_timeout);
        let limit = config.action_timeout;
        timeout(limit, self.login(&mut conn))
            .await
            .map_err(|_| AmiError::Timeout(limit))??;
        Ok(conn)
    }

    async fn login(&self, conn: &mut Connection<AmiStream>) -> Result<(), AmiError> {
        let config = &self.config;
        let mut login = Message::new()
            .with("Action", "Login")
            .with("Username", &config.username);
        match config.auth {
            AuthMethod::Plain => login.push("Secret", &config.secret),
            AuthMethod::Md5 => {
                let challenge = Message::new()
                    .with("Action", "Challenge")
                    .with("AuthType", "MD5");
                let answer = self.exchange(conn, challenge, "login-challenge").await?;
                let challenge = answer.get("Challenge").unwrap_or_default();
                let key = md5_key(challenge, config.secret.as_bytes());
                login.push("AuthType", "MD5");
                login.push("Key", key);
            }
        }
        login.push("Events", &config.events);
        self.exchange(conn, login, "login").await.map(drop)
    }

    /// Sends one action before the session is up and waits for its response.
    async fn exchange(
        &self,
        conn: &mut Connection<AmiStream>,
        action: Message,
        tag: &str,
    ) -> Result<Message, AmiError> {
        let id = format!("{}-{tag}", self.shared.id_prefix);
        conn.send(&action.with("ActionID", &id)).await?;
        loop {
            let message = conn.read().await?;
            if message.kind() == MessageKind::Response && message.action_id() == Some(id.as_bytes())
            {
                return if is_error(&message) {
                    Err(AmiError::from_response(message))
                } else {
                    Ok(message)
                };
            }
            tracing::debug!(?message, "AMI message before login completed");
        }
    }

    /// Runs a logged-in connection until it fails (`Some`) or the session should stop (`None`).
    async fn serve(&mut self, conn: &mut Connection<AmiStream>) -> Option<AmiError> {
        let mut pending = PendingActions::new(self.config.max_pending, self.config.max_list_items);
        let failure = self.serve_loop(conn, &mut pending).await;
        pending.fail_all(|| AmiError::Disconnected);
        if failure.is_none() {
            // Nobody uses the session any more: say goodbye, as a well-behaved manager
            // client does, instead of leaving Asterisk to notice the closed socket.
            let id = format!("{}-logoff", self.shared.id_prefix);
            let logoff = Message::new().with("Action", "Logoff").with("ActionID", id);
            if let Err(error) = conn.send(&logoff).await {
                tracing::debug!(%error, "Logoff not sent");
            }
        }
        failure
    }

    async fn serve_loop(
        &mut self,
        conn: &mut Connection<AmiStream>,
        pending: &mut PendingActions,
    ) -> Option<AmiError> {
        let interval = self.config.ping_interval;
        let mut next_ping = Instant::now() + interval;
        // Set when a Ping went out and nothing has arrived since.
        let mut silent_since_ping: Option<Instant> = None;
        let mut ping_n = 0_u64;
        // One timer for both the next Ping and the dead-link deadline, re-armed only when
        // it fires: registering a timer per message would cost more than parsing it.
        let timer = sleep_until(next_ping);
        tokio::pin!(timer);
        loop {
            tokio::select! {
                read = conn.read() => {
                    silent_since_ping = None;
                    let mut read = read;
                    // Handle what is already buffered before polling the other branches,
                    // up to READ_BATCH messages. The budget is checked before the next
                    // read, never after it: a message taken from the socket is always
                    // dispatched.
                    let mut handled = 0;
                    loop {
                        let message = match read {
                            Ok(message) => message,
                            Err(error) => return Some(error),
                        };
                        if let Err(error) = self.dispatch(message, pending).await {
                            return Some(error);
                        }
                        handled += 1;
                        if handled == READ_BATCH {
                            break;
                        }
                        match conn.read().now_or_never() {
                            Some(next) => read = next,
                            None => break,
                        }
                    }
                }
                command = self.commands.recv(), if !self.commands.is_closed() => match command {
                    Some(command) => {
                        if let Err(error) = self.start(conn, command, pending).await {
                            return Some(error);
                        }
                    }
                    None if self.events.is_closed() => return None,
                    None => {}
                },
                () = self.events.closed(), if self.commands.is_closed() => return None,
                () = &mut timer => {
                    let now = Instant::now();
                    if silent_since_ping.is_some_and(|sent| now >= sent + self.config.ping_timeout) {
                        return Some(AmiError::LinkDead(self.config.ping_timeout));
                    }
                    if now >= next_ping {
                        ping_n += 1;
                        let id = format!("{}-ping-{ping_n}", self.shared.id_prefix);
                        let ping = Message::new().with("Action", "Ping").with("ActionID", id);
                        if let Err(error) = conn.send(&ping).await {
                            return Some(error);
                        }
                        silent_since_ping.get_or_insert(now);
                        next_ping = now + interval;
                        pending.sweep();
                    }
                    let dead_at = silent_since_ping.map(|sent| sent + self.config.ping_timeout);
                    timer.as_mut().reset(dead_at.map_or(next_ping, |dead| dead.min(next_ping)));
                }
            }
        }
    }

    /// Registers and writes one caller's action.
    async fn start(
        &self,
        conn: &mut Connection<AmiStream>,
        command: Command,
        pending: &mut PendingActions,
    ) -> Result<(), AmiError> {
        if let Err(refusal) = pending.admit(&command.id) {
            let _ = command.reply.send(Err(refusal));
            return Ok(());
        }
        if let Err(error) = conn.send(&command.action).await {
            let _ = command.reply.send(Err(AmiError::Disconnected));
            return Err(error);
        }
        tracing::debug!(
            action = %command.action.get_str("Action").unwrap_or_default(),
            id = %String::from_utf8_lossy(&command.id),
            "AMI action sent"
        );
        let originate = command.await_originate && is_async_originate(&command.action);
        pending.insert(command.id, command.reply, originate);
        Ok(())
    }

    /// Routes one incoming message to the action it answers, or to the consumer.
    async fn dispatch(
        &self,
        message: Message,
        pending: &mut PendingActions,
    ) -> Result<(), AmiError> {
        match message.kind() {
            MessageKind::Event => match pending.on_event(message) {
                Some(unsolicited) => self.deliver(unsolicited).await,
                None => Ok(()),
            },
            MessageKind::Response | MessageKind::CommandOutput => {
                pending.on_response(message);
                Ok(())
            }
            MessageKind::Action | MessageKind::Unknown => {
                tracing::debug!(
                    ?message,
                    "ignored an AMI message that is neither response nor event"
                );
                Ok(())
            }
        }
    }

    /// Hands an unsolicited event to the consumer, following the slow-consumer policy.
    async fn deliver(&self, message: Message) -> Result<(), AmiError> {
        let event = SessionEvent::Event(message);
        let full = match self.events.try_send(event) {
            Ok(()) | Err(TrySendError::Closed(_)) => return Ok(()),
            Err(TrySendError::Full(event)) => event,
        };
        match self.config.slow_consumer {
            SlowConsumer::Wait => {
                // Err means the receiver went away meanwhile: nobody to deliver to.
                let _ = self.events.send(full).await;
                Ok(())
            }
            SlowConsumer::DropNewest => {
                let dropped = self.shared.dropped_events.fetch_add(1, Ordering::Relaxed) + 1;
                if dropped.is_power_of_two() {
                    tracing::warn!(dropped, "AMI event consumer too slow; dropping events");
                }
                Ok(())
            }
            SlowConsumer::Resync => Err(AmiError::ConsumerTooSlow(self.events.max_capacity())),
        }
    }
}

/// Full jitter on the upper half: a random delay in `[base/2, base]`, so a fleet of
/// relays restarted together does not reconnect in lockstep.
fn jitter(base: Duration) -> Duration {
    let half = base / 2;
    half + half.mul_f64(rand::rng().random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn async_originate_is_recognised_the_way_asterisk_reads_booleans() {
        let originate = |async_value: &str| {
            Message::new()
                .with("action", "originate")
                .with("Async", async_value)
        };
        for yes in ["true", "Yes", "1", "on", "t", " y "] {
            assert!(is_async_originate(&originate(yes)), "{yes}");
        }
        for no in ["false", "no", "0", ""] {
            assert!(!is_async_originate(&originate(no)), "{no}");
        }
        assert!(!is_async_originate(
            &Message::new().with("Action", "Ping").with("Async", "true")
        ));
    }

    #[test]
    fn async_originate_waits_its_own_timeout_on_top() {
        let action = Message::new()
            .with("Action", "Originate")
            .with("Async", "yes");
        assert_eq!(originate_wait(&action), Some(Duration::from_secs(30)));
        let action = action.with("Timeout", "5000");
        assert_eq!(originate_wait(&action), Some(Duration::from_secs(5)));
        assert_eq!(
            originate_wait(&Message::new().with("Action", "Originate")),
            None
        );
    }

    #[test]
    fn jitter_stays_in_the_upper_half() {
        let base = Duration::from_millis(800);
        for _ in 0..100 {
            let delay = jitter(base);
            assert!(delay >= base / 2 && delay <= base, "{delay:?}");
        }
    }
}
