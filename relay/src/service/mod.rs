//! The one place where policy applies: who may log in, for how long, and what a
//! login may see and do.
//!
//! Every way into the relay (the panel's WebSocket, the HTTP API, AJAM, the event
//! log, the screen-pop's token exchange) asks this module and decides nothing
//! itself. A [`Login`] is made only here, and an account's AMI session is reachable
//! only through the methods below, each of which applies, in one place:
//! - login: the failed-login throttle and lockout, then the password or Asterisk, then
//!   Asterisk's one-second answer to a failure, then the audit record;
//! - tokens: issue, resume (also after a restart, from the login store), exchange,
//!   and their end: logout, log out everywhere, expiry, an account removed from the
//!   configuration. Each fires the login's signal, which every way in holding it
//!   obeys (see [`Login::ended`]);
//! - actions: a role's narrowing, an agent's scope, the per-account limiter, the
//!   shell guard (in `control`), the audit record;
//! - reading: the model through the read classes and an agent's scope, raw events
//!   through [`Classes::reads`] and the roles in [`policy`], the call history through
//!   [`history`]'s "my calls".

pub mod history;
mod login;
pub mod policy;
mod transfer;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use shared::action::{Action, ActionRequest, ActionResult};
use shared::ami::{Classes, Message, md5_key};
use shared::model::ServerModel;
use shared::protocol::LinkStatus;
use subtle::ConstantTimeEq;
use tokio::sync::broadcast;

pub use crate::audit::store::{role_name, via_name};
pub use crate::audit::{AuditError, Caller};
pub use crate::live::RawDemand;
pub use login::Login;

use crate::ami::AmiError;
use crate::audit::{self, Audit, Who};
use crate::auth::store::{LoginStore, SavedLogin};
use crate::auth::throttle::{Locked, LoginThrottle, delay_failure};
use crate::auth::tokens::{self, Credentials, Tokens, holder_of};
use crate::auth::users::{Person, Users};
use crate::control::{self, guard};
use crate::history::History;
use crate::live::{AgentView, LiveServer};
use crate::metrics::Metrics;
use crate::pool::{Pool, PoolError};

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
pub const AUTHENTICATION_FAILED: &str = "Authentication failed";

/// What Asterisk says to an action the account may not run.
pub const PERMISSION_DENIED: &str = "Permission denied";

impl From<PoolError> for LoginError {
    fn from(error: PoolError) -> LoginError {
        match error {
            PoolError::UnknownServer(name) => LoginError::UnknownServer(name),
            PoolError::Ami(AmiError::AuthenticationFailed { message }) => {
                LoginError::Refused(message)
            }
            PoolError::Ami(other) => LoginError::Unreachable(other.to_string()),
        }
    }
}

impl From<tokens::TooManyTokens> for LoginError {
    fn from(_: tokens::TooManyTokens) -> LoginError {
        LoginError::TooManyTokens
    }
}

/// How the service checks logins, and where it keeps them.
pub struct LoginPolicy {
    /// Relay accounts; replaced by [`Service::set_users`] when the configuration is
    /// read again.
    pub users: Users,
    pub throttle: LoginThrottle,
    /// Whether an AMI account's own username and secret may log in.
    pub ami_login: bool,
    pub store: LoginStore,
    /// How long a token is valid.
    pub token_ttl: Duration,
}

/// The answer to a raw AMI action (AJAM): Asterisk's own messages, or the relay's
/// refusal in words.
pub enum AmiOutcome {
    /// Asterisk answered: the response, then the list's events.
    Answered {
        response: Message,
        events: Vec<Message>,
        ok: bool,
    },
    /// The relay or Asterisk refused before an answer: the words to send back.
    Refused(String),
}

/// What a login presents: a secret (or password), or an MD5 key over a challenge.
#[derive(Clone, Copy)]
enum Secret<'a> {
    Plain(&'a str),
    Md5 { challenge: &'a str, key: &'a str },
}

/// The service; cheap to clone.
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    tokens: Tokens,
    policy: LoginPolicy,
    /// The relay accounts as the configuration has them now (`policy.users` at start).
    users: std::sync::RwLock<Users>,
    audit: Audit,
    /// The call history; read through [`history`]'s rules.
    history: History,
    metrics: Metrics,
}

