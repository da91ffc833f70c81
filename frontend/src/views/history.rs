//! The call history: the finished calls the relay lets this person read (an agent their
//! own phone's and the calls missed in their queues, a supervisor everyone's), newest
//! first, filtered by day, number, outcome and "missed only", with the CSV export and a
//! call-back button (an `originate` from my extension to the caller). Opening it marks
//! the calls shown seen, which clears the header's badge.

use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::action::Action;
use shared::protocol::{HistoryCall, HistoryPage};

use crate::api::{self, ApiFailure};
use crate::context::{Ctx, MissedCalls};
use crate::format::{clock, date_time_ms};
use crate::i18n::{t, tr, tr_with};

/// Calls asked for at a time.
const PAGE: usize = 200;

/// The dispositions the filter offers, with their catalogue keys.
/// (Asterisk's words, which the filter sends, not text.)
const DISPOSITIONS: [(&str, &str); 5] = [
    ("ANSWERED", "disposition.answered"),
    ("NO ANSWER", "disposition.no_answer"), // not text
    ("BUSY", "disposition.busy"),
    ("FAILED", "disposition.failed"),
    ("CONGESTION", "disposition.congestion"),
];

/// The filters as the API's query string (without `limit` and `before`).
#[derive(Clone, Debug, Default, PartialEq)]
struct Filters {
    day: String,
    number: String,
    disposition: String,
    missed: bool,
}

impl Filters {
    fn query(&self) -> String {
        let mut parts = Vec::new();
        for (key, value) in [
            ("day", &self.day),
            ("number", &self.number),
            ("disposition", &self.disposition),
        ] {
            let value = value.trim();
            if !value.is_empty() {
                parts.push(format!("{key}={}", encode(value)));
            }
        }
        if self.missed {
            parts.push("missed=true".to_owned()); // not text
        }
        parts.join("&")
    }
}

fn encode(value: &str) -> String {
    String::from(js_sys::encode_uri_component(value))
}

#[component]
pub fn HistoryView() -> impl IntoView {
    let ctx = expect_context::<Ctx>();
    let missed_badge = expect_context::<MissedCalls>();
    let filters = RwSignal::new(Filters::default());
    let page = RwSignal::new(None::<Result<HistoryPage, ApiFailure>>);
    let load = move || {
        let query = filters.get_untracked().query();
        spawn_local(async move {
            let answer = api::history(&format!("limit={PAGE}&{query}")).await;
            // What is shown is seen: the badge counts only missed calls after it.
            if let Ok(shown) = &answer
                && let Some(newest) = shown.calls.first()
                && api::history_seen(newest.id).await.is_ok()
            {
                missed_badge.0.set(0);
            }
            page.set(Some(answer));
        })
    };
    load();
    // The next older page, added below what is shown (`before` the last call's id).
    let more = move || {
        let Some(last) = page.with_untracked(|p| {
            p.as_ref()
                .and_then(|p| p.as_ref().ok())
                .and_then(|p| p.calls.last().map(|c| c.id))
        }) else {
            return;
        };
        let query = filters.get_untracked().query();
        spawn_local(async move {
            let older = api::history(&format!("limit={PAGE}&before={last}&{query}")).await;
            match older {
                Ok(older) => page.update(|p| {
                    if let Some(Ok(shown)) = p {
                        shown.calls.extend(older.calls);
                    }
                }),
                Err(failure) => page.set(Some(Err(failure))),
            }
        })
    };
    let has_more = move || {
        page.with(|p| {
            p.as_ref()
                .and_then(|p| p.as_ref().ok())
                .is_some_and(|p| !p.calls.is_empty() && p.calls.len() % PAGE == 0)
        })
    };
    let mine = move || {
        ctx.live
            .with(|l| l.hello.as_ref().and_then(|h| h.extension.clone()))
            .unwrap_or_default()
    };
    let call_back = move |number: String| {
        let from = mine();
        if !from.is_empty() && !number.is_empty() {
            ctx.act(Action::Originate {
                from,
                to: number,
                context: None,
                caller_id: None,
            });
        }
    };
    let csv = move || {
        let query = filters.get().query();
        format!("api/v1/history.csv?limit=1000&{query}") // not text
    };
    let set = move |change: fn(&mut Filters, String)| {
        move |ev: leptos::ev::Event| {
            filters.update(|f| change(f, event_target_value(&ev)));
            load();
        }
    };
    view! {
        <main class="content">
            <section class="card wide" aria-label=tr("history.title")>
                <div class="row">
                    <h2>{tr("history.title")}</h2>
                    <button class="small" on:click=move |_| load()>{tr("history.refresh")}</button>
                    <a class="button small" href=csv download="astpanel-history.csv" data-testid="history-export">{tr("history.export")}</a>
                </div>
                <div class="row filters">
                    <label>{tr("history.day")}
                        <input type="date" data-testid="history-day" on:change=set(|f, v| f.day = v) />
                    </label>
                    <label>{tr("history.number")}
                        <input type="search" data-testid="history-number" on:change=set(|f, v| f.number = v) />
                    </label>
                    <label>{tr("history.disposition")}
                        <select data-testid="history-disposition" on:change=set(|f, v| f.disposition = v)>
                            <option value="">{tr("history.any")}</option>
                            {DISPOSITIONS.map(|(value, key)| view! { <option value=value>{tr(key)}</option> })}
                        </select>
                    </label>
                    <label>
                        <input type="checkbox" data-testid="history-missed"
                            on:change=move |ev| { filters.update(|f| f.missed = event_target_checked(&ev)); load(); } />
                        {tr("history.missed_only")}
                    </label>
                </div>
                {move || match page.get() {
                    None => view! { <p class="muted">{tr("app.loading")}</p> }.into_any(),
                    Some(Err(failure)) => view! { <p class="muted" role="alert">{failure.message()}</p> }.into_any(),
                    Some(Ok(page)) if page.calls.is_empty() => view! { <p class="muted">{tr("history.empty")}</p> }.into_any(),
                    Some(Ok(page)) => view! { <HistoryTable calls=page.calls call_back can_call=Signal::derive(move || !mine().is_empty()) /> }.into_any(),
                }}
                <Show when=has_more>
                    <button class="small" data-testid="history-more" on:click=move |_| more()>{tr("history.more")}</button>
                </Show>
            </section>
        </main>
    }
}

