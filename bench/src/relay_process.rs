//! The relay as a process of its own (`target/release/astpanel --config FILE`), so that
//! its CPU time and memory are its own in /proc; its configuration file and its /metrics.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How long the relay may take to print its address and to bring every link up.
const START_PATIENCE: Duration = Duration::from_secs(30);

/// One `[[server]]` of the relay's file: a pbxsim with the fixtures' users.
pub struct Upstream {
    pub name: String,
    pub addr: SocketAddr,
}

/// A running `astpanel`, killed when dropped.
pub struct RelayProcess {
    child: Child,
    pid: u32,
    pub addr: SocketAddr,
    config: PathBuf,
    http: reqwest::Client,
}

/// The relay's CPU time and memory at one moment, from /proc.
#[derive(Clone, Copy, Debug)]
pub struct Usage {
    pub at: Instant,
    /// User and system CPU seconds since the relay started.
    pub cpu_secs: f64,
    /// Resident set size, bytes.
    pub rss: u64,
}

impl Usage {
    /// Cores used on average between `self` and a later sample.
    pub fn cores_until(&self, later: &Usage) -> f64 {
        let wall = later.at.duration_since(self.at).as_secs_f64().max(1e-9);
        (later.cpu_secs - self.cpu_secs) / wall
    }
}

/// /metrics and /proc read at one moment: the relay's, and this process's (pbxsim and
/// the panels run here), to tell a busy relay from a generator that cannot keep up.
pub struct Sample {
    pub metrics: Metrics,
    pub usage: Usage,
    pub bench: Usage,
}

/// What the relay did between two samples.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    pub events_per_sec: f64,
    pub cores: f64,
    /// RSS at the end, bytes.
    pub rss: u64,
    /// Cores the bench process used meanwhile.
    pub bench_cores: f64,
}

impl Sample {
    pub fn until(&self, later: &Sample) -> Window {
        Window {
            events_per_sec: self.metrics.events_per_sec_until(&later.metrics),
            cores: self.usage.cores_until(&later.usage),
            rss: later.usage.rss,
            bench_cores: self.bench.cores_until(&later.bench),
        }
    }
}

/// The counters of /metrics the benchmarks read.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    pub at: Option<Instant>,
    /// `astpanel_ami_events_total` per server.
    pub events_in: BTreeMap<String, f64>,
    /// `astpanel_ami_link_up` per server.
    pub link_up: BTreeMap<String, f64>,
    pub browsers: f64,
    pub lag_snapshots: f64,
    /// `astpanel_model_resyncs_total` over every server: one per link brought up.
    pub resyncs: f64,
}

impl Metrics {
    /// Events/s the relay took in over every server between `self` and a later scrape.
    pub fn events_per_sec_until(&self, later: &Metrics) -> f64 {
        let sum = |m: &Metrics| m.events_in.values().sum::<f64>();
        let wall = match (self.at, later.at) {
            (Some(a), Some(b)) => b.duration_since(a).as_secs_f64().max(1e-9),
            _ => return 0.0,
        };
        (sum(later) - sum(self)) / wall
    }

    /// Parses the text exposition format, keeping the series above.
    fn parse(text: &str) -> Metrics {
        let mut metrics = Metrics {
            at: Some(Instant::now()),
            ..Metrics::default()
        };
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(value) = value.parse::<f64>() else {
                continue;
            };
            let (name, server) = match series.split_once('{') {
                Some((name, labels)) => (name, label(labels, "server")),
                None => (series, None),
            };
            match (name, server) {
                ("astpanel_ami_events_total", Some(server)) => {
                    metrics.events_in.insert(server, value);
                }
                ("astpanel_ami_link_up", Some(server)) => {
                    metrics.link_up.insert(server, value);
                }
                ("astpanel_browsers", None) => metrics.browsers = value,
                ("astpanel_model_resyncs_total", Some(_)) => metrics.resyncs += value,
                ("astpanel_lag_snapshots_total", None) => metrics.lag_snapshots = value,
                _ => {}
            }
        }
        metrics
    }
}

/// The value of `key="…"` in a label set such as `server="a",x="b"}`.
fn label(labels: &str, key: &str) -> Option<String> {
    let start = labels.find(&format!("{key}=\""))? + key.len() + 2;
    let rest = &labels[start..];
    Some(rest[..rest.find('"')?].to_owned())
}

/// Configuration files get unique names, as several relays may run one after the other.
static STARTED: AtomicUsize = AtomicUsize::new(0);

impl RelayProcess {
    /// Writes a configuration following `upstreams` (the relay logs in as `admin`,
    /// people as `agent` with read=call,agent), starts `binary` with it on a free
    /// loopback port and waits until every link is up.
    pub async fn start(binary: &Path, upstreams: &[Upstream]) -> anyhow::Result<RelayProcess> {
        RelayProcess::start_with(binary, upstreams, "").await
    }

