//! Idle scale: the relay's RSS with N logged-in panels that hold their snapshot and
//! wait, above its RSS with the account logged in and no socket open.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;

use crate::panel_client::{Panels, login};
use crate::pbx::Pbx;
use crate::relay_process::{RelayProcess, Upstream};
use crate::stats::interleaved;

/// Time for the relay's memory to settle before it is read.
const SETTLE: Duration = Duration::from_secs(1);

/// How much of the idle benchmark to run.
pub struct Plan {
    pub relay: PathBuf,
    pub sockets: Vec<usize>,
    pub runs: usize,
}

/// One run with one number of sockets.
#[derive(Clone, Debug)]
pub struct Run {
    pub sockets: usize,
    /// RSS with the account logged in and no socket, bytes.
    pub baseline: u64,
    /// RSS with every socket open, bytes.
    pub loaded: u64,
}

impl Run {
    pub fn above_baseline(&self) -> f64 {
        self.loaded.saturating_sub(self.baseline) as f64
    }

    pub fn per_socket(&self) -> f64 {
        self.above_baseline() / self.sockets.max(1) as f64
    }
}

/// Every run of every size (runs interleaved), by number of sockets.
pub async fn measure(plan: &Plan) -> anyhow::Result<Vec<Vec<Run>>> {
    interleaved(&plan.sockets, plan.runs, |run, sockets| async move {
        let result = once(plan, sockets).await?;
        eprintln!(
            "idle run {run}/{}: {sockets:>6} sockets, {:.1} MiB above a {:.1} MiB baseline, \
             {:.1} KiB a socket",
            plan.runs,
            result.above_baseline() / 1_048_576.0,
            result.baseline as f64 / 1_048_576.0,
            result.per_socket() / 1024.0
        );
        Ok(result)
    })
    .await
}

async fn once(plan: &Plan, sockets: usize) -> anyhow::Result<Run> {
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await?;
    let upstream = Upstream {
        name: "pbx".into(),
        addr: pbx.addr,
    };
    let relay = RelayProcess::start(&plan.relay, &[upstream]).await?;
    // The account's shared AMI session is open from the first login on.
    login(&reqwest::Client::new(), relay.addr, "pbx").await?;
    tokio::time::sleep(SETTLE).await;
    let baseline = relay.usage()?.rss;
    let panels = Panels::open(relay.addr, "pbx", sockets, None, None).await?;
    tokio::time::sleep(SETTLE).await;
    let loaded = relay.usage()?.rss;
    let open = relay.metrics().await?.browsers;
    if open != sockets as f64 {
        bail!("the relay counts {open} browsers, not {sockets}");
    }
    let finished = panels.finish().await?;
    if let Some(why) = finished.dropped.first() {
        bail!("{} idle panels were dropped: {why}", finished.dropped.len());
    }
    Ok(Run {
        sockets,
        baseline,
        loaded,
    })
}
