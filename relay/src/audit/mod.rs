//! The audit log: every action a person performs and every login, with who, from
//! where, on which server, the arguments (secrets masked, see [`mask`]), Asterisk's
//! answer and when, in an embedded SQLite database ([`store`]), read by admins at
//! `/api/v1/audit` and `/api/v1/audit.csv` ([`http`]).
//!
//! [`Audit::record`] never waits: it puts the record on a bounded queue and returns; a
//! full queue drops the record and counts it. One writer thread (SQLite is blocking)
//! takes the queue in batches, each one transaction. A write that fails (a full disk,
//! a read-only file, a path that cannot be opened) is logged, counted and shown in
//! [`AuditStatus`]; the relay goes on, and later batches try again.

pub mod mask;
pub mod store;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use serde_json::{Map, Value};
use shared::action::Action;
use shared::ami::Message;
use shared::protocol::{AuditPage, AuditRecord, AuditStatus, AuditVia};

use crate::metrics::{AuditOutcome, Metrics};
use crate::sync::lock;
pub use store::Entry;

/// Records waiting for the writer; past it they are dropped and counted.
const QUEUE: usize = 10_000;
/// A batch is written once it holds this many records, or [`BATCH_WAIT`] after its first.
const BATCH_MAX: usize = 500;
const BATCH_WAIT: Duration = Duration::from_millis(200);
/// How often old records are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// A database in memory holds at most this many records, whatever `max_records` says.
const MEMORY_MAX_RECORDS: u64 = 100_000;
/// The most records one page (JSON or CSV) holds.
pub const PAGE_MAX: usize = 10_000;

/// `[audit]`: where the log is kept and for how long.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditConfig {
    /// The SQLite file; `None` keeps the log in memory (lost on restart; logged as a
    /// warning at startup).
    pub path: Option<PathBuf>,
    /// Records older than this are deleted.
    pub retention: Duration,
    /// Only the newest this many records are kept.
    pub max_records: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            path: None,
            retention: Duration::from_secs(400 * 86_400),
            max_records: 1_000_000,
        }
    }
}

/// Who acts, as far as the request tells: the client's address and the way in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    pub client: IpAddr,
    pub via: AuditVia,
}

/// Why a page of the log cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The database could not be opened: the status says why; fix the path or the disk.
    #[error("the audit database is not available: {0}")]
    Unavailable(String),
    /// SQLite failed to read.
    #[error("cannot read the audit database: {0}")]
    Read(#[from] rusqlite::Error),
    /// The blocking reader was cancelled (the relay is stopping).
    #[error("the audit reader stopped")]
    Stopped,
}

/// The handle every way in records through; cheap to clone.
#[derive(Clone)]
pub struct Audit {
    sender: SyncSender<Entry>,
    shared: Arc<Shared>,
}

/// What the writer thread and the readers share.
struct Shared {
    /// A `std` mutex: nothing awaits under it, and both the writer thread and the
    /// readers (on blocking threads) hold it only for one transaction or one page.
    store: Mutex<Store>,
    metrics: Metrics,
    config: AuditConfig,
    written: AtomicU64,
    lost: AtomicU64,
}

struct Store {
    connection: Option<Connection>,
    /// Why the last open or write failed; `None` once one succeeds.
    error: Option<String>,
}

impl Audit {
    /// Opens the database and starts the writer. Never fails: a database that cannot
    /// be opened is reported (logged, in the status) and tried again at every batch.
    pub fn start(config: AuditConfig, metrics: Metrics) -> Audit {
        match &config.path {
            Some(path) => tracing::info!(path = %path.display(), "audit log"),
            None => tracing::warn!(
                "the audit log is kept in memory and lost on restart: set [audit] path to keep it"
            ),
        }
        let opened = store::open(config.path.as_deref());
        Audit::start_with(opened, config, metrics)
    }

