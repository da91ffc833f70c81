//! Issue 23's figure: events/s delivered to 1, 10 and 100 AMI clients through the relay's
//! AMI proxy, against the same clients connected straight to pbxsim, with the relay's CPU
//! and RSS meanwhile. A quiet pbxsim; one generator session pipelines `UserEvent`
//! actions, which pbxsim sends as events to every session (the relay's raw feed among
//! them); each client counts its `BenchLoad` events up to the `BenchEnd` marker, and a
//! run fails unless every client counted every event.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::BytesMut;
use shared::ami::{Frame, Message, Parser};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::pbx::Pbx;
use crate::relay_process::{RelayProcess, Upstream};
use crate::stats::Spread;

/// How long any client may wait for its next event before the run fails.
const PATIENCE: Duration = Duration::from_secs(30);
/// The `UserEvent` names: each counted event, the marker that ends a burst (also the
/// ActionID of its action), and the one that says a reader is ready.
const LOAD: &str = "BenchLoad";
const END: &str = "BenchEnd";
const READY: &str = "BenchReady";

/// How much of the proxy benchmark to run.
pub struct Plan {
    pub relay: PathBuf,
    pub clients: Vec<usize>,
    /// Events in each burst.
    pub events: u64,
    pub runs: usize,
}

/// One client count's figures over the runs.
pub struct Row {
    pub clients: usize,
    /// Events/s delivered to all clients together, straight from pbxsim.
    pub straight: Vec<f64>,
    /// The same through the proxy.
    pub proxied: Vec<f64>,
    /// Cores the relay used during the proxied bursts.
    pub cores: Vec<f64>,
    /// The relay's RSS after each proxied burst, bytes.
    pub rss: Vec<f64>,
}

/// The section of the results page.
pub struct ProxySection {
    pub events: u64,
    pub runs: usize,
    pub rows: Vec<Row>,
}

pub async fn measure(plan: &Plan) -> anyhow::Result<ProxySection> {
    let mut rows: Vec<Row> = plan
        .clients
        .iter()
        .map(|&clients| Row {
            clients,
            straight: Vec::new(),
            proxied: Vec::new(),
            cores: Vec::new(),
            rss: Vec::new(),
        })
        .collect();
    for run in 1..=plan.runs {
        for row in &mut rows {
            once(plan, row).await?;
            eprintln!(
                "proxy run {run}/{}, {} clients: straight {:.0} events/s, proxied {:.0} events/s \
                 on {:.2} cores, {:.0} MiB",
                plan.runs,
                row.clients,
                row.straight.last().copied().unwrap_or_default(),
                row.proxied.last().copied().unwrap_or_default(),
                row.cores.last().copied().unwrap_or_default(),
                row.rss.last().copied().unwrap_or_default() / 1_048_576.0
            );
        }
    }
    Ok(ProxySection {
        events: plan.events,
        runs: plan.runs,
        rows,
    })
}

/// One run for `row.clients`: straight, then proxied, each on a fresh pbxsim.
async fn once(plan: &Plan, row: &mut Row) -> anyhow::Result<()> {
    let pbx = Pbx::start(quiet(plan.events)).await?;
    row.straight
        .push(burst(pbx.addr, pbx.addr, row.clients, plan.events).await?);
    drop(pbx);

    let pbx = Pbx::start(quiet(plan.events)).await?;
    let proxy = free_port()?;
    let upstream = Upstream {
        name: "pbx".into(),
        addr: pbx.addr,
    };
    // Room for a whole burst per client: the figure is throughput, not the drop rule.
    let extra = format!(
        "\n[ami_proxy]\nlisten = \"{proxy}\"\nmax_connections = {}\nqueue = {}\n",
        row.clients + 10,
        plan.events + 100
    );
    let relay = RelayProcess::start_with(&plan.relay, &[upstream], &extra).await?;
    let before = relay.usage()?;
    row.proxied
        .push(burst(proxy, pbx.addr, row.clients, plan.events).await?);
    let after = relay.usage()?;
    row.cores.push(before.cores_until(&after));
    row.rss.push(after.rss as f64);
    Ok(())
}

