//! The audit log's SQLite database: its schema, batched inserts, pruning and pages.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, params};
use shared::action::Role;
use shared::protocol::{AuditRecord, AuditVia};

/// A record on its way to the database: SQLite gives it its id, and its time is
/// stored from the clock value (`record.id` and `record.time` are not written).
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub time: SystemTime,
    /// Its arguments already masked (see [`super::mask`]).
    pub record: AuditRecord,
}

impl Entry {
    /// A record made now.
    pub fn now(record: AuditRecord) -> Entry {
        let time = SystemTime::now();
        Entry {
            time,
            record: AuditRecord {
                time: rfc3339(epoch_ms(time)),
                ..record
            },
        }
    }
}

/// The one table. `AUTOINCREMENT` so that an id is never reused after pruning: ids
/// are the pages' cursor.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time_ms INTEGER NOT NULL,
    person TEXT NOT NULL,
    ami_user TEXT NOT NULL,
    role TEXT,
    client TEXT NOT NULL,
    server TEXT NOT NULL,
    via TEXT NOT NULL,
    action TEXT NOT NULL,
    arguments TEXT NOT NULL,
    ok INTEGER NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_time ON audit (time_ms);
";

/// Opens (creating it if need be) the database at `path`, or one in memory.
pub fn open(path: Option<&Path>) -> rusqlite::Result<Connection> {
    let connection = crate::sqlite::open(path)?;
    prepare(&connection)?;
    Ok(connection)
}

/// Creates the table on a connection opened elsewhere (the tests' full disk).
pub fn prepare(connection: &Connection) -> rusqlite::Result<()> {
    connection.busy_timeout(Duration::from_secs(2))?;
    connection.execute_batch(SCHEMA)
}

/// Inserts `entries` in one transaction: all or none.
pub fn insert(connection: &mut Connection, entries: &[Entry]) -> rusqlite::Result<()> {
    let transaction = connection.transaction()?;
    {
        let mut statement = transaction.prepare_cached(
            "INSERT INTO audit (time_ms, person, ami_user, role, client, server, via, action, arguments, ok, message)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?;
        for Entry { time, record } in entries {
            statement.execute(params![
                epoch_ms(*time),
                record.person,
                record.ami_user,
                record.role.map(role_name),
                record.client,
                record.server,
                via_name(record.via),
                record.action,
                record.arguments.to_string(),
                record.ok,
                record.message,
            ])?;
        }
    }
    transaction.commit()
}

/// Deletes what is older than `retention` and all but the newest `max_records`.
pub fn prune(
    connection: &Connection,
    retention: Duration,
    max_records: u64,
) -> rusqlite::Result<usize> {
    let oldest = epoch_ms(
        SystemTime::now()
            .checked_sub(retention)
            .unwrap_or(UNIX_EPOCH),
    );
    let by_age = connection.execute("DELETE FROM audit WHERE time_ms < ?1", [oldest])?;
    let keep = i64::try_from(max_records).unwrap_or(i64::MAX);
    let by_count = connection.execute(
        "DELETE FROM audit WHERE id <= (SELECT MAX(id) FROM audit) - ?1",
        [keep],
    )?;
    Ok(by_age + by_count)
}

/// At most `limit` records older than the id `before` (all when `None`), newest first.
pub fn page(
    connection: &Connection,
    limit: usize,
    before: Option<i64>,
) -> rusqlite::Result<Vec<AuditRecord>> {
    let mut statement = connection.prepare_cached(
        "SELECT id, time_ms, person, ami_user, role, client, server, via, action, arguments, ok, message
         FROM audit WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = statement.query_map(params![before.unwrap_or(i64::MAX), limit], |row| {
        let role: Option<String> = row.get(4)?;
        let via: String = row.get(7)?;
        let arguments: String = row.get(9)?;
        Ok(AuditRecord {
            id: row.get(0)?,
            time: rfc3339(row.get(1)?),
            person: row.get(2)?,
            ami_user: row.get(3)?,
            role: role.as_deref().and_then(role_of),
            client: row.get(5)?,
            server: row.get(6)?,
            via: via_of(&via),
            action: row.get(8)?,
            // Written by `insert` from a `Value`; a hand-edited row shows as its text.
            arguments: serde_json::from_str(&arguments)
                .unwrap_or(serde_json::Value::String(arguments)),
            ok: row.get(10)?,
            message: row.get(11)?,
        })
    })?;
    rows.collect()
}

fn epoch_ms(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn rfc3339(epoch_ms: i64) -> String {
    let time = UNIX_EPOCH + Duration::from_millis(u64::try_from(epoch_ms).unwrap_or(0));
    humantime::format_rfc3339_millis(time).to_string()
}

/// The role as its JSON name, for the table and the CSV.
pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Agent => "agent",
        Role::Supervisor => "supervisor",
        Role::Admin => "admin",
    }
}

fn role_of(name: &str) -> Option<Role> {
    [Role::Agent, Role::Supervisor, Role::Admin]
        .into_iter()
        .find(|role| role_name(*role) == name)
}

/// The way in as its JSON name, for the table and the CSV.
pub fn via_name(via: AuditVia) -> &'static str {
    match via {
        AuditVia::Panel => "panel",
        AuditVia::Api => "api",
        AuditVia::Ajam => "ajam",
        AuditVia::Ami => "ami",
    }
}

