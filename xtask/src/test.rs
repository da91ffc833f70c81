//! `cargo xtask test`: every check CI runs, as stages that all run even after one fails.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::bail;

use crate::setup::{self, Scope, Tools};
use crate::{sh, spa};

/// A check and how it went.
struct Outcome {
    name: &'static str,
    ok: bool,
    seconds: String,
}

pub fn test() -> anyhow::Result<()> {
    let tools = setup::setup(Scope::Test)?;
    let mut outcomes = vec![stage("spa", || spa::build(&tools))];
    for (name, commands) in stages(&tools) {
        outcomes.push(stage(name, || {
            // Every command of a stage runs, so one report shows all of its failures.
            let failures: Vec<String> = commands
                .into_iter()
                .filter_map(|mut cmd| {
                    println!("── {name}: {}", sh::display(&cmd));
                    sh::run(&mut cmd).err().map(|err| format!("{err:#}"))
                })
                .collect();
            match failures.as_slice() {
                [] => Ok(()),
                _ => bail!("{}", failures.join("; ")),
            }
        }));
    }

    println!("\nsummary:");
    for outcome in &outcomes {
        let verdict = if outcome.ok { "ok" } else { "FAILED" };
        println!(
            "  {:.<12} {verdict:<6} {:>7}",
            format!("{} ", outcome.name),
            outcome.seconds
        );
    }
    let failed: Vec<&str> = outcomes.iter().filter(|o| !o.ok).map(|o| o.name).collect();
    if !failed.is_empty() {
        bail!(
            "{} of {} stages failed: {}",
            failed.len(),
            outcomes.len(),
            failed.join(", ")
        );
    }
    Ok(())
}

fn stage(name: &'static str, body: impl FnOnce() -> anyhow::Result<()>) -> Outcome {
    let start = Instant::now();
    let result = body();
    if let Err(err) = &result {
        eprintln!("── {name} FAILED: {err:#}");
    }
    Outcome {
        name,
        ok: result.is_ok(),
        seconds: sh::elapsed(start),
    }
}

/// The stages after the SPA build, in order, each a list of commands.
fn stages(tools: &Tools) -> Vec<(&'static str, Vec<Command>)> {
    let sh = &tools.sh;
    let cargo = |args: &[&str]| {
        let mut cmd = sh.cmd("cargo");
        cmd.args(args);
        if let Some(chromedriver) = &tools.chromedriver {
            cmd.env("CHROMEDRIVER", chromedriver);
        }
        cmd
    };
    // e2e has its own stage; the frontend's tests need a DOM, so they run in the wasm stage.
    let mut native_tests = cargo(&[
        "test",
        "--workspace",
        "--exclude",
        "e2e",
        "--exclude",
        "frontend",
    ]);
    if let Some(python) = &tools.python {
        // pbxsim's panoramisk interop test runs this Python; without it, the test skips.
        native_tests.env("ASTPANEL_PYTHON", python);
    }
    if let Some((node, node_modules)) = &tools.node {
        // The relay's asterisk-manager interop test runs this node; without it, the test skips.
        native_tests
            .env("ASTPANEL_NODE", node)
            .env("ASTPANEL_NODE_MODULES", node_modules);
    }
    // The e2e run keeps its logs, and the relay's must hold no configured secret. A
    // previous run's logs would prove nothing about this one.
    let e2e_logs = sh.root().join("target/e2e-logs");
    let _ = std::fs::remove_dir_all(&e2e_logs);
    let mut e2e_tests = cargo(&["test", "-p", "e2e"]);
    e2e_tests.env("ASTPANEL_E2E_LOG_DIR", &e2e_logs);
    let mut secrets_in_logs = cargo(&["run", "-q", "-p", "e2e", "--bin", "secrets-in-logs"]);
    secrets_in_logs.env("ASTPANEL_E2E_LOG_DIR", &e2e_logs);
    let wasm_tests = |package: &str| {
        let mut cmd = cargo(&["test", "--target", "wasm32-unknown-unknown", "-p", package]);
        wasm_test_env(&mut cmd, sh.root());
        cmd
    };
    vec![
        ("fmt", vec![cargo(&["fmt", "--all", "--check"])]),
        (
            "clippy",
            vec![
                cargo(&[
                    "clippy",
                    "--workspace",
                    "--all-targets",
                    "--",
                    "-D",
                    "warnings",
                ]),
                // The frontend's real target: code behind cfg(target_arch = "wasm32") too.
                cargo(&[
                    "clippy",
                    "--target",
                    "wasm32-unknown-unknown",
                    "-p",
                    "frontend",
                    "--all-targets",
                    "--",
                    "-D",
                    "warnings",
                ]),
            ],
        ),
        ("test", vec![native_tests]),
        ("wasm", vec![wasm_tests("shared"), wasm_tests("frontend")]),
        ("e2e", vec![e2e_tests, secrets_in_logs]),
        // Every benchmark still runs (tiny sizes, under target/); numbers come from `cargo xtask bench`.
        ("bench", vec![cargo(&["xtask", "bench", "--smoke"])]),
    ]
}

/// Runs wasm32 test binaries in headless Chromium through wasm-bindgen-test-runner.
fn wasm_test_env(cmd: &mut Command, root: &Path) {
    cmd.env(
        "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER",
        "wasm-bindgen-test-runner",
    )
    // In a browser even when a test crate does not say `run_in_browser`: the SPA's home.
    .env("WASM_BINDGEN_USE_BROWSER", "1")
    // Chromium's flags for running as root in a container; the runner adds --headless.
    .env(
        "WASM_BINDGEN_TEST_WEBDRIVER_JSON",
        root.join("webdriver.json"),
    )
    // The defaults (5 s to start chromedriver, 20 s per test binary) are too tight for a
    // 2-core CI machine that is still busy compiling.
    .env("WASM_BINDGEN_TEST_DRIVER_TIMEOUT", "30")
    .env("WASM_BINDGEN_TEST_TIMEOUT", "120");
}
