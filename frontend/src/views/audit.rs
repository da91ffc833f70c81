//! The audit log for admins: who did what, from where, on which server, and what
//! Asterisk answered, newest first, with the CSV export the relay makes. The relay
//! decides who may read it (`GET /api/v1/audit` answers others 403, shown as such).

use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::protocol::AuditPage;

use crate::api::{self, ApiFailure};

/// Records asked for at a time.
const PAGE: usize = 200;

#[component]
pub fn AuditView() -> impl IntoView {
    let page = RwSignal::new(None::<Result<AuditPage, ApiFailure>>);
    let load = move || {
        spawn_local(async move {
            page.set(Some(api::audit(PAGE).await));
        })
    };
    load();
    view! {
        <main class="content">
            <section class="card wide" aria-label="Audit log">
                <div class="row">
                    <h2>"Audit log"</h2>
                    <button class="small" on:click=move |_| load()>"Refresh"</button>
                    <a class="button small" href="api/v1/audit.csv" download="astpanel-audit.csv">"Export CSV"</a>
                </div>
                {move || match page.get() {
                    None => view! { <p class="muted">"Loading…"</p> }.into_any(),
                    Some(Err(failure)) => {
                        view! { <p class="muted" role="alert">{failure.message()}</p> }.into_any()
                    }
                    Some(Ok(page)) => view! { <AuditTable page /> }.into_any(),
                }}
            </section>
        </main>
    }
}

#[component]
fn AuditTable(page: AuditPage) -> impl IntoView {
    let status = page.status;
    let health = match &status.error {
        Some(error) => format!("Writing the log failed: {error}"),
        None => format!("{} records written, {} lost", status.written, status.lost),
    };
    view! {
        <p class="muted" role="status" data-testid="audit-status">{status.storage.clone()}" · "{health}</p>
        <div class="scroll-box">
            <table class="audit" data-testid="audit">
                <thead><tr>
                    <th>"When"</th><th>"Who"</th><th>"From"</th><th>"Server"</th>
                    <th>"Action"</th><th>"Arguments"</th><th>"Answer"</th>
                </tr></thead>
                <tbody>
                    {page.records.into_iter().map(|r| view! {
                        <tr data-testid="audit-record" data-ok=r.ok.to_string()>
                            <td>{r.time}</td>
                            <td>{r.person}{r.role.map(|role| format!(" ({role:?})").to_ascii_lowercase())}</td>
                            <td>{r.client}</td>
                            <td>{r.server}</td>
                            <td>{r.action}</td>
                            <td class="name">{r.arguments.to_string()}</td>
                            <td>{if r.ok { "ok" } else { "refused" }}{(!r.message.is_empty()).then(|| format!(" · {}", r.message))}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}
