//! The relay's HTTP API (`/api/v1`), with the shared request and answer types.

use crate::i18n::{t, tr_with};
use gloo_net::http::{Request, Response};
use shared::protocol::{
    ApiError, AuditPage, ExchangeRequest, Hello, HistoryPage, HistorySeen, LoginRequest,
    LoginResponse, ServerInfo,
};

/// Why a call failed, in words for the login page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiFailure {
    /// 401: not logged in, or Asterisk refused the secret (its words).
    Unauthorized(String),
    /// Any other refusal, with the relay's or Asterisk's words.
    Refused(String),
    /// The relay did not answer at all.
    Unreachable,
}

impl ApiFailure {
    pub fn message(&self) -> String {
        match self {
            ApiFailure::Unauthorized(m) | ApiFailure::Refused(m) => m.clone(),
            ApiFailure::Unreachable => t("api.unreachable"),
        }
    }
}

async fn answer<T: serde::de::DeserializeOwned>(
    response: Result<Response, gloo_net::Error>,
) -> Result<T, ApiFailure> {
    let response = response.map_err(|_| ApiFailure::Unreachable)?;
    if response.ok() {
        return response
            .json::<T>()
            .await
            .map_err(|_| ApiFailure::Unreachable);
    }
    let message = response
        .json::<ApiError>()
        .await
        .map(|e| e.error)
        .unwrap_or_else(|_| tr_with("api.status", &[("status", &response.status())]));
    Err(if response.status() == 401 {
        ApiFailure::Unauthorized(message)
    } else {
        ApiFailure::Refused(message)
    })
}

pub async fn servers() -> Result<Vec<ServerInfo>, ApiFailure> {
    answer(Request::get("api/v1/servers").send().await).await
}

pub async fn me(token: Option<&str>) -> Result<Hello, ApiFailure> {
    let mut request = Request::get("api/v1/me");
    if let Some(token) = token {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    answer(request.send().await).await
}

pub async fn login(request: &LoginRequest) -> Result<LoginResponse, ApiFailure> {
    let sent = match Request::post("api/v1/login").json(request) {
        Ok(request) => request.send().await,
        Err(_) => return Err(ApiFailure::Unreachable),
    };
    answer(sent).await
}

pub async fn exchange(token: &str) -> Result<LoginResponse, ApiFailure> {
    let body = ExchangeRequest {
        token: token.to_owned(),
    };
    let sent = match Request::post("api/v1/exchange").json(&body) {
        Ok(request) => request.send().await,
        Err(_) => return Err(ApiFailure::Unreachable),
    };
    answer(sent).await
}

/// The newest `limit` audit records (admins only: others get the relay's 403 words).
pub async fn audit(limit: usize) -> Result<AuditPage, ApiFailure> {
    answer(
        Request::get(&format!("api/v1/audit?limit={limit}"))
            .send()
            .await,
    )
    .await
}

/// A page of the call history; `query` is the query string after `?` (see
/// `shared/PROTOCOL.md`: `limit`, `before`, `missed`, `day`, `number`, `disposition`).
pub async fn history(query: &str) -> Result<HistoryPage, ApiFailure> {
    answer(
        Request::get(&format!("api/v1/history?{query}"))
            .send()
            .await,
    )
    .await
}

/// Marks the calls up to `id` seen: the badge counts only missed calls after it.
pub async fn history_seen(id: i64) -> Result<(), ApiFailure> {
    let sent = match Request::post("api/v1/history/seen").json(&HistorySeen { id }) {
        Ok(request) => request.send().await,
        Err(_) => return Err(ApiFailure::Unreachable),
    };
    let response = sent.map_err(|_| ApiFailure::Unreachable)?;
    if response.ok() {
        Ok(())
    } else {
        Err(ApiFailure::Refused(tr_with(
            "api.status",
            &[("status", &response.status())],
        )))
    }
}

pub async fn logout() {
    // Whatever the answer, the page shows the login form again.
    let _ = Request::post("api/v1/logout").send().await;
}
