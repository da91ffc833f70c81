//! The results page's sections 5 (the panel in Chromium) and 6 (the reducer, native and WASM).

use std::fmt::Write as _;

use crate::browser::{BUSY_TARGET, BrowserResults};
use crate::bundle::Asset;
use crate::plot::human;
use crate::reducer::ReducerResults;
use crate::stats::Spread;

/// The bundle target of issues 12 and 13: 250 KB, read as 250 × 1,000 bytes.
const BUNDLE_TARGET: usize = 250_000;
/// Navigation to first live data, ms.
const FIRST_DATA_TARGET_MS: f64 = 1_000.0;

/// The browser benchmark's figures and settings.
pub struct BrowserSection {
    pub runs: usize,
    pub window_seconds: u64,
    pub events_per_sec: u64,
    /// Live channels pbxsim had to reach before the runs (0: no warm-up).
    pub warm_channels: usize,
    pub results: BrowserResults,
}

/// The reducer benchmark's figures, its settings and its chart's path relative to the page.
pub struct ReducerSection {
    pub passes: u32,
    pub events_per_pass: u64,
    pub runs: usize,
    pub results: ReducerResults,
    pub plot: String,
}

/// The reducer's two contenders, in the table's and the chart's order.
const NATIVE: &str = "native (this process)";
const WASM: &str = "WASM in headless Chromium";

/// "min / median / max" of `values` through `show`, or a dash when there are none.
fn spread_cells(values: &[f64], show: impl Fn(f64) -> String) -> String {
    Spread::of(values).map_or("– | – | –".to_owned(), |s| {
        format!("{} | {} | {}", show(s.min), show(s.median), show(s.max))
    })
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**missed**" }
}

/// The bundle's table and verdict (section 5's first part), from the browser benchmark or
/// from `--only bundle` alone.
pub fn bundle_markdown(page: &mut String, bundle: &[Asset]) {
    let _ = writeln!(
        page,
        "\n### Bundle size\n\n\
         Every WASM, JS and CSS file of the release build (`cargo xtask spa`, Trunk with \
         wasm-opt into `target/spa`): raw, brotli at quality 11 (window 22, what a \
         server precompressing static files uses), and the body the relay itself sends \
         to a browser that accepts `br` (the copy `cargo xtask spa` precompressed, where \
         there is one).\n\n\
         | file | raw | brotli q11 | served by the relay |\n|---|---:|---:|---:|"
    );
    let kb = |bytes: usize| format!("{:.1} KB", bytes as f64 / 1000.0);
    for asset in bundle {
        let _ = writeln!(
            page,
            "| `{}` | {} | {} | {} ({}) |",
            asset.name,
            kb(asset.raw),
            kb(asset.brotli),
            kb(asset.served),
            asset.encoding
        );
    }
    let total = |f: fn(&Asset) -> usize| bundle.iter().map(f).sum::<usize>();
    let (raw, brotli, served) = (total(|a| a.raw), total(|a| a.brotli), total(|a| a.served));
    let _ = writeln!(
        page,
        "| **total** | {} | {} | {} |\n\n\
         - Brotli q11 total {} (target ≤ 250 KB: {}); as the relay serves it, {} ({}).",
        kb(raw),
        kb(brotli),
        kb(served),
        kb(brotli),
        verdict(brotli <= BUNDLE_TARGET),
        kb(served),
        verdict(served <= BUNDLE_TARGET),
    );
}

/// Section 5's heading.
pub const BROWSER_HEADING: &str = "\n## 5. The panel in a browser";

