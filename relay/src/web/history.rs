//! `GET /api/v1/history` (JSON), `GET /api/v1/history.csv` and `POST
//! /api/v1/history/seen`: the call history as `service::history` lets a login read it.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use shared::protocol::{HistoryCall, HistoryPage, HistorySeen};

use crate::service::history::{HistoryQuery, HistoryRefusal};
use crate::web::api::{Authenticated, Failure};
use crate::web::audit::{csv_download, inert};
use crate::web::state::AppState;

impl From<HistoryRefusal> for Failure {
    fn from(refusal: HistoryRefusal) -> Failure {
        let status = match &refusal {
            HistoryRefusal::BadRequest(_) => StatusCode::BAD_REQUEST,
            HistoryRefusal::Forbidden(_) => StatusCode::FORBIDDEN,
            HistoryRefusal::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Failure(status, refusal.to_string())
    }
}

/// The query string as pairs, read here so that a bad value gets a JSON answer that
/// names it (axum's own rejection is plain text).
type Pairs = Query<Vec<(String, String)>>;

/// `limit`, `before`, `missed`, `day`, `number`, `disposition`; anything else is a 400.
fn query_of(pairs: &[(String, String)]) -> Result<HistoryQuery, Failure> {
    let bad = |words: String| Failure(StatusCode::BAD_REQUEST, words);
    let mut query = HistoryQuery::default();
    for (key, value) in pairs {
        let number = || -> Result<i64, Failure> {
            value
                .trim()
                .parse()
                .map_err(|_| bad(format!("{key} must be a whole number, not {value:?}")))
        };
        match key.as_str() {
            "limit" => {
                query.limit = Some(
                    usize::try_from(number()?)
                        .map_err(|_| bad(format!("limit must be positive, not {value}")))?,
                );
            }
            "before" => query.before = Some(number()?),
            "missed" => {
                query.missed = match value.as_str() {
                    "true" | "1" => true,
                    "false" | "0" | "" => false,
                    _ => return Err(bad(format!("missed must be true or false, not {value:?}"))),
                }
            }
            "day" => query.day = Some(value.clone()),
            "number" => query.number = Some(value.clone()),
            "disposition" => query.disposition = Some(value.clone()),
            _ => return Err(bad(format!("unknown parameter {key:?}"))),
        }
    }
    Ok(query)
}

pub async fn json(
    State(state): State<AppState>,
    auth: Authenticated,
    Query(pairs): Pairs,
) -> Result<Json<HistoryPage>, Failure> {
    let query = query_of(&pairs)?;
    Ok(Json(state.service.history(&auth.login, &query).await?))
}

pub async fn csv(
    State(state): State<AppState>,
    auth: Authenticated,
    Query(pairs): Pairs,
) -> Result<Response, Failure> {
    let query = query_of(&pairs)?;
    let page = state.service.history(&auth.login, &query).await?;
    csv_download(
        to_csv(&page.calls),
        "attachment; filename=\"astpanel-history.csv\"",
    )
}

pub async fn seen(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(seen): Json<HistorySeen>,
) -> Result<StatusCode, Failure> {
    state.service.history_seen(&auth.login, seen.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One CSV line: the JSON call, its names made inert for spreadsheets.
#[derive(serde::Serialize)]
struct Row<'a> {
    id: i64,
    start_ms: i64,
    from: String,
    from_name: String,
    to: String,
    duration_s: i64,
    disposition: &'a str,
    queue: String,
    missed: bool,
}

const HEADER: [&str; 9] = [
    "id",
    "start_ms",
    "from",
    "from_name",
    "to",
    "duration_s",
    "disposition",
    "queue",
    "missed",
];

/// The calls as CSV with a header line. Caller names and numbers come from outside (a
/// caller ID is whatever the caller says): a cell a spreadsheet would take for a formula
/// gets a leading `'`, and the csv crate quotes commas, quotes and line breaks.
fn to_csv(calls: &[HistoryCall]) -> Result<Vec<u8>, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    if calls.is_empty() {
        writer.write_record(HEADER)?;
    }
    for call in calls {
        writer.serialize(Row {
            id: call.id,
            start_ms: call.start_ms,
            from: inert(&call.from),
            from_name: inert(&call.from_name),
            to: inert(&call.to),
            duration_s: call.duration_s,
            disposition: &call.disposition,
            queue: inert(&call.queue),
            missed: call.missed,
        })?;
    }
    writer
        .into_inner()
        .map_err(|error| csv::Error::from(error.into_error()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn names_with_commas_and_quotes_come_back_whole() {
        let call = HistoryCall {
            id: 1,
            start_ms: 2,
            from: "8001".into(),
            from_name: "Smith, \"Bob\"".into(),
            to: "200".into(),
            duration_s: 3,
            disposition: "NO ANSWER".into(),
            queue: "=cmd".into(),
            missed: true,
        };
        let text = String::from_utf8(to_csv(&[call]).expect("csv")).expect("utf-8");
        assert!(text.contains("\"Smith, \"\"Bob\"\"\""), "{text}");
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        assert_eq!(reader.headers().expect("headers"), HEADER.as_slice());
        let row = reader.records().next().expect("a row").expect("parses");
        assert_eq!(&row[3], "Smith, \"Bob\"");
        assert_eq!(&row[6], "NO ANSWER");
        assert_eq!(&row[7], "'=cmd");
        let empty = String::from_utf8(to_csv(&[]).expect("csv")).expect("utf-8");
        assert_eq!(empty.trim_end(), HEADER.join(","));
    }

    #[test]
    fn bad_parameters_are_named() {
        for (list, words) in [
            (vec![("limit", "ten")], "limit must be a whole number"),
            (vec![("limit", "-1")], "limit must be positive"),
            (vec![("before", "x")], "before must be a whole number"),
            (vec![("missed", "maybe")], "missed must be true or false"),
            (vec![("colour", "red")], "unknown parameter"),
        ] {
            let Err(Failure(status, text)) = query_of(&pairs(&list)) else {
                panic!("{list:?} was taken");
            };
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert!(text.contains(words), "{text}");
        }
        let query = query_of(&pairs(&[
            ("limit", "5"),
            ("missed", "true"),
            ("day", "2026-12-07"),
        ]))
        .unwrap_or_else(|_| panic!("a good query"));
        assert_eq!(query.limit, Some(5));
        assert!(query.missed);
    }
}
