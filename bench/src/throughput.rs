//! Issue 9's figure: the relay end to end (AMI in, model, one delta per tick encoded
//! once) under pbxsim's uncapped load mode, with a few panels connected; and, for
//! scale, what pbxsim alone delivers to one raw reader in the same run.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;

use crate::endtoend::WARM_UP;
use crate::panel_client::{BUSY_SILENCE, Panels};
use crate::pbx::{self, Pbx};
use crate::profile;
use crate::relay_process::{RelayProcess, Upstream, Window};

/// How much of the throughput benchmark to run.
pub struct Plan {
    pub relay: PathBuf,
    pub panels: usize,
    pub window: Duration,
    pub runs: usize,
}

/// One run.
#[derive(Clone, Debug)]
pub struct Run {
    pub relay: Window,
    /// Panels the relay gave a fresh snapshot for falling behind, or dropped.
    pub lagged: usize,
    /// Events/s pbxsim's load mode delivers to one raw socket reader: the ceiling.
    pub pbxsim_alone: f64,
}

/// Every run, and a `perf` profile of the relay taken after the last run's window (so
/// that perf's cost is in no figure), or why there is none.
pub async fn measure(plan: &Plan) -> anyhow::Result<(Vec<Run>, String)> {
    let mut runs = Vec::with_capacity(plan.runs);
    let mut profile = String::new();
    for run in 1..=plan.runs {
        let pbxsim_alone = pbxsim::bench::measure(pbx::load(None), plan.window)
            .await?
            .events_per_sec();
        let (relay, lagged) = once(plan, (run == plan.runs).then_some(&mut profile)).await?;
        eprintln!(
            "throughput run {run}/{}: relay {:>8.0} events/s in, {:.2} cores, {:.0} MiB, \
             {lagged} of {} panels lagged; pbxsim alone {pbxsim_alone:>8.0} events/s",
            plan.runs,
            relay.events_per_sec,
            relay.cores,
            relay.rss as f64 / 1_048_576.0,
            plan.panels
        );
        runs.push(Run {
            relay,
            lagged,
            pbxsim_alone,
        });
    }
    Ok((runs, profile))
}

async fn once(plan: &Plan, profile: Option<&mut String>) -> anyhow::Result<(Window, usize)> {
    let pbx = Pbx::start(pbx::load(None)).await?;
    let upstream = Upstream {
        name: "pbx".into(),
        addr: pbx.addr,
    };
    let relay = RelayProcess::start(&plan.relay, &[upstream]).await?;
    let panels = Panels::open(relay.addr, "pbx", plan.panels, None, Some(BUSY_SILENCE)).await?;
    tokio::time::sleep(WARM_UP).await;
    let before = relay.sample().await?;
    tokio::time::sleep(plan.window).await;
    let window = before.until(&relay.sample().await?);
    if let Some(profile) = profile {
        *profile = profile::relay(relay.pid(), plan.window)
            .await
            .unwrap_or_else(|error| format!("no profile: {error:#}"));
    }
    let finished = panels.finish().await?;
    let mut lagged = finished.dropped.len();
    for (i, tally) in finished.tallies.iter().enumerate() {
        if tally.lag_snapshots > 0 {
            lagged += 1;
        } else if tally.gaps > 0 || tally.deltas == 0 {
            bail!(
                "panel {i} got {} deltas with {} gaps in seq and no snapshot for lag",
                tally.deltas,
                tally.gaps
            );
        }
    }
    Ok((window, lagged))
}
