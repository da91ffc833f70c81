//! The call history's SQLite database: its schema, idempotent inserts, pruning, the
//! seen markers, and pages read as a stream (so that a page costs the same memory with
//! a million rows as with ten).

use std::path::Path;
use std::time::Duration;

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::record::CallRecord;

/// `AUTOINCREMENT` so that an id is never reused after pruning: ids are the pages'
/// cursor and the seen markers. `UNIQUE (server, uniqueid)`: a record seen twice (a
/// reconnect, a second `Cdr` of the same channel) is stored once.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    server TEXT NOT NULL,
    uniqueid TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    from_num TEXT NOT NULL,
    from_name TEXT NOT NULL,
    to_num TEXT NOT NULL,
    channel TEXT NOT NULL,
    dest_channel TEXT NOT NULL,
    duration_s INTEGER NOT NULL,
    disposition TEXT NOT NULL,
    queue TEXT NOT NULL,
    UNIQUE (server, uniqueid)
);
CREATE INDEX IF NOT EXISTS calls_start ON calls (start_ms);
-- A page is `server = ? AND id < ? ORDER BY id DESC`: without this index SQLite took the
-- UNIQUE (server, uniqueid) one and sorted every call of the server for each page.
CREATE INDEX IF NOT EXISTS calls_server_id ON calls (server, id);
CREATE TABLE IF NOT EXISTS seen (
    account TEXT PRIMARY KEY,
    last_id INTEGER NOT NULL
);
";

/// A stored call: its record and the id the database gave it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredCall {
    pub id: i64,
    pub record: CallRecord,
}

/// What a page asks of the database (the reader's scope is applied afterwards, row by
/// row, by the caller's `keep`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    pub server: String,
    /// Only ids below this one.
    pub before: Option<i64>,
    /// Only calls that started in `[from, to)`, ms since the epoch.
    pub started: Option<(i64, i64)>,
    /// Only calls from or to a number containing this.
    pub number: Option<String>,
    /// Only calls with this disposition.
    pub disposition: Option<String>,
    /// Only unanswered calls.
    pub unanswered: bool,
    /// Only ids above this one (the unseen count).
    pub after: Option<i64>,
}

/// Opens (creating it if need be) the database at `path`, or one in memory.
pub fn open(path: Option<&Path>) -> rusqlite::Result<Connection> {
    let connection = crate::sqlite::open(path)?;
    connection.busy_timeout(Duration::from_secs(2))?;
    connection.execute_batch(SCHEMA)?;
    Ok(connection)
}

