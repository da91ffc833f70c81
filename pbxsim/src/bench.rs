//! Load measurement: one local client logs in, counts the events it parses per second and
//! times the load stamps.

use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use shared::ami::{Frame, Parser};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::config::SimConfig;
use crate::load::STAMP_EVENT;

/// What one client received during a measurement.
#[derive(Clone, Debug)]
pub struct Report {
    /// Events parsed.
    pub events: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Measured time.
    pub elapsed: Duration,
    /// For each `LoadStamp` received (`SimConfig::stamp_every`), how long it took from
    /// being handed to the sessions to being parsed here, sorted.
    pub stamp_latencies: Vec<Duration>,
}

impl Report {
    /// Events per second.
    pub fn events_per_sec(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The `q` quantile (0.0 to 1.0) of the stamp latencies, if any stamp arrived.
    pub fn stamp_latency(&self, q: f64) -> Option<Duration> {
        let last = self.stamp_latencies.len().checked_sub(1)?;
        let i = ((last as f64) * q.clamp(0.0, 1.0)).round() as usize;
        self.stamp_latencies.get(i).copied()
    }
}

/// Microseconds since the epoch now, as `SentUs` counts them.
fn now_us() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros())
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} events, {:.1} MiB in {:.2} s: {:.0} events/s, {:.1} MiB/s to one client",
            self.events,
            self.bytes as f64 / 1_048_576.0,
            self.elapsed.as_secs_f64(),
            self.events_per_sec(),
            self.bytes as f64 / 1_048_576.0 / self.elapsed.as_secs_f64().max(1e-9),
        )?;
        if let (Some(p50), Some(p99)) = (self.stamp_latency(0.5), self.stamp_latency(0.99)) {
            write!(
                f,
                "; {} stamps, latency p50 {} µs, p99 {} µs",
                self.stamp_latencies.len(),
                p50.as_micros(),
                p99.as_micros()
            )?;
        }
        Ok(())
    }
}

/// Why a measurement failed.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A socket operation failed.
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    /// The server closed the connection early.
    #[error("server closed the connection after {0} events")]
    Closed(u64),
    /// The server did not accept the login.
    #[error("login refused")]
    Login,
}

/// Serves `config` on a loopback port, logs in as the first user and counts the events
/// received during `length` (after one second of warm-up).
pub async fn measure(config: SimConfig, length: Duration) -> Result<Report, BenchError> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let user = config.users.first().cloned().ok_or(BenchError::Login)?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::serve(listener, config, async move {
        let _ = stop_rx.await;
    }));
    let mut stream = TcpStream::connect(addr).await?;
    let login = format!(
        "Action: Login\r\nUsername: {}\r\nSecret: {}\r\n\r\n",
        user.name, user.secret
    );
    stream.write_all(login.as_bytes()).await?;
    let mut parser = Parser::new().expecting_banner();
    let mut buf = BytesMut::with_capacity(256 * 1024);
    let warm_up = Instant::now() + Duration::from_secs(1);
    let mut start: Option<Instant> = None;
    let (mut events, mut bytes) = (0_u64, 0_u64);
    let mut latencies = Vec::new();
    loop {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read_buf(&mut buf))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        if n == 0 {
            return Err(BenchError::Closed(events));
        }
        let counting = start.is_some();
        if counting {
            bytes += n as u64;
        }
        while let Some(frame) = parser.next_frame(&mut buf) {
            match frame {
                Frame::Message(m) if m.event_name().is_some() => {
                    events += u64::from(counting);
                    let sent = m
                        .get_str("SentUs")
                        .filter(|_| m.get_str("UserEvent").as_deref() == Some(STAMP_EVENT))
                        .and_then(|us| us.parse::<u128>().ok());
                    if let (true, Some(sent)) = (counting, sent) {
                        let us = u64::try_from(now_us().saturating_sub(sent)).unwrap_or(u64::MAX);
                        latencies.push(Duration::from_micros(us));
                    }
                }
                Frame::Message(m)
                    if m.get("Message")
                        .is_some_and(|v| v == b"Authentication failed") =>
                {
                    return Err(BenchError::Login);
                }
                _ => {}
            }
        }
        match start {
            None if Instant::now() >= warm_up => start = Some(Instant::now()),
            Some(t) if t.elapsed() >= length => {
                latencies.sort_unstable();
                let report = Report {
                    events,
                    bytes,
                    elapsed: t.elapsed(),
                    stamp_latencies: latencies,
                };
                let _ = stop_tx.send(());
                let _ = server.await;
                return Ok(report);
            }
            _ => {}
        }
    }
}
