//! Failed logins, counted per account and per client address, and the lockout they
//! lead to.
//!
//! Every way in checks here first: the SPA's login, the screen-pop's token exchange
//! and AJAM's `Login`. A locked account or address is refused before Asterisk is
//! asked, so guessing costs the guesser, not the PBX. Locking per account stops a
//! slow guess spread over many addresses; locking per address stops one address
//! trying many accounts. Both maps are bounded: when one is full the entry that
//! failed longest ago is forgotten, so a flood of addresses cannot grow memory.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

// tokio's clock, which a test can pause; the std clock outside a runtime.
use tokio::time::Instant;

use crate::sync::lock;

/// Entries each map keeps at most.
const MAX_ENTRIES: usize = 10_000;

/// The settings (`[security]`).
#[derive(Clone, Debug)]
pub struct ThrottleConfig {
    /// Failures of one account within `window` that lock it.
    pub failures_per_account: u32,
    /// Failures from one client address within `window` that lock it.
    pub failures_per_address: u32,
    pub window: Duration,
    /// How long a lock lasts.
    pub lockout: Duration,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            failures_per_account: 5,
            failures_per_address: 20,
            window: Duration::from_secs(15 * 60),
            lockout: Duration::from_secs(5 * 60),
        }
    }
}

/// A refusal before any check: try again after `retry_after`.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("too many failed logins; try again in {} s", retry_after.as_secs().max(1))]
pub struct Locked {
    pub retry_after: Duration,
}

/// Failures of one key.
#[derive(Clone, Copy, Debug)]
struct Record {
    failures: u32,
    first: Instant,
    last: Instant,
    locked_until: Option<Instant>,
}

/// Records per key, bounded.
#[derive(Debug)]
struct Ledger<K> {
    limit: u32,
    records: HashMap<K, Record>,
}

impl<K: Eq + Hash + Clone> Ledger<K> {
    fn new(limit: u32) -> Self {
        Ledger {
            limit,
            records: HashMap::new(),
        }
    }

    fn locked(&self, key: &K, now: Instant) -> Option<Duration> {
        let until = self.records.get(key)?.locked_until?;
        (until > now).then(|| until - now)
    }

    fn fail(&mut self, key: &K, now: Instant, config: &ThrottleConfig) {
        if !self.records.contains_key(key) && self.records.len() >= MAX_ENTRIES {
            self.forget_oldest(now, config);
        }
        let record = self.records.entry(key.clone()).or_insert(Record {
            failures: 0,
            first: now,
            last: now,
            locked_until: None,
        });
        let lock_over = record.locked_until.is_some_and(|until| until <= now);
        if now.duration_since(record.first) > config.window || lock_over {
            *record = Record {
                failures: 0,
                first: now,
                last: now,
                locked_until: None,
            };
        }
        record.failures += 1;
        record.last = now;
        if record.failures >= self.limit {
            record.locked_until = Some(now + config.lockout);
        }
    }

    fn forget(&mut self, key: &K) {
        self.records.remove(key);
    }

    /// Drops what no longer matters, and if that frees nothing, the unlocked entry
    /// that failed longest ago: a flood of new names must not lift a lock.
    fn forget_oldest(&mut self, now: Instant, config: &ThrottleConfig) {
        let is_locked = |r: &Record| r.locked_until.is_some_and(|until| until > now);
        self.records
            .retain(|_, r| is_locked(r) || now.duration_since(r.first) <= config.window);
        if self.records.len() >= MAX_ENTRIES
            && let Some(oldest) = self
                .records
                .iter()
                .min_by_key(|(_, r)| (is_locked(r), r.last))
                .map(|(k, _)| k.clone())
        {
            self.records.remove(&oldest);
        }
    }
}

/// `(server, username)`, or the screen-pop's exchange (which names no account).
pub type AccountKey = (String, String);

/// The failed-login ledgers; shared by every way in.
#[derive(Debug)]
pub struct LoginThrottle {
    config: ThrottleConfig,
    accounts: Mutex<Ledger<AccountKey>>,
    addresses: Mutex<Ledger<IpAddr>>,
}

