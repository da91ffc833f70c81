//! The shared reducer's events/s on the recorded stream, natively in this process and as
//! WASM in headless Chromium, run by run in the same invocation, each run's work counted.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail, ensure};
use axum::Router;
use axum::http::header;
use axum::routing::get;
use bench_reducer::Tally;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::fixture::Recording;

/// The page Chromium runs: it loads the reducer's WASM, fetches the recording, parses it
/// once, then runs passes when the bench asks (`window.__run`), timed by `performance.now()`.
const PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>reducer</title></head><body>
<script type="module">
import init, { Reducer } from "./bench_reducer.js";
try {
  await init({ module_or_path: "./bench_reducer_bg.wasm" });
  const stream = new Uint8Array(await (await fetch("./events")).arrayBuffer());
  const reducer = new Reducer(stream);
  window.__run = (passes) => {
    const start = performance.now();
    const [applied, changes] = reducer.run(passes);
    return [applied, changes, performance.now() - start];
  };
  window.__reducer = { events: reducer.events() };
} catch (error) {
  window.__reducer = { error: String(error) };
}
</script></body></html>"#;

/// How much of the reducer benchmark to run.
pub struct ReducerPlan {
    /// wasm-bindgen's output for `bench-reducer` (`bench_reducer.js`, `bench_reducer_bg.wasm`).
    pub pkg: PathBuf,
    /// Passes of the recording per run, each on a fresh model.
    pub passes: u32,
    pub runs: usize,
}

/// What the reducer benchmark measured.
pub struct ReducerResults {
    /// Events/s in this process, run by run.
    pub native: Vec<f64>,
    /// Events/s in Chromium, interleaved with the native runs.
    pub wasm: Vec<f64>,
    /// The browser, as it names itself.
    pub browser: String,
}

pub async fn measure(plan: &ReducerPlan, recording: &Recording) -> anyhow::Result<ReducerResults> {
    let events = bench_reducer::events(&recording.events);
    ensure!(
        events.len() as u64 == recording.count,
        "the reducer's parser found {} events in a recording of {}",
        events.len(),
        recording.count
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let url = serve(&plan.pkg, recording, stopped).await?;
    let browser = e2e::Browser::start().await?;
    let result = run(plan, &events, recording.count, &browser, &url).await;
    let _ = stop.send(());
    // The run's own error says more than a browser that then failed to close.
    let closed = browser.stop().await;
    let results = result?;
    closed?;
    Ok(results)
}

async fn run(
    plan: &ReducerPlan,
    events: &[shared::ami::Message],
    per_pass: u64,
    browser: &e2e::Browser,
    url: &str,
) -> anyhow::Result<ReducerResults> {
    let driver = &browser.driver;
    driver.goto(url).await?;
    let ready = e2e::wait_for("the reducer page to load its WASM", || async {
        let state = driver
            .execute("return window.__reducer ?? null", Vec::new())
            .await?;
        Ok(Some(state.json().clone()).filter(|s| !s.is_null()))
    })
    .await?;
    if let Some(error) = ready["error"].as_str() {
        bail!("the reducer page failed: {error}");
    }
    ensure!(
        ready["events"].as_u64() == Some(per_pass),
        "the WASM reducer parsed {} events, the recording has {per_pass}",
        ready["events"]
    );
    let browser_name: String = driver
        .execute("return navigator.userAgent", Vec::new())
        .await?
        .convert()?;
    let expected = u64::from(plan.passes) * per_pass;
    let mut results = ReducerResults {
        native: Vec::new(),
        wasm: Vec::new(),
        browser: browser_name,
    };
    for run in 1..=plan.runs {
        let start = Instant::now();
        let native = bench_reducer::reduce(events, plan.passes);
        let native_secs = start.elapsed().as_secs_f64();
        ensure!(
            native.applied == expected,
            "native run {run} applied {} events, expected {expected}",
            native.applied
        );
        let answer: Vec<f64> = driver
            .execute(
                "return window.__run(arguments[0])",
                vec![serde_json::json!(plan.passes)],
            )
            .await?
            .convert()
            .context("the page's answer to a run")?;
        let [applied, changes, ms] = answer[..] else {
            bail!("the page answered {answer:?} to a run");
        };
        let wasm = Tally {
            applied: applied as u64,
            changes: changes as u64,
        };
        ensure!(
            wasm == native,
            "WASM run {run} did {wasm:?}, the native run {native:?}: not the same work"
        );
        ensure!(ms > 0.0, "WASM run {run} took no measurable time ({ms} ms)");
        let (native_rate, wasm_rate) =
            (expected as f64 / native_secs, expected as f64 / (ms / 1e3));
        eprintln!(
            "reducer run {run}/{}: native {native_rate:>12.0} events/s, WASM {wasm_rate:>12.0} events/s",
            plan.runs
        );
        results.native.push(native_rate);
        results.wasm.push(wasm_rate);
    }
    Ok(results)
}

/// Serves the page, wasm-bindgen's two files and the recording's events on loopback.
async fn serve(
    pkg: &Path,
    recording: &Recording,
    stopped: oneshot::Receiver<()>,
) -> anyhow::Result<String> {
    let read = |name: &str| {
        let path = pkg.join(name);
        std::fs::read(&path).with_context(|| {
            format!(
                "reading {} (`cargo xtask bench` builds it with wasm-bindgen)",
                path.display()
            )
        })
    };
    let js = read("bench_reducer.js")?;
    let wasm = read("bench_reducer_bg.wasm")?;
    let events = recording.events.to_vec();
    let app =
        Router::new()
            .route(
                "/",
                get(move || async move { ([(header::CONTENT_TYPE, "text/html")], PAGE) }),
            )
            .route(
                "/bench_reducer.js",
                get(move || async move { ([(header::CONTENT_TYPE, "text/javascript")], js) }),
            )
            .route(
                "/bench_reducer_bg.wasm",
                get(move || async move { ([(header::CONTENT_TYPE, "application/wasm")], wasm) }),
            )
            .route(
                "/events",
                get(move || async move {
                    ([(header::CONTENT_TYPE, "application/octet-stream")], events)
                }),
            );
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the reducer page's server")?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.await;
        };
        if let Err(error) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            eprintln!("the reducer page's server stopped: {error}");
        }
    });
    Ok(format!("http://{addr}/"))
}