    /// As `start`, with `extra` (TOML tables such as `[ami_proxy]`) at the end of the file.
    pub async fn start_with(
        binary: &Path,
        upstreams: &[Upstream],
        extra: &str,
    ) -> anyhow::Result<RelayProcess> {
        let n = STARTED.fetch_add(1, Ordering::Relaxed);
        let config =
            std::env::temp_dir().join(format!("astpanel-bench-{}-{n}.toml", std::process::id()));
        std::fs::write(&config, config_text(upstreams) + extra)
            .with_context(|| format!("writing {}", config.display()))?;
        let mut child = Command::new(binary)
            .arg("--config")
            .arg(&config)
            .args(["--log", "warn"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let pid = child.id().context("the relay has no pid")?;
        let stdout = child.stdout.take().context("the relay's stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(START_PATIENCE, lines.next_line())
            .await
            .context("the relay did not print its address in time")?
            .context("reading the relay's stdout")?
            .context("the relay exited before serving")?;
        let addr: SocketAddr = first
            .strip_prefix("AstPanel is serving http://")
            .and_then(|a| a.trim().parse().ok())
            .with_context(|| format!("unexpected first line from the relay: {first}"))?;
        // The relay logs warnings to stdout: keep the pipe empty so it never blocks.
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                eprintln!("astpanel: {line}");
            }
        });
        let relay = RelayProcess {
            child,
            pid,
            addr,
            config,
            http: reqwest::Client::new(),
        };
        relay.wait_for_links(upstreams.len()).await?;
        Ok(relay)
    }

    async fn wait_for_links(&self, servers: usize) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_PATIENCE;
        loop {
            if let Ok(metrics) = self.metrics().await {
                let up = metrics.link_up.values().filter(|v| **v >= 1.0).count();
                if up == servers {
                    return Ok(());
                }
                if Instant::now() > deadline {
                    bail!("only {up} of {servers} AMI links came up in {START_PATIENCE:?}");
                }
            } else if Instant::now() > deadline {
                bail!("the relay's /metrics did not answer in {START_PATIENCE:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub async fn metrics(&self) -> anyhow::Result<Metrics> {
        let text = self
            .http
            .get(format!("{}/metrics", self.base()))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .context("GET /metrics")?
            .error_for_status()
            .context("GET /metrics")?
            .text()
            .await
            .context("reading /metrics")?;
        Ok(Metrics::parse(&text))
    }

    pub async fn sample(&self) -> anyhow::Result<Sample> {
        Ok(Sample {
            metrics: self.metrics().await?,
            usage: self.usage()?,
            bench: usage_of(std::process::id())?,
        })
    }

    /// The relay's CPU time and RSS now.
    pub fn usage(&self) -> anyhow::Result<Usage> {
        usage_of(self.pid)
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        // kill_on_drop ends the process; the file is ours to remove.
        let _ = self.child.start_kill();
        let _ = std::fs::remove_file(&self.config);
    }
}

/// The CPU time and RSS of process `pid` now, from /proc.
pub fn usage_of(pid: u32) -> anyhow::Result<Usage> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // Fields after the command name in parentheses: utime is the 14th field of
    // the line, stime the 15th, so the 12th and 13th after the name.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    let (Some(utime), Some(stime)) = (ticks(11), ticks(12)) else {
        bail!("unexpected /proc/{pid}/stat: {stat}");
    };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .with_context(|| format!("no VmRSS in /proc/{pid}/status"))?;
    Ok(Usage {
        at: Instant::now(),
        cpu_secs: (utime + stime) / clock_ticks(),
        rss: rss_kib * 1024,
    })
}

/// The kernel's clock ticks per second (`getconf CLK_TCK`), 100 if it cannot be asked.
fn clock_ticks() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// The relay's file: loopback on a free port, no AJAM listener of its own, room for
/// every socket the benchmarks open, the default tick.
fn config_text(upstreams: &[Upstream]) -> String {
    let mut text = String::from(
        "listen = \"127.0.0.1:0\"\nmax_browsers = 20000\n\n[legacy]\nenabled = false\n\n\
         # Every panel of the bench connects from 127.0.0.1.\n\
         [security]\nmax_connections = 30000\nmax_connections_per_address = 30000\n",
    );
    for upstream in upstreams {
        text.push_str(&format!(
            "\n[[server]]\nname = \"{}\"\nhost = \"{}\"\nport = {}\n\
             username = \"admin\"\nsecret = \"admin-secret\"\n\n\
             [server.read_classes]\nadmin = \"all\"\nagent = \"call,agent\"\n",
            upstream.name,
            upstream.addr.ip(),
            upstream.addr.port()
        ));
    }
    text
}

/// Raises this process's open-file limit to its hard limit (children inherit it):
/// thousands of sockets need more than the usual 1,024.
pub fn raise_file_limit() -> anyhow::Result<u64> {
    let (_, hard) = rlimit::Resource::NOFILE
        .get()
        .context("reading RLIMIT_NOFILE")?;
    rlimit::Resource::NOFILE
        .set(hard, hard)
        .context("raising RLIMIT_NOFILE")?;
    Ok(hard)
}

#[cfg(test)]
mod tests {
    use super::Metrics;

    #[test]
    fn reads_the_counters_per_server() {
        let text = "# HELP astpanel_ami_events AMI events received.\n\
                    # TYPE astpanel_ami_events counter\n\
                    astpanel_ami_events_total{server=\"s1\"} 120\n\
                    astpanel_ami_events_total{server=\"s2\"} 30\n\
                    astpanel_ami_link_up{server=\"s1\"} 1\n\
                    astpanel_browsers 7\n\
                    astpanel_lag_snapshots_total 2\n\
                    astpanel_model_resyncs_total{server=\"s1\"} 1\n\
                    astpanel_model_resyncs_total{server=\"s2\"} 2\n";
        let m = Metrics::parse(text);
        assert_eq!(m.events_in.get("s1"), Some(&120.0));
        assert_eq!(m.events_in.get("s2"), Some(&30.0));
        assert_eq!(m.link_up.get("s1"), Some(&1.0));
        assert_eq!((m.browsers, m.lag_snapshots, m.resyncs), (7.0, 2.0, 3.0));
    }
}
