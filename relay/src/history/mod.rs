//! The call history: every finished call, one row each, from the `Cdr` events of each
//! server's service session (which `live` hands over without putting them through the
//! reducer), kept in SQLite. Who may read which call is not decided here but in
//! `service::history`; this module stores and reads.
//!
//! Writes go through a bounded queue to one task (a full queue loses the record, logged
//! by `live`, rather than holding up the live model); pages are read row by row on a
//! blocking thread, so memory stays flat however many calls are kept. Without a `path`
//! the history lives in an in-memory database capped at [`MEMORY_ROWS`] calls.

pub mod record;
pub mod store;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::Connection;
use shared::ami::Message;
use tokio::sync::mpsc;

pub use record::CallRecord;
pub use store::{Filter, StoredCall};

use crate::sync::lock;

/// `[history]`: where the call history is kept and for how long.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryConfig {
    /// The SQLite file; `None` keeps the history in memory (lost on restart, capped at
    /// [`MEMORY_ROWS`]; logged as a warning at startup).
    pub path: Option<PathBuf>,
    /// Calls that started longer ago than this are deleted.
    pub retention: Duration,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            path: None,
            retention: Duration::from_secs(90 * 86_400),
        }
    }
}

/// The most calls an in-memory history keeps.
pub const MEMORY_ROWS: usize = 100_000;

/// Records waiting for the writer, from every server together.
pub const QUEUE: usize = 4_096;

/// How often calls past their retention are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(3_600);

/// What each server's follower sends: its name and a `Cdr` event.
pub type Sink = mpsc::Sender<(Arc<str>, Message)>;

/// The writer's end of the [`Sink`].
pub type Records = mpsc::Receiver<(Arc<str>, Message)>;

/// Why the history cannot be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The file could not be opened or prepared.
    #[error("cannot open the call history at {path}: {source}")]
    Open {
        path: String,
        source: rusqlite::Error,
    },
    /// SQLite failed.
    #[error("cannot read or write the call history: {0}")]
    Sql(#[from] rusqlite::Error),
    /// The blocking reader was cancelled (the relay is stopping).
    #[error("the call history's reader stopped")]
    Stopped,
}

/// The history, shared by the writer and every reader; cheap to clone.
#[derive(Clone)]
pub struct History {
    shared: Arc<Shared>,
}

struct Shared {
    /// A `std` mutex: held on blocking threads for one batch or one page.
    db: Mutex<Connection>,
    in_memory: bool,
    retention: Duration,
    sink: Sink,
}

impl History {
    /// Opens the database and starts the writer, which takes what [`History::sink`]
    /// receives.
    pub fn start(config: &HistoryConfig) -> Result<History, HistoryError> {
        let (history, records) = History::open(config)?;
        tokio::spawn(history.clone().write(records));
        Ok(history)
    }

    /// The database and the writer's queue, without the writer (the bench drives it).
    pub fn open(config: &HistoryConfig) -> Result<(History, Records), HistoryError> {
        match &config.path {
            Some(path) => tracing::info!(path = %path.display(), "call history"),
            None => tracing::warn!(
                "the call history is kept in memory and lost on restart: set [history] path to keep it"
            ),
        }
        let db = store::open(config.path.as_deref()).map_err(|source| HistoryError::Open {
            path: config
                .path
                .as_ref()
                .map_or_else(|| ":memory:".into(), |p| p.display().to_string()),
            source,
        })?;
        let (sink, records) = mpsc::channel(QUEUE);
        let history = History {
            shared: Arc::new(Shared {
                db: Mutex::new(db),
                in_memory: config.path.is_none(),
                retention: config.retention,
                sink,
            }),
        };
        Ok((history, records))
    }

    /// Where each server's follower sends its `Cdr` events.
    pub fn sink(&self) -> Sink {
        self.shared.sink.clone()
    }

    /// The writer: stores what arrives, in batches, and prunes at once and every
    /// [`PRUNE_EVERY`].
    async fn write(self, mut records: Records) {
        let mut prune = tokio::time::interval(PRUNE_EVERY);
        let mut batch = Vec::with_capacity(256);
        loop {
            tokio::select! {
                received = records.recv_many(&mut batch, 256) => {
                    if received == 0 {
                        break;
                    }
                    let calls: Vec<CallRecord> = batch
                        .drain(..)
                        .filter_map(|(server, message)| CallRecord::from_cdr(&server, &message))
                        .collect();
                    if let Err(error) = self.insert(calls).await {
                        tracing::error!(%error, "calls not stored in the history");
                    }
                }
                _ = prune.tick() => {
                    if let Err(error) = self.prune().await {
                        tracing::warn!(%error, "the call history was not pruned");
                    }
                }
            }
        }
    }

