//! AstPanel behind a real nginx running the shipped `deploy/nginx/astpanel.conf`:
//! everything a browser and an AJAM script do goes through nginx to the relay.
//!
//! Needs nginx (`apt-get install nginx`; `cargo xtask test` installs it). Without it
//! the test fails and says so: a skipped proxy test would hide a broken config.

use anyhow::{Context, bail};
use e2e::nginx::Nginx;
use e2e::{Browser, DemoRelay, WAIT};
use futures::StreamExt;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// The relay with the demo PBX, and nginx in front of it.
struct Stack {
    relay: DemoRelay,
    nginx: Nginx,
}

impl Stack {
    async fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let upstream = listener.local_addr()?;
        let relay = DemoRelay::start(listener).await?;
        let nginx = Nginx::start(upstream).await?;
        Ok(Stack { relay, nginx })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.nginx.base_url)
    }

    async fn stop(self) -> anyhow::Result<()> {
        self.nginx.stop().await?;
        self.relay.stop().await
    }
}

fn http() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder().timeout(WAIT).build()?)
}

/// Runs `check` against a fresh stack and, when it fails, adds nginx's logs to the error.
async fn with_stack(check: impl AsyncFnOnce(&Stack) -> anyhow::Result<()>) -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let outcome = check(&stack).await;
    let logs = stack.nginx.logs();
    stack.stop().await?;
    outcome.with_context(|| format!("through nginx\n{logs}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers_through_nginx() -> anyhow::Result<()> {
    with_stack(async |stack| {
        let answer = http()?.get(stack.url("/healthz")).send().await?;
        assert_eq!(answer.status(), reqwest::StatusCode::OK);
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ajam_login_then_ping_with_the_session_cookie() -> anyhow::Result<()> {
    with_stack(async |stack| {
        // At the host's root and under the /astpanel/ prefix alike.
        for prefix in ["", "/astpanel"] {
            ajam_login_then_ping(stack, prefix).await?;
        }
        Ok(())
    })
    .await
}

async fn ajam_login_then_ping(stack: &Stack, prefix: &str) -> anyhow::Result<()> {
    {
        let http = http()?;
        let login = http
            .get(stack.url(&format!(
                "{prefix}/asterisk/rawman?action=login&username=admin&secret=admin-secret"
            )))
            .send()
            .await?;
        assert_eq!(login.status(), reqwest::StatusCode::OK);
        let cookie = login
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .find_map(|value| {
                value
                    .split(';')
                    .next()?
                    .trim()
                    .strip_prefix("mansession_id=")
            })
            .map(str::to_owned)
            .context("the login answer sets no mansession_id cookie")?;
        let body = login.text().await?;
        assert!(
            body.starts_with("Response: Success\r\nMessage: Authentication accepted\r\n"),
            "login answered {body:?}"
        );

        let ping = http
            .get(stack.url(&format!("{prefix}/asterisk/rawman?action=ping")))
            .header(reqwest::header::COOKIE, format!("mansession_id={cookie}"))
            .send()
            .await?
            .text()
            .await?;
        assert!(
            ping.starts_with("Response: Success\r\nPing: Pong\r\nTimestamp: "),
            "ping answered {ping:?}"
        );
        Ok(())
    }
}

/// A token from the panel's login API, asked through nginx.
async fn panel_token(stack: &Stack) -> anyhow::Result<String> {
    let login: serde_json::Value = http()?
        .post(stack.url("/api/v1/login"))
        .json(&serde_json::json!({"server": "demo", "username": "admin", "secret": "admin-secret"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    login["token"]
        .as_str()
        .map(str::to_owned)
        .context("the login answer has no token")
}

/// Opens `/ws` through nginx as a page served from `origin` would.
async fn open_socket(
    stack: &Stack,
    token: &str,
    origin: &str,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    WsError,
> {
    let url = stack
        .url(&format!("/ws?token={token}"))
        .replacen("http", "ws", 1);
    let mut request = url.into_client_request()?;
    request.headers_mut().insert(
        "origin",
        HeaderValue::from_str(origin).map_err(|e| WsError::HttpFormat(e.into()))?,
    );
    let connect = tokio_tungstenite::connect_async(request);
    match tokio::time::timeout(WAIT, connect).await {
        Ok(connected) => connected.map(|(socket, _)| socket),
        Err(_) => Err(WsError::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the WebSocket handshake timed out",
        ))),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_upgrades_and_sends_hello_then_snapshot() -> anyhow::Result<()> {
    with_stack(async |stack| {
        let token = panel_token(stack).await?;
        let mut socket = open_socket(stack, &token, &stack.nginx.base_url)
            .await
            .context("the same-origin WebSocket through nginx")?;
        let mut types = Vec::new();
        while types.len() < 2 {
            let message = tokio::time::timeout(WAIT, socket.next())
                .await
                .context("no message from the WebSocket")?
                .context("the WebSocket closed")??;
            if let Message::Text(text) = message {
                let value: serde_json::Value = serde_json::from_str(&text)?;
                types.push(value["type"].as_str().unwrap_or_default().to_owned());
            }
        }
        assert_eq!(types, ["hello", "snapshot"]);
        socket.close(None).await?;

        // nginx passes the Origin on untouched, so the relay still refuses another site.
        match open_socket(stack, &token, "http://evil.example").await {
            Err(WsError::Http(answer)) => assert_eq!(answer.status(), StatusCode::FORBIDDEN),
            Err(other) => bail!("a cross-site WebSocket failed oddly: {other}"),
            Ok(_) => bail!("a cross-site WebSocket was accepted through nginx"),
        }
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_panel_logs_in_and_goes_live_in_chromium_through_nginx() -> anyhow::Result<()> {
    with_stack(async |stack| {
        let browser = Browser::start().await?;
        let outcome = async {
            let page = browser.open_panel(&stack.url("/")).await?;
            // Up means the SPA, the login API (cookie and Origin) and the WebSocket all
            // went through nginx.
            page.login_and_wait("admin", "admin-secret").await?;
            // Under the prefix, straight to a view: the page, its assets, the API and
            // the socket are all asked for below /astpanel/.
            let prefixed = browser
                .open_panel(&stack.url("/astpanel/supervisor"))
                .await?;
            prefixed
                .wait_for_attribute("link-state", "data-state", "up")
                .await?;
            // The navigation stays below the prefix too.
            prefixed.navigate("Wallboard").await?;
            prefixed
                .wait_for_attribute("link-state", "data-state", "up")
                .await?;
            prefixed.ensure_no_console_errors().await
        }
        .await;
        browser.stop().await?;
        outcome
    })
    .await
}
