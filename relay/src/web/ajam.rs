//! The AJAM endpoints on the panel's own router, for a proxy or a page of the panel's
//! origin. `crate::ajam` answers; this only turns axum's request and response into
//! its transport-neutral `Request` and `Reply` (hyper writes header names its own way).

use axum::response::IntoResponse;
use bytes::Bytes;

use crate::ajam::{MAX_BODY, Method, Reply, Request};
use crate::web::api::ClientIp;
use crate::web::state::AppState;

/// The same answers on the panel's own router, for a proxy or a page of the panel's
/// origin (hyper writes the header names its own way there).
pub async fn on_panel_router(
    axum::extract::State(state): axum::extract::State<AppState>,
    ClientIp(client): ClientIp,
    request: axum::extract::Request,
) -> axum::response::Response {
    use axum::http::{HeaderName, HeaderValue, StatusCode, header};
    let Some(legacy) = state.legacy else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let name = legacy.config.server_name.clone();
    let (parts, body) = request.into_parts();
    let last = |key: header::HeaderName| {
        parts
            .headers
            .get_all(key)
            .iter()
            .next_back()
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let reply = match axum::body::to_bytes(body, MAX_BODY).await {
        Err(_) => Reply::refused(413, "Request Entity Too Large", "Body too large", &name),
        Ok(body) => {
            legacy
                .handle(Request {
                    method: Method::parse(parts.method.as_str()),
                    path: parts.uri.path().to_owned(),
                    query: Bytes::copy_from_slice(parts.uri.query().unwrap_or("").as_bytes()),
                    body,
                    cookie: last(header::COOKIE),
                    if_none_match: last(header::IF_NONE_MATCH),
                    client,
                })
                .await
        }
    };
    let mut response = axum::response::Response::new(axum::body::Body::from(reply.body));
    *response.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&name) {
        headers.insert(header::SERVER, value);
    }
    if reply.close {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    if reply.no_cache {
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache, no-store"),
        );
    }
    for (key, value) in reply.headers {
        if let (Ok(key), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            headers.append(key, value);
        }
    }
    response
}
