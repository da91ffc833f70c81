//! The panel in headless Chromium on loopback, in front of pbxsim's load mode: navigation
//! to first live data, the main thread's busy share with about 500 live channels at about
//! 1,000 events/s, and, once the traffic is held, the rows shown against pbxsim's channels.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use relay::ami::{AmiConfig, SessionEvent, SessionHandle, spawn_session};
use relay::config::{Config, Upstream};
use serde_json::{Value, json};
use shared::ami::Message;
use thirtyfour::WebDriver;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::bundle::{self, Asset};

/// Installed before any script of every page: the time, on the page's own clock (0 is the
/// navigation's start), at which the first channel row or extension tile is in the DOM.
/// A MutationObserver runs as a microtask right after the DOM change, before any paint.
const FIRST_DATA_PROBE: &str = r#"(() => {
  const tile = '[data-testid="channel"],[data-testid="extension"]';
  const observer = new MutationObserver(() => {
    if (document.querySelector(tile)) {
      window.__firstLiveData = performance.now();
      observer.disconnect();
    }
  });
  observer.observe(document, { childList: true, subtree: true });
})();"#;

/// The view measured: the one that shows every channel and every extension.
const VIEW: &str = "/supervisor";
/// The longest the warm-up waits for pbxsim to reach its channel target.
const WARM_LIMIT: Duration = Duration::from_secs(90);
/// Rows and pbxsim's channels must agree this soon after the traffic is held: a page that
/// fell behind may first drain its socket, or be dropped as too slow and reconnect.
const SETTLE: Duration = Duration::from_secs(240);
/// [`SETTLE`] as the page states it.
pub const SETTLE_SECONDS: u64 = SETTLE.as_secs();

/// How much of the browser benchmark to run.
pub struct BrowserPlan {
    /// Trunk's output, `target/spa`, which the relay in this binary embeds.
    pub spa: PathBuf,
    pub runs: usize,
    /// The main-thread busy share is measured over this much wall time per run.
    pub window: Duration,
    /// pbxsim's cap in events/s.
    pub events_per_sec: u64,
    /// Live channels pbxsim should have before the first run (0: no warm-up).
    pub warm_channels: usize,
}

/// What the browser benchmark measured, run by run.
pub struct BrowserResults {
    pub bundle: Vec<Asset>,
    /// Navigation start to the first channel or extension tile, ms.
    pub first_data_ms: Vec<f64>,
    /// TaskDuration over wall time during the window, 0 to 1.
    pub busy: Vec<f64>,
    /// pbxsim's live channels at the end of each window.
    pub channels: Vec<f64>,
    /// Events/s pbxsim sent to an unfiltered AMI session during each window.
    pub events_per_sec: Vec<f64>,
    /// Rows shown, equal to pbxsim's channels, once the traffic was held, each run.
    pub settled_rows: Vec<usize>,
    /// Seconds from holding the traffic to the rows being right: the page's backlog.
    pub settle_seconds: Vec<f64>,
    /// Where the main thread's time went, by self time, when the busy share missed its target.
    pub profile: Option<Vec<(String, f64)>>,
    pub browser: String,
}

/// The busy share the issue allows; above it the run also takes a CPU profile.
pub const BUSY_TARGET: f64 = 0.25;

pub async fn measure(plan: &BrowserPlan) -> anyhow::Result<BrowserResults> {
    let mut sim = pbxsim::SimConfig::load_at(plan.events_per_sec);
    sim.directory = pbxsim::Directory::call_centre();
    sim.stamp_every = 0;
    let faults = sim.faults.clone();
    let mut pbx = testkit::Pbx::start(sim).await;
    let pbx_addr = pbx.addr;
    let (relay_stop, relay_stopped) = oneshot::channel::<()>();
    let relay = start_relay(Some(pbx_addr), relay_stopped).await?;
    let side = Side::start(pbx_addr).await?;
    let browser = e2e::Browser::start().await?;
    let result = run(plan, &relay, &side, &faults, &browser).await;
    faults.hold_traffic(false);
    // The run's own error says more than a browser that then failed to close.
    let closed = browser.stop().await;
    let _ = relay_stop.send(());
    pbx.stop();
    let results = result?;
    closed?;
    Ok(results)
}

