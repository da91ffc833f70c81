//! The queue cards the agent and the supervisor views both show: members with their
//! state, the pause button, the wrap-up left after a call and the penalty (set by those
//! allowed `queue_penalty`), callers waiting with their wait.

use leptos::prelude::*;
use shared::action::Action;
use shared::model::Queue;

use crate::context::Ctx;
use crate::format::duration;
use crate::i18n::{t, tr, tr_with};
use crate::store::QueueKey;

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
    let reasons = move || ctx.reasons();
    let name = queue.name.clone();
    let members = queue.members.values().cloned().map(|m| {
        let reason = RwSignal::new(reasons().first().cloned().unwrap_or_default());
        let interface = m.interface.clone();
        let queue_name = name.clone();
        let penalty_interface = m.interface.clone();
        let penalty_queue = name.clone();
        let set_penalty = move |ev: leptos::ev::Event| {
            if let Ok(penalty) = event_target_value(&ev).trim().parse::<i32>() {
                ctx.act(Action::QueuePenalty {
                    queue: penalty_queue.clone(),
                    interface: penalty_interface.clone(),
                    penalty,
                });
            }
        };
        let wrapup = {
            let m = m.clone();
            move || m.wrapup_left((ctx.now.get() / 1000.0) as i64)
        };
        let penalty = m.penalty;
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
                <span class="muted">{
                    let (paused, busy, reason) = (m.paused, m.is_busy(), m.paused_reason.clone());
                    move || if paused { tr_with("queues.paused_reason", &[("reason", &reason)]) } else if busy { t("queues.busy") } else { t("queues.ready") }
                }</span>
                {move || wrapup().map(|left| view! { <span class="wrapup" data-testid="wrapup">{tr_with("queues.wrapup", &[("seconds", &left)])}</span> })}
                <Show when=ctx.may("queue_penalty") fallback=move || view! { <span class="muted">{tr_with("queues.penalty_is", &[("penalty", &penalty)])}</span> }>
                    <label class="muted">{tr("queues.penalty")}" "
                        <input type="number" min="0" class="short" data-testid="penalty" aria-label=tr("queues.penalty") prop:value=penalty.to_string() on:change=set_penalty.clone() />
                    </label>
                </Show>
                <Show when=ctx.may("queue_pause")>
                    <Show when=move || !m.paused>
                        <select aria-label=tr("queues.pause_reason") on:change=move |ev| reason.set(event_target_value(&ev))>
                            {reasons().into_iter().map(|r| view! { <option value=r.clone()>{r.clone()}</option> }).collect_view()}
                        </select>
                    </Show>
                    <button class="small" on:click=toggle.clone()>{tr(if m.paused { "queues.unpause" } else { "queues.pause" })}</button>
                </Show>
            </li>
        }
    }).collect_view();
    let callers = queue.callers.values().map(|c| {
        let joined = c.joined_ms;
        view! { <li>{c.position}". "{c.caller_id_num.clone()}" "{c.caller_id_name.clone()}" "<span class="muted">{move || duration(ctx.now.get(), joined)}</span></li> }
    }).collect_view();
    let title = {
        let name = queue.name.clone();
        move || tr_with("queues.title", &[("name", &name)])
    };
    let label = title.clone();
    // The day's counts, which the relay keeps across Asterisk restarts.
    let (waiting, answered, abandoned) = (
        queue.callers.len(),
        queue.day.completed,
        queue.day.abandoned,
    );
    view! {
        <section class="card" data-testid="queue" data-queue=queue.name.clone() aria-label=label>
            <h2>{title}</h2>
            <p class="muted">{move || tr_with("queues.summary", &[("waiting", &waiting), ("answered", &answered), ("abandoned", &abandoned)])}</p>
            <ul class="members">{members}</ul>
            <ol class="callers">{callers}</ol>
        </section>
    }
}
