//! The AstPanel relay: AMI sessions to Asterisk on one side, browsers on the other.
//!
//! [`run`] wires the parts together:
//!
//! - [`ami`]: the AMI client (codec, connection, session with login, ActionID
//!   correlation, keepalive and reconnect).
//! - [`live`]: per server, the live model kept from the relay's own service session,
//!   rebuilt on every reconnect and published as deltas per tick.
//! - [`accounts`]: logins, tokens and the pool of per-account AMI sessions;
//!   [`login_store`]: the tokens saved across a restart.
//! - [`audit`]: the audit log of every action and login, in SQLite, for admins.
//! - [`history`]: the call history, from each server's `Cdr` events, in SQLite.
//! - [`control`]: call-control actions, with Asterisk's permissions and our guards.
//! - [`ws`]: one browser's WebSocket: hello, snapshot, deltas, actions.
//! - [`api`]: the HTTP API beside it (login, state, actions).
//! - [`legacy`]: Asterisk's AJAM endpoints (manager, rawman, mxml), byte-compatible.
//! - [`metrics`]: Prometheus counters.
//! - [`assets`]: the SPA, embedded in the binary at build time.
//! - [`app`]: the axum router; [`app_state`]: what its handlers share.
//! - [`config`]: the command line and the TOML file, turned into what [`run`] needs.
//! - [`tls`]: PEM files, the panel's HTTPS/WSS listener and its reload on SIGHUP (the
//!   AMI side is [`ami::tls`]).

pub mod ajam;
pub mod ami;
pub mod audit;
pub mod auth;
pub mod config;
pub mod control;
pub mod history;
pub mod live;
pub mod metrics;
pub mod net;
pub mod pool;
pub mod proxy;
pub mod service;
pub mod sqlite;
pub mod sync;
#[cfg(test)]
mod testing;
pub mod web;

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Upstream};

