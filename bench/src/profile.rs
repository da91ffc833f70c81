//! A flat `perf` profile of the relay process: where its CPU time goes, for the page.

use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::Command;

/// Symbols below this share of the samples are left out.
const PERCENT_LIMIT: &str = "1.5";
/// Lines of the report kept for the page.
const TOP: usize = 20;

/// Samples `pid` for `length` with `perf record` and returns the top of `perf report`
/// (overhead, shared object, symbol), or why it could not.
pub async fn relay(pid: u32, length: Duration) -> anyhow::Result<String> {
    let data = std::env::temp_dir().join(format!("astpanel-bench-{}.perf", std::process::id()));
    let record = Command::new("perf")
        .args(["record", "-q", "-F", "499", "-p", &pid.to_string(), "-o"])
        .arg(&data)
        .args(["--", "sleep", &length.as_secs().to_string()])
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(length + Duration::from_secs(30), record)
        .await
        .context("perf record did not finish in time")?
        .context("running perf (is it installed?)")?;
    if !out.status.success() {
        bail!(
            "perf record failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let report = Command::new("perf")
        .args(["report", "--stdio", "--no-children", "--sort", "dso,symbol"])
        .args(["--percent-limit", PERCENT_LIMIT, "-i"])
        .arg(&data)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), report)
        .await
        .context("perf report did not finish in time")?
        .context("running perf report")?;
    let _ = std::fs::remove_file(&data);
    if !out.status.success() {
        bail!(
            "perf report failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let top: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        // perf pads each line with columns this report does not fill.
        .map(|l| l.trim_end_matches([' ', '-']))
        .take(TOP)
        .collect();
    if top.is_empty() {
        bail!("perf recorded no sample of the relay");
    }
    Ok(top.join("\n"))
}
