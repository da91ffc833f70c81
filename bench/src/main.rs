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
//! - `endtoend`: pbxsim load → the relay process → N panels: latency, CPU, RSS.
//! - `throughput`: the relay under pbxsim's uncapped load (issue 9's 200,000 events/s).
//! - `idle`: the relay's RSS per idle logged-in WebSocket. `fleet`: 20 servers at once.
//! - `history`: the relay's RSS before and after paging through a million-call history.
//! - `profile`: a flat `perf` profile of the relay process.
//! - `proxy`: events/s to 1, 10 and 100 AMI clients through the relay's AMI proxy and
//!   straight from pbxsim, with the relay's CPU and RSS.
//! - `relay_process`: `astpanel` as a child process, its file, /metrics and /proc.
//! - `pbx`: in-process pbxsim servers; `isolated`: a thread and runtime of their own; `tap`: when pbxsim wrote each `Hangup`;
//!   `panel_client`: the Rust load client (login, `/ws`, counting what arrives).
//! - `stats`: min/median/max over the runs. `machine`: CPU, cores, kernel from /proc.
//! - `report`: the results page; `report_live`: its sections on the relay process.
//! - `plot`: its SVG charts (plotters).

mod ajam;
mod browser;
mod browser_report;
mod bundle;
mod endtoend;
mod fixture;
mod fleet;
mod history;
mod idle;
mod ingest;
mod isolated;
mod machine;
mod panel_client;
mod pbx;
mod plot;
mod profile;
mod proxy;
mod reducer;
mod relay_process;
mod replay;
mod report;
mod report_live;
mod stats;
mod tap;
mod throughput;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, ValueEnum};

use crate::browser_report::{BrowserSection, ReducerSection};
use crate::fixture::Recording;
use crate::ingest::Peers;
use crate::report::{AjamSection, IngestSection, Report};
use crate::report_live::LiveSection;

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
    /// The release `astpanel` binary, run as a process of its own so /proc shows its
    /// CPU time and memory alone.
    #[arg(long)]
    relay: PathBuf,
    /// Trunk's release build of the SPA (`target/spa`), the one the relay embeds.
    #[arg(long)]
    spa: PathBuf,
    /// wasm-bindgen's output for `bench/reducer` (the reducer in Chromium).
    #[arg(long)]
    reducer_pkg: PathBuf,
    /// Only these benchmarks (comma separated); the page then shows only them.
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Bench>,
    /// Where RESULTS.md and plots/ are written.
    #[arg(long)]
    out: PathBuf,
    /// The command the page names as the way to get these figures again.
    #[arg(long, default_value = "cargo xtask bench")]
    command: String,
}

/// The benchmarks, for `--only`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Bench {
    Ingest,
    Ajam,
    EndToEnd,
    Throughput,
    Idle,
    Fleet,
    Browser,
    /// The bundle's size alone (`Browser` measures it too, first).
    Bundle,
    Reducer,
    /// The AMI proxy against the same clients straight on pbxsim.
    Proxy,
    /// The relay's memory paging through a call history of a million calls.
    History,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Size {
    Tiny,
    Quick,
    Full,
}

impl Size {
    /// The value for this size out of `[tiny, quick, full]`.
    fn pick<T>(self, [tiny, quick, full]: [T; 3]) -> T {
        match self {
            Size::Tiny => tiny,
            Size::Quick => quick,
            Size::Full => full,
        }
    }

    /// Passes of the recording per ingest run (4,038 events each).
    fn ingest_passes(self) -> u64 {
        self.pick([1, 10, 50])
    }

    /// Seconds of each `wrk` run on the AJAM Ping.
    fn wrk_seconds(self) -> u64 {
        self.pick([1, 5, 10])
    }

    /// WaitEvent wake-up rounds, each waking every waiting session once.
    fn wake_rounds(self) -> usize {
        self.pick([3, 20, 50])
    }

    /// Runs of every contender.
    fn runs(self) -> usize {
        self.pick([1, 3, 7])
    }

    /// Runs of each benchmark that starts a relay process and pbxsim anew each time.
    fn live_runs(self) -> usize {
        self.pick([1, 2, 5])
    }

