//! The axum router: the WebSocket, a health check and the SPA.

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use tokio::sync::Semaphore;
use tower_http::compression::CompressionLayer;
use tower_http::trace::TraceLayer;

use crate::{assets, hub::Hub, ws};

/// Everything a request handler may need; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub hub: Hub,
    /// One permit per open browser socket: a constant bound on the tasks and
    /// broadcast receivers that browsers can make the relay hold.
    pub browsers: Arc<Semaphore>,
}

impl AppState {
    pub fn new(hub: Hub, max_browsers: usize) -> Self {
        AppState {
            hub,
            browsers: Arc::new(Semaphore::new(max_browsers)),
        }
    }
}

pub fn router(state: AppState) -> Router {
    // Only the SPA's files are compressed: the WebSocket upgrade has no body to compress.
    let spa = Router::new()
        .fallback(assets::serve)
        .layer(CompressionLayer::new());
    Router::new()
        .route("/ws", get(ws::upgrade))
        .route("/healthz", get(|| async { "ok\n" }))
        .merge(spa)
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
