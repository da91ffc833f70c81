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

    /// The router over a history holding `calls`, with tokens of `admin` and of agent
    /// `alice` (extension 1001).
    mod routes {
        use axum::Router;
        use axum::body::{Body, to_bytes};
        use axum::http::Request;
        use shared::action::Role;
        use tokio_util::sync::CancellationToken;
        use tower::ServiceExt;

        use super::*;
        use crate::service::history::MAX_LIMIT;
        use crate::testing;

        fn call(n: usize, from: &str, to: &str, disposition: &str) -> testing::HistoryCallRecord {
            testing::history_call(n, from, to, disposition)
        }

        struct App {
            router: Router,
            admin: String,
            alice: String,
            _pbx: testkit::Pbx,
        }

        async fn app(calls: Vec<testing::HistoryCallRecord>) -> App {
            let history = testing::history_of(calls).await;
            let alice = testing::relay_user("alice", Role::Agent, "1001");
            let (service, pbx) = testing::service_with(history, vec![alice]).await;
            let admin = testing::admin(&service).await;
            let admin = service.issue_token(&admin).await.expect("a token");
            let alice = service
                .login(testing::SERVER, "alice", "alice-password", testing::CALLER)
                .await
                .unwrap_or_else(|error| panic!("alice's login: {error}"));
            let alice = service.issue_token(&alice).await.expect("a token");
            let state = testing::app_state(service, CancellationToken::new());
            App {
                router: crate::web::router(state),
                admin,
                alice,
                _pbx: pbx,
            }
        }

        async fn send(app: &App, request: Request<Body>) -> (StatusCode, String) {
            let response = app.router.clone().oneshot(request).await.expect("answer");
            let status = response.status();
            let body = to_bytes(response.into_body(), usize::MAX)
                .await
                .expect("body");
            (status, String::from_utf8_lossy(&body).into_owned())
        }

        async fn get(app: &App, token: &str, path: &str) -> (StatusCode, String) {
            let request = Request::get(path)
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .expect("a request");
            send(app, request).await
        }

        async fn page(app: &App, token: &str, query: &str) -> HistoryPage {
            let (status, body) = get(app, token, &format!("/api/v1/history?{query}")).await;
            assert_eq!(status, StatusCode::OK, "{query}: {body}");
            serde_json::from_str(&body).expect("a page")
        }

        #[tokio::test]
        async fn limits_at_the_bound_and_before_pages_through_every_call_once() {
            let calls = (1..=MAX_LIMIT + 1)
                .map(|n| call(n, "2000", "200", "ANSWERED"))
                .collect();
            let app = app(calls).await;
            for limit in [MAX_LIMIT - 1, MAX_LIMIT] {
                let got = page(&app, &app.admin, &format!("limit={limit}")).await;
                assert_eq!(got.calls.len(), limit);
            }
            let (status, body) = get(
                &app,
                &app.admin,
                &format!("/api/v1/history?limit={}", MAX_LIMIT + 1),
            )
            .await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert!(body.contains("limit must be 1 to 1000"), "{body}");
            let (status, _) = get(&app, &app.admin, "/api/v1/history?limit=0").await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
            // Newest first, and `before` goes on exactly where the page ended.
            let first = page(&app, &app.admin, &format!("limit={MAX_LIMIT}")).await;
            let ids: Vec<i64> = first.calls.iter().map(|c| c.id).collect();
            assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first");
            let last = *ids.last().expect("a call");
            let rest = page(&app, &app.admin, &format!("limit=10&before={last}")).await;
            assert_eq!(rest.calls.len(), 1);
            assert!(rest.calls[0].id < last);
            let none = page(&app, &app.admin, &format!("before={}", rest.calls[0].id)).await;
            assert!(none.calls.is_empty());
        }

        #[tokio::test]
        async fn an_agent_never_sees_another_phones_call_and_the_badge_clears_when_seen() {
            let app = app(vec![
                call(1, "1001", "200", "ANSWERED"),
                call(2, "7000", "1001", "NO ANSWER"),
                call(3, "1002", "1003", "ANSWERED"),
                call(4, "7001", "1002", "NO ANSWER"),
                call(5, "1001", "201", "BUSY"),
            ])
            .await;
            let alice = page(&app, &app.alice, "").await;
            let froms: Vec<&str> = alice.calls.iter().map(|c| c.from.as_str()).collect();
            assert_eq!(froms, ["1001", "7000", "1001"]);
            // Her own unanswered call out is not missed; the one to her phone is.
            let missed: Vec<bool> = alice.calls.iter().map(|c| c.missed).collect();
            assert_eq!(missed, [false, true, false]);
            assert_eq!(alice.unseen_missed, 1);
            let only_missed = page(&app, &app.alice, "missed=true").await;
            assert_eq!(only_missed.calls.len(), 1);
            assert_eq!(only_missed.calls[0].from, "7000");
            let (status, csv) = get(&app, &app.alice, "/api/v1/history.csv").await;
            assert_eq!(status, StatusCode::OK);
            assert!(!csv.contains("1002") && !csv.contains("7001"), "{csv}");
            let admin = page(&app, &app.admin, "").await;
            assert_eq!(admin.calls.len(), 5);
            assert_eq!(admin.unseen_missed, 3);
            // Alice marks what she has seen: her badge clears, the admin's stays.
            let seen = Request::post("/api/v1/history/seen")
                .header("authorization", format!("Bearer {}", app.alice))
                .header("content-type", "application/json")
                .body(Body::from(format!(r#"{{"id":{}}}"#, alice.calls[0].id)))
                .expect("a request");
            assert_eq!(send(&app, seen).await.0, StatusCode::NO_CONTENT);
            assert_eq!(page(&app, &app.alice, "").await.unseen_missed, 0);
            assert_eq!(page(&app, &app.admin, "").await.unseen_missed, 3);
        }

        #[tokio::test]
        async fn filters_by_day_number_and_disposition_and_refuses_bad_ones() {
            let app = app(vec![
                call(1, "1001", "200", "ANSWERED"),
                call(2, "7000", "1001", "NO ANSWER"),
                call(3, "1002", "1003", "BUSY"),
            ])
            .await;
            let busy = page(&app, &app.admin, "disposition=busy").await;
            assert_eq!(busy.calls.len(), 1);
            assert_eq!(busy.calls[0].from, "1002");
            let number = page(&app, &app.admin, "number=700").await;
            assert_eq!(number.calls.len(), 1);
            // 1796677800 s is 2026-12-07 UTC.
            assert_eq!(
                page(&app, &app.admin, "day=2026-12-07").await.calls.len(),
                3
            );
            assert!(
                page(&app, &app.admin, "day=2026-12-08")
                    .await
                    .calls
                    .is_empty()
            );
            for bad in [
                "day=07-12-2026",
                "disposition=LOST",
                "missed=perhaps",
                "limit=x",
            ] {
                let (status, body) = get(&app, &app.admin, &format!("/api/v1/history?{bad}")).await;
                assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
                assert!(body.starts_with("{\"error\":"), "{bad}: {body}");
            }
        }
    }
}
