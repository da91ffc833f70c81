//! Logins, and the pool of per-account AMI sessions behind them.
//!
//! A person logs in with a server, an AMI username and its secret; the relay checks
//! them by logging in to that Asterisk. Every browser, tab and legacy AJAM session of
//! one (server, username) shares one AMI session (Events off: it carries the person's
//! actions with Asterisk's own permissions; the live model comes from the server's
//! service session). A [`Lease`] keeps the session; when the last lease is gone the
//! session lingers for the configured time, so a reload costs no Login, then logs off.
//!
//! A person may instead be a relay account (`[[user]]`, see [`crate::users`]): the
//! relay checks the password itself and leases the AMI account the person is mapped
//! to; the lease then carries the [`Person`], whose role narrows what it may do.
//! Every login, either kind, passes the [`LoginThrottle`] first and answers a failure
//! no sooner than a second after it started, as Asterisk does.
//!
//! The browser gets an opaque token from a CSPRNG. The secret stays in memory, so
//! that a token can log the account in again after its session was logged off; it is
//! never logged or sent back. With a [`LoginStore`] the token's account is also saved,
//! the secret sealed under the token itself, so the token still works after the relay
//! restarts.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant, SystemTime};

use rand::Rng;
use shared::action::{ActionRequest, ActionResult, Permissions};
use shared::ami::Classes;
use subtle::ConstantTimeEq;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::ami::{AmiError, SessionEvent, SessionHandle, connect_session};
use crate::audit::{self, Audit, Caller, Who};
use crate::auth::store::{LoginStore, SavedLogin};
use crate::auth::throttle::{Locked, LoginThrottle, delay_failure};
use crate::auth::users::{Person, Users};
use crate::control::{self, ActionLimiter};
use crate::live::LiveServer;
use crate::metrics::Metrics;

/// Tokens held at once; past it the oldest expired ones go, then logins are refused.
const MAX_TOKENS: usize = 100_000;

/// Actions one account may have in flight, and start per second.
const ACTIONS_IN_FLIGHT: usize = 8;
const ACTIONS_PER_SECOND: u32 = 20;

/// Why a login failed, with the words a person should read.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("no server named {0:?}")]
    UnknownServer(String),
    /// Asterisk refused: its own words.
    #[error("{0}")]
    Refused(String),
    #[error("cannot reach the PBX: {0}")]
    Unreachable(String),
    #[error("the login has expired or was revoked; log in again")]
    BadToken,
    #[error("too many logins are open on this relay")]
    TooManyTokens,
    #[error("{0}")]
    Locked(Locked),
}

/// What Asterisk says to a wrong secret; a relay account's wrong password gets the
/// same words, so that the answer does not tell which kind of account a name is.
const AUTHENTICATION_FAILED: &str = "Authentication failed";

impl LoginError {
    fn from_ami(error: AmiError) -> LoginError {
        match error {
            AmiError::AuthenticationFailed { message } => LoginError::Refused(message),
            other => LoginError::Unreachable(other.to_string()),
        }
    }
}

/// One account's shared AMI session.
pub struct AccountSession {
    pub server: Arc<LiveServer>,
    pub username: String,
    pub read: Classes,
    pub permissions: Permissions,
    pub session: SessionHandle,
    pub limiter: ActionLimiter,
    secret: String,
    users: AtomicUsize,
    audit: Audit,
    /// Stops the task that watches this session's link when the session goes.
    _watch: DropGuard,
}

impl AccountSession {
    /// Runs one action for this account: on its own AMI session, with `permissions`
    /// (its own, or narrowed by a role), within its limits. Every failure is an
    /// answer, never a panic.
    async fn run(&self, request: &ActionRequest, permissions: &Permissions) -> ActionResult {
        if request.server != self.server.name() {
            let message = format!(
                "this login is for server {:?}, not {:?}",
                self.server.name(),
                request.server
            );
            return ActionResult::failed(request.id.clone(), message);
        }
        let _permit = match self.limiter.try_acquire() {
            Ok(permit) => permit,
            Err(refusal) => return ActionResult::failed(request.id.clone(), refusal.to_string()),
        };
        control::execute(
            request,
            &self.session,
            permissions,
            &self.server.config.dialing,
        )
        .await
    }

