//! The screen-pop, `/pop?ext=1001#token=…`, for a CRM that embeds it in an iframe.
//!
//! The token comes in the URL fragment, which is never sent in a request line and so
//! never lands in a log; the page trades it for a short-lived one and keeps that in
//! memory (third-party iframes get no cookies). When a call rings or is answered at
//! the extension it shows the caller, opens the configured CRM link, and posts
//! `{"type": "astpanel.call", "event": "ringing"|"answered", "exten", "caller_id_num",
//! "caller_id_name", "channel", "uniqueid"}` to `window.parent`, only to the configured
//! target origin.

use std::collections::BTreeSet;

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api;
use crate::components::{Ctx, start};

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
    let ctx = RwSignal::new(None::<Ctx>);
    let error = RwSignal::new(None::<String>);
    match fragment_token() {
        None => error.set(Some(
            "No token: open this page as /pop?ext=NNNN#token=…".into(),
        )),
        Some(token) => spawn_local(async move {
            match api::exchange(&token).await {
                Ok(session) => {
                    // The long-lived token leaves the address bar.
                    if let Some(location) = web_sys::window().map(|w| w.location()) {
                        let _ = location.set_hash("");
                    }
                    ctx.set(Some(start(Some(session.token))));
                }
                Err(failure) => error.set(Some(failure.message())),
            }
        }),
    }
    let exten_for_view = exten.clone();
    view! {
        <main class="pop">
            <p class="error" role="alert">{move || error.get().unwrap_or_default()}</p>
            {move || ctx.get().map(|ctx| view! { <PopCalls ctx exten=exten_for_view.clone() /> })}
        </main>
    }
}

#[component]
fn PopCalls(ctx: Ctx, exten: String) -> impl IntoView {
    let announced = StoredValue::new(BTreeSet::<(String, &'static str)>::new());
    let calls = {
        let exten = exten.clone();
        move || {
            ctx.live.with(|l| {
                l.model
                    .channels
                    .values()
                    .filter(|c| {
                        c.caller_id_num == exten
                            || c.connected_num == exten
                            || c.channel.contains(&format!("/{exten}"))
                    })
                    .cloned()
                    .collect::<Vec<_>>()
            })
        }
    };
    let calls_for_effect = calls.clone();
    let calls_for_list = calls.clone();
    let title = exten.clone();
    Effect::new(move |_| {
        let pop = ctx
            .live
            .with(|l| l.hello.as_ref().map(|h| h.screen_pop.clone()));
        let Some(pop) = pop else { return };
        for channel in calls_for_effect() {
            let event = match channel.state {
                4 | 5 => "ringing",
                6 => "answered",
                _ => continue,
            };
            let key = (channel.uniqueid.clone(), event);
            if announced.with_value(|a| a.contains(&key)) {
                continue;
            }
            announced.update_value(|a| {
                a.insert(key);
            });
            // The other party: the caller when this extension is called.
            let (num, name) = if channel.caller_id_num == exten {
                (
                    channel.connected_num.clone(),
                    channel.connected_name.clone(),
                )
            } else {
                (
                    channel.caller_id_num.clone(),
                    channel.caller_id_name.clone(),
                )
            };
            if let (Some(origin), Some(parent)) = (
                pop.target_origin.as_deref(),
                web_sys::window().and_then(|w| w.parent().ok().flatten()),
            ) {
                let message = serde_json::json!({
                    "type": "astpanel.call", "event": event, "exten": exten,
                    "caller_id_num": num, "caller_id_name": name,
                    "channel": channel.channel, "uniqueid": channel.uniqueid,
                });
                if let Ok(value) = js_sys::JSON::parse(&message.to_string()) {
                    let _ = parent.post_message(&value, origin);
                }
            }
            if let (Some(link), "ringing") = (pop.crm_link.as_deref(), event) {
                let url = link.replace(
                    "{callerid}",
                    &js_sys::encode_uri_component(&num)
                        .as_string()
                        .unwrap_or_default(),
                );
                if let Some(window) = web_sys::window() {
                    let _ = window.open_with_url_and_target(&url, "_blank");
                }
            }
        }
    });
    view! {
        <h1>"Extension "{title}</h1>
        <Show when=move || calls().is_empty()><p class="muted">"No call right now."</p></Show>
        <ul class="channels">
            <For each=calls_for_list key=|c| (c.uniqueid.clone(), c.state) let:c>
                <li data-testid="pop-call" data-channel=c.channel.clone()>
                    <b>{c.caller_id_name.clone()}</b>" "{c.caller_id_num.clone()}" — "{c.state_desc.clone()}
                </li>
            </For>
        </ul>
    }
}
