//! How the relay opens its SQLite files (the audit log, the call history): one place
//! for the journal settings every store shares.

use std::path::Path;

use rusqlite::Connection;

/// Opens (creating it if need be) the database at `path`, or one in memory.
pub fn open(path: Option<&Path>) -> rusqlite::Result<Connection> {
    match path {
        Some(path) => {
            let connection = Connection::open(path)?;
            // WAL: a write appends, and a reader of a page never waits on it.
            connection.pragma_update(None, "journal_mode", "WAL")?;
            // Durable against a crash of the relay; a power cut may lose the last batch.
            connection.pragma_update(None, "synchronous", "NORMAL")?;
            Ok(connection)
        }
        None => Connection::open_in_memory(),
    }
}
