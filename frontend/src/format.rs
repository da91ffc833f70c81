//! How the views write things for people: durations, dates and times (through the
//! browser's `Intl`, in the panel's language), extension states, lower case for
//! searches. Functions below every view.

use crate::i18n::t;

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

/// How long since `since_ms`, as a clock in the panel's language (`Intl.DurationFormat`'s
/// digital style, `01:05`, `12:00:03`), or [`clock`]'s where the browser lacks it. Reads
/// the language, so a reactive closure that calls it follows it.
pub fn duration(now_ms: f64, since_ms: i64) -> String {
    let seconds = ((now_ms as i64 - since_ms) / 1000).max(0);
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    #[cfg(target_arch = "wasm32")]
    if let Some(text) = intl::duration(crate::i18n::lang(), h, m, s) {
        return text;
    }
    clock(h, m, s)
}

/// `seconds` as [`duration`] writes a wait (an average hold or talk time).
pub fn seconds(seconds: u32) -> String {
    duration(f64::from(seconds) * 1000.0, 0)
}

/// `1:05`, `12:00:03`: hours, minutes and seconds as a clock, written by hand.
pub fn clock(h: i64, m: i64, s: i64) -> String {
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// A moment (RFC 3339, `2026-12-03T14:10:00.123Z`) as a date and time in the panel's
/// language and the browser's time zone (`Intl.DateTimeFormat`, short date, time
/// with seconds); the text as it came where it does not read as a date.
pub fn date_time(rfc3339: &str) -> String {
    #[cfg(target_arch = "wasm32")]
    {
        let ms = js_sys::Date::parse(rfc3339);
        if ms.is_finite()
            && let Some(text) = intl::date_time(crate::i18n::lang(), ms)
        {
            return text;
        }
    }
    rfc3339.to_owned()
}

/// A moment in ms since the epoch, as [`date_time`] writes one; the number where the
/// browser has no `Intl`.
pub fn date_time_ms(ms: i64) -> String {
    #[cfg(target_arch = "wasm32")]
    if let Some(text) = intl::date_time(crate::i18n::lang(), ms as f64) {
        return text;
    }
    ms.to_string()
}

/// How a person reads an extension state word, in the panel's language.
pub fn state_label(state: &str) -> String {
    t(match state {
        "idle" => "state.idle",
        "inuse" => "state.inuse",
        "busy" => "state.busy",
        "ringing" => "state.ringing",
        "ringinuse" => "state.ringinuse",
        "onhold" => "state.onhold",
        "paused" => "state.paused",
        "unavailable" => "state.unavailable",
        _ => "state.unknown",
    })
}

/// A channel's state as Asterisk words it (`ChannelStateDesc`: `Up`, `Ringing`), in the
/// panel's language; a word Asterisk may add later stays as it came.
pub fn channel_state(desc: &str) -> String {
    let key = match desc {
        "Down" => "channel.down",
        "Rsrvd" => "channel.reserved",
        "OffHook" => "channel.offhook",
        "Dialing" => "channel.dialing",
        "Ring" => "channel.ring",
        "Ringing" => "channel.ringing",
        "Up" => "channel.up",
        "Busy" => "channel.busy",
        "Dialing Offhook" => "channel.dialing_offhook",
        "Pre-ring" => "channel.prering",
        "Unknown" => "channel.unknown",
        other => return other.to_owned(),
    };
    t(key)
}

/// The browser's `Intl` formatters, made once per language and kept: a duration is
/// written every second for each call shown.
#[cfg(target_arch = "wasm32")]
mod intl {
    use std::cell::RefCell;

    use js_sys::{Function, Object, Reflect};
    use wasm_bindgen::{JsCast, JsValue};

    use crate::i18n::Lang;

    /// The formatters of one language; `None` where the browser lacks that `Intl` type.
    struct Formatters {
        lang: Lang,
        duration: Option<Object>,
        date_time: Option<Object>,
    }

    thread_local! {
        /// The formatters of the language used last.
        static FORMATTERS: RefCell<Option<Formatters>> = const { RefCell::new(None) };
    }

    /// `new Intl[name](lang, options)`, if this browser has that constructor.
    fn construct(name: &str, lang: Lang, options: &[(&str, &str)]) -> Option<Object> {
        let intl = Reflect::get(&js_sys::global(), &"Intl".into()).ok()?;
        let constructor: Function = Reflect::get(&intl, &name.into()).ok()?.dyn_into().ok()?;
        let settings = Object::new();
        for (key, value) in options {
            Reflect::set(&settings, &(*key).into(), &(*value).into()).ok()?;
        }
        let args = js_sys::Array::of2(&lang.code().into(), &settings);
        Reflect::construct(&constructor, &args)
            .ok()?
            .dyn_into()
            .ok()
    }

    /// `formatter.format(value)` with the formatter `pick` chooses for `lang`.
    fn format(
        lang: Lang,
        pick: fn(&Formatters) -> Option<&Object>,
        value: &JsValue,
    ) -> Option<String> {
        FORMATTERS.with(|cell| {
            let mut cell = cell.borrow_mut();
            if cell.as_ref().is_none_or(|f| f.lang != lang) {
                *cell = Some(Formatters {
                    lang,
                    duration: construct(
                        "DurationFormat",
                        lang,
                        &[("style", "digital"), ("hoursDisplay", "auto")],
                    ),
                    date_time: construct(
                        "DateTimeFormat",
                        lang,
                        &[("dateStyle", "short"), ("timeStyle", "medium")],
                    ),
                });
            }
            let formatter = pick(cell.as_ref()?)?;
            let format: Function = Reflect::get(formatter, &"format".into())
                .ok()?
                .dyn_into()
                .ok()?;
            format.call1(formatter, value).ok()?.as_string()
        })
    }

    pub fn duration(lang: Lang, h: i64, m: i64, s: i64) -> Option<String> {
        let parts = Object::new();
        for (key, value) in [("hours", h), ("minutes", m), ("seconds", s)] {
            Reflect::set(&parts, &key.into(), &(value as f64).into()).ok()?;
        }
        format(lang, |f| f.duration.as_ref(), &parts)
    }

    pub fn date_time(lang: Lang, ms: f64) -> Option<String> {
        format(
            lang,
            |f| f.date_time.as_ref(),
            &js_sys::Date::new(&ms.into()),
        )
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
        assert_eq!(clock(0, 1, 5), "1:05");
        assert_eq!(clock(12, 0, 3), "12:00:03");
        // The browser's Intl writes two-digit minutes; the hand clock, where it has none, one.
        for (now, since, long, short) in [
            (65_000.0, 0, "01:05", "1:05"),
            (43_203_000.0, 0, "12:00:03", "12:00:03"),
            (0.0, 5_000, "00:00", "0:00"),
        ] {
            let text = duration(now, since);
            assert!(text == long || text == short, "{text} for {long}");
        }
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn states_and_dates_are_written_in_the_language() {
        crate::i18n::set_lang(crate::i18n::Lang::De);
        assert_eq!(state_label("ringing"), "Klingelt");
        assert_eq!(date_time("not a date"), "not a date");
        #[cfg(target_arch = "wasm32")]
        assert!(
            date_time("2026-12-03T14:10:00Z").contains(".12."),
            "{}",
            date_time("2026-12-03T14:10:00Z")
        );
        crate::i18n::set_lang(crate::i18n::Lang::En);
        assert_eq!(state_label("ringing"), "Ringing");
        assert_eq!(state_label("what"), "Unknown");
        assert_eq!(channel_state("Up"), "Up");
        assert_eq!(channel_state("Something new"), "Something new");
        crate::i18n::set_lang(crate::i18n::Lang::Fr);
        assert_eq!(channel_state("Ring"), "Appel sortant");
        crate::i18n::set_lang(crate::i18n::Lang::En);
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
