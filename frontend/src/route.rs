//! Where the page is: the app's paths below the folder it is served from, and a tiny
//! router over `history.pushState` (smaller than a router crate).
//!
//! Paths are the app's own, below [`base_path`]: behind a proxy that serves the panel
//! under `/astpanel/`, `/supervisor` is `/astpanel/supervisor` in the address bar.

use leptos::prelude::*;

/// The current view's path (`/`, `/supervisor`, ...), and a way to go elsewhere
/// without reloading.
#[derive(Clone, Copy)]
pub struct Route(pub RwSignal<String>);

impl Route {
    pub fn go(&self, path: &str) {
        if let Some(history) = web_sys::window().and_then(|w| w.history().ok()) {
            let url = href(path);
            let _ = history.push_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
        }
        self.0.set(path.to_owned());
    }
}

/// Where the app is served: the folder of the page it was loaded from (`/`, or
/// `/astpanel/` behind a proxy), as its assets, the API (`api/v1/...`) and the socket
/// (`ws`) are asked for relative to it. Every view is one level below it, so a reload
/// on any view gives the same folder.
pub fn base_path() -> String {
    let path = web_sys::window()
        .and_then(|w| w.location().pathname().ok())
        .unwrap_or_default();
    match path.rfind('/') {
        Some(end) => path[..=end].to_owned(),
        None => "/".to_owned(),
    }
}

/// The address-bar path of the app path `path`.
pub fn href(path: &str) -> String {
    format!("{}{}", base_path(), path.trim_start_matches('/'))
}

/// The app path of the address bar's: its last segment.
pub fn current_path() -> String {
    let path = web_sys::window()
        .and_then(|w| w.location().pathname().ok())
        .unwrap_or_default();
    let view = path.rsplit('/').next().unwrap_or_default();
    format!("/{view}")
}
