//! The small HTTP API beside the WebSocket, for the SPA's login and for scripts,
//! wallboards and CRM integrations, with the same types (`shared::protocol`).
//!
//! - `GET /api/v1/servers`: the servers the login page offers.
//! - `POST /api/v1/login` `{"server", "username", "secret"}`: 200 `{"token", ...}` and
//!   the `astpanel_session` cookie (HttpOnly, SameSite=Strict, Secure under TLS); 401 with Asterisk's
//!   own words as `{"error"}`.
//! - `POST /api/v1/logout`: ends the token (`?everywhere=true`: every token of that person).
//! - `POST /api/v1/exchange` `{"token"}`: the screen-pop trades the token from its URL
//!   fragment for a short-lived one it keeps in memory.
//! - `GET /api/v1/me`: who the token is, as the socket's `hello`.
//! - `GET /api/v1/state`: the account's snapshot, per server.
//! - `POST /api/v1/actions`: one action, answered with its `ActionResult`.
//! - `GET /api/v1/audit`, `GET /api/v1/audit.csv`: the audit log, for admins (in
//!   [`crate::audit::http`]).
//!
//! A token comes as the cookie or as `Authorization: Bearer <token>`. Requests that
//! carry the cookie from another origin are refused (403): a cookie alone must not
//! let another site act for the operator.

use std::net::{IpAddr, Ipv4Addr};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequestParts, Query, State};
use axum::http::header::{AUTHORIZATION, COOKIE, HOST, ORIGIN, RETRY_AFTER, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use shared::action::ActionRequest;
use shared::protocol::{
    ApiError, ExchangeRequest, Hello, LoginRequest, LoginResponse, PROTOCOL_VERSION, ServerInfo,
    ServerState, StateResponse,
};

use crate::service::Caller;
use crate::service::{Login, LoginError};
use crate::web::listen::ClientAddr;
use crate::web::state::AppState;
use shared::protocol::AuditVia;

/// The login cookie's name.
pub const COOKIE_NAME: &str = "astpanel_session";

/// An error answer: a status and `{"error": "..."}`.
pub struct Failure(pub StatusCode, pub String);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.0, Json(ApiError { error: self.1 })).into_response()
    }
}

impl From<LoginError> for Failure {
    fn from(error: LoginError) -> Failure {
        let status = match &error {
            LoginError::UnknownServer(_) => StatusCode::NOT_FOUND,
            LoginError::Refused(_) | LoginError::BadToken => StatusCode::UNAUTHORIZED,
            LoginError::Unreachable(_) => StatusCode::BAD_GATEWAY,
            LoginError::TooManyTokens => StatusCode::SERVICE_UNAVAILABLE,
            LoginError::Locked(_) => StatusCode::TOO_MANY_REQUESTS,
        };
        Failure(status, error.to_string())
    }
}

/// A failed login as an answer; a lockout also says when to try again.
fn login_refused(error: LoginError) -> Response {
    let retry_after = match &error {
        LoginError::Locked(locked) => Some(locked.retry_after.as_secs().max(1)),
        _ => None,
    };
    let mut response = Failure::from(error).into_response();
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// The address of the person behind a request (see [`crate::net::access::Gate::client_address`]).
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    /// The audit log's caller for a request that came in `via`.
    pub fn caller(&self, via: AuditVia) -> Caller {
        Caller {
            client: self.0,
            via,
        }
    }
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Failure> {
        // Absent only when the router is served without the gate (a test's
        // `oneshot`): such requests share one ledger entry, the unspecified address.
        let peer = parts
            .extensions
            .get::<ConnectInfo<ClientAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.0.ip());
        Ok(ClientIp(state.gate.client_address(peer, &parts.headers)))
    }
}

/// A request made with a valid token: its login, held for the request's duration.
pub struct Authenticated {
    pub login: Login,
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Failure> {
        let (token, by_cookie) = token_of(&parts.headers).ok_or_else(|| {
            Failure(
                StatusCode::UNAUTHORIZED,
                "log in first: no session token".into(),
            )
        })?;
        if by_cookie && !origin_allowed(&parts.headers, &state.allowed_origins) {
            return Err(Failure(
                StatusCode::FORBIDDEN,
                "cross-site request refused".into(),
            ));
        }
        let login = state.service.resume(&token).await?;
        Ok(Authenticated { login })
    }
}

/// The token, and whether it came from the cookie (rather than a bearer header).
pub fn token_of(headers: &HeaderMap) -> Option<(String, bool)> {
    if let Some(bearer) = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some((bearer.trim().to_owned(), false));
    }
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| (value.to_owned(), true))
}

/// Same origin (scheme-less comparison with `Host`), a configured origin, or no
/// `Origin` at all (a script, not a browser).
pub fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    if allowed.iter().any(|a| a == origin) {
        return true;
    }
    let host = headers.get(HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    host.is_some() && origin_host == host
}

