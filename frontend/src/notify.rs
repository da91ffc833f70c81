//! Desktop notifications and their sound: the browser's Notification API, whose
//! permission is asked only on a click (browsers ignore or punish a request on load); a
//! short beep made with WebAudio (no sound file in the bundle), which the person can turn
//! off (kept in this browser); and nothing at all while the tab is in front, where the
//! panel itself shows what happened. [`decide`] is the rule, [`alert`] carries it out.

use std::cell::RefCell;

use wasm_bindgen::prelude::Closure;
use web_sys::{
    AudioContext, Notification, NotificationOptions, NotificationPermission, VisibilityState,
};

/// Where this browser keeps the sound setting (`off`; anything else is on).
const SOUND_KEY: &str = "astpanel.sound";

/// The beep: its pitch (Hz), length (s) and loudness (0 to 1).
const BEEP_HZ: f32 = 880.0;
const BEEP_S: f64 = 0.2;
const BEEP_GAIN: f32 = 0.1;

/// Whether this page may show notifications.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    /// Not asked yet: the header offers to ask.
    Ask,
    Granted,
    Denied,
    /// This browser has no Notification API.
    Unsupported,
}

/// What to do about something worth telling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Alert {
    pub show: bool,
    pub beep: bool,
}

/// The rule: nothing while the tab is in front (the panel shows it); else a notification
/// if permitted, and the beep if the sound is on.
pub fn decide(in_front: bool, permission: Permission, sound: bool) -> Alert {
    Alert {
        show: !in_front && permission == Permission::Granted,
        beep: !in_front && sound,
    }
}

/// The page's permission now.
pub fn permission() -> Permission {
    if !supported() {
        return Permission::Unsupported;
    }
    match Notification::permission() {
        NotificationPermission::Granted => Permission::Granted,
        NotificationPermission::Denied => Permission::Denied,
        _ => Permission::Ask,
    }
}

/// Whether the browser has `window.Notification` (a page over plain HTTP, some mobiles
/// and embedded views lack it; calling into it there would throw).
fn supported() -> bool {
    web_sys::window()
        .is_some_and(|w| js_sys::Reflect::has(&w, &"Notification".into()).unwrap_or(false))
}

/// Asks for the permission; only from a click. `answered` gets the outcome. The click
/// also readies the sound, which browsers allow to start only after a gesture.
pub fn ask(answered: impl FnOnce(Permission) + 'static) {
    unlock_sound();
    if !supported() {
        answered(Permission::Unsupported);
        return;
    }
    let Ok(promise) = Notification::request_permission() else {
        answered(permission());
        return;
    };
    let done = Closure::once(move |_: wasm_bindgen::JsValue| answered(permission()));
    let _ = promise.then(&done);
    // Called once, on the answer; a click's few bytes are left to the page.
    done.forget();
}

/// Whether the sound is on (the default).
pub fn sound_on() -> bool {
    storage()
        .and_then(|s| s.get_item(SOUND_KEY).ok().flatten())
        .is_none_or(|value| value != "off")
}

/// Turns the sound on or off in this browser; from a click, which readies it too.
pub fn set_sound(on: bool) {
    if on {
        unlock_sound();
    }
    if let Some(storage) = storage() {
        let _ = storage.set_item(SOUND_KEY, if on { "on" } else { "off" });
    }
}

/// Whether the tab is the one in front (`document.visibilityState == "visible"`).
pub fn in_front() -> bool {
    web_sys::window()
        .and_then(|w| w.document())
        .is_none_or(|d| d.visibility_state() == VisibilityState::Visible)
}

/// Tells the person `title` and `body`, by [`decide`]'s rule. `tag` names what it is
/// about, so a second notification of the same thing replaces the first.
pub fn alert(title: &str, body: &str, tag: &str) {
    let todo = decide(in_front(), permission(), sound_on());
    if todo.show {
        let options = NotificationOptions::new();
        options.set_body(body);
        options.set_tag(tag);
        if let Err(error) = Notification::new_with_options(title, &options) {
            leptos::logging::warn!("no notification: {error:?}");
        }
    }
    if todo.beep {
        beep();
    }
}

thread_local! {
    /// One audio context for the page, made on a click.
    static AUDIO: RefCell<Option<AudioContext>> = const { RefCell::new(None) };
}

/// Makes (or wakes) the page's audio context; browsers start one only after a gesture.
fn unlock_sound() {
    AUDIO.with(|audio| {
        let mut audio = audio.borrow_mut();
        if audio.is_none() {
            *audio = AudioContext::new().ok();
        }
        if let Some(context) = audio.as_ref() {
            let _ = context.resume();
        }
    });
}

/// A short sine beep, made on the spot; silent if no click readied the sound yet.
fn beep() {
    AUDIO.with(|audio| {
        let Some(context) = audio.borrow().clone() else {
            return;
        };
        let (Ok(oscillator), Ok(gain)) = (context.create_oscillator(), context.create_gain())
        else {
            return;
        };
        oscillator.frequency().set_value(BEEP_HZ);
        gain.gain().set_value(BEEP_GAIN);
        let wired = oscillator
            .connect_with_audio_node(&gain)
            .and_then(|_| gain.connect_with_audio_node(&context.destination()));
        if wired.is_ok() {
            let now = context.current_time();
            let _ = oscillator.start_with_when(now);
            let _ = oscillator.stop_with_when(now + BEEP_S);
        }
    });
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window().and_then(|w| w.local_storage().ok().flatten())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn nothing_while_the_tab_is_in_front_else_as_permitted_and_set() {
        for permission in [
            Permission::Ask,
            Permission::Granted,
            Permission::Denied,
            Permission::Unsupported,
        ] {
            for sound in [false, true] {
                assert_eq!(
                    decide(true, permission, sound),
                    Alert {
                        show: false,
                        beep: false
                    }
                );
                assert_eq!(
                    decide(false, permission, sound),
                    Alert {
                        show: permission == Permission::Granted,
                        beep: sound
                    }
                );
            }
        }
    }
}