impl LoginThrottle {
    pub fn new(config: ThrottleConfig) -> LoginThrottle {
        LoginThrottle {
            accounts: Mutex::new(Ledger::new(config.failures_per_account.max(1))),
            addresses: Mutex::new(Ledger::new(config.failures_per_address.max(1))),
            config,
        }
    }

    /// Whether an attempt for `account` (if it names one) from `address` may be
    /// checked at all.
    pub fn check(&self, account: Option<&AccountKey>, address: IpAddr) -> Result<(), Locked> {
        let now = Instant::now();
        let by_address = lock(&self.addresses).locked(&address, now);
        let by_account = account.and_then(|key| lock(&self.accounts).locked(key, now));
        match by_address.max(by_account) {
            Some(retry_after) => Err(Locked { retry_after }),
            None => Ok(()),
        }
    }

    /// Counts a failed attempt.
    pub fn failed(&self, account: Option<&AccountKey>, address: IpAddr) {
        let now = Instant::now();
        lock(&self.addresses).fail(&address, now, &self.config);
        if let Some(key) = account {
            lock(&self.accounts).fail(key, now, &self.config);
        }
        tracing::info!(%address, account = ?account.map(|(s, u)| format!("{u}@{s}")), "failed login");
    }

    /// A success clears the account's failures (not the address's: one good login
    /// must not reset an address that is trying many accounts).
    pub fn succeeded(&self, account: &AccountKey) {
        lock(&self.accounts).forget(account);
    }
}

/// Failed attempts are answered no sooner than this after they started, as Asterisk
/// answers a failed manager login, so that a guess costs a second.
pub const FAILED_LOGIN_DELAY: Duration = Duration::from_secs(1);