/// Parses a JSON body with a clear error instead of axum's plain-text rejection.
fn json_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, Failure> {
    serde_json::from_slice(body).map_err(|error| {
        Failure(
            StatusCode::BAD_REQUEST,
            format!("unusable request: {error}"),
        )
    })
}

pub async fn servers(State(state): State<AppState>) -> Json<Vec<ServerInfo>> {
    Json(
        state
            .service
            .servers()
            .iter()
            .map(|server| ServerInfo {
                name: server.name().to_owned(),
                link: server.link().state,
                demo_accounts: server.config.demo_accounts.clone(),
            })
            .collect(),
    )
}

pub async fn login(
    State(state): State<AppState>,
    client: ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Failure> {
    if !origin_allowed(&headers, &state.allowed_origins) {
        return Err(Failure(
            StatusCode::FORBIDDEN,
            "cross-site login refused".into(),
        ));
    }
    let request: LoginRequest = json_body(&body)?;
    let login = match state
        .service
        .login(
            &request.server,
            &request.username,
            &request.secret,
            client.caller(AuditVia::Api),
        )
        .await
    {
        Ok(login) => login,
        Err(error) => return Ok(login_refused(error)),
    };
    let token = state.service.issue_token(&login).await?;
    let cookie = format!(
        "{COOKIE_NAME}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        state.service.token_ttl().as_secs(),
        if state.secure_cookies { "; Secure" } else { "" }
    );
    let mut response = Json(LoginResponse {
        token,
        server: request.server,
        username: request.username,
    })
    .into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(SET_COOKIE, value);
    }
    Ok(response)
}

/// `POST /api/v1/logout?everywhere=true` also ends every other token of the same person.
#[derive(serde::Deserialize)]
pub struct LogoutQuery {
    #[serde(default)]
    everywhere: bool,
}

pub async fn logout(
    State(state): State<AppState>,
    Query(query): Query<LogoutQuery>,
    auth: Authenticated,
) -> Response {
    let ended = state.service.logout(&auth.login, query.everywhere).await;
    if query.everywhere {
        tracing::info!(ended, "logged out everywhere");
    }
    let clear = format!("{COOKIE_NAME}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(value) = HeaderValue::from_str(&clear) {
        response.headers_mut().insert(SET_COOKIE, value);
    }
    response
}

/// How long a token from the exchange lives: the pop asks again when it expires.
const EXCHANGED_TOKEN_TTL: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// The token in the pop's URL is a credential like a password: a wrong one counts as
/// a failed login of the address it came from.
pub async fn exchange(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    body: Bytes,
) -> Result<Response, Failure> {
    let request: ExchangeRequest = json_body(&body)?;
    let (token, login) = match state
        .service
        .exchange(&request.token, client, EXCHANGED_TOKEN_TTL)
        .await
    {
        Ok(exchanged) => exchanged,
        Err(error) => return Ok(login_refused(error)),
    };
    Ok(Json(LoginResponse {
        token,
        server: login.server().name().to_owned(),
        username: login.display_name().to_owned(),
    })
    .into_response())
}

pub async fn me(State(state): State<AppState>, auth: Authenticated) -> Json<Hello> {
    Json(hello(&state, &auth.login))
}

/// What a socket says first, and `/api/v1/me` answers.
pub fn hello(state: &AppState, login: &Login) -> Hello {
    Hello {
        protocol: PROTOCOL_VERSION,
        server: login.server().name().to_owned(),
        username: login.display_name().to_owned(),
        read: login.read(),
        permissions: login.permissions(),
        role: login.role(),
        extension: login.extension().map(str::to_owned),
        pause_reasons: state.pause_reasons.as_ref().clone(),
        screen_pop: state.screen_pop.as_ref().clone(),
        seats: login.seats(),
    }
}

pub async fn state(State(state): State<AppState>, auth: Authenticated) -> Json<StateResponse> {
    let server = auth.login.server();
    let (seq, link, model) = state
        .service
        .snapshot(&auth.login, &mut auth.login.agent_view());
    Json(StateResponse {
        servers: vec![ServerState {
            name: server.name().to_owned(),
            link,
            seq,
            model,
        }],
    })
}

pub async fn actions(
    State(state): State<AppState>,
    client: ClientIp,
    auth: Authenticated,
    body: Bytes,
) -> Result<Response, Failure> {
    let request: ActionRequest = json_body(&body)?;
    let result = state
        .service
        .run(&auth.login, &request, client.caller(AuditVia::Api))
        .await;
    // The same JSON as on the socket, `"type": "action_result"` included.
    Ok(Json(shared::protocol::ServerMessage::ActionResult(result)).into_response())
}
