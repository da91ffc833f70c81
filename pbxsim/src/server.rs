//! The TCP server: accepts clients (over TLS if configured) and runs the traffic driver that moves the PBX clock.

use std::future::Future;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore, broadcast, watch};
use tokio_rustls::TlsAcceptor;
use tracing::{info, warn};

use shared::ami::{Classes, Message};

use crate::config::{SimConfig, Traffic};
use crate::fault;
use crate::load;
use crate::pbx::{Event, Pbx, PbxOptions};
use crate::session;
use crate::state::{Core, stopped, wall_epoch};
use crate::traffic::Generator;

/// Runs of `serve` in this process so far: each run numbers its channels and Uniqueids
/// from its own block, so that a restarted simulator (same process, maybe the same second)
/// never reuses a name or Uniqueid of the run before, as a restarted Asterisk's
/// epoch-based Uniqueids do not.
static RUNS: AtomicU64 = AtomicU64::new(0);

/// Channels and Uniqueids each run may number before it reaches the next run's block.
const IDS_PER_RUN: u64 = 1 << 20;

/// How long a client gets to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Something that stops the server.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Accepting a connection failed in a way that will not heal: restart the simulator.
    #[error("accept failed: {0}")]
    Accept(#[source] std::io::Error),
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
        first_id: config.ids_from.unwrap_or_else(|| {
            RUNS.fetch_add(1, Ordering::Relaxed)
                .wrapping_mul(IDS_PER_RUN)
        }),
        directory: config.directory.clone(),
    });
    let (events, _) = broadcast::channel(config.max_lag_events.max(16));
    let core = Arc::new(Core {
        pbx: Mutex::new(pbx),
        events,
        wake: Notify::new(),
        started: Instant::now(),
        next_session: AtomicU64::new(1),
        restarts_done: AtomicU64::new(config.faults.restarts()),
        voicemail_loaded: AtomicU64::new(0),
        config,
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let driver = tokio::spawn(drive(core.clone(), stop_rx.clone()));
    let booter = tokio::spawn(announce_boots(core.clone(), stop_rx.clone()));
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
                    let _ = stream.set_nodelay(true);
                    let core = core.clone();
                    let stop = stop_rx.clone();
                    let tls = core.config.tls.clone().map(TlsAcceptor::from);
                    tokio::spawn(async move {
                        match tls {
                            None => session::run(core, stream, peer, stop).await,
                            Some(acceptor) => {
                                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                                    Ok(Ok(stream)) => session::run(core, stream, peer, stop).await,
                                    Ok(Err(error)) => warn!(%peer, %error, "TLS handshake failed"),
                                    Err(_) => warn!(%peer, "TLS handshake timed out"),
                                }
                            }
                        }
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
    booter.abort();
    result
}

/// Ends each boot phase of the restart fault as `ami-boot.txt` recorded it: a `VarSet` of
/// the global `DEFAULT_DURATION` (from extensions.conf's `[globals]`), then
/// `Event: FullyBooted` to every session.
async fn announce_boots(core: Arc<Core>, mut stop: watch::Receiver<bool>) {
    let faults = core.config.faults.clone();
    // A boot phase that ended before this run started is not this run's.
    let mut announced = faults
        .boot_phase()
        .filter(|phase| phase.ends.is_some_and(|ends| ends <= core.started))
        .map_or(0, |phase| phase.generation);
    loop {
        let mut wait = fault::POLL;
        if let Some(phase) = faults.boot_phase().filter(|p| p.generation != announced) {
            let now = Instant::now();
            match phase.ends {
                Some(ends) if ends <= now => {
                    announced = phase.generation;
                    core.publish(fully_booted(&core, ends - phase.started));
                }
                Some(ends) => wait = wait.min(ends - now),
                None => {}
            }
        }
        tokio::select! {
            _ = stopped(&mut stop) => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// What the end of a boot sends, `uptime` after the restart.
fn fully_booted(core: &Core, uptime: Duration) -> Vec<Event> {
    let mut events = Vec::with_capacity(2);
    if core.config.noise {
        events.push(Event {
            class: Classes::DIALPLAN,
            msg: Message::new()
                .with("Event", "VarSet")
                .with("Privilege", "dialplan,all")
                .with("Channel", "none")
                .with("Uniqueid", "none")
                .with("Variable", "DEFAULT_DURATION")
                .with("Value", "30"),
        });
    }
    let uptime = uptime.as_secs().to_string();
    events.push(Event {
        class: Classes::SYSTEM,
        msg: Message::new()
            .with("Event", "FullyBooted")
            .with("Privilege", "system,all")
            .with("Status", "Fully Booted")
            .with("Uptime", &uptime)
            .with("LastReload", &uptime),
    });
    events
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
            load::drive(&core, &mut stop, max_events_per_sec).await
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
                            && (pbx.calls_in_flight() < 3 || !(pbx.desk_trickle() || pbx.trickle()))
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