/// Waits until [`FAILED_LOGIN_DELAY`] has passed since `started`.
pub async fn delay_failure(started: tokio::time::Instant) {
    tokio::time::sleep_until(started + FAILED_LOGIN_DELAY).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(limit: u32) -> ThrottleConfig {
        ThrottleConfig {
            failures_per_account: limit,
            failures_per_address: limit * 2,
            window: Duration::from_secs(60),
            lockout: Duration::from_secs(30),
        }
    }

    fn key(user: &str) -> AccountKey {
        ("pbx".into(), user.into())
    }

    const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));

    fn locked_for(retry_after: Duration) -> Result<(), Locked> {
        Err(Locked { retry_after })
    }

    #[tokio::test(start_paused = true)]
    async fn an_account_locks_at_its_limit_and_not_one_failure_before() {
        let throttle = LoginThrottle::new(config(3));
        let alice = key("alice");
        for _ in 0..2 {
            throttle.failed(Some(&alice), HOME);
        }
        assert_eq!(throttle.check(Some(&alice), HOME), Ok(()));
        throttle.failed(Some(&alice), HOME);
        assert_eq!(
            throttle.check(Some(&alice), HOME),
            locked_for(Duration::from_secs(30))
        );
        // Another account from elsewhere is not affected.
        let other = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));
        assert_eq!(throttle.check(Some(&key("bob")), other), Ok(()));
    }

    #[test]
    fn an_address_trying_many_accounts_locks_and_a_success_does_not_free_it() {
        let throttle = LoginThrottle::new(config(3));
        for n in 0..5 {
            throttle.failed(Some(&key(&format!("user{n}"))), HOME);
        }
        assert_eq!(throttle.check(Some(&key("fresh")), HOME), Ok(()));
        throttle.failed(Some(&key("user5")), HOME);
        assert!(throttle.check(Some(&key("fresh")), HOME).is_err());
        throttle.succeeded(&key("fresh"));
        assert!(
            throttle.check(None, HOME).is_err(),
            "the address stays locked"
        );
    }

    #[test]
    fn a_success_clears_the_account() {
        let throttle = LoginThrottle::new(config(3));
        let alice = key("alice");
        throttle.failed(Some(&alice), HOME);
        throttle.failed(Some(&alice), HOME);
        throttle.succeeded(&alice);
        throttle.failed(Some(&alice), HOME);
        assert_eq!(throttle.check(Some(&alice), HOME), Ok(()));
    }

    #[tokio::test(start_paused = true)]
    async fn the_window_and_the_lockout_run_on_the_clock() {
        let throttle = LoginThrottle::new(config(3));
        let alice = key("alice");
        throttle.failed(Some(&alice), HOME);
        throttle.failed(Some(&alice), HOME);
        // Past the 60 s window the two failures no longer count: two more do not lock.
        tokio::time::advance(Duration::from_secs(61)).await;
        throttle.failed(Some(&alice), HOME);
        throttle.failed(Some(&alice), HOME);
        assert_eq!(throttle.check(Some(&alice), HOME), Ok(()));
        tokio::time::advance(Duration::from_secs(10)).await;
        throttle.failed(Some(&alice), HOME);
        assert_eq!(
            throttle.check(Some(&alice), HOME),
            locked_for(Duration::from_secs(30))
        );
        tokio::time::advance(Duration::from_secs(29)).await;
        assert_eq!(
            throttle.check(Some(&alice), HOME),
            locked_for(Duration::from_secs(1)),
            "the lock counts down"
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(throttle.check(Some(&alice), HOME), Ok(()), "and lifts");
        // The first failure after a lock counts from one again.
        throttle.failed(Some(&alice), HOME);
        throttle.failed(Some(&alice), HOME);
        assert_eq!(throttle.check(Some(&alice), HOME), Ok(()));
    }

    #[tokio::test(start_paused = true)]
    async fn the_failed_login_delay_counts_from_the_attempt() {
        let started = Instant::now();
        tokio::time::advance(Duration::from_millis(300)).await;
        delay_failure(started).await;
        assert_eq!(started.elapsed(), FAILED_LOGIN_DELAY);
        // An attempt that took longer than the delay is answered at once.
        let started = Instant::now();
        tokio::time::advance(FAILED_LOGIN_DELAY * 2).await;
        let before = Instant::now();
        delay_failure(started).await;
        assert_eq!(before.elapsed(), Duration::ZERO);
    }

    #[test]
    fn failures_outside_the_window_start_over_and_a_lock_ends() {
        let config = config(2);
        let mut ledger = Ledger::new(2);
        let start = Instant::now();
        ledger.fail(&"a", start, &config);
        ledger.fail(&"a", start + Duration::from_secs(61), &config);
        assert_eq!(ledger.locked(&"a", start + Duration::from_secs(61)), None);
        ledger.fail(&"a", start + Duration::from_secs(62), &config);
        let locked_at = start + Duration::from_secs(62);
        assert!(ledger.locked(&"a", locked_at).is_some());
        assert_eq!(ledger.locked(&"a", locked_at + config.lockout), None);
        // The first failure after a lock ran out counts from one again.
        ledger.fail(&"a", locked_at + config.lockout, &config);
        assert_eq!(ledger.locked(&"a", locked_at + config.lockout), None);
    }

    #[test]
    fn the_ledger_stays_bounded_under_a_flood_of_keys() {
        let config = config(3);
        let mut ledger = Ledger::new(3);
        let now = Instant::now();
        ledger.fail(&0u32, now, &config);
        ledger.fail(&0u32, now, &config);
        ledger.fail(&0u32, now, &config);
        for n in 1..=(MAX_ENTRIES as u32 + 5) {
            ledger.fail(&n, now + Duration::from_millis(u64::from(n)), &config);
        }
        assert_eq!(ledger.records.len(), MAX_ENTRIES);
        assert!(
            ledger.locked(&0, now).is_some(),
            "the oldest entry is locked, so younger unlocked ones went instead"
        );
        assert!(
            !ledger.records.contains_key(&1),
            "the oldest unlocked one went"
        );
    }
}
