//! Fault switches for tests: stall, abrupt close, restart (with its boot phase), garbage,
//! oversized message, slow writes, and a held traffic generator.
//!
//! A test keeps a clone of [`Faults`] (it is inside `SimConfig`) and flips switches while
//! clients are connected. Sessions look at the switches on every loop turn and at least
//! every [`POLL`].

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How often a session looks at the switches when nothing else happens.
pub const POLL: Duration = Duration::from_millis(50);

/// How long a restarted PBX boots unless [`Faults::boot_time`] says otherwise: in
/// `ami-boot.txt` `FullyBooted` came 0.08-0.15 s after AMI accepted connections.
pub const DEFAULT_BOOT: Duration = Duration::from_millis(100);

/// The boot phase of the last restart (see [`Faults::restart`]).
#[derive(Debug, Default)]
struct Boot {
    /// What [`Faults::boot_time`] set; `None`: [`DEFAULT_BOOT`].
    time: Option<Duration>,
    /// Restarts that started a boot phase so far.
    generation: u64,
    /// When the last restart happened.
    started: Option<Instant>,
    /// When its boot ends; `None` while `started` is set: never (a module that hangs).
    ends: Option<Instant>,
}

/// One boot phase, as the announcer of its end sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BootPhase {
    /// Which restart it belongs to.
    pub generation: u64,
    /// When the restart happened.
    pub started: Instant,
    /// When it ends (`FullyBooted`); `None`: never.
    pub ends: Option<Instant>,
}

#[derive(Debug, Default)]
struct State {
    stall_reads: AtomicBool,
    stall_writes: AtomicBool,
    slow_write_ms: AtomicU64,
    close: AtomicU64,
    garbage: AtomicU64,
    oversized: AtomicU64,
    oversized_len: AtomicU64,
    restart: AtomicU64,
    hold_traffic: AtomicBool,
    boot: Mutex<Boot>,
}

/// Shared fault switches. Cloning shares them.
#[derive(Clone, Debug, Default)]
pub struct Faults(Arc<State>);

/// One-shot faults a session has not yet acted on, by generation counter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    close: u64,
    garbage: u64,
    oversized: u64,
}

/// What a session should do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Drop the TCP connection without a word.
    Close,
    /// Write bytes that are not AMI.
    Garbage,
    /// Write one message of this many bytes.
    Oversized(usize),
}

impl Faults {
    /// Stop reading from clients: nothing they send after this returns is answered until
    /// reading resumes (their actions pile up in the kernel buffers).
    pub fn stall_reads(&self, on: bool) {
        self.0.stall_reads.store(on, Ordering::SeqCst);
    }

    /// Stop writing to clients, as a hung Asterisk would: nothing goes out, answers to
    /// actions included (they wait), and events queue up until the lag bound drops them.
    pub fn stall_writes(&self, on: bool) {
        self.0.stall_writes.store(on, Ordering::SeqCst);
    }

    /// Pause this long before every write (`None` to stop).
    pub fn slow_writes(&self, delay: Option<Duration>) {
        let ms = delay.map_or(0, |d| d.as_millis().try_into().unwrap_or(u64::MAX));
        self.0.slow_write_ms.store(ms, Ordering::SeqCst);
    }

    /// Close every client connection abruptly (no `Goodbye`).
    pub fn close_all(&self) {
        self.0.close.fetch_add(1, Ordering::SeqCst);
    }

    /// Send every client a burst of non-AMI bytes.
    pub fn send_garbage(&self) {
        self.0.garbage.fetch_add(1, Ordering::SeqCst);
    }

    /// Send every client one event of `len` bytes.
    pub fn send_oversized(&self, len: usize) {
        self.0.oversized_len.store(len as u64, Ordering::SeqCst);
        self.0.oversized.fetch_add(1, Ordering::SeqCst);
    }

    /// Restart the PBX: all calls vanish, clients are disconnected, and new Uniqueids
    /// start from a later epoch (like an Asterisk restart). Then it boots for
    /// [`Faults::boot_time`], as `ami-boot.txt` recorded it: logins are taken but their
    /// answer carries no `FullyBooted`, the actions of modules still loading
    /// ([`crate::listcommands::BOOT_MISSING`]) are unknown, and the end of the boot is a
    /// `VarSet` of `DEFAULT_DURATION` and an `Event: FullyBooted` to every session.
    pub fn restart(&self) {
        {
            let mut boot = self.boot();
            let now = Instant::now();
            boot.generation += 1;
            boot.started = Some(now);
            boot.ends = now.checked_add(boot.time.unwrap_or(DEFAULT_BOOT));
        }
        self.0.restart.fetch_add(1, Ordering::SeqCst);
        self.close_all();
    }

