//! Harness for AstPanel's browser tests.
//!
//! A test calls [`Harness::start`]: it starts the relay in this process with
//! the simulated PBX on a free loopback port, and a [`Browser`]: chromedriver
//! with a headless Chromium. Page objects ([`PanelPage`]) find, act and
//! check the way a person looks at the page, through `data-testid`s.
//!
//! [`nginx::Nginx`] runs a real nginx in front of a relay with the shipped
//! `deploy/nginx/astpanel.conf`.
//!
//! The SPA must have been built into `target/spa` first: `cargo xtask test`
//! does that before it runs this crate.

pub mod logs;
pub mod nginx;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use relay::ami::SessionHandle;
use shared::ami::Message;
use thirtyfour::prelude::*;
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// pbxsim in the test's process, and the channel names of an [`api_state`] answer.
pub use testkit::{Pbx, channel_names};

/// How long any condition in a test may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(100);

/// Chromium flags that let it run headless as root on a machine without a network.
const CHROMIUM_ARGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
];

/// A headless Chromium driven through its own chromedriver. Dropping it stops both.
pub struct Browser {
    pub driver: WebDriver,
    chromedriver: Child,
    _profile: TempDir,
}

impl Browser {
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(&[]).await
    }

    /// A browser that renders as if the system were set to a dark colour scheme.
    pub async fn start_dark() -> anyhow::Result<Self> {
        // Blink's preferredColorScheme: 0 is dark, 1 light.
        Self::start_with(&["--blink-settings=preferredColorScheme=0"]).await
    }

    async fn start_with(extra_args: &[&str]) -> anyhow::Result<Self> {
        let port = free_port().await?;
        let chromedriver_path = std::env::var_os("CHROMEDRIVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| "/usr/bin/chromedriver".into());
        let chromedriver = Command::new(&chromedriver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| {
                format!(
                    "cannot start {} (run `cargo xtask test`, which installs it)",
                    chromedriver_path.display()
                )
            })?;
        wait_for_port(([127, 0, 0, 1], port).into())
            .await
            .context("chromedriver did not start listening")?;

        let profile = TempDir::new()?;
        let mut caps = DesiredCapabilities::chrome();
        for arg in CHROMIUM_ARGS.iter().chain(extra_args) {
            caps.add_arg(arg)?;
        }
        caps.add_arg(&format!("--user-data-dir={}", profile.0.display()))?;
        let driver = WebDriver::new(format!("http://127.0.0.1:{port}"), caps).await?;
        Ok(Browser {
            driver,
            chromedriver,
            _profile: profile,
        })
    }

    pub async fn open_panel(&self, url: &str) -> anyhow::Result<PanelPage> {
        self.driver.goto(url).await?;
        Ok(PanelPage {
            driver: self.driver.clone(),
        })
    }

    /// Closes the browser session so Chromium exits cleanly, then chromedriver.
    pub async fn stop(self) -> anyhow::Result<()> {
        let Browser {
            driver,
            mut chromedriver,
            ..
        } = self;
        driver.quit().await?;
        chromedriver.kill().await?;
        Ok(())
    }
}

/// The relay (with the simulated PBX) on a free port, and a browser. Dropping it stops all.
pub struct Harness {
    pub browser: Browser,
    pub base_url: String,
    addr: SocketAddr,
    pbx: Option<SocketAddr>,
    tweak: Tweak,
    relay: Option<DemoRelay>,
    /// The relay's saved logins, kept across [`Harness::stop_relay`] and
    /// [`Harness::start_relay`] as an installed relay's file would be.
    login_store: TempDir,
}

/// A relay running in this process: its shutdown trigger and its task.
pub struct DemoRelay {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// What a test changes in the relay's configuration (kept for a restart).
pub type Tweak = std::sync::Arc<dyn Fn(&mut relay::config::Config) + Send + Sync>;

impl DemoRelay {
    /// Starts the relay with its own simulated PBX (`Config::demo`) on `listener`.
    pub async fn start(listener: TcpListener) -> anyhow::Result<Self> {
        let unchanged: Tweak = std::sync::Arc::new(|_: &mut relay::config::Config| {});
        Self::start_following(listener, None, None, &unchanged).await
    }

