//! The panel's words in the person's language: the message catalogues, the current
//! language, and the lookups every view writes its text with.
//!
//! The catalogues are `frontend/i18n/<code>.txt`, one `key = text` a line (`#` starts
//! a comment line; the text is trimmed, `{name}` is a placeholder), built into the
//! bundle and parsed once. English is the reference: every other catalogue holds
//! exactly its keys with the same placeholders (a unit test here), and every key the
//! code names is in it (xtask's tidy), so a missing word cannot ship.
//!
//! The language is one global signal, not a context: event handlers and async tasks
//! write messages too, and they run outside any owner. It starts from the language
//! this browser remembers, else the first of `navigator.languages` the panel speaks,
//! else English, and keeps `<html lang>` in step.
//!
//! How a view writes text:
//! - `{tr("login.submit")}`, `title=tr("calls.hangup")`: a closure, so the node or
//!   attribute follows the language.
//! - `t("key")` the text now, as a `String`; `tr_with("key", &[("name", &value)])` the
//!   same with the placeholders filled in. Both read the language signal, so inside a
//!   `move ||` closure they follow it too.
//! - [`lang`] and [`set_lang`] for the switch, [`Lang::locale`] for `Intl`.

use std::collections::HashMap;
use std::fmt::Display;
use std::sync::OnceLock;

use leptos::prelude::*;

/// A language the panel speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lang {
    En,
    Es,
    Fr,
    De,
}

impl Lang {
    /// Every language, in the order the switch offers them.
    pub const ALL: [Lang; 4] = [Lang::En, Lang::Es, Lang::Fr, Lang::De];

    /// The BCP 47 code: `<html lang>`, what the browser remembers, `Intl`'s locale.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Es => "es",
            Lang::Fr => "fr",
            Lang::De => "de",
        }
    }

    /// The language's name in itself, as the switch shows it to someone who may not
    /// read the current one.
    pub fn native_name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::Es => "Español",
            Lang::Fr => "Français",
            Lang::De => "Deutsch",
        }
    }

    /// The language a BCP 47 tag (`de-AT`, `fr`, `ES`) asks for, if the panel speaks it.
    pub fn from_tag(tag: &str) -> Option<Lang> {
        let primary = tag.split(['-', '_']).next().unwrap_or_default();
        Lang::ALL
            .into_iter()
            .find(|lang| lang.code().eq_ignore_ascii_case(primary))
    }

    /// The catalogue's source, built into the bundle.
    fn source(self) -> &'static str {
        match self {
            Lang::En => include_str!("../i18n/en.txt"),
            Lang::Es => include_str!("../i18n/es.txt"),
            Lang::Fr => include_str!("../i18n/fr.txt"),
            Lang::De => include_str!("../i18n/de.txt"),
        }
    }

    fn index(self) -> usize {
        Lang::ALL.iter().position(|l| *l == self).unwrap_or(0)
    }
}

/// A catalogue line that is neither blank, a comment, nor `key = text`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("line {line}: expected `key = text`, found {text:?}")]
pub struct CatalogueError {
    pub line: usize,
    pub text: String,
}

/// The `(key, text)` pairs of a catalogue's source, in order.
pub fn parse(source: &str) -> Result<Vec<(&str, &str)>, CatalogueError> {
    let mut pairs = Vec::new();
    for (index, line) in source.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once('=') {
            Some((key, text)) if !key.trim().is_empty() => pairs.push((key.trim(), text.trim())),
            _ => {
                return Err(CatalogueError {
                    line: index + 1,
                    text: line.to_owned(),
                });
            }
        }
    }
    Ok(pairs)
}

/// Every catalogue, parsed on first use. A catalogue that does not parse is empty
/// here (its words fall back to English); the unit tests keep that from shipping.
fn catalogues() -> &'static [HashMap<&'static str, &'static str>] {
    static CATALOGUES: OnceLock<Vec<HashMap<&'static str, &'static str>>> = OnceLock::new();
    CATALOGUES.get_or_init(|| {
        Lang::ALL
            .iter()
            .map(|lang| {
                parse(lang.source())
                    .unwrap_or_default()
                    .into_iter()
                    .collect()
            })
            .collect()
    })
}

