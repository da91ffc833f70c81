//! `RESULTS.md`: the command, the machine, every figure as min/median/max, the ratios, the verdicts.

use std::fmt::Write as _;

use crate::ajam::AjamResults;
use crate::browser_report::{BROWSER_HEADING, BrowserSection, ReducerSection, bundle_markdown};
use crate::bundle::Asset;
use crate::ingest::{Client, ClientRates};
use crate::machine::Machine;
use crate::plot::human;
use crate::report_live::LiveSection;
use crate::stats::{Spread, percentile};

/// Everything one invocation measured, ready to be written out.
pub struct Report {
    pub command: String,
    pub started: String,
    pub machine: Machine,
    pub ingest: Option<IngestSection>,
    pub ajam: Option<AjamSection>,
    pub live: Option<LiveSection>,
    pub browser: Option<BrowserSection>,
    /// The bundle measured alone (`--only bundle`); the browser section has it otherwise.
    pub bundle: Option<Vec<Asset>>,
    pub reducer: Option<ReducerSection>,
    pub proxy: Option<crate::proxy::ProxySection>,
    pub history: Option<crate::history::HistoryRun>,
}

/// The legacy AJAM benchmark's figures and its chart's path relative to the page.
pub struct AjamSection {
    pub wrk_seconds: u64,
    pub runs: usize,
    pub waiters: usize,
    pub rounds: usize,
    pub results: AjamResults,
    pub plot: String,
}

/// The two Ping listeners' names, in the table's and the chart's order.
const RELAY_AJAM: &str = "AstPanel relay AJAM listener";
const BARE_AXUM: &str = "bare axum handler (same answer)";

impl AjamSection {
    /// The relay's requests/s divided by the bare handler's in the same round.
    fn ratios(&self) -> Vec<f64> {
        let r = &self.results;
        r.relay
            .iter()
            .zip(&r.bare)
            .map(|(ours, bare)| ours / bare)
            .collect()
    }

    /// The chart's rows: requests/s of both listeners.
    pub fn rows(&self) -> Vec<(String, Spread)> {
        [
            (RELAY_AJAM, &self.results.relay),
            (BARE_AXUM, &self.results.bare),
        ]
        .into_iter()
        .filter_map(|(name, rates)| Spread::of(rates).map(|s| (name.to_owned(), s)))
        .collect()
    }
}

/// The ingest benchmark's figures and its chart's path relative to the page.
pub struct IngestSection {
    pub events_per_run: u64,
    pub passes: u64,
    pub recorded_events: u64,
    pub runs: usize,
    pub results: Vec<ClientRates>,
    pub plot: String,
}

impl IngestSection {
    /// The rates of `client`, run by run.
    fn rates(&self, client: Client) -> &[f64] {
        self.results
            .iter()
            .find(|r| r.client == client)
            .map_or(&[], |r| r.rates.as_slice())
    }

    /// `client`'s events/s divided by AstPanel's in the same round, round by round.
    pub fn ratios_to_astpanel(&self, client: Client) -> Vec<f64> {
        let ours = self.rates(Client::AstPanel);
        self.rates(client)
            .iter()
            .zip(ours)
            .map(|(theirs, ours)| theirs / ours)
            .collect()
    }

    /// The chart's rows: every client's events/s.
    pub fn rows(&self) -> Vec<(String, Spread)> {
        self.results
            .iter()
            .filter_map(|r| Spread::of(&r.rates).map(|s| (r.client.name().to_owned(), s)))
            .collect()
    }
}

impl Report {
    pub fn markdown(&self) -> String {
        let mut page = String::new();
        let _ = writeln!(
            page,
            "# AstPanel benchmarks\n\n\
             Written by the bench harness; do not edit by hand. Command: `{}`, started {}.\n\n\
             This machine is shared and noisy: absolute figures move from run to run, so every \
             contender is measured in the same run, rounds interleaved (run 1 of each, then run 2 \
             of each, ...), and the ratios are what to quote.\n\n## Machine\n\n{}",
            self.command, self.started, self.machine
        );
        if let Some(ingest) = &self.ingest {
            ingest.markdown(&mut page);
        }
        if let Some(live) = &self.live {
            live.markdown_before_ajam(&mut page);
        }
        if let Some(ajam) = &self.ajam {
            ajam.markdown(&mut page);
        }
        if let Some(live) = &self.live {
            live.markdown_after_ajam(&mut page);
        }
        if let Some(browser) = &self.browser {
            browser.markdown(&mut page);
        }
        if let Some(bundle) = &self.bundle {
            let _ = writeln!(page, "{BROWSER_HEADING}");
            bundle_markdown(&mut page, bundle);
        }
        if let Some(reducer) = &self.reducer {
            reducer.markdown(&mut page);
        }
        if let Some(proxy) = &self.proxy {
            proxy.markdown(&mut page);
        }
        if let Some(history) = &self.history {
            history.markdown(&mut page);
        }
        page
    }
}

