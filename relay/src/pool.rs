//! The pool of per-account AMI sessions.
//!
//! Every browser, tab, script and AJAM session of one (server, AMI username) shares
//! one AMI session (Events off: it carries actions with Asterisk's own permissions;
//! the live model comes from the server's service session). A [`Lease`] keeps the
//! session; when the last lease is gone the session lingers for the configured time,
//! so a reload costs no Login, then logs off. Opening a session is how a secret is
//! checked against Asterisk. The pool decides nothing about people: who may lease
//! what, and what a lease may run, is `crate::service`'s.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use shared::action::Permissions;
use shared::ami::Classes;
use subtle::ConstantTimeEq;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::ami::{AmiError, SessionEvent, SessionHandle, connect_session};
use crate::control::{self, ActionLimiter};
use crate::live::LiveServer;
use crate::sync::lock;

/// Actions one account may have in flight, and start per second.
const ACTIONS_IN_FLIGHT: usize = 8;
const ACTIONS_PER_SECOND: u32 = 20;

/// Why a session could not be had.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("no server named {0:?}")]
    UnknownServer(String),
    /// Asterisk refused the login, or could not be reached: its own words.
    #[error(transparent)]
    Ami(#[from] AmiError),
}

/// One account's shared AMI session.
pub struct AccountSession {
    pub server: Arc<LiveServer>,
    pub username: String,
    /// The account's read classes on that server (manager.conf's `read=`).
    pub read: Classes,
    /// What Asterisk lets the account run (from `ListCommands`).
    pub permissions: Permissions,
    pub session: SessionHandle,
    /// Bounds this account's actions, however many people share it.
    pub limiter: ActionLimiter,
    secret: String,
    users: AtomicUsize,
    /// Stops the task that watches this session's link when the session goes.
    _watch: DropGuard,
}

impl AccountSession {
    fn secret_matches(&self, secret: &str) -> bool {
        self.secret.as_bytes().ct_eq(secret.as_bytes()).into()
    }

    /// The secret it logged in with (a token remembers it, to lease it again).
    pub fn secret(&self) -> &str {
        &self.secret
    }
}

/// Keeps an account's AMI session logged in while held.
pub struct Lease {
    pub account: Arc<AccountSession>,
    pool: Weak<Inner>,
}

impl std::ops::Deref for Lease {
    type Target = AccountSession;
    fn deref(&self) -> &AccountSession {
        &self.account
    }
}

impl Clone for Lease {
    fn clone(&self) -> Self {
        self.account.users.fetch_add(1, Ordering::AcqRel);
        Lease {
            account: self.account.clone(),
            pool: self.pool.clone(),
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.account.users.fetch_sub(1, Ordering::AcqRel) == 1
            && let Some(pool) = self.pool.upgrade()
        {
            pool.linger(&self.account);
        }
    }
}

type AccountKey = (String, String);

/// The per-key slot serialises logins to one account, so that two tabs logging in at
/// once still make one AMI session; other accounts are not held up.
type Slot = Arc<tokio::sync::Mutex<Option<Arc<AccountSession>>>>;

/// Cheap to clone: every clone is the same pool.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    servers: Vec<Arc<LiveServer>>,
    slots: Mutex<HashMap<AccountKey, Slot>>,
    linger: Duration,
}

impl Pool {
    pub fn new(servers: Vec<Arc<LiveServer>>, linger: Duration) -> Pool {
        Pool {
            inner: Arc::new(Inner {
                servers,
                slots: Mutex::new(HashMap::new()),
                linger,
            }),
        }
    }

    pub fn servers(&self) -> &[Arc<LiveServer>] {
        &self.inner.servers
    }

    pub fn server(&self, name: &str) -> Option<&Arc<LiveServer>> {
        self.inner.servers.iter().find(|s| s.name() == name)
    }

    /// A lease on the session of `username` on `server`: the open one if `secret`
    /// is its secret, else a new one, which Asterisk must accept.
    pub async fn lease(
        &self,
        server: &str,
        username: &str,
        secret: &str,
    ) -> Result<Lease, PoolError> {
        self.inner.lease(server, username, secret).await
    }
}

impl Inner {
    async fn lease(
        self: &Arc<Self>,
        server: &str,
        username: &str,
        secret: &str,
    ) -> Result<Lease, PoolError> {
        let live = self
            .servers
            .iter()
            .find(|s| s.name() == server)
            .ok_or_else(|| PoolError::UnknownServer(server.to_owned()))?
            .clone();
        let key = (server.to_owned(), username.to_owned());
        let slot = lock(&self.slots).entry(key).or_default().clone();
        let mut current = slot.lock().await;
        if let Some(account) = current.as_ref()
            && account.secret_matches(secret)
        {
            return Ok(self.lease_on(account.clone()));
        }
        // No session yet, or another secret: Asterisk decides. A new secret that
        // Asterisk accepts replaces the session; the old one goes with its leases.
        let account = Arc::new(self.open(live, username, secret).await?);
        *current = Some(account.clone());
        Ok(self.lease_on(account))
    }

    fn lease_on(self: &Arc<Self>, account: Arc<AccountSession>) -> Lease {
        account.users.fetch_add(1, Ordering::AcqRel);
        Lease {
            account,
            pool: Arc::downgrade(self),
        }
    }

