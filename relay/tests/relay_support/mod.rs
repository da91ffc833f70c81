//! A relay on real sockets in front of real pbxsim instances, and clients for it:
//! HTTP for the API, WebSockets for the push (HTTPS and WSS when the relay has `[tls]`).

#![allow(dead_code)] // each test file uses part of this

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use relay::ami::{AmiConfig, SessionHandle, spawn_session};
use relay::config::{Config, ServerConfig, Upstream};
use serde_json::Value;
use shared::ami::{Classes, Message};
pub use testkit::Pbx;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite;

/// Long enough for a loaded CI machine, short enough to fail a hung test.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// A side AMI session as admin on `pbx`, to make calls the relay then sees (the relay's
/// own AMI client, which is why it is not in `testkit` beside [`Pbx`]).
pub fn side_session(pbx: &Pbx) -> SessionHandle {
    let (session, events) = spawn_session(AmiConfig::new(
        pbx.addr.to_string(),
        "admin",
        "admin-secret",
    ));
    // The side session's events are not the test's business.
    tokio::spawn(async move {
        let mut events = events;
        while events.recv().await.is_some() {}
    });
    session
}

/// Starts a call from `phone` to `exten` that lasts `seconds`, as pbxsim's tests do.
pub async fn call(admin: &SessionHandle, phone: &str, exten: &str, seconds: u32) {
    let originate = Message::new()
        .with("Action", "Originate")
        .with("Channel", format!("Local/{phone}@test"))
        .with("Context", "test")
        .with("Exten", exten)
        .with("Priority", "1")
        .with("Async", "true")
        .with("Variable", format!("DURATION={seconds}"));
    // The side session may still be logging in: retry until it answers.
    for _ in 0..50 {
        if admin.send(originate.clone()).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("pbxsim did not take the Originate");
}

/// The relay's view of one pbxsim: its service session is `admin`.
pub fn server(name: &str, pbx: &Pbx) -> ServerConfig {
    let mut server = relay::config::demo_server(pbx.addr);
    server.name = name.to_owned();
    server.demo_accounts.clear();
    server
        .read_classes
        .insert("agent".into(), Classes::parse("call,agent,user,dtmf"));
    // The recorded test dialplan: phones are Local channels in context `test`.
    server.dialing = relay::config::Dialing {
        channel_template: "Local/{exten}@test".into(),
        context: "test".into(),
        parking_context: "test".into(),
        ..server.dialing
    };
    server
}

/// A relay account on pbxsim's `admin` AMI account, with the password `<name>-password`.
pub fn relay_user(
    name: &str,
    role: shared::action::Role,
    extension: &str,
) -> relay::auth::users::RelayUser {
    let hash =
        relay::auth::users::hash_password(format!("{name}-password").as_bytes()).expect("hash");
    relay::auth::users::RelayUser::new(
        name.into(),
        hash.as_str(),
        "pbx".into(),
        "admin".into(),
        "admin-secret".into(),
        role,
        Some(extension.into()),
    )
    .expect("user")
}

/// Where [`Relay::start_at`] listens; `None`: a free port.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ports {
    pub panel: Option<SocketAddr>,
    pub legacy: Option<SocketAddr>,
    /// The panel listener's `SO_SNDBUF`, which every socket it accepts inherits; `None`:
    /// the kernel's, which grows to megabytes, so a browser that stops reading would
    /// hold many seconds of small deltas before the relay's sends had to wait.
    pub send_buffer: Option<u32>,
}