impl BrowserSection {
    pub fn markdown(&self, page: &mut String) {
        let r = &self.results;
        let _ = writeln!(page, "{BROWSER_HEADING}");
        bundle_markdown(page, &r.bundle);
        let _ = writeln!(
            page,
            "\n### First live data, busy main thread, rows shown\n\n\
             The relay in this process follows pbxsim's load mode (the call-centre directory, \
             capped at {} events/s, every event in the stream), warmed up until pbxsim holds \
             {} live channels (at most 90 s); headless Chromium ({}) logs in through the form as \
             `admin`, on loopback. Then {} runs, each:\n\n\
             1. **First live data**, with pbxsim's traffic held (`Faults::hold_traffic`: its \
             clock stops, every call stays up), so the page loads the full snapshot and \
             nothing else: a navigation to `/supervisor` with the session cookie and the cache \
             disabled (the whole bundle is fetched, compiled and started again). A script \
             installed before any other through CDP `Page.addScriptToEvaluateOnNewDocument` \
             runs a MutationObserver that records `performance.now()` (0 = the navigation's \
             start) when the first `data-testid=\"channel\"` row or `data-testid=\"extension\"` \
             tile is in the DOM: download, WASM compile, `/api/v1/me`, WebSocket, snapshot \
             and first render all count. Then the rows must be exactly pbxsim's channels.\n\
             2. **Main-thread busy share**, traffic running: CDP `Performance.getMetrics` \
             before and after a {} s window on the live view; `TaskDuration` (time the \
             renderer's main thread ran tasks) over the metrics' `Timestamp` difference, the \
             way astman.js's 97% was measured. Nothing but CDP talks to the page meanwhile; \
             an unfiltered AMI session on pbxsim counts the events it sends and lists its \
             channels at the end.\n\
             3. **Rows after churn**: the traffic is held again, pbxsim's channels are listed \
             with `CoreShowChannels`, and the run fails unless the page's `data-channel` \
             names are exactly those within {} s.\n\n\
             | figure | min | median | max |\n|---|---:|---:|---:|\n\
             | navigation to first live data | {} |\n\
             | main thread busy | {} |\n\
             | pbxsim's live channels at the window's end | {} |\n\
             | events/s pbxsim sent | {} |\n\
             | seconds from holding the traffic to the right rows | {} |",
            self.events_per_sec,
            self.warm_channels,
            r.browser,
            self.runs,
            self.window_seconds,
            crate::browser::SETTLE_SECONDS,
            spread_cells(&r.first_data_ms, |ms| format!("{ms:.0} ms")),
            spread_cells(&r.busy, |b| format!("{:.1}%", b * 100.0)),
            spread_cells(&r.channels, |n| format!("{n:.0}")),
            spread_cells(&r.events_per_sec, human),
            spread_cells(&r.settle_seconds, |s| format!("{s:.1} s")),
        );
        let _ = writeln!(
            page,
            "\n- After churn stopped, the rows shown equalled pbxsim's live channels in every \
             run ({} rows).",
            r.settled_rows
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
        if let Some(first) = Spread::of(&r.first_data_ms) {
            let _ = writeln!(
                page,
                "- First live data {:.0} ms (median; target ≤ 1 s: {}).",
                first.median,
                verdict(first.median <= FIRST_DATA_TARGET_MS)
            );
        }
        if let Some(busy) = Spread::of(&r.busy) {
            let _ = writeln!(
                page,
                "- Main thread busy {:.1}% (median; target ≤ 25%: {}).",
                busy.median * 100.0,
                verdict(busy.median <= BUSY_TARGET)
            );
        }
        if let Some(profile) = &r.profile {
            let _ = writeln!(
                page,
                "\nWhere the main thread's time goes: a CDP CPU profile (`Profiler.start`/`stop`) \
                 over one more {} s window, self time per function as a share of the window \
                 (`(program)` is Blink's own work: style, layout, paint; `(idle)` is time \
                 with nothing to do):\n\n| function | share |\n|---|---:|",
                self.window_seconds
            );
            for (function, share) in profile {
                let _ = writeln!(page, "| `{function}` | {:.1}% |", share * 100.0);
            }
        }
    }
}

impl ReducerSection {
    /// WASM events/s over native, round by round.
    fn ratios(&self) -> Vec<f64> {
        let r = &self.results;
        r.wasm.iter().zip(&r.native).map(|(w, n)| w / n).collect()
    }

    /// The chart's rows.
    pub fn rows(&self) -> Vec<(String, Spread)> {
        [(NATIVE, &self.results.native), (WASM, &self.results.wasm)]
            .into_iter()
            .filter_map(|(name, rates)| Spread::of(rates).map(|s| (name.to_owned(), s)))
            .collect()
    }

    pub fn markdown(&self, page: &mut String) {
        let _ = writeln!(
            page,
            "\n## 6. The reducer, native and in WASM\n\n\
             `ServerModel::apply_event` (the shared crate's reducer, what the relay runs on \
             every event) over the {} events of `ami-events-stream.txt`, {} passes per run, \
             each pass on a fresh model, parsed beforehand. The same function \
             (`bench/reducer`, `bench_reducer::reduce`) runs here natively and, built for \
             wasm32 with `--release` (opt-level 3, like the native build) and wasm-bindgen, \
             in headless Chromium ({}), timed there with `performance.now()`; native and \
             WASM runs alternate, {} each. A run fails unless it applied exactly passes × \
             events and WASM made the same number of model changes as native.\n\n\
             | where | events/s min | median | max |\n|---|---:|---:|---:|",
            self.events_per_pass, self.passes, self.results.browser, self.runs
        );
        let r = &self.results;
        for (name, rates) in [(NATIVE, &r.native), (WASM, &r.wasm)] {
            let _ = writeln!(page, "| {name} | {} |", spread_cells(rates, human));
        }
        let _ = writeln!(page, "\n![reducer events/s]({})\n", self.plot);
        if let Some(ratio) = Spread::of(&self.ratios()) {
            let _ = writeln!(
                page,
                "- WASM runs the reducer at {:.2}× native speed (median; {:.2}–{:.2} over the rounds).",
                ratio.median, ratio.min, ratio.max
            );
        }
    }
}
