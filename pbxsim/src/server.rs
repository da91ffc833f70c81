//! The TCP server: accepts clients, owns the PBX behind one mutex, runs the traffic driver, fans events out.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore, broadcast, watch};
use tracing::{debug, info, warn};

use crate::config::{SimConfig, Traffic};
use crate::pbx::{Event, Pbx, PbxOptions};
use crate::session;
use crate::traffic::Generator;
use shared::ami::Classes;

/// One event as it goes out: serialized once, read by every session. Only the bytes are
/// kept (the buffer holds up to `max_lag_events` of these); the few sessions with a
/// `Filter` parse them again.
#[derive(Debug)]
pub(crate) struct Wire {
    /// Read class.
    pub class: Classes,
    /// Its wire bytes.
    pub bytes: Bytes,
}

/// State shared by the driver and every session.
pub(crate) struct Core {
    pub config: SimConfig,
    /// `std::sync::Mutex`: every critical section is a few synchronous calls into the
    /// model, never an `.await`, and the driver and the sessions need the same order.
    pbx: Mutex<Pbx>,
    pub events: broadcast::Sender<Arc<Wire>>,
    /// Wakes the driver when an action scheduled something sooner than it planned.
    pub wake: Notify,
    pub started: Instant,
    pub next_session: AtomicU64,
    /// Restart requests of the fault switch already carried out.
    restarts_done: AtomicU64,
}

impl Core {
    fn lock(&self) -> MutexGuard<'_, Pbx> {
        // A panic while holding the lock leaves the model usable (each step is atomic
        // enough for a simulator): take the guard back rather than failing every client.
        self.pbx
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn realtime(&self) -> bool {
        !matches!(self.config.traffic, Traffic::Load { .. })
    }

    /// Runs `f` on the PBX (brought up to the wall clock first, in real-time modes), then
    /// publishes the events it raised.
    pub fn with_pbx<R>(&self, f: impl FnOnce(&mut Pbx) -> R) -> R {
        let result = self.step(f);
        self.wake.notify_one();
        result
    }

    /// [`Core::with_pbx`] without waking the driver: what the driver itself uses.
    fn step<R>(&self, f: impl FnOnce(&mut Pbx) -> R) -> R {
        let (result, events) = {
            let mut pbx = self.lock();
            // Carried out under the lock, before anything else touches the model, so that
            // nobody sees the old calls once `Faults::restart` has returned.
            let requested = self.config.faults.restarts();
            if self.restarts_done.swap(requested, Ordering::SeqCst) != requested {
                pbx.restart(wall_epoch() + 1);
                info!("pbx restarted by fault switch");
            }
            if self.realtime() {
                pbx.advance_to(self.elapsed_ms());
            }
            let result = f(&mut pbx);
            (result, pbx.drain())
        };
        self.publish(events);
        result
    }

    pub fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Sends events to every session; having no session is not an error.
    pub fn publish(&self, events: Vec<Event>) {
        for ev in events {
            let bytes = ev.msg.to_bytes();
            let _ = self.events.send(Arc::new(Wire {
                class: ev.class,
                bytes,
            }));
        }
    }
}

/// Something that stops the server.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Accepting a connection failed in a way that will not heal: restart the simulator.
    #[error("accept failed: {0}")]
    Accept(#[source] std::io::Error),
}

fn wall_epoch() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Serves AMI on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    config: SimConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), SimError> {
    let epoch = config.epoch.unwrap_or_else(wall_epoch);
    let pbx = Pbx::new(PbxOptions {
        epoch,
        seed: config.seed,
        noise: config.noise,
        agents: config.agents,
        queues: config.queues,
    });
    let (events, _) = broadcast::channel(config.max_lag_events.max(16));
    let core = Arc::new(Core {
        pbx: Mutex::new(pbx),
        events,
        wake: Notify::new(),
        started: Instant::now(),
        next_session: AtomicU64::new(1),
        restarts_done: AtomicU64::new(config.faults.restarts()),
        config,
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let driver = tokio::spawn(drive(core.clone(), stop_rx.clone()));
    let slots = Arc::new(Semaphore::new(core.config.max_clients));
    info!(addr = ?listener.local_addr().ok(), "pbxsim listening");
    let mut stop = stop_rx.clone();
    let result = loop {
        tokio::select! {
            _ = stopped(&mut stop) => break Ok(()),
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Ok(permit) = slots.clone().try_acquire_owned() else {
                        warn!(%peer, "too many clients, refusing connection");
                        continue;
                    };
                    let core = core.clone();
                    let stop = stop_rx.clone();
                    tokio::spawn(async move {
                        session::run(core, stream, peer, stop).await;
                        drop(permit);
                    });
                }
                Err(e) if is_transient(&e) => {
                    warn!(error = %e, "accept failed, retrying");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => break Err(SimError::Accept(e)),
            },
        }
    };
    driver.abort();
    result
}

fn is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | Interrupted | WouldBlock | TimedOut
    ) || e
        .raw_os_error()
        .is_some_and(|code| code == 24 || code == 23)
}

