//! The parts of an AJAM request the relay reads before any session: the form (query
//! string or body), the `Cookie:` header, the panel's token headers and the name under
//! `static/`. None panics, and an accepted static name stays inside its directory.
#![no_main]

use std::path::{Component, Path};

use http::header::{AUTHORIZATION, COOKIE, HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use relay::ajam::{cookie_id, is_plain_static_name, parse_cookies, parse_form};

fuzz_target!(|input: &[u8]| {
    let pairs = parse_form(input);
    assert!(pairs.iter().all(|(name, _)| !name.is_empty()));
    assert!(pairs.len() <= input.split(|&b| b == b'&').count());

    let text = String::from_utf8_lossy(input);
    for (name, value) in parse_cookies(&text) {
        assert!(!name.is_empty() && !value.is_empty());
    }
    if let Some(id) = cookie_id(Some(&text)) {
        assert_ne!(id, 0);
    }

    if is_plain_static_name(&text) {
        let path = Path::new("/static").join(&*text);
        assert!(path.starts_with("/static"), "{path:?}");
        assert!(
            path.components().all(|c| c != Component::ParentDir),
            "{path:?}"
        );
    }

    if let Ok(value) = HeaderValue::from_bytes(input) {
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, value.clone());
        headers.insert(AUTHORIZATION, value);
        let _ = relay::web::api::token_of(&headers);
    }
});
