//! AMI ingest side by side: the replay server feeds each client in turn, which counts the
//! events it delivers to user code; a run whose count is not exact fails the benchmark.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use relay::ami::{AmiConfig, SessionEvent, spawn_session};
use serde::Deserialize;

use crate::fixture::{END_MARKER, Recording, blank_lines};
use crate::replay::ReplayServer;

/// An AMI client under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Client {
    /// A socket reader that only counts blank lines: the floor no client can beat.
    RawSocket,
    /// `relay::ami::spawn_session`, counting `SessionEvent::Event` as the relay's hub gets them.
    AstPanel,
    /// panoramisk (PyPI), an `asyncio` client, with a callback registered for `*`.
    Panoramisk,
    /// asterisk-manager (npm), with a `managerevent` listener.
    AsteriskManager,
}

impl Client {
    /// In the order of the results table: the floor first, then AstPanel, then the peers.
    pub const ALL: [Client; 4] = [
        Client::RawSocket,
        Client::AstPanel,
        Client::Panoramisk,
        Client::AsteriskManager,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Client::RawSocket => "raw socket (floor)",
            Client::AstPanel => "AstPanel relay::ami",
            Client::Panoramisk => "panoramisk 1.4 (Python)",
            Client::AsteriskManager => "asterisk-manager 0.2.0 (Node.js)",
        }
    }
}

/// Where the Python and Node.js peers and their interpreters are.
pub struct Peers {
    /// A Python with `bench/peers/requirements.txt` installed.
    pub python: PathBuf,
    /// The `node` executable.
    pub node: PathBuf,
    /// The `node_modules` folder holding `bench/peers/package-lock.json`'s packages.
    pub node_modules: PathBuf,
    /// `bench/peers`, holding the two scripts.
    pub scripts: PathBuf,
}

/// What one client reported for one run.
#[derive(Debug, Deserialize)]
struct Delivery {
    events: u64,
    seconds: f64,
}

/// Events per second of each client over the runs.
pub struct ClientRates {
    pub client: Client,
    pub rates: Vec<f64>,
}

/// Runs every client `runs` times, interleaved (run 1 of each, then run 2 of each, ...) so
/// that a noisy moment on the shared machine spreads over all of them.
pub async fn measure(
    peers: &Peers,
    recording: &Recording,
    passes: u64,
    runs: usize,
) -> anyhow::Result<Vec<ClientRates>> {
    let mut results: Vec<ClientRates> = Client::ALL
        .iter()
        .map(|&client| ClientRates {
            client,
            rates: Vec::with_capacity(runs),
        })
        .collect();
    for run in 1..=runs {
        for result in &mut results {
            let rate = run_once(result.client, peers, recording, passes)
                .await
                .with_context(|| format!("ingest run {run} of {}", result.client.name()))?;
            eprintln!(
                "ingest run {run}/{runs}: {:<34} {:>12.0} events/s",
                result.client.name(),
                rate
            );
            result.rates.push(rate);
        }
    }
    Ok(results)
}

/// One run of one client: events per second, after checking that every event sent arrived.
async fn run_once(
    client: Client,
    peers: &Peers,
    recording: &Recording,
    passes: u64,
) -> anyhow::Result<f64> {
    let expected = recording.count * passes;
    // Generous: a client slower than 5,000 events/s is broken, not slow.
    let patience = Duration::from_secs(30 + expected / 5_000);
    let server = ReplayServer::start(recording, passes)?;
    let addr = server.addr;
    let delivery = match client {
        Client::RawSocket => tokio::task::spawn_blocking(move || raw_socket(addr, patience))
            .await
            .context("the raw reader panicked")??,
        Client::AstPanel => astpanel(addr, patience).await?,
        Client::Panoramisk => {
            let mut cmd = tokio::process::Command::new(&peers.python);
            cmd.arg(peers.scripts.join("panoramisk_ingest.py"));
            peer(cmd, addr, patience).await?
        }
        Client::AsteriskManager => {
            let mut cmd = tokio::process::Command::new(&peers.node);
            cmd.arg(peers.scripts.join("asterisk_manager_ingest.js"))
                .env("NODE_PATH", &peers.node_modules);
            peer(cmd, addr, patience).await?
        }
    };
    tokio::task::spawn_blocking(move || server.finish())
        .await
        .context("the replay server panicked")??;
    if delivery.events != expected {
        bail!(
            "{} delivered {} events of the {expected} sent",
            client.name(),
            delivery.events
        );
    }
    if delivery.seconds <= 0.0 {
        bail!(
            "{} reported {} s for {expected} events",
            client.name(),
            delivery.seconds
        );
    }
    Ok(delivery.events as f64 / delivery.seconds)
}

