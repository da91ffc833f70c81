//! The load client: a panel that logs in through `POST /api/v1/login`, opens `/ws` with
//! its bearer token and counts what it receives, as a browser would see it.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt;
use serde::Deserialize;
use shared::model::follow::{Follower, Step};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::tap::Recorded;

/// A panel socket open and logged in.
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A socket that stays silent this long while the PBX is busy has failed the run.
pub const BUSY_SILENCE: Duration = Duration::from_secs(15);

/// The account every panel logs in as: the fixtures' `agent` (read=call,agent), so
/// every client of a run shares one AMI session, by design.
const USER: &str = "agent";
const SECRET: &str = "agent-secret";

/// Logs in to `server` on the relay; the token.
pub async fn login(
    http: &reqwest::Client,
    relay: SocketAddr,
    server: &str,
) -> anyhow::Result<String> {
    #[derive(Deserialize)]
    struct Answer {
        token: String,
    }
    let response = http
        .post(format!("http://{relay}/api/v1/login"))
        .json(&serde_json::json!({"server": server, "username": USER, "secret": SECRET}))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .context("POST /api/v1/login")?;
    let status = response.status();
    let body = response.text().await.context("reading the login answer")?;
    if !status.is_success() {
        bail!("login refused with {status}: {body}");
    }
    let answer: Answer = serde_json::from_str(&body).context("the login answer")?;
    Ok(answer.token)
}

/// Opens `/ws` with `token` as a bearer. Small read buffers, as the relay's: the
/// harness holds up to ten thousand of these.
pub async fn connect(relay: SocketAddr, token: &str) -> anyhow::Result<Socket> {
    let mut request = format!("ws://{relay}/ws")
        .into_client_request()
        .context("the /ws request")?;
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {token}")
            .parse()
            .context("the bearer header")?,
    );
    let config = WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(0);
    let connect = tokio_tungstenite::connect_async_with_config(request, Some(config), true);
    let (socket, _) = tokio::time::timeout(Duration::from_secs(30), connect)
        .await
        .context("the WebSocket upgrade in time")?
        .context("the WebSocket upgrade")?;
    Ok(socket)
}

/// The relay dropped a panel or left it without a frame: an overload the page reports,
/// not a miscount.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Dropped(String);

fn dropped(what: String) -> anyhow::Error {
    anyhow::Error::new(Dropped(what))
}

/// What one panel received.
#[derive(Debug, Default)]
pub struct Tally {
    pub frames: u64,
    pub bytes: u64,
    /// Bytes of the frames read while the tap recorded: the window's traffic.
    pub window_bytes: u64,
    pub deltas: u64,
    /// Deltas read while the tap recorded.
    pub window_deltas: u64,
    /// Snapshots after the first: the relay's answer to a panel that fell behind.
    pub lag_snapshots: u64,
    /// Deltas whose `seq` was not the last one plus one, with no snapshot between.
    pub gaps: u64,
    /// Removals of hang-ups the tap recorded, each counted once.
    pub matched: u64,
    /// Tap to panel, milliseconds, one per matched removal.
    pub latencies_ms: Vec<f64>,
}

/// Any frame but a delta, parsed in full (they are rare): its type and `seq`.
#[derive(Deserialize)]
struct Other<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    seq: Option<u64>,
}

/// How a delta frame starts, and how each removed channel's change does (the type tag
/// first: `shared`'s serde shapes, checked by a test below).
const DELTA: &str = r#"{"type":"delta","#;
const CHANNEL_REMOVED: &str = r#"{"kind":"channel_removed","uniqueid":""#;

