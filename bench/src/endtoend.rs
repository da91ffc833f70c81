//! End to end: pbxsim's load mode at a steady rate → the relay, a process of its own
//! (AMI, model, deltas) → N panels over WebSocket. Latency from the tap reading a
//! `Hangup` to each panel holding the delta that removes its channel; the relay's
//! events/s in, CPU and RSS over the same window.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;

use crate::panel_client::{BUSY_SILENCE, Panels};
use crate::pbx::{self, Pbx};
use crate::profile;
use crate::relay_process::{RelayProcess, Upstream};
use crate::stats::{interleaved, percentile};
use crate::tap::Tap;

/// Time for the panels' first deltas before the window opens.
pub const WARM_UP: Duration = Duration::from_secs(1);
/// At most this long after the window for its last removals to reach every panel; a
/// removal later than that fails the run.
pub const DRAIN: Duration = Duration::from_secs(10);

/// How much of the end-to-end benchmark to run.
pub struct Plan {
    pub relay: PathBuf,
    pub clients: Vec<usize>,
    pub events_per_sec: u64,
    pub window: Duration,
    pub runs: usize,
}

/// One run with one number of panels.
#[derive(Clone, Debug)]
pub struct Run {
    pub clients: usize,
    pub events_per_sec_in: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub cores: f64,
    pub rss: u64,
    /// Cores the bench process (pbxsim, tap, panels) used meanwhile.
    pub bench_cores: f64,
    pub hangups: usize,
    /// Panels the relay had to give a fresh snapshot for falling behind (or after a
    /// rebuild of its model).
    pub lagged: usize,
    /// Panels the relay dropped or left silent, and the first one's reason.
    pub dropped: usize,
    pub dropped_why: Option<String>,
    /// The relay's AMI link went down and its model was rebuilt during the run: pbxsim
    /// drops a reader that falls too far behind, as Asterisk does.
    pub link_lost: bool,
    /// What the panels read in the window, all together, bytes/s.
    pub delivered: f64,
    /// Deltas each panel read in the window, per second (median panel).
    pub deltas_per_sec: f64,
    /// The tap's own lag behind pbxsim's `SentUs`, p99, microseconds.
    pub tap_lag_p99_us: f64,
}

/// Every run of every size, by number of panels (runs interleaved: each size once,
/// then again), and a `perf` profile of the relay with the most panels, taken in the
/// last run after its window (so that perf's cost is in no figure), or why there is none.
pub async fn measure(plan: &Plan) -> anyhow::Result<(Vec<Vec<Run>>, String)> {
    let most = plan.clients.iter().copied().max().unwrap_or(0);
    let profile = std::cell::RefCell::new(String::new());
    let by_size = interleaved(&plan.clients, plan.runs, |run, clients| {
        let profile = (run == plan.runs && clients == most).then_some(&profile);
        async move {
            let result = once(plan, clients, profile).await?;
            eprintln!(
                "end to end run {run}/{}: {clients:>5} panels, {:>6.0} events/s in, \
                 p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, {:.2} cores, {:.0} MiB, {} lagged, \
                 {:.1} deltas/s a panel, {:.1} MiB/s to all, bench {:.2} cores, {} dropped, \
                 AMI link lost: {}",
                plan.runs,
                result.events_per_sec_in,
                result.p50_ms,
                result.p99_ms,
                result.max_ms,
                result.cores,
                result.rss as f64 / 1_048_576.0,
                result.lagged,
                result.deltas_per_sec,
                result.delivered / 1_048_576.0,
                result.bench_cores,
                result.dropped,
                result.link_lost
            );
            Ok(result)
        }
    })
    .await?;
    Ok((by_size, profile.into_inner()))
}

async fn once(
    plan: &Plan,
    clients: usize,
    profile: Option<&std::cell::RefCell<String>>,
) -> anyhow::Result<Run> {
    let pbx = Pbx::start(pbx::load(Some(plan.events_per_sec))).await?;
    let tap = Tap::start(pbx.addr)?;
    let upstream = Upstream {
        name: "pbx".into(),
        addr: pbx.addr,
    };
    let relay = RelayProcess::start(&plan.relay, &[upstream]).await?;
    let recorded = tap.recorded.clone();
    let panels = Panels::open(
        relay.addr,
        "pbx",
        clients,
        Some(recorded.clone()),
        Some(BUSY_SILENCE),
    )
    .await?;
    tokio::time::sleep(WARM_UP).await;
    let before = relay.sample().await?;
    recorded.set_recording(true);
    tokio::time::sleep(plan.window).await;
    recorded.set_recording(false);
    let window = before.until(&relay.sample().await?);
    let hangups = recorded.hangups();
    panels
        .wait_for_removals((hangups * clients) as u64, DRAIN)
        .await;
    if let Some(profile) = profile {
        *profile.borrow_mut() = profile::relay(relay.pid(), plan.window)
            .await
            .unwrap_or_else(|error| format!("no profile: {error:#}"));
    }
    let finished = panels.finish().await?;
    let link_lost = relay.metrics().await?.resyncs > 1.0;
    let tallies = finished.tallies;
    if hangups == 0 {
        bail!("pbxsim hung up no call in the {:?} window", plan.window);
    }
    let mut lagged = 0;
    let mut latencies = Vec::with_capacity(hangups * clients);
    let window_secs = plan.window.as_secs_f64();
    let delivered = tallies.iter().map(|t| t.window_bytes as f64).sum::<f64>() / window_secs;
    let deltas: Vec<f64> = tallies.iter().map(|t| t.deltas as f64).collect();
    for (i, tally) in tallies.into_iter().enumerate() {
        if tally.lag_snapshots > 0 {
            lagged += 1;
        } else if tally.gaps > 0 || (tally.matched != hangups as u64 && !link_lost) {
            bail!(
                "panel {i} of {clients} saw {} of the {hangups} hang-ups removed within {DRAIN:?} \
                 of the window, with {} gaps in seq and no snapshot for lag",
                tally.matched,
                tally.gaps
            );
        }
        latencies.extend(tally.latencies_ms);
    }
    let p = |q| percentile(&latencies, q).unwrap_or(f64::NAN);
    Ok(Run {
        clients,
        events_per_sec_in: window.events_per_sec,
        p50_ms: p(50.0),
        p99_ms: p(99.0),
        max_ms: p(100.0),
        cores: window.cores,
        rss: window.rss,
        bench_cores: window.bench_cores,
        dropped: finished.dropped.len(),
        dropped_why: finished.dropped.first().cloned(),
        link_lost,
        delivered,
        deltas_per_sec: percentile(&deltas, 50.0).unwrap_or(0.0) / window_secs,
        hangups,
        lagged,
        tap_lag_p99_us: percentile(&recorded.stamp_lag_us(), 99.0).unwrap_or(f64::NAN),
    })
}