    /// [`Audit::start`] over a connection opened by the caller (the tests' full disk).
    fn start_with(
        opened: rusqlite::Result<Connection>,
        config: AuditConfig,
        metrics: Metrics,
    ) -> Audit {
        let store = match opened {
            Ok(connection) => Store {
                connection: Some(connection),
                error: None,
            },
            Err(error) => {
                tracing::error!(path = ?config.path, %error, "cannot open the audit database; the relay runs on and tries again");
                Store {
                    connection: None,
                    error: Some(error.to_string()),
                }
            }
        };
        let shared = Arc::new(Shared {
            store: Mutex::new(store),
            metrics,
            config,
            written: AtomicU64::new(0),
            lost: AtomicU64::new(0),
        });
        let (sender, receiver) = std::sync::mpsc::sync_channel(QUEUE);
        let writer = shared.clone();
        if let Err(error) = std::thread::Builder::new()
            .name("audit-writer".into())
            .spawn(move || write_batches(receiver, &writer))
        {
            // The receiver is gone with the closure: every record now counts as lost.
            tracing::error!(%error, "cannot start the audit writer");
            lock(&shared.store).error = Some(format!("no writer thread: {error}"));
        }
        Audit { sender, shared }
    }

    /// Queues one record; never waits. A full queue drops it (counted, and logged at
    /// the first and every thousandth).
    pub fn record(&self, entry: Entry) {
        match self.sender.try_send(entry) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                let lost = self.shared.lost.fetch_add(1, Ordering::Relaxed) + 1;
                self.shared.metrics.audit_records(AuditOutcome::Dropped, 1);
                if lost == 1 || lost.is_multiple_of(1000) {
                    tracing::warn!(lost, "audit queue full: records dropped");
                }
            }
            Err(TrySendError::Disconnected(_)) => {
                self.shared.lost.fetch_add(1, Ordering::Relaxed);
                self.shared.metrics.audit_records(AuditOutcome::Dropped, 1);
            }
        }
    }

    /// At most `limit` (up to [`PAGE_MAX`]) records older than the id `before`, newest
    /// first, and the status.
    pub async fn page(&self, limit: usize, before: Option<i64>) -> Result<AuditPage, AuditError> {
        let shared = self.shared.clone();
        let limit = limit.min(PAGE_MAX);
        tokio::task::spawn_blocking(move || {
            let store = lock(&shared.store);
            let connection = store
                .connection
                .as_ref()
                .ok_or_else(|| AuditError::Unavailable(store.error.clone().unwrap_or_default()))?;
            let records = store::page(connection, limit, before)?;
            drop(store);
            Ok(AuditPage {
                records,
                status: shared.status(),
            })
        })
        .await
        .map_err(|_| AuditError::Stopped)?
    }

    /// Whether the log is being written, and what was lost.
    pub fn status(&self) -> AuditStatus {
        self.shared.status()
    }
}

impl Shared {
    fn status(&self) -> AuditStatus {
        AuditStatus {
            storage: self
                .config
                .path
                .as_ref()
                .map_or_else(|| ":memory:".to_owned(), |p| p.display().to_string()),
            error: lock(&self.store).error.clone(),
            written: self.written.load(Ordering::Relaxed),
            lost: self.lost.load(Ordering::Relaxed),
        }
    }

    fn max_records(&self) -> u64 {
        match self.config.path {
            Some(_) => self.config.max_records,
            None => self.config.max_records.min(MEMORY_MAX_RECORDS),
        }
    }

    /// Writes one batch in one transaction, opening the database again if it could not
    /// be opened before. A failure loses the batch, which is counted and reported.
    fn write(&self, batch: &[Entry]) {
        let mut store = lock(&self.store);
        if store.connection.is_none() {
            match store::open(self.config.path.as_deref()) {
                Ok(connection) => store.connection = Some(connection),
                Err(error) => return self.failed(&mut store, batch.len(), &error),
            }
        }
        let Some(connection) = store.connection.as_mut() else {
            return;
        };
        match store::insert(connection, batch) {
            Ok(()) => {
                if store.error.take().is_some() {
                    tracing::info!("the audit log is written again");
                }
                let count = batch.len() as u64;
                self.written.fetch_add(count, Ordering::Relaxed);
                self.metrics.audit_records(AuditOutcome::Written, count);
            }
            Err(error) => self.failed(&mut store, batch.len(), &error),
        }
    }

    fn failed(&self, store: &mut Store, count: usize, error: &rusqlite::Error) {
        let message = error.to_string();
        // Logged when it starts or changes, not at every batch of a full disk.
        if store.error.as_deref() != Some(message.as_str()) {
            tracing::error!(error = %message, lost = count, path = ?self.config.path, "cannot write the audit log; the relay runs on");
        }
        store.error = Some(message);
        let count = count as u64;
        self.lost.fetch_add(count, Ordering::Relaxed);
        self.metrics.audit_records(AuditOutcome::Failed, count);
    }

