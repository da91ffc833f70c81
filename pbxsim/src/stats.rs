//! Counters a test reads while pbxsim runs: logins per user, sessions, actions.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// A handle on the counters of one simulator; clones share them, so a test keeps one
/// (from `SimConfig::stats`) and reads it while `serve` runs. It answers questions such as
/// "did two browsers of one account share one AMI session?" without parsing logs.
#[derive(Clone, Debug, Default)]
pub struct Stats(Arc<Mutex<Counters>>);

#[derive(Debug, Default)]
struct Counters {
    logins: BTreeMap<String, u64>,
    actions: BTreeMap<String, u64>,
    connected: usize,
    logged_in: usize,
}

impl Stats {
    /// `std::sync::Mutex`: each update is a map insert, never held across an `.await`.
    fn lock(&self) -> MutexGuard<'_, Counters> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Successful logins of `user` since start (case as configured).
    pub fn logins(&self, user: &str) -> u64 {
        self.lock()
            .logins
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case(user))
            .map(|(_, n)| n)
            .sum()
    }

    /// Actions named `action` (any case) that logged-in sessions sent since start.
    pub fn actions(&self, action: &str) -> u64 {
        self.lock()
            .actions
            .get(&action.to_ascii_lowercase())
            .copied()
            .unwrap_or(0)
    }

    /// TCP connections open now.
    pub fn connected(&self) -> usize {
        self.lock().connected
    }

    /// Sessions logged in now.
    pub fn logged_in(&self) -> usize {
        self.lock().logged_in
    }

    pub(crate) fn connection_opened(&self) {
        self.lock().connected += 1;
    }

    pub(crate) fn connection_closed(&self, was_logged_in: bool) {
        let mut c = self.lock();
        c.connected = c.connected.saturating_sub(1);
        if was_logged_in {
            c.logged_in = c.logged_in.saturating_sub(1);
        }
    }

    pub(crate) fn login(&self, user: &str) {
        let mut c = self.lock();
        *c.logins.entry(user.to_string()).or_default() += 1;
        c.logged_in += 1;
    }

    pub(crate) fn action(&self, action: &str) {
        *self
            .lock()
            .actions
            .entry(action.to_ascii_lowercase())
            .or_default() += 1;
    }
}
