//! One downstream AMI client, in Asterisk's own dialogue: the banner, `Challenge` and
//! `Login` (plain or MD5), then actions answered in order with the client's own
//! ActionIDs, and events through its read classes, its `Events` mask and its filters.
//!
//! Three tasks serve a client: this connection's loop (reads, events, answers, the
//! link), a runner that takes its actions one at a time (as Asterisk runs one
//! session's actions, so answers keep their order and an action without ActionID
//! is answered in turn) and a writer with a bounded queue. A client that lets the
//! queue fill gets a drop marker and is disconnected; nobody else waits for it.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use shared::ami::{Classes, Frame, Message, Parser, is_true};
use shared::protocol::{AuditVia, LinkState};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio_util::sync::CancellationToken;

use super::{DEFAULT_VERSION, Proxy};
use crate::service::{AUTHENTICATION_FAILED, AmiOutcome, Caller, Login, LoginError};
use crate::sync::lock;
use shared::ami::filter::{self, Filter};

/// The longest message a client may send.
const MAX_MESSAGE: usize = 64 * 1024;
/// Asterisk's `authtimeout`: a connection that has not logged in by then is closed.
const AUTH_TIMEOUT: Duration = Duration::from_secs(30);
/// Actions one client may have waiting for their turn; more are answered with an error.
const ACTION_QUEUE: usize = 64;
/// `Async: true` Originates of one client whose `OriginateResponse` is still awaited.
const MAX_ORIGINATES: usize = 256;
/// How often a client's loop looks at the upstream link.
const LINK_CHECK: Duration = Duration::from_secs(1);
/// How long a slow client's write in progress, then its drop marker, may take.
const DROP_GRACE: Duration = Duration::from_secs(1);
/// What a batch of queued messages may add up to in one write.
const WRITE_BATCH: usize = 64 * 1024;

/// Serves one client on `io` until it logs off, its login ends, the link comes back
/// after an outage (so that it reconnects and reads its state again, as after an
/// Asterisk restart), it is too slow, or `closing` fires.
pub async fn run<S>(io: S, client: IpAddr, proxy: &Arc<Proxy>, closing: &CancellationToken)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut reader, writer) = tokio::io::split(io);
    let (sender, queue) = mpsc::channel(proxy.config.queue.max(1));
    let overflow = CancellationToken::new();
    let writing = tokio::spawn(write_loop(
        writer,
        queue,
        overflow.clone(),
        proxy.config.write_timeout,
    ));
    let out = Out { sender, overflow };
    let version = proxy
        .default_server()
        .and_then(|name| proxy.service.server(&name).and_then(|s| s.version()))
        .unwrap_or_else(|| DEFAULT_VERSION.to_owned());
    out.bytes(Bytes::from(format!("Asterisk Call Manager/{version}\r\n")));
    let mut input = Input {
        parser: Parser::with_max_len(MAX_MESSAGE),
        buffer: BytesMut::with_capacity(4096),
    };
    let caller = Caller {
        client,
        via: AuditVia::Ami,
    };
    let logged_in = tokio::select! {
        done = tokio::time::timeout(AUTH_TIMEOUT, greet(&mut reader, &mut input, &out, proxy, caller)) => done.ok().flatten(),
        () = closing.cancelled() => None,
    };
    if let Some((login, mask)) = logged_in {
        let client = Client {
            out,
            mask,
            filters: Vec::new(),
            originates: Arc::default(),
        };
        client
            .serve(reader, input, proxy, login, caller, closing)
            .await;
    } else {
        drop(out);
    }
    // The writer ends once it wrote what is queued, or its writes time out.
    let _ = writing.await;
}

/// The bytes a client sent and the parser over them.
struct Input {
    parser: Parser,
    buffer: BytesMut,
}