    /// How long the relay is measured in each such run.
    fn live_window(self) -> Duration {
        Duration::from_secs(self.pick([2, 4, 8]))
    }

    /// Panels of the end-to-end runs. Not 5,000: see `report_live::FIVE_THOUSAND`.
    fn panels(self) -> Vec<usize> {
        self.pick([vec![5], vec![10, 100, 1_000], vec![10, 100, 1_000]])
    }

    /// Events/s pbxsim offers in the end-to-end runs.
    fn end_to_end_rate(self) -> u64 {
        self.pick([500, 1_000, 1_000])
    }

    /// Calls in the call history the history benchmark pages through.
    fn history_rows(self) -> usize {
        self.pick([10_000, 100_000, 1_000_000])
    }

    /// Idle sockets held open.
    fn idle_sockets(self) -> Vec<usize> {
        self.pick([vec![50], vec![1_000], vec![1_000, 10_000]])
    }

    /// pbxsim servers the fleet run follows, and the events/s of each.
    fn fleet(self) -> (usize, u64) {
        self.pick([(2, 500), (20, 5_000), (20, 5_000)])
    }

    /// Seconds of each main-thread busy window in the browser.
    fn busy_seconds(self) -> u64 {
        self.pick([2, 10, 20])
    }

    /// Live channels pbxsim should have before the browser runs (its load mode levels off
    /// at 400 to 500).
    fn warm_channels(self) -> usize {
        self.pick([0, 400, 400])
    }

    /// pbxsim's cap under the browser: the 1,000 events/s, except that the tiny
    /// size only checks the code runs, at a pace any page keeps up with.
    fn browser_events_per_sec(self) -> u64 {
        self.pick([100, 1_000, 1_000])
    }

    /// `UserEvent`s in each burst of the proxy benchmark.
    /// Events per proxy burst. At most the relay's raw-event buffer (`live::RAW_BUFFER`,
    /// 4,096) past what the readers keep up with: a 20,000-event burst at 10 clients
    /// outran it and the relay dropped (and said so), which measures the drop rule, not
    /// throughput. Larger figures come from more runs, not larger bursts.
    fn proxy_events(self) -> u64 {
        self.pick([200, 4_000, 4_000])
    }

    /// Passes of the recording per reducer run.
    fn reducer_passes(self) -> u32 {
        self.pick([2, 50, 200])
    }
}

