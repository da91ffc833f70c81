//! History scale (issue 24): the relay process's RSS with a call history of a million
//! calls in its SQLite file, before and after paging through every one of them with
//! `GET /api/v1/history`. A page is read row by row, so memory must stay flat; the run
//! fails unless the pages hold exactly the calls written.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use relay::history::{CallRecord, History, HistoryConfig};

use crate::panel_client::login;
use crate::pbx::Pbx;
use crate::relay_process::{RelayProcess, Upstream};

/// Time for the relay's memory to settle before it is read.
const SETTLE: Duration = Duration::from_secs(1);

/// Calls written per transaction.
const BATCH: usize = 10_000;

/// The API's largest page.
const PAGE: usize = 1_000;

pub struct Plan {
    pub relay: PathBuf,
    pub rows: usize,
}

/// What one run measured.
pub struct HistoryRun {
    pub rows: usize,
    pub pages: usize,
    /// RSS after the login, before the first page, bytes.
    pub before: u64,
    /// RSS after the last page, bytes.
    pub after: u64,
    pub seconds: f64,
}

/// Fills a fresh history file with `plan.rows` calls, starts the relay on it and pages
/// through them all.
pub async fn measure(plan: &Plan) -> anyhow::Result<HistoryRun> {
    let dir = std::env::temp_dir().join(format!("astpanel-bench-history-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("history.db");
    for stale in ["history.db", "history.db-wal", "history.db-shm"] {
        let _ = std::fs::remove_file(dir.join(stale));
    }
    fill(&path, plan.rows).await?;
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await?;
    let upstream = Upstream {
        name: "pbx".into(),
        addr: pbx.addr,
    };
    let extra = format!("\n[history]\npath = {:?}\n", path.display().to_string());
    let relay = RelayProcess::start_with(&plan.relay, &[upstream], &extra).await?;
    let http = reqwest::Client::new();
    let token = login(&http, relay.addr, "pbx").await?;
    tokio::time::sleep(SETTLE).await;
    let before = relay.usage()?.rss;
    let started = Instant::now();
    let (mut seen, mut pages, mut cursor) = (0, 0, None::<i64>);
    loop {
        let mut url = format!("{}/api/v1/history?limit={PAGE}", relay.base());
        if let Some(id) = cursor {
            let _ = write!(url, "&before={id}");
        }
        let response = http
            .get(&url)
            .bearer_auth(&token)
            .timeout(Duration::from_secs(60))
            .send()
            .await
            .context("GET /api/v1/history")?;
        if !response.status().is_success() {
            bail!("the history answered {}", response.status());
        }
        let page: serde_json::Value = response.json().await.context("a history page")?;
        let calls = page["calls"].as_array().cloned().unwrap_or_default();
        let Some(last) = calls.last().and_then(|c| c["id"].as_i64()) else {
            break;
        };
        seen += calls.len();
        pages += 1;
        cursor = Some(last);
    }
    let seconds = started.elapsed().as_secs_f64();
    tokio::time::sleep(SETTLE).await;
    let after = relay.usage()?.rss;
    drop(relay);
    let _ = std::fs::remove_dir_all(&dir);
    if seen != plan.rows {
        bail!("the pages held {seen} calls, not the {} written", plan.rows);
    }
    eprintln!(
        "history: {} calls in {pages} pages in {seconds:.1} s, RSS {:.1} MiB before, {:.1} MiB after",
        plan.rows,
        before as f64 / 1_048_576.0,
        after as f64 / 1_048_576.0
    );
    Ok(HistoryRun {
        rows: plan.rows,
        pages,
        before,
        after,
        seconds,
    })
}

/// Writes `rows` calls of server `pbx` through the relay's own store.
async fn fill(path: &std::path::Path, rows: usize) -> anyhow::Result<()> {
    let config = HistoryConfig {
        path: Some(path.to_owned()),
        retention: Duration::from_secs(100 * 365 * 86_400),
    };
    let (history, _records) = History::open(&config)?;
    let start_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
        - rows as i64 * 1_000;
    for first in (0..rows).step_by(BATCH) {
        let batch = (first..(first + BATCH).min(rows))
            .map(|n| CallRecord {
                server: "pbx".into(),
                uniqueid: format!("1796677800.{n}"),
                start_ms: start_ms + n as i64 * 1_000,
                from: format!("{}", 1000 + n % 9000),
                from_name: format!("Caller {}", n % 997),
                to: format!("{}", 200 + n % 50),
                channel: format!("PJSIP/{}-{n:08x}", 1000 + n % 9000),
                dest_channel: String::new(),
                duration_s: (n % 600) as i64,
                disposition: if n % 7 == 0 { "NO ANSWER" } else { "ANSWERED" }.into(),
                queue: if n % 3 == 0 {
                    "support".into()
                } else {
                    String::new()
                },
            })
            .collect();
        let added = history.insert(batch).await?;
        if added != (first + BATCH).min(rows) - first {
            bail!("only {added} calls of a batch were stored");
        }
    }
    Ok(())
}

impl HistoryRun {
    pub fn markdown(&self, page: &mut String) {
        let mib = |bytes: u64| bytes as f64 / 1_048_576.0;
        let _ = writeln!(
            page,
            "\n## Call history at scale\n\n\
             The relay process with {} calls in its history file (`[history] path`), pages of \
             {PAGE} read one after the other with `GET /api/v1/history?before=…` until none is \
             left ({} pages in {:.1} s); the run fails unless the pages hold exactly the calls \
             written. Pages are read row by row from SQLite, so the relay's memory stays flat.\n\n\
             | RSS before the first page | after the last | growth |\n|---:|---:|---:|\n\
             | {:.1} MiB | {:.1} MiB | {:+.1} MiB |",
            self.rows,
            self.pages,
            self.seconds,
            mib(self.before),
            mib(self.after),
            mib(self.after) - mib(self.before)
        );
    }
}
