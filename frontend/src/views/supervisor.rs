//! The supervisor view: every extension, every call grouped by bridge, parked calls
//! and queues, with the actions the account may use. Strings from the PBX are only
//! ever shown as text.

use leptos::prelude::*;
use shared::action::Action;

use crate::context::{Ctx, my_extension};
use crate::format::duration;
use crate::i18n::tr;
use crate::parts::calls::Calls;
use crate::parts::conferences::Conferences;
use crate::parts::extensions::Extensions;
use crate::parts::queues::Queues;

#[component]
pub fn Supervisor() -> impl IntoView {
    let mine = my_extension();
    view! {
        <main class="content supervisor">
            <section class="card wide" aria-label=tr("supervisor.extensions")>
                <Extensions mine />
            </section>
            <section class="card wide" aria-label=tr("supervisor.calls")>
                <h2>{tr("supervisor.calls")}</h2>
                <Calls mine />
            </section>
            <section class="card" aria-label=tr("supervisor.parked_calls")>
                <h2>{tr("supervisor.parked")}</h2>
                <Parked mine />
            </section>
            <Queues />
            <Conferences />
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
        <Show when=move || parked().is_empty()><p class="muted">{tr("supervisor.nobody_parked")}</p></Show>
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
                                }>{tr("supervisor.pick_up")}</button>
                            </Show>
                        }
                    }
                </li>
            </For>
        </ul>
    }
}
