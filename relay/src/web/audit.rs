//! `GET /api/v1/audit` (JSON) and `GET /api/v1/audit.csv`, for those
//! `service::policy::may_read_audit` lets read it.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use shared::protocol::{AuditPage, AuditRecord};

use crate::service::{AuditError, role_name, via_name};
use crate::web::api::{Authenticated, Failure};
use crate::web::state::AppState;

/// Records in a page when the request names no `limit`.
const DEFAULT_LIMIT: usize = 100;

/// `?limit=&before=`: how many records, older than which id.
#[derive(Debug, serde::Deserialize)]
pub struct PageQuery {
    limit: Option<usize>,
    before: Option<i64>,
}

async fn admin_page(
    state: &AppState,
    auth: &Authenticated,
    query: &PageQuery,
) -> Result<AuditPage, Failure> {
    let audit = state
        .service
        .audit_log(&auth.login)
        .map_err(|refused| Failure(StatusCode::FORBIDDEN, refused.to_string()))?;
    audit
        .page(query.limit.unwrap_or(DEFAULT_LIMIT), query.before)
        .await
        .map_err(|error| {
            let status = match error {
                AuditError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                AuditError::Read(_) | AuditError::Stopped => StatusCode::INTERNAL_SERVER_ERROR,
            };
            Failure(status, error.to_string())
        })
}

pub async fn json(
    State(state): State<AppState>,
    auth: Authenticated,
    Query(query): Query<PageQuery>,
) -> Result<Json<AuditPage>, Failure> {
    Ok(Json(admin_page(&state, &auth, &query).await?))
}

pub async fn csv(
    State(state): State<AppState>,
    auth: Authenticated,
    Query(query): Query<PageQuery>,
) -> Result<Response, Failure> {
    let page = admin_page(&state, &auth, &query).await?;
    csv_download(
        to_csv(&page.records),
        "attachment; filename=\"astpanel-audit.csv\"",
    )
}

/// A CSV body as a download named by `disposition`, or why it could not be written.
pub(super) fn csv_download(
    body: Result<Vec<u8>, csv::Error>,
    disposition: &'static str,
) -> Result<Response, Failure> {
    let body = body.map_err(|error| {
        Failure(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot write the CSV: {error}"),
        )
    })?;
    Ok((
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8"),
            (CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

/// One CSV line: the JSON record with the arguments as JSON text.
#[derive(serde::Serialize)]
struct Row<'a> {
    id: i64,
    time: &'a str,
    person: String,
    ami_user: String,
    role: &'a str,
    client: &'a str,
    server: &'a str,
    via: &'a str,
    action: String,
    arguments: String,
    ok: bool,
    message: String,
}

/// The records as CSV with a header line. A cell that a spreadsheet would take for a
/// formula (`=`, `+`, `-`, `@`, tab, CR first) gets a leading `'`: names typed at a
/// failed login and Asterisk's words come from outside.
fn to_csv(records: &[AuditRecord]) -> Result<Vec<u8>, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for record in records {
        writer.serialize(Row {
            id: record.id,
            time: &record.time,
            person: inert(&record.person),
            ami_user: inert(&record.ami_user),
            role: record.role.map_or("", role_name),
            client: &record.client,
            server: &record.server,
            via: via_name(record.via),
            action: inert(&record.action),
            arguments: inert(&record.arguments.to_string()),
            ok: record.ok,
            message: inert(&record.message),
        })?;
    }
    if records.is_empty() {
        writer.write_record([
            "id",
            "time",
            "person",
            "ami_user",
            "role",
            "client",
            "server",
            "via",
            "action",
            "arguments",
            "ok",
            "message",
        ])?;
    }
    writer
        .into_inner()
        .map_err(|error| csv::Error::from(error.into_error()))
}

/// A cell a spreadsheet would take for a formula, made text with a leading `'`.
pub(super) fn inert(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::action::Role;
    use shared::protocol::AuditVia;

    #[test]
    fn csv_has_a_header_and_defuses_formulas() {
        let record = AuditRecord {
            id: 3,
            time: "2026-12-03T14:00:00.000Z".into(),
            person: "=HYPERLINK(\"x\")".into(),
            ami_user: "admin".into(),
            role: Some(Role::Admin),
            client: "10.0.0.1".into(),
            server: "pbx".into(),
            via: AuditVia::Ajam,
            action: "Originate".into(),
            arguments: serde_json::json!({"Channel": "Local/100@test, \"quoted\""}),
            ok: false,
            message: "-1 failed".into(),
        };
        let text = String::from_utf8(to_csv(&[record]).expect("csv")).expect("utf-8");
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let headers = reader.headers().expect("headers").clone();
        assert_eq!(&headers[0], "id");
        assert_eq!(&headers[11], "message");
        let row = reader.records().next().expect("a row").expect("parses");
        assert_eq!(&row[2], "'=HYPERLINK(\"x\")");
        assert_eq!(&row[4], "admin");
        assert_eq!(&row[7], "ajam");
        assert_eq!(&row[11], "'-1 failed");
        let arguments: serde_json::Value = serde_json::from_str(&row[9]).expect("JSON");
        assert_eq!(arguments["Channel"], "Local/100@test, \"quoted\"");
        let empty = String::from_utf8(to_csv(&[]).expect("csv")).expect("utf-8");
        assert!(empty.starts_with("id,time,person"), "{empty}");
    }
}