    /// Shuts the relay down and waits until it has stopped.
    pub async fn stop(self) -> anyhow::Result<()> {
        // The relay may already have stopped by itself; then there is nobody to tell.
        let _ = self.stop.send(());
        tokio::time::timeout(WAIT, self.task)
            .await
            .context("the relay did not stop")??;
        Ok(())
    }

    /// With `pbx`, the relay follows that pbxsim; without, it runs its own demo PBX.
    /// With `login_store`, it saves logins there.
    async fn start_following(
        listener: TcpListener,
        pbx: Option<SocketAddr>,
        login_store: Option<PathBuf>,
        tweak: &Tweak,
    ) -> anyhow::Result<Self> {
        logs::capture();
        let (stop, stopped) = oneshot::channel::<()>();
        let mut config = relay::config::Config::demo(listener.local_addr()?);
        if let Some(pbx) = pbx {
            config.upstream = relay::config::Upstream::Asterisk(vec![quiet_server(pbx)]);
        }
        config.login_store = login_store;
        tweak(&mut config);
        let task = tokio::spawn(async move {
            let shutdown = async move {
                // Sent or dropped: either way this relay is done.
                let _ = stopped.await;
            };
            if let Err(error) = relay::run(config, listener, shutdown).await {
                eprintln!("relay stopped: {error}");
            }
        });
        Ok(DemoRelay { stop, task })
    }
}

/// The relay's view of a test's own pbxsim: named `demo` like the demo, so the login
/// page looks the same, but dialling the recorded test dialplan's Local phones.
fn quiet_server(pbx: SocketAddr) -> relay::config::ServerConfig {
    let mut server = relay::config::demo_server(pbx);
    server.dialing = relay::config::Dialing {
        channel_template: "Local/{exten}@test".into(),
        context: "test".into(),
        parking_context: "test".into(),
        ..server.dialing
    };
    server
}

impl Harness {
    /// The relay with its own demo PBX, which makes calls by itself.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_on(None, std::sync::Arc::new(|_| {})).await
    }

    /// The relay following `pbx`, a pbxsim that makes only the calls the test makes.
    pub async fn start_with(pbx: &Pbx) -> anyhow::Result<Self> {
        Self::start_on(Some(pbx.addr), std::sync::Arc::new(|_| {})).await
    }

    /// [`Harness::start_with`], with `tweak` applied to the relay's configuration.
    pub async fn start_tweaked(pbx: &Pbx, tweak: Tweak) -> anyhow::Result<Self> {
        Self::start_on(Some(pbx.addr), tweak).await
    }

    async fn start_on(pbx: Option<SocketAddr>, tweak: Tweak) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let login_store = TempDir::new()?;
        let relay =
            DemoRelay::start_following(listener, pbx, Some(login_store.logins()), &tweak).await?;
        let browser = Browser::start().await?;
        Ok(Harness {
            browser,
            base_url: format!("http://{addr}"),
            addr,
            pbx,
            tweak,
            relay: Some(relay),
            login_store,
        })
    }

    pub async fn open_panel(&self) -> anyhow::Result<PanelPage> {
        self.browser.open_panel(&self.base_url).await
    }

    /// Shuts the relay down, as an operator restarting it would, and waits until it has stopped.
    pub async fn stop_relay(&mut self) -> anyhow::Result<()> {
        match self.relay.take() {
            Some(relay) => relay.stop().await,
            None => Ok(()),
        }
    }

    /// Starts a new relay on the same address, so open pages can find it again.
    pub async fn start_relay(&mut self) -> anyhow::Result<()> {
        let listener = TcpListener::bind(self.addr).await?;
        let login_store = Some(self.login_store.logins());
        self.relay =
            Some(DemoRelay::start_following(listener, self.pbx, login_store, &self.tweak).await?);
        Ok(())
    }

    /// Call at the end of every test so Chromium exits cleanly.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.stop_relay().await?;
        self.browser.stop().await
    }
}