/// A pbxsim without traffic whose event buffer holds a whole burst, so that no client
/// straight on it is dropped for lagging.
fn quiet(events: u64) -> pbxsim::SimConfig {
    let mut config = pbxsim::SimConfig::quiet();
    config.max_lag_events = usize::try_from(events).unwrap_or(usize::MAX) + 1000;
    config
}

fn free_port() -> anyhow::Result<SocketAddr> {
    let socket = std::net::TcpListener::bind("127.0.0.1:0").context("binding a free port")?;
    socket.local_addr().context("the free port")
}

/// `clients` readers on `at`, then `events` UserEvents sent to pbxsim at `pbx`: events/s
/// delivered to all of them together, from the first action sent to the last marker read.
async fn burst(
    at: SocketAddr,
    pbx: SocketAddr,
    clients: usize,
    events: u64,
) -> anyhow::Result<f64> {
    let mut counting = Vec::with_capacity(clients);
    let mut ready = Vec::with_capacity(clients);
    for _ in 0..clients {
        let reader = Reader::login(at, "user").await?;
        let (is_ready, readied) = oneshot::channel();
        counting.push(tokio::spawn(reader.count(is_ready)));
        ready.push(readied);
    }
    let mut generator = Generator::login(pbx).await?;
    // The proxy's raw feed opens with its first client: the burst waits until a marker
    // sent now has reached every reader.
    generator.until_ready(ready).await?;
    let started = Instant::now();
    generator.send_load(events).await?;
    for (n, count) in counting.into_iter().enumerate() {
        let got = count.await.context("a reader task")??;
        if got != events {
            bail!("client {n} of {clients} counted {got} of {events} events");
        }
    }
    let seconds = started.elapsed().as_secs_f64().max(1e-9);
    Ok((events as f64) * (clients as f64) / seconds)
}

/// An AMI session of our own, logged in as `admin`.
struct Reader {
    stream: TcpStream,
    parser: Parser,
    buffer: BytesMut,
}

impl Reader {
    async fn login(addr: SocketAddr, events: &str) -> anyhow::Result<Reader> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        let mut reader = Reader {
            stream,
            parser: Parser::new().expecting_banner(),
            buffer: BytesMut::with_capacity(64 * 1024),
        };
        let login = Message::new()
            .with("Action", "Login")
            .with("Username", "admin")
            .with("Secret", "admin-secret")
            .with("Events", events);
        reader.stream.write_all(&login.to_bytes()).await?;
        loop {
            let message = reader.next().await?;
            if let Some(response) = message.get("Response") {
                if response != b"Success" {
                    bail!("login refused at {addr}: {message:?}");
                }
                return Ok(reader);
            }
        }
    }

    async fn next(&mut self) -> anyhow::Result<Message> {
        loop {
            if let Some(frame) = self.parser.next_frame(&mut self.buffer) {
                match frame {
                    Frame::Message(message) => return Ok(message),
                    _ => continue,
                }
            }
            let read = tokio::time::timeout(PATIENCE, self.stream.read_buf(&mut self.buffer))
                .await
                .context("nothing came for too long")??;
            if read == 0 {
                bail!("the connection closed");
            }
        }
    }

    /// `BenchLoad` events up to the end marker; `ready` once the first `READY` came.
    async fn count(mut self, ready: oneshot::Sender<()>) -> anyhow::Result<u64> {
        let (mut count, mut ready) = (0, Some(ready));
        loop {
            let message = self.next().await?;
            match message.get_str("UserEvent").as_deref() {
                Some(LOAD) => count += 1,
                Some(READY) => {
                    if let Some(ready) = ready.take() {
                        let _ = ready.send(());
                    }
                }
                Some(END) => return Ok(count),
                _ => {}
            }
        }
    }
}

/// The session that makes the events: it writes UserEvent actions while a task reads
/// the answers, so that pbxsim never waits on this socket.
struct Generator {
    write: OwnedWriteHalf,
    answers: JoinHandle<anyhow::Result<()>>,
}

