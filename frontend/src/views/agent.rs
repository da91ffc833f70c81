//! The agent view: my extension, my calls with their actions, a dial pad, my queues.

use leptos::prelude::*;
use shared::action::Action;
use shared::model::Channel;

use crate::context::{Ctx, my_extension};
use crate::format::{channel_state, duration, extension_state, state_label};
use crate::i18n::tr;
use crate::parts::queues::Queues;
use crate::selection::Selection;

#[component]
pub fn Agent() -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let mine = my_extension();
    // A relay account comes with its extension: that one, and not editable, since the
    // relay lets an agent act on its own phone's calls only.
    let assigned = move || {
        ctx.live
            .with(|l| l.hello.as_ref().and_then(|h| h.extension.clone()))
    };
    Effect::new(move |_| {
        if let Some(extension) = assigned() {
            mine.set(extension);
        }
    });
    let number = RwSignal::new(String::new());
    let my_state = move || {
        let exten = mine.get();
        ctx.live.with(|l| {
            l.model
                .extensions
                .values()
                .find(|e| e.exten == exten)
                .map(|e| extension_state(e.status, false))
                .unwrap_or("unknown")
        })
    };
    let calls = move || {
        let exten = mine.get();
        ctx.live
            .with(|l| l.model.channels_of(&exten).cloned().collect::<Vec<_>>())
    };
    let dial = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (from, to) = (mine.get_untracked(), number.get_untracked());
        if !from.is_empty() && !to.is_empty() {
            ctx.act(Action::Originate {
                from,
                to,
                context: None,
                caller_id: None,
            });
        }
    };
    view! {
        <main class="content agent">
            <section class="card" aria-label=tr("agent.phone")>
                <h2>{tr("agent.phone")}</h2>
                <label>{tr("agent.extension")}" "
                    <input class="short" aria-label=tr("agent.my_extension") prop:readonly=move || assigned().is_some() prop:value=move || mine.get() on:input=move |ev| mine.set(event_target_value(&ev)) />
                </label>
                <p class="big-state" data-testid="my-state" data-state=my_state>{move || state_label(my_state())}</p>
                <Show when=ctx.may("originate")>
                    <form class="row" on:submit=dial aria-label=tr("agent.dial_form")>
                        <input type="tel" data-testid="dial-number" placeholder=tr("agent.number") aria-label=tr("agent.number_to_dial") prop:value=move || number.get() on:input=move |ev| number.set(event_target_value(&ev)) />
                        <button type="submit">{tr("agent.dial")}</button>
                    </form>
                </Show>
            </section>
            <section class="card wide" aria-label=tr("agent.calls")>
                <h2>{tr("agent.calls")}</h2>
                <Show when=move || calls().is_empty()><p class="muted">{tr("agent.no_call")}</p></Show>
                <ul class="channels">
                    <For each=calls key=|c| (c.uniqueid.clone(), c.state, c.connected_num.clone(), c.on_hold) let:channel>
                        <MyCall channel />
                    </For>
                </ul>
            </section>
            <Queues />
        </main>
    }
}

#[component]
fn MyCall(channel: Channel) -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let target = RwSignal::new(String::new());
    let name = StoredValue::new(channel.channel.clone());
    let since = channel.started_ms;
    let with_target = move |make: fn(String, String) -> Action| {
        move |_| {
            let exten = target.get_untracked();
            if !exten.is_empty() {
                ctx.act(make(name.get_value(), exten));
            }
        }
    };
    let plain = move |make: fn(String) -> Action| move |_| ctx.act(make(name.get_value()));
    let other = if channel.connected_name.is_empty() {
        channel.connected_num.clone()
    } else {
        format!("{} <{}>", channel.connected_name, channel.connected_num)
    };
    let selection = Selection::get();
    let selected = move || selection.is_some_and(|s| name.with_value(|n| s.is_channel(n)));
    let pick = move |_| {
        if let Some(selection) = selection {
            selection.channel.set(Some(name.get_value()));
        }
    };
    view! {
        <li class="channel mine" data-testid="my-call" data-channel=channel.channel.clone()
            class:selected=selected data-selected=move || selected().to_string() on:click=pick>
            <span class="caller">{other}</span>
            <span class="state">{let desc = channel.state_desc.clone(); move || channel_state(&desc)}</span>
            <span class="duration">{move || duration(ctx.now.get(), since)}</span>
            <span class="actions">
                <Show when=ctx.may("hangup")><button class="danger" on:click=plain(|c| Action::Hangup { channel: c })>{tr("call.hangup")}</button></Show>
                <Show when=ctx.may("park")><button on:click=plain(|c| Action::Park { channel: c })>{tr("call.park")}</button></Show>
                <input class="short" data-testid="transfer-to" placeholder=tr("call.extension") aria-label=tr("call.transfer_to") prop:value=move || target.get() on:input=move |ev| target.set(event_target_value(&ev)) />
                <Show when=ctx.may("redirect")><button on:click=with_target(|c, e| Action::Redirect { channel: c, exten: e, context: None })>{tr("call.transfer")}</button></Show>
                <Show when=ctx.may("atxfer")>
                    <button on:click=with_target(|c, e| Action::Atxfer { channel: c, exten: e, context: None })>{tr("call.consult")}</button>
                    <button on:click=plain(|c| Action::AtxferComplete { channel: c })>{tr("call.complete")}</button>
                    <button on:click=plain(|c| Action::AtxferCancel { channel: c })>{tr("call.cancel")}</button>
                </Show>
            </span>
        </li>
    }
}
