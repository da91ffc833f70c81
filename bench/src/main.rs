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
//! - `bundle`: the release SPA's size, raw, brotli and as the relay serves it.
//! - `browser`: the panel in headless Chromium on pbxsim's load: first live data, busy
//!   main thread, rows against pbxsim's channels. `reducer`: the shared reducer's events/s
//!   natively and as WASM in Chromium (`bench/reducer` is the code both run).
//!   `browser_report`: their sections of the page.
//! - `stats`: min/median/max over the runs. `machine`: CPU, cores, kernel from /proc.
//! - `report`: the results page. `plot`: its SVG charts (plotters).

mod ajam;
mod browser;
mod browser_report;
mod bundle;
mod fixture;
mod ingest;
mod machine;
mod plot;
mod reducer;
mod replay;
mod report;
mod stats;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, ValueEnum};

use crate::browser_report::{BrowserSection, ReducerSection};
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
    /// Trunk's release build of the SPA (`target/spa`), the one the relay embeds.
    #[arg(long)]
    spa: PathBuf,
    /// wasm-bindgen's output for `bench/reducer` built for wasm32.
    #[arg(long)]
    reducer_pkg: PathBuf,
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

    /// Seconds of each main-thread busy window in the browser.
    fn busy_seconds(self) -> u64 {
        match self {
            Size::Tiny => 2,
            Size::Quick => 10,
            Size::Full => 20,
        }
    }

    /// Live channels pbxsim should have before the browser runs (its load mode levels off
    /// at 400 to 500).
    fn warm_channels(self) -> usize {
        match self {
            Size::Tiny => 0,
            Size::Quick | Size::Full => 400,
        }
    }

    /// pbxsim's cap under the browser: the 1,000 events/s, except that the tiny
    /// size only checks the code runs, at a pace any page keeps up with.
    fn browser_events_per_sec(self) -> u64 {
        match self {
            Size::Tiny => 100,
            Size::Quick | Size::Full => 1_000,
        }
    }

    /// Passes of the recording per reducer run.
    fn reducer_passes(self) -> u32 {
        match self {
            Size::Tiny => 2,
            Size::Quick => 50,
            Size::Full => 200,
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

    let browser_plan = browser::BrowserPlan {
        spa: args.spa,
        runs,
        window: std::time::Duration::from_secs(args.size.busy_seconds()),
        events_per_sec: args.size.browser_events_per_sec(),
        warm_channels: args.size.warm_channels(),
    };
    let browser = BrowserSection {
        runs,
        window_seconds: args.size.busy_seconds(),
        events_per_sec: browser_plan.events_per_sec,
        warm_channels: browser_plan.warm_channels,
        results: browser::measure(&browser_plan).await?,
    };
    let reducer_plan = reducer::ReducerPlan {
        pkg: args.reducer_pkg,
        passes: args.size.reducer_passes(),
        runs,
    };
    let reducer = ReducerSection {
        passes: reducer_plan.passes,
        events_per_pass: recording.count,
        runs,
        results: reducer::measure(&reducer_plan, &recording).await?,
        plot: "plots/reducer.svg".to_owned(),
    };

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
    plot::bars(
        &args.out.join(&reducer.plot),
        "The shared reducer on the recorded stream: events applied per second",
        "events/s",
        &reducer.rows(),
    )?;
    let report = Report {
        command: args.command,
        started,
        machine,
        ingest,
        ajam,
        browser,
        reducer,
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