/// A disposition as the table names it, in the panel's language.
fn disposition_name(disposition: &str) -> String {
    DISPOSITIONS
        .iter()
        .find(|(value, _)| *value == disposition)
        .map_or_else(|| disposition.to_owned(), |(_, key)| t(key))
}

#[component]
fn HistoryTable(
    calls: Vec<HistoryCall>,
    call_back: impl Fn(String) + Copy + Send + Sync + 'static,
    can_call: Signal<bool>,
) -> impl IntoView {
    view! {
        <div class="scroll-box">
            <table class="history" data-testid="history">
                <thead><tr>
                    <th>{tr("history.when")}</th><th>{tr("history.from")}</th><th>{tr("history.to")}</th>
                    <th>{tr("history.duration")}</th><th>{tr("history.disposition")}</th><th>{tr("history.queue")}</th><th></th>
                </tr></thead>
                <tbody>
                    {calls.into_iter().map(|c| {
                        let number = c.from.clone();
                        let caller = if c.from_name.is_empty() { c.from.clone() } else { format!("{} <{}>", c.from_name, c.from) };
                        let disposition = c.disposition.clone();
                        let (h, m, s) = (c.duration_s / 3600, c.duration_s / 60 % 60, c.duration_s % 60);
                        view! {
                            <tr data-testid="history-row" data-id=c.id.to_string() data-missed=c.missed.to_string()
                                data-disposition=c.disposition.clone() class:missed=c.missed>
                                <td>{move || date_time_ms(c.start_ms)}</td>
                                <td class="name">{caller}</td>
                                <td>{c.to}</td>
                                <td>{clock(h, m, s)}</td>
                                <td>{move || disposition_name(&disposition)}{c.missed.then_some(move || format!(" · {}", t("history.missed")))}</td>
                                <td>{c.queue}</td>
                                <td>
                                    <button class="small" data-testid="history-call-back" disabled=move || !can_call.get()
                                        title={let number = number.clone(); move || tr_with("history.call_back_title", &[("number", &number)])}
                                        on:click={let number = number.clone(); move |_| call_back(number.clone())}>
                                        {tr("history.call_back")}
                                    </button>
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}
