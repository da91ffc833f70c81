//! `cargo xtask fuzz [--seconds N]`: installs nightly and cargo-fuzz if missing, seeds each
//! target's corpus, runs every target in `fuzz/` for N seconds and prints its executions.
//!
//! Not part of `cargo xtask test` (minutes, not seconds); the property tests are.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};

use crate::sh::{self, Sh};

/// The targets in `fuzz/Cargo.toml`, in the order they run.
const TARGETS: [&str; 5] = [
    "ami_parser",
    "client_message",
    "legacy_request",
    "legacy_head",
    "config_toml",
];
const DEFAULT_SECONDS: u64 = 60;
/// Seed files cut from each recorded AMI stream: enough to start from every kind of
/// message without making each run re-read a megabyte.
const SEEDS_PER_RECORDING: usize = 40;
/// libFuzzer's default input bound; longer seeds would be cut anyway.
const MAX_SEED_LEN: usize = 4000;

/// Request heads as AJAM clients send them, and the malformed kinds Asterisk refuses.
const HEAD_SEEDS: [&str; 6] = [
    "GET /asterisk/rawman?action=login&username=admin&secret=x HTTP/1.1\r\nHost: pbx\r\n\r\n",
    "POST /asterisk/manager HTTP/1.1\r\nContent-Length: 21\r\nCookie: mansession_id=\"0a1b2c3d\"\r\n\r\naction=ping&x=1&y=2&z",
    "GET /asterisk/mxml?action=waitevent HTTP/1.0\r\nConnection: close\r\n\r\n",
    "POST /asterisk/rawman HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
    "POST /asterisk/rawman HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "GET /asterisk/static/astman.js HTTP/1.1\r\nIf-None-Match: \"abc\"\r\n\r\n",
];

const CLIENT_SEEDS: [&str; 8] = [
    r#"{"type":"resync"}"#,
    r#"{"type":"events","enabled":true}"#,
    r#"{"type":"action","id":"7","server":"demo","action":"hangup","channel":"PJSIP/1001-00000001"}"#,
    r#"{"type":"action","server":"demo","action":"spy","target_channel":"PJSIP/1002-00000002","from":"1001","mode":"whisper"}"#,
    r#"{"type":"action","server":"demo","action":"ami","headers":{"Action":"Ping","Variable":["a=1","b=2"]}}"#,
    r#"{"server":"demo","action":"queue_add","queue":"sales","interface":"PJSIP/1001","penalty":2,"paused":false}"#,
    r#"{"server":"demo","username":"admin","secret":"admin-secret"}"#,
    r#"{"token":"3q2-7w"}"#,
];

const LEGACY_SEEDS: [&str; 6] = [
    "action=login&username=admin&secret=admin-secret",
    "action=Originate&Channel=Local%2F600%40default&Variable=a%3D1&Variable=b%3D2",
    "mansession_id=\"709f6f7a\"; astpanel_session=abc",
    "Bearer 3q2-7w",
    "private/page.html",
    "../etc/passwd",
];

const CONFIG_SEEDS: [&str; 2] = [
    "[[server]]\nname = \"main\"\nhost = \"127.0.0.1\"\nusername = \"u\"\nsecret = \"s\"\n",
    "listen = \"[::1]:8080\"\n[security]\npermit = [\"deny 0.0.0.0/0\", \"permit 10.0.0.0/8\"]\n",
];

pub fn fuzz(args: &[String]) -> anyhow::Result<()> {
    let seconds = match args {
        [] => DEFAULT_SECONDS,
        [flag, n] if flag == "--seconds" => n
            .parse()
            .with_context(|| format!("--seconds wants a whole number, not {n:?}"))?,
        _ => bail!("usage: cargo xtask fuzz [--seconds N]"),
    };
    let sh = Sh::new(crate::project_root());
    ensure_tools(&sh)?;
    let corpus = sh.root().join("fuzz/corpus");
    seed(
        &corpus,
        &sh.root().join("../shared/fixtures/asterisk"),
        sh.root(),
    )?;
    let binaries = build_targets(&sh)?;
    let mut summary = Vec::new();
    for target in TARGETS {
        let start = Instant::now();
        println!("→ fuzzing {target} for {seconds} s");
        let executions = run_target(&sh, &binaries, target, seconds)?;
        summary.push(format!(
            "{target}: {executions} executions in {}",
            sh::elapsed(start)
        ));
    }
    println!("fuzz: no crash\n  {}", summary.join("\n  "));
    Ok(())
}

/// The nightly toolchain (libFuzzer needs its sanitizer flags) and cargo-fuzz.
fn ensure_tools(sh: &Sh) -> anyhow::Result<()> {
    let toolchains = sh::stdout(sh.cmd("rustup").args(["toolchain", "list"])).unwrap_or_default();
    if !toolchains.lines().any(|line| line.starts_with("nightly")) {
        println!("→ installing the nightly toolchain (cargo-fuzz needs it)");
        sh::run(sh.cmd("rustup").args([
            "toolchain",
            "install",
            "nightly",
            "--profile",
            "minimal",
        ]))?;
    }
    if sh::stdout(sh.cmd("cargo").args(["+nightly", "fuzz", "--version"])).is_none() {
        println!("→ installing cargo-fuzz");
        sh::run(sh.cmd("cargo").args(["install", "cargo-fuzz", "--locked"]))?;
    }
    Ok(())
}

