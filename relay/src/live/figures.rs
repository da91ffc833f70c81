//! The day's queue figures, kept by the relay across Asterisk restarts.
//!
//! Asterisk's queue counters (`Completed`, `Abandoned`, and the count within the service
//! level behind `ServicelevelPerf`) live in app_queue's memory: a restart or a
//! `QueueReset` sets them back to 0 (qpanel issue 113). A [`DayTally`] per queue follows
//! them and adds what Asterisk forgot: when a counter goes down, what the old run
//! counted today is carried; at local midnight the day starts from nothing. With a
//! `login_store` the tallies are saved in its SQLite file ([`DayStore`], table
//! `queue_days`) at every refresh of the counters and every rebuild, so a relay restart
//! keeps the day too; without one they live in memory, and a relay restart starts again
//! from Asterisk's counters as they stand (its counts since its own start or last
//! `QueueReset`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use shared::model::Queue;
use shared::model::figures::{DayFigures, abandon_rate, one_decimal};

/// The counts of one Asterisk run that add up over a day.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Counts {
    completed: u32,
    abandoned: u32,
    /// Completed calls answered within the service level.
    within: u32,
}

impl Counts {
    /// What Asterisk's counters of `queue` say; the count within the service level is
    /// read back from `ServicelevelPerf` (one decimal: exact to past 1,000 calls).
    fn of(queue: &Queue) -> Counts {
        let share = queue.service_level_perf.clamp(0.0, 100.0);
        Counts {
            completed: queue.completed,
            abandoned: queue.abandoned,
            within: (share * f64::from(queue.completed) / 100.0).round() as u32,
        }
    }

    fn plus(self, other: Counts) -> Counts {
        Counts {
            completed: self.completed.saturating_add(other.completed),
            abandoned: self.abandoned.saturating_add(other.abandoned),
            within: self.within.saturating_add(other.within),
        }
    }

    fn minus(self, other: Counts) -> Counts {
        Counts {
            completed: self.completed.saturating_sub(other.completed),
            abandoned: self.abandoned.saturating_sub(other.abandoned),
            within: self.within.saturating_sub(other.within),
        }
    }

    /// Whether Asterisk counted from 0 again since `before`: a count went down.
    fn went_down_from(self, before: Counts) -> bool {
        self.completed < before.completed || self.abandoned < before.abandoned
    }
}

/// One queue's day, over the Asterisk runs within it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DayTally {
    /// The local day (days since the epoch) the tally counts.
    day: i64,
    /// What earlier Asterisk runs counted today.
    carried: Counts,
    /// Asterisk's counts when the day began, if this run began before it.
    start: Counts,
    /// Asterisk's counts when last seen.
    last: Counts,
    /// The averages of the last run that had any, for a run that has none yet.
    hold_s: u32,
    talk_s: u32,
}

impl DayTally {
    /// Asterisk's counters of `queue` seen on local day `day`; the day's figures.
    pub fn observe(&mut self, queue: &Queue, day: i64) -> DayFigures {
        let now = Counts::of(queue);
        if day != self.day {
            // The day starts here: today's counts are what Asterisk adds from now on.
            *self = DayTally {
                day,
                start: self.last,
                last: self.last,
                ..self.clone()
            };
            self.carried = Counts::default();
        }
        if now.went_down_from(self.last) {
            // Asterisk restarted or its statistics were reset: keep what it had counted.
            self.carried = self.carried.plus(self.last.minus(self.start));
            self.start = Counts::default();
        }
        self.last = now;
        if queue.completed > 0 {
            (self.hold_s, self.talk_s) = (queue.holdtime, queue.talktime);
        }
        let day = self.carried.plus(now.minus(self.start));
        DayFigures {
            completed: day.completed,
            abandoned: day.abandoned,
            service_level_pct: if day.completed == 0 {
                0.0
            } else {
                one_decimal(100.0 * f64::from(day.within) / f64::from(day.completed))
            },
            abandon_rate_pct: abandon_rate(day.completed, day.abandoned),
            // Asterisk's averages are exponential ones over the last few calls (the
            // newest weighs a quarter): the latest run's stand for the day.
            avg_hold_s: if queue.completed > 0 || queue.holdtime > 0 {
                queue.holdtime
            } else {
                self.hold_s
            },
            avg_talk_s: if queue.completed > 0 {
                queue.talktime
            } else {
                self.talk_s
            },
        }
    }
}

/// Why the day's tallies cannot be kept in the SQLite file.
#[derive(Debug, thiserror::Error)]
pub enum DayStoreError {
    /// The file cannot be opened, read or written.
    #[error("queue days in {path}: {source}")]
    Sqlite {
        path: String,
        source: rusqlite::Error,
    },
}