/// How long open connections get to finish after shutdown is asked for.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Errors that stop the relay.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The simulated PBX of `--demo` could not bind its loopback port.
    #[error("could not start the simulated PBX: {0}")]
    Demo(#[source] std::io::Error),
    /// The AJAM listener (`[legacy] listen`) could not bind its address.
    #[error("could not listen for AJAM on {addr}: {source}")]
    LegacyListen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    /// The AMI proxy (`[ami_proxy] listen` or `tls_listen`) could not bind its address.
    #[error("could not listen for the AMI proxy on {addr}: {source}")]
    ProxyListen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    /// `[ami_proxy] tls_listen` is set but `[tls]` names no certificate.
    #[error("[ami_proxy] tls_listen needs the certificate of [tls]")]
    ProxyNeedsTls,
    /// A certificate, key or CA file of `[tls]` or a `[[server]]` cannot be used.
    #[error("{0}")]
    Tls(#[from] net::tls::TlsError),
    /// The SIGHUP handler that reloads the certificate could not be installed.
    #[error("cannot listen for SIGHUP: {0}")]
    Hangup(#[source] std::io::Error),
    /// `[history] path` names a file that cannot be opened.
    #[error("{0}")]
    History(#[from] history::HistoryError),
    /// `login_store` names a file that cannot be opened.
    #[error("{0}")]
    LoginStore(#[from] auth::store::LoginStoreError),
    /// The queues' days cannot be kept in `login_store`'s file.
    #[error("{0}")]
    DayStore(#[from] live::DayStoreError),
    /// The HTTP server failed while serving.
    #[error("HTTP server failed: {0}")]
    Serve(#[from] std::io::Error),
}

/// Serves the panel on `listener` until `shutdown` completes, then closes every
/// browser socket and AMI session and gives the rest [`SHUTDOWN_GRACE`] to finish.
/// The AJAM listener, if `[legacy] listen` names one, is bound here.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let legacy_listener = match config.legacy.listen {
        Some(addr) if config.legacy.enabled => Some(
            TcpListener::bind(addr)
                .await
                .map_err(|source| RunError::LegacyListen { addr, source })?,
        ),
        _ => None,
    };
    run_with_legacy(config, listener, legacy_listener, shutdown).await
}

/// [`run`] with the AJAM listener bound by the caller (tests bind port 0).
pub async fn run_with_legacy(
    config: Config,
    listener: TcpListener,
    legacy_listener: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    // Dropping this sender stops the in-process demo PBX, if there is one.
    let (stop_demo, demo_stopped) = tokio::sync::watch::channel(());
    let mut servers = match config.upstream {
        Upstream::Demo => vec![start_demo(demo_stopped).await?],
        Upstream::Asterisk(servers) => servers,
    };
    // Every file is read before anything connects: a bad one stops the start, named.
    for server in &mut servers {
        if let Some(settings) = &server.tls {
            let host = server
                .ami
                .addr
                .rsplit_once(':')
                .map_or(server.ami.addr.as_str(), |(host, _)| host);
            server.ami.tls = Some(ami::AmiTls::new(settings, host)?);
        }
    }
    let certificate = config
        .tls
        .as_ref()
        .map(net::tls::ListenerCertificate::load)
        .transpose()?;
    let store = auth::store::LoginStore::open(config.login_store.as_deref())?;
    if !store.is_persistent() {
        tracing::info!("logins are kept in memory: set login_store to keep them across a restart");
    }
    let metrics = metrics::Metrics::new();
    let closing = CancellationToken::new();
    let mut live_servers = Vec::new();
    let mut followers = Vec::new();
    // The queues' days go in the login store's file, beside the logins, when there is one.
    let day_store = config
        .login_store
        .as_deref()
        .map(live::DayStore::open)
        .transpose()?
        .map(Arc::new);
    for server in servers {
        let live = live::LiveServer::new(server, config.tick, config.linger, metrics.clone());
        if let Some(store) = &day_store {
            live.keep_days_in(store.clone())?;
        }
        let (session, events) = ami::spawn_session(live.config.ami.clone());
        followers.push(live.follow(session, events, closing.clone()));
        live_servers.push(live);
    }
    let audit = audit::Audit::start(config.audit, metrics.clone());
    let history = history::History::start(&config.history)?;
    for live in &live_servers {
        live.send_records_to(history.sink());
    }
    let pool = pool::Pool::new(live_servers, config.linger);
    let service = service::Service::new(
        pool,
        service::LoginPolicy {
            users: auth::users::Users::new(config.users),
            throttle: auth::throttle::LoginThrottle::new(config.security.throttle),
            ami_login: config.security.ami_login,
            store,
            token_ttl: config.token_ttl,
        },
        audit,
        history,
        metrics.clone(),
    );
    if let Some(path) = config.file.clone() {
        reload_users_on_hangup(service.clone(), path, closing.clone()).map_err(RunError::Hangup)?;
    }
    let gate = net::access::Gate::new(config.security.gate);
    let legacy = config.legacy.enabled.then(|| {
        let shown = legacy_listener
            .as_ref()
            .unwrap_or(&listener)
            .local_addr()
            .map_or_else(|_| "unknown".to_owned(), |a| a.to_string());
        ajam::Legacy::new(config.legacy.clone(), service.clone(), shown)
    });
    if let Some(legacy) = &legacy {
        tokio::spawn(legacy.clone().run(closing.clone()));
        if let Some(listener) = legacy_listener {
            tracing::info!(addr = ?listener.local_addr().ok(), prefix = %legacy.config.prefix, "serving AJAM");
            tokio::spawn(ajam::http1::serve(
                listener,
                legacy.clone(),
                gate.clone(),
                legacy.config.max_connections,
                closing.clone(),
            ));
        }
    }
    start_proxy(
        &config.ami_proxy,
        &service,
        certificate.as_ref(),
        &gate,
        &closing,
    )
    .await?;
    let state = web::state::AppState {
        legacy,
        service,
        browsers: Arc::new(tokio::sync::Semaphore::new(config.max_browsers)),
        allowed_origins: Arc::new(config.allowed_origins),
        pause_reasons: Arc::new(config.pause_reasons),
        screen_pop: Arc::new(config.screen_pop),
        pop_frame_ancestors: if config.pop_frame_ancestors.is_empty() {
            "'none'".into()
        } else {
            config.pop_frame_ancestors.join(" ").into()
        },
        metrics,
        gate: gate.clone(),
        closing: closing.clone(),
        secure_cookies: certificate.is_some(),
    };
    let router = web::router(state);
    tracing::info!(addr = ?listener.local_addr().ok(), tls = certificate.is_some(), "serving the panel");

    let stopping = CancellationToken::new();
    let listener = web::listen::GatedListener::new(listener, gate);
    let mut server = match certificate {
        Some(certificate) => {
            let reloading = certificate.clone();
            on_hangup(
                closing.clone(),
                move || reloading.reload(),
                |()| tracing::info!("SIGHUP: TLS certificate reloaded"),
                "SIGHUP: TLS certificate not reloaded; the old one stays",
            )
            .map_err(RunError::Hangup)?;
            let listener = web::listen::TlsListener::new(listener, &certificate)?;
            serve(listener, router, stopping.clone())
        }
        None => serve(listener, router, stopping.clone()),
    };
    tokio::select! {
        ended = &mut server => return Ok(ended?),
        _ = shutdown => {}
    }
    // Browsers are told and their loops end; followers drop their service sessions,
    // which log off; axum stops accepting.
    closing.cancel();
    stopping.cancel();
    for follower in followers {
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, follower).await;
    }
    drop(stop_demo);
    match tokio::time::timeout(SHUTDOWN_GRACE, server).await {
        Ok(ended) => Ok(ended?),
        Err(_) => {
            tracing::warn!(grace = ?SHUTDOWN_GRACE, "connections still open after the grace period; stopping anyway");
            Ok(())
        }
    }
}

/// Binds the AMI proxy's listeners, if `[ami_proxy]` names any, and serves them until
/// `closing` fires, through the same `gate` as the panel and AJAM.
async fn start_proxy(
    config: &proxy::ProxyConfig,
    service: &service::Service,
    certificate: Option<&Arc<net::tls::ListenerCertificate>>,
    gate: &Arc<net::access::Gate>,
    closing: &CancellationToken,
) -> Result<(), RunError> {
    if config.listen.is_none() && config.tls_listen.is_none() {
        return Ok(());
    }
    let proxy = proxy::Proxy::new(config.clone(), service.clone());
    let slots = Arc::new(tokio::sync::Semaphore::new(config.max_connections.max(1)));
    let listeners = [(config.listen, None), (config.tls_listen, Some(()))];
    for (addr, tls) in listeners {
        let Some(addr) = addr else { continue };
        let certificate = match tls {
            Some(()) => Some(certificate.ok_or(RunError::ProxyNeedsTls)?.clone()),
            None => None,
        };
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| RunError::ProxyListen { addr, source })?;
        tracing::info!(addr = ?listener.local_addr().ok(), tls = certificate.is_some(), "serving the AMI proxy");
        proxy::serve(
            listener,
            certificate,
            proxy.clone(),
            gate.clone(),
            slots.clone(),
            closing.clone(),
        )
        .await?;
    }
    Ok(())
}

/// Runs `reload` (blocking I/O, so off the async threads) on every SIGHUP until
/// `closing` fires, and hands what it read to `apply`; a failure is logged with `kept`
/// and changes nothing. The handler is installed before this returns, so a SIGHUP sent
/// once the relay serves never kills the process. Both things read again on SIGHUP
/// (the `[tls]` certificate, the `[[user]]`s) go through here.
fn on_hangup<T, E>(
    closing: CancellationToken,
    reload: impl Fn() -> Result<T, E> + Clone + Send + 'static,
    apply: impl Fn(T) + Send + 'static,
    kept: &'static str,
) -> std::io::Result<()>
where
    T: Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangups = signal(SignalKind::hangup())?;
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = closing.cancelled() => return,
                    received = hangups.recv() => if received.is_none() { return },
                }
                match tokio::task::spawn_blocking(reload.clone()).await {
                    Ok(Ok(read)) => apply(read),
                    Ok(Err(error)) => tracing::error!(%error, "{kept}"),
                    Err(error) => tracing::error!(%error, "SIGHUP: the reload task failed"),
                }
            }
        });
    }
    #[cfg(not(unix))]
    drop((closing, reload, apply, kept));
    Ok(())
}

