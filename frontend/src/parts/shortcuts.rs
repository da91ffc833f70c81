//! Keyboard shortcuts for the busy receptionist, and the list of them shown on `?`.
//!
//! | Key | What it does |
//! | --- | --- |
//! | `?` | show or hide the list |
//! | `Escape` | close the list; in a box, leave the box |
//! | `d` | the dial box (the agent view's) |
//! | `/` | the extension grid's search (the supervisor view's) |
//! | `Enter` in that search | select the first extension shown |
//! | `c` | call the selected extension from my phone |
//! | `h` | hang up the selected call |
//! | `t` | transfer the selected call to the selected extension (none: its "Transfer to" box) |
//!
//! The selected call is the one last clicked, else my phone's first. No shortcut fires
//! while the person types in a box, but Escape; none with Ctrl, Alt or Meta held, so
//! the browser's own keep working. Each action is the one its button sends, so the
//! relay checks it the same way; one the account may not use does nothing here.

use std::time::Duration;

use leptos::prelude::*;
use shared::action::Action;
use wasm_bindgen::JsCast;

use crate::context::{Ctx, stored_extension};
use crate::i18n::tr;
use crate::route::Route;
use crate::selection::Selection;

/// What a key asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shortcut {
    Help,
    Escape,
    DialBox,
    Search,
    Call,
    Hangup,
    Transfer,
}

/// Each shortcut's key as the list shows it, and the catalogue key of what it does.
pub const SHORTCUTS: [(&str, &str); 8] = [
    ("?", "keys.help"),
    ("Esc", "keys.escape"), // not text: a key's name
    ("d", "keys.dial_box"),
    ("/", "keys.search"),
    ("Enter", "keys.search_enter"), // not text: a key's name
    ("c", "keys.call"),
    ("h", "keys.hangup"),
    ("t", "keys.transfer"),
];

/// The shortcut of a key press: `key` as `KeyboardEvent.key` names it, `typing` when
/// the focus is in a box, `modified` when Ctrl, Alt or Meta is held.
pub fn shortcut(key: &str, typing: bool, modified: bool) -> Option<Shortcut> {
    if modified {
        return None;
    }
    // not text: a key's name
    if key == "Escape" {
        return Some(Shortcut::Escape);
    }
    if typing {
        return None;
    }
    Some(match key {
        "?" => Shortcut::Help,
        "d" | "D" => Shortcut::DialBox,
        "/" => Shortcut::Search,
        "c" | "C" => Shortcut::Call,
        "h" | "H" => Shortcut::Hangup,
        "t" | "T" => Shortcut::Transfer,
        _ => return None,
    })
}