/// The tallies of every server's queues in an SQLite file (the login store's), one row
/// per server and queue, the tally as JSON.
pub struct DayStore {
    path: String,
    db: Mutex<rusqlite::Connection>,
}

impl DayStore {
    pub fn open(path: &Path) -> Result<DayStore, DayStoreError> {
        let failed = |source| DayStoreError::Sqlite {
            path: path.display().to_string(),
            source,
        };
        let db = rusqlite::Connection::open(path).map_err(failed)?;
        db.busy_timeout(Duration::from_secs(2)).map_err(failed)?;
        db.execute_batch(
            "CREATE TABLE IF NOT EXISTS queue_days (
                server TEXT NOT NULL, queue TEXT NOT NULL, tally TEXT NOT NULL,
                PRIMARY KEY (server, queue))",
        )
        .map_err(failed)?;
        Ok(DayStore {
            path: path.display().to_string(),
            db: Mutex::new(db),
        })
    }

    fn failed(&self, source: rusqlite::Error) -> DayStoreError {
        DayStoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// `server`'s tallies of local day `day`; those of another day are of no use.
    pub fn load(
        &self,
        server: &str,
        day: i64,
    ) -> Result<BTreeMap<String, DayTally>, DayStoreError> {
        let db = crate::sync::lock(&self.db);
        let mut query = db
            .prepare("SELECT queue, tally FROM queue_days WHERE server = ?1")
            .map_err(|e| self.failed(e))?;
        let rows = query
            .query_map([server], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })
            .map_err(|e| self.failed(e))?;
        let mut tallies = BTreeMap::new();
        for row in rows {
            let (queue, text) = row.map_err(|e| self.failed(e))?;
            // A row this version cannot read is skipped: the day starts again for it.
            if let Ok(tally) = serde_json::from_str::<DayTally>(&text)
                && tally.day == day
            {
                tallies.insert(queue, tally);
            }
        }
        Ok(tallies)
    }

    /// Saves `server`'s tallies, in one transaction.
    pub fn save(
        &self,
        server: &str,
        tallies: &BTreeMap<String, DayTally>,
    ) -> Result<(), DayStoreError> {
        let mut db = crate::sync::lock(&self.db);
        let transaction = db.transaction().map_err(|e| self.failed(e))?;
        for (queue, tally) in tallies {
            let text = serde_json::to_string(tally).unwrap_or_default();
            transaction
                .execute(
                    "INSERT INTO queue_days (server, queue, tally) VALUES (?1, ?2, ?3)
                     ON CONFLICT (server, queue) DO UPDATE SET tally = excluded.tally",
                    (server, queue, text),
                )
                .map_err(|e| self.failed(e))?;
        }
        transaction.commit().map_err(|e| self.failed(e))
    }
}

/// Local days, for the tallies' midnight: days since the epoch in the relay's time zone.
/// The zone's offset comes from the C library through SQLite's `localtime` (the relay
/// links SQLite already; no time-zone database is shipped), asked again every hour, so
/// a change to or from summer time (never at midnight) is followed within the hour.
#[derive(Debug, Default)]
pub struct LocalDays {
    /// The offset from UTC in seconds, and the time (ms) it was asked.
    offset: Option<(i64, i64)>,
}

/// How long a zone offset is used before it is asked again.
const OFFSET_AGE: Duration = Duration::from_secs(3600);

impl LocalDays {
    /// The local day of `now_ms`.
    pub fn day(&mut self, now_ms: i64) -> i64 {
        let fresh = self
            .offset
            .filter(|(_, asked)| now_ms.saturating_sub(*asked) < OFFSET_AGE.as_millis() as i64);
        let offset = match fresh {
            Some((offset, _)) => offset,
            None => {
                let offset = local_offset_s(now_ms / 1000).unwrap_or(0);
                self.offset = Some((offset, now_ms));
                offset
            }
        };
        now_ms
            .saturating_add(offset.saturating_mul(1000))
            .div_euclid(86_400_000)
    }
}

