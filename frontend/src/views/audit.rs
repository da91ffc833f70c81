//! The audit log for admins: who did what, from where, on which server, and what
//! Asterisk answered, newest first, with the CSV export the relay makes. The relay
//! decides who may read it (`GET /api/v1/audit` answers others 403, shown as such).

use leptos::prelude::*;
use leptos::task::spawn_local;
use shared::action::Role;
use shared::protocol::AuditPage;

use crate::api::{self, ApiFailure};
use crate::format::date_time;
use crate::i18n::{t, tr, tr_with};

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
            <section class="card wide" aria-label=tr("audit.title")>
                <div class="row">
                    <h2>{tr("audit.title")}</h2>
                    <button class="small" on:click=move |_| load()>{tr("audit.refresh")}</button>
                    <a class="button small" href="api/v1/audit.csv" download="astpanel-audit.csv">{tr("audit.export")}</a>
                </div>
                {move || match page.get() {
                    None => view! { <p class="muted">{tr("app.loading")}</p> }.into_any(),
                    Some(Err(failure)) => {
                        view! { <p class="muted" role="alert">{failure.message()}</p> }.into_any()
                    }
                    Some(Ok(page)) => view! { <AuditTable page /> }.into_any(),
                }}
            </section>
        </main>
    }
}

/// A role as the table names it, in the panel's language.
fn role_name(role: Role) -> String {
    t(match role {
        Role::Agent => "role.agent",
        Role::Supervisor => "role.supervisor",
        Role::Admin => "role.admin",
    })
}

#[component]
fn AuditTable(page: AuditPage) -> impl IntoView {
    let status = page.status;
    let storage = status.storage.clone();
    let health = move || match &status.error {
        Some(error) => tr_with("audit.failed", &[("error", error)]),
        None => tr_with(
            "audit.health",
            &[("written", &status.written), ("lost", &status.lost)],
        ),
    };
    view! {
        <p class="muted" role="status" data-testid="audit-status">{storage}" · "{health}</p>
        <div class="scroll-box">
            <table class="audit" data-testid="audit">
                <thead><tr>
                    <th>{tr("audit.when")}</th><th>{tr("audit.who")}</th><th>{tr("audit.from")}</th><th>{tr("audit.server")}</th>
                    <th>{tr("audit.action")}</th><th>{tr("audit.arguments")}</th><th>{tr("audit.answer")}</th>
                </tr></thead>
                <tbody>
                    {page.records.into_iter().map(|r| view! {
                        <tr data-testid="audit-record" data-ok=r.ok.to_string()>
                            <td>{let time = r.time; move || date_time(&time)}</td>
                            <td>{r.person}{r.role.map(|role| move || format!(" ({})", role_name(role)))}</td>
                            <td>{r.client}</td>
                            <td>{r.server}</td>
                            <td>{r.action}</td>
                            <td class="name">{r.arguments.to_string()}</td>
                            <td>{tr(if r.ok { "audit.ok" } else { "audit.refused" })}{(!r.message.is_empty()).then(|| format!(" · {}", r.message))}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}