impl Service {
    pub fn new(
        pool: Pool,
        policy: LoginPolicy,
        audit: Audit,
        history: History,
        metrics: Metrics,
    ) -> Service {
        Service {
            inner: Arc::new(Inner {
                pool,
                tokens: Tokens::default(),
                users: std::sync::RwLock::new(policy.users.clone()),
                policy,
                audit,
                history,
                metrics,
            }),
        }
    }

    pub fn servers(&self) -> &[Arc<LiveServer>] {
        self.inner.pool.servers()
    }

    pub fn server(&self, name: &str) -> Option<&Arc<LiveServer>> {
        self.inner.pool.server(name)
    }

    /// How long a new token lives.
    pub fn token_ttl(&self) -> Duration {
        self.inner.policy.token_ttl
    }

    /// Checks the credentials (a relay account's password, or an AMI account's
    /// secret against Asterisk or the account's open session). `caller` says where
    /// the attempt came from; it goes to the audit log (without its secret).
    pub async fn login(
        &self,
        server: &str,
        username: &str,
        secret: &str,
        caller: Caller,
    ) -> Result<Login, LoginError> {
        self.login_where(server, username, Secret::Plain(secret), caller, |_| Ok(()))
            .await
    }

    /// A login for AJAM: as [`Service::login`], and then only for those
    /// [`policy::may_use_raw_ami`] lets in; anyone else is refused as a wrong secret
    /// would be, and the audit log says why.
    pub async fn login_raw_ami(
        &self,
        server: &str,
        username: &str,
        secret: &str,
        caller: Caller,
    ) -> Result<Login, LoginError> {
        self.login_raw(
            server,
            username,
            Secret::Plain(secret),
            caller,
            policy::RawWay::Ajam,
        )
        .await
    }

    /// A login for the AMI proxy: as [`Service::login`], for AMI accounts and every
    /// relay account, whose role then narrows what it reads ([`Service::proxy_events`])
    /// and runs ([`Service::run_ami`]).
    pub async fn login_ami_proxy(
        &self,
        server: &str,
        username: &str,
        secret: &str,
        caller: Caller,
    ) -> Result<Login, LoginError> {
        self.login_raw(
            server,
            username,
            Secret::Plain(secret),
            caller,
            policy::RawWay::Proxy,
        )
        .await
    }

    /// [`Service::login_ami_proxy`] with a `Challenge`/MD5 `Key`: only for an AMI
    /// account whose secret the relay holds in its configuration (the `[[server]]`'s
    /// own, or one a `[[user]]` maps to) while `ami_login` is on. A relay account's
    /// password is kept only as an argon2 hash, so its MD5 key cannot be checked: it is
    /// refused as a wrong key, and counts as one.
    pub async fn login_ami_proxy_md5(
        &self,
        server: &str,
        username: &str,
        (challenge, key): (&str, &str),
        caller: Caller,
    ) -> Result<Login, LoginError> {
        self.login_raw(
            server,
            username,
            Secret::Md5 { challenge, key },
            caller,
            policy::RawWay::Proxy,
        )
        .await
    }

    async fn login_raw(
        &self,
        server: &str,
        username: &str,
        secret: Secret<'_>,
        caller: Caller,
        way: policy::RawWay,
    ) -> Result<Login, LoginError> {
        self.login_where(server, username, secret, caller, |login| {
            policy::may_use_raw_ami(login, way).map_err(|refused| refused.0)
        })
        .await
    }

