//! Loopback AMI servers for the session tests: scripted, and replaying recorded Asterisk bytes.

#![allow(dead_code)] // Each test file uses a different part of this module.

use std::future::Future;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use relay::ami::{ActionResult, AmiCodec, AmiConfig, AmiError, SessionEvent, SessionHandle};
use shared::ami::{Frame, Message};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::codec::Framed;

pub use testkit::fixture;

/// The banner every recorded Asterisk 22 connection starts with.
pub const BANNER: &[u8] = b"Asterisk Call Manager/11.0.0\r\n";

/// Generous bound on any single wait in these tests; they finish far sooner.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// The recorded response to ActionID `id` in fixture `name`: its `Response:` value and
/// the header lines after the ActionID, so a test server can replay it under another id.
pub fn recorded_response(name: &str, id: &str) -> (String, String) {
    let text = String::from_utf8_lossy(&fixture(name)).into_owned();
    let needle = format!("\r\nActionID: {id}\r\n");
    let at = text
        .match_indices(&needle)
        .map(|(at, _)| at)
        .find(|&at| {
            text[..at]
                .rsplit('\n')
                .next()
                .is_some_and(|l| l.starts_with("Response: "))
        })
        .unwrap_or_else(|| panic!("no response to {id} in {name}"));
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let response = text[line_start..at]
        .trim_start_matches("Response: ")
        .to_owned();
    let rest_start = at + needle.len();
    let rest_end = rest_start + text[rest_start..].find("\r\n\r\n").expect("a blank line") + 2;
    (response, text[rest_start..rest_end].to_owned())
}

/// The server side of one accepted connection.
pub struct Peer {
    framed: Framed<TcpStream, AmiCodec>,
}

impl Peer {
    /// The next action the client sent; `None` once it hung up.
    pub async fn action(&mut self) -> Option<Message> {
        match tokio::time::timeout(PATIENCE, self.framed.next())
            .await
            .ok()??
        {
            Ok(Frame::Message(message)) => Some(message),
            Ok(other) => panic!("client sent {other:?}"),
            Err(_) => None,
        }
    }

    /// Writes raw bytes, exactly.
    pub async fn write(&mut self, bytes: &[u8]) {
        let stream = self.framed.get_mut();
        stream.write_all(bytes).await.expect("write to client");
    }

    /// Writes `bytes` in pieces of the given sizes, cycling through them, so that
    /// messages are cut at many different places.
    pub async fn write_in_chunks(&mut self, bytes: &[u8], sizes: &[usize]) {
        let mut rest = bytes;
        for size in sizes.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (now, later) = rest.split_at((*size).clamp(1, rest.len()));
            self.write(now).await;
            rest = later;
        }
    }

    /// Answers `action` with `Response: <response>`, its ActionID, then `rest` (CRLF lines).
    pub async fn reply(&mut self, action: &Message, response: &str, rest: &str) {
        let mut out = format!("Response: {response}\r\n");
        if let Some(id) = action.action_id() {
            out.push_str(&format!("ActionID: {}\r\n", String::from_utf8_lossy(id)));
        }
        out.push_str(rest);
        out.push_str("\r\n");
        self.write(out.as_bytes()).await;
    }

    /// Answers `action` the way Asterisk answered ActionID `id` in fixture `name`.
    pub async fn replay(&mut self, action: &Message, name: &str, id: &str) {
        let (response, rest) = recorded_response(name, id);
        self.reply(action, &response, &rest).await;
    }

    /// Sends a message built in the test.
    pub async fn send(&mut self, message: &Message) {
        self.framed.send(message).await.expect("write to client");
    }

    /// Accepts a plain Login with the given secret, as Asterisk 22 does, with FullyBooted after it.
    pub async fn accept_login(&mut self) -> Message {
        let login = self.action().await.expect("a Login");
        assert_eq!(login.get_str("Action").as_deref(), Some("Login"));
        self.reply(&login, "Success", "Message: Authentication accepted\r\n")
            .await;
        self.write(b"Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: 65\r\nLastReload: 65\r\nStatus: Fully Booted\r\n\r\n")
            .await;
        login
    }

    /// Answers every action with a plain Success until the client hangs up.
    pub async fn answer_everything(&mut self) {
        while let Some(action) = self.action().await {
            self.reply(&action, "Success", "Ping: Pong\r\n").await;
        }
    }
}

/// Serves AMI on a loopback port: each accepted connection gets the banner, then
/// `script(n, peer)` with `n` counting connections from 0. Accepts are reported on the channel.
pub async fn fake_ami<F, Fut>(script: F) -> (String, mpsc::Receiver<usize>)
where
    F: Fn(usize, Peer) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr").to_string();
    let (accepted_tx, accepted) = mpsc::channel(16);
    tokio::spawn(async move {
        for n in 0.. {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            if stream.write_all(BANNER).await.is_err() {
                continue;
            }
            let _ = accepted_tx.try_send(n);
            let peer = Peer {
                framed: Framed::new(stream, AmiCodec::server(1 << 20)),
            };
            tokio::spawn(script(n, peer));
        }
    });
    (addr, accepted)
}

/// A configuration for tests: fast retries, no Ping unless asked for.
pub fn test_config(addr: &str) -> AmiConfig {
    let mut config = AmiConfig::new(addr, "admin", "admin-secret");
    config.backoff_initial = Duration::from_millis(20);
    config.backoff_max = Duration::from_millis(100);
    config.action_timeout = Duration::from_secs(5);
    config.ping_interval = Duration::from_secs(3600);
    config
}

/// Sends a `Ping`, the cheapest action there is.
pub async fn ping(session: &SessionHandle) -> Result<ActionResult, AmiError> {
    session.send(Message::new().with("Action", "Ping")).await
}

/// The next session event, within [`PATIENCE`].
pub async fn next_event(events: &mut mpsc::Receiver<SessionEvent>) -> SessionEvent {
    tokio::time::timeout(PATIENCE, events.recv())
        .await
        .expect("a session event in time")
        .expect("the session is alive")
}

/// Skips events until the next `Connected`, returning the version.
pub async fn connected(events: &mut mpsc::Receiver<SessionEvent>) -> String {
    loop {
        if let SessionEvent::Connected { version } = next_event(events).await {
            return version;
        }
    }
}

/// Skips events until the next `Disconnected`, returning the reason.
pub async fn disconnected(events: &mut mpsc::Receiver<SessionEvent>) -> String {
    loop {
        if let SessionEvent::Disconnected { reason } = next_event(events).await {
            return reason;
        }
    }
}

/// The events of a recorded admin stream: what follows the login response and precedes
/// the logoff response.
pub fn events_part(stream: &[u8]) -> &[u8] {
    let find = |needle: &[u8]| {
        stream
            .windows(needle.len())
            .position(|w| w == needle)
            .expect("marker in the recording")
    };
    let accepted = b"Message: Authentication accepted\r\n\r\n";
    let login = find(accepted) + accepted.len();
    &stream[login..find(b"Response: Goodbye")]
}