impl Input {
    /// The next message, reading as needed; `None` when the client is gone. A message
    /// that cannot be read is skipped, as Asterisk skips it.
    async fn next<R: AsyncRead + Unpin>(&mut self, reader: &mut R) -> Option<Message> {
        loop {
            while let Some(frame) = self.parser.next_frame(&mut self.buffer) {
                match frame {
                    Frame::Message(message) => return Some(message),
                    Frame::Invalid(error) => tracing::debug!(%error, "AMI proxy: bad message"),
                    Frame::Banner(_) => {}
                }
            }
            match reader.read_buf(&mut self.buffer).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }
}

/// The client's write queue.
struct Out {
    sender: mpsc::Sender<Bytes>,
    /// Fired when the queue is full: the writer sends the drop marker and closes.
    overflow: CancellationToken,
}

impl Out {
    /// Queues a message; false when the client is too slow (it is being dropped) or gone.
    fn send(&self, message: &Message) -> bool {
        self.bytes(message.to_bytes())
    }

    fn bytes(&self, bytes: Bytes) -> bool {
        match self.sender.try_send(bytes) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                self.overflow.cancel();
                false
            }
            Err(TrySendError::Closed(_)) => false,
        }
    }
}

/// What a client reads when it is dropped for reading too slowly (an event of
/// AstPanel's own; Asterisk would let its queue grow, or drop the client silently).
fn drop_marker() -> Message {
    Message::new()
        .with("Event", "AstPanelEventsDropped")
        .with("Privilege", "system,all")
        .with(
            "Message",
            "This client read too slowly; events were dropped and the connection is closed. Reconnect.",
        )
}

async fn write_loop<W: AsyncWrite + Unpin>(
    mut writer: W,
    mut queue: mpsc::Receiver<Bytes>,
    overflow: CancellationToken,
    limit: Duration,
) {
    let mut batch = BytesMut::new();
    loop {
        let first = tokio::select! {
            biased;
            () = overflow.cancelled() => {
                let marker = drop_marker().to_bytes();
                let _ = tokio::time::timeout(DROP_GRACE, writer.write_all(&marker)).await;
                break;
            }
            next = queue.recv() => match next {
                Some(bytes) => bytes,
                None => break,
            },
        };
        batch.clear();
        batch.extend_from_slice(&first);
        while batch.len() < WRITE_BATCH {
            match queue.try_recv() {
                Ok(bytes) => batch.extend_from_slice(&bytes),
                Err(_) => break,
            }
        }
        let write = tokio::time::timeout(limit, writer.write_all(&batch));
        tokio::pin!(write);
        let written = tokio::select! {
            biased;
            written = &mut write => written.ok(),
            // Too slow: what is being written gets a short grace, then the marker.
            () = overflow.cancelled() => tokio::time::timeout(DROP_GRACE, &mut write).await.ok().and_then(Result::ok),
        };
        if !matches!(written, Some(Ok(()))) {
            break;
        }
    }
    let _ = tokio::time::timeout(DROP_GRACE, writer.shutdown()).await;
}

/// `Response: <kind>`, then the ActionID if the client gave one: Asterisk's order.
fn response(kind: &str, id: Option<&[u8]>) -> Message {
    let message = Message::new().with("Response", kind);
    match id {
        Some(id) => message.with("ActionID", id),
        None => message,
    }
}

fn error(id: Option<&[u8]>, words: &str) -> Message {
    response("Error", id).with("Message", words)
}

fn name_of(action: &Message) -> Option<String> {
    action
        .get_str("Action")
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
}

/// The answer to `Challenge`, and the challenge to remember.
fn challenge(action: &Message, id: Option<&[u8]>) -> (Message, Option<String>) {
    let md5 = action
        .get_str("AuthType")
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("md5"));
    if !md5 {
        return (error(id, "Must specify AuthType"), None);
    }
    let challenge = rand::random::<u32>().to_string();
    (
        response("Success", id).with("Challenge", &challenge),
        Some(challenge),
    )
}

/// `Events:` of a Login and `EventMask:` of the Events action, as `set_eventmask`
/// reads them: on (every class), off (none), or a list of classes.
fn event_mask(value: &str) -> Classes {
    let value = value.trim();
    if is_true(value.as_bytes()) {
        Classes::ALL
    } else if ["off", "no", "false", "n", "f", "0"]
        .iter()
        .any(|word| value.eq_ignore_ascii_case(word))
    {
        Classes::NONE
    } else {
        Classes::parse(value)
    }
}

