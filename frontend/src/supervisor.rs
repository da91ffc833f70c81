//! The supervisor view: every extension, every call grouped by bridge, parked calls
//! and queues, with the actions the account may use. Strings from the PBX are only
//! ever shown as text.

use leptos::prelude::*;
use shared::action::Action;
use shared::model::Queue;

use crate::calls::Calls;
use crate::components::{Ctx, duration, my_extension};
use crate::extensions::Extensions;
use crate::store::QueueKey;

#[component]
pub fn Supervisor() -> impl IntoView {
    let mine = my_extension();
    view! {
        <main class="content supervisor">
            <section class="card wide" aria-label="Extensions">
                <Extensions mine />
            </section>
            <section class="card wide" aria-label="Calls">
                <h2>"Calls"</h2>
                <Calls mine />
            </section>
            <section class="card" aria-label="Parked calls">
                <h2>"Parked"</h2>
                <Parked mine />
            </section>
            <Queues />
        </main>
    }
}

#[component]
fn Parked(mine: RwSignal<String>) -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let parked = move || {
        ctx.live
            .with(|l| l.model.parked.values().cloned().collect::<Vec<_>>())
    };
    view! {
        <Show when=move || parked().is_empty()><p class="muted">"Nobody is parked."</p></Show>
        <ul class="parked">
            <For each=parked key=|p| (p.uniqueid.clone(), p.space.clone()) let:p>
                <li data-testid="parked" data-space=p.space.clone()>
                    <b>{p.space.clone()}</b>" "{p.caller_id_num.clone()}" "{p.caller_id_name.clone()}
                    <span class="muted">{let since = p.since_ms; move || duration(ctx.now.get(), since)}</span>
                    {
                        let space = StoredValue::new(p.space.clone());
                        view! {
                            <Show when=ctx.may("pickup")>
                                <button class="small" on:click=move |_| {
                                    let from = mine.get_untracked();
                                    if !from.is_empty() { ctx.act(Action::Pickup { space: space.get_value(), from }); }
                                }>"Pick up"</button>
                            </Show>
                        }
                    }
                </li>
            </For>
        </ul>
    }
}

#[component]
pub fn Queues() -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let queues = move || {
        ctx.live
            .with(|l| l.model.queues.values().cloned().collect::<Vec<_>>())
    };
    view! {
        <For each=queues key=|q| QueueKey(q.clone()) let:queue>
            <QueueCard queue />
        </For>
    }
}

#[component]
fn QueueCard(queue: Queue) -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let reasons = move || {
        ctx.live.with(|l| {
            l.hello
                .as_ref()
                .map(|h| h.pause_reasons.clone())
                .unwrap_or_default()
        })
    };
    let name = queue.name.clone();
    let members = queue.members.values().cloned().map(|m| {
        let reason = RwSignal::new(reasons().first().cloned().unwrap_or_default());
        let interface = m.interface.clone();
        let queue_name = name.clone();
        let toggle = move |_| {
            ctx.act(Action::QueuePause {
                queue: Some(queue_name.clone()),
                interface: interface.clone(),
                paused: !m.paused,
                reason: (!m.paused).then(|| reason.get_untracked()),
            })
        };
        view! {
            <li class="member" data-interface=m.interface.clone() data-paused=m.paused.to_string()>
                <span>{if m.name.is_empty() { m.interface.clone() } else { m.name.clone() }}</span>
                <span class="muted">{if m.paused { format!("paused: {}", m.paused_reason) } else if m.in_call { "in a call".to_owned() } else { "ready".to_owned() }}</span>
                <Show when=ctx.may("queue_pause")>
                    <Show when=move || !m.paused>
                        <select aria-label="Pause reason" on:change=move |ev| reason.set(event_target_value(&ev))>
                            {reasons().into_iter().map(|r| view! { <option value=r.clone()>{r.clone()}</option> }).collect_view()}
                        </select>
                    </Show>
                    <button class="small" on:click=toggle.clone()>{if m.paused { "Unpause" } else { "Pause" }}</button>
                </Show>
            </li>
        }
    }).collect_view();
    let callers = queue.callers.values().map(|c| {
        let joined = c.joined_ms;
        view! { <li>{c.position}". "{c.caller_id_num.clone()}" "{c.caller_id_name.clone()}" "<span class="muted">{move || duration(ctx.now.get(), joined)}</span></li> }
    }).collect_view();
    view! {
        <section class="card" data-testid="queue" data-queue=queue.name.clone() aria-label=format!("Queue {}", queue.name)>
            <h2>"Queue "{queue.name.clone()}</h2>
            <p class="muted">{format!("{} waiting · {} answered · {} abandoned", queue.callers.len(), queue.completed, queue.abandoned)}</p>
            <ul class="members">{members}</ul>
            <ol class="callers">{callers}</ol>
        </section>
    }
}