    fn prune(&self) {
        let store = lock(&self.store);
        let Some(connection) = store.connection.as_ref() else {
            return;
        };
        match store::prune(connection, self.config.retention, self.max_records()) {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "old audit records deleted"),
            Err(error) => tracing::warn!(%error, "cannot delete old audit records"),
        }
    }
}

/// The writer thread: batches of up to [`BATCH_MAX`] records or [`BATCH_WAIT`], until
/// every [`Audit`] handle is gone.
fn write_batches(receiver: Receiver<Entry>, shared: &Shared) {
    let mut batch = Vec::with_capacity(BATCH_MAX);
    let mut pruned = Instant::now();
    shared.prune();
    loop {
        match receiver.recv_timeout(PRUNE_EVERY) {
            Ok(entry) => batch.push(entry),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        let deadline = Instant::now() + BATCH_WAIT;
        let mut ended = false;
        while !batch.is_empty() && batch.len() < BATCH_MAX {
            match receiver.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(entry) => batch.push(entry),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => {
                    ended = true;
                    break;
                }
            }
        }
        if !batch.is_empty() {
            shared.write(&batch);
            batch.clear();
        }
        if pruned.elapsed() >= PRUNE_EVERY {
            shared.prune();
            pruned = Instant::now();
        }
        if ended {
            return;
        }
    }
}

/// A panel action's fields as the log keeps them: without the `action` tag (it is the
/// record's `action`), a raw `ami` action as its headers, secrets masked.
pub fn arguments_of(action: &Action) -> Value {
    let value = match action {
        Action::Ami { headers } => serde_json::to_value(headers),
        other => serde_json::to_value(other),
    };
    let mut value = value.unwrap_or(Value::Null);
    if let Value::Object(object) = &mut value
        && !matches!(action, Action::Ami { .. })
    {
        object.remove("action");
    }
    mask::masked(value)
}

/// An AMI action's headers as the log keeps them (AJAM): a repeated header as a list,
/// without `Action` (the record's `action`) and `ActionID`, secrets masked.
pub fn headers_of(action: &Message) -> Value {
    let mut object = Map::new();
    for (key, value) in action.headers() {
        let key = String::from_utf8_lossy(key).into_owned();
        if key.eq_ignore_ascii_case("action") || key.eq_ignore_ascii_case("actionid") {
            continue;
        }
        let value = Value::String(String::from_utf8_lossy(value).into_owned());
        match object.get_mut(&key) {
            Some(Value::Array(values)) => values.push(value),
            Some(first) => *first = Value::Array(vec![first.take(), value]),
            None => {
                object.insert(key, value);
            }
        }
    }
    mask::masked(Value::Object(object))
}

/// A record of now; `arguments` already masked.
pub fn entry(
    caller: Caller,
    who: Who<'_>,
    action: impl Into<String>,
    arguments: Value,
    answer: (bool, &str),
) -> Entry {
    Entry::now(AuditRecord {
        id: 0,
        time: String::new(),
        person: who.person.to_owned(),
        ami_user: who.ami_user.to_owned(),
        role: who.role,
        client: caller.client.to_string(),
        server: who.server.to_owned(),
        via: caller.via,
        action: action.into(),
        arguments,
        ok: answer.0,
        message: answer.1.to_owned(),
    })
}