impl Generator {
    async fn login(pbx: SocketAddr) -> anyhow::Result<Generator> {
        let Reader {
            stream,
            mut parser,
            mut buffer,
        } = Reader::login(pbx, "off").await?;
        let (mut read, write) = stream.into_split();
        let answers = tokio::spawn(async move {
            loop {
                while let Some(frame) = parser.next_frame(&mut buffer) {
                    if let Frame::Message(m) = frame
                        && m.action_id() == Some(END.as_bytes())
                    {
                        return Ok(());
                    }
                }
                let n = tokio::time::timeout(PATIENCE, read.read_buf(&mut buffer)).await??;
                if n == 0 {
                    bail!("pbxsim closed the generator's session");
                }
            }
        });
        Ok(Generator { write, answers })
    }

    /// Sends `READY` every 50 ms until every reader has seen one.
    async fn until_ready(&mut self, ready: Vec<oneshot::Receiver<()>>) -> anyhow::Result<()> {
        let marker = user_event(READY, None);
        let all = futures::future::join_all(ready);
        tokio::pin!(all);
        let deadline = Instant::now() + PATIENCE;
        loop {
            self.write.write_all(&marker).await?;
            if let Ok(seen) = tokio::time::timeout(Duration::from_millis(50), &mut all).await {
                if seen.iter().any(Result::is_err) {
                    bail!("a reader ended before the burst");
                }
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the readers never saw the ready marker");
            }
        }
    }

    /// Writes `events` UserEvent actions and the end marker, batched, then waits for the
    /// marker's answer.
    async fn send_load(mut self, events: u64) -> anyhow::Result<()> {
        let load = user_event(LOAD, None);
        let mut batch = Vec::with_capacity(load.len() * 256);
        for n in 0..events {
            batch.extend_from_slice(&load);
            if n % 256 == 255 {
                self.write.write_all(&batch).await?;
                batch.clear();
            }
        }
        batch.extend_from_slice(&user_event(END, Some(END)));
        self.write.write_all(&batch).await?;
        self.answers.await.context("the answer reader")?
    }
}

/// A `UserEvent` action named `name`, with an ActionID if given.
fn user_event(name: &str, action_id: Option<&str>) -> bytes::Bytes {
    let mut action = Message::new()
        .with("Action", "UserEvent")
        .with("UserEvent", name);
    if let Some(id) = action_id {
        action.push("ActionID", id);
    }
    action.to_bytes()
}
impl ProxySection {
    pub fn markdown(&self, page: &mut String) {
        let _ = writeln!(
            page,
            "\n## The AMI proxy, side by side\n\n\
             A quiet pbxsim; N AMI clients of ours log in (`Events: user`) straight to it, or \
             to the relay's AMI proxy (the release `astpanel` as a process of its own, its \
             `[ami_proxy]` queue holding a whole burst); one more session sends {} `UserEvent` \
             actions pipelined, and pbxsim sends each as an event. A run fails unless every \
             client counts every event. Events/s delivered to all N together, from the first \
             action to the last client's end marker; the relay's cores and RSS over the proxied \
             burst; median (min–max) of {} runs.\n\n\
             | clients | straight events/s | proxied events/s | proxied ÷ straight | relay cores | relay RSS MiB |\n\
             |---:|---:|---:|---:|---:|---:|",
            self.events, self.runs
        );
        let cell = |values: &[f64], scale: f64, digits: usize| match Spread::of(values) {
            Some(s) => format!(
                "{:.digits$} ({:.digits$}–{:.digits$})",
                s.median / scale,
                s.min / scale,
                s.max / scale
            ),
            None => "–".to_owned(),
        };
        for row in &self.rows {
            let ratio: Vec<f64> = row
                .proxied
                .iter()
                .zip(&row.straight)
                .map(|(p, s)| p / s.max(1e-9))
                .collect();
            let _ = writeln!(
                page,
                "| {} | {} | {} | {} | {} | {} |",
                row.clients,
                cell(&row.straight, 1.0, 0),
                cell(&row.proxied, 1.0, 0),
                cell(&ratio, 1.0, 2),
                cell(&row.cores, 1.0, 2),
                cell(&row.rss, 1_048_576.0, 0)
            );
        }
    }
}