    fn secret_matches(&self, secret: &str) -> bool {
        self.secret.as_bytes().ct_eq(secret.as_bytes()).into()
    }
}

/// Keeps an account's AMI session logged in while held.
pub struct Lease {
    pub account: Arc<AccountSession>,
    /// The relay account acting through it, if the login was one.
    pub person: Option<Arc<Person>>,
    pool: Weak<Inner>,
}

impl Lease {
    /// The account's permissions, narrowed by the person's role.
    pub fn permissions(&self) -> Permissions {
        match &self.person {
            Some(person) => self.account.permissions.narrowed_to(person.role),
            None => self.account.permissions.clone(),
        }
    }

    /// The extension an agent's view is narrowed to (`Some("")` for an agent without
    /// one: it sees no call); `None` for everyone else, who sees the whole model.
    pub fn agent_extension(&self) -> Option<&str> {
        self.person
            .as_deref()
            .filter(|p| p.role == shared::action::Role::Agent)
            .map(|p| p.extension.as_deref().unwrap_or_default())
    }

    /// The name the panel shows: the relay account's, else the AMI user's.
    pub fn display_name(&self) -> &str {
        self.person
            .as_deref()
            .map_or(&self.account.username, |p| &p.name)
    }

    /// Runs one action as this lease's person: an agent only on their own calls and
    /// queue memberships (see [`control::scope`]). Every action, refused or not, goes
    /// to the audit log with `caller`.
    pub async fn run(&self, request: &ActionRequest, caller: Caller) -> ActionResult {
        let result = self.run_unaudited(request).await;
        self.audit(
            caller,
            request.action.name(),
            audit::arguments_of(&request.action),
            (result.ok, &result.message),
        );
        result
    }

    async fn run_unaudited(&self, request: &ActionRequest) -> ActionResult {
        if let Some(person) = &self.person
            && let Err(refusal) =
                control::scope::check(&request.action, person, &self.account.server)
        {
            return ActionResult::failed(request.id.clone(), refusal);
        }
        self.account.run(request, &self.permissions()).await
    }

    /// Records an action of this lease's person (AJAM's run outside [`Lease::run`]).
    pub fn audit(
        &self,
        caller: Caller,
        action: &str,
        arguments: serde_json::Value,
        answer: (bool, &str),
    ) {
        let who = Who {
            person: self.display_name(),
            ami_user: &self.account.username,
            role: self.person.as_ref().map(|p| p.role),
            server: self.account.server.name(),
        };
        self.account
            .audit
            .record(audit::entry(caller, who, action, arguments, answer));
    }
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
            person: self.person.clone(),
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

/// What a token stands for.
#[derive(Clone)]
struct Credentials {
    server: String,
    username: String,
    secret: String,
    person: Option<Arc<Person>>,
    expires: Instant,
}

impl Credentials {
    /// What the store keeps of it: a relay account's secret is in the configuration.
    fn saved(&self, ttl: Duration) -> SavedLogin {
        SavedLogin {
            server: self.server.clone(),
            username: self.username.clone(),
            person: self.person.as_ref().map(|p| p.name.clone()),
            secret: self.person.is_none().then(|| self.secret.clone()),
            expires: SystemTime::now() + ttl,
        }
    }