/// Until a successful `Login`: Asterisk answers anything else `Permission denied`
/// and closes after a failed login (a second late, which the service waits).
async fn greet<R: AsyncRead + Unpin>(
    reader: &mut R,
    input: &mut Input,
    out: &Out,
    proxy: &Proxy,
    caller: Caller,
) -> Option<(Login, Classes)> {
    let mut issued: Option<String> = None;
    loop {
        let action = input.next(reader).await?;
        let id = action.action_id();
        let Some(name) = name_of(&action) else {
            out.send(&error(id, "Missing action in request"));
            continue;
        };
        match name.as_str() {
            "challenge" => {
                let (answer, challenge) = challenge(&action, id);
                issued = challenge.or(issued);
                out.send(&answer);
            }
            "logoff" => {
                out.send(&goodbye(id));
                return None;
            }
            "login" => {
                let login = log_in(&action, issued.as_deref(), proxy, caller).await;
                return match login {
                    Ok(login) => {
                        let mask = action
                            .get_str("Events")
                            .map_or(Classes::ALL, |value| event_mask(&value));
                        out.send(
                            &response("Success", id).with("Message", "Authentication accepted"),
                        );
                        let read = login.read();
                        if !mask.is_empty() && read.contains(Classes::SYSTEM) {
                            let uptime = proxy.started.elapsed().as_secs().to_string();
                            out.send(
                                &Message::new()
                                    .with("Event", "FullyBooted")
                                    .with("Privilege", "system,all")
                                    .with("Uptime", &uptime)
                                    .with("LastReload", &uptime)
                                    .with("Status", "Fully Booted"),
                            );
                        }
                        Some((login, mask))
                    }
                    Err(words) => {
                        out.send(&error(id, &words));
                        None
                    }
                };
            }
            _ => {
                out.send(&error(id, "Permission denied"));
            }
        }
    }
}

/// A `Login` through the service; on failure, the words to answer (Asterisk's
/// `Authentication failed` for every refusal, so the answer tells nothing more).
async fn log_in(
    action: &Message,
    challenge: Option<&str>,
    proxy: &Proxy,
    caller: Caller,
) -> Result<Login, String> {
    let username = action.get_str("Username").unwrap_or_default();
    let server = match action.get_str("Server") {
        Some(server) => server.trim().to_owned(),
        None => proxy.default_server().unwrap_or_default(),
    };
    let md5 = action
        .get_str("AuthType")
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("md5"));
    let service = &proxy.service;
    let result = if md5 {
        let key = action.get_str("Key").unwrap_or_default();
        service
            .login_ami_proxy_md5(
                &server,
                &username,
                (challenge.unwrap_or_default(), &key),
                caller,
            )
            .await
    } else {
        let secret = action.get_str("Secret").unwrap_or_default();
        service
            .login_ami_proxy(&server, &username, &secret, caller)
            .await
    };
    result.map_err(|error| match error {
        LoginError::Unreachable(why) => format!("AstPanel cannot reach the PBX: {why}"),
        LoginError::TooManyTokens => error.to_string(),
        _ => AUTHENTICATION_FAILED.to_owned(),
    })
}

fn goodbye(id: Option<&[u8]>) -> Message {
    response("Goodbye", id).with("Message", "Thanks for all the fish.")
}

/// `Async: true` Originates in flight: the relay's ActionID and the client's (if any).
type Originates = Arc<Mutex<VecDeque<(Vec<u8>, Option<Vec<u8>>)>>>;

/// What the runner hands the connection's loop, in the order the client must see it.
enum Step {
    /// Answers to write.
    Send(Vec<Message>),
    /// The `Events` action changed the mask.
    Mask(Classes),
    /// The `Filter` action added a rule.
    Filter(Box<Filter>),
    /// `Logoff`: write what came before, then close.
    Close,
}

/// A logged-in client's own state.
struct Client {
    out: Out,
    mask: Classes,
    filters: Vec<Filter>,
    originates: Originates,
}