/// A relay serving on a loopback port until dropped.
pub struct Relay {
    pub base: String,
    pub addr: SocketAddr,
    /// The AJAM listener with Asterisk's exact header lines.
    pub legacy_addr: SocketAddr,
    /// Whom the clients trust when the relay serves TLS (`base` is then `https://`).
    pub trust: Option<Arc<rustls::ClientConfig>>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Relay {
    pub async fn start(servers: Vec<ServerConfig>, tweak: impl FnOnce(&mut Config)) -> Relay {
        Relay::start_at(servers, Ports::default(), tweak).await
    }

    /// [`Relay::start`] on given ports (a restart on the same ones), else fresh ones.
    pub async fn start_at(
        servers: Vec<ServerConfig>,
        ports: Ports,
        tweak: impl FnOnce(&mut Config),
    ) -> Relay {
        let bind = |addr: Option<SocketAddr>, send_buffer: Option<u32>| async move {
            let addr = addr.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
            // A port just given up may take a moment to be free again.
            for _ in 0..100 {
                let socket = tokio::net::TcpSocket::new_v4().expect("a TCP socket");
                // As `TcpListener::bind` does, so a restart can take the same port.
                socket.set_reuseaddr(true).expect("SO_REUSEADDR");
                if let Some(bytes) = send_buffer {
                    socket.set_send_buffer_size(bytes).expect("SO_SNDBUF");
                }
                if let Ok(listener) = socket.bind(addr).and_then(|()| socket.listen(1024)) {
                    return listener;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("cannot bind {addr}")
        };
        let listener = bind(ports.panel, ports.send_buffer).await;
        let addr = listener.local_addr().expect("relay addr");
        let legacy = bind(ports.legacy, None).await;
        let legacy_addr = legacy.local_addr().expect("AJAM addr");
        let mut config = Config::demo(addr);
        config.upstream = Upstream::Asterisk(servers);
        config.linger = Duration::from_millis(300);
        tweak(&mut config);
        let scheme = if config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            relay::run_with_legacy(config, listener, Some(legacy), shutdown)
                .await
                .expect("relay ran");
        });
        Relay {
            base: format!("{scheme}://{addr}"),
            addr,
            legacy_addr,
            trust: None,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(PATIENCE, task).await;
        }
    }

    pub fn http(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .timeout(PATIENCE)
            .build()
            .expect("HTTP client")
    }

    /// A TLS connection to the relay, trusting what [`Relay::trust`] trusts.
    async fn tls_stream(&self) -> tokio_rustls::client::TlsStream<TcpStream> {
        let trust = self.trust.clone().expect("a relay with TLS and a trust");
        let tcp = TcpStream::connect(self.addr).await.expect("TCP connect");
        let name = rustls::pki_types::ServerName::from(self.addr.ip());
        tokio_rustls::TlsConnector::from(trust)
            .connect(name, tcp)
            .await
            .expect("TLS handshake")
    }

    /// POSTs `body` as JSON over HTTPS (hyper's client on one connection); the status,
    /// the `Set-Cookie` header and the JSON answer.
    pub async fn https_post(&self, path: &str, body: &Value) -> (u16, String, Value) {
        use http_body_util::BodyExt;
        let io = hyper_util::rt::TokioIo::new(self.tls_stream().await);
        let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
            .await
            .expect("HTTP/1.1 over TLS");
        tokio::spawn(connection);
        let request = hyper::Request::post(path)
            .header("host", self.addr.to_string())
            .header("origin", &self.base)
            .header("content-type", "application/json")
            .body(http_body_util::Full::new(bytes::Bytes::from(
                body.to_string(),
            )))
            .expect("request");
        let response = tokio::time::timeout(PATIENCE, sender.send_request(request))
            .await
            .expect("an answer in time")
            .expect("an answer");
        let status = response.status().as_u16();
        let cookie = response
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = tokio::time::timeout(PATIENCE, response.into_body().collect())
            .await
            .expect("a body in time")
            .expect("a body")
            .to_bytes();
        (
            status,
            cookie,
            serde_json::from_slice(&bytes).expect("a JSON body"),
        )
    }

    pub async fn get_text(&self, path: &str) -> String {
        let response = self
            .http()
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("GET");
        response.text().await.expect("a text body")
    }

    pub async fn get_json(&self, path: &str) -> Value {
        serde_json::from_str(&self.get_text(path).await).expect("a JSON body")
    }

    /// Logs in; the token on success, else the status and the error text.
    pub async fn login(
        &self,
        server: &str,
        user: &str,
        secret: &str,
    ) -> Result<String, (u16, String)> {
        let response = self
            .http()
            .post(format!("{}/api/v1/login", self.base))
            .json(&serde_json::json!({"server": server, "username": user, "secret": secret}))
            .send()
            .await
            .expect("login request");
        let status = response.status().as_u16();
        let body: Value = response.json().await.expect("JSON answer");
        if status == 200 {
            Ok(body["token"].as_str().expect("token").to_owned())
        } else {
            Err((
                status,
                body["error"].as_str().unwrap_or_default().to_owned(),
            ))
        }
    }

    /// `GET /api/v1/me`: its status, and the hello when it is 200.
    pub async fn me(&self, token: &str) -> (u16, Value) {
        let response = self
            .http()
            .get(format!("{}/api/v1/me", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("me request");
        let status = response.status().as_u16();
        let hello = if status == 200 {
            response.json().await.expect("hello JSON")
        } else {
            Value::Null
        };
        (status, hello)
    }

    /// `POST /api/v1/logout`, `?everywhere=true` with `everywhere`: its status.
    pub async fn logout(&self, token: &str, everywhere: bool) -> u16 {
        let query = if everywhere { "?everywhere=true" } else { "" };
        self.http()
            .post(format!("{}/api/v1/logout{query}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("logout request")
            .status()
            .as_u16()
    }

    pub async fn state(&self, token: &str) -> Value {
        let response = self
            .http()
            .get(format!("{}/api/v1/state", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("state request");
        assert_eq!(response.status().as_u16(), 200);
        response.json().await.expect("state JSON")
    }

    /// Runs one action through `POST /api/v1/actions`; its `action_result`.
    pub async fn act(&self, token: &str, action: Value) -> Value {
        let response = self
            .http()
            .post(format!("{}/api/v1/actions", self.base))
            .bearer_auth(token)
            .json(&action)
            .send()
            .await
            .expect("action request");
        assert_eq!(response.status().as_u16(), 200, "{action}");
        let result: Value = response.json().await.expect("an action_result");
        assert_eq!(result["type"], "action_result", "{result}");
        result
    }

    /// Polls the state until `check` holds (the relay applies events asynchronously).
    pub async fn state_until(
        &self,
        token: &str,
        what: &str,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let state = self.state(token).await;
            if check(&state) {
                return state;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("never saw {what}: {state}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn socket(&self, token: &str) -> Socket {
        let (socket, _) = tokio_tungstenite::connect_async(self.socket_request("ws", token))
            .await
            .expect("ws connect");
        Socket { socket }
    }

    /// A WebSocket over TLS, trusting what [`Relay::trust`] trusts.
    pub async fn secure_socket(
        &self,
        token: &str,
    ) -> Socket<tokio_rustls::client::TlsStream<TcpStream>> {
        let tls = self.tls_stream().await;
        let (socket, _) = tokio_tungstenite::client_async(self.socket_request("wss", token), tls)
            .await
            .expect("wss connect");
        Socket { socket }
    }

    fn socket_request(&self, scheme: &str, token: &str) -> tungstenite::handshake::client::Request {
        let mut request = tungstenite::client::IntoClientRequest::into_client_request(format!(
            "{scheme}://{}/ws",
            self.addr
        ))
        .expect("ws request");
        request.headers_mut().insert(
            "cookie",
            format!("astpanel_session={token}")
                .parse()
                .expect("cookie header"),
        );
        request
            .headers_mut()
            .insert("origin", self.base.parse().expect("origin header"));
        request
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The value of the first line of a `/metrics` text that starts with `name`, if any.
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|line| line.starts_with(name))
        .and_then(|line| line.split_whitespace().last())
        .and_then(|value| value.parse().ok())
}

pub struct Socket<S = tokio_tungstenite::MaybeTlsStream<TcpStream>> {
    pub socket: tokio_tungstenite::WebSocketStream<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Socket<S> {
    /// The next JSON message (pings are answered by tungstenite and skipped).
    pub async fn next(&mut self) -> Value {
        loop {
            let frame = tokio::time::timeout(PATIENCE, self.socket.next())
                .await
                .expect("a frame in time")
                .expect("socket open")
                .expect("frame");
            match frame {
                tungstenite::Message::Text(text) => {
                    return serde_json::from_str(&text).expect("JSON frame");
                }
                tungstenite::Message::Close(frame) => panic!("closed: {frame:?}"),
                _ => {}
            }
        }
    }

    /// Skips messages until one of type `kind`.
    pub async fn next_of(&mut self, kind: &str) -> Value {
        loop {
            let message = self.next().await;
            if message["type"] == kind {
                return message;
            }
        }
    }

    pub async fn send(&mut self, message: Value) {
        self.socket
            .send(tungstenite::Message::Text(message.to_string().into()))
            .await
            .expect("send");
    }
}
