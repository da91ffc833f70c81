//! Scale of the PBX: the relay following many pbxsim servers at once, each in load
//! mode at a steady rate: the events/s it keeps up with, its CPU and RSS.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;

use crate::endtoend::WARM_UP;
use crate::pbx::{self, Pbx};
use crate::relay_process::{RelayProcess, Upstream, Window};

/// How much of the fleet benchmark to run.
pub struct Plan {
    pub relay: PathBuf,
    pub servers: usize,
    pub events_per_sec_each: u64,
    pub window: Duration,
    pub runs: usize,
}

impl Plan {
    /// What every server together offers the relay.
    pub fn offered(&self) -> f64 {
        (self.servers as u64 * self.events_per_sec_each) as f64
    }
}

pub async fn measure(plan: &Plan) -> anyhow::Result<Vec<Window>> {
    let mut runs = Vec::with_capacity(plan.runs);
    for run in 1..=plan.runs {
        let window = once(plan).await?;
        eprintln!(
            "fleet run {run}/{}: {} servers, {:>7.0} of {:.0} events/s kept, {:.2} cores, {:.0} MiB",
            plan.runs,
            plan.servers,
            window.events_per_sec,
            plan.offered(),
            window.cores,
            window.rss as f64 / 1_048_576.0
        );
        runs.push(window);
    }
    Ok(runs)
}

async fn once(plan: &Plan) -> anyhow::Result<Window> {
    let mut pbxs = Vec::with_capacity(plan.servers);
    let mut upstreams = Vec::with_capacity(plan.servers);
    for i in 1..=plan.servers {
        let pbx = Pbx::start(pbx::load(Some(plan.events_per_sec_each))).await?;
        upstreams.push(Upstream {
            name: format!("pbx{i}"),
            addr: pbx.addr,
        });
        pbxs.push(pbx);
    }
    let relay = RelayProcess::start(&plan.relay, &upstreams).await?;
    tokio::time::sleep(WARM_UP).await;
    let before = relay.sample().await?;
    tokio::time::sleep(plan.window).await;
    let after = relay.sample().await?;
    let quiet: Vec<&String> = upstreams
        .iter()
        .map(|u| &u.name)
        .filter(|name| after.metrics.events_in.get(*name) <= before.metrics.events_in.get(*name))
        .collect();
    if !quiet.is_empty() {
        bail!("no event came in from {quiet:?} during the window");
    }
    Ok(before.until(&after))
}
