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

/// Serves a file of the SPA, or its `index.html` for any other path so that
/// client-side routes survive a reload.
pub async fn serve(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    match Spa::get(path).filter(|_| !path.is_empty()) {
        Some(file) => file_response(path, file, "public, max-age=31536000, immutable"),
        None => match Spa::get(INDEX) {
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