/// Whom a record is about.
#[derive(Clone, Copy, Debug)]
pub struct Who<'a> {
    pub person: &'a str,
    pub ami_user: &'a str,
    pub role: Option<shared::action::Role>,
    pub server: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::action::HeaderValue;

    fn sample(action: &str) -> Entry {
        entry(
            Caller {
                client: [127, 0, 0, 1].into(),
                via: AuditVia::Api,
            },
            Who {
                person: "root",
                ami_user: "admin",
                role: None,
                server: "pbx",
            },
            action,
            Value::Null,
            (true, "ok"),
        )
    }

    async fn until_status(audit: &Audit, check: impl Fn(&AuditStatus) -> bool) -> AuditStatus {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let status = audit.status();
            if check(&status) || Instant::now() > deadline {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn a_full_disk_is_reported_and_the_log_goes_on_once_there_is_room() {
        let file = tempfile::NamedTempFile::new().expect("temp file");
        let connection = store::open(Some(file.path())).expect("open");
        let pages: i64 = connection
            .query_row("PRAGMA page_count", [], |row| row.get(0))
            .expect("page count");
        // SQLite's own way to make a disk full: no page beyond what is there now.
        connection
            .pragma_update(None, "max_page_count", pages)
            .expect("max_page_count");
        let config = AuditConfig {
            path: Some(file.path().to_owned()),
            ..AuditConfig::default()
        };
        let metrics = Metrics::new();
        let audit = Audit::start_with(Ok(connection), config, metrics.clone());
        let mut big = sample("originate");
        big.record.arguments = Value::String("x".repeat(64 * 1024));
        audit.record(big);
        let status = until_status(&audit, |s| s.error.is_some()).await;
        let error = status.error.expect("the full disk is reported");
        assert!(error.contains("full"), "{error}");
        assert_eq!((status.lost, status.written), (1, 0));
        assert!(
            metrics
                .render()
                .contains("astpanel_audit_records_total{outcome=\"failed\"} 1"),
            "{}",
            metrics.render()
        );
        // Reading still works, and a record that fits is written once there is room.
        lock(&audit.shared.store)
            .connection
            .as_ref()
            .expect("connection")
            .pragma_update(None, "max_page_count", 1_000_000)
            .expect("room again");
        audit.record(sample("hangup"));
        let status = until_status(&audit, |s| s.written == 1).await;
        assert_eq!(status.error, None);
        let page = audit.page(10, None).await.expect("page");
        assert_eq!(page.records.len(), 1);
        assert_eq!(page.records[0].action, "hangup");
    }

    #[tokio::test]
    async fn a_path_that_cannot_be_opened_is_reported_not_fatal() {
        let file = tempfile::NamedTempFile::new().expect("temp file");
        // Under a regular file: no directory there, whoever the tests run as.
        let path = file.path().join("audit.db");
        let audit = Audit::start(
            AuditConfig {
                path: Some(path),
                ..AuditConfig::default()
            },
            Metrics::new(),
        );
        assert!(audit.status().error.is_some());
        audit.record(sample("hangup"));
        let status = until_status(&audit, |s| s.lost == 1).await;
        assert_eq!((status.lost, status.written), (1, 0));
        assert!(matches!(
            audit.page(10, None).await,
            Err(AuditError::Unavailable(_))
        ));
    }

    #[test]
    fn a_full_queue_drops_and_counts_without_waiting() {
        let metrics = Metrics::new();
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        let audit = Audit {
            sender,
            shared: Arc::new(Shared {
                store: Mutex::new(Store {
                    connection: None,
                    error: None,
                }),
                metrics: metrics.clone(),
                config: AuditConfig::default(),
                written: AtomicU64::new(0),
                lost: AtomicU64::new(0),
            }),
        };
        // Nobody takes from the queue: the second and third records find it full.
        for _ in 0..3 {
            audit.record(sample("hangup"));
        }
        assert_eq!(audit.status().lost, 2);
        assert!(
            metrics
                .render()
                .contains("astpanel_audit_records_total{outcome=\"dropped\"} 2")
        );
        drop(receiver);
    }

    #[test]
    fn panel_and_raw_actions_keep_their_fields_without_the_tag() {
        let hangup = Action::Hangup {
            channel: "PJSIP/100-1".into(),
        };
        assert_eq!(
            arguments_of(&hangup),
            serde_json::json!({"channel": "PJSIP/100-1"})
        );
        let raw = Action::Ami {
            headers: [
                ("Action".to_owned(), HeaderValue::One("Login".into())),
                ("Secret".to_owned(), HeaderValue::One("s".into())),
            ]
            .into(),
        };
        assert_eq!(
            arguments_of(&raw),
            serde_json::json!({"Action": "Login", "Secret": mask::MASK})
        );
        let ajam = Message::new()
            .with("Action", "Originate")
            .with("ActionID", "7")
            .with("Channel", "Local/100@test")
            .with("Variable", "A=1")
            .with("Variable", "PASSWORD=x");
        assert_eq!(
            headers_of(&ajam),
            serde_json::json!({"Channel": "Local/100@test", "Variable": ["A=1", format!("PASSWORD={}", mask::MASK)]})
        );
    }
}
