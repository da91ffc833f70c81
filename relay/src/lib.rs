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

use std::future::Future;

use tokio::net::TcpListener;

use crate::config::{Config, Upstream};

/// Errors that stop the relay before it can serve.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The simulated PBX of `--demo` could not start; the message says why.
    #[error("could not start the simulated PBX: {0}")]
    Demo(String),
    /// The HTTP server failed while serving.
    #[error("HTTP server failed: {0}")]
    Serve(#[from] std::io::Error),
}

/// Serves the panel on `listener` until `shutdown` completes.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(());
    let upstreams = match config.upstream {
        Upstream::Demo => vec![start_demo(stop_rx.clone()).await?],
        Upstream::Asterisk(servers) => servers,
    };
    let hub = hub::Hub::new();
    for upstream in upstreams {
        let (session, events) = ami::spawn_session(upstream.ami);
        hub.attach(upstream.name, session, events);
    }
    let router = app::router(app::AppState { hub });
    tracing::info!(addr = ?listener.local_addr().ok(), "serving the panel");
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            shutdown.await;
            drop(stop_tx);
        })
        .await?;
    Ok(())
}

/// Starts pbxsim in this process on a loopback port and returns how to reach it.
async fn start_demo(
    mut stop: tokio::sync::watch::Receiver<()>,
) -> Result<config::Server, RunError> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| RunError::Demo(e.to_string()))?;
    let addr = listener
        .local_addr()
        .map_err(|e| RunError::Demo(e.to_string()))?;
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