    /// The one login sequence: throttle, check, `allowed`, the failure's delay, audit.
    async fn login_where(
        &self,
        server: &str,
        username: &str,
        secret: Secret<'_>,
        caller: Caller,
        allowed: impl FnOnce(&Login) -> Result<(), &'static str>,
    ) -> Result<Login, LoginError> {
        let started = tokio::time::Instant::now();
        let key = (server.to_owned(), username.to_owned());
        let throttle = &self.inner.policy.throttle;
        let result = match throttle.check(Some(&key), caller.client) {
            Err(locked) => Err((LoginError::Locked(locked), None)),
            Ok(()) => match self.authenticate(server, username, secret).await {
                Ok(login) => match allowed(&login) {
                    Ok(()) => Ok(login),
                    Err(why) => Err((
                        LoginError::Refused(AUTHENTICATION_FAILED.into()),
                        Some((login, why)),
                    )),
                },
                Err(error) => Err((error, None)),
            },
        };
        let outcome = match result {
            Ok(login) => {
                throttle.succeeded(&key);
                self.inner.metrics.login(true);
                self.audit_login(caller, &login, (true, "Authentication accepted"));
                return Ok(login);
            }
            Err(failure) => failure,
        };
        self.inner.metrics.login(false);
        let (error, refused_login) = outcome;
        match &refused_login {
            // The secret was right: the role is what refuses, and the audit says so.
            Some((login, why)) => self.audit_login(caller, login, (false, why)),
            None => self.inner.audit.record(audit::entry(
                caller,
                Who {
                    person: username,
                    ami_user: username,
                    role: None,
                    server,
                },
                "login",
                serde_json::json!({ "username": username }),
                (false, &error.to_string()),
            )),
        }
        // A PBX that is down says nothing about the secret, and a lockout is no guess;
        // a refusal by role had the right secret.
        if matches!(error, LoginError::Refused(_) | LoginError::UnknownServer(_))
            && refused_login.is_none()
        {
            throttle.failed(Some(&key), caller.client);
        }
        // Every failure answers as late as Asterisk's: a second after the attempt.
        delay_failure(started).await;
        Err(error)
    }

    fn audit_login(&self, caller: Caller, login: &Login, answer: (bool, &str)) {
        let arguments = serde_json::json!({ "username": login.display_name() });
        self.record(login, caller, "login", arguments, answer);
    }

    async fn authenticate(
        &self,
        server: &str,
        username: &str,
        secret: Secret<'_>,
    ) -> Result<Login, LoginError> {
        let inner = &self.inner;
        let Some(live) = inner.pool.server(server) else {
            return Err(LoginError::UnknownServer(server.to_owned()));
        };
        let secret = match secret {
            Secret::Plain(secret) => secret,
            Secret::Md5 { challenge, key } => {
                let users = self.users();
                let known = live.config.ami_secret_of(username);
                return match known {
                    Some(known)
                        if inner.policy.ami_login
                            && !challenge.is_empty()
                            && users.find(Some(server), username).is_none()
                            && bool::from(
                                md5_key(challenge.as_bytes(), known.as_bytes())
                                    .as_bytes()
                                    .ct_eq(key.trim().to_ascii_lowercase().as_bytes()),
                            ) =>
                    {
                        let known = known.to_owned();
                        self.open(server, username, &known, None, None).await
                    }
                    _ => Err(LoginError::Refused(AUTHENTICATION_FAILED.into())),
                };
            }
        };
        if secret.is_empty() {
            return Err(LoginError::Refused(AUTHENTICATION_FAILED.into()));
        }
        let users = self.users();
        let user = users.find(Some(server), username);
        if user.is_none() && inner.policy.ami_login {
            return self.open(server, username, secret, None, None).await;
        }
        // A relay account, or a name that is none while AMI logins are off: the
        // password check runs either way, so both take as long.
        if !users.verify(user, secret).await {
            return Err(LoginError::Refused(AUTHENTICATION_FAILED.into()));
        }
        let Some(user) = user else {
            return Err(LoginError::Refused(AUTHENTICATION_FAILED.into()));
        };
        let person = Arc::new(user.person());
        self.open(
            server,
            &user.ami_user,
            user.ami_secret(),
            Some(person),
            None,
        )
        .await
    }

    /// A login on a lease of the account, with the signal of `token` if it has one,
    /// else of its holder (so that log out everywhere ends it too).
    async fn open(
        &self,
        server: &str,
        username: &str,
        secret: &str,
        person: Option<Arc<Person>>,
        token: Option<(String, tokio_util::sync::CancellationToken, Instant)>,
    ) -> Result<Login, LoginError> {
        let lease = self.inner.pool.lease(server, username, secret).await?;
        let (token, ended, expires) = match token {
            Some((token, ended, expires)) => (
                Some(token),
                ended,
                Some(tokio::time::Instant::from_std(expires)),
            ),
            None => (
                None,
                self.inner
                    .tokens
                    .holder_signal(holder_of(server, username, person.as_deref())),
                None,
            ),
        };
        Ok(Login {
            lease,
            person,
            token,
            ended,
            expires,
        })
    }

