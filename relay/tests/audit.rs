//! The audit log over real sockets against pbxsim: actions by the API, the socket and
//! AJAM, and logins, land in the SQLite file with their secrets masked; the CSV export
//! says the same as the JSON; only admins read either; a database that cannot be
//! written does not stop the relay and is reported.

mod relay_support;

use std::time::{Duration, Instant};

use relay::audit::AuditConfig;
use relay_support::{PATIENCE, Pbx, Relay, relay_user, server};
use serde_json::{Value, json};
use shared::action::Role;

/// What no record, JSON or CSV, may contain.
const SECRETS: [&str; 3] = ["admin-secret", "hunter2", "wrong-guess"];

fn audit_at(path: std::path::PathBuf) -> AuditConfig {
    AuditConfig {
        path: Some(path),
        ..AuditConfig::default()
    }
}

async fn get(relay: &Relay, path: &str, token: &str) -> (u16, String) {
    let response = relay
        .http()
        .get(format!("{}{path}", relay.base))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a body"))
}

/// The audit page once it holds at least `count` records.
async fn audit_with(relay: &Relay, token: &str, count: usize) -> Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (status, text) = get(relay, "/api/v1/audit?limit=100", token).await;
        assert_eq!(status, 200, "{text}");
        let page: Value = serde_json::from_str(&text).expect("JSON");
        let records = page["records"].as_array().map_or(0, Vec::len);
        if records >= count {
            return page;
        }
        assert!(Instant::now() < deadline, "only {records} records: {page}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One rawman request on the panel's listener; the body and the session cookie.
async fn rawman(relay: &Relay, query: &str, cookie: Option<&str>) -> (String, Option<String>) {
    let mut request = relay
        .http()
        .get(format!("{}/asterisk/rawman?{query}", relay.base));
    if let Some(cookie) = cookie {
        request = request.header("cookie", format!("mansession_id=\"{cookie}\""));
    }
    let response = request.send().await.expect("rawman");
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("mansession_id=\""))
        .and_then(|v| v.get(..8))
        .map(String::from);
    (response.text().await.expect("text"), cookie)
}

fn find<'a>(records: &'a [Value], action: &str, ok: bool) -> &'a Value {
    records
        .iter()
        .find(|r| r["action"] == action && r["ok"] == ok)
        .unwrap_or_else(|| panic!("no {action} record with ok={ok} in {records:?}"))
}

#[tokio::test]
async fn actions_and_logins_are_audited_with_secrets_masked_and_exported_as_csv() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("audit.db");
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let relay = Relay::start(vec![server("pbx", &pbx)], |c| {
        c.audit = audit_at(db.clone());
    })
    .await;

    // A failed login, a raw action with secrets over the API, an action on the socket.
    assert_eq!(
        relay
            .login("pbx", "agent", "wrong-guess")
            .await
            .unwrap_err()
            .0,
        401
    );
    let admin = relay.login("pbx", "admin", "admin-secret").await.unwrap();
    let raw = relay
        .act(
            &admin,
            json!({"server": "pbx", "action": "ami", "headers": {
                "Action": "UserEvent", "UserEvent": "Audit", "Secret": "hunter2",
                "Variable": ["DURATION=1", "DB_PASSWORD=hunter2"],
            }}),
        )
        .await;
    assert_eq!(raw["ok"], true, "{raw}");
    let mut socket = relay.socket(&admin).await;
    socket.next_of("snapshot").await;
    socket
        .send(json!({"type": "action", "id": "h1", "server": "pbx", "action": "hangup", "channel": "PJSIP/none-0001"}))
        .await;
    let hangup = socket.next_of("action_result").await;
    // AJAM: a login and a Setvar of a secret.
    let (answer, cookie) = rawman(
        &relay,
        "action=login&username=admin&secret=admin-secret",
        None,
    )
    .await;
    assert!(answer.contains("Authentication accepted"), "{answer}");
    let cookie = cookie.expect("an AJAM session");
    let (answer, _) = rawman(
        &relay,
        "action=Setvar&Variable=SIP_PASSWORD&Value=hunter2",
        Some(&cookie),
    )
    .await;
    assert!(answer.starts_with("Response: "), "{answer}");

    let page = audit_with(&relay, &admin, 6).await;
    let text = page.to_string();
    for secret in SECRETS {
        assert!(!text.contains(secret), "{secret} in the audit: {text}");
    }
    let records = page["records"].as_array().expect("records");
    let failed = find(records, "login", false);
    assert_eq!(
        (&failed["person"], &failed["via"], &failed["client"]),
        (&json!("agent"), &json!("api"), &json!("127.0.0.1"))
    );
    assert_eq!(failed["message"], "Authentication failed");
    let user_event = find(records, "ami", true);
    assert_eq!(
        (
            &user_event["person"],
            &user_event["server"],
            &user_event["role"]
        ),
        (&json!("admin"), &json!("pbx"), &Value::Null)
    );
    assert_eq!(
        user_event["arguments"]["Variable"],
        json!(["DURATION=1", "DB_PASSWORD=********"])
    );
    assert_eq!(user_event["arguments"]["Secret"], "********");
    let socket_hangup = find(records, "hangup", false);
    assert_eq!(socket_hangup["via"], "panel");
    assert_eq!(socket_hangup["message"], hangup["message"]);
    assert_eq!(
        socket_hangup["arguments"],
        json!({"channel": "PJSIP/none-0001"})
    );
    let setvar = find(records, "Setvar", answer.starts_with("Response: Success"));
    assert_eq!(
        (&setvar["via"], &setvar["arguments"]),
        (
            &json!("ajam"),
            &json!({"Variable": "SIP_PASSWORD", "Value": "********"})
        )
    );
    let ids: Vec<i64> = records.iter().filter_map(|r| r["id"].as_i64()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");

    // Paging: `before` the second newest gives the rest.
    let (_, older) = get(
        &relay,
        &format!("/api/v1/audit?limit=100&before={}", ids[1]),
        &admin,
    )
    .await;
    let older: Value = serde_json::from_str(&older).expect("JSON");
    assert_eq!(
        older["records"].as_array().map(Vec::len),
        Some(ids.len() - 2)
    );
    assert_eq!(older["records"][0]["id"], ids[2]);

    // The CSV export is the same records.
    let (status, csv_text) = get(&relay, "/api/v1/audit.csv?limit=100", &admin).await;
    assert_eq!(status, 200, "{csv_text}");
    for secret in SECRETS {
        assert!(!csv_text.contains(secret), "{secret} in the CSV");
    }
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("a CSV row")).collect();
    assert!(rows.len() >= records.len(), "{csv_text}");
    for (row, record) in rows.iter().rev().zip(records.iter().rev()) {
        assert_eq!(row[0].parse::<i64>().ok(), record["id"].as_i64());
        assert_eq!(Some(&row[1]), record["time"].as_str());
        assert_eq!(Some(&row[2]), record["person"].as_str());
        assert_eq!(Some(&row[8]), record["action"].as_str());
        let arguments: Value = serde_json::from_str(&row[9]).expect("arguments as JSON");
        assert_eq!(arguments, record["arguments"]);
        assert_eq!(
            &row[10],
            if record["ok"] == true {
                "true"
            } else {
                "false"
            }
        );
    }

    // The records are in the file, for whoever backs it up.
    relay.stop().await;
    let file = rusqlite::Connection::open(&db).expect("the audit file");
    let stored: i64 = file
        .query_row("SELECT COUNT(*) FROM audit", [], |row| row.get(0))
        .expect("count");
    assert!(stored >= 6, "{stored}");
}

