//! A minimal AMI test client over the shared parser, and a server started per test.

#![allow(dead_code)] // Each test binary uses a different part of this helper.

pub mod fixture;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use shared::ami::{Frame, Message, Parser};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A connected client.
pub struct Client {
    pub stream: TcpStream,
    parser: Parser,
    buf: BytesMut,
    pub banner: Option<String>,
}

/// How long any single wait in a test may take.
pub const WAIT: Duration = Duration::from_secs(10);

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let mut client = Client {
            stream,
            parser: Parser::new().expecting_banner(),
            buf: BytesMut::new(),
            banner: None,
        };
        match client.frame().await {
            Some(Frame::Banner(b)) => {
                client.banner = Some(String::from_utf8_lossy(b.line()).into_owned())
            }
            other => panic!("expected banner, got {other:?}"),
        }
        client
    }

    /// Connects and logs in; returns the client after the login response.
    pub async fn login(addr: SocketAddr, user: &str, secret: &str) -> Client {
        let mut client = Client::connect(addr).await;
        let resp = client
            .action(&format!(
                "Action: Login\r\nUsername: {user}\r\nSecret: {secret}\r\nActionID: login\r\n\r\n"
            ))
            .await;
        assert_eq!(
            resp.get_str("Message").as_deref(),
            Some("Authentication accepted")
        );
        client
    }

    pub async fn send(&mut self, raw: &str) {
        self.stream.write_all(raw.as_bytes()).await.expect("write");
    }

    /// Next frame, or `None` when the server closed the connection.
    pub async fn frame(&mut self) -> Option<Frame> {
        loop {
            if let Some(frame) = self.parser.next_frame(&mut self.buf) {
                return Some(frame);
            }
            let n = tokio::time::timeout(WAIT, self.stream.read_buf(&mut self.buf))
                .await
                .expect("server answered in time")
                .ok()?;
            if n == 0 {
                return None;
            }
        }
    }

    /// Next message, `None` at close.
    pub async fn message(&mut self) -> Option<Message> {
        loop {
            match self.frame().await? {
                Frame::Message(m) => return Some(m),
                Frame::Invalid(e) => panic!("server sent an unparseable message: {e}"),
                Frame::Banner(_) => {}
            }
        }
    }

    /// Sends an action and returns its response, skipping events.
    pub async fn action(&mut self, raw: &str) -> Message {
        self.send(raw).await;
        loop {
            let m = self.message().await.expect("response before close");
            if m.get("Response").is_some() && m.event_name().is_none() {
                return m;
            }
        }
    }

    /// Sends a list action; returns the response, the items, the `...Complete` event.
    pub async fn list(&mut self, raw: &str, id: &str) -> (Message, Vec<Message>, Message) {
        let resp = self.action(raw).await;
        let mut items = Vec::new();
        loop {
            let m = self.message().await.expect("list before close");
            if m.action_id() != Some(id.as_bytes()) {
                continue;
            }
            if m.get("EventList").is_some_and(|v| v == b"Complete") {
                return (resp, items, m);
            }
            items.push(m);
        }
    }

    /// Waits for the first event named `name`.
    pub async fn event(&mut self, name: &str) -> Message {
        loop {
            let m = self.message().await.expect("event before close");
            if m.event_name().is_some_and(|e| e == name.as_bytes()) {
                return m;
            }
        }
    }
}

/// The header keys of a message, in order.
pub fn keys(m: &Message) -> Vec<String> {
    m.headers()
        .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
        .collect()
}