impl Client {
    async fn serve<R: AsyncRead + Unpin>(
        mut self,
        mut reader: R,
        mut input: Input,
        proxy: &Arc<Proxy>,
        login: Login,
        caller: Caller,
        closing: &CancellationToken,
    ) {
        // The service says what may be read: read classes, and an agent's own calls.
        let mut events = proxy.service.proxy_events(&login);
        let (actions, queued) = mpsc::channel::<Message>(ACTION_QUEUE);
        let (steps_in, mut steps) = mpsc::channel::<Step>(ACTION_QUEUE);
        let runner = tokio::spawn(run_actions(
            proxy.clone(),
            login.clone(),
            caller,
            queued,
            steps_in,
            self.originates.clone(),
        ));
        let mut link_check = tokio::time::interval(LINK_CHECK);
        link_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let connects = login.server().connects();
        loop {
            tokio::select! {
                read = input.next(&mut reader) => match read {
                    Some(action) => {
                        if let Err(TrySendError::Full(action)) = actions.try_send(action)
                            && !self.out.send(&error(
                                action.action_id(),
                                "Too many actions waiting on this connection",
                            ))
                        {
                            break;
                        }
                    }
                    None => break,
                },
                step = steps.recv() => match step {
                    Some(Step::Send(messages)) => {
                        if !messages.iter().all(|m| self.out.send(m)) {
                            break;
                        }
                    }
                    Some(Step::Mask(mask)) => self.mask = mask,
                    Some(Step::Filter(rule)) => self.filters.push(*rule),
                    Some(Step::Close) | None => break,
                },
                event = events.recv() => match event {
                    Ok(event) => {
                        if let Some(event) = self.deliverable(event)
                            && !self.out.send(&event)
                        {
                            break;
                        }
                    }
                    // This loop only queues, so a lag means its queue was full too.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        self.out.overflow.cancel();
                        break;
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                },
                _ = link_check.tick() => {
                    // The link came back since this client logged in: it missed the
                    // events of the outage, so it is closed, to reconnect and read its
                    // state again, as it does after an Asterisk restart.
                    if login.server().connects() != connects {
                        break;
                    }
                }
                () = login.ended() => break,
                () = closing.cancelled() => break,
            }
        }
        runner.abort();
    }

    /// `event` as this client may read it: its `Events` mask and filters, and an
    /// `OriginateResponse` only for its own Originate, with its own ActionID.
    fn deliverable(&self, event: Message) -> Option<Message> {
        if self.mask.is_empty() || !self.mask.reads(&event) {
            return None;
        }
        let event = if event
            .event_name()
            .is_some_and(|name| name.eq_ignore_ascii_case(b"OriginateResponse"))
        {
            let id = event.action_id()?;
            let mut originates = lock(&self.originates);
            let at = originates.iter().position(|(ours, _)| ours == id)?;
            let (_, theirs) = originates.remove(at)?;
            drop(originates);
            with_action_id(&event, theirs.as_deref())
        } else {
            event
        };
        filter::passes(&self.filters, &event).then_some(event)
    }
}

fn is_up(state: LinkState) -> bool {
    matches!(state, LinkState::Up | LinkState::Resyncing)
}

/// `message` with its ActionID replaced in place by `id`, or removed without one.
fn with_action_id(message: &Message, id: Option<&[u8]>) -> Message {
    let mut out = Message::new();
    for (key, value) in message.headers() {
        let key = String::from_utf8_lossy(key);
        if key.eq_ignore_ascii_case("ActionID") {
            if let Some(id) = id {
                out.push("ActionID", id);
            }
        } else {
            out.push(&key, value);
        }
    }
    out
}