    /// Who holds it: the relay account, or the AMI account when there is none.
    fn holder(&self) -> (String, String, Option<String>) {
        (
            self.server.clone(),
            self.username.clone(),
            self.person.as_ref().map(|p| p.name.clone()),
        )
    }
}

type AccountKey = (String, String);

/// The per-key slot serialises logins to one account, so that two tabs logging in at
/// once still make one AMI session; other accounts are not held up.
type Slot = Arc<tokio::sync::Mutex<Option<Arc<AccountSession>>>>;

/// Cheap to clone: every clone is the same pool.
#[derive(Clone)]
pub struct Accounts {
    inner: Arc<Inner>,
}

struct Inner {
    servers: Vec<Arc<LiveServer>>,
    slots: Mutex<HashMap<AccountKey, Slot>>,
    tokens: Mutex<HashMap<String, Credentials>>,
    linger: Duration,
    token_ttl: Duration,
    metrics: Metrics,
    users: Users,
    throttle: LoginThrottle,
    /// Whether an AMI account's own username and secret may log in.
    ami_login: bool,
    audit: Audit,
    store: LoginStore,
}

/// How [`Accounts`] checks logins, and where it keeps them.
pub struct LoginPolicy {
    pub users: Users,
    pub throttle: LoginThrottle,
    pub ami_login: bool,
    pub store: LoginStore,
}

impl Accounts {
    pub fn new(
        servers: Vec<Arc<LiveServer>>,
        linger: Duration,
        token_ttl: Duration,
        metrics: Metrics,
        policy: LoginPolicy,
        audit: Audit,
    ) -> Accounts {
        Accounts {
            inner: Arc::new(Inner {
                servers,
                slots: Mutex::new(HashMap::new()),
                tokens: Mutex::new(HashMap::new()),
                linger,
                token_ttl,
                metrics,
                users: policy.users,
                throttle: policy.throttle,
                ami_login: policy.ami_login,
                audit,
                store: policy.store,
            }),
        }
    }

    /// The failed-login ledgers, for the ways in that are not a login (the
    /// screen-pop's token exchange).
    pub fn throttle(&self) -> &LoginThrottle {
        &self.inner.throttle
    }

    pub fn servers(&self) -> &[Arc<LiveServer>] {
        &self.inner.servers
    }

    pub fn server(&self, name: &str) -> Option<&Arc<LiveServer>> {
        self.inner.servers.iter().find(|s| s.name() == name)
    }

    /// Checks the credentials (a relay account's password, or an AMI account's
    /// secret against Asterisk or the account's open session) and returns a lease on
    /// the account's shared session. `caller` says where the attempt came from; the
    /// attempt goes to the audit log (without its secret).
    pub async fn login(
        &self,
        server: &str,
        username: &str,
        secret: &str,
        caller: Caller,
    ) -> Result<Lease, LoginError> {
        let result = self.login_unaudited(server, username, secret, caller).await;
        let (who, answer) = match &result {
            Ok(lease) => (
                Who {
                    person: lease.display_name(),
                    ami_user: &lease.account.username,
                    role: lease.person.as_ref().map(|p| p.role),
                    server,
                },
                (true, "Authentication accepted".to_owned()),
            ),
            Err(error) => (
                Who {
                    person: username,
                    ami_user: username,
                    role: None,
                    server,
                },
                (false, error.to_string()),
            ),
        };
        let arguments = serde_json::json!({ "username": username });
        self.inner.audit.record(audit::entry(
            caller,
            who,
            "login",
            arguments,
            (answer.0, &answer.1),
        ));
        result
    }

    async fn login_unaudited(
        &self,
        server: &str,
        username: &str,
        secret: &str,
        caller: Caller,
    ) -> Result<Lease, LoginError> {
        let started = tokio::time::Instant::now();
        let client = caller.client;
        let key = (server.to_owned(), username.to_owned());
        let throttle = &self.inner.throttle;
        throttle
            .check(Some(&key), client)
            .map_err(LoginError::Locked)?;
        let result = self.authenticate(server, username, secret).await;
        self.inner.metrics.login(result.is_ok());
        match &result {
            Ok(_) => throttle.succeeded(&key),
            // A PBX that is down says nothing about the secret.
            Err(LoginError::Refused(_) | LoginError::UnknownServer(_)) => {
                throttle.failed(Some(&key), client);
                delay_failure(started).await;
            }
            Err(_) => {}
        }
        result
    }