fn via_of(name: &str) -> AuditVia {
    match name {
        "panel" => AuditVia::Panel,
        "ajam" => AuditVia::Ajam,
        "ami" => AuditVia::Ami,
        _ => AuditVia::Api,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(action: &str) -> Entry {
        Entry::now(AuditRecord {
            id: 0,
            time: String::new(),
            person: "alice".into(),
            ami_user: "admin".into(),
            role: Some(Role::Agent),
            client: "10.0.0.7".into(),
            server: "pbx".into(),
            via: AuditVia::Panel,
            action: action.into(),
            arguments: serde_json::json!({"channel": "PJSIP/100-1"}),
            ok: true,
            message: "Channel Hungup".into(),
        })
    }

    #[test]
    fn records_come_back_newest_first_in_pages() {
        let mut db = open(None).expect("memory db");
        let entries: Vec<Entry> = (0..5).map(|i| entry(&format!("a{i}"))).collect();
        insert(&mut db, &entries).expect("insert");
        let first = page(&db, 2, None).expect("page");
        let names: Vec<&str> = first.iter().map(|r| r.action.as_str()).collect();
        assert_eq!(names, ["a4", "a3"]);
        let next = page(&db, 10, Some(first[1].id)).expect("page");
        let names: Vec<&str> = next.iter().map(|r| r.action.as_str()).collect();
        assert_eq!(names, ["a2", "a1", "a0"]);
        let record = &next[0];
        assert_eq!(
            (record.role, record.client.as_str(), record.via),
            (Some(Role::Agent), "10.0.0.7", AuditVia::Panel)
        );
        assert_eq!(record.arguments["channel"], "PJSIP/100-1");
        assert!(record.time.ends_with('Z'), "{}", record.time);
    }

    #[test]
    fn pruning_keeps_the_newest_within_the_retention() {
        let mut db = open(None).expect("memory db");
        let mut old = entry("old");
        old.time = SystemTime::now() - Duration::from_secs(3 * 86_400);
        let recent: Vec<Entry> = (0..4).map(|i| entry(&format!("r{i}"))).collect();
        insert(&mut db, &[old]).expect("insert");
        insert(&mut db, &recent).expect("insert");
        assert_eq!(
            prune(&db, Duration::from_secs(86_400), 3).expect("prune"),
            2
        );
        let names: Vec<String> = page(&db, 10, None)
            .expect("page")
            .into_iter()
            .map(|r| r.action)
            .collect();
        assert_eq!(names, ["r3", "r2", "r1"]);
    }
}