/// Writes each target's seeds into its corpus folder (kept between runs, so the corpus
/// grows): recorded AMI streams cut at message ends, the examples below, and the
/// example config.
fn seed(corpus: &Path, fixtures: &Path, root: &Path) -> anyhow::Result<()> {
    let mut seeds: Vec<(&str, String, Vec<u8>)> = Vec::new();
    for recording in [
        "ami-session.recv.raw",
        "ami-session-2.recv.raw",
        "ami-session.sent.raw",
    ] {
        let path = fixtures.join(recording);
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        for (n, piece) in ami_pieces(&bytes).into_iter().enumerate() {
            // The first byte picks how the target splits the rest; a first piece holds the banner.
            let step = if n == 0 { 0x87 } else { 0x07 };
            seeds.push((
                "ami_parser",
                format!("{recording}-{n}"),
                [&[step][..], piece].concat(),
            ));
        }
    }
    let inline = [
        ("client_message", &CLIENT_SEEDS[..]),
        ("legacy_request", &LEGACY_SEEDS[..]),
        ("legacy_head", &HEAD_SEEDS[..]),
        ("config_toml", &CONFIG_SEEDS[..]),
    ];
    for (target, texts) in inline {
        for (n, text) in texts.iter().enumerate() {
            seeds.push((target, format!("example-{n}"), text.as_bytes().to_vec()));
        }
    }
    let example = root.join("astpanel.example.toml");
    let text = std::fs::read(&example).with_context(|| format!("reading {}", example.display()))?;
    seeds.push(("config_toml", "astpanel.example.toml".into(), text));
    for (target, name, bytes) in seeds {
        let dir: PathBuf = corpus.join(target);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        std::fs::write(dir.join(format!("seed-{name}")), bytes)
            .with_context(|| format!("writing a seed into {}", dir.display()))?;
    }
    Ok(())
}

/// Up to `SEEDS_PER_RECORDING` runs of whole messages, each below `MAX_SEED_LEN`.
fn ami_pieces(bytes: &[u8]) -> Vec<&[u8]> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut end = 0;
    while pieces.len() < SEEDS_PER_RECORDING && end < bytes.len() {
        let next = bytes[end..]
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(bytes.len(), |at| end + at + 4);
        if next - start > MAX_SEED_LEN && end > start {
            pieces.push(&bytes[start..end]);
            start = end;
        }
        end = next;
    }
    if pieces.len() < SEEDS_PER_RECORDING && end > start {
        pieces.push(&bytes[start..end.min(start + MAX_SEED_LEN)]);
    }
    pieces
}

/// Builds every target at once and returns the folder of their binaries. Running those
/// directly, rather than through `cargo fuzz run`, builds once: the relay's build script
/// watches `target/spa`, which until `cargo xtask spa` does not exist, and a missing file
/// counts as changed at every build.
fn build_targets(sh: &Sh) -> anyhow::Result<PathBuf> {
    sh::run(sh.cmd("cargo").args(["+nightly", "fuzz", "build"]))?;
    let rustc = sh::stdout(sh.cmd("rustc").args(["+nightly", "-vV"])).unwrap_or_default();
    let host = rustc
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .context("`rustc +nightly -vV` named no host")?;
    Ok(sh.root().join("fuzz/target").join(host).join("release"))
}

/// Runs one target for `seconds` and returns libFuzzer's count of executions; a crash
/// fails with libFuzzer's last lines, which name the input saved under `fuzz/artifacts`.
fn run_target(sh: &Sh, binaries: &Path, target: &str, seconds: u64) -> anyhow::Result<u64> {
    let artifacts = sh.root().join("fuzz/artifacts").join(target);
    std::fs::create_dir_all(&artifacts)
        .with_context(|| format!("creating {}", artifacts.display()))?;
    let mut cmd: Command = sh.cmd(binaries.join(target));
    cmd.arg(sh.root().join("fuzz/corpus").join(target))
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .arg(format!("-max_total_time={seconds}"))
        .arg("-print_final_stats=1");
    let output = cmd
        .output()
        .with_context(|| format!("could not start `{}`", sh::display(&cmd)))?;
    let log = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        // The panic message and libFuzzer's lines, without the stack frames between them.
        let lines: Vec<&str> = log
            .lines()
            .filter(|line| {
                let line = line.trim_start();
                !line.starts_with(|c: char| c == '#' || c.is_ascii_digit())
                    && !line.starts_with("at ")
            })
            .collect();
        let tail = &lines[lines.len().saturating_sub(30)..];
        bail!(
            "`{}` failed ({}):\n{}",
            sh::display(&cmd),
            output.status,
            tail.join("\n")
        );
    }
    log.lines()
        .find_map(|line| line.strip_prefix("stat::number_of_executed_units:"))
        .and_then(|n| n.trim().parse().ok())
        .with_context(|| format!("{target}: libFuzzer printed no execution count"))
}
