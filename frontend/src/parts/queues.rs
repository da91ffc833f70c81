//! The queue cards the agent and the supervisor views both show: members with their
//! state and the pause button, callers waiting with their wait.

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
                <span class="muted">{
                    let (paused, busy, reason) = (m.paused, m.is_busy(), m.paused_reason.clone());
                    move || if paused { tr_with("queues.paused_reason", &[("reason", &reason)]) } else if busy { t("queues.busy") } else { t("queues.ready") }
                }</span>
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
    let (waiting, answered, abandoned) = (queue.callers.len(), queue.completed, queue.abandoned);
    view! {
        <section class="card" data-testid="queue" data-queue=queue.name.clone() aria-label=label>
            <h2>{title}</h2>
            <p class="muted">{move || tr_with("queues.summary", &[("waiting", &waiting), ("answered", &answered), ("abandoned", &abandoned)])}</p>
            <ul class="members">{members}</ul>
            <ol class="callers">{callers}</ol>
        </section>
    }
}
