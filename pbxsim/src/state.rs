//! What the traffic driver and every session share: the PBX behind one mutex and the event fan-out.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::sync::{Notify, broadcast, watch};
use tracing::info;

use crate::config::{SimConfig, Traffic};
use crate::pbx::{Event, Pbx};
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
    pub pbx: Mutex<Pbx>,
    pub events: broadcast::Sender<Arc<Wire>>,
    /// Wakes the driver when an action scheduled something sooner than it planned.
    pub wake: Notify,
    pub started: Instant,
    pub next_session: AtomicU64,
    /// Restart requests of the fault switch already carried out.
    pub restarts_done: AtomicU64,
    /// The boot phase (`BootPhase::generation`) whose voicemail boxes were announced.
    pub voicemail_loaded: AtomicU64,
}

impl Core {
    pub fn lock(&self) -> MutexGuard<'_, Pbx> {
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
    pub fn step<R>(&self, f: impl FnOnce(&mut Pbx) -> R) -> R {
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

pub(crate) fn wall_epoch() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Counts sessions, for logs.
pub(crate) fn session_id(core: &Core) -> u64 {
    core.next_session.fetch_add(1, Ordering::Relaxed)
}

/// Completes once the shutdown flag is set (or its sender is gone).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