/// `key`'s text in `lang`: else in English, else the key itself, which a test keeps
/// from happening.
pub fn lookup(lang: Lang, key: &'static str) -> &'static str {
    let all = catalogues();
    all.get(lang.index())
        .and_then(|c| c.get(key))
        .or_else(|| all.first().and_then(|c| c.get(key)))
        .copied()
        .unwrap_or(key)
}

/// Where this browser remembers the language chosen with the switch.
#[cfg(target_arch = "wasm32")]
const STORAGE_KEY: &str = "astpanel.lang";

thread_local! {
    /// The current language. An `ArcRwSignal` lives outside the reactive arena, so no
    /// owner's cleanup can dispose of it whichever view touches it first.
    static CURRENT: ArcRwSignal<Lang> = {
        let lang = initial_lang();
        set_html_lang(lang);
        ArcRwSignal::new(lang)
    };
}

/// The language to start in: the one chosen here before, else the browser's.
fn initial_lang() -> Lang {
    #[cfg(target_arch = "wasm32")]
    {
        let window = web_sys::window();
        let remembered = window
            .as_ref()
            .and_then(|w| w.local_storage().ok().flatten())
            .and_then(|s| s.get_item(STORAGE_KEY).ok().flatten())
            .and_then(|code| Lang::from_tag(&code));
        let browser = || {
            window
                .as_ref()
                .map(|w| w.navigator().languages())
                .into_iter()
                .flat_map(|list| list.to_vec())
                .filter_map(|tag| tag.as_string())
                .find_map(|tag| Lang::from_tag(&tag))
        };
        remembered.or_else(browser).unwrap_or(Lang::En)
    }
    #[cfg(not(target_arch = "wasm32"))]
    Lang::En
}

/// Tells the page (screen readers, hyphenation, spell checkers) its language.
fn set_html_lang(lang: Lang) {
    #[cfg(target_arch = "wasm32")]
    if let Some(root) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.document_element())
    {
        let _ = root.set_attribute("lang", lang.code());
    }
    #[cfg(not(target_arch = "wasm32"))]
    let _ = lang;
}

/// The current language; reading it inside a reactive closure follows it.
pub fn lang() -> Lang {
    CURRENT.with(|current| current.get())
}

/// Switches the panel to `lang`, remembers it in this browser, and tells the page.
pub fn set_lang(lang: Lang) {
    CURRENT.with(|current| current.set(lang));
    set_html_lang(lang);
    #[cfg(target_arch = "wasm32")]
    if let Some(storage) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
        let _ = storage.set_item(STORAGE_KEY, lang.code());
    }
}

/// `key`'s text in the current language, now (tracked: a reactive closure that calls
/// it runs again when the language changes).
pub fn t(key: &'static str) -> String {
    lookup(lang(), key).to_owned()
}

/// `key`'s text as a closure that follows the language: a view's text node or
/// attribute.
pub fn tr(key: &'static str) -> impl Fn() -> String + Copy + Send + Sync + 'static {
    move || t(key)
}

/// `key`'s text in the current language with each `{name}` replaced by its value
/// (tracked, like [`t`]).
pub fn tr_with(key: &'static str, args: &[(&str, &dyn Display)]) -> String {
    fill(lookup(lang(), key), args)
}

/// `text` with each `{name}` of `args` replaced by its value; other braces stay.
fn fill(text: &str, args: &[(&str, &dyn Display)]) -> String {
    let mut out = text.to_owned();
    for (name, value) in args {
        out = out.replace(&format!("{{{name}}}"), &value.to_string());
    }
    out
}

/// The `{name}` placeholders of a catalogue text, sorted.
pub fn placeholders(text: &str) -> Vec<&str> {
    let mut names: Vec<&str> = text
        .split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn every_catalogue_has_exactly_the_english_keys_and_placeholders() {
        let english = parse(Lang::En.source()).expect("en.txt parses");
        assert!(english.len() > 5, "en.txt is nearly empty");
        for lang in Lang::ALL {
            let pairs = parse(lang.source()).unwrap_or_else(|e| panic!("{}.txt: {e}", lang.code()));
            let map: HashMap<_, _> = pairs.iter().copied().collect();
            assert_eq!(map.len(), pairs.len(), "{}.txt repeats a key", lang.code());
            for (key, text) in &pairs {
                assert!(!text.is_empty(), "{}.txt: {key} is empty", lang.code());
            }
            let missing: Vec<_> = english
                .iter()
                .filter(|(k, _)| !map.contains_key(k))
                .map(|(k, _)| *k)
                .collect();
            assert!(missing.is_empty(), "{}.txt lacks {missing:?}", lang.code());
            let english_keys: HashMap<_, _> = english.iter().copied().collect();
            let extra: Vec<_> = pairs
                .iter()
                .filter(|(k, _)| !english_keys.contains_key(k))
                .map(|(k, _)| *k)
                .collect();
            assert!(
                extra.is_empty(),
                "{}.txt has keys en.txt lacks: {extra:?}",
                lang.code()
            );
            for (key, text) in &english {
                assert_eq!(
                    placeholders(map[key]),
                    placeholders(text),
                    "{}.txt: {key} has other placeholders than English",
                    lang.code()
                );
            }
        }
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn a_line_without_an_equals_sign_is_refused() {
        assert_eq!(
            parse("# c\n\na.b = x = y\noops\n"),
            Err(CatalogueError {
                line: 4,
                text: "oops".into()
            })
        );
        assert_eq!(parse("a.b = x = y").unwrap(), vec![("a.b", "x = y")]);
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn placeholders_are_filled_and_tags_pick_a_language() {
        assert_eq!(
            fill("{n} of {m}", &[("n", &3), ("m", &"five")]),
            "3 of five"
        );
        assert_eq!(placeholders("{b} and {a} and {b}"), vec!["a", "b"]);
        assert_eq!(Lang::from_tag("de-AT"), Some(Lang::De));
        assert_eq!(Lang::from_tag("ES"), Some(Lang::Es));
        assert_eq!(Lang::from_tag("it-IT"), None);
        assert_eq!(lookup(Lang::De, "header.logout"), "Abmelden");
    }
}
