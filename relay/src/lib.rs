//! The AstPanel relay: AMI sessions to Asterisk on one side, browsers on the other.
//!
//! [`run`] wires the parts together. Data flows one way through them:
//!
//! - [`ami`]: the AMI client (codec, connection, session with login, ActionID
//!   correlation, keepalive and reconnect).
//! - [`hub`]: turns each session's events into [`shared::protocol::ServerMessage`]s,
//!   keeps the per-server status and fans the messages out to every browser.
//! - [`ws`]: one browser's WebSocket: snapshot first, then updates; a browser
//!   that falls behind gets a fresh snapshot instead of an unbounded queue.
//! - [`assets`]: the SPA, embedded in the binary at build time.
//! - [`app`]: the axum router and its shared state.
//! - [`config`]: the command line, turned into what [`run`] needs.

pub mod ami;
pub mod app;
pub mod assets;
pub mod config;
pub mod hub;
pub mod ws;

use std::future::{Future, IntoFuture};
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
    /// The HTTP server failed while serving.
    #[error("HTTP server failed: {0}")]
    Serve(#[from] std::io::Error),
}

/// Serves the panel on `listener` until `shutdown` completes, then closes every
/// browser socket and AMI session and gives the rest [`SHUTDOWN_GRACE`] to finish.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    // Dropping this sender stops the in-process demo PBX, if there is one.
    let (stop_demo, demo_stopped) = tokio::sync::watch::channel(());
    let upstreams = match config.upstream {
        Upstream::Demo => vec![start_demo(demo_stopped).await?],
        Upstream::Asterisk(servers) => servers,
    };
    let hub = hub::Hub::new();
    for upstream in upstreams {
        let (session, events) = ami::spawn_session(upstream.ami);
        hub.attach(upstream.name, session, events);
    }
    let router = app::router(app::AppState::new(hub.clone(), config.max_browsers));
    tracing::info!(addr = ?listener.local_addr().ok(), "serving the panel");

    let stopping = CancellationToken::new();
    let server = axum::serve(listener, router)
        .with_graceful_shutdown(stopping.clone().cancelled_owned())
        .into_future();
    tokio::pin!(server);
    tokio::select! {
        ended = &mut server => return Ok(ended?),
        _ = shutdown => {}
    }
    // Browser loops and session followers end now; dropping the followers' session
    // handles ends the AMI sessions, and axum stops accepting.
    hub.close();
    stopping.cancel();
    drop(stop_demo);
    match tokio::time::timeout(SHUTDOWN_GRACE, server).await {
        Ok(ended) => Ok(ended?),
        Err(_) => {
            tracing::warn!(grace = ?SHUTDOWN_GRACE, "connections still open after the grace period; stopping anyway");
            Ok(())
        }
    }
}

/// Starts pbxsim in this process on a loopback port and returns how to reach it.
async fn start_demo(
    mut stop: tokio::sync::watch::Receiver<()>,
) -> Result<config::Server, RunError> {
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
    Ok(config::Server::demo(addr))
}