/// A delta's `seq` and the uniqueids of its `channel_removed` changes, read without
/// parsing the whole frame: a thousand panels read every delta on the relay's 2 cores,
/// and a full parse would make them the bottleneck. `None` for any other frame.
fn scan_delta(text: &str) -> Option<(u64, Vec<&str>)> {
    let rest = text.strip_prefix(DELTA)?;
    // The server's name comes first and holds no quote, so this is the delta's own.
    let digits = &rest[rest.find(r#""seq":"#)? + 6..];
    let seq = digits[..digits.find(|c: char| !c.is_ascii_digit())?]
        .parse()
        .ok()?;
    let removed = memchr::memmem::find_iter(rest.as_bytes(), CHANNEL_REMOVED)
        .filter_map(|at| {
            let uniqueid = &rest[at + CHANNEL_REMOVED.len()..];
            uniqueid.find('"').map(|end| &uniqueid[..end])
        })
        .collect();
    Some((seq, removed))
}

/// What the panels of one run report as they go, for the harness to wait on.
#[derive(Default)]
pub struct Progress {
    /// Panels holding their first snapshot.
    synced: AtomicUsize,
    /// Removals timed, over every panel.
    matched: AtomicU64,
}

/// Reads `socket` until `stop` turns true: hello, one snapshot (then counts itself in
/// `progress`), deltas; fails after `silence` without a frame, if given. Each
/// `channel_removed` of a hang-up the tap recorded is a latency sample; one read
/// before the tap noted its hang-up is timed at the end.
pub async fn follow(
    mut socket: Socket,
    tap: Option<Arc<Recorded>>,
    silence: Option<Duration>,
    progress: Arc<Progress>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<Tally> {
    // Idle panels wait for as long as the run lasts.
    let silence = silence.unwrap_or(Duration::from_secs(24 * 3600));
    let mut tally = Tally::default();
    let mut follower = Follower::default();
    let mut early: Vec<(String, Instant)> = Vec::new();
    loop {
        let message = tokio::select! {
            message = tokio::time::timeout(silence, socket.next()) => message,
            _ = stop.wait_for(|stopped| *stopped) => break,
        };
        let at = Instant::now();
        let text = match message {
            Err(_) => {
                return Err(dropped(format!(
                    "no frame for {silence:?} (seq {:?})",
                    follower.seq()
                )));
            }
            Ok(None) => {
                return Err(dropped(format!(
                    "the relay closed the socket (seq {:?})",
                    follower.seq()
                )));
            }
            Ok(Some(Err(error))) => return Err(dropped(format!("the socket failed: {error}"))),
            Ok(Some(Ok(Message::Text(text)))) => text,
            Ok(Some(Ok(Message::Close(frame)))) => {
                return Err(dropped(format!("the relay closed the socket: {frame:?}")));
            }
            Ok(Some(Ok(_))) => continue,
        };
        tally.frames += 1;
        tally.bytes += text.len() as u64;
        if tap.as_ref().is_some_and(|tap| tap.recording()) {
            tally.window_bytes += text.len() as u64;
        }
        let Some((this, removed)) = scan_delta(&text) else {
            let other: Other =
                serde_json::from_str(&text).context("a frame that is not the protocol's")?;
            if other.kind == "snapshot" {
                if follower.seq().is_some() {
                    tally.lag_snapshots += 1;
                } else {
                    progress.synced.fetch_add(1, Ordering::AcqRel);
                }
                let seq = other.seq.context("a snapshot without its seq")?;
                follower.snapshot(seq);
            }
            continue;
        };
        if follower.seq().is_none() {
            bail!("a delta before the snapshot");
        }
        match follower.delta(this) {
            Step::Apply => {}
            Step::Drop => continue,
            // A panel asks no resync: the gap fails the run, and counting goes on from
            // this delta as if a snapshot had brought the panel here.
            Step::Resync => {
                tally.gaps += 1;
                follower.snapshot(this);
            }
        }
        tally.deltas += 1;
        let Some(tap) = &tap else { continue };
        if tap.recording() {
            tally.window_deltas += 1;
        }
        for uniqueid in removed {
            match tap.hangup_at(uniqueid) {
                Some(hung_up) => {
                    tally.sample(at, hung_up);
                    progress.matched.fetch_add(1, Ordering::AcqRel);
                }
                None if tap.recording() => early.push((uniqueid.to_owned(), at)),
                None => {}
            }
        }
    }
    if let Some(tap) = &tap {
        for (uniqueid, at) in early {
            if let Some(hung_up) = tap.hangup_at(&uniqueid) {
                tally.sample(at, hung_up);
            }
        }
    }
    Ok(tally)
}

impl Tally {
    fn sample(&mut self, at: Instant, hung_up: Instant) {
        self.matched += 1;
        let ms = at
            .checked_duration_since(hung_up)
            .map_or(0.0, |d| d.as_secs_f64() * 1e3);
        self.latencies_ms.push(ms);
    }
}

/// The panels of a run once stopped.
pub struct Finished {
    pub tallies: Vec<Tally>,
    /// Why each dropped panel was, in the relay's or the socket's words.
    pub dropped: Vec<String>,
}

/// Panels following the relay, each in its own task.
pub struct Panels {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<anyhow::Result<Tally>>>,
    progress: Arc<Progress>,
}

impl Panels {
    /// Logs `count` panels in to `server`, opens their sockets and waits until each
    /// holds its snapshot; `silence` as [`follow`] takes it.
    pub async fn open(
        relay: SocketAddr,
        server: &str,
        count: usize,
        tap: Option<Arc<Recorded>>,
        silence: Option<Duration>,
    ) -> anyhow::Result<Panels> {
        let http = reqwest::Client::new();
        let progress = Arc::new(Progress::default());
        let (stop, stopped) = watch::channel(false);
        // Each panel reads from the moment its socket is open: one left unread while the
        // others log in would fill its socket and be dropped by the relay's send timeout.
        // On an error, dropping `stop` ends the panels already following.
        let mut opening = futures::stream::iter(0..count)
            .map(|_| {
                let http = &http;
                async move {
                    let token = login(http, relay, server).await?;
                    connect(relay, &token).await
                }
            })
            .buffer_unordered(32);
        let mut tasks = Vec::with_capacity(count);
        while let Some(socket) = opening.next().await {
            tasks.push(tokio::spawn(follow(
                socket?,
                tap.clone(),
                silence,
                progress.clone(),
                stopped.clone(),
            )));
        }
        let panels = Panels {
            stop,
            tasks,
            progress,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while panels.progress.synced.load(Ordering::Acquire) < count {
            if Instant::now() > deadline {
                bail!(
                    "only {} of {count} panels got their snapshot in time",
                    panels.progress.synced.load(Ordering::Acquire)
                );
            }
            if panels.tasks.iter().any(|t| t.is_finished()) {
                // A panel that ended this early failed; finish() says why.
                panels.finish().await?;
                bail!("a panel ended before the run started");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(panels)
    }

    /// Waits until the panels have timed `removals` removals in all, or for `patience`.
    pub async fn wait_for_removals(&self, removals: u64, patience: Duration) {
        let deadline = Instant::now() + patience;
        while self.progress.matched.load(Ordering::Acquire) < removals && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops every panel: what each received and why any was dropped, or the first
    /// failure that is not the relay dropping a panel.
    pub async fn finish(self) -> anyhow::Result<Finished> {
        let _ = self.stop.send(true);
        let mut finished = Finished {
            tallies: Vec::with_capacity(self.tasks.len()),
            dropped: Vec::new(),
        };
        for task in self.tasks {
            match task.await.context("a panel task panicked")? {
                Ok(tally) => finished.tallies.push(tally),
                Err(error) => match error.downcast::<Dropped>() {
                    Ok(Dropped(why)) => finished.dropped.push(why),
                    Err(error) => return Err(error),
                },
            }
        }
        Ok(finished)
    }
}

#[cfg(test)]
mod tests {
    use shared::model::Change;
    use shared::protocol::ServerMessage;

    use super::scan_delta;

    #[test]
    fn reads_seq_and_removals_from_the_relays_own_encoding() {
        let delta = ServerMessage::Delta {
            server: "pbx".into(),
            seq: 812,
            changes: vec![
                Change::CallRemoved { id: "b1".into() },
                Change::ChannelRemoved {
                    uniqueid: "1764750000.1".into(),
                },
                Change::ParkedRemoved {
                    uniqueid: "1764750000.9".into(),
                },
                Change::ChannelRemoved {
                    uniqueid: "1764750000.2".into(),
                },
            ],
        };
        let text = serde_json::to_string(&delta).expect("a delta encodes");
        assert_eq!(
            scan_delta(&text),
            Some((812, vec!["1764750000.1", "1764750000.2"]))
        );
        let error = ServerMessage::Error {
            message: "no".into(),
        };
        let text = serde_json::to_string(&error).expect("an error encodes");
        assert_eq!(scan_delta(&text), None, "only deltas are scanned");
    }
}