/// A side AMI session as `admin` on `pbx`, logged in, for the calls a test makes (the
/// relay's own AMI client, which is why it is not in `testkit` beside [`Pbx`]).
pub async fn side_session(pbx: &Pbx) -> anyhow::Result<SessionHandle> {
    let (session, mut events) = relay::ami::spawn_session(relay::ami::AmiConfig::new(
        pbx.addr.to_string(),
        "admin",
        "admin-secret",
    ));
    tokio::spawn(async move { while events.recv().await.is_some() {} });
    session
        .send(Message::new().with("Action", "Ping"))
        .await
        .context("the side AMI session did not come up")?;
    Ok(session)
}

/// Rings `phone` (a Local phone of the test dialplan: 100, 101) and connects it to
/// `exten`; `caller_id` as AMI's `CallerID:`. Returns at once (Async).
pub async fn originate(
    admin: &SessionHandle,
    phone: &str,
    exten: &str,
    caller_id: &str,
    seconds: u32,
) -> anyhow::Result<()> {
    let action = Message::new()
        .with("Action", "Originate")
        .with("Channel", format!("Local/{phone}@test"))
        .with("Context", "test")
        .with("Exten", exten)
        .with("Priority", "1")
        .with("CallerID", caller_id)
        .with("Async", "true")
        .with("Variable", format!("DURATION={seconds}"));
    admin.send_until_response(action).await?;
    Ok(())
}

/// The relay's own answer to `GET /api/v1/state` as `admin`: what the page must show.
pub async fn api_state(base: &str) -> anyhow::Result<serde_json::Value> {
    let http = reqwest::Client::builder().timeout(WAIT).build()?;
    let login: serde_json::Value = http
        .post(format!("{base}/api/v1/login"))
        .json(&serde_json::json!({"server": "demo", "username": "admin", "secret": "admin-secret"}))
        .send()
        .await?
        .json()
        .await?;
    let token = login["token"].as_str().context("a login token")?.to_owned();
    Ok(http
        .get(format!("{base}/api/v1/state"))
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await?)
}

/// The panel, seen through its `data-testid`s.
/// It holds its own handle on the browser session, so a test can restart the relay while it looks.
pub struct PanelPage {
    pub driver: WebDriver,
}

impl PanelPage {
    fn by(testid: &str) -> By {
        By::Css(format!("[data-testid='{testid}']"))
    }

    pub async fn text(&self, testid: &str) -> anyhow::Result<String> {
        Ok(self.driver.find(Self::by(testid)).await?.text().await?)
    }

    /// The `attribute` of every element `testid`, in page order.
    /// Read in one script, so that a live list re-rendering meanwhile cannot leave a
    /// stale element in the middle of the read.
    pub async fn attributes(&self, testid: &str, attribute: &str) -> anyhow::Result<Vec<String>> {
        let script = "return Array.from(document.querySelectorAll(`[data-testid='${arguments[0]}']`))\
            .map(e => e.getAttribute(arguments[1])).filter(v => v !== null)";
        let value = self
            .driver
            .execute(
                script,
                vec![serde_json::json!(testid), serde_json::json!(attribute)],
            )
            .await?;
        Ok(value.convert()?)
    }

    /// Clicks the button labelled `label` inside the element matching `css`, in one
    /// script for the same reason; false if there is none.
    pub async fn click_button_in(&self, css: &str, label: &str) -> anyhow::Result<bool> {
        let script = "const root = document.querySelector(arguments[0]); if (!root) return false;\
            const button = Array.from(root.querySelectorAll('button')).find(b => b.textContent.trim() === arguments[1]);\
            if (!button) return false; button.click(); return true;";
        let value = self
            .driver
            .execute(
                script,
                vec![serde_json::json!(css), serde_json::json!(label)],
            )
            .await?;
        Ok(value.convert()?)
    }