    async fn authenticate(
        &self,
        server: &str,
        username: &str,
        secret: &str,
    ) -> Result<Lease, LoginError> {
        let inner = &self.inner;
        if inner.servers.iter().all(|s| s.name() != server) {
            return Err(LoginError::UnknownServer(server.to_owned()));
        }
        if secret.is_empty() {
            return Err(LoginError::Refused(AUTHENTICATION_FAILED.into()));
        }
        let user = inner.users.find(Some(server), username);
        if user.is_none() && inner.ami_login {
            return inner.lease(server, username, secret, None).await;
        }
        // A relay account, or a name that is none while AMI logins are off: the
        // password check runs either way, so both take as long.
        if !inner.users.verify(user, secret).await {
            return Err(LoginError::Refused(AUTHENTICATION_FAILED.into()));
        }
        let Some(user) = user else {
            return Err(LoginError::Refused(AUTHENTICATION_FAILED.into()));
        };
        let person = Arc::new(user.person());
        inner
            .lease(server, &user.ami_user, user.ami_secret(), Some(person))
            .await
    }

    /// A new token for a lease just obtained by [`Accounts::login`].
    pub async fn issue_token(&self, lease: &Lease) -> Result<String, LoginError> {
        self.insert_token(lease, lease.account.secret.clone(), self.inner.token_ttl)
            .await
    }

    /// A short-lived token for the same account as `token` (the screen-pop's exchange;
    /// `lease` came from resuming `token`, so the token is in memory).
    pub async fn exchange(
        &self,
        token: &str,
        lease: &Lease,
        ttl: Duration,
    ) -> Result<String, LoginError> {
        let secret = lock(&self.inner.tokens)
            .get(token)
            .map(|c| c.secret.clone())
            .ok_or(LoginError::BadToken)?;
        self.insert_token(lease, secret, ttl.min(self.inner.token_ttl))
            .await
    }

    async fn insert_token(
        &self,
        lease: &Lease,
        secret: String,
        ttl: Duration,
    ) -> Result<String, LoginError> {
        let mut bytes = [0u8; 32];
        // ThreadRng is a CSPRNG (ChaCha, seeded and reseeded from the OS).
        rand::rng().fill(&mut bytes);
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let credentials = Credentials {
            server: lease.server.name().to_owned(),
            username: lease.username.clone(),
            secret,
            person: lease.person.clone(),
            expires: Instant::now() + ttl,
        };
        let saved = credentials.saved(ttl);
        self.remember(token.clone(), credentials)?;
        self.inner.store.save(&token, saved).await;
        Ok(token)
    }

    fn remember(&self, token: String, credentials: Credentials) -> Result<(), LoginError> {
        let mut tokens = lock(&self.inner.tokens);
        if tokens.len() >= MAX_TOKENS {
            let now = Instant::now();
            tokens.retain(|_, c| c.expires > now);
            if tokens.len() >= MAX_TOKENS {
                return Err(LoginError::TooManyTokens);
            }
        }
        tokens.insert(token, credentials);
        Ok(())
    }

    /// The account behind a token, logging it in again if its session was logged off.
    /// A token this process has not seen is looked up in the store (the relay
    /// restarted since it was made).
    pub async fn resume(&self, token: &str) -> Result<Lease, LoginError> {
        let cached = lock(&self.inner.tokens).get(token).cloned();
        let credentials = match cached {
            Some(credentials) if credentials.expires > Instant::now() => credentials,
            Some(_) => return Err(LoginError::BadToken),
            None => {
                let credentials = self.restore(token).await?;
                self.remember(token.to_owned(), credentials.clone())?;
                credentials
            }
        };
        let Credentials {
            server,
            username,
            secret,
            person,
            ..
        } = credentials;
        self.inner.lease(&server, &username, &secret, person).await
    }

