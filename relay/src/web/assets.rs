//! The SPA, embedded in the binary so the relay needs no other web server.
//!
//! `cargo xtask` builds it with Trunk into `target/spa` before building the
//! relay. A relay built without it still runs and says how to build it.
//!
//! `cargo xtask spa` also writes a brotli (`.br`) and a gzip (`.gz`) copy beside each
//! file, at the best quality, once per build: a browser that accepts one gets it as it
//! is, with `Content-Encoding`, instead of the router's on-the-fly compression (quick
//! rather than thorough: the SPA came out some 60 KB larger). A file without such a copy
//! (a plain `trunk build`) is still compressed on the fly.

use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rust_embed::Embed;

#[derive(Embed)]
#[folder = "../target/spa"]
#[allow_missing = true]
struct Spa;

const INDEX: &str = "index.html";

/// The precompressed copies `cargo xtask spa` writes: the `Content-Encoding` and the
/// suffix of each, the better first.
const PRECOMPRESSED: [(&str, &str); 2] = [("br", ".br"), ("gzip", ".gz")];

/// The embedded `index.html`, for the Content-Security-Policy's script hashes.
pub fn index_html() -> String {
    Spa::get(INDEX)
        .map(|file| String::from_utf8_lossy(&file.data).into_owned())
        .unwrap_or_default()
}

/// Serves a file of the SPA, or its `index.html` for any other path so that
/// client-side routes survive a reload.
pub async fn serve(uri: Uri, headers: HeaderMap) -> Response {
    serve_from::<Spa>(&uri, &headers)
}

/// [`serve`] over any embedded folder, so tests can use folders of their own.
fn serve_from<Files: Embed>(uri: &Uri, headers: &HeaderMap) -> Response {
    let accept = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let path = uri.path().trim_start_matches('/');
    match Files::get(path).filter(|_| !path.is_empty()) {
        Some(file) => {
            file_response::<Files>(path, file, accept, "public, max-age=31536000, immutable")
        }
        None => match Files::get(INDEX) {
            Some(file) => file_response::<Files>(INDEX, file, accept, "no-cache"),
            None => (
                StatusCode::SERVICE_UNAVAILABLE,
                "The panel's web app is not built into this binary: run `cargo xtask run`.\n",
            )
                .into_response(),
        },
    }
}

/// Trunk puts a content hash in every asset's name, so everything but
/// `index.html` can be cached for ever; `index.html` must be revalidated. The body is
/// the best precompressed copy of `path` that `accept` allows, else the file itself.
fn file_response<Files: Embed>(
    path: &str,
    file: rust_embed::EmbeddedFile,
    accept: &str,
    cache: &'static str,
) -> Response {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let precompressed = PRECOMPRESSED
        .iter()
        .filter(|(coding, _)| accepts(accept, coding))
        .find_map(|(coding, suffix)| Some((*coding, Files::get(&format!("{path}{suffix}"))?)));
    let (body, encoding) = match precompressed {
        Some((coding, copy)) => (copy.data, Some(coding)),
        None => (file.data, None),
    };
    let mut response = body.into_owned().into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(mime.as_ref()) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Some(coding) = encoding {
        // The compression layer leaves a body that already has an encoding alone.
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
    }
    // Precompressed or compressed on the fly, the body depends on the request's
    // encodings, so a cache must key on them.
    headers.insert(
        header::VARY,
        HeaderValue::from_static(header::ACCEPT_ENCODING.as_str()),
    );
    response
}