    /// Clicks the element `testid` (the first, if several).
    pub async fn click(&self, testid: &str) -> anyhow::Result<()> {
        self.driver.find(Self::by(testid)).await?.click().await?;
        Ok(())
    }

    /// Sets the field matching `css` as typing would (an `input` event for the app).
    pub async fn fill(&self, css: &str, value: &str) -> anyhow::Result<()> {
        let script = "const field = document.querySelector(arguments[0]); if (!field) return false;\
            field.value = arguments[1];\
            field.dispatchEvent(new Event(field.tagName === 'SELECT' ? 'change' : 'input', {bubbles: true}));\
            return true;";
        let found: bool = self
            .driver
            .execute(
                script,
                vec![serde_json::json!(css), serde_json::json!(value)],
            )
            .await?
            .convert()?;
        anyhow::ensure!(found, "no field {css}");
        Ok(())
    }

    /// Fills in the login form and sends it (the first server in the list).
    pub async fn login(&self, username: &str, secret: &str) -> anyhow::Result<()> {
        let user = wait_for("the login form", || async {
            Ok(self.driver.find(Self::by("login-username")).await.ok())
        })
        .await?;
        user.clear().await?;
        user.send_keys(username).await?;
        let field = self.driver.find(Self::by("login-secret")).await?;
        field.clear().await?;
        field.send_keys(secret).await?;
        self.driver
            .find(Self::by("login-submit"))
            .await?
            .click()
            .await?;
        Ok(())
    }

    /// Logs in and waits until the live model is up.
    pub async fn login_and_wait(&self, username: &str, secret: &str) -> anyhow::Result<()> {
        self.login(username, secret).await?;
        self.wait_for_attribute("link-state", "data-state", "up")
            .await
    }

    /// Goes to a view the way a person does: through the navigation.
    pub async fn navigate(&self, label: &str) -> anyhow::Result<()> {
        self.driver
            .find(By::XPath(format!("//nav//a[normalize-space()='{label}']")))
            .await?
            .click()
            .await?;
        Ok(())
    }

    /// Waits until the element `testid` has `attribute` equal to `expected`.
    pub async fn wait_for_attribute(
        &self,
        testid: &str,
        attribute: &str,
        expected: &str,
    ) -> anyhow::Result<()> {
        wait_for(&format!("{testid} {attribute}={expected:?}"), || async {
            let values = self.attributes(testid, attribute).await.unwrap_or_default();
            Ok(values.iter().any(|v| v == expected).then_some(()))
        })
        .await
    }

    /// Waits until the `attribute` of the elements `testid` satisfies `check`, and
    /// returns them.
    pub async fn wait_for_attributes(
        &self,
        what: &str,
        testid: &str,
        attribute: &str,
        check: impl Fn(&[String]) -> bool,
    ) -> anyhow::Result<Vec<String>> {
        wait_for(what, || async {
            let values = self.attributes(testid, attribute).await?;
            Ok(check(&values).then_some(values))
        })
        .await
    }

    /// Waits until the element `testid` contains `expected`.
    pub async fn wait_for_text_containing(
        &self,
        testid: &str,
        expected: &str,
    ) -> anyhow::Result<()> {
        wait_for(&format!("{testid} to contain {expected:?}"), || async {
            Ok(self
                .text(testid)
                .await
                .ok()
                .filter(|text| text.contains(expected))
                .map(|_| ()))
        })
        .await
    }

    /// The AMI channel names of every `data-testid="channel"` row shown.
    pub async fn shown_channels(&self) -> anyhow::Result<std::collections::BTreeSet<String>> {
        Ok(self
            .attributes("channel", "data-channel")
            .await?
            .into_iter()
            .collect())
    }

