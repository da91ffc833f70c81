//! `cargo xtask`: the one entry point that takes a fresh clone to a running panel and a green suite.
//!
//! Run through the alias in `.cargo/config.toml`, so it needs nothing but cargo. Code map:
//! - `setup`: finds each tool the build needs (wasm32 target, trunk, wasm-bindgen-cli,
//!   wasm-opt; for tests also Chromium, chromedriver and a Python venv), installs what is
//!   missing or at the wrong version from the package registries, and says what it did.
//! - `spa`: builds the frontend with Trunk (offline, pinned tools) into `target/spa` and
//!   prints the release WASM size, raw and brotli-compressed.
//! - `run`: `setup`, `spa`, then `astpanel --demo` with the caller's extra flags.
//! - `test`: full `setup`, `spa`, then every check stage, and a one-line-per-stage summary.
//! - `fuzz`: nightly and cargo-fuzz, seed corpora, every target in `fuzz/` for a bounded time.
//! - `sh`: spawning commands with the project's PATH, and naming them in errors.
//! - `tidy` (tests only): repository-wide conventions, such as the `//!` line atop each file;
//!   `tidy_i18n` (tests only): the SPA's text all comes from its catalogues.

mod bench;
mod fuzz;
mod run;
mod setup;
mod sh;
mod spa;
mod test;
#[cfg(test)]
mod tidy;
#[cfg(test)]
mod tidy_i18n;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command> [args]

commands:
  run [ARGS]     install missing tools, build the SPA, start `astpanel --demo ARGS`
                 (e.g. `cargo xtask run --listen 0.0.0.0:9000`)
  test           install missing tools (also Chromium, chromedriver, Python), build the SPA,
                 run fmt, clippy, tests, wasm tests in headless Chromium and e2e tests
  setup [--test] only install missing tools (--test: also the browser and Python ones)
  spa            only build the SPA into target/spa (with a .br and a .gz copy of each file)
                 and print the WASM size
  bench [--quick|--smoke] [--only NAME,...] install the pinned peers, run the benchmarks (or
                 only those named, e.g. `--only bundle`); the full run writes bench/RESULTS.md
  fuzz [--seconds N] install nightly and cargo-fuzz if missing, run every fuzz target
                 in fuzz/ for N seconds (default 60) and print executions per target
  help           print this text
";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let command = args.next();
    let rest: Vec<String> = args.collect();
    let result = match command.as_deref() {
        Some("run") => run::run(&rest),
        Some("bench") => bench::bench(&rest),
        Some("fuzz") => fuzz::fuzz(&rest),
        Some("test") if rest.is_empty() => test::test(),
        Some("setup") if rest.is_empty() => setup::setup(setup::Scope::Build).map(drop),
        Some("setup") if rest == ["--test"] => setup::setup(setup::Scope::Test).map(drop),
        Some("spa") if rest.is_empty() => {
            setup::setup(setup::Scope::Build).and_then(|tools| spa::build(&tools))
        }
        Some("help" | "--help" | "-h") => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        None => {
            eprint!("{USAGE}");
            return ExitCode::FAILURE;
        }
        Some(other) => {
            let what = if rest.is_empty() {
                format!("unknown command `{other}`")
            } else {
                format!("unexpected arguments for `{other}`: {}", rest.join(" "))
            };
            eprint!("error: {what}\n\n{USAGE}");
            return ExitCode::FAILURE;
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root, found from this crate's manifest so xtask works from any directory.
fn project_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map_or_else(|| manifest_dir.to_path_buf(), Path::to_path_buf)
}