/// The local zone's offset from UTC at `epoch_s`, in seconds; `None` if SQLite cannot
/// say (then days are UTC days, and a WARN says so once per hour at most).
fn local_offset_s(epoch_s: i64) -> Option<i64> {
    let asked = rusqlite::Connection::open_in_memory().and_then(|db| {
        db.query_row(
            "SELECT CAST(strftime('%s', ?1, 'unixepoch', 'localtime') AS INTEGER) - ?1",
            [epoch_s],
            |row| row.get(0),
        )
    });
    match asked {
        Ok(offset) => Some(offset),
        Err(error) => {
            tracing::warn!(%error, "the local time zone is unknown; queue days start at midnight UTC");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(completed: u32, abandoned: u32, perf: f64, hold: u32, talk: u32) -> Queue {
        Queue {
            name: "support".into(),
            completed,
            abandoned,
            service_level_perf: perf,
            holdtime: hold,
            talktime: talk,
            ..Queue::default()
        }
    }

    #[test]
    fn the_day_keeps_what_asterisk_counted_before_it_restarted() {
        let mut tally = DayTally::default();
        let day = 20_000;
        // ami-session-3's figures: 3 completed (1 within the service level), 2 abandoned.
        let before = tally.observe(&queue(3, 2, 33.3, 2, 4), day);
        assert_eq!((before.completed, before.abandoned), (3, 2));
        assert_eq!(before.service_level_pct, 33.3);
        assert_eq!(before.abandon_rate_pct, 40.0);
        // Asterisk restarts: its counters start at 0, the day's do not.
        let restarted = tally.observe(&queue(0, 0, 0.0, 0, 0), day);
        assert_eq!((restarted.completed, restarted.abandoned), (3, 2));
        assert_eq!(restarted.service_level_pct, 33.3);
        assert_eq!(
            (restarted.avg_hold_s, restarted.avg_talk_s),
            (2, 4),
            "the last averages until the new run has its own"
        );
        // One call answered within the service level and one abandoned since.
        let after = tally.observe(&queue(1, 1, 100.0, 0, 9), day);
        assert_eq!((after.completed, after.abandoned), (4, 3));
        assert_eq!(after.service_level_pct, 50.0);
        assert_eq!((after.avg_hold_s, after.avg_talk_s), (0, 9));
        // A QueueReset, the same way, and a second restart.
        tally.observe(&queue(0, 0, 0.0, 0, 0), day);
        let again = tally.observe(&queue(0, 1, 0.0, 0, 0), day);
        assert_eq!((again.completed, again.abandoned), (4, 4));
    }

    #[test]
    fn a_new_day_starts_from_nothing_whatever_asterisk_counted() {
        let mut tally = DayTally::default();
        tally.observe(&queue(5, 1, 20.0, 3, 30), 20_000);
        let midnight = tally.observe(&queue(5, 1, 20.0, 3, 30), 20_001);
        assert_eq!((midnight.completed, midnight.abandoned), (0, 0));
        assert_eq!(midnight.service_level_pct, 0.0);
        // A call within the service level: Asterisk's share moves from 1 of 5 to 2 of 6.
        let next = tally.observe(&queue(6, 1, 33.3, 3, 30), 20_001);
        assert_eq!((next.completed, next.abandoned), (1, 0));
        assert_eq!(next.service_level_pct, 100.0);
        // Then Asterisk restarts the same day: the day keeps its one call.
        let restarted = tally.observe(&queue(0, 0, 0.0, 0, 0), 20_001);
        assert_eq!((restarted.completed, restarted.abandoned), (1, 0));
    }

    #[test]
    fn the_days_tallies_are_read_back_from_the_file_for_the_same_day_only() {
        let dir = std::env::temp_dir().join(format!("astpanel-days-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary folder");
        let path = dir.join("logins.db");
        let _ = std::fs::remove_file(&path);
        let mut tally = DayTally::default();
        tally.observe(&queue(3, 2, 33.3, 2, 4), 20_000);
        tally.observe(&queue(0, 0, 0.0, 0, 0), 20_000);
        let tallies = BTreeMap::from([("support".to_owned(), tally.clone())]);
        DayStore::open(&path)
            .expect("opens")
            .save("main", &tallies)
            .expect("saves");
        // A new relay reads it back: the day goes on where the old one left it.
        let store = DayStore::open(&path).expect("opens again");
        let mut read = store.load("main", 20_000).expect("reads");
        assert_eq!(read.get("support"), Some(&tally));
        let goes_on = read
            .get_mut("support")
            .map(|t| t.observe(&queue(1, 0, 0.0, 5, 5), 20_000));
        assert_eq!(goes_on.map(|d| (d.completed, d.abandoned)), Some((4, 2)));
        assert!(
            store.load("main", 20_001).expect("reads").is_empty(),
            "another day"
        );
        assert!(
            store.load("other", 20_000).expect("reads").is_empty(),
            "another server"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn local_days_change_at_the_zones_midnight() {
        let mut days = LocalDays::default();
        let noon = 1_800_000_000_000 - 1_800_000_000_000 % 86_400_000 + 43_200_000;
        let day = days.day(noon);
        // Whatever the zone (within ±14 h), noon UTC is on the UTC day or next to it.
        assert!((day - noon / 86_400_000).abs() <= 1);
        assert_eq!(days.day(noon + 1000), day, "the same offset, asked once");
    }
}