/// Inserts `records` in one transaction, each at most once; how many were new.
pub fn insert(connection: &mut Connection, records: &[CallRecord]) -> rusqlite::Result<usize> {
    let transaction = connection.transaction()?;
    let mut added = 0;
    {
        let mut statement = transaction.prepare_cached(
            "INSERT OR IGNORE INTO calls (server, uniqueid, start_ms, from_num, from_name, \
             to_num, channel, dest_channel, duration_s, disposition, queue) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )?;
        for r in records {
            added += statement.execute(params![
                r.server,
                r.uniqueid,
                r.start_ms,
                r.from,
                r.from_name,
                r.to,
                r.channel,
                r.dest_channel,
                r.duration_s,
                r.disposition,
                r.queue,
            ])?;
        }
    }
    transaction.commit()?;
    Ok(added)
}

/// Deletes the calls that started before `before_ms`; how many.
pub fn prune_before(connection: &Connection, before_ms: i64) -> rusqlite::Result<usize> {
    connection.execute("DELETE FROM calls WHERE start_ms < ?1", params![before_ms])
}

/// Deletes the oldest calls beyond the newest `keep` (the in-memory history's bound).
pub fn keep_newest(connection: &Connection, keep: usize) -> rusqlite::Result<usize> {
    let keep = i64::try_from(keep).unwrap_or(i64::MAX);
    connection.execute(
        "DELETE FROM calls WHERE id <= (SELECT id FROM calls ORDER BY id DESC LIMIT 1 OFFSET ?1)",
        params![keep],
    )
}

/// How many calls are stored.
pub fn count(connection: &Connection) -> rusqlite::Result<u64> {
    connection.query_row("SELECT COUNT(*) FROM calls", [], |row| row.get(0))
}

/// The newest calls that pass `filter` and that `keep` keeps, up to `limit`, newest
/// first, reading at most `scan` rows: rows are read one by one, never all at once.
pub fn page(
    connection: &Connection,
    filter: &Filter,
    limit: usize,
    scan: usize,
    keep: &mut dyn FnMut(&StoredCall) -> bool,
) -> rusqlite::Result<Vec<StoredCall>> {
    let mut sql = String::from(
        "SELECT id, server, uniqueid, start_ms, from_num, from_name, to_num, channel, \
         dest_channel, duration_s, disposition, queue FROM calls WHERE server = ?",
    );
    let mut values: Vec<Value> = vec![Value::Text(filter.server.clone())];
    if let Some(before) = filter.before {
        sql.push_str(" AND id < ?");
        values.push(Value::Integer(before));
    }
    if let Some(after) = filter.after {
        sql.push_str(" AND id > ?");
        values.push(Value::Integer(after));
    }
    if let Some((from, to)) = filter.started {
        sql.push_str(" AND start_ms >= ? AND start_ms < ?");
        values.push(Value::Integer(from));
        values.push(Value::Integer(to));
    }
    if let Some(number) = &filter.number {
        sql.push_str(" AND (instr(from_num, ?) > 0 OR instr(to_num, ?) > 0)");
        values.push(Value::Text(number.clone()));
        values.push(Value::Text(number.clone()));
    }
    if let Some(disposition) = &filter.disposition {
        sql.push_str(" AND disposition = ?");
        values.push(Value::Text(disposition.clone()));
    }
    if filter.unanswered {
        sql.push_str(" AND disposition <> 'ANSWERED'");
    }
    sql.push_str(" ORDER BY id DESC");
    let mut statement = connection.prepare_cached(&sql)?;
    let mut rows = statement.query(rusqlite::params_from_iter(values))?;
    let mut kept = Vec::new();
    let mut read = 0;
    while kept.len() < limit && read < scan {
        let Some(row) = rows.next()? else { break };
        read += 1;
        let call = stored_call(row)?;
        if keep(&call) {
            kept.push(call);
        }
    }
    Ok(kept)
}

fn stored_call(row: &Row<'_>) -> rusqlite::Result<StoredCall> {
    Ok(StoredCall {
        id: row.get(0)?,
        record: CallRecord {
            server: row.get(1)?,
            uniqueid: row.get(2)?,
            start_ms: row.get(3)?,
            from: row.get(4)?,
            from_name: row.get(5)?,
            to: row.get(6)?,
            channel: row.get(7)?,
            dest_channel: row.get(8)?,
            duration_s: row.get(9)?,
            disposition: row.get(10)?,
            queue: row.get(11)?,
        },
    })
}

/// The newest call id `account` has seen, 0 if none.
pub fn seen(connection: &Connection, account: &str) -> rusqlite::Result<i64> {
    Ok(connection
        .query_row(
            "SELECT last_id FROM seen WHERE account = ?1",
            params![account],
            |row| row.get(0),
        )
        .optional()?
        .unwrap_or(0))
}

/// Marks calls up to `id` seen by `account`; a marker never moves back.
pub fn set_seen(connection: &Connection, account: &str, id: i64) -> rusqlite::Result<()> {
    connection.execute(
        "INSERT INTO seen (account, last_id) VALUES (?1, ?2) \
         ON CONFLICT (account) DO UPDATE SET last_id = max(last_id, excluded.last_id)",
        params![account, id],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn record(uniqueid: &str, from: &str, to: &str, disposition: &str) -> CallRecord {
        CallRecord {
            server: "pbx".into(),
            uniqueid: uniqueid.into(),
            start_ms: 1_000,
            from: from.into(),
            from_name: String::new(),
            to: to.into(),
            channel: format!("PJSIP/{from}-00000001"),
            dest_channel: String::new(),
            duration_s: 3,
            disposition: disposition.into(),
            queue: String::new(),
        }
    }

    fn all(connection: &Connection) -> Vec<StoredCall> {
        let filter = Filter {
            server: "pbx".into(),
            ..Filter::default()
        };
        page(connection, &filter, usize::MAX, usize::MAX, &mut |_| true).expect("a page")
    }

    #[test]
    fn a_record_is_stored_once_however_often_it_comes() {
        let mut db = open(None).expect("db");
        let one = record("1.1", "1001", "200", "ANSWERED");
        assert_eq!(
            insert(&mut db, &[one.clone(), one.clone()]).expect("insert"),
            1
        );
        assert_eq!(insert(&mut db, &[one]).expect("insert"), 0);
        assert_eq!(count(&db).expect("count"), 1);
    }

    #[test]
    fn the_history_survives_reopening_its_file() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("history.db");
        {
            let mut db = open(Some(&path)).expect("db");
            insert(&mut db, &[record("1.1", "1001", "200", "BUSY")]).expect("insert");
            set_seen(&db, "alice", 1).expect("seen");
        }
        let mut db = open(Some(&path)).expect("db again");
        let calls = all(&db);
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].record.disposition, "BUSY");
        assert_eq!(seen(&db, "alice").expect("seen"), 1);
        // The same record again after the restart is not a second call.
        insert(&mut db, &[record("1.1", "1001", "200", "BUSY")]).expect("insert");
        assert_eq!(all(&db).len(), 1);
    }

    #[test]
    fn filters_narrow_in_sql_and_pages_go_newest_first() {
        let mut db = open(None).expect("db");
        let mut records = Vec::new();
        for n in 0..10 {
            let mut r = record(&format!("1.{n}"), "1001", &format!("20{n}"), "ANSWERED");
            r.start_ms = n * 86_400_000;
            if n % 3 == 0 {
                r.disposition = "NO ANSWER".into();
            }
            records.push(r);
        }
        insert(&mut db, &records).expect("insert");
        let base = Filter {
            server: "pbx".into(),
            ..Filter::default()
        };
        let ids = |filter: &Filter, limit| -> Vec<i64> {
            page(&db, filter, limit, usize::MAX, &mut |_| true)
                .expect("page")
                .iter()
                .map(|c| c.id)
                .collect()
        };
        assert_eq!(ids(&base, 3), vec![10, 9, 8]);
        let older = Filter {
            before: Some(8),
            ..base.clone()
        };
        assert_eq!(ids(&older, 3), vec![7, 6, 5]);
        let missed = Filter {
            unanswered: true,
            ..base.clone()
        };
        assert_eq!(ids(&missed, 10), vec![10, 7, 4, 1]);
        let day = Filter {
            started: Some((2 * 86_400_000, 3 * 86_400_000)),
            ..base.clone()
        };
        assert_eq!(ids(&day, 10), vec![3]);
        let number = Filter {
            number: Some("205".into()),
            ..base.clone()
        };
        assert_eq!(ids(&number, 10), vec![6]);
        let other_server = Filter {
            server: "other".into(),
            ..base.clone()
        };
        assert!(ids(&other_server, 10).is_empty());
        assert_eq!(prune_before(&db, 5 * 86_400_000).expect("prune"), 5);
        assert_eq!(keep_newest(&db, 2).expect("cap"), 3);
        assert_eq!(ids(&base, 10), vec![10, 9]);
    }

    #[test]
    fn a_seen_marker_never_moves_back() {
        let db = open(None).expect("db");
        assert_eq!(seen(&db, "alice").expect("seen"), 0);
        set_seen(&db, "alice", 7).expect("seen");
        set_seen(&db, "alice", 3).expect("seen");
        assert_eq!(seen(&db, "alice").expect("seen"), 7);
    }
}