    async fn open(
        &self,
        live: Arc<LiveServer>,
        username: &str,
        secret: &str,
    ) -> Result<AccountSession, PoolError> {
        let mut config = live.config.ami.clone();
        config.username = username.to_owned();
        config.secret = secret.to_owned();
        // The person's session carries actions only; the model has its own session.
        config.events = "off".to_owned();
        // A click-to-dial Originate is answered once the phone picks up.
        config.action_timeout = config.action_timeout.max(Duration::from_secs(35));
        let (session, events) = connect_session(config).await?;
        let permissions = control::permissions(&session).await?;
        let stop = CancellationToken::new();
        tokio::spawn(watch_link(
            live.name().to_owned(),
            username.to_owned(),
            events,
            stop.clone(),
        ));
        tracing::info!(
            server = live.name(),
            user = username,
            "account session opened"
        );
        Ok(AccountSession {
            read: live.config.read_classes_of(username),
            server: live,
            username: username.to_owned(),
            permissions,
            session,
            limiter: ActionLimiter::new(ACTIONS_IN_FLIGHT, ACTIONS_PER_SECOND),
            secret: secret.to_owned(),
            users: AtomicUsize::new(0),
            _watch: stop.drop_guard(),
        })
    }

    /// Called when an account's last lease went: logs it off after the linger time,
    /// unless someone came back meanwhile.
    fn linger(self: &Arc<Self>, account: &Arc<AccountSession>) {
        let pool = Arc::downgrade(self);
        let account = Arc::downgrade(account);
        let linger = self.linger;
        tokio::spawn(async move {
            tokio::time::sleep(linger).await;
            let (Some(pool), Some(account)) = (pool.upgrade(), account.upgrade()) else {
                return;
            };
            let key = (account.server.name().to_owned(), account.username.clone());
            let Some(slot) = lock(&pool.slots).get(&key).cloned() else {
                return;
            };
            let mut current = slot.lock().await;
            let idle = account.users.load(Ordering::Acquire) == 0;
            if idle && current.as_ref().is_some_and(|c| Arc::ptr_eq(c, &account)) {
                tracing::info!(server = %key.0, user = %key.1, "account session logged off after its last user left");
                *current = None;
                drop(current);
                let mut slots = lock(&pool.slots);
                // A slot nobody waits on and that holds nothing can go.
                if slots.get(&key).is_some_and(|s| Arc::strong_count(s) == 2) {
                    slots.remove(&key);
                }
            }
        });
    }
}

/// Drains a person's session events (it asked for none, but link changes come here)
/// until the account session goes.
async fn watch_link(
    server: String,
    username: String,
    mut events: tokio::sync::mpsc::Receiver<SessionEvent>,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(SessionEvent::Disconnected { reason }) => {
                    tracing::info!(%server, user = %username, %reason, "account session link down");
                }
                Some(_) => {}
                None => return,
            },
            () = stop.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Weak;

    use super::*;
    use crate::testing::{self, SERVER};

    const LINGER: Duration = Duration::from_secs(30);
    const TICK: Duration = Duration::from_millis(1);

    /// The account session the pool holds for `admin` now, if any.
    fn held(pool: &Pool) -> Option<Arc<AccountSession>> {
        let key = (SERVER.to_owned(), "admin".to_owned());
        let slot = lock(&pool.inner.slots).get(&key).cloned()?;
        slot.try_lock().ok().and_then(|current| current.clone())
    }

    /// Lets spawned tasks run until they wait (a linger task starts its timer then).
    async fn settle() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    /// Moves the paused clock on by `by` and lets the linger task run what is due.
    async fn after(by: Duration) {
        settle().await;
        tokio::time::advance(by).await;
        settle().await;
    }

    async fn lease(pool: &Pool) -> Lease {
        pool.lease(SERVER, "admin", "admin-secret")
            .await
            .expect("pbxsim takes admin's login")
    }

    #[tokio::test]
    async fn the_session_logs_off_linger_after_its_last_lease_and_not_before() {
        let (pool, _pbx) = testing::pool(LINGER).await;
        let first = lease(&pool).await;
        let second = first.clone();
        let session: Weak<AccountSession> = Arc::downgrade(&first.account);
        // The login went over loopback on the real clock; the linger runs on a paused one.
        tokio::time::pause();
        drop(first);
        after(LINGER * 2).await;
        assert!(held(&pool).is_some(), "one lease is still held");
        drop(second);
        after(LINGER - TICK).await;
        assert!(held(&pool).is_some(), "still lingering");
        // tokio's timers round their deadline up to the next millisecond.
        after(TICK * 2).await;
        assert!(held(&pool).is_none(), "logged off after the linger");
        assert!(session.upgrade().is_none(), "the session itself is gone");
    }

    #[tokio::test]
    async fn a_lease_that_comes_back_within_the_linger_keeps_the_session() {
        let (pool, _pbx) = testing::pool(LINGER).await;
        let first = lease(&pool).await;
        let session = Arc::downgrade(&first.account);
        tokio::time::pause();
        drop(first);
        after(LINGER - TICK).await;
        // The same secret: the open session, without asking Asterisk again.
        let back = lease(&pool).await;
        assert!(Weak::ptr_eq(&session, &Arc::downgrade(&back.account)));
        after(LINGER * 2).await;
        assert!(
            held(&pool).is_some_and(|held| Weak::ptr_eq(&session, &Arc::downgrade(&held))),
            "the first linger found a lease and left the session alone"
        );
        drop(back);
        after(LINGER + TICK * 2).await;
        assert!(held(&pool).is_none(), "the second linger logs it off");
    }
}