    /// Stores `calls`, each at most once; how many were new.
    pub async fn insert(&self, calls: Vec<CallRecord>) -> Result<usize, HistoryError> {
        if calls.is_empty() {
            return Ok(0);
        }
        self.blocking(move |db, in_memory| {
            let added = store::insert(db, &calls)?;
            if in_memory {
                store::keep_newest(db, MEMORY_ROWS)?;
            }
            Ok(added)
        })
        .await
    }

    /// Deletes the calls past their retention; how many.
    pub async fn prune(&self) -> Result<usize, HistoryError> {
        let retention = i64::try_from(self.shared.retention.as_millis()).unwrap_or(i64::MAX);
        let before = now_ms().saturating_sub(retention);
        self.blocking(move |db, _| Ok(store::prune_before(db, before)?))
            .await
    }

    /// The newest calls that pass `filter` and `keep`, up to `limit`.
    pub async fn page(
        &self,
        filter: Filter,
        limit: usize,
        scan: usize,
        mut keep: impl FnMut(&StoredCall) -> bool + Send + 'static,
    ) -> Result<Vec<StoredCall>, HistoryError> {
        self.blocking(move |db, _| Ok(store::page(db, &filter, limit, scan, &mut keep)?))
            .await
    }

    /// How many calls are stored.
    pub async fn count(&self) -> Result<u64, HistoryError> {
        self.blocking(|db, _| Ok(store::count(db)?)).await
    }

    /// The newest call id `account` has seen.
    pub async fn seen(&self, account: String) -> Result<i64, HistoryError> {
        self.blocking(move |db, _| Ok(store::seen(db, &account)?))
            .await
    }

    /// Marks calls up to `id` seen by `account`.
    pub async fn set_seen(&self, account: String, id: i64) -> Result<(), HistoryError> {
        self.blocking(move |db, _| Ok(store::set_seen(db, &account, id)?))
            .await
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection, bool) -> Result<T, HistoryError> + Send + 'static,
    ) -> Result<T, HistoryError> {
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || {
            let mut db = lock(&shared.db);
            work(&mut db, shared.in_memory)
        })
        .await
        .map_err(|_| HistoryError::Stopped)?
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cdr(uniqueid: &str, channel: &str, disposition: &str) -> Message {
        Message::new()
            .with("Event", "Cdr")
            .with("Privilege", "cdr,all")
            .with("Source", "8004")
            .with("Destination", "231")
            .with("CallerID", "\"CDR NoAnswer\" <8004>")
            .with("Channel", channel)
            .with("DestinationChannel", "")
            .with("LastApplication", "Dial")
            .with("LastData", "Local/230@test,5")
            .with("StartTime", "2026-12-07 21:10:22")
            .with("Duration", "5")
            .with("Disposition", disposition)
            .with("UniqueID", uniqueid)
    }

    #[tokio::test]
    async fn the_writer_stores_one_call_per_caller_channel() {
        let history = History::start(&HistoryConfig::default()).expect("history");
        let server: Arc<str> = "pbx".into();
        let sink = history.sink();
        for message in [
            cdr("1.55", "Local/100@test-0000001b;1", "NO ANSWER"),
            cdr("1.55", "Local/100@test-0000001b;1", "ANSWERED"),
            cdr("1.58", "Local/230@test-0000001c;2", "FAILED"),
        ] {
            sink.try_send((server.clone(), message))
                .expect("room in the queue");
        }
        let mut calls = Vec::new();
        for _ in 0..200 {
            calls = history
                .page(
                    Filter {
                        server: "pbx".into(),
                        ..Filter::default()
                    },
                    10,
                    usize::MAX,
                    |_| true,
                )
                .await
                .expect("a page");
            if !calls.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(calls.len(), 1, "{calls:?}");
        assert_eq!(calls[0].record.disposition, "NO ANSWER");
    }

    #[tokio::test(start_paused = true)]
    async fn calls_past_their_retention_go_within_the_hour() {
        let config = HistoryConfig {
            path: None,
            retention: Duration::from_secs(86_400),
        };
        let history = History::start(&config).expect("history");
        let call = |uniqueid: &str, start_ms: i64| CallRecord {
            server: "pbx".into(),
            uniqueid: uniqueid.into(),
            start_ms,
            from: "8004".into(),
            from_name: String::new(),
            to: "231".into(),
            channel: "Local/100@test-0000001b;1".into(),
            dest_channel: String::new(),
            duration_s: 5,
            disposition: "NO ANSWER".into(),
            queue: String::new(),
        };
        // The writer prunes once as it starts (a relay started after days away), then
        // every PRUNE_EVERY.
        tokio::time::sleep(Duration::from_secs(60)).await;
        let now = now_ms();
        let two_days = 2 * 86_400_000;
        history
            .insert(vec![call("1.1", now - two_days), call("1.2", now)])
            .await
            .expect("stored");
        assert_eq!(history.count().await.expect("count"), 2);
        tokio::time::sleep(PRUNE_EVERY).await;
        let mut left = 2;
        for _ in 0..200 {
            left = history.count().await.expect("count");
            if left == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(left, 1, "the old call was not pruned");
    }
}
