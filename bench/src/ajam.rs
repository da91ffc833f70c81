//! Legacy AJAM: `rawman?action=Ping` requests/s under `wrk`, the relay's AJAM listener
//! against a bare axum handler giving the same answer, and the WaitEvent wake-up latency
//! of 100 long-polling sessions when one `UserEvent` reaches the relay.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use relay::ami::{AmiConfig, SessionHandle, spawn_session};
use relay::config::{Config, Upstream};
use shared::ami::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use crate::pbx::Pbx;

/// Every wait of this benchmark but wrk's own run ends within this.
const PATIENCE: Duration = Duration::from_secs(15);
/// Asterisk's answer to a Ping, byte for byte, as recorded in `ajam-rawman-ping.txt`.
const PING_BODY: &str = "Response: Success\r\nPing: Pong\r\nTimestamp: 1795418445.509264\r\n\r\n";
/// The Ping both listeners are driven with.
const PING_PATH: &str = "/asterisk/rawman?action=Ping";

/// How much of the AJAM benchmark to run.
pub struct AjamPlan {
    pub wrk: std::path::PathBuf,
    pub wrk_seconds: u64,
    pub runs: usize,
    pub waiters: usize,
    pub rounds: usize,
}

/// What the AJAM benchmark measured.
pub struct AjamResults {
    /// Requests/s of the relay's AJAM listener, run by run.
    pub relay: Vec<f64>,
    /// Requests/s of the bare axum handler, run by run, interleaved with the relay's.
    pub bare: Vec<f64>,
    /// Wake-up latencies in milliseconds, every session of every round.
    pub wake_ms: Vec<f64>,
}

/// Runs both parts against one relay in front of one in-process pbxsim.
pub async fn measure(plan: &AjamPlan) -> anyhow::Result<AjamResults> {
    let (stop, stopped) = oneshot::channel::<()>();
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await?;
    let pbx_addr = pbx.addr;
    let relay = start_relay(pbx_addr, stopped).await?;
    let bare = start_bare().await?;
    let result = run(plan, relay, bare, pbx_addr).await;
    let _ = stop.send(());
    drop(pbx);
    result
}

async fn run(
    plan: &AjamPlan,
    relay: SocketAddr,
    bare: SocketAddr,
    pbx: SocketAddr,
) -> anyhow::Result<AjamResults> {
    let cookie = login(relay).await?;
    let answer = get(relay, PING_PATH, Some(&cookie)).await?;
    if !contains(&answer, b"Response: Success\r\nPing: Pong\r\n") {
        bail!(
            "the relay's Ping answer is not a Pong: {}",
            String::from_utf8_lossy(&answer)
        );
    }
    let mut results = AjamResults {
        relay: Vec::new(),
        bare: Vec::new(),
        wake_ms: Vec::new(),
    };
    for run in 1..=plan.runs {
        for (name, addr, rates) in [
            ("relay AJAM", relay, &mut results.relay),
            ("bare axum", bare, &mut results.bare),
        ] {
            let rate = wrk(&plan.wrk, addr, &cookie, plan.wrk_seconds)
                .await
                .with_context(|| format!("wrk run {run} against the {name}"))?;
            eprintln!(
                "ajam ping run {run}/{}: {name:<12} {rate:>10.0} req/s",
                plan.runs
            );
            rates.push(rate);
        }
    }
    results.wake_ms = wake_up(relay, pbx, plan.waiters, plan.rounds).await?;
    Ok(results)
}

/// The relay with its Asterisk-exact AJAM listener, its upstream the pbxsim at `pbx`.
async fn start_relay(
    pbx: SocketAddr,
    stopped: oneshot::Receiver<()>,
) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the relay")?;
    let addr = listener.local_addr().context("the relay's address")?;
    let legacy = TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the AJAM listener")?;
    let legacy_addr = legacy.local_addr().context("the AJAM address")?;
    let mut config = Config::demo(addr);
    config.upstream = Upstream::Asterisk(vec![relay::config::demo_server(pbx)]);
    config.legacy.server_name = "Asterisk/22.10.1".into();
    tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.await;
        };
        if let Err(error) = relay::run_with_legacy(config, listener, Some(legacy), shutdown).await {
            eprintln!("the relay stopped: {error}");
        }
    });
    Ok(legacy_addr)
}