    /// A saved token's credentials as the configuration stands now: a relay account
    /// must still exist, and a login with an AMI secret must still be allowed.
    async fn restore(&self, token: &str) -> Result<Credentials, LoginError> {
        // Only what this relay makes is looked up: anything else costs no read.
        if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(LoginError::BadToken);
        }
        let saved = self
            .inner
            .store
            .find(token)
            .await
            .ok_or(LoginError::BadToken)?;
        let left = saved
            .expires
            .duration_since(SystemTime::now())
            .map_err(|_| LoginError::BadToken)?;
        let (username, secret, person) = match (&saved.person, saved.secret) {
            (Some(name), _) => {
                let user = self
                    .inner
                    .users
                    .find(Some(&saved.server), name)
                    .ok_or(LoginError::BadToken)?;
                (
                    user.ami_user.clone(),
                    user.ami_secret().to_owned(),
                    Some(Arc::new(user.person())),
                )
            }
            (None, Some(secret)) if self.inner.ami_login => (saved.username, secret, None),
            (None, _) => return Err(LoginError::BadToken),
        };
        Ok(Credentials {
            server: saved.server,
            username,
            secret,
            person,
            expires: Instant::now() + left,
        })
    }

    /// Ends a token; its account's session logs off once nothing else holds it.
    pub async fn revoke(&self, token: &str) {
        lock(&self.inner.tokens).remove(token);
        self.inner.store.forget(token).await;
    }

    /// Ends every token of the same person as `token` (log out everywhere: a lost
    /// tablet, a shared PC): the same relay account, or the same AMI account logged in
    /// with its own secret, saved ones included. Answers how many tokens of this
    /// process ended.
    pub async fn revoke_everywhere(&self, token: &str) -> usize {
        let (who, ended) = {
            let mut tokens = lock(&self.inner.tokens);
            let Some(who) = tokens.get(token).map(Credentials::holder) else {
                return 0;
            };
            let before = tokens.len();
            tokens.retain(|_, c| c.holder() != who);
            (who, before - tokens.len())
        };
        let (server, username, person) = who;
        self.inner
            .store
            .forget_holder(&server, &username, person.as_deref())
            .await;
        ended
    }
}

impl Inner {
    async fn lease(
        self: &Arc<Self>,
        server: &str,
        username: &str,
        secret: &str,
        person: Option<Arc<Person>>,
    ) -> Result<Lease, LoginError> {
        let live = self
            .servers
            .iter()
            .find(|s| s.name() == server)
            .ok_or_else(|| LoginError::UnknownServer(server.to_owned()))?
            .clone();
        let key = (server.to_owned(), username.to_owned());
        let slot = lock(&self.slots).entry(key).or_default().clone();
        let mut current = slot.lock().await;
        if let Some(account) = current.as_ref()
            && account.secret_matches(secret)
        {
            return Ok(self.lease_on(account.clone(), person));
        }
        // No session yet, or another secret: Asterisk decides. A new secret that
        // Asterisk accepts replaces the session; the old one goes with its leases.
        let account = Arc::new(self.open(live, username, secret).await?);
        *current = Some(account.clone());
        Ok(self.lease_on(account, person))
    }

    fn lease_on(
        self: &Arc<Self>,
        account: Arc<AccountSession>,
        person: Option<Arc<Person>>,
    ) -> Lease {
        account.users.fetch_add(1, Ordering::AcqRel);
        Lease {
            account,
            person,
            pool: Arc::downgrade(self),
        }
    }

    async fn open(
        &self,
        live: Arc<LiveServer>,
        username: &str,
        secret: &str,
    ) -> Result<AccountSession, LoginError> {
        let mut config = live.config.ami.clone();
        config.username = username.to_owned();
        config.secret = secret.to_owned();
        // The person's session carries actions only; the model has its own session.
        config.events = "off".to_owned();
        // A click-to-dial Originate is answered once the phone picks up.
        config.action_timeout = config.action_timeout.max(Duration::from_secs(35));
        let (session, events) = connect_session(config)
            .await
            .map_err(LoginError::from_ami)?;
        let permissions = control::permissions(&session)
            .await
            .map_err(|error| LoginError::Unreachable(error.to_string()))?;
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
            audit: self.audit.clone(),
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

/// A poison-tolerant lock for maps whose every critical section leaves them whole.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each critical section leaves its map whole, so poison is harmless.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
