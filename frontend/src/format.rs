//! How the views write things for people: durations, extension states, lower case for
//! searches. Pure functions, below every view.

/// `text` in lower case, as `str::to_lowercase` writes it: ASCII here, anything else by
/// the browser's own `toLowerCase` (the same Unicode mapping), which keeps Rust's case
/// tables (7 KB of the bundle after brotli) out of it. Native builds (the unit tests)
/// have no browser and use Rust's.
pub fn lowercase(text: &str) -> String {
    if text.is_ascii() {
        return text.to_ascii_lowercase();
    }
    #[cfg(target_arch = "wasm32")]
    return js_sys::JsString::from(text).to_lower_case().into();
    #[cfg(not(target_arch = "wasm32"))]
    text.to_lowercase()
}

/// `1:05`, `12:00:03`: how long since `since_ms`.
pub fn duration(now_ms: f64, since_ms: i64) -> String {
    let seconds = ((now_ms as i64 - since_ms) / 1000).max(0);
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// How a person reads an extension state word.
pub fn state_label(state: &str) -> &'static str {
    match state {
        "idle" => "Idle",
        "inuse" => "In use",
        "busy" => "Busy",
        "ringing" => "Ringing",
        "ringinuse" => "Ringing, in use",
        "onhold" => "On hold",
        "paused" => "Paused",
        "unavailable" => "Unavailable",
        _ => "Unknown",
    }
}

/// The word for an extension's state, as `data-state` and CSS use it.
pub fn extension_state(status: i32, paused: bool) -> &'static str {
    match status {
        _ if paused => "paused",
        -1 | 4 => "unavailable",
        0 => "idle",
        1 => "inuse",
        2 => "busy",
        8 => "ringing",
        9 => "ringinuse",
        s if s & 16 != 0 => "onhold",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn extension_states_have_names() {
        assert_eq!(extension_state(0, false), "idle");
        assert_eq!(extension_state(8, false), "ringing");
        assert_eq!(extension_state(17, false), "onhold");
        assert_eq!(extension_state(0, true), "paused");
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn durations_read_as_a_clock() {
        assert_eq!(duration(65_000.0, 0), "1:05");
        assert_eq!(duration(43_203_000.0, 0), "12:00:03");
        assert_eq!(duration(0.0, 5_000), "0:00", "a clock a little behind");
    }

    // The browser's `toLowerCase` is only there in the browser.
    #[cfg(target_arch = "wasm32")]
    #[wasm_bindgen_test::wasm_bindgen_test]
    fn lowercase_is_what_rust_writes_in_ascii_and_beyond() {
        for text in [
            "PJSIP/1001 Alice",
            "ÉLODIE Ærø",
            "ΟΔΥΣΣΕΥΣ",
            "İstanbul",
            "ǅ ẞ",
        ] {
            assert_eq!(lowercase(text), text.to_lowercase(), "{text}");
        }
    }
}