async fn run(
    plan: &BrowserPlan,
    relay: &str,
    side: &Side,
    faults: &pbxsim::Faults,
    browser: &e2e::Browser,
) -> anyhow::Result<BrowserResults> {
    let bundle = bundle::measure(&plan.spa, relay).await?;
    warm_up(side, plan.warm_channels).await?;
    faults.hold_traffic(true);
    let page = browser.open_panel(relay).await?;
    page.login_and_wait("admin", "admin-secret").await?;
    let driver = &browser.driver;
    let cdp = driver.cdp();
    // Every navigation fetches the whole bundle, as on a first visit.
    cdp.send_raw("Network.enable", json!({})).await?;
    cdp.send_raw("Network.setCacheDisabled", json!({"cacheDisabled": true}))
        .await?;
    cdp.send_raw(
        "Page.addScriptToEvaluateOnNewDocument",
        json!({ "source": FIRST_DATA_PROBE }),
    )
    .await?;
    let mut results = BrowserResults {
        bundle,
        first_data_ms: Vec::new(),
        busy: Vec::new(),
        channels: Vec::new(),
        events_per_sec: Vec::new(),
        settled_rows: Vec::new(),
        settle_seconds: Vec::new(),
        profile: None,
        browser: driver
            .execute("return navigator.userAgent", Vec::new())
            .await?
            .convert()?,
    };
    for run in 1..=plan.runs {
        // Held: the PBX stands still with all its calls up, so the navigation is timed
        // against the full snapshot with nothing else keeping the page busy.
        faults.hold_traffic(true);
        driver.goto(format!("{relay}{VIEW}")).await?;
        let first: f64 = e2e::wait_for("the first channel or extension tile", || async {
            let value = driver
                .execute("return window.__firstLiveData ?? null", Vec::new())
                .await?;
            Ok(value.json().as_f64())
        })
        .await?;
        rows_match(&page, side)
            .await
            .context("the rows of a fresh page")?;
        faults.hold_traffic(false);
        // Nothing but CDP talks to the page now: a saturated page answers no script.
        let (busy, rate) = busy_share(driver, side, plan.window).await?;
        let channels = side.channels().await?.len();
        faults.hold_traffic(true);
        let (settled, settle_secs) = rows_match(&page, side)
            .await
            .context("the rows after churn")?;
        eprintln!(
            "browser run {run}/{}: first live data {first:.0} ms, main thread {:.1}% busy \
             with {channels} live channels at {rate:.0} events/s; {settled} rows, right \
             {settle_secs:.1} s after the traffic was held",
            plan.runs,
            busy * 100.0
        );
        results.first_data_ms.push(first);
        results.busy.push(busy);
        results.channels.push(channels as f64);
        results.events_per_sec.push(rate);
        results.settled_rows.push(settled);
        results.settle_seconds.push(settle_secs);
    }
    let median_busy = crate::stats::Spread::of(&results.busy).map_or(0.0, |s| s.median);
    if median_busy > BUSY_TARGET {
        faults.hold_traffic(false);
        results.profile = Some(profile(driver, plan.window).await?);
    }
    Ok(results)
}

/// The relay following pbxsim at `pbx`, on a loopback port; returns its base URL.
/// The relay in this process, until `stopped`, following `pbx` (`None`: its own demo PBX);
/// its URL.
pub async fn start_relay(
    pbx: Option<SocketAddr>,
    stopped: oneshot::Receiver<()>,
) -> anyhow::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the relay")?;
    let addr = listener.local_addr()?;
    let mut config = Config::demo(addr);
    if let Some(pbx) = pbx {
        config.upstream = Upstream::Asterisk(vec![relay::config::demo_server(pbx)]);
    }
    tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.await;
        };
        if let Err(error) = relay::run(config, listener, shutdown).await {
            eprintln!("the relay stopped: {error}");
        }
    });
    Ok(format!("http://{addr}"))
}

