//! `cargo xtask bench [--quick | --smoke]`: installs the pinned peers, builds the release
//! relay (which the harness runs as a process of its own), then runs the bench harness in
//! release. Only the full run writes `bench/RESULTS.md`; `--quick` (a couple of
//! minutes), `--smoke` (tiny sizes, what `cargo xtask test` runs to check every
//! benchmark still works) and `--only NAME,...` (some benchmarks: `--only bundle` sizes the
//! SPA) write under `target/`, so the committed page stays a full run. `--quick` also runs
//! the model's invariant test with 96 cases.
//! The browser benchmarks use the SPA in `target/spa` (built by `cargo xtask spa` or `test`)
//! and Chromium with chromedriver as `cargo xtask test`'s set-up installs them; the reducer's
//! WASM side (`bench/reducer`) is built here.

use anyhow::{Context, bail};

use crate::sh::{self, Sh};

/// The bench's own venv and node_modules, relative to the root (under the ignored target/).
const PY_VENV: &str = "target/tools/bench/py";
const NODE_DIR: &str = "target/tools/bench/node";
/// wasm-bindgen's output for `bench/reducer`, relative to the root.
const REDUCER_PKG: &str = "target/bench-reducer";

pub fn bench(args: &[String]) -> anyhow::Result<()> {
    const USAGE: &str = "usage: cargo xtask bench [--quick | --smoke] [--only NAME,...]";
    let (mut size, mut only) = (None, None);
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--quick" | "--smoke" if size.is_none() => size = Some(arg.as_str()),
            "--only" if only.is_none() => only = Some(rest.next().context(USAGE)?),
            _ => bail!(USAGE),
        }
    }
    let (size, out) = match size {
        None if only.is_some() => ("full", "target/bench-only"),
        None => ("full", "bench"),
        Some("--quick") => ("quick", "target/bench-quick"),
        Some(_) => ("tiny", "target/bench-smoke"),
    };
    let command = std::iter::once("cargo xtask bench")
        .chain(args.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    let sh = Sh::new(crate::project_root());
    let python = python_peer(&sh)?;
    let node_modules = node_peer(&sh)?;
    let fixture = sh
        .root()
        .join("../shared/fixtures/asterisk/ami-events-stream.txt");
    let spa = sh.root().join("target/spa");
    if !spa.join("index.html").is_file() {
        bail!("the browser benchmarks need the SPA: run `cargo xtask spa` first");
    }
    reducer_wasm(&sh)?;
    // The relay runs as a process of its own, so that /proc shows its CPU and memory alone.
    sh::run(
        sh.cmd("cargo")
            .args(["build", "--release", "-p", "relay", "--bin", "astpanel"]),
    )?;
    let relay = cargo_target(&sh).join("release/astpanel");
    sh::run(
        sh.cmd("cargo")
            .args(["run", "--release", "-p", "bench", "--", "--size", size])
            .arg("--relay")
            .arg(&relay)
            .arg("--python")
            .arg(&python)
            .arg("--node-modules")
            .arg(&node_modules)
            .arg("--fixture")
            .arg(&fixture)
            .arg("--spa")
            .arg(&spa)
            .args(["--reducer-pkg", REDUCER_PKG])
            .args(["--out", out, "--command", &command])
            .args(only.map(|names| ["--only", names]).into_iter().flatten()),
    )?;
    if size == "quick" && only.is_none() {
        // The model's invariant (pbxsim/tests/invariant.rs) at a size `test` has no time for.
        sh::run(
            sh.cmd("cargo")
                .args(["test", "--release", "-p", "pbxsim", "--test", "invariant"])
                .env("ASTPANEL_INVARIANT_CASES", "96"),
        )?;
    }
    Ok(())
}

/// `bench/reducer` for wasm32 in release (opt-level 3, as the native side), through the
/// wasm-bindgen CLI that `setup` installed at Cargo.lock's version.
fn reducer_wasm(sh: &Sh) -> anyhow::Result<()> {
    sh::run(sh.cmd("cargo").args([
        "build",
        "--release",
        "--quiet",
        "--target",
        "wasm32-unknown-unknown",
        "-p",
        "bench-reducer",
    ]))?;
    let wasm = cargo_target(sh).join("wasm32-unknown-unknown/release/bench_reducer.wasm");
    sh::run(
        sh.cmd("wasm-bindgen")
            .args([
                "--target",
                "web",
                "--no-typescript",
                "--out-dir",
                REDUCER_PKG,
            ])
            .arg(wasm),
    )
}

/// Where cargo puts what it builds: `CARGO_TARGET_DIR` when set (relative to the root),
/// else `target/`.
fn cargo_target(sh: &Sh) -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| sh.root().join("target"), |dir| sh.root().join(dir))
}

/// A venv with bench/peers/requirements.txt, installed by pip unless it is there already.
fn python_peer(sh: &Sh) -> anyhow::Result<std::path::PathBuf> {
    let python = sh.root().join(PY_VENV).join("bin/python3");
    let wanted = std::fs::read_to_string(sh.root().join("bench/peers/requirements.txt"))
        .context("reading bench/peers/requirements.txt")?;
    let probe = "import importlib.metadata as m; print('panoramisk==' + m.version('panoramisk'))";
    let found = sh::stdout(sh.cmd(&python).args(["-c", probe]));
    if found.as_deref().map(str::trim) != Some(wanted.trim()) {
        println!("→ installing {} into {PY_VENV}", wanted.trim());
        sh::run(sh.cmd("python3").args(["-m", "venv", PY_VENV]))?;
        sh::run(sh.cmd(&python).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
            "bench/peers/requirements.txt",
        ]))?;
    }
    Ok(python)
}

/// node_modules from bench/peers/package-lock.json, by `npm ci` unless the lock is unchanged
/// (also for the relay's asterisk-manager interop test, through `setup`).
pub fn node_peer(sh: &Sh) -> anyhow::Result<std::path::PathBuf> {
    let dir = sh.root().join(NODE_DIR);
    let lock = std::fs::read(sh.root().join("bench/peers/package-lock.json"))
        .context("reading bench/peers/package-lock.json")?;
    let installed = std::fs::read(dir.join("node_modules/.package-lock.json")).ok();
    let same = std::fs::read(dir.join("package-lock.json")).ok() == Some(lock.clone());
    if !(same && installed.is_some()) {
        println!("→ installing bench/peers/package-lock.json into {NODE_DIR}");
        std::fs::create_dir_all(&dir).context("creating the bench's node folder")?;
        for file in ["package.json", "package-lock.json"] {
            std::fs::copy(sh.root().join("bench/peers").join(file), dir.join(file))
                .with_context(|| format!("copying bench/peers/{file}"))?;
        }
        sh::run(
            sh.cmd("npm")
                .args(["ci", "--no-audit", "--no-fund", "--prefix", NODE_DIR]),
        )?;
    }
    Ok(dir.join("node_modules"))
}