    /// A new token for `login`, valid for the configured time.
    pub async fn issue_token(&self, login: &Login) -> Result<String, LoginError> {
        let secret = login.lease.secret().to_owned();
        self.insert_token(login, secret, self.inner.policy.token_ttl)
            .await
    }

    async fn insert_token(
        &self,
        login: &Login,
        secret: String,
        ttl: Duration,
    ) -> Result<String, LoginError> {
        let token = tokens::new_token();
        let credentials = Credentials {
            server: login.server().name().to_owned(),
            username: login.ami_user().to_owned(),
            secret,
            person: login.person.clone(),
            expires: Instant::now() + ttl,
        };
        let saved = SavedLogin {
            server: credentials.server.clone(),
            username: credentials.username.clone(),
            person: credentials.person.as_ref().map(|p| p.name.clone()),
            // A relay account's secret is in the configuration.
            secret: credentials
                .person
                .is_none()
                .then(|| credentials.secret.clone()),
            expires: SystemTime::now() + ttl,
        };
        self.inner.tokens.insert(token.clone(), credentials)?;
        self.inner.policy.store.save(&token, saved).await;
        Ok(token)
    }

    /// The login behind a token, leasing its account again if its session was
    /// logged off. A token this process has not seen is looked up in the store (the
    /// relay restarted since it was made).
    pub async fn resume(&self, token: &str) -> Result<Login, LoginError> {
        let (credentials, ended) = match self.inner.tokens.get(token) {
            Some(Ok(known)) => known,
            Some(Err(())) => return Err(LoginError::BadToken),
            None => {
                let credentials = self.restore(token).await?;
                let ended = self
                    .inner
                    .tokens
                    .insert(token.to_owned(), credentials.clone())?;
                (credentials, ended)
            }
        };
        let Credentials {
            server,
            username,
            secret,
            person,
            expires,
        } = credentials;
        self.open(
            &server,
            &username,
            &secret,
            person,
            Some((token.to_owned(), ended, expires)),
        )
        .await
    }