#[tokio::test]
async fn only_admins_read_the_audit_log() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let relay = Relay::start(vec![server("pbx", &pbx)], |c| {
        c.audit = audit_at(dir.path().join("audit.db"));
        // root (admin) and alice (agent), both on pbxsim's `admin` AMI account.
        c.users = vec![
            relay_user("root", Role::Admin, "102"),
            relay_user("alice", Role::Agent, "100"),
        ];
        // Argon2 is slow in a debug build: the shared session must outlast a login.
        c.linger = Duration::from_secs(30);
    })
    .await;
    let agent = relay.login("pbx", "agent", "agent-secret").await.unwrap();
    let alice = relay.login("pbx", "alice", "alice-password").await.unwrap();
    let root = relay.login("pbx", "root", "root-password").await.unwrap();
    for (who, token) in [("agent", &agent), ("alice", &alice)] {
        for path in ["/api/v1/audit", "/api/v1/audit.csv"] {
            let (status, body) = get(&relay, path, token).await;
            assert_eq!(status, 403, "{who} {path}: {body}");
        }
    }
    let (status, _) = get(&relay, "/api/v1/audit", "not-a-token").await;
    assert_eq!(status, 401);
    // root's own login is in it, as the relay account with its role.
    let page = audit_with(&relay, &root, 3).await;
    let records = page["records"].as_array().expect("records");
    let login = records
        .iter()
        .find(|r| r["person"] == "root")
        .expect("root's login");
    assert_eq!(
        (&login["action"], &login["role"], &login["ami_user"]),
        (&json!("login"), &json!("admin"), &json!("admin"))
    );
}

#[tokio::test]
async fn a_database_that_cannot_be_written_is_reported_and_the_relay_runs_on() {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let relay = Relay::start(vec![server("pbx", &pbx)], |c| {
        // Under a regular file: no database can be made there, whoever runs the tests.
        c.audit = audit_at(file.path().join("audit.db"));
    })
    .await;
    let admin = relay.login("pbx", "admin", "admin-secret").await.unwrap();
    let result = relay
        .act(
            &admin,
            json!({"server": "pbx", "action": "hangup", "channel": "PJSIP/none-0001"}),
        )
        .await;
    assert_eq!(result["ok"], false, "{result}");
    let (status, body) = get(&relay, "/api/v1/audit", &admin).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("audit database"), "{body}");
    // The login and the action were counted as lost once the writer tried them.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let metrics = relay.get_text("/metrics").await;
        if metrics.contains("astpanel_audit_records_total{outcome=\"failed\"} 2") {
            break;
        }
        assert!(Instant::now() < deadline, "{metrics}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(relay.state(&admin).await["servers"][0]["name"], "pbx");
}
