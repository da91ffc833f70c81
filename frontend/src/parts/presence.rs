//! The presence picker: a state (available, away, DND, ...) and a reason from the
//! configured list for one extension: an agent's own (fixed), or any a supervisor types
//! in. It sets `PRESENCE_STATE(CustomPresence:<exten>)` through the `presence` action
//! and shows the state Asterisk then reports. Where the server configures a call
//! forward, the same extension's forward is set or cleared beside it (`call_forward`).

use leptos::prelude::*;
use shared::action::Action;

use crate::context::Ctx;
use crate::i18n::{t, tr, tr_with};

/// The states Asterisk's `PRESENCE_STATE()` takes, with their catalogue keys.
const STATES: [(&str, &str); 6] = [
    ("available", "presence.available"),
    ("away", "presence.away"),
    ("dnd", "presence.dnd"),
    ("xa", "presence.xa"),
    ("chat", "presence.chat"),
    ("unavailable", "presence.unavailable"),
];

/// The catalogue key of a state, `presence.unknown` for one the panel does not name.
fn label(state: &str) -> &'static str {
    STATES
        .iter()
        .find(|(s, _)| *s == state)
        .map_or("presence.unknown", |(_, key)| key)
}

/// `editable`: the extension can be typed in (a supervisor's); else it is `exten` as given.
#[component]
pub fn PresencePicker(exten: RwSignal<String>, editable: bool) -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let state = RwSignal::new("dnd".to_owned());
    let reason = RwSignal::new(String::new());
    let reasons = move || ctx.reasons();
    let now = move || {
        let provider = format!("CustomPresence:{}", exten.get()); // not text: Asterisk's provider
        ctx.live.with(|l| {
            l.model.presence.get(&provider).map(|p| {
                let text = t(label(&p.status));
                if p.message.is_empty() {
                    text
                } else {
                    format!("{text}: {}", p.message)
                }
            })
        })
    };
    let set = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let exten = exten.get_untracked();
        if exten.is_empty() {
            return;
        }
        let reason = reason.get_untracked();
        ctx.act(Action::Presence {
            exten,
            state: state.get_untracked(),
            message: (!reason.is_empty()).then_some(reason),
        });
    };
    view! {
        <Show when=ctx.may("presence")>
            <form class="row presence-picker" data-testid="presence-picker" on:submit=set aria-label=tr("presence.title")>
                <Show when=move || editable>
                    <input class="short" data-testid="presence-exten" placeholder=tr("call.extension") aria-label=tr("presence.exten")
                        prop:value=move || exten.get() on:input=move |ev| exten.set(event_target_value(&ev)) />
                </Show>
                <select data-testid="presence-state" aria-label=tr("presence.state") on:change=move |ev| state.set(event_target_value(&ev))>
                    {STATES.iter().map(|&(s, key)| view! { <option value=s selected=move || state.get() == s>{tr(key)}</option> }).collect_view()}
                </select>
                <select data-testid="presence-reason" aria-label=tr("presence.reason") on:change=move |ev| reason.set(event_target_value(&ev))>
                    <option value="">{tr("presence.no_reason")}</option>
                    {move || reasons().into_iter().map(|r| view! { <option value=r.clone()>{r.clone()}</option> }).collect_view()}
                </select>
                <button type="submit" data-testid="presence-set">{tr("presence.set")}</button>
                <span class="muted" data-testid="presence-now">{now}</span>
            </form>
        </Show>
        <ForwardPicker exten=exten />
    }
}

/// The call forward of `exten`: a number to forward to, or none. Asterisk reports no
/// AstDB change, so what it shows is this browser's last answered forward (and
/// Asterisk's words for it), never a guess before the answer.
#[component]
fn ForwardPicker(exten: RwSignal<String>) -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let to = RwSignal::new(String::new());
    // The request in flight: its id, the extension and the number (`None`: clearing).
    let pending: RwSignal<Option<(String, String, Option<String>)>> = RwSignal::new(None);
    // The last answered forward: the extension and its number (`None`: not forwarded).
    let known: RwSignal<Option<(String, Option<String>)>> = RwSignal::new(None);
    let answer = RwSignal::new(String::new());
    Effect::new(move |_| {
        let Some(result) = ctx.live.with(|l| l.last_result.clone()) else {
            return;
        };
        let Some((id, forwarded, number)) = pending.get_untracked() else {
            return;
        };
        if result.id.as_deref() != Some(id.as_str()) {
            return;
        }
        pending.set(None);
        answer.set(result.message.clone());
        if result.ok {
            known.set(Some((forwarded, number)));
        }
    });
    let send = move |number: Option<String>| {
        let exten = exten.get_untracked();
        if exten.is_empty() {
            return;
        }
        let action = Action::CallForward {
            exten: exten.clone(),
            to: number.clone(),
        };
        pending.set(ctx.act_tracked(action).map(|id| (id, exten, number)));
    };
    let set = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let number = to.get_untracked().trim().to_owned();
        if !number.is_empty() {
            send(Some(number));
        }
    };
    let state = move || {
        let exten = exten.get();
        known.with(|k| match k {
            Some((e, Some(number))) if *e == exten => tr_with("forward.on", &[("number", number)]),
            Some((e, None)) if *e == exten => t("forward.off"),
            _ => String::new(),
        })
    };
    view! {
        <Show when=ctx.may("call_forward")>
            <form class="row forward-picker" data-testid="forward-picker" on:submit=set aria-label=tr("forward.title")>
                <input class="short" data-testid="forward-to" inputmode="tel" placeholder=tr("forward.to") aria-label=tr("forward.to")
                    prop:value=move || to.get() on:input=move |ev| to.set(event_target_value(&ev)) />
                <button type="submit" data-testid="forward-set">{tr("forward.set")}</button>
                <button type="button" data-testid="forward-clear" on:click=move |_| send(None)>{tr("forward.clear")}</button>
                <span class="muted" data-testid="forward-now">{state}</span>
                <span class="muted" data-testid="forward-answer">{move || answer.get()}</span>
            </form>
        </Show>
    }
}