/// An axum handler answering every request with Asterisk's Ping answer, headers included.
async fn start_bare() -> anyhow::Result<SocketAddr> {
    use axum::http::header;
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the bare handler")?;
    let addr = listener
        .local_addr()
        .context("the bare handler's address")?;
    let handler = || async {
        (
            [
                (header::SERVER, "Asterisk/22.10.1"),
                (header::CACHE_CONTROL, "no-cache, no-store"),
                (header::CONTENT_TYPE, "text/plain"),
                (
                    header::SET_COOKIE,
                    "mansession_id=\"709f6f7a\"; Version=1; Max-Age=60",
                ),
                (header::PRAGMA, "SuppressEvents"),
            ],
            PING_BODY,
        )
    };
    let app = axum::Router::new().route("/asterisk/rawman", axum::routing::get(handler));
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            eprintln!("the bare handler stopped: {error}");
        }
    });
    Ok(addr)
}

/// `wrk -t2 -c20 -d<seconds>s` on the Ping with `cookie`: requests/s, after checking that
/// every answer was a 2xx and no socket failed.
async fn wrk(wrk: &Path, addr: SocketAddr, cookie: &str, seconds: u64) -> anyhow::Result<f64> {
    let run = tokio::process::Command::new(wrk)
        .args(["-t2", "-c20", &format!("-d{seconds}s")])
        .arg("-H")
        .arg(format!("Cookie: mansession_id={cookie}"))
        .arg(format!("http://{addr}{PING_PATH}"))
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(seconds) + PATIENCE, run)
        .await
        .context("wrk did not finish in time")?
        .with_context(|| format!("running {}", wrk.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "wrk failed ({}): {text}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    parse_wrk(&text)
}

/// Requests/s from wrk's report; an error if any answer was not 2xx/3xx or a socket failed.
fn parse_wrk(text: &str) -> anyhow::Result<f64> {
    if text.contains("Non-2xx or 3xx responses") {
        bail!("some answers were not 2xx or 3xx:\n{text}");
    }
    if let Some(errors) = text
        .lines()
        .find(|l| l.trim().starts_with("Socket errors:"))
    {
        let failed = errors
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|n| n.parse::<u64>().ok())
            .any(|n| n > 0);
        if failed {
            bail!("wrk saw socket errors:\n{text}");
        }
    }
    let rate = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|r| r.trim().parse::<f64>().ok())
        .with_context(|| format!("no Requests/sec in wrk's report:\n{text}"))?;
    if rate > 0.0 {
        Ok(rate)
    } else {
        bail!("wrk made no request:\n{text}")
    }
}

/// `waiters` AJAM sessions long-poll WaitEvent, each on its own connection; one
/// `UserEvent` a round goes to pbxsim on a side AMI session. Per session and round: the
/// milliseconds from sending it to the complete answer holding it.
async fn wake_up(
    relay: SocketAddr,
    pbx: SocketAddr,
    waiters: usize,
    rounds: usize,
) -> anyhow::Result<Vec<f64>> {
    let (side, events) = spawn_session(AmiConfig::new(pbx.to_string(), "admin", "admin-secret"));
    tokio::spawn(async move {
        let mut events = events;
        while events.recv().await.is_some() {}
    });
    ready(&side).await?;
    let mut sessions = Vec::with_capacity(waiters);
    for _ in 0..waiters {
        let cookie = login(relay).await?;
        let mut stream = connect(relay).await?;
        // Empties what the queue holds since the login; a quiet pbxsim may have sent nothing.
        let drain = "/asterisk/rawman?action=waitevent&timeout=0";
        exchange(&mut stream, drain, Some(&cookie)).await?;
        sessions.push((cookie, stream));
    }
    let mut latencies = Vec::with_capacity(waiters * rounds);
    for round in 1..=rounds {
        let tag = format!("UserEvent: BenchWake\r\nRound: {round}\r\n");
        let mut tasks = Vec::with_capacity(waiters);
        for (cookie, mut stream) in sessions.drain(..) {
            tasks.push(tokio::spawn(async move {
                let path = "/asterisk/rawman?action=waitevent&timeout=30";
                let answer = exchange(&mut stream, path, Some(&cookie)).await;
                (answer.map(|a| (a, Instant::now())), cookie, stream)
            }));
        }
        // Lets every WaitEvent reach the relay; one that comes late still finds the event queued.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let event = Message::new()
            .with("Action", "UserEvent")
            .with("UserEvent", "BenchWake")
            .with("Round", round.to_string());
        let sent = Instant::now();
        tokio::time::timeout(PATIENCE, side.send(event))
            .await
            .context("pbxsim did not answer the UserEvent in time")?
            .map_err(|e| anyhow::anyhow!("the UserEvent failed: {e}"))?;
        let mut delivered = 0;
        for task in tasks {
            let (answer, cookie, stream) = task.await.context("a waiter panicked")?;
            let (answer, at) = answer.with_context(|| format!("WaitEvent in round {round}"))?;
            if !contains(&answer, b"Event: UserEvent\r\n") || !contains(&answer, tag.as_bytes()) {
                bail!(
                    "round {round}: a WaitEvent answer lacks the UserEvent: {}",
                    String::from_utf8_lossy(&answer)
                );
            }
            let ms = at
                .checked_duration_since(sent)
                .map_or(0.0, |d| d.as_secs_f64() * 1e3);
            latencies.push(ms);
            delivered += 1;
            sessions.push((cookie, stream));
        }
        if delivered != waiters {
            bail!("round {round}: {delivered} answers, not {waiters}");
        }
        eprintln!("ajam waitevent round {round}/{rounds}: {delivered} sessions woken");
    }
    Ok(latencies)
}

