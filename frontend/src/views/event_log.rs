//! The event log: Asterisk's raw events as they arrive, newest first, filterable by
//! event name and by any text, pausable. The relay sends them only while this view is
//! open and not paused (`{"type": "events", "enabled": …}`), so nobody pays for it
//! unused; the page keeps the last [`EVENT_LOG_SIZE`].

use leptos::prelude::*;

use crate::context::Ctx;
use crate::events::{EVENT_LOG_SIZE, EventLog};
use crate::format::lowercase;

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
            let dropped = if log.dropped > 0 {
                format!(
                    ", {} left out by the relay (this page was too slow)",
                    log.dropped
                )
            } else {
                String::new()
            };
            format!(
                "{} events kept (the last {EVENT_LOG_SIZE}){dropped}{}",
                log.entries.len(),
                if log.paused { ", paused" } else { "" }
            )
        })
    };
    view! {
        <main class="content">
            <section class="card wide" aria-label="Event log">
                <div class="row">
                    <h2>"Event log"</h2>
                    <input class="filter" type="search" placeholder="Event name, e.g. Newstate" aria-label="Filter by event name"
                        data-testid="event-filter-name"
                        prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev)) />
                    <input class="filter" type="search" placeholder="Any text, e.g. PJSIP/1001" aria-label="Filter by text"
                        data-testid="event-filter-text"
                        prop:value=move || text.get() on:input=move |ev| text.set(event_target_value(&ev)) />
                    <button data-testid="event-pause" aria-pressed=move || paused().to_string() on:click=toggle>
                        {move || if paused() { "Resume" } else { "Pause" }}
                    </button>
                    <button class="ghost" on:click=move |_| ctx.log.update(EventLog::clear)>"Clear"</button>
                </div>
                <p class="muted" data-testid="event-count" data-paused=move || paused().to_string() role="status">{count}</p>
                <ol class="events" data-testid="event-log" aria-label="Events, newest first">
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
