//! Unit tests' wiring: a real [`Service`] over pbxsim on a loopback port, put together
//! as [`crate::run`] does but without a listener, so that the pool, the AJAM sessions,
//! the router and the WebSocket loop can be tested through their own seams.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use shared::protocol::AuditVia;
use testkit::Pbx;
use tokio_util::sync::CancellationToken;

use crate::config::{self, Config};
use crate::live::LiveServer;
use crate::metrics::Metrics;
use crate::pool::Pool;
use crate::service::{Caller, Login, LoginPolicy, Service};
use crate::web::state::AppState;
use crate::{audit, auth, history, net};

/// The name [`config::demo_server`] gives the one server.
pub const SERVER: &str = "demo";

/// A caller from nowhere in particular, as a test's requests are.
pub const CALLER: Caller = Caller {
    client: IpAddr::V4(Ipv4Addr::LOCALHOST),
    via: AuditVia::Api,
};

/// A pool over one quiet pbxsim (no calls but the test's), its sessions lingering
/// `linger` after their last lease. The pbxsim stops when its handle is dropped.
pub async fn pool(linger: Duration) -> (Pool, Pbx) {
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let live = LiveServer::new(
        config::demo_server(pbx.addr),
        Config::demo(pbx.addr).tick,
        Config::demo(pbx.addr).linger,
        Metrics::new(),
    );
    (Pool::new(vec![live], linger), pbx)
}

/// A service as [`crate::run`] makes one from the demo configuration, over a quiet
/// pbxsim; the live model is not followed (its link stays down, its model empty).
pub async fn service() -> (Service, Pbx) {
    let history = history::History::start(&Config::demo(([127, 0, 0, 1], 0).into()).history)
        .expect("a call history in memory");
    service_with(history, Vec::new()).await
}

/// [`service`] over a given call history, with relay accounts `users` besides the
/// demo's.
pub async fn service_with(
    history: history::History,
    users: Vec<auth::users::RelayUser>,
) -> (Service, Pbx) {
    let defaults = Config::demo(([127, 0, 0, 1], 0).into());
    let (pool, pbx) = pool(defaults.linger).await;
    let metrics = Metrics::new();
    let mut all_users = defaults.users;
    all_users.extend(users);
    let service = Service::new(
        pool,
        LoginPolicy {
            users: auth::users::Users::new(all_users),
            throttle: auth::throttle::LoginThrottle::new(defaults.security.throttle),
            ami_login: defaults.security.ami_login,
            store: auth::store::LoginStore::open(None).expect("a login store in memory"),
            token_ttl: defaults.token_ttl,
        },
        audit::Audit::start(defaults.audit, metrics.clone()),
        history,
        metrics,
    );
    (service, pbx)
}

/// A stored call of the call history, as the tests of other layers make one.
pub type HistoryCallRecord = history::CallRecord;

/// Call `n` on the one server, `from` → `to`, ended `disposition`, started `n` ms after
/// 2026-12-07 21:10:00 UTC.
pub fn history_call(n: usize, from: &str, to: &str, disposition: &str) -> history::CallRecord {
    history::CallRecord {
        server: SERVER.into(),
        uniqueid: format!("1796677800.{n}"),
        start_ms: 1_796_677_800_000 + i64::try_from(n).expect("small"),
        from: from.into(),
        from_name: format!("Caller {n}"),
        to: to.into(),
        channel: format!("PJSIP/{from}-{n:08x}"),
        dest_channel: String::new(),
        duration_s: 1,
        disposition: disposition.into(),
        queue: String::new(),
    }
}

/// An in-memory call history holding `calls`.
pub async fn history_of(calls: Vec<history::CallRecord>) -> history::History {
    let history = history::History::start(&history::HistoryConfig::default()).expect("history");
    history.insert(calls).await.expect("stored");
    history
}

/// A relay account on the one server's `admin` AMI account, with the password
/// `<name>-password`.
pub fn relay_user(
    name: &str,
    role: shared::action::Role,
    extension: &str,
) -> auth::users::RelayUser {
    let hash = auth::users::hash_password(format!("{name}-password").as_bytes()).expect("hash");
    auth::users::RelayUser::new(
        name.into(),
        hash.as_str(),
        SERVER.into(),
        "admin".into(),
        "admin-secret".into(),
        role,
        Some(extension.into()),
    )
    .expect("a relay account")
}

/// `admin`'s login on the one server (pbxsim's `admin`, who may do everything).
pub async fn admin(service: &Service) -> Login {
    service
        .login(SERVER, "admin", "admin-secret", CALLER)
        .await
        .unwrap_or_else(|error| panic!("admin's login: {error}"))
}

/// What the router's handlers share, with the demo configuration's settings, AJAM off
/// and `closing` as the relay's shutdown signal.
pub fn app_state(service: Service, closing: CancellationToken) -> AppState {
    let defaults = Config::demo(([127, 0, 0, 1], 0).into());
    AppState {
        legacy: None,
        service,
        browsers: Arc::new(tokio::sync::Semaphore::new(defaults.max_browsers)),
        allowed_origins: Arc::new(defaults.allowed_origins),
        pause_reasons: Arc::new(defaults.pause_reasons),
        screen_pop: Arc::new(defaults.screen_pop),
        pop_frame_ancestors: "'none'".into(),
        metrics: Metrics::new(),
        gate: net::access::Gate::new(defaults.security.gate),
        closing,
        secure_cookies: false,
    }
}
