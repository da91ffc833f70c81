//! The SPA, embedded in the binary so the relay needs no other web server.
//!
//! `cargo xtask` builds it with Trunk into `target/spa` before building the
//! relay. A relay built without it still runs and says how to build it.

use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rust_embed::Embed;

#[derive(Embed)]
#[folder = "../target/spa"]
#[allow_missing = true]
struct Spa;

const INDEX: &str = "index.html";

/// The embedded `index.html`, for the Content-Security-Policy's script hashes.
pub fn index_html() -> String {
    Spa::get(INDEX)
        .map(|file| String::from_utf8_lossy(&file.data).into_owned())
        .unwrap_or_default()
}

/// Serves a file of the SPA, or its `index.html` for any other path so that
/// client-side routes survive a reload.
pub async fn serve(uri: Uri) -> Response {
    serve_from::<Spa>(&uri)
}

/// [`serve`] over any embedded folder, so tests can use folders of their own.
fn serve_from<Files: Embed>(uri: &Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    match Files::get(path).filter(|_| !path.is_empty()) {
        Some(file) => file_response(path, file, "public, max-age=31536000, immutable"),
        None => match Files::get(INDEX) {
            Some(file) => file_response(INDEX, file, "no-cache"),
            None => (
                StatusCode::SERVICE_UNAVAILABLE,
                "The panel's web app is not built into this binary: run `cargo xtask run`.\n",
            )
                .into_response(),
        },
    }
}

/// Trunk puts a content hash in every asset's name, so everything but
/// `index.html` can be cached for ever; `index.html` must be revalidated.
fn file_response(path: &str, file: rust_embed::EmbeddedFile, cache: &'static str) -> Response {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let mut response = file.data.into_owned().into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(mime.as_ref()) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

#[cfg(test)]
mod tests {
    use axum::body::to_bytes;

    use super::*;

    #[derive(Embed)]
    #[folder = "tests/spa"]
    struct BuiltSpa;

    #[derive(Embed)]
    #[folder = "tests/no-such-folder"]
    #[allow_missing = true]
    struct MissingSpa;

    async fn get<Files: Embed>(path: &str) -> (StatusCode, String, String, String) {
        let response = serve_from::<Files>(&Uri::try_from(path).unwrap());
        let header = |name| {
            let value = response.headers().get(name).and_then(|v| v.to_str().ok());
            value.unwrap_or_default().to_owned()
        };
        let (content_type, cache) = (header(header::CONTENT_TYPE), header(header::CACHE_CONTROL));
        let status = response.status();
        let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (
            status,
            content_type,
            cache,
            String::from_utf8_lossy(&body).into_owned(),
        )
    }

    #[tokio::test]
    async fn hashed_assets_are_cached_for_ever_and_index_is_revalidated() {
        let (status, content_type, cache, body) = get::<BuiltSpa>("/app-1234.js").await;
        assert_eq!(
            (status, content_type.as_str()),
            (StatusCode::OK, "text/javascript")
        );
        assert_eq!(cache, "public, max-age=31536000, immutable");
        assert!(body.contains("test asset"));

        let (status, content_type, cache, body) = get::<BuiltSpa>("/").await;
        assert_eq!(
            (status, content_type.as_str(), cache.as_str()),
            (StatusCode::OK, "text/html", "no-cache")
        );
        assert!(body.contains("<title>test spa</title>"));
    }

    #[tokio::test]
    async fn any_other_path_gets_index_so_client_routes_survive_a_reload() {
        let (status, content_type, _, body) = get::<BuiltSpa>("/queues/support").await;
        assert_eq!(
            (status, content_type.as_str()),
            (StatusCode::OK, "text/html")
        );
        assert!(body.contains("<title>test spa</title>"));
    }

    #[tokio::test]
    async fn a_relay_built_without_the_spa_says_how_to_build_it() {
        let (status, _, _, body) = get::<MissingSpa>("/").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("cargo xtask run"), "{body}");
    }
}