/// Whether `accept_encoding` (a request's `Accept-Encoding`) allows `coding`: named, or
/// covered by `*` when not named, with a q-value above 0 (none means 1). An item whose
/// q-value does not parse allows nothing.
fn accepts(accept_encoding: &str, coding: &str) -> bool {
    let mut by_star = false;
    for item in accept_encoding.split(',') {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or_default().trim();
        let allowed = parts.all(|param| {
            let param = param.trim();
            match param.get(..2) {
                Some(key) if key.eq_ignore_ascii_case("q=") => param[2..]
                    .trim()
                    .parse::<f32>()
                    .is_ok_and(|q| q > 0.0 && q <= 1.0),
                _ => true,
            }
        });
        if name.eq_ignore_ascii_case(coding) {
            return allowed;
        }
        if name == "*" {
            by_star = allowed;
        }
    }
    by_star
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

    /// The status, headers and body of `path` for a request with `Accept-Encoding: accept`.
    async fn fetch<Files: Embed>(path: &str, accept: &str) -> (StatusCode, HeaderMap, Vec<u8>) {
        let mut request = HeaderMap::new();
        request.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_str(accept).unwrap(),
        );
        let response = serve_from::<Files>(&Uri::try_from(path).unwrap(), &request);
        let (status, headers) = (response.status(), response.headers().clone());
        let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, headers, body.to_vec())
    }

    async fn get<Files: Embed>(path: &str) -> (StatusCode, String, String, String) {
        let (status, headers, body) = fetch::<Files>(path, "").await;
        let header = |name| {
            let value = headers.get(name).and_then(|v| v.to_str().ok());
            value.unwrap_or_default().to_owned()
        };
        (
            status,
            header(header::CONTENT_TYPE),
            header(header::CACHE_CONTROL),
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

    /// What `tests/spa/app-1234.js` holds; its `.br` and `.gz` copies were made from it.
    const ASSET: &[u8] = include_bytes!("../../tests/spa/app-1234.js");

    #[tokio::test]
    async fn a_browser_that_accepts_br_gets_the_precompressed_copy_of_the_asset() {
        let (status, headers, body) =
            fetch::<BuiltSpa>("/app-1234.js", "gzip, deflate, br, zstd").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_ENCODING], "br");
        assert_eq!(headers[header::CONTENT_TYPE], "text/javascript");
        assert_eq!(headers[header::VARY], "accept-encoding");
        assert_eq!(
            headers[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        let mut plain = Vec::new();
        brotli::BrotliDecompress(&mut body.as_slice(), &mut plain).unwrap();
        assert_eq!(plain, ASSET);
    }

    #[tokio::test]
    async fn gzip_when_only_gzip_is_accepted_and_the_file_itself_when_neither() {
        let (_, headers, body) = fetch::<BuiltSpa>("/app-1234.js", "br;q=0, gzip").await;
        assert_eq!(headers[header::CONTENT_ENCODING], "gzip");
        let mut plain = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(body.as_slice()),
            &mut plain,
        )
        .unwrap();
        assert_eq!(plain, ASSET);

        for accept in ["", "identity", "deflate", "*;q=0", "br;q=0.0, gzip;q=0"] {
            let (status, headers, body) = fetch::<BuiltSpa>("/app-1234.js", accept).await;
            assert_eq!(status, StatusCode::OK, "{accept}");
            assert!(!headers.contains_key(header::CONTENT_ENCODING), "{accept}");
            assert_eq!(headers[header::VARY], "accept-encoding", "{accept}");
            assert_eq!(body, ASSET, "{accept}");
        }
        // index.html has no copies in the test folder: it is sent as it is, for the
        // compression layer to compress on the fly.
        let (_, headers, body) = fetch::<BuiltSpa>("/queues/support", "br").await;
        assert!(!headers.contains_key(header::CONTENT_ENCODING));
        assert!(String::from_utf8_lossy(&body).contains("<title>test spa</title>"));
    }

    #[tokio::test]
    async fn the_compression_layer_passes_a_precompressed_body_through_as_it_is() {
        use tower::ServiceExt;
        use tower_http::compression::CompressionLayer;

        let app = axum::Router::new()
            .fallback(|uri: Uri, headers: HeaderMap| async move {
                serve_from::<BuiltSpa>(&uri, &headers)
            })
            .layer(CompressionLayer::new());
        let get_br = |path: &str| {
            let request = axum::http::Request::get(path)
                .header(header::ACCEPT_ENCODING, "br")
                .body(axum::body::Body::empty())
                .unwrap();
            app.clone().oneshot(request)
        };
        let response = get_br("/app-1234.js").await.unwrap();
        let encodings: Vec<_> = response
            .headers()
            .get_all(header::CONTENT_ENCODING)
            .iter()
            .collect();
        assert_eq!(encodings, ["br"]);
        let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
        assert_eq!(
            body,
            include_bytes!("../../tests/spa/app-1234.js.br").as_slice()
        );

        // A file without a copy is compressed on the fly, as before.
        let response = get_br("/").await.unwrap();
        assert_eq!(response.headers()[header::CONTENT_ENCODING], "br");
        let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
        let mut plain = Vec::new();
        brotli::BrotliDecompress(&mut body.as_ref(), &mut plain).unwrap();
        assert!(String::from_utf8_lossy(&plain).contains("<title>test spa</title>"));
    }

    #[test]
    fn accept_encoding_is_read_with_its_q_values_and_star() {
        assert!(accepts("gzip, deflate, br", "br"));
        assert!(accepts("BR;q=0.5", "br"), "names ignore case");
        assert!(accepts("*", "gzip") && accepts("gzip;Q=1", "gzip"));
        assert!(!accepts("", "br") && !accepts("identity", "br"));
        assert!(!accepts("br;q=0", "br") && !accepts("br; q=0.000", "br"));
        assert!(!accepts("*, br;q=0", "br"), "named beats star");
        assert!(accepts("br;q=0.1, *;q=0", "br"));
        assert!(!accepts("br;q=high", "br") && !accepts("br;q=2", "br"));
        assert!(!accepts("brotli", "br") && !accepts("x-gzip", "gzip"));
    }
}