/// The traffic driver: moves the PBX clock and starts generated calls.
async fn drive(core: Arc<Core>, mut stop: watch::Receiver<bool>) {
    match core.config.traffic.clone() {
        Traffic::Load { max_events_per_sec } => {
            drive_load(&core, &mut stop, max_events_per_sec).await
        }
        Traffic::Off | Traffic::Paced { .. } => {
            let (mut generator, trickle) = match core.config.traffic {
                Traffic::Paced {
                    calls_per_minute,
                    trickle,
                } => (
                    Some(Generator::new(core.config.seed, calls_per_minute)),
                    Some(trickle),
                ),
                _ => (None, None),
            };
            let mut last_event_ms = 0;
            loop {
                let now = core.elapsed_ms();
                let next = core.step(|pbx| {
                    pbx.advance_to(now);
                    if let Some(g) = generator.as_mut() {
                        g.run_due(pbx);
                        let quiet = trickle.is_some_and(|t| {
                            now.saturating_sub(last_event_ms) >= t.as_millis() as u64
                        });
                        if quiet
                            && pbx.pending() == 0
                            && (pbx.calls_in_flight() < 3 || !pbx.trickle())
                        {
                            g.start_call(pbx);
                        }
                    }
                    if pbx.pending() > 0 {
                        last_event_ms = now;
                    }
                    let mut next = pbx.next_due().unwrap_or(u64::MAX);
                    if let Some(g) = generator.as_ref() {
                        next = next.min(g.next_ms());
                    }
                    if let Some(t) = trickle {
                        next = next.min(last_event_ms + t.as_millis() as u64);
                    }
                    next
                });
                let wait =
                    Duration::from_millis(next.saturating_sub(core.elapsed_ms()).clamp(1, 250));
                tokio::select! {
                    _ = stopped(&mut stop) => return,
                    _ = core.wake.notified() => {}
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
}

/// Load mode: virtual time runs as fast as the slowest session reads, optionally capped.
async fn drive_load(core: &Core, stop: &mut watch::Receiver<bool>, cap: Option<u64>) {
    const BATCH: usize = 512;
    // 600 calls a virtual minute keeps ~200 calls up: a busy call centre, small maps.
    let mut generator = Generator::new(core.config.seed, 600.0);
    let high_water = core.config.max_lag_events / 2;
    let started = Instant::now();
    let mut sent: u64 = 0;
    loop {
        if *stop.borrow() {
            return;
        }
        let events = {
            let mut pbx = core.lock();
            while pbx.pending() < BATCH {
                let next = pbx.next_due().unwrap_or(u64::MAX).min(generator.next_ms());
                pbx.advance_to(next);
                generator.run_due(&mut pbx);
            }
            pbx.drain()
        };
        sent += events.len() as u64;
        core.publish(events);
        // Backpressure: wait while the slowest reader is half a buffer behind, but not for
        // ever, so that a client that stopped reading is dropped by the lag bound instead.
        let waited = Instant::now();
        while core.events.len() > high_water && waited.elapsed() < Duration::from_secs(2) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        if let Some(cap) = cap {
            let due = Duration::from_secs_f64(sent as f64 / cap.max(1) as f64);
            if let Some(ahead) = due.checked_sub(started.elapsed()) {
                tokio::time::sleep(ahead).await;
            }
        }
        tokio::task::yield_now().await;
        if core.events.receiver_count() == 0 {
            debug!("load mode idle: no session");
            tokio::select! {
                _ = stopped(stop) => return,
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
    }
}

/// Counts sessions, for logs.
pub(crate) fn session_id(core: &Core) -> u64 {
    core.next_session.fetch_add(1, Ordering::Relaxed)
}

/// Completes once the shutdown flag is set (or its sender is gone).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