/// Waits until the side AMI session has logged in and answers.
async fn ready(side: &SessionHandle) -> anyhow::Result<()> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let ping = Message::new().with("Action", "Ping");
        if side.send(ping).await.is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the side AMI session never logged in to pbxsim");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Logs a new AJAM session in as admin: its cookie, quotes included.
async fn login(addr: SocketAddr) -> anyhow::Result<String> {
    let path = "/asterisk/rawman?action=login&username=admin&secret=admin-secret";
    let answer = get(addr, path, None).await?;
    let text = String::from_utf8_lossy(&answer);
    text.lines()
        .find_map(|l| l.strip_prefix("Set-Cookie: mansession_id="))
        .and_then(|v| v.split(';').next())
        .filter(|_| text.contains("Response: Success"))
        .map(str::to_owned)
        .with_context(|| format!("the AJAM login failed: {text}"))
}

async fn connect(addr: SocketAddr) -> anyhow::Result<TcpStream> {
    let stream = tokio::time::timeout(PATIENCE, TcpStream::connect(addr))
        .await
        .context("connecting in time")?
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true).context("TCP_NODELAY")?;
    Ok(stream)
}

/// One GET on a fresh connection: the whole answer.
async fn get(addr: SocketAddr, path: &str, cookie: Option<&str>) -> anyhow::Result<Vec<u8>> {
    let mut stream = connect(addr).await?;
    exchange(&mut stream, path, cookie).await
}

/// One GET on a kept-alive connection: the whole answer, head and body, within 45 s
/// (WaitEvent's 30 s and room to spare).
async fn exchange(
    stream: &mut TcpStream,
    path: &str,
    cookie: Option<&str>,
) -> anyhow::Result<Vec<u8>> {
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    if let Some(cookie) = cookie {
        request.push_str(&format!("Cookie: mansession_id={cookie}\r\n"));
    }
    request.push_str("\r\n");
    tokio::time::timeout(PATIENCE, stream.write_all(request.as_bytes()))
        .await
        .context("writing in time")?
        .context("writing a request")?;
    let read = async {
        let mut buffer = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            let n = stream.read(&mut chunk).await.context("reading an answer")?;
            if n == 0 {
                bail!(
                    "connection closed mid-answer: {}",
                    String::from_utf8_lossy(&buffer)
                );
            }
            buffer.extend_from_slice(&chunk[..n]);
            if let Some(end) = memchr::memmem::find(&buffer, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse().ok())?
                    })
                    .with_context(|| format!("an answer without Content-Length: {head}"))?;
                if buffer.len() >= end + 4 + length {
                    return Ok(buffer);
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(45), read)
        .await
        .context("an answer in time")?
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(haystack, needle).is_some()
}

#[cfg(test)]
mod tests {
    use super::parse_wrk;

    const GOOD: &str = "Running 1s test @ http://127.0.0.1:1/asterisk/rawman?action=Ping
  2 threads and 20 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.00ms  100.00us   2.00ms   90.00%
  16000 requests in 1.00s, 4.00MB read
Requests/sec:  16000.50
Transfer/sec:      4.00MB
";

    #[test]
    fn reads_the_rate_and_refuses_errors() {
        assert_eq!(parse_wrk(GOOD).ok(), Some(16000.5));
        let bad = GOOD.replace(
            "Requests/sec",
            "  Non-2xx or 3xx responses: 5\nRequests/sec",
        );
        assert!(parse_wrk(&bad).is_err());
        let sockets = GOOD.replace(
            "Requests/sec",
            "  Socket errors: connect 0, read 2, write 0, timeout 0\nRequests/sec",
        );
        assert!(parse_wrk(&sockets).is_err());
        let fine = GOOD.replace(
            "Requests/sec",
            "  Socket errors: connect 0, read 0, write 0, timeout 0\nRequests/sec",
        );
        assert_eq!(parse_wrk(&fine).ok(), Some(16000.5));
    }
}