/// A side AMI session on pbxsim, unfiltered: it counts what pbxsim sends and lists its channels.
struct Side {
    session: SessionHandle,
    events: Arc<AtomicU64>,
}

impl Side {
    async fn start(pbx: SocketAddr) -> anyhow::Result<Side> {
        let (session, mut incoming) =
            spawn_session(AmiConfig::new(pbx.to_string(), "admin", "admin-secret"));
        let events = Arc::new(AtomicU64::new(0));
        let counter = events.clone();
        tokio::spawn(async move {
            while let Some(event) = incoming.recv().await {
                if let SessionEvent::Event(_) = event {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        session
            .send(Message::new().with("Action", "Ping"))
            .await
            .context("the side AMI session did not come up")?;
        Ok(Side { session, events })
    }

    /// pbxsim's live channels, by name, from `CoreShowChannels`.
    async fn channels(&self) -> anyhow::Result<BTreeSet<String>> {
        let list = self
            .session
            .send(Message::new().with("Action", "CoreShowChannels"))
            .await
            .context("CoreShowChannels on pbxsim")?;
        Ok(list
            .events
            .iter()
            .filter(|m| m.get_str("Event").as_deref() == Some("CoreShowChannel"))
            .filter_map(|m| m.get_str("Channel").map(String::from))
            .collect())
    }

    fn events(&self) -> u64 {
        self.events.load(Ordering::Relaxed)
    }
}

/// Waits until pbxsim has `target` live channels, or [`WARM_LIMIT`] has passed (the page
/// then reports the rows there were).
async fn warm_up(side: &Side, target: usize) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let channels = side.channels().await?.len();
        if channels >= target {
            eprintln!(
                "browser: pbxsim has {channels} live channels after {:.0} s",
                started.elapsed().as_secs_f64()
            );
            return Ok(());
        }
        if started.elapsed() > WARM_LIMIT {
            eprintln!(
                "browser: pbxsim has only {channels} channels after {WARM_LIMIT:?}; going on"
            );
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Chromium's `TaskDuration` (time the renderer's main thread spent running tasks) over
/// the wall time between two `Performance.getMetrics`, and pbxsim's events/s meanwhile.
async fn busy_share(
    driver: &WebDriver,
    side: &Side,
    window: Duration,
) -> anyhow::Result<(f64, f64)> {
    let cdp = driver.cdp();
    cdp.send_raw("Performance.enable", json!({"timeDomain": "timeTicks"}))
        .await?;
    let metrics = || async {
        let answer = cdp.send_raw("Performance.getMetrics", json!({})).await?;
        let get = |name: &str| metric(&answer, name);
        Ok::<_, anyhow::Error>((get("TaskDuration")?, get("Timestamp")?))
    };
    let (events_before, clock) = (side.events(), Instant::now());
    let (task_before, time_before) = metrics().await?;
    tokio::time::sleep(window).await;
    let (task_after, time_after) = metrics().await?;
    let rate = (side.events() - events_before) as f64 / clock.elapsed().as_secs_f64();
    let wall = time_after - time_before;
    if wall <= 0.0 {
        bail!("Chromium's Timestamp did not advance over the window");
    }
    Ok(((task_after - task_before) / wall, rate))
}

/// One named value of a `Performance.getMetrics` answer.
fn metric(answer: &Value, name: &str) -> anyhow::Result<f64> {
    answer["metrics"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["name"] == name)
        .and_then(|m| m["value"].as_f64())
        .with_context(|| format!("Performance.getMetrics has no {name}"))
}

/// With the traffic held, waits until the page's rows are exactly pbxsim's channels, and
/// returns how many and the seconds it took; fails naming the difference when they are not
/// within [`SETTLE`].
async fn rows_match(page: &e2e::PanelPage, side: &Side) -> anyhow::Result<(usize, f64)> {
    let held = Instant::now();
    // The batch pbxsim was making when the switch flipped still goes out.
    tokio::time::sleep(pbxsim::fault::POLL * 2).await;
    let live = side.channels().await?;
    let deadline = Instant::now() + SETTLE;
    loop {
        // A page still catching up may not answer a script: that is "not yet".
        let shown = page.all_listed_channels().await.unwrap_or_default();
        if shown == live {
            return Ok((shown.len(), held.elapsed().as_secs_f64()));
        }
        if Instant::now() > deadline {
            let ghosts: Vec<_> = shown.difference(&live).take(5).collect();
            let missing: Vec<_> = live.difference(&shown).take(5).collect();
            bail!(
                "after the traffic stopped the page shows {} rows, pbxsim has {} channels \
                 (rows pbxsim does not have, first 5: {ghosts:?}; channels not shown: {missing:?})",
                shown.len(),
                live.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A CPU profile of the page over `window`: self time by function, largest first, as a
/// share of the profile's duration (`(program)` is the renderer's own work: style, layout,
/// paint; `(garbage collector)` is V8's).
async fn profile(driver: &WebDriver, window: Duration) -> anyhow::Result<Vec<(String, f64)>> {
    let cdp = driver.cdp();
    cdp.send_raw("Profiler.enable", json!({})).await?;
    cdp.send_raw("Profiler.start", json!({})).await?;
    tokio::time::sleep(window).await;
    let answer = cdp.send_raw("Profiler.stop", json!({})).await?;
    Ok(self_times(&answer["profile"]))
}

/// Self time per function of a CDP `Profiler.Profile`, as shares of its duration.
fn self_times(profile: &Value) -> Vec<(String, f64)> {
    let nodes = profile["nodes"].as_array().cloned().unwrap_or_default();
    let samples: f64 = nodes.iter().filter_map(|n| n["hitCount"].as_f64()).sum();
    let mut by_name: std::collections::BTreeMap<String, f64> = Default::default();
    for node in &nodes {
        let frame = &node["callFrame"];
        let name = match frame["functionName"].as_str() {
            Some("") | None => "(anonymous)",
            Some(name) => name,
        };
        let file = frame["url"]
            .as_str()
            .and_then(|url| url.rsplit('/').next())
            .filter(|file| !file.is_empty());
        let key = match file {
            Some(file) => format!("{name} ({file})"),
            None => name.to_owned(),
        };
        *by_name.entry(key).or_default() += node["hitCount"].as_f64().unwrap_or(0.0);
    }
    let mut shares: Vec<(String, f64)> = by_name
        .into_iter()
        .filter(|(_, hits)| *hits > 0.0)
        .map(|(name, hits)| (name, hits / samples.max(1.0)))
        .collect();
    shares.sort_by(|a, b| b.1.total_cmp(&a.1));
    shares.truncate(12);
    shares
}

#[cfg(test)]
mod tests {
    use super::{metric, self_times};
    use serde_json::json;

    #[test]
    fn metrics_are_found_by_name_and_a_missing_one_is_an_error() {
        let answer = json!({"metrics": [{"name": "Timestamp", "value": 12.5}, {"name": "TaskDuration", "value": 0.75}]});
        assert_eq!(metric(&answer, "TaskDuration").ok(), Some(0.75));
        assert!(metric(&answer, "LayoutDuration").is_err());
    }

    #[test]
    fn self_times_add_up_by_function_and_file() {
        let profile = json!({"nodes": [
            {"id": 1, "callFrame": {"functionName": "(root)", "url": ""}, "hitCount": 0},
            {"id": 2, "callFrame": {"functionName": "(idle)", "url": ""}, "hitCount": 6},
            {"id": 3, "callFrame": {"functionName": "apply", "url": "http://x/app.js"}, "hitCount": 1},
            {"id": 4, "callFrame": {"functionName": "apply", "url": "http://x/app.js"}, "hitCount": 2},
            {"id": 5, "callFrame": {"functionName": "", "url": "http://x/app.js"}, "hitCount": 1},
        ]});
        let shares = self_times(&profile);
        assert_eq!(shares[0], ("(idle)".to_owned(), 0.6));
        assert_eq!(shares[1].0, "apply (app.js)");
        assert!((shares[1].1 - 0.3).abs() < 1e-9);
        assert_eq!(shares[2].0, "(anonymous) (app.js)");
        assert_eq!(shares.len(), 3, "no row for a function never sampled");
    }
}