/// Whether the focus is somewhere typing goes: a box, a list to pick from, editable text.
fn typing_in(target: Option<web_sys::EventTarget>) -> bool {
    let Some(element) = target.and_then(|t| t.dyn_into::<web_sys::HtmlElement>().ok()) else {
        return false;
    };
    matches!(element.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT")
        || element.is_content_editable()
}

/// The element of `selector`, if the page shows one.
fn find(selector: &str) -> Option<web_sys::HtmlElement> {
    web_sys::window()?
        .document()?
        .query_selector(selector)
        .ok()
        .flatten()?
        .dyn_into()
        .ok()
}

/// Focuses the element of `selector`; if the page has none, goes to `path` (the view
/// that has it) and focuses it once that view is drawn.
fn focus(selector: &'static str, path: &'static str, route: Route) {
    if let Some(element) = find(selector) {
        let _ = element.focus();
        return;
    }
    if route.0.get_untracked() != path {
        route.go(path);
    }
    // The view draws on the next turns of the event loop.
    for wait in [50, 250] {
        set_timeout(
            move || {
                if let Some(element) = find(selector) {
                    let _ = element.focus();
                }
            },
            Duration::from_millis(wait),
        );
    }
}

/// The selected call's channel: the one picked if it is still up, else my phone's first.
fn selected_channel(ctx: Ctx, selection: Selection) -> Option<String> {
    let mine = my_phone(ctx);
    ctx.live.with_untracked(|l| {
        let picked = selection.channel.get_untracked();
        picked
            .filter(|name| l.model.channels.values().any(|c| &c.channel == name))
            .or_else(|| l.model.channels_of(&mine).next().map(|c| c.channel.clone()))
    })
}

/// My phone's extension: the account's own, else the one this browser keeps.
fn my_phone(ctx: Ctx) -> String {
    ctx.live
        .with_untracked(|l| l.hello.as_ref().and_then(|h| h.extension.clone()))
        .unwrap_or_else(stored_extension)
}

/// Whether the account may use `action` now.
fn may(ctx: Ctx, action: &'static str) -> bool {
    ctx.may(action)()
}

/// Does what `shortcut` asks.
fn run(shortcut: Shortcut, ctx: Ctx, selection: Selection, open: RwSignal<bool>, route: Route) {
    match shortcut {
        Shortcut::Help => open.update(|open| *open = !*open),
        Shortcut::Escape => {
            open.set(false);
            if let Some(element) = web_sys::window()
                .and_then(|w| w.document())
                .and_then(|d| d.active_element())
                .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
            {
                let _ = element.blur();
            }
        }
        Shortcut::DialBox => focus("[data-testid='dial-number']", "/", route),
        Shortcut::Search => focus("[data-testid='extension-search']", "/supervisor", route),
        Shortcut::Call => {
            let (from, to) = (my_phone(ctx), selection.exten.get_untracked());
            if let (false, Some(to), true) = (from.is_empty(), to, may(ctx, "originate")) {
                ctx.act(Action::Originate {
                    from,
                    to,
                    context: None,
                    caller_id: None,
                });
            }
        }
        Shortcut::Hangup => {
            if let (Some(channel), true) = (selected_channel(ctx, selection), may(ctx, "hangup")) {
                ctx.act(Action::Hangup { channel });
            }
        }
        Shortcut::Transfer => {
            let Some(channel) = selected_channel(ctx, selection) else {
                return;
            };
            match selection.exten.get_untracked() {
                Some(exten) if may(ctx, "redirect") => ctx.act(Action::Redirect {
                    channel,
                    exten,
                    context: None,
                }),
                Some(_) => {}
                None => {
                    let own = format!("[data-channel='{channel}'] [data-testid='transfer-to']");
                    if let Some(element) =
                        find(&own).or_else(|| find("[data-testid='transfer-to']"))
                    {
                        let _ = element.focus();
                    }
                }
            }
        }
    }
}

/// Listens for the shortcuts while the panel is up, and shows their list when `open`.
#[component]
pub fn Shortcuts(open: RwSignal<bool>) -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let route = expect_context::<Route>();
    let selection = Selection::get();
    let listener = window_event_listener(leptos::ev::keydown, move |ev| {
        let modified = ev.ctrl_key() || ev.alt_key() || ev.meta_key();
        let Some(shortcut) = shortcut(&ev.key(), typing_in(ev.target()), modified) else {
            return;
        };
        // Escape in a box with the list closed is the box's own.
        if shortcut == Shortcut::Escape && !open.get_untracked() && !typing_in(ev.target()) {
            return;
        }
        if let Some(selection) = selection {
            ev.prevent_default();
            run(shortcut, ctx, selection, open, route);
        }
    });
    on_cleanup(move || listener.remove());
    view! {
        <Show when=move || open.get()>
            <div class="overlay" on:click=move |_| open.set(false)>
                <section class="card shortcuts" data-testid="shortcuts" role="dialog" aria-modal="true"
                    aria-label=tr("keys.title") on:click=|ev| ev.stop_propagation()>
                    <div class="row">
                        <h2>{tr("keys.title")}</h2>
                        <button class="ghost small" data-testid="shortcuts-close" on:click=move |_| open.set(false)>{tr("keys.close")}</button>
                    </div>
                    <table>
                        <thead><tr><th>{tr("keys.key")}</th><th>{tr("keys.does")}</th></tr></thead>
                        <tbody>
                            {SHORTCUTS.map(|(key, does)| view! { <tr><td><kbd>{key}</kbd></td><td>{tr(does)}</td></tr> })}
                        </tbody>
                    </table>
                    <p class="muted">{tr("keys.typing")}</p>
                </section>
            </div>
        </Show>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn keys_do_nothing_while_typing_but_escape() {
        assert_eq!(shortcut("?", false, false), Some(Shortcut::Help));
        assert_eq!(shortcut("d", false, false), Some(Shortcut::DialBox));
        assert_eq!(shortcut("/", false, false), Some(Shortcut::Search));
        assert_eq!(shortcut("C", false, false), Some(Shortcut::Call));
        assert_eq!(shortcut("h", false, false), Some(Shortcut::Hangup));
        assert_eq!(shortcut("t", false, false), Some(Shortcut::Transfer));
        for key in ["?", "d", "/", "c", "h", "t"] {
            assert_eq!(shortcut(key, true, false), None, "{key} while typing");
            assert_eq!(shortcut(key, false, true), None, "{key} with Ctrl");
        }
        assert_eq!(shortcut("Escape", true, false), Some(Shortcut::Escape));
        assert_eq!(shortcut("x", false, false), None);
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn the_list_names_every_shortcut() {
        let keys: Vec<&str> = SHORTCUTS.iter().map(|(key, _)| *key).collect();
        for key in ["?", "d", "/", "c", "h", "t"] {
            assert!(keys.contains(&key), "{key} is not in the list");
            assert!(shortcut(key, false, false).is_some(), "{key} does nothing");
        }
    }
}
