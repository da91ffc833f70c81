//! The screen-pop, `/pop?ext=1001#token=…`, for a CRM that embeds it in an iframe.
//!
//! The token comes in the URL fragment, which is never sent in a request line and so
//! never lands in a log; the page trades it for a short-lived one and keeps that in
//! memory (third-party iframes get no cookies). When a call of the extension rings or
//! is answered (the shared rule, `shared::pop::Pops`) it shows the caller, opens the
//! configured CRM link, and posts a `shared::protocol::CallPop`
//! (`{"type": "astpanel.call", "event": "ringing"|"answered", "exten", "caller_id_num",
//! "caller_id_name", "channel", "uniqueid"}`) to `window.parent`, only to the
//! configured target origin.

use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::pop::Pops;
use shared::protocol::{CallPop, PopEvent};

use crate::api;
use crate::context::Ctx;
use crate::format::channel_state;
use crate::i18n::{t, tr, tr_with};
use crate::socket::SocketState;

fn fragment_token() -> Option<String> {
    let hash = web_sys::window()?.location().hash().ok()?;
    hash.trim_start_matches('#')
        .split('&')
        .find_map(|pair| pair.strip_prefix("token="))
        .map(String::from)
}

fn query_exten() -> String {
    web_sys::window()
        .and_then(|w| w.location().search().ok())
        .and_then(|q| {
            q.trim_start_matches('?')
                .split('&')
                .find_map(|p| p.strip_prefix("ext=").map(String::from))
        })
        .unwrap_or_default()
}

#[component]
pub fn ScreenPop() -> impl IntoView {
    let exten = query_exten();
    let session = RwSignal::new(None::<String>);
    let error = RwSignal::new(None::<String>);
    match fragment_token() {
        None => error.set(Some(t("pop.no_token"))),
        Some(token) => spawn_local(async move {
            match api::exchange(&token).await {
                Ok(exchanged) => {
                    // The long-lived token leaves the address bar.
                    if let Some(location) = web_sys::window().map(|w| w.location()) {
                        let _ = location.set_hash("");
                    }
                    session.set(Some(exchanged.token));
                }
                Err(failure) => error.set(Some(failure.message())),
            }
        }),
    }
    view! {
        <main class="pop">
            <p class="error" role="alert">{move || error.get().unwrap_or_default()}</p>
            {move || session.get().map(|token| view! { <PopCalls token exten=exten.clone() /> })}
        </main>
    }
}

/// The calls of `exten`, over a socket of this component's own (closed when it goes).
#[component]
fn PopCalls(token: String, exten: String) -> impl IntoView {
    let ctx = Ctx::start(Some(token));
    let pops = StoredValue::new(Pops::new(&exten));
    let calls = {
        let exten = exten.clone();
        move || {
            ctx.live
                .with(|l| l.model.channels_of(&exten).cloned().collect::<Vec<_>>())
        }
    };
    let calls_for_list = calls.clone();
    Effect::new(move |_| {
        let settings = ctx
            .live
            .with(|l| l.hello.as_ref().map(|h| h.screen_pop.clone()));
        let Some(settings) = settings else { return };
        let posts = ctx
            .live
            .with(|l| pops.try_update_value(|pops| pops.next(&l.model)))
            .unwrap_or_default();
        for pop in posts {
            post(&pop, settings.target_origin.as_deref());
            if let (Some(link), PopEvent::Ringing) = (settings.crm_link.as_deref(), pop.event) {
                let url = link.replace(
                    "{callerid}",
                    &js_sys::encode_uri_component(&pop.caller_id_num)
                        .as_string()
                        .unwrap_or_default(),
                );
                if let Some(window) = web_sys::window() {
                    let _ = window.open_with_url_and_target(&url, "_blank");
                }
            }
        }
    });
    let ended = move || ctx.socket.get() == SocketState::Ended;
    view! {
        <h1>{move || tr_with("pop.extension", &[("exten", &exten)])}</h1>
        <Show when=ended>
            <p class="error" role="alert" data-testid="pop-ended">{tr("pop.ended")}</p>
        </Show>
        <Show when=move || calls().is_empty()><p class="muted">{tr("pop.no_call")}</p></Show>
        <ul class="channels">
            <For each=calls_for_list key=|c| (c.uniqueid.clone(), c.state) let:c>
                <li data-testid="pop-call" data-channel=c.channel.clone()>
                    <b>{c.caller_id_name.clone()}</b>" "{c.caller_id_num.clone()}" — "{let desc = c.state_desc.clone(); move || channel_state(&desc)}
                </li>
            </For>
        </ul>
    }
}

/// Posts `pop` to the page around this one, only to `origin` (none configured: nothing).
fn post(pop: &CallPop, origin: Option<&str>) {
    let (Some(origin), Some(parent)) = (
        origin,
        web_sys::window().and_then(|w| w.parent().ok().flatten()),
    ) else {
        return;
    };
    let Ok(text) = serde_json::to_string(pop) else {
        return;
    };
    if let Ok(value) = js_sys::JSON::parse(&text) {
        let _ = parent.post_message(&value, origin);
    }
}
