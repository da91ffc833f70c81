//! The event log: Asterisk's raw events as they arrive, newest first, filterable by
//! event name and by any text, pausable. The relay sends them only while this view is
//! open and not paused (`{"type": "events", "enabled": …}`), so nobody pays for it
//! unused; the page keeps the last [`EVENT_LOG_SIZE`].

use leptos::prelude::*;

use crate::context::Ctx;
use crate::events::{EVENT_LOG_SIZE, EventLog};
use crate::format::lowercase;
use crate::i18n::{t, tr, tr_with};

#[component]
pub fn EventLogView() -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let name = RwSignal::new(String::new());
    let text = RwSignal::new(String::new());
    // What was logged before this visit would show a gap, so each visit starts afresh.
    ctx.log.update(|log| {
        log.clear();
        log.paused = false;
    });
    ctx.subscribe_events(true);
    on_cleanup(move || ctx.subscribe_events(false));
    let paused = move || ctx.log.with(|log| log.paused);
    let toggle = move |_| {
        let pause = !paused();
        ctx.log.update(|log| log.paused = pause);
        ctx.subscribe_events(!pause);
    };
    let shown = move || {
        let (name, text) = (lowercase(name.get().trim()), lowercase(&text.get()));
        ctx.log.with(|log| log.shown(&name, &text))
    };
    let count = move || {
        ctx.log.with(|log| {
            let mut parts = vec![tr_with(
                "events.count",
                &[("count", &log.entries.len()), ("max", &EVENT_LOG_SIZE)],
            )];
            if log.dropped > 0 {
                parts.push(tr_with("events.dropped", &[("dropped", &log.dropped)]));
            }
            if log.paused {
                parts.push(t("events.paused"));
            }
            parts.join(", ")
        })
    };
    view! {
        <main class="content">
            <section class="card wide" aria-label=tr("events.title")>
                <div class="row">
                    <h2>{tr("events.title")}</h2>
                    <input class="filter" type="search" placeholder=tr("events.name_example") aria-label=tr("events.filter_name")
                        data-testid="event-filter-name"
                        prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev)) />
                    <input class="filter" type="search" placeholder=tr("events.text_example") aria-label=tr("events.filter_text")
                        data-testid="event-filter-text"
                        prop:value=move || text.get() on:input=move |ev| text.set(event_target_value(&ev)) />
                    <button data-testid="event-pause" aria-pressed=move || paused().to_string() on:click=toggle>
                        {move || t(if paused() { "events.resume" } else { "events.pause" })}
                    </button>
                    <button class="ghost" on:click=move |_| ctx.log.update(EventLog::clear)>{tr("events.clear")}</button>
                </div>
                <p class="muted" data-testid="event-count" data-paused=move || paused().to_string() role="status">{count}</p>
                <ol class="events" data-testid="event-log" aria-label=tr("events.list")>
                    <For each=shown key=|entry| entry.id let:entry>
                        <li data-testid="event" data-event=entry.name.clone()>
                            <b>{entry.name.clone()}</b>
                            <span class="headers">{entry.text.clone()}</span>
                        </li>
                    </For>
                </ol>
            </section>
        </main>
    }
}