/// AstPanel's AMI client on this runtime, consumed in batches as the relay's hub does.
async fn astpanel(addr: SocketAddr, patience: Duration) -> anyhow::Result<Delivery> {
    let (session, mut rx) =
        spawn_session(AmiConfig::new(addr.to_string(), "admin", "admin-secret"));
    let consume = async {
        let mut start = None;
        let mut events = 0_u64;
        let mut batch = Vec::with_capacity(1024);
        while rx.recv_many(&mut batch, 1024).await > 0 {
            for event in batch.drain(..) {
                match event {
                    SessionEvent::Connected { .. } => {}
                    SessionEvent::Event(event) => {
                        let start = *start.get_or_insert_with(Instant::now);
                        if event.get("UserEvent") == Some(b"BenchEnd".as_slice()) {
                            return Ok(Delivery {
                                events,
                                seconds: start.elapsed().as_secs_f64(),
                            });
                        }
                        events += 1;
                    }
                    SessionEvent::Disconnected { reason } => {
                        bail!("link lost after {events} events: {reason}")
                    }
                }
            }
        }
        bail!("the session ended after {events} events")
    };
    let delivery = tokio::time::timeout(patience, consume)
        .await
        .with_context(|| format!("no end marker within {patience:?}"))?;
    // Dropping the handle ends the session, so the replay server sees the hang-up.
    drop((session, rx));
    delivery
}

/// The floor: log in, then count blank lines until the stream ends with the marker.
fn raw_socket(addr: SocketAddr, patience: Duration) -> anyhow::Result<Delivery> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(patience))?;
    stream.write_all(b"Action: Login\r\nUsername: admin\r\nSecret: admin-secret\r\n\r\n")?;
    let mut buf = vec![0_u8; 64 * 1024];
    // The last bytes read, to find a blank line or the marker split across two reads.
    let mut tail: Vec<u8> = Vec::with_capacity(2 * END_MARKER.len());
    let mut blank = 0_u64;
    let mut start = None;
    loop {
        let n = stream.read(&mut buf).context("reading the stream")?;
        if n == 0 {
            bail!("the server hung up after {blank} blank lines");
        }
        let fresh = &buf[..n];
        let seam_len = tail.len().min(3);
        let mut seam = tail[tail.len() - seam_len..].to_vec();
        seam.extend_from_slice(&fresh[..fresh.len().min(3)]);
        blank += blank_lines(&seam) + blank_lines(fresh);
        // The first blank line ends the login response; the next one ends the first event.
        if start.is_none() && blank >= 2 {
            start = Some(Instant::now());
        }
        tail.extend_from_slice(&fresh[fresh.len().saturating_sub(END_MARKER.len())..]);
        tail.drain(..tail.len().saturating_sub(END_MARKER.len()));
        if tail == END_MARKER {
            let seconds = start.map_or(0.0, |s| s.elapsed().as_secs_f64());
            // Neither the login response nor the marker is an event.
            return Ok(Delivery {
                events: blank.saturating_sub(2),
                seconds,
            });
        }
    }
}

/// Runs a peer script with the server's port and reads the one JSON line it prints.
async fn peer(
    mut cmd: tokio::process::Command,
    addr: SocketAddr,
    patience: Duration,
) -> anyhow::Result<Delivery> {
    cmd.arg(addr.port().to_string())
        .arg(patience.as_secs().to_string())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let program = format!("{:?}", cmd.as_std());
    let output = tokio::time::timeout(patience + Duration::from_secs(10), cmd.output())
        .await
        .with_context(|| format!("{program} did not finish within {patience:?}"))?
        .with_context(|| format!("could not start {program}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "{program} failed ({}): {stdout}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).with_context(|| format!("{program} printed {stdout:?}"))
}
