//! Asterisk's database (AstDB): the family/key store `DBPut`, `DBGet`, `DBDel` and
//! `DBDelTree` reach, and that dialplans read with `${DB(family/key)}`.

use super::Pbx;

/// The most entries the simulated database holds: a put beyond it fails, as a put
/// Asterisk's SQLite refuses does (`Failed to update entry`).
const MAX_ENTRIES: usize = 10_000;

/// Why a put was refused.
#[derive(Debug, thiserror::Error)]
#[error("the database is full ({MAX_ENTRIES} entries)")]
pub struct DbFull;

impl Pbx {
    /// Sets `family/key` to `value`.
    pub fn db_put(&mut self, family: &str, key: &str, value: &str) -> Result<(), DbFull> {
        let entry = (family.to_owned(), key.to_owned());
        if self.astdb.len() >= MAX_ENTRIES && !self.astdb.contains_key(&entry) {
            return Err(DbFull);
        }
        self.astdb.insert(entry, value.to_owned());
        Ok(())
    }

    /// The value of `family/key`, if set.
    pub fn db_get(&self, family: &str, key: &str) -> Option<&str> {
        self.astdb
            .get(&(family.to_owned(), key.to_owned()))
            .map(String::as_str)
    }

    /// Removes `family/key`; false if it was not there.
    pub fn db_del(&mut self, family: &str, key: &str) -> bool {
        self.astdb
            .remove(&(family.to_owned(), key.to_owned()))
            .is_some()
    }

    /// Removes `family`'s keys, or those under `key/` and `key` itself (astdb's tree
    /// prefix); how many went.
    pub fn db_del_tree(&mut self, family: &str, key: Option<&str>) -> usize {
        let before = self.astdb.len();
        self.astdb.retain(|(f, k), _| {
            let under = match key {
                None => true,
                Some(key) => k == key || k.strip_prefix(key).is_some_and(|r| r.starts_with('/')),
            };
            !(f == family && under)
        });
        before - self.astdb.len()
    }
}
