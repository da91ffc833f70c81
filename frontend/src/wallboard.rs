//! The wallboard: per queue, big numbers readable across a room, and small SVG charts
//! of callers waiting over the last minutes, drawn by the app itself.

use std::collections::{BTreeMap, VecDeque};

use leptos::prelude::*;

use crate::components::{Ctx, duration};
use crate::store::QueueKey;

/// One sample every 5 s, ten minutes of history.
const SAMPLES: usize = 120;

#[component]
pub fn Wallboard() -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let history = RwSignal::new(BTreeMap::<String, VecDeque<u32>>::new());
    let sample = move || {
        let waiting: Vec<(String, u32)> = ctx.live.with_untracked(|l| {
            l.model
                .queues
                .values()
                .map(|q| (q.name.clone(), q.callers.len() as u32))
                .collect()
        });
        history.update(|h| {
            for (name, count) in waiting {
                let series = h.entry(name).or_default();
                series.push_back(count);
                if series.len() > SAMPLES {
                    series.pop_front();
                }
            }
        });
    };
    sample();
    set_interval(sample, std::time::Duration::from_secs(5));
    let queues = move || {
        ctx.live
            .with(|l| l.model.queues.values().cloned().collect::<Vec<_>>())
    };
    view! {
        <main class="wallboard">
            <For each=queues key=|q| QueueKey(q.clone()) let:queue>
                {
                    let name = queue.name.clone();
                    let longest = queue.callers.values().map(|c| c.joined_ms).min();
                    let members = queue.members.values();
                    let paused = members.clone().filter(|m| m.paused).count();
                    let busy = members.clone().filter(|m| !m.paused && (m.in_call || m.status == 2 || m.status == 3 || m.status == 6)).count();
                    let free = queue.members.len() - paused - busy;
                    let series = move || history.with(|h| h.get(&name).cloned().unwrap_or_default());
                    view! {
                        <section class="board" data-testid="queue" data-queue=queue.name.clone()>
                            <h2>{queue.name.clone()}</h2>
                            <div class="figures">
                                <Figure label="waiting" value=queue.callers.len().to_string() />
                                <Figure label="longest wait" value={
                                    move || longest.map(|since| duration(ctx.now.get(), since)).unwrap_or_else(|| "–".into())
                                } />
                                <Figure label="free" value=free.to_string() />
                                <Figure label="busy" value=busy.to_string() />
                                <Figure label="paused" value=paused.to_string() />
                                <Figure label="answered" value=queue.completed.to_string() />
                                <Figure label="abandoned" value=queue.abandoned.to_string() />
                                <Figure label="service level" value=format!("{:.0}%", queue.service_level_perf) />
                            </div>
                            <Sparkline series />
                        </section>
                    }
                }
            </For>
        </main>
    }
}

#[component]
fn Figure(label: &'static str, #[prop(into)] value: Signal<String>) -> impl IntoView {
    view! { <div class="figure"><span class="value">{value}</span><span class="label">{label}</span></div> }
}

/// Callers waiting over time, as an SVG polyline scaled to its own maximum.
#[component]
fn Sparkline(series: impl Fn() -> VecDeque<u32> + Send + Sync + 'static) -> impl IntoView {
    let points = move || {
        let values = series();
        let top = values.iter().copied().max().unwrap_or(0).max(1) as f64;
        values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                format!(
                    "{:.1},{:.1}",
                    i as f64 * 300.0 / SAMPLES as f64,
                    40.0 - *v as f64 * 38.0 / top
                )
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    view! {
        <svg class="spark" viewBox="0 0 300 40" role="img" aria-label="Callers waiting, last ten minutes">
            <polyline points=points fill="none" stroke="currentColor" stroke-width="2" />
        </svg>
    }
}
