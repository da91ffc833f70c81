//! The AMI proxy (`[ami_proxy]`) against pbxsim: Asterisk's dialogue, shared sessions,
//! ActionIDs restored per client, events per read classes, the guards, the upstream
//! going down, and a slow client dropped without loss for the others.

mod relay_support;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use relay_support::{PATIENCE, Pbx, Relay, call, relay_user, server};
use shared::action::Role;
use shared::ami::{Classes, Frame, Message, Parser, md5_key};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A free loopback port for the proxy, which the relay binds itself, so the port is
/// free for a moment in between. A port from `127.0.0.1:0` could be handed meanwhile to
/// another test's `127.0.0.1:0` (seen: the next test's panel took it), so these come
/// from below the kernel's ephemeral range (32768 and up on Linux), where no
/// `127.0.0.1:0` lands, and from a counter, so two tests here never pick the same one.
fn free_port() -> SocketAddr {
    static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let base = 20_000 + (std::process::id() % 5_000) as u16;
    loop {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let port = base + n % 7_000;
        if let Ok(socket) = std::net::TcpListener::bind(("127.0.0.1", port)) {
            return socket.local_addr().expect("address");
        }
    }
}

/// A pbxsim with the fixtures' users and a relay with the proxy on `queue`, linked.
async fn start(queue: usize) -> (Pbx, Relay, SocketAddr) {
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let proxy = free_port();
    let relay = Relay::start(vec![server("pbx", &pbx)], |config| {
        config.ami_proxy.listen = Some(proxy);
        config.ami_proxy.queue = queue;
    })
    .await;
    link_is(&relay, true).await;
    (pbx, relay, proxy)
}

/// As `start`, with two calls of a minute up (four channels to list).
async fn start_with_two_calls() -> (Pbx, Relay, SocketAddr) {
    let (pbx, relay, proxy) = start(4096).await;
    let side = relay_support::side_session(&pbx);
    call(&side, "100", "200", 60).await;
    call(&side, "101", "201", 60).await;
    (pbx, relay, proxy)
}

/// A raw AMI client of the proxy.
struct Client {
    stream: TcpStream,
    parser: Parser,
    buffer: BytesMut,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        Client::on(connect_retrying(addr, None).await).await
    }

    async fn on(stream: TcpStream) -> Client {
        let mut client = Client {
            stream,
            parser: Parser::new().expecting_banner(),
            buffer: BytesMut::new(),
        };
        match client.frame().await {
            Some(Frame::Banner(banner)) => assert_eq!(
                String::from_utf8_lossy(banner.line()),
                "Asterisk Call Manager/11.0.0"
            ),
            other => panic!("a banner, not {other:?}"),
        }
        client
    }

    async fn send(&mut self, headers: &[(&str, &str)]) {
        let mut message = Message::new();
        for (key, value) in headers {
            message.push(key, value);
        }
        self.stream
            .write_all(&message.to_bytes())
            .await
            .expect("write");
    }

    async fn frame(&mut self) -> Option<Frame> {
        loop {
            if let Some(frame) = self.parser.next_frame(&mut self.buffer) {
                return Some(frame);
            }
            let read = tokio::time::timeout(PATIENCE, self.stream.read_buf(&mut self.buffer))
                .await
                .expect("something in time");
            if matches!(read, Ok(0) | Err(_)) {
                return None;
            }
        }
    }

    /// The next message, or `None` once the proxy closed the connection.
    async fn next(&mut self) -> Option<Message> {
        match self.frame().await? {
            Frame::Message(message) => Some(message),
            other => panic!("a message, not {other:?}"),
        }
    }

    /// The next message with ActionID `id`, skipping events.
    async fn answer(&mut self, id: &str) -> Message {
        loop {
            let message = self.next().await.expect("an answer");
            if message.action_id() == Some(id.as_bytes()) {
                return message;
            }
        }
    }

    async fn login(addr: SocketAddr, user: &str, secret: &str, events: &str) -> Client {
        let mut client = Client::connect(addr).await;
        client
            .send(&[
                ("Action", "Login"),
                ("Username", user),
                ("Secret", secret),
                ("Events", events),
                ("ActionID", "login"),
            ])
            .await;
        let answer = client.answer("login").await;
        assert_eq!(text(&answer, "Response"), "Success", "{answer:?}");
        assert_eq!(text(&answer, "Message"), "Authentication accepted");
        client
    }

    /// `CoreShowChannels`: its answer starts a list, every item arrives, and the
    /// list-complete event counts them. The channels, in the order they came.
    async fn list_channels(&mut self) -> Vec<String> {
        self.send(&[("Action", "CoreShowChannels"), ("ActionID", "list")])
            .await;
        let response = self.answer("list").await;
        assert_eq!(text(&response, "Response"), "Success");
        assert_eq!(text(&response, "EventList"), "start");
        let mut names = Vec::new();
        loop {
            let event = self.answer("list").await;
            if is_event(&event, "CoreShowChannelsComplete") {
                assert_eq!(text(&event, "ListItems"), names.len().to_string());
                return names;
            }
            assert!(is_event(&event, "CoreShowChannel"), "{event:?}");
            names.push(text(&event, "Channel"));
        }
    }

    /// Messages that arrive within `quiet` of each other.
    async fn drain(&mut self, quiet: Duration) -> Vec<Message> {
        let mut got = Vec::new();
        while let Ok(Some(message)) = tokio::time::timeout(quiet, self.next()).await {
            got.push(message);
        }
        got
    }
}

