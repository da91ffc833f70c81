//! The web layer: the axum router and everything that speaks HTTP to browsers and scripts.
//!
//! Handlers here parse requests and write answers; every decision about who may see
//! or do what is asked of [`crate::service`]. Nothing below this folder imports axum.

pub mod ajam;
pub mod api;
pub mod assets;
pub mod audit;
pub mod csp;
pub mod history;
pub mod listen;
pub mod state;
pub mod ws;

use axum::Router;
use axum::extract::Request;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::HeaderValue;
use axum::http::StatusCode;
use axum::http::header::{
    CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{any, get, post};
use shared::protocol::{LinkState, LinkStatus};
use tower_http::compression::CompressionLayer;
use tower_http::trace::TraceLayer;

use std::sync::Arc;

use state::AppState;

/// Request bodies of the API are small JSON objects.
const MAX_BODY: usize = 64 * 1024;

pub fn router(state: AppState) -> Router {
    // Only the SPA's files are compressed: the WebSocket upgrade has no body to compress.
    let spa = Router::new()
        .fallback(assets::serve)
        .layer(CompressionLayer::new());
    let api = Router::new()
        .route("/servers", get(api::servers))
        .route("/login", post(api::login))
        .route("/logout", post(api::logout))
        .route("/exchange", post(api::exchange))
        .route("/me", get(api::me))
        .route("/state", get(api::state))
        .route("/actions", post(api::actions))
        .route("/audit", get(audit::json))
        .route("/audit.csv", get(audit::csv))
        .route("/history", get(history::json))
        .route("/history.csv", get(history::csv))
        .route("/history/seen", post(history::seen))
        .layer(DefaultBodyLimit::max(MAX_BODY));
    let mut router = Router::new();
    if let Some(legacy) = &state.legacy {
        let prefix = &legacy.config.prefix;
        router = router
            .route(prefix, any(ajam::on_panel_router))
            .route(&format!("{prefix}/{{*rest}}"), any(ajam::on_panel_router));
    }
    let hashes = csp::inline_script_hashes(&assets::index_html());
    let policies = Arc::new(Policies {
        page: HeaderValue::from_str(&csp::policy(&hashes, "'none'")).ok(),
        pop: HeaderValue::from_str(&csp::policy(&hashes, &state.pop_frame_ancestors)).ok(),
    });
    router
        .route("/ws", get(ws::upgrade))
        .nest("/api/v1", api)
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .merge(spa)
        .layer(middleware::from_fn_with_state(policies, security_headers))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(state)
}

/// The span of one request: its method and path only. The query string stays out of
/// the logs, because AJAM's `rawman?action=login&secret=...` carries a secret there.
fn request_span(request: &Request) -> tracing::Span {
    tracing::debug_span!("request", method = %request.method(), path = %request.uri().path())
}

/// The Content-Security-Policy of the pages and of the screen-pop, made once.
struct Policies {
    page: Option<HeaderValue>,
    pop: Option<HeaderValue>,
}

/// Headers every answer carries: the Content-Security-Policy (see [`csp`]), under
/// which only the screen-pop may be framed, and only by the configured CRM origins;
/// MIME sniffing is off and no URL leaks in a Referer.
async fn security_headers(
    State(policies): State<Arc<Policies>>,
    request: Request,
    next: Next,
) -> Response {
    let is_pop = request.uri().path() == "/pop";
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    let policy = if is_pop {
        &policies.pop
    } else {
        &policies.page
    };
    if let Some(policy) = policy {
        headers.insert(CONTENT_SECURITY_POLICY, policy.clone());
    }
    if !is_pop {
        headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    response
}

#[derive(serde::Serialize)]
struct Health {
    status: &'static str,
    servers: Vec<LinkStatus>,
}

/// 200 while serving, with each server's link, so a load balancer and a person both
/// learn something; which servers are up is in the body, not the status.
async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    let servers: Vec<LinkStatus> = state.service.servers().iter().map(|s| s.link()).collect();
    let all_up = servers.iter().all(|s| s.state == LinkState::Up);
    let status = if all_up { "ok" } else { "degraded" };
    (StatusCode::OK, Json(Health { status, servers }))
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

/// The router through its seam (`oneshot`, no socket): what it adds to every answer
/// and what it refuses before any handler decides.
#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use axum::http::header::{COOKIE, HOST, ORIGIN};
    use tokio_util::sync::CancellationToken;
    use tower::ServiceExt;

    use super::*;
    use crate::testing;
    use crate::web::api::COOKIE_NAME;

    /// The router over a real service on pbxsim, and a valid token of `admin`'s.
    async fn app() -> (Router, String, testkit::Pbx) {
        let (service, pbx) = testing::service().await;
        let login = testing::admin(&service).await;
        let token = service.issue_token(&login).await.expect("a token");
        let state = testing::app_state(service, CancellationToken::new());
        (router(state), token, pbx)
    }

    async fn status(app: &Router, request: Request<Body>) -> StatusCode {
        app.clone()
            .oneshot(request)
            .await
            .expect("the router answers")
            .status()
    }

    /// `GET /api/v1/me` with the login cookie, from a page at `origin`.
    fn me_by_cookie(token: &str, origin: &str) -> Request<Body> {
        Request::get("/api/v1/me")
            .header(HOST, "panel.example")
            .header(ORIGIN, origin)
            .header(COOKIE, format!("{COOKIE_NAME}={token}"))
            .body(Body::empty())
            .expect("a request")
    }

    #[tokio::test]
    async fn every_answer_carries_the_security_headers_and_only_the_pop_may_be_framed() {
        let (app, _, _pbx) = app().await;
        for path in ["/healthz", "/api/v1/me", "/", "/pop"] {
            let request = Request::get(path).body(Body::empty()).expect("a request");
            let response = app.clone().oneshot(request).await.expect("an answer");
            let headers = response.headers();
            assert_eq!(headers[X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
            assert_eq!(headers[REFERRER_POLICY], "no-referrer", "{path}");
            let policy = headers[CONTENT_SECURITY_POLICY].to_str().expect("ASCII");
            assert!(
                policy.contains("frame-ancestors 'none'"),
                "{path}: {policy}"
            );
            let framed = headers.get(X_FRAME_OPTIONS);
            if path == "/pop" {
                assert_eq!(framed, None, "the pop's framing is its CSP's to say");
            } else {
                assert_eq!(framed.map(|v| v.as_bytes()), Some(&b"DENY"[..]), "{path}");
            }
        }
    }

    #[tokio::test]
    async fn the_api_wants_a_token_and_a_cookie_from_the_panels_own_origin() {
        let (app, token, _pbx) = app().await;
        let bare = Request::get("/api/v1/me")
            .body(Body::empty())
            .expect("a request");
        assert_eq!(status(&app, bare).await, StatusCode::UNAUTHORIZED);
        let wrong = Request::get("/api/v1/me")
            .header("authorization", "Bearer not-a-token")
            .body(Body::empty())
            .expect("a request");
        assert_eq!(status(&app, wrong).await, StatusCode::UNAUTHORIZED);
        assert_eq!(
            status(&app, me_by_cookie(&token, "https://crm.example")).await,
            StatusCode::FORBIDDEN,
            "a cookie sent from another site"
        );
        assert_eq!(
            status(&app, me_by_cookie(&token, "https://panel.example")).await,
            StatusCode::OK
        );
        let login = Request::post("/api/v1/login")
            .header(HOST, "panel.example")
            .header(ORIGIN, "https://crm.example")
            .header(CONTENT_TYPE, "application/json")
            .body(Body::from(
                r#"{"server":"demo","username":"admin","secret":"admin-secret"}"#,
            ))
            .expect("a request");
        assert_eq!(
            status(&app, login).await,
            StatusCode::FORBIDDEN,
            "a login from another site"
        );
    }
}
