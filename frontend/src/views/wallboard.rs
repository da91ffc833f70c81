//! The wallboard: per queue, big numbers readable across a room, and small SVG charts
//! of callers waiting over the last minutes, drawn by the app itself.

use std::collections::{BTreeMap, VecDeque};

use leptos::prelude::*;

use crate::context::Ctx;
use crate::format::duration;
use crate::i18n::tr;
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
    // Sampling stops with the view: the samples are this visit's own.
    let sampling = set_interval_with_handle(sample, std::time::Duration::from_secs(5)).ok();
    on_cleanup(move || {
        if let Some(sampling) = sampling {
            sampling.clear();
        }
    });
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
                    let busy = members.clone().filter(|m| m.is_busy()).count();
                    let free = queue.members.len() - paused - busy;
                    let series = move || history.with(|h| h.get(&name).cloned().unwrap_or_default());
                    view! {
                        <section class="board" data-testid="queue" data-queue=queue.name.clone()>
                            <h2>{queue.name.clone()}</h2>
                            <div class="figures">
                                <Figure label="wallboard.waiting" value=queue.callers.len().to_string() />
                                <Figure label="wallboard.longest_wait" value={
                                    move || longest.map(|since| duration(ctx.now.get(), since)).unwrap_or_else(|| "–".into())
                                } />
                                <Figure label="wallboard.free" value=free.to_string() />
                                <Figure label="wallboard.busy" value=busy.to_string() />
                                <Figure label="wallboard.paused" value=paused.to_string() />
                                <Figure label="wallboard.answered" value=queue.completed.to_string() />
                                <Figure label="wallboard.abandoned" value=queue.abandoned.to_string() />
                                <Figure label="wallboard.service_level" value=percent(queue.service_level_perf) />
                            </div>
                            <Sparkline series />
                        </section>
                    }
                }
            </For>
        </main>
    }
}

/// A big number and what it counts; `label` is a catalogue key.
#[component]
fn Figure(label: &'static str, #[prop(into)] value: Signal<String>) -> impl IntoView {
    view! { <div class="figure"><span class="value">{value}</span><span class="label">{tr(label)}</span></div> }
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
                let x = i as f64 * 300.0 / SAMPLES as f64;
                let y = 40.0 - *v as f64 * 38.0 / top;
                format!("{},{}", one_decimal(x), one_decimal(y))
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    view! {
        <svg class="spark" viewBox="0 0 300 40" role="img" aria-label=tr("wallboard.chart")>
            <polyline points=points fill="none" stroke="currentColor" stroke-width="2" />
        </svg>
    }
}

/// A share in percent as a whole number, `87%`: what `{:.0}` writes (ties to even) of
/// any share Asterisk reports, without Rust's float printer (with [`one_decimal`], that
/// keeps 6.6 KB out of the bundle after brotli).
fn percent(share: f64) -> String {
    format!("{}%", share.round_ties_even() as i64)
}

/// `x` with one decimal, exactly as `{:.1}` writes it: the binary value's own decimal
/// expansion rounded half to even, worked out from its mantissa and exponent. For
/// finite `x` from 0 to below 2^64, as the sparkline's coordinates are.
fn one_decimal(x: f64) -> String {
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1 << 52) - 1);
    let (mantissa, exponent) = match biased {
        0 => (fraction, -1074),
        _ => (fraction | 1 << 52, biased - 1075),
    };
    // x · 10 = scaled · 2^exponent, exactly.
    let scaled = u128::from(mantissa) * 10;
    let tenths = if exponent >= 0 {
        scaled << exponent
    } else {
        let shift = exponent.unsigned_abs();
        if shift >= 128 {
            0
        } else {
            let (q, r) = (scaled >> shift, scaled & ((1 << shift) - 1));
            let half = 1u128 << (shift - 1);
            if r > half || (r == half && q % 2 == 1) {
                q + 1
            } else {
                q
            }
        }
    };
    format!("{}.{}", tenths / 10, tenths % 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn figures_read_as_the_float_printer_writes_them() {
        // Every sparkline point of series up to 60 callers, ties (37.25) and near-ties
        // (37.15, not quite that in binary) included.
        for top in 1..=60u32 {
            for value in 0..=top {
                let y = 40.0 - f64::from(value) * 38.0 / f64::from(top);
                assert_eq!(one_decimal(y), format!("{y:.1}"), "{value} of {top}");
            }
        }
        for i in 0..=SAMPLES {
            let x = i as f64 * 300.0 / SAMPLES as f64;
            assert_eq!(one_decimal(x), format!("{x:.1}"));
        }
        for x in [
            0.0, 0.05, 0.25, 0.35, 0.75, 1.05, 299.95, 5e-324, 1e-300, 1e17,
        ] {
            assert_eq!(one_decimal(x), format!("{x:.1}"), "{x}");
        }
        for share in [0.0, 0.4, 0.5, 1.5, 2.5, 49.99, 87.5, 99.5, 100.0] {
            assert_eq!(percent(share), format!("{share:.0}%"), "{share}");
        }
    }
}