/// Takes a client's actions one at a time, as Asterisk runs one session's actions.
async fn run_actions(
    proxy: Arc<Proxy>,
    login: Login,
    caller: Caller,
    mut queued: mpsc::Receiver<Message>,
    steps: mpsc::Sender<Step>,
    originates: Originates,
) {
    // Unique across connections: Asterisk broadcasts `OriginateResponse`.
    let prefix = format!("astpanel-proxy-{:016x}", rand::random::<u64>());
    let mut next = 0u64;
    while let Some(action) = queued.recv().await {
        let id = action.action_id().map(<[u8]>::to_vec);
        let id = id.as_deref();
        let Some(name) = name_of(&action) else {
            if steps
                .send(Step::Send(vec![error(id, "Missing action in request")]))
                .await
                .is_err()
            {
                return;
            }
            continue;
        };
        let mut done = Vec::with_capacity(2);
        match name.as_str() {
            "ping" => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default();
                let stamp = format!("{}.{:06}", now.as_secs(), now.subsec_micros());
                done.push(Step::Send(vec![
                    response("Success", id)
                        .with("Ping", "Pong")
                        .with("Timestamp", stamp),
                ]));
            }
            "logoff" => {
                done.push(Step::Send(vec![goodbye(id)]));
                done.push(Step::Close);
            }
            "challenge" => done.push(Step::Send(vec![challenge(&action, id).0])),
            "login" => done.push(Step::Send(vec![
                response("Success", id).with("Message", "Already authenticated"),
            ])),
            "events" => {
                let mask = action
                    .get_str("EventMask")
                    .map_or(Classes::NONE, |value| event_mask(&value));
                let word = if mask.is_empty() { "Off" } else { "On" };
                done.push(Step::Mask(mask));
                done.push(Step::Send(vec![
                    response("Success", id).with("Events", word),
                ]));
            }
            "filter" => done.extend(add_filter(&action, id)),
            _ => {
                next += 1;
                let ours = format!("{prefix}-{next}");
                let answers =
                    upstream(&proxy, &login, caller, &action, &ours, id, &originates).await;
                done.push(Step::Send(answers));
            }
        }
        for step in done {
            if steps.send(step).await.is_err() {
                return;
            }
        }
    }
}

/// The `Filter` action, kept in the relay for this client only.
fn add_filter(action: &Message, id: Option<&[u8]>) -> Vec<Step> {
    let add = action
        .get_str("Operation")
        .is_some_and(|op| op.trim().eq_ignore_ascii_case("add"));
    if !add {
        return vec![Step::Send(vec![error(id, "Unknown operation")])];
    }
    let pattern = action.get_str("Filter").unwrap_or_default();
    let criteria = action.get_str("MatchCriteria");
    match Filter::parse(&pattern, criteria.as_deref()) {
        Ok(rule) => vec![
            Step::Filter(Box::new(rule)),
            Step::Send(vec![response("Success", id).with("Message", "Success")]),
        ],
        Err(refusal) => vec![Step::Send(vec![error(id, &refusal.to_string())])],
    }
}

/// An action for Asterisk, through the service (limiter, shell guard, audit), under
/// the relay's own ActionID `ours`; the answers carry the client's `id` again.
async fn upstream(
    proxy: &Proxy,
    login: &Login,
    caller: Caller,
    action: &Message,
    ours: &str,
    id: Option<&[u8]>,
    originates: &Originates,
) -> Vec<Message> {
    let link = login.server().link();
    if !is_up(link.state) {
        let why = link.detail.unwrap_or_else(|| "no connection yet".into());
        return vec![error(
            id,
            &format!(
                "AstPanel: the link to Asterisk server {:?} is down ({why}); nothing was sent",
                login.server().name()
            ),
        )];
    }
    let mut request = with_action_id(action, None);
    request.push("ActionID", ours);
    let asynchronous = action
        .get("Action")
        .is_some_and(|a| a.trim_ascii().eq_ignore_ascii_case(b"Originate"))
        && action.get("Async").is_some_and(is_true);
    if asynchronous {
        let mut waiting = lock(originates);
        if waiting.len() >= MAX_ORIGINATES {
            waiting.pop_front();
        }
        waiting.push_back((ours.as_bytes().to_vec(), id.map(<[u8]>::to_vec)));
    }
    match proxy.service.run_ami(login, &request, caller).await {
        AmiOutcome::Answered {
            response, events, ..
        } => std::iter::once(response)
            .chain(events)
            .map(|message| with_action_id(&message, id))
            .collect(),
        AmiOutcome::Refused(words) => {
            if asynchronous {
                lock(originates).retain(|(waiting, _)| waiting != ours.as_bytes());
            }
            vec![error(id, &words)]
        }
    }
}