/// Reads the configuration file's `[[user]]`s again on every SIGHUP: the logins of
/// accounts removed, disabled or mapped to another AMI account end at once (their
/// sockets close with 4401).
fn reload_users_on_hangup(
    service: service::Service,
    path: std::path::PathBuf,
    closing: CancellationToken,
) -> std::io::Result<()> {
    let file = path.clone();
    on_hangup(
        closing,
        move || config::users_in(&file),
        move |users| {
            tracing::info!(file = %path.display(), users = users.len(), "SIGHUP: relay accounts read again");
            service.set_users(auth::users::Users::new(users));
        },
        "SIGHUP: relay accounts not read again; they stay as they were",
    )
}

/// axum serving `router` on `listener` until `stop` fires, whichever listener it is.
fn serve<L>(
    listener: L,
    router: axum::Router,
    stop: CancellationToken,
) -> Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>>
where
    L: axum::serve::Listener<Addr = web::listen::ClientAddr>,
    for<'a> web::listen::ClientAddr:
        axum::extract::connect_info::Connected<axum::serve::IncomingStream<'a, L>>,
{
    Box::pin(
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<web::listen::ClientAddr>(),
        )
        .with_graceful_shutdown(stop.cancelled_owned())
        .into_future(),
    )
}

/// Starts pbxsim in this process on a loopback port and returns how to reach it.
async fn start_demo(
    mut stop: tokio::sync::watch::Receiver<()>,
) -> Result<live::ServerConfig, RunError> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(RunError::Demo)?;
    let addr = listener.local_addr().map_err(RunError::Demo)?;
    tracing::info!(%addr, "simulated PBX listening");
    let shutdown = async move {
        // The sender is dropped when the relay shuts down; either outcome means stop.
        let _ = stop.changed().await;
    };
    tokio::spawn(async move {
        if let Err(error) = pbxsim::serve(listener, pbxsim::SimConfig::demo(), shutdown).await {
            tracing::error!(%error, "the simulated PBX stopped");
        }
    });
    Ok(config::demo_server(addr))
}