    /// How long the restarts from now on take to boot (`Duration::MAX`: they never
    /// finish, as an Asterisk whose module load hangs). Zero: no boot phase.
    pub fn boot_time(&self, time: Duration) {
        self.boot().time = Some(time);
    }

    fn boot(&self) -> MutexGuard<'_, Boot> {
        // Every update leaves `Boot` whole, so a poisoned lock is still right.
        self.0
            .boot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the PBX is booting now (restarted and not yet fully booted).
    pub(crate) fn booting(&self) -> bool {
        self.boot_phase()
            .is_some_and(|phase| phase.ends.is_none_or(|ends| Instant::now() < ends))
    }

    /// The boot phase of the last restart, if there was one.
    pub(crate) fn boot_phase(&self) -> Option<BootPhase> {
        let boot = self.boot();
        boot.started.map(|started| BootPhase {
            generation: boot.generation,
            started,
            ends: boot.ends,
        })
    }

    /// Hold load mode's traffic: virtual time stops, so every call stays as it is and no
    /// event is made until it is released (what a check of "the screen shows exactly the
    /// PBX's channels" needs). Sessions still answer actions.
    pub fn hold_traffic(&self, on: bool) {
        self.0.hold_traffic.store(on, Ordering::SeqCst);
    }

    pub(crate) fn traffic_held(&self) -> bool {
        self.0.hold_traffic.load(Ordering::SeqCst)
    }

    pub(crate) fn reads_stalled(&self) -> bool {
        self.0.stall_reads.load(Ordering::SeqCst)
    }

    pub(crate) fn writes_stalled(&self) -> bool {
        self.0.stall_writes.load(Ordering::SeqCst)
    }

    pub(crate) fn write_delay(&self) -> Option<Duration> {
        match self.0.slow_write_ms.load(Ordering::SeqCst) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    pub(crate) fn restarts(&self) -> u64 {
        self.0.restart.load(Ordering::SeqCst)
    }

    /// The current generation of every one-shot switch (a new session ignores older ones).
    pub(crate) fn now(&self) -> Seen {
        Seen {
            close: self.0.close.load(Ordering::SeqCst),
            garbage: self.0.garbage.load(Ordering::SeqCst),
            oversized: self.0.oversized.load(Ordering::SeqCst),
        }
    }

    /// The next one-shot fault a session with `seen` must act on, if any.
    pub(crate) fn pending(&self, seen: &mut Seen) -> Option<Action> {
        let now = self.now();
        if now.close != seen.close {
            seen.close = now.close;
            return Some(Action::Close);
        }
        if now.garbage != seen.garbage {
            seen.garbage = now.garbage;
            return Some(Action::Garbage);
        }
        if now.oversized != seen.oversized {
            seen.oversized = now.oversized;
            let len = self.0.oversized_len.load(Ordering::SeqCst);
            return Some(Action::Oversized(
                usize::try_from(len).unwrap_or(usize::MAX),
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_shot_faults_fire_once_per_session() {
        let faults = Faults::default();
        let mut seen = faults.now();
        assert_eq!(faults.pending(&mut seen), None);
        faults.send_oversized(2048);
        assert_eq!(faults.pending(&mut seen), Some(Action::Oversized(2048)));
        assert_eq!(faults.pending(&mut seen), None);
        faults.restart();
        assert_eq!(faults.pending(&mut seen), Some(Action::Close));
        assert_eq!(faults.restarts(), 1);
    }

    #[test]
    fn a_restart_boots_for_the_boot_time() {
        let faults = Faults::default();
        assert!(!faults.booting(), "a PBX starts booted");
        faults.boot_time(Duration::MAX);
        faults.restart();
        assert!(faults.booting());
        let phase = faults.boot_phase().expect("a boot phase");
        assert_eq!((phase.generation, phase.ends), (1, None));
        faults.boot_time(Duration::ZERO);
        faults.restart();
        assert!(!faults.booting(), "a zero boot time is no boot phase");
        assert_eq!(faults.boot_phase().map(|p| p.generation), Some(2));
    }
}