    /// A saved token's credentials as the configuration stands now: a relay account
    /// must still exist, and a login with an AMI secret must still be allowed.
    async fn restore(&self, token: &str) -> Result<Credentials, LoginError> {
        // Only what this relay makes is looked up: anything else costs no read.
        if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(LoginError::BadToken);
        }
        let policy = &self.inner.policy;
        let saved = policy.store.find(token).await.ok_or(LoginError::BadToken)?;
        let left = saved
            .expires
            .duration_since(SystemTime::now())
            .map_err(|_| LoginError::BadToken)?;
        let (username, secret, person) = match (&saved.person, saved.secret) {
            (Some(name), _) => {
                let users = self.users();
                let user = users
                    .find(Some(&saved.server), name)
                    .ok_or(LoginError::BadToken)?;
                (
                    user.ami_user.clone(),
                    user.ami_secret().to_owned(),
                    Some(Arc::new(user.person())),
                )
            }
            (None, Some(secret)) if policy.ami_login => (saved.username, secret, None),
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

    /// The screen-pop's exchange: the token from its URL is a credential like a
    /// password, so a wrong one counts as a failed login of `client` (and waits as
    /// one); a good one buys a short-lived token for the same account.
    pub async fn exchange(
        &self,
        token: &str,
        client: IpAddr,
        ttl: Duration,
    ) -> Result<(String, Login), LoginError> {
        let started = tokio::time::Instant::now();
        let throttle = &self.inner.policy.throttle;
        throttle.check(None, client).map_err(LoginError::Locked)?;
        let login = match self.resume(token).await {
            Ok(login) => login,
            Err(error @ LoginError::BadToken) => {
                throttle.failed(None, client);
                delay_failure(started).await;
                return Err(error);
            }
            Err(error) => return Err(error),
        };
        let secret = self
            .inner
            .tokens
            .secret_of(token)
            .ok_or(LoginError::BadToken)?;
        let ttl = ttl.min(self.inner.policy.token_ttl);
        let token = self.insert_token(&login, secret, ttl).await?;
        Ok((token, login))
    }

    /// Ends `login`'s token, or with `everywhere` every login of the same person
    /// (the same relay account, or the same AMI account logged in with its own
    /// secret), saved ones and AJAM sessions included. Every socket holding one of
    /// them closes at once. Answers how many tokens of this process ended.
    pub async fn logout(&self, login: &Login, everywhere: bool) -> usize {
        let store = &self.inner.policy.store;
        let mut ended = 0;
        if let Some(token) = login.token() {
            self.inner.tokens.revoke(token);
            store.forget(token).await;
            ended += 1;
        }
        if everywhere {
            let server = login.server().name();
            let holder = holder_of(server, login.ami_user(), login.person.as_deref());
            ended += self.inner.tokens.revoke_holder(&holder);
            store
                .forget_holder(server, login.ami_user(), holder.2.as_deref())
                .await;
        }
        ended
    }

    /// Runs one action as `login`'s person: an agent only on their own calls and
    /// queue memberships (see `control::scope`), within the account's limits, with
    /// the role's permissions. Every action, refused or not, goes to the audit log.
    pub async fn run(
        &self,
        login: &Login,
        request: &ActionRequest,
        caller: Caller,
    ) -> ActionResult {
        let result = self.run_unaudited(login, request).await;
        self.record(
            login,
            caller,
            request.action.name(),
            audit::arguments_of(&request.action),
            (result.ok, &result.message),
        );
        result
    }

    async fn run_unaudited(&self, login: &Login, request: &ActionRequest) -> ActionResult {
        let refuse = |message: String| ActionResult::failed(request.id.clone(), message);
        if login.is_ended() {
            return refuse(LoginError::BadToken.to_string());
        }
        let server = login.server();
        if request.server != server.name() {
            return refuse(format!(
                "this login is for server {:?}, not {:?}",
                server.name(),
                request.server
            ));
        }
        if let Some(person) = &login.person
            && let Err(refusal) = server.with_model(|model| {
                control::scope::check(&request.action, person, model, &server.config.dialing)
            })
        {
            return refuse(refusal);
        }
        let _permit = match login.lease.limiter.try_acquire() {
            Ok(permit) => permit,
            Err(refusal) => return refuse(refusal.to_string()),
        };
        let dialing = &server.config.dialing;
        if let Action::CallForward { exten, to } = &request.action {
            return call_forward(login, request.id.clone(), exten, to.as_deref()).await;
        }
        // An attended transfer counts once Asterisk starts it, not when it queues it.
        let transfer = match &request.action {
            Action::Atxfer { exten, context, .. } => {
                let context = context.as_deref().unwrap_or(&dialing.context);
                let before = server.with_model(|m| control::transfer::dials(m, exten, context));
                Some((exten, context, before))
            }
            _ => None,
        };
        let result =
            control::execute(request, &login.lease.session, &login.permissions(), dialing).await;
        if result.ok && matches!(request.action, Action::ConfLock { .. }) {
            // ConfBridge sends no lock event: the model learns it from the room list.
            server.read_rooms();
        }
        match transfer {
            Some((exten, context, before)) if result.ok => {
                match transfer::started(server, exten, context, &before).await {
                    Some(dial) => ActionResult::ok(
                        result.id,
                        format!("{}; the transfer started ({dial})", result.message),
                    ),
                    None => ActionResult::failed(result.id, control::transfer::NEVER_STARTED),
                }
            }
            _ => result,
        }
    }

    /// Runs a raw AMI action (AJAM, the AMI proxy) on `login`'s session, within the
    /// role's scope ([`policy::may_run_raw_ami`]: refused with Asterisk's `Permission
    /// denied`), the account's limits and the shell guard, and records it.
    pub async fn run_ami(&self, login: &Login, action: &Message, caller: Caller) -> AmiOutcome {
        let scoped = login
            .server()
            .with_model(|model| policy::may_run_raw_ami(login, action, model));
        let outcome = match scoped {
            Ok(()) => self.run_ami_unaudited(login, action).await,
            Err(refused) => {
                let name = action.get_str("Action").unwrap_or_default();
                let words = format!("{PERMISSION_DENIED}: {refused}");
                let arguments = audit::headers_of(action);
                self.record(login, caller, &name, arguments, (false, &words));
                return AmiOutcome::Refused(PERMISSION_DENIED.into());
            }
        };
        let (ok, words) = match &outcome {
            AmiOutcome::Answered { response, ok, .. } => (
                *ok,
                response.get_str("Message").unwrap_or_default().into_owned(),
            ),
            AmiOutcome::Refused(words) => (false, words.clone()),
        };
        let name = action.get_str("Action").unwrap_or_default();
        self.record(
            login,
            caller,
            &name,
            audit::headers_of(action),
            (ok, &words),
        );
        outcome
    }

    async fn run_ami_unaudited(&self, login: &Login, action: &Message) -> AmiOutcome {
        if login.is_ended() {
            return AmiOutcome::Refused(PERMISSION_DENIED.into());
        }
        let _permit = match login.lease.limiter.try_acquire() {
            Ok(permit) => permit,
            Err(refusal) => return AmiOutcome::Refused(refusal.to_string()),
        };
        if let Err(refusal) = guard::check(action, policy::raw_ami_write(login)) {
            return AmiOutcome::Refused(refusal.to_string());
        }
        match login
            .lease
            .session
            .send_until_response(action.clone())
            .await
        {
            Ok(answer) => AmiOutcome::Answered {
                response: answer.response,
                events: answer.events,
                ok: true,
            },
            Err(AmiError::ActionFailed { response, .. }) => AmiOutcome::Answered {
                response: *response,
                events: Vec::new(),
                ok: false,
            },
            Err(
                AmiError::PermissionDenied { message }
                | AmiError::UnknownAction { message }
                | AmiError::AuthenticationFailed { message },
            ) => AmiOutcome::Refused(message),
            Err(other) => AmiOutcome::Refused(other.to_string()),
        }
    }

    /// Records something `login`'s person did (outside [`Service::run`]: a page they
    /// read, a refused login).
    pub fn record(
        &self,
        login: &Login,
        caller: Caller,
        action: &str,
        arguments: serde_json::Value,
        answer: (bool, &str),
    ) {
        let who = Who {
            person: login.display_name(),
            ami_user: login.ami_user(),
            role: login.role(),
            server: login.server().name(),
        };
        self.inner
            .audit
            .record(audit::entry(caller, who, action, arguments, answer));
    }

    /// The model as `login` may see it, with its `seq`: through its read classes, and
    /// for an agent only their own part. `agent` is the agent's view that follows
    /// (see [`Login::agent_view`]), which learns what the snapshot held.
    pub fn snapshot(
        &self,
        login: &Login,
        agent: &mut Option<AgentView>,
    ) -> (u64, LinkStatus, ServerModel) {
        let (seq, link, model) = login.server().snapshot(login.read());
        let model = match agent {
            Some(view) => view.scope(model),
            None => model,
        };
        (seq, link, model)
    }

    /// The raw events `login` may read (the event log), or why not. Holding them
    /// keeps the server's raw feed open (see `live::RawFeed`); they start when it is
    /// logged in, without waiting for it here.
    pub fn raw_events(&self, login: &Login) -> Result<RawEvents, policy::Refused> {
        policy::may_read_raw_events(login)?;
        // Past the check no agent is left, so this is the read classes alone.
        Ok(self.proxy_events(login))
    }

    /// The raw events an AMI proxy client of `login` reads: through its read classes,
    /// and for an agent only those [`policy::event_concerns`] says are about their own
    /// calls and queue memberships (an agent without an extension reads none).
    pub fn proxy_events(&self, login: &Login) -> RawEvents {
        let server = login.server();
        let feed = server.raw_feed();
        RawEvents {
            receiver: feed.subscribe(),
            read: login.read(),
            agent: login
                .agent_extension()
                .map(|exten| (exten.to_owned(), server.clone())),
            _demand: feed.demand(),
        }
    }

    /// Every raw event of `server` while someone holds a demand on its feed, for a
    /// reader that filters per session with [`Classes::reads`] itself (AJAM's
    /// sessions, whose logins passed [`Service::login_raw_ami`], each holding a
    /// [`Service::raw_demand`]).
    pub fn server_events(&self, server: &LiveServer) -> broadcast::Receiver<Message> {
        server.raw_feed().subscribe()
    }

    /// Keeps `login`'s server's raw feed open for an AJAM session, and waits (at most
    /// a connect and a login's time) until it is logged in: Asterisk sends a session
    /// every event from its login on, so one that originates right after must hear it.
    pub async fn raw_demand(&self, login: &Login) -> RawDemand {
        let server = login.server();
        let mut demand = server.raw_feed().demand();
        let ami = &server.config.ami;
        if !demand.ready(ami.connect_timeout + ami.action_timeout).await {
            tracing::warn!(
                server = server.name(),
                "the raw event session is not up yet; events follow once it is"
            );
        }
        demand
    }

    /// The audit log, for those [`policy::may_read_audit`] lets read it.
    pub fn audit_log(&self, login: &Login) -> Result<&Audit, policy::Refused> {
        policy::may_read_audit(login)?;
        Ok(&self.inner.audit)
    }

    fn users(&self) -> Users {
        self.inner
            .users
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Takes the relay accounts of a configuration read again, and ends at once every
    /// login of an account it no longer has (removed, or now mapped to another AMI
    /// account): their sockets close and their AJAM sessions end.
    pub fn set_users(&self, users: Users) {
        // Swapped first, so that no login between the two steps uses the old list.
        *self
            .inner
            .users
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = users.clone();
        let gone = self
            .inner
            .tokens
            .revoke_unless(|(server, ami_user, person)| {
                person.as_deref().is_none_or(|name| {
                    users
                        .find(Some(server), name)
                        .is_some_and(|user| &user.ami_user == ami_user)
                })
            });
        for (server, _, person) in gone {
            tracing::info!(%server, person = ?person, "logins ended: the account left the configuration");
        }
    }
}

/// One reader's raw events: the server's stream through the reader's read classes.
pub struct RawEvents {
    receiver: broadcast::Receiver<Message>,
    read: Classes,
    /// An agent's extension and server: only events about their own calls pass.
    agent: Option<(String, Arc<LiveServer>)>,
    /// Keeps the raw feed's session open while the reader reads.
    _demand: RawDemand,
}

impl RawEvents {
    /// The next event this reader may read.
    pub async fn recv(&mut self) -> Result<Message, broadcast::error::RecvError> {
        loop {
            let event = self.receiver.recv().await?;
            if self.may_read(&event) {
                return Ok(event);
            }
        }
    }

    /// The next readable event already queued, without waiting.
    pub fn try_recv(&mut self) -> Result<Message, broadcast::error::TryRecvError> {
        loop {
            let event = self.receiver.try_recv()?;
            if self.may_read(&event) {
                return Ok(event);
            }
        }
    }

    fn may_read(&self, event: &Message) -> bool {
        self.read.reads(event)
            && self.agent.as_ref().is_none_or(|(exten, server)| {
                server.with_model(|model| policy::event_concerns(event, model, exten))
            })
    }
}

/// `call_forward`: the AstDB write (`DBPut`, or `DBDel` to clear) goes out on the
/// relay's service session, as a person's AMI account may lack the `system` class it
/// needs. Refused first when the server configures no `call_forward`, then when the
/// login may not use it ([`Login::permissions`]); scope and limits were checked before.
async fn call_forward(
    login: &Login,
    id: Option<String>,
    exten: &str,
    to: Option<&str>,
) -> ActionResult {
    let server = login.server();
    let write = match control::call_forward(exten, to, &server.config.dialing) {
        Ok(write) => write,
        Err(refusal) => return ActionResult::failed(id, refusal),
    };
    if !login.permissions().actions.contains("call_forward") {
        return ActionResult::failed(
            id,
            "the call_forward action is not allowed for this account",
        );
    }
    match server.send_as_service(write).await {
        Ok(answer) => ActionResult::ok(
            id,
            answer
                .response
                .get_str("Message")
                .map(|m| m.into_owned())
                .unwrap_or_default(),
        ),
        Err(error) => ActionResult::failed(id, control::asterisk_words(error)),
    }
}
