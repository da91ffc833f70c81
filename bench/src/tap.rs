//! A second AMI session on pbxsim that notes when each `Hangup` was written: the start
//! of the end-to-end latency, since no `UserEvent` reaches a browser's deltas (the
//! model has none) and a hang-up does, as one `channel_removed` change.
//!
//! It reads a raw socket with the shared parser, so it is microseconds behind pbxsim;
//! how far behind it measures on pbxsim's `LoadStamp`s (their `SentUs` against its clock).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use bytes::BytesMut;
use shared::ami::{Frame, Parser};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use crate::isolated;

/// What the tap saw while recording, shared with every client that looks up a hang-up.
#[derive(Default)]
pub struct Recorded {
    recording: AtomicBool,
    /// `std` locks: held for one insert or lookup, never across an `.await`.
    hangups: RwLock<HashMap<String, Instant>>,
    stamp_lag_us: Mutex<Vec<f64>>,
}

impl Recorded {
    pub fn recording(&self) -> bool {
        self.recording.load(Ordering::Acquire)
    }

    /// When the tap read the `Hangup` of `uniqueid`, if it did while recording.
    pub fn hangup_at(&self, uniqueid: &str) -> Option<Instant> {
        self.hangups
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(uniqueid)
            .copied()
    }

    /// Hang-ups read while recording: what every client must see removed.
    pub fn hangups(&self) -> usize {
        self.hangups
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Microseconds from each `LoadStamp`'s `SentUs` to the tap reading it.
    pub fn stamp_lag_us(&self) -> Vec<f64> {
        self.stamp_lag_us
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn set_recording(&self, on: bool) {
        self.recording.store(on, Ordering::Release);
    }
}

/// The tap's reader, on a thread of its own (see `isolated`), ended when dropped.
pub struct Tap {
    pub recorded: Arc<Recorded>,
    _stop: oneshot::Sender<()>,
}

impl Tap {
    /// Logs in to pbxsim at `addr` as `admin` and reads until dropped.
    pub fn start(addr: SocketAddr) -> anyhow::Result<Tap> {
        let recorded = Arc::new(Recorded::default());
        let shared = recorded.clone();
        let (stop, stopped) = oneshot::channel::<()>();
        isolated::spawn("tap", move || async move {
            tokio::select! {
                read = read(addr, &shared) => if let Err(error) = read {
                    eprintln!("the tap stopped: {error:#}");
                },
                _ = stopped => {}
            }
        })?;
        Ok(Tap {
            recorded,
            _stop: stop,
        })
    }
}

async fn read(addr: SocketAddr, recorded: &Recorded) -> anyhow::Result<()> {
    let mut stream = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(addr))
        .await
        .context("connecting the tap in time")?
        .context("connecting the tap")?;
    stream.set_nodelay(true).context("TCP_NODELAY")?;
    stream
        .write_all(b"Action: Login\r\nUsername: admin\r\nSecret: admin-secret\r\n\r\n")
        .await
        .context("the tap's login")?;
    let mut parser = Parser::new().expecting_banner();
    let mut buf = BytesMut::with_capacity(256 * 1024);
    loop {
        if stream.read_buf(&mut buf).await.context("reading pbxsim")? == 0 {
            return Ok(());
        }
        let at = Instant::now();
        while let Some(frame) = parser.next_frame(&mut buf) {
            let Frame::Message(message) = frame else {
                continue;
            };
            if message.get("Message") == Some(b"Authentication failed".as_slice()) {
                bail!("pbxsim refused the tap's login");
            }
            if !recorded.recording() {
                continue;
            }
            match message.event_name() {
                Some(b"Hangup") => {
                    if let Some(uniqueid) = message.get_str("Uniqueid") {
                        recorded
                            .hangups
                            .write()
                            .unwrap_or_else(PoisonError::into_inner)
                            .insert(uniqueid.into_owned(), at);
                    }
                }
                Some(b"UserEvent") => {
                    let sent = message
                        .get_str("SentUs")
                        .and_then(|us| us.parse::<u128>().ok());
                    if let Some(sent) = sent {
                        let lag = now_us().saturating_sub(sent) as f64;
                        recorded
                            .stamp_lag_us
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .push(lag);
                    }
                }
                _ => {}
            }
        }
    }
}

/// Microseconds since the epoch, as `SentUs` counts them.
fn now_us() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros())
}