// The relay runs on `#[tokio::main]`'s multi-threaded runtime; AstPanel's client is measured on the same.
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runs = |bench| args.only.is_empty() || args.only.contains(&bench);
    let started = utc_now();
    let machine = machine::Machine::probe();
    let file_limit = relay_process::raise_file_limit()?;
    let plots = args.out.join("plots");
    std::fs::create_dir_all(&plots).with_context(|| format!("creating {}", plots.display()))?;
    let mut report = Report {
        command: args.command.clone(),
        started,
        machine,
        ingest: None,
        ajam: None,
        live: None,
        browser: None,
        bundle: None,
        reducer: None,
        proxy: None,
        history: None,
    };
    if runs(Bench::Ingest) {
        report.ingest = Some(ingest_section(&args).await?);
    }
    if runs(Bench::Ajam) {
        report.ajam = Some(ajam_section(&args).await?);
    }
    let size = args.size;
    let (live_runs, window) = (size.live_runs(), size.live_window());
    let mut live = LiveSection::new(file_limit, live_runs, window);
    if runs(Bench::EndToEnd) {
        let plan = endtoend::Plan {
            relay: args.relay.clone(),
            clients: size.panels(),
            events_per_sec: size.end_to_end_rate(),
            window,
            runs: live_runs,
        };
        let (by_size, profile) = endtoend::measure(&plan).await?;
        live.end_to_end = Some((size.end_to_end_rate(), by_size));
        live.end_to_end_profile = Some(profile);
    }
    if runs(Bench::Throughput) {
        let plan = throughput::Plan {
            relay: args.relay.clone(),
            panels: 4,
            window,
            runs: live_runs,
        };
        let (runs, profile) = throughput::measure(&plan).await?;
        live.throughput = Some((plan.panels, runs));
        live.throughput_profile = Some(profile);
    }
    if runs(Bench::Idle) {
        let plan = idle::Plan {
            relay: args.relay.clone(),
            sockets: size.idle_sockets(),
            runs: live_runs,
        };
        live.idle = Some(idle::measure(&plan).await?);
    }
    if runs(Bench::Fleet) {
        let (servers, events_per_sec_each) = size.fleet();
        let plan = fleet::Plan {
            relay: args.relay.clone(),
            servers,
            events_per_sec_each,
            window,
            runs: live_runs,
        };
        live.fleet = Some((servers, events_per_sec_each, fleet::measure(&plan).await?));
    }
    if runs(Bench::History) {
        let plan = history::Plan {
            relay: args.relay.clone(),
            rows: size.history_rows(),
        };
        report.history = Some(history::measure(&plan).await?);
    }
    live.plot(&args.out)?;
    report.live = Some(live);
    if runs(Bench::Browser) {
        let runs = size.runs();
        let plan = browser::BrowserPlan {
            spa: args.spa.clone(),
            runs,
            window: Duration::from_secs(size.busy_seconds()),
            events_per_sec: size.browser_events_per_sec(),
            warm_channels: size.warm_channels(),
        };
        report.browser = Some(BrowserSection {
            runs,
            window_seconds: size.busy_seconds(),
            events_per_sec: plan.events_per_sec,
            warm_channels: plan.warm_channels,
            results: browser::measure(&plan).await?,
        });
    }
    if runs(Bench::Bundle) && !runs(Bench::Browser) {
        report.bundle = Some(bundle::measure_alone(&args.spa).await?);
    }
    if runs(Bench::Reducer) {
        report.reducer = Some(reducer_section(&args).await?);
    }
    if runs(Bench::Proxy) {
        let plan = proxy::Plan {
            relay: args.relay.clone(),
            clients: vec![1, 10, 100],
            events: size.proxy_events(),
            runs: live_runs,
        };
        report.proxy = Some(proxy::measure(&plan).await?);
    }
    let page = report.markdown();
    let path = args.out.join("RESULTS.md");
    std::fs::write(&path, &page).with_context(|| format!("writing {}", path.display()))?;
    println!("{page}\nwritten to {}", path.display());
    Ok(())
}

async fn ingest_section(args: &Args) -> anyhow::Result<IngestSection> {
    let peers = Peers {
        python: args.python.clone(),
        node: args.node.clone(),
        node_modules: args.node_modules.clone(),
        scripts: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peers"),
    };
    let recording = Recording::load(&args.fixture)?;
    let passes = args.size.ingest_passes();
    let runs = args.size.runs();
    let results = ingest::measure(&peers, &recording, passes, runs).await?;
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
    Ok(ingest)
}

async fn ajam_section(args: &Args) -> anyhow::Result<AjamSection> {
    let runs = args.size.runs();
    let plan = ajam::AjamPlan {
        wrk: args.wrk.clone(),
        wrk_seconds: args.size.wrk_seconds(),
        runs,
        waiters: 100,
        rounds: args.size.wake_rounds(),
    };
    let ajam_results = ajam::measure(&plan).await?;
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
    Ok(ajam)
}

/// The current UTC time as `date -u` prints it, or "at an unknown time" without `date`.
async fn reducer_section(args: &Args) -> anyhow::Result<ReducerSection> {
    let recording = Recording::load(&args.fixture)?;
    let runs = args.size.runs();
    let plan = reducer::ReducerPlan {
        pkg: args.reducer_pkg.clone(),
        passes: args.size.reducer_passes(),
        runs,
    };
    let reducer = ReducerSection {
        passes: plan.passes,
        events_per_pass: recording.count,
        runs,
        results: reducer::measure(&plan, &recording).await?,
        plot: "plots/reducer.svg".to_owned(),
    };
    plot::bars(
        &args.out.join(&reducer.plot),
        "The shared reducer on the recorded stream: events applied per second",
        "events/s",
        &reducer.rows(),
    )?;
    Ok(reducer)
}

fn utc_now() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_else(|| "at an unknown time".to_owned())
}
