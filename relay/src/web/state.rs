//! What every request handler shares: the service, the limits, the settings the
//! browser is told, and the shutdown signal. Its own module, so that the router
//! (`app`) and the handlers (`api`, `ws`) do not import each other.

use std::sync::Arc;

use shared::protocol::ScreenPop;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::ajam::Legacy;
use crate::metrics::Metrics;
use crate::net::access::Gate;
use crate::service::Service;

/// Everything a request handler may need; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Every policy decision: logins, tokens, actions, what a login may read.
    pub service: Service,
    /// The AJAM endpoints, unless turned off.
    pub legacy: Option<Arc<Legacy>>,
    /// One permit per open browser socket: a constant bound on the tasks and
    /// broadcast receivers that browsers can make the relay hold.
    pub browsers: Arc<Semaphore>,
    pub allowed_origins: Arc<Vec<String>>,
    pub pause_reasons: Arc<Vec<String>>,
    pub screen_pop: Arc<ScreenPop>,
    /// `frame-ancestors` of the screen-pop, ready to send.
    pub pop_frame_ancestors: Arc<str>,
    pub metrics: Metrics,
    /// Network rules and connection counts; also tells a client's address.
    pub gate: Arc<Gate>,
    /// Fires when the relay shuts down: sockets say goodbye.
    pub closing: CancellationToken,
    /// The panel is served over TLS: the login cookie gets `Secure`.
    pub secure_cookies: bool,
}