impl IngestSection {
    fn markdown(&self, page: &mut String) {
        let ingest = self;
        let _ = writeln!(
            page,
            "\n## 1. AMI ingest, side by side\n\n\
             One local server replays the events of \
             `shared/fixtures/asterisk/ami-events-stream.txt` (the raw bytes Asterisk 22 sent, \
             {} events a pass) {} times over loopback TCP, then an end marker, to each client in \
             turn. Each client logs in and counts the events it delivers to user code; a run \
             fails unless the count is exactly {}. Timed from the first event delivered to the \
             marker; {} runs per client.\n\n\
             | client | events/s min | median | max | ÷ AstPanel (median, min–max) |\n\
             |---|---:|---:|---:|---:|",
            ingest.recorded_events, ingest.passes, ingest.events_per_run, ingest.runs
        );
        for result in &ingest.results {
            let Some(spread) = Spread::of(&result.rates) else {
                continue;
            };
            let ratio = match Spread::of(&ingest.ratios_to_astpanel(result.client)) {
                Some(r) => format!("{:.2}× ({:.2}–{:.2})", r.median, r.min, r.max),
                None => "–".to_owned(),
            };
            let _ = writeln!(
                page,
                "| {} | {} | {} | {} | {ratio} |",
                result.client.name(),
                human(spread.min),
                human(spread.median),
                human(spread.max)
            );
        }
        let _ = writeln!(page, "\n![events/s per client]({})\n", ingest.plot);
        let mut verdicts = Vec::new();
        for peer in [Client::Panoramisk, Client::AsteriskManager] {
            if let Some(r) = Spread::of(&ingest.ratios_to_astpanel(peer)) {
                let times = 1.0 / r.median;
                let verdict = if times > 1.0 {
                    format!(
                        "AstPanel delivers {times:.1}× the events/s of {} (target: faster than each peer; met).",
                        peer.name()
                    )
                } else {
                    format!(
                        "**Target missed:** AstPanel delivers only {times:.2}× the events/s of {}.",
                        peer.name()
                    )
                };
                verdicts.push(verdict);
            }
        }
        if let Some(floor) = Spread::of(&ingest.ratios_to_astpanel(Client::RawSocket)) {
            verdicts.push(format!(
                "AstPanel reaches {:.0}% of the raw socket floor, which parses nothing.",
                100.0 / floor.median
            ));
        }
        for verdict in verdicts {
            let _ = writeln!(page, "- {verdict}");
        }
    }
}

impl AjamSection {
    fn markdown(&self, page: &mut String) {
        let ajam = self;
        let _ = writeln!(
            page,
            "\n## 4. Legacy AJAM\n\n\
             ### `rawman?action=Ping` requests/s\n\n\
             `wrk -t2 -c20 -d{}s -H 'Cookie: mansession_id=\"<id>\"'` on \
             `/asterisk/rawman?action=Ping`, against the relay's AJAM listener (in front of an \
             in-process pbxsim; the relay answers Ping itself) and against a bare axum handler \
             in the bench process that returns the same body and headers (`Content-type`, \
             `Set-Cookie`, `Pragma: SuppressEvents`, `Cache-Control: no-cache, no-store`), \
             alternating, {} runs each. A run fails on any non-2xx answer or socket error. \
             wrk runs on the same 2 cores as the listener it measures.\n\n\
             | listener | req/s min | median | max |\n|---|---:|---:|---:|",
            ajam.wrk_seconds, ajam.runs
        );
        for (name, spread) in ajam.rows() {
            let _ = writeln!(
                page,
                "| {name} | {} | {} | {} |",
                human(spread.min),
                human(spread.median),
                human(spread.max)
            );
        }
        let _ = writeln!(page, "\n![AJAM Ping requests/s]({})\n", ajam.plot);
        if let Some(ratio) = Spread::of(&ajam.ratios()) {
            let met = if ratio.median >= 0.5 {
                "met"
            } else {
                "**missed**"
            };
            let _ = writeln!(
                page,
                "- The relay serves {:.2}× the bare handler's requests/s (median; {:.2}–{:.2} \
                 over the rounds; target ≥ 0.5×: {met}). A real Asterisk 22.10.1 did \
                 14,900–17,000/s on a machine of this size.",
                ratio.median, ratio.min, ratio.max
            );
        }
        let wake = &ajam.results.wake_ms;
        let _ = writeln!(
            page,
            "\n### WaitEvent wake-up latency\n\n\
             {} AJAM sessions, each logged in on its own, each with a long-polling \
             `rawman?action=waitevent&timeout=30` on its own connection; then one `UserEvent` \
             goes to pbxsim on a side AMI session. Per session: the time from sending it to \
             the complete HTTP answer holding `Event: UserEvent`. {} rounds; a round fails \
             unless all {} answers hold that round's event.\n",
            ajam.waiters, ajam.rounds, ajam.waiters
        );
        let p = |q| percentile(wake, q).map_or("–".to_owned(), |ms| format!("{ms:.2} ms"));
        let _ = writeln!(
            page,
            "| samples | p50 | p99 | max |\n|---:|---:|---:|---:|\n| {} | {} | {} | {} |\n",
            wake.len(),
            p(50.0),
            p(99.0),
            p(100.0)
        );
        if let Some(p99) = percentile(wake, 99.0) {
            let met = if p99 <= 2.0 { "met" } else { "**missed**" };
            let _ = writeln!(
                page,
                "- p99 {p99:.2} ms with {} waiters (target ≤ 2 ms: {met}); Asterisk 22.10.1: \
                 1.2 ms median, 2.0 ms p99 with one waiter.",
                ajam.waiters
            );
        }
    }
}
