//! `bench`: AstPanel measured side by side with the AMI clients people use today.
//!
//! Run it through `cargo xtask bench [--quick]`, which installs the peers from their
//! registries (panoramisk from PyPI, asterisk-manager from npm, pinned in `peers/`) and
//! passes their paths here. It writes `RESULTS.md` and `plots/*.svg` into `--out`.
//! Code map:
//! - `fixture`: the recorded Asterisk 22 event stream cut to its events; the end marker.
//! - `replay`: the loopback server that logs one client in and replays the recording.
//! - `ingest`: each client under test, one run each, and the interleaved rounds.
//! - `ajam`: `wrk` on the relay's AJAM Ping against a bare axum handler; WaitEvent wake-ups.
//! - `stats`: min/median/max over the runs. `machine`: CPU, cores, kernel from /proc.
//! - `report`: the results page. `plot`: its SVG charts (plotters).

mod ajam;
mod fixture;
mod ingest;
mod machine;
mod plot;
mod replay;
mod report;
mod stats;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, ValueEnum};

use crate::fixture::Recording;
use crate::ingest::Peers;
use crate::report::{AjamSection, IngestSection, Report};

/// AstPanel's benchmarks; see bench/RESULTS.md for what each one measures.
#[derive(Parser)]
struct Args {
    /// How long to run: `tiny` checks that every benchmark still runs, `quick` is a smoke
    /// run of a minute or two, `full` gives the figures the page quotes.
    #[arg(long, value_enum, default_value_t = Size::Full)]
    size: Size,
    /// A Python with bench/peers/requirements.txt installed.
    #[arg(long)]
    python: PathBuf,
    /// Node.js.
    #[arg(long, default_value = "node")]
    node: PathBuf,
    /// The node_modules folder holding bench/peers/package-lock.json's packages.
    #[arg(long)]
    node_modules: PathBuf,
    /// The recorded `ami-events-stream.txt` (`../shared/fixtures/asterisk/` beside the repository).
    #[arg(long)]
    fixture: PathBuf,
    /// Debian's `wrk`, for the AJAM Ping.
    #[arg(long, default_value = "wrk")]
    wrk: PathBuf,
    /// Where RESULTS.md and plots/ are written.
    #[arg(long)]
    out: PathBuf,
    /// The command the page names as the way to get these figures again.
    #[arg(long, default_value = "cargo xtask bench")]
    command: String,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Size {
    Tiny,
    Quick,
    Full,
}

impl Size {
    /// Passes of the recording per ingest run (4,038 events each).
    fn ingest_passes(self) -> u64 {
        match self {
            Size::Tiny => 1,
            Size::Quick => 10,
            Size::Full => 50,
        }
    }

    /// Seconds of each `wrk` run on the AJAM Ping.
    fn wrk_seconds(self) -> u64 {
        match self {
            Size::Tiny => 1,
            Size::Quick => 5,
            Size::Full => 10,
        }
    }

    /// WaitEvent wake-up rounds, each waking every waiting session once.
    fn wake_rounds(self) -> usize {
        match self {
            Size::Tiny => 3,
            Size::Quick => 20,
            Size::Full => 50,
        }
    }

    /// Runs of every contender.
    fn runs(self) -> usize {
        match self {
            Size::Tiny => 1,
            Size::Quick => 3,
            Size::Full => 7,
        }
    }
}

// The relay runs on `#[tokio::main]`'s multi-threaded runtime; AstPanel's client is measured on the same.
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let started = utc_now();
    let machine = machine::Machine::probe();
    let peers = Peers {
        python: args.python,
        node: args.node,
        node_modules: args.node_modules,
        scripts: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peers"),
    };
    let recording = Recording::load(&args.fixture)?;
    let passes = args.size.ingest_passes();
    let runs = args.size.runs();
    let results = ingest::measure(&peers, &recording, passes, runs).await?;

    let plan = ajam::AjamPlan {
        wrk: args.wrk,
        wrk_seconds: args.size.wrk_seconds(),
        runs,
        waiters: 100,
        rounds: args.size.wake_rounds(),
    };
    let ajam_results = ajam::measure(&plan).await?;

    let plots = args.out.join("plots");
    std::fs::create_dir_all(&plots).with_context(|| format!("creating {}", plots.display()))?;
    let ingest = IngestSection {
        events_per_run: recording.count * passes,
        passes,
        recorded_events: recording.count,
        runs,
        results,
        plot: "plots/ingest.svg".to_owned(),
    };
    plot::bars(
        &args.out.join(&ingest.plot),
        "AMI ingest over loopback TCP: events delivered to user code per second",
        "events/s",
        &ingest.rows(),
    )?;
    let ajam = AjamSection {
        wrk_seconds: plan.wrk_seconds,
        runs,
        waiters: plan.waiters,
        rounds: plan.rounds,
        results: ajam_results,
        plot: "plots/ajam-ping.svg".to_owned(),
    };
    plot::bars(
        &args.out.join(&ajam.plot),
        "AJAM rawman?action=Ping under wrk -t2 -c20: requests per second",
        "requests/s",
        &ajam.rows(),
    )?;
    let report = Report {
        command: args.command,
        started,
        machine,
        ingest,
        ajam,
    };
    let page = report.markdown();
    let path = args.out.join("RESULTS.md");
    std::fs::write(&path, &page).with_context(|| format!("writing {}", path.display()))?;
    println!("{page}\nwritten to {}", path.display());
    Ok(())
}

/// The current UTC time as `date -u` prints it, or "at an unknown time" without `date`.
fn utc_now() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_else(|| "at an unknown time".to_owned())
}