/// Two clients of the same AMI account, with `Events: events`.
async fn two_admins(proxy: SocketAddr, events: &str) -> (Client, Client) {
    (
        Client::login(proxy, "admin", "admin-secret", events).await,
        Client::login(proxy, "admin", "admin-secret", events).await,
    )
}

async fn connect_retrying(addr: SocketAddr, receive_buffer: Option<u32>) -> TcpStream {
    for _ in 0..100 {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        if let Some(bytes) = receive_buffer {
            socket.set_recv_buffer_size(bytes).expect("SO_RCVBUF");
        }
        if let Ok(stream) = socket.connect(addr).await {
            return stream;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the proxy does not listen on {addr}");
}

fn text(message: &Message, key: &str) -> String {
    message.get_str(key).unwrap_or_default().into_owned()
}

fn is_event(message: &Message, name: &str) -> bool {
    message
        .event_name()
        .is_some_and(|n| n.eq_ignore_ascii_case(name.as_bytes()))
}

/// Waits until the relay's link to pbxsim is `up` (or down).
async fn link_is(relay: &Relay, up: bool) {
    let wanted = format!("astpanel_ami_link_up{{server=\"pbx\"}} {}", u8::from(up));
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !relay.get_text("/metrics").await.contains(&wanted) {
        assert!(tokio::time::Instant::now() < deadline, "link never {up}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn logins_plain_and_md5_ping_and_a_wrong_secret() {
    let (_pbx, relay, proxy) = start(4096).await;
    let mut admin = Client::login(proxy, "admin", "admin-secret", "off").await;
    admin.send(&[("Action", "Ping"), ("ActionID", "p-1")]).await;
    let pong = admin.answer("p-1").await;
    assert_eq!(text(&pong, "Response"), "Success");
    assert_eq!(text(&pong, "Ping"), "Pong");
    assert!(pong.get("Timestamp").is_some());
    admin
        .send(&[("Action", "Logoff"), ("ActionID", "bye")])
        .await;
    let bye = admin.answer("bye").await;
    assert_eq!(text(&bye, "Response"), "Goodbye");
    assert_eq!(text(&bye, "Message"), "Thanks for all the fish.");
    assert!(admin.next().await.is_none(), "closed after Logoff");

    // Before a login, only Login, Challenge and Logoff are answered.
    let mut md5 = Client::connect(proxy).await;
    md5.send(&[("Action", "Ping"), ("ActionID", "pre")]).await;
    assert_eq!(
        text(&md5.answer("pre").await, "Message"),
        "Permission denied"
    );
    md5.send(&[("ActionID", "none")]).await;
    assert_eq!(
        text(&md5.answer("none").await, "Message"),
        "Missing action in request"
    );
    md5.send(&[
        ("Action", "Challenge"),
        ("AuthType", "MD5"),
        ("ActionID", "c"),
    ])
    .await;
    let challenge = text(&md5.answer("c").await, "Challenge");
    assert!(!challenge.is_empty());
    let key = md5_key(challenge.as_bytes(), b"admin-secret");
    md5.send(&[
        ("Action", "Login"),
        ("AuthType", "MD5"),
        ("Username", "admin"),
        ("Key", &key),
        ("ActionID", "l"),
    ])
    .await;
    assert_eq!(text(&md5.answer("l").await, "Response"), "Success");

    let mut wrong = Client::connect(proxy).await;
    wrong
        .send(&[
            ("Action", "Login"),
            ("Username", "admin"),
            ("Secret", "wrong-secret"),
            ("ActionID", "bad"),
        ])
        .await;
    let refused = wrong.answer("bad").await;
    assert_eq!(text(&refused, "Response"), "Error");
    assert_eq!(text(&refused, "Message"), "Authentication failed");
    assert!(wrong.next().await.is_none(), "closed after a failed login");
    relay.stop().await;
}

#[tokio::test]
async fn core_show_channels_arrives_whole_and_in_order() {
    let (_pbx, relay, proxy) = start_with_two_calls().await;
    let mut client = Client::login(proxy, "admin", "admin-secret", "off").await;
    let items = client.list_channels().await.len();
    assert!(items >= 2, "the calls' channels are listed: {items}");
    relay.stop().await;
}

#[tokio::test]
async fn an_async_originate_response_reaches_only_the_asker_with_its_action_id() {
    let (_pbx, relay, proxy) = start(4096).await;
    let (mut asker, mut other) = two_admins(proxy, "on").await;
    asker
        .send(&[
            ("Action", "Originate"),
            ("Channel", "Local/100@test"),
            ("Context", "test"),
            ("Exten", "200"),
            ("Priority", "1"),
            ("Async", "true"),
            ("ActionID", "mine"),
        ])
        .await;
    let queued = asker.answer("mine").await;
    assert_eq!(text(&queued, "Response"), "Success", "{queued:?}");
    let done = asker.answer("mine").await;
    assert!(is_event(&done, "OriginateResponse"), "{done:?}");
    assert_eq!(text(&done, "Response"), "Success");
    // The other client saw the call's events, but never its OriginateResponse.
    let seen = other.drain(Duration::from_millis(500)).await;
    assert!(seen.iter().any(|m| is_event(m, "Newchannel")));
    assert!(!seen.iter().any(|m| is_event(m, "OriginateResponse")));
    relay.stop().await;
}

#[tokio::test]
async fn two_clients_with_the_same_action_id_each_get_only_their_own_answer() {
    let (_pbx, relay, proxy) = start(4096).await;
    let (mut one, mut two) = two_admins(proxy, "off").await;
    one.send(&[("Action", "CoreStatus"), ("ActionID", "1")])
        .await;
    two.send(&[("Action", "CoreSettings"), ("ActionID", "1")])
        .await;
    let status = one.answer("1").await;
    let settings = two.answer("1").await;
    assert!(status.get("CoreCurrentCalls").is_some(), "{status:?}");
    assert!(settings.get("AMIversion").is_some(), "{settings:?}");
    assert!(one.drain(Duration::from_millis(300)).await.is_empty());
    assert!(two.drain(Duration::from_millis(300)).await.is_empty());
    relay.stop().await;
}

#[tokio::test]
async fn a_hundred_clients_of_one_account_are_one_login_upstream() {
    let (pbx, relay, proxy) = start(4096).await;
    let mut clients = Vec::new();
    for _ in 0..100 {
        clients.push(Client::login(proxy, "agent", "agent-secret", "off").await);
    }
    // A few act upstream (the account's limiter counts all of them together).
    for (n, client) in clients.iter_mut().enumerate().step_by(10) {
        let id = format!("ping-{n}");
        client
            .send(&[("Action", "Getvar"), ("Variable", "FOO"), ("ActionID", &id)])
            .await;
        let answer = client.answer(&id).await;
        assert_eq!(text(&answer, "Response"), "Success", "{answer:?}");
    }
    assert_eq!(pbx.stats.logins("agent"), 1);
    relay.stop().await;
}

#[tokio::test]
async fn a_viewer_gets_only_call_class_events() {
    let (pbx, relay, proxy) = start(4096).await;
    let mut viewer = Client::login(proxy, "viewer", "viewer-secret", "on").await;
    let mut admin = Client::login(proxy, "admin", "admin-secret", "on").await;
    let side = relay_support::side_session(&pbx);
    side.send(
        Message::new()
            .with("Action", "UserEvent")
            .with("UserEvent", "NotForViewers"),
    )
    .await
    .expect("UserEvent");
    call(&side, "100", "200", 1).await;
    let seen = viewer.drain(Duration::from_millis(800)).await;
    assert!(seen.iter().any(|m| is_event(m, "Newchannel")), "{seen:?}");
    for event in &seen {
        assert!(
            Classes::CALL.contains(Classes::of_event(event)),
            "a viewer read {event:?}"
        );
    }
    let all = admin.drain(Duration::from_millis(300)).await;
    assert!(all.iter().any(|m| is_event(m, "UserEvent")), "{all:?}");
    relay.stop().await;
}

/// `Filter` narrows one client's events inside the relay: the other client of the same
/// account, on the same upstream session, still gets everything.
#[tokio::test]
async fn a_filter_narrows_that_client_only_and_a_bad_one_gets_asterisks_words() {
    let (pbx, relay, proxy) = start(4096).await;
    let (mut filtered, mut other) = two_admins(proxy, "on").await;
    filtered
        .send(&[
            ("Action", "Filter"),
            ("Operation", "Add"),
            ("Filter", "Event: Newchannel"),
            ("ActionID", "f1"),
        ])
        .await;
    assert_eq!(text(&filtered.answer("f1").await, "Response"), "Success");
    filtered
        .send(&[
            ("Action", "Filter"),
            ("Operation", "Add"),
            ("Filter", "!("),
            ("ActionID", "f2"),
        ])
        .await;
    let refused = filtered.answer("f2").await;
    assert_eq!(
        text(&refused, "Message"),
        "Filter did not compile.  Check the syntax of the filter given."
    );
    call(&relay_support::side_session(&pbx), "100", "200", 1).await;
    let seen = filtered.drain(Duration::from_millis(800)).await;
    assert!(seen.iter().any(|m| is_event(m, "Newchannel")), "{seen:?}");
    assert!(
        seen.iter().all(|m| is_event(m, "Newchannel")),
        "only what the include rule lets in: {seen:?}"
    );
    let all = other.drain(Duration::from_millis(300)).await;
    assert!(all.iter().any(|m| !is_event(m, "Newchannel")), "{all:?}");
    relay.stop().await;
}

/// `Command` is refused by the shell guard, in its words.
async fn cli_is_not_allowed(client: &mut Client) {
    client
        .send(&[
            ("Action", "Command"),
            ("Command", "core show channels"),
            ("ActionID", "cli"),
        ])
        .await;
    let cli = client.answer("cli").await;
    assert_eq!(text(&cli, "Response"), "Error");
    assert!(text(&cli, "Message").contains("not allowed"), "{cli:?}");
}

#[tokio::test]
async fn an_account_without_system_cannot_reach_the_shell() {
    let (pbx, relay, proxy) = start(4096).await;
    let mut agent = Client::login(proxy, "agent", "agent-secret", "off").await;
    cli_is_not_allowed(&mut agent).await;
    agent
        .send(&[
            ("Action", "Originate"),
            ("Channel", "Local/100@test"),
            ("Application", "System"),
            ("Data", "touch /tmp/owned"),
            ("ActionID", "sys"),
        ])
        .await;
    let system = agent.answer("sys").await;
    assert_eq!(text(&system, "Response"), "Error");
    assert!(text(&system, "Message").contains("system"), "{system:?}");
    assert_eq!(pbx.stats.actions("Command"), 0);
    assert_eq!(pbx.stats.actions("Originate"), 0);
    relay.stop().await;
}

/// A pbxsim and a relay with the proxy and the relay accounts `alice` (an agent on
/// extension 100) and `sam` (a supervisor), both on the AMI account `admin`.
async fn start_with_people() -> (Pbx, Relay, SocketAddr) {
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let proxy = free_port();
    let relay = Relay::start(vec![server("pbx", &pbx)], |config| {
        config.ami_proxy.listen = Some(proxy);
        config.users = vec![
            relay_user("alice", Role::Agent, "100"),
            relay_user("sam", Role::Supervisor, "300"),
        ];
    })
    .await;
    link_is(&relay, true).await;
    (pbx, relay, proxy)
}

/// Whether any header of `message` names extension `exten`'s phone (`Local/{exten}@`).
fn mentions(message: &Message, exten: &str) -> bool {
    let phone = format!("Local/{exten}@");
    message
        .headers()
        .any(|(_, value)| String::from_utf8_lossy(value).contains(&phone))
}

/// The events `client` reads until they pause, among which a `Newchannel` of `exten`'s.
async fn events_with_a_new_channel_of(client: &mut Client, exten: &str) -> Vec<Message> {
    let seen = client.drain(Duration::from_millis(800)).await;
    assert!(
        seen.iter()
            .any(|m| is_event(m, "Newchannel") && mentions(m, exten)),
        "{seen:?}"
    );
    seen
}

/// The audit log once it holds a record of `action` (records are written behind).
async fn audit_of(relay: &Relay, token: &str, action: &str) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let page: serde_json::Value = relay
            .http()
            .get(format!("{}/api/v1/audit?limit=100", relay.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("the audit log")
            .json()
            .await
            .expect("JSON");
        let records = page["records"].as_array().cloned().unwrap_or_default();
        if records.iter().any(|r| r["action"] == action) {
            return page;
        }
        assert!(tokio::time::Instant::now() < deadline, "{page}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An action's answer, asserted to be Asterisk's `Permission denied`.
async fn is_denied(client: &mut Client, headers: &[(&str, &str)], id: &str) {
    let mut action = headers.to_vec();
    action.push(("ActionID", id));
    client.send(&action).await;
    let answer = client.answer(id).await;
    assert_eq!(text(&answer, "Response"), "Error", "{answer:?}");
    assert_eq!(text(&answer, "Message"), "Permission denied", "{answer:?}");
}

#[tokio::test]
async fn a_relay_agent_downstream_sees_and_acts_on_their_own_calls_only() {
    let (pbx, relay, proxy) = start_with_people().await;
    let mut alice = Client::login(proxy, "alice", "alice-password", "on").await;
    let mut admin = Client::login(proxy, "admin", "admin-secret", "off").await;
    let side = relay_support::side_session(&pbx);
    // Her call (200 rings Local/201@test), and 101's call to the echo test (500).
    call(&side, "100", "200", 60).await;
    call(&side, "101", "500", 60).await;

    // Her events: her own call's, none of the other's.
    let seen = events_with_a_new_channel_of(&mut alice, "100").await;
    for event in &seen {
        assert!(!mentions(event, "101"), "alice read {event:?}");
    }
    // The callee's channels are not her phone's, but the same call's (its Linkedid).
    assert!(
        seen.iter()
            .any(|m| text(m, "Channel").starts_with("Local/201@")),
        "{seen:?}"
    );
    let channels = admin.list_channels().await;
    let theirs = channels
        .iter()
        .find(|c| c.starts_with("Local/101@"))
        .unwrap_or_else(|| panic!("the other call's channel in {channels:?}"));
    let mine = channels
        .iter()
        .find(|c| c.starts_with("Local/100@"))
        .expect("her call's channel");

    // Someone else's call, the lists and the CLI: refused, and never sent to Asterisk.
    let (hangups, lists) = (
        pbx.stats.actions("Hangup"),
        pbx.stats.actions("CoreShowChannels"),
    );
    is_denied(
        &mut alice,
        &[("Action", "Hangup"), ("Channel", theirs)],
        "theirs",
    )
    .await;
    is_denied(&mut alice, &[("Action", "CoreShowChannels")], "list").await;
    is_denied(
        &mut alice,
        &[("Action", "Command"), ("Command", "core show channels")],
        "cli",
    )
    .await;
    assert_eq!(pbx.stats.actions("Hangup"), hangups);
    assert_eq!(pbx.stats.actions("CoreShowChannels"), lists);
    assert_eq!(pbx.stats.actions("Command"), 0);

    // Her own call: hung up (the relay's model may trail the listing by an event).
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        alice
            .send(&[
                ("Action", "Hangup"),
                ("Channel", mine),
                ("ActionID", "mine"),
            ])
            .await;
        let answer = alice.answer("mine").await;
        if text(&answer, "Response") == "Success" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{answer:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(pbx.stats.actions("Hangup"), hangups + 1);

    // Each refusal is in the audit log, as hers, by way of the AMI proxy.
    let token = relay
        .login("pbx", "admin", "admin-secret")
        .await
        .expect("admin");
    let page = audit_of(&relay, &token, "Command").await;
    let records = page["records"].as_array().expect("records");
    for action in ["Hangup", "CoreShowChannels", "Command"] {
        let refused = records
            .iter()
            .find(|r| r["action"] == action && r["ok"] == false)
            .unwrap_or_else(|| panic!("no refused {action} in {page}"));
        assert_eq!(
            (&refused["person"], &refused["via"]),
            (&"alice".into(), &"ami".into())
        );
        assert!(
            refused["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("Permission denied")),
            "{refused}"
        );
    }
    relay.stop().await;
}

#[tokio::test]
async fn a_relay_supervisor_downstream_acts_on_every_call_but_not_the_shell() {
    let (pbx, relay, proxy) = start_with_people().await;
    let mut sam = Client::login(proxy, "sam", "sam-password", "on").await;
    let side = relay_support::side_session(&pbx);
    // Not their own extension's (300): a supervisor sees every call.
    call(&side, "100", "200", 60).await;
    events_with_a_new_channel_of(&mut sam, "100").await;
    assert!(!sam.list_channels().await.is_empty());
    cli_is_not_allowed(&mut sam).await;
    assert_eq!(pbx.stats.actions("Command"), 0);
    relay.stop().await;
}

#[tokio::test]
async fn with_the_upstream_down_actions_fail_within_a_second_and_clients_reconnect_after() {
    let (mut pbx, relay, proxy) = start(4096).await;
    let mut client = Client::login(proxy, "admin", "admin-secret", "off").await;
    pbx.stop();
    link_is(&relay, false).await;
    let asked = tokio::time::Instant::now();
    client
        .send(&[("Action", "CoreStatus"), ("ActionID", "down")])
        .await;
    let refused = client.answer("down").await;
    assert!(asked.elapsed() < Duration::from_secs(1));
    assert_eq!(text(&refused, "Response"), "Error");
    assert!(text(&refused, "Message").contains("is down"), "{refused:?}");
    // When the link is back, the client is closed so that it reads its state again.
    pbx.restart_with(pbxsim::SimConfig::quiet()).await;
    link_is(&relay, true).await;
    while client.next().await.is_some() {}
    relay.stop().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_without_loss_for_the_others() {
    const EVENTS: usize = 3000;
    let (pbx, relay, proxy) = start(256).await;
    let mut reader = Client::login(proxy, "admin", "admin-secret", "user").await;
    let mut stalled = Client::on(connect_retrying(proxy, Some(4096)).await).await;
    stalled
        .send(&[
            ("Action", "Login"),
            ("Username", "admin"),
            ("Secret", "admin-secret"),
            ("Events", "user"),
        ])
        .await;
    // The stalled client reads its login's answer, then nothing more.
    assert_eq!(
        text(&stalled.next().await.expect("login answer"), "Response"),
        "Success"
    );
    let side = relay_support::side_session(&pbx);
    let payload = "x".repeat(900);
    let sender = tokio::spawn(async move {
        for n in 0..EVENTS {
            let event = Message::new()
                .with("Action", "UserEvent")
                .with("UserEvent", "Load")
                .with("Seq", n.to_string())
                .with("A", &payload)
                .with("B", &payload)
                .with("C", &payload)
                .with("D", &payload);
            side.send(event).await.expect("UserEvent");
        }
    });
    let mut next = 0;
    while next < EVENTS {
        let event = reader.next().await.expect("the reader stays connected");
        if is_event(&event, "UserEvent") {
            assert_eq!(text(&event, "Seq"), next.to_string(), "in order, none lost");
            next += 1;
        }
    }
    sender.await.expect("sender");
    // The stalled client was closed: what it has buffered ends, then EOF.
    let mut seen = 0;
    while let Some(message) = stalled.next().await {
        seen += usize::from(is_event(&message, "UserEvent"));
    }
    assert!(
        seen < EVENTS,
        "the stalled client was dropped, not fed everything"
    );
    relay.stop().await;
}

/// Runs `interpreter` on the peer script `tests/{script}` with the proxy's port; its
/// standard output, once it exited successfully within a minute.
async fn run_peer(
    interpreter: &mut tokio::process::Command,
    script: &str,
    proxy: SocketAddr,
) -> String {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(script);
    let run = interpreter
        .arg(&path)
        .arg(proxy.port().to_string())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .unwrap_or_else(|_| panic!("{script} finished in time"))
        .unwrap_or_else(|error| panic!("{script} ran: {error}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{script} failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The interpreter with panoramisk: `$ASTPANEL_PYTHON`, else the venv of `cargo xtask setup`.
fn python() -> Result<std::path::PathBuf, String> {
    let python = match std::env::var_os("ASTPANEL_PYTHON") {
        Some(p) => std::path::PathBuf::from(p),
        None => std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../target/tools/py/bin/python3"),
    };
    let probe = std::process::Command::new(&python)
        .args(["-c", "import panoramisk"])
        .output();
    match probe {
        Ok(out) if out.status.success() => Ok(python),
        _ => Err(format!(
            "no panoramisk at {} (set ASTPANEL_PYTHON or run `cargo xtask setup`)",
            python.display()
        )),
    }
}

#[tokio::test]
async fn panoramisk_works_through_the_proxy() {
    let python = match python() {
        Ok(p) => p,
        Err(why) => {
            println!("SKIPPED panoramisk_works_through_the_proxy: {why}");
            return;
        }
    };
    let (_pbx, relay, proxy) = start(4096).await;
    let mut run = tokio::process::Command::new(&python);
    let stdout = run_peer(&mut run, "ami_proxy_panoramisk.py", proxy).await;
    let listed = stdout
        .split_whitespace()
        .find_map(|w| w.strip_prefix("items="))
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or_default();
    assert!(listed >= 2, "the call's channels: {stdout}");
    assert!(
        stdout.contains(&format!("listitems={listed} "))
            && stdout.contains("originate=Success")
            && stdout.contains("badlogin=refused"),
        "{stdout}"
    );
    relay.stop().await;
}

/// The channels pbxsim itself lists for `CoreShowChannels`, in its order (straight to
/// pbxsim, not through the proxy).
async fn channels_straight_from(pbx: &Pbx) -> Vec<String> {
    let mut direct = Client::login(pbx.addr, "admin", "admin-secret", "off").await;
    direct.list_channels().await
}

#[tokio::test]
async fn asterisk_rs_ami_works_through_the_proxy() {
    use asterisk_rs_ami::action::{CoreShowChannelsAction, OriginateAction};
    use asterisk_rs_ami::{AmiClient, AmiError, AmiEvent};

    let (pbx, relay, proxy) = start_with_two_calls().await;
    // The crate logs in with Challenge and MD5 (it refuses a plain login by default).
    let client = AmiClient::builder()
        .host("127.0.0.1")
        .port(proxy.port())
        .credentials("admin", "admin-secret")
        .timeout(PATIENCE)
        .connect_timeout(PATIENCE)
        .build()
        .await
        .expect("asterisk-rs-ami logs in through the proxy");
    let mut events = client.subscribe();

    let pong = client.ping().await.expect("Ping");
    assert!(pong.success, "{pong:?}");
    assert_eq!(pong.get("Ping"), Some("Pong"));

    let listed = client
        .send_collecting(&CoreShowChannelsAction)
        .await
        .expect("CoreShowChannels");
    assert!(listed.response.success, "{:?}", listed.response);
    let (last, items) = listed.events.split_last().expect("a list-complete event");
    let names: Vec<String> = items
        .iter()
        .map(|event| match event {
            AmiEvent::CoreShowChannel { channel, .. } => channel.clone(),
            other => panic!("a list item, not {other:?}"),
        })
        .collect();
    match last {
        AmiEvent::CoreShowChannelsComplete { listed_channels } => {
            assert_eq!(*listed_channels as usize, names.len());
        }
        other => panic!("the list ends with CoreShowChannelsComplete, not {other:?}"),
    }
    assert!(names.len() >= 4, "both calls' channels: {names:?}");
    assert_eq!(names, channels_straight_from(&pbx).await, "all, in order");

    // Another client of the same account watches: it gets the call's events, never the
    // crate's OriginateResponse.
    let mut other = Client::login(proxy, "admin", "admin-secret", "on").await;
    let queued = client
        .originate(
            OriginateAction::new("Local/100@test")
                .context("test")
                .extension("200")
                .priority(1)
                .async_originate(true),
        )
        .await
        .expect("Originate");
    assert!(queued.success, "{queued:?}");
    let (mut live, mut answered) = (0, None);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while answered.is_none() {
        let event = tokio::time::timeout_at(deadline, events.recv_lossy())
            .await
            .expect("an OriginateResponse in time")
            .expect("the event stream is open");
        match event {
            AmiEvent::OriginateResponse {
                action_id,
                response,
                ..
            } => {
                assert_eq!(action_id.as_deref(), Some(queued.action_id.as_str()));
                answered = Some(response);
            }
            AmiEvent::NewChannel { .. } => live += 1,
            _ => {}
        }
    }
    assert_eq!(answered.as_deref(), Some("Success"));
    assert!(live > 0, "the crate received the call's live events");
    let seen = other.drain(Duration::from_millis(500)).await;
    assert!(seen.iter().any(|m| is_event(m, "Newchannel")), "{seen:?}");
    assert!(!seen.iter().any(|m| is_event(m, "OriginateResponse")));
    client.disconnect().await.expect("Logoff");

    let refused = AmiClient::builder()
        .host("127.0.0.1")
        .port(proxy.port())
        .credentials("admin", "wrong-secret")
        .connect_timeout(PATIENCE)
        .build()
        .await;
    match refused {
        Err(AmiError::Auth(why)) => {
            assert_eq!(why.to_string(), "login rejected: Authentication failed");
        }
        other => panic!("a wrong secret is refused, not {other:?}"),
    }
    relay.stop().await;
}

/// Node.js and a node_modules folder holding asterisk-manager: `$ASTPANEL_NODE` (else
/// `node`) and `$ASTPANEL_NODE_MODULES` (else the folder `cargo xtask setup` installs).
fn node_with_asterisk_manager() -> Result<(std::path::PathBuf, std::path::PathBuf), String> {
    let node = std::env::var_os("ASTPANEL_NODE").map_or_else(|| "node".into(), Into::into);
    let modules = match std::env::var_os("ASTPANEL_NODE_MODULES") {
        Some(dir) => std::path::PathBuf::from(dir),
        None => std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../target/tools/bench/node/node_modules"),
    };
    let probe = std::process::Command::new(&node)
        .args(["-e", "require('asterisk-manager')"])
        .env("NODE_PATH", &modules)
        .output();
    match probe {
        Ok(out) if out.status.success() => Ok((node, modules)),
        _ => Err(format!(
            "no asterisk-manager for {} in {} (set ASTPANEL_NODE and ASTPANEL_NODE_MODULES or \
             run `cargo xtask setup`)",
            node.display(),
            modules.display()
        )),
    }
}

#[tokio::test]
async fn asterisk_manager_works_through_the_proxy() {
    let (node, modules) = match node_with_asterisk_manager() {
        Ok(found) => found,
        Err(why) => {
            println!("SKIPPED asterisk_manager_works_through_the_proxy: {why}");
            return;
        }
    };
    let (pbx, relay, proxy) = start_with_two_calls().await;
    let expected = channels_straight_from(&pbx).await;
    let mut other = Client::login(proxy, "admin", "admin-secret", "on").await;
    let mut run = tokio::process::Command::new(&node);
    run.env("NODE_PATH", &modules);
    let stdout = run_peer(&mut run, "ami_proxy_asterisk_manager.js", proxy).await;
    let seen: serde_json::Value = stdout
        .lines()
        .last()
        .and_then(|line| serde_json::from_str(line).ok())
        .unwrap_or_else(|| panic!("one JSON line, not {stdout}"));
    assert_eq!(seen["ping"], "Pong", "{seen}");
    assert_eq!(seen["listResponse"], "Success", "{seen}");
    assert_eq!(seen["listed"], serde_json::json!(expected), "all, in order");
    assert_eq!(seen["listitems"], expected.len().to_string(), "{seen}");
    assert_eq!(seen["queued"], "Success", "{seen}");
    assert_eq!(seen["originate"], "Success", "{seen}");
    assert_eq!(seen["sameActionId"], true, "its own ActionID: {seen}");
    let live = seen["live"].as_array().cloned().unwrap_or_default();
    assert!(live.contains(&"Newchannel".into()), "live events: {seen}");
    assert_eq!(seen["badlogin"], "Authentication failed", "{seen}");
    // The other client of the same account saw the call, never its OriginateResponse.
    let others = other.drain(Duration::from_millis(500)).await;
    assert!(others.iter().any(|m| is_event(m, "Newchannel")));
    assert!(!others.iter().any(|m| is_event(m, "OriginateResponse")));
    relay.stop().await;
}