    /// Every channel row of the supervisor's call list, also those the windowed list
    /// draws only when scrolled to: it is scrolled through, half a screen at a time.
    /// For a page that stands still (the traffic held).
    pub async fn all_listed_channels(&self) -> anyhow::Result<std::collections::BTreeSet<String>> {
        // Scrolls to `top` and waits until the rows drawn cover the box (the scroll
        // event comes a frame later and the rows after it, later still on a busy
        // machine), then answers the rows, whether the end is in view, and the box's height.
        let scroll = |top: i64| {
            format!(
                r#"const box = document.querySelector('.scroll-box.calls');
                // The rows drawn before the scroll may still cover the box: wait for the
                // scroll event the list redraws on, then for the frames after it.
                const scrolled = new Promise(go => {{
                  if (!box || box.scrollTop === {top}) return go();
                  box.addEventListener('scroll', () => go(), {{ once: true }});
                  setTimeout(go, 1000);
                  box.scrollTop = {top};
                }}).then(() => new Promise(go => requestAnimationFrame(() => requestAnimationFrame(go))));
                return scrolled.then(() => new Promise(done => {{
                  const started = performance.now();
                  const check = () => {{
                    const rows = Array.from(document.querySelectorAll('[data-testid="channel"]'));
                    let covered = true;
                    if (box && rows.length) {{
                      const b = box.getBoundingClientRect();
                      covered = rows[0].getBoundingClientRect().top <= b.top + 1
                        && rows[rows.length - 1].getBoundingClientRect().bottom >= b.bottom - 1;
                    }}
                    if (covered || performance.now() - started > 3000) {{
                      done([rows.map(e => e.dataset.channel),
                            !box || box.scrollTop + box.clientHeight >= box.scrollHeight - 1,
                            box ? box.clientHeight : 0]);
                    }} else {{
                      setTimeout(check, 30);
                    }}
                  }};
                  check();
                }}));"#
            )
        };
        let mut seen = std::collections::BTreeSet::new();
        let mut top = 0i64;
        loop {
            let answer = self.driver.execute(&scroll(top), Vec::new()).await?;
            let (rows, at_end, height): (Vec<String>, bool, i64) =
                serde_json::from_value(answer.json().clone())?;
            seen.extend(rows);
            if at_end || height <= 0 {
                break;
            }
            top += (height / 4).max(1);
        }
        self.driver.execute(&scroll(0), Vec::new()).await?;
        Ok(seen)
    }

    /// Fails when the page has logged a console error (the suite allows none).
    pub async fn ensure_no_console_errors(&self) -> anyhow::Result<()> {
        let errors = self.console_errors().await?;
        anyhow::ensure!(errors.is_empty(), "console errors: {errors:?}");
        Ok(())
    }

    /// The browser console's errors so far (Chromium's `SEVERE` log entries).
    pub async fn console_errors(&self) -> anyhow::Result<Vec<String>> {
        let value = self
            .driver
            .execute("return (window.__astpanelErrors || []).slice()", Vec::new())
            .await?;
        Ok(value.convert().unwrap_or_default())
    }
}

/// Polls `check` until it yields a value or [`WAIT`] runs out: a WebDriver
/// wait, not a sleep; it returns as soon as the page is ready.
pub async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        if Instant::now() > deadline {
            bail!("timed out after {WAIT:?} waiting for {what}");
        }
        tokio::time::sleep(POLL).await;
    }
}

pub(crate) async fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0").await?.local_addr()?.port())
}

pub(crate) async fn wait_for_port(addr: SocketAddr) -> anyhow::Result<()> {
    wait_for(&format!("{addr} to accept connections"), || async {
        Ok(TcpStream::connect(addr).await.ok().map(|_| ()))
    })
    .await
}

/// A fresh directory (a Chromium profile, nginx's prefix), removed on drop.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new() -> anyhow::Result<Self> {
        let path =
            std::env::temp_dir().join(format!("astpanel-e2e-{}-{}", std::process::id(), unique()));
        std::fs::create_dir_all(&path)?;
        Ok(TempDir(path))
    }

    fn logins(&self) -> PathBuf {
        self.0.join("logins.db")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Best effort: a leftover profile in the temp dir harms nothing.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
