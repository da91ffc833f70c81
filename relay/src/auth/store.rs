//! Logins that survive a restart of the relay: each token's account, kept in SQLite
//! (`login_store = "FILE"`), so a browser resumes with its token after the relay
//! comes back instead of asking its person to log in again.
//!
//! The store holds nothing that opens a session by itself:
//! - a row is found by a hash of its token, never the token;
//! - an AMI account's own secret, which the token must be able to log in again with,
//!   is sealed (ChaCha20-Poly1305) under a key derived from the token. Only the browser
//!   holding the token can have it opened; the file, a backup or a stolen disk alone
//!   cannot;
//! - a relay account's row holds no secret at all: its AMI secret is read from the
//!   configuration when the token comes back, so removing the `[[user]]` ends its
//!   tokens too.
//!
//! Writes happen at login and logout only, off the async workers. A write that fails
//! (a full disk) is logged and the login goes on in memory: it then lasts until the
//! relay restarts, as without a store.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use crate::sync::lock;

/// Rows kept at most; past it (after the expired ones went) new logins are not saved.
const MAX_ROWS: i64 = 100_000;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS logins (
    id BLOB PRIMARY KEY,
    server TEXT NOT NULL,
    username TEXT NOT NULL,
    person TEXT,
    expires_ms INTEGER NOT NULL,
    sealed_secret BLOB
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS logins_expiry ON logins (expires_ms);
";

/// Why the store cannot be opened; the relay does not start with a store it was told
/// to use and cannot.
#[derive(Debug, thiserror::Error)]
pub enum LoginStoreError {
    #[error("login store {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("login store {path}: {source}")]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What a saved token stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavedLogin {
    pub server: String,
    /// The AMI account.
    pub username: String,
    /// The relay account's name, when the login was one.
    pub person: Option<String>,
    /// The AMI account's own secret, for a login with it; `None` for a relay account.
    pub secret: Option<String>,
    pub expires: SystemTime,
}

/// Cheap to clone. Without a file it keeps nothing: logins then live in memory only.
#[derive(Clone, Default)]
pub struct LoginStore {
    db: Option<Arc<Mutex<Connection>>>,
}

impl LoginStore {
    /// Opens (creating it, readable by this user only) the store at `path`, and drops
    /// the expired rows.
    pub fn open(path: Option<&Path>) -> Result<LoginStore, LoginStoreError> {
        let Some(path) = path else {
            return Ok(LoginStore::default());
        };
        create_private(path).map_err(|source| LoginStoreError::Create {
            path: path.to_owned(),
            source,
        })?;
        let open = || -> rusqlite::Result<Connection> {
            let connection = Connection::open(path)?;
            connection.busy_timeout(Duration::from_secs(2))?;
            connection.pragma_update(None, "journal_mode", "WAL")?;
            connection.execute_batch(SCHEMA)?;
            connection.execute(
                "DELETE FROM logins WHERE expires_ms <= ?1",
                [epoch_ms(SystemTime::now())],
            )?;
            Ok(connection)
        };
        let connection = open().map_err(|source| LoginStoreError::Open {
            path: path.to_owned(),
            source,
        })?;
        Ok(LoginStore {
            db: Some(Arc::new(Mutex::new(connection))),
        })
    }

    pub fn is_persistent(&self) -> bool {
        self.db.is_some()
    }

    /// Saves `login` under `token`. A failure is logged; the login still works.
    pub async fn save(&self, token: &str, login: SavedLogin) {
        let sealed = match login.secret.as_deref().map(|secret| seal(token, secret)) {
            Some(None) => {
                tracing::warn!(
                    "login store: cannot seal a secret: this login lasts until a restart"
                );
                return;
            }
            Some(Some(sealed)) => Some(sealed),
            None => None,
        };
        let id = row_id(token);
        self.write("save a login", move |db| {
            let now = epoch_ms(SystemTime::now());
            db.execute("DELETE FROM logins WHERE expires_ms <= ?1", [now])?;
            let rows: i64 = db.query_row("SELECT COUNT(*) FROM logins", [], |r| r.get(0))?;
            if rows >= MAX_ROWS {
                tracing::warn!(rows, "login store full: this login lasts until a restart");
                return Ok(());
            }
            db.execute(
                "INSERT OR REPLACE INTO logins VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    id,
                    login.server,
                    login.username,
                    login.person,
                    epoch_ms(login.expires),
                    sealed
                ],
            )?;
            Ok(())
        })
        .await;
    }

    /// The unexpired login saved under `token`, its secret unsealed.
    pub async fn find(&self, token: &str) -> Option<SavedLogin> {
        let db = self.db.clone()?;
        let id = row_id(token);
        let token = token.to_owned();
        let found = tokio::task::spawn_blocking(move || {
            let db = lock(&db);
            db.query_row(
                "SELECT server, username, person, expires_ms, sealed_secret FROM logins
                 WHERE id = ?1 AND expires_ms > ?2",
                params![id, epoch_ms(SystemTime::now())],
                |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, Option<String>>(2)?,
                        row.get::<_, i64>(3)?,
                        row.get::<_, Option<Vec<u8>>>(4)?,
                    ))
                },
            )
            .optional()
        })
        .await;
        let (server, username, person, expires_ms, sealed) = match found {
            Ok(Ok(row)) => row?,
            Ok(Err(error)) => {
                tracing::warn!(%error, "login store: cannot read a login");
                return None;
            }
            Err(error) => {
                tracing::warn!(%error, "login store: the reader failed");
                return None;
            }
        };
        let secret = match sealed {
            // A row that does not open under this token was not made for it.
            Some(sealed) => Some(unseal(&token, &sealed)?),
            None => None,
        };
        Some(SavedLogin {
            server,
            username,
            person,
            secret,
            expires: UNIX_EPOCH + Duration::from_millis(u64::try_from(expires_ms).ok()?),
        })
    }

    /// Forgets `token` (a logout).
    pub async fn forget(&self, token: &str) {
        let id = row_id(token);
        self.write("forget a login", move |db| {
            db.execute("DELETE FROM logins WHERE id = ?1", [id])?;
            Ok(())
        })
        .await;
    }

    /// Forgets every login of one holder (log out everywhere): an AMI account logged
    /// in with its secret (`person` `None`), or a relay account.
    pub async fn forget_holder(&self, server: &str, username: &str, person: Option<&str>) {
        let (server, username, person) = (
            server.to_owned(),
            username.to_owned(),
            person.map(str::to_owned),
        );
        self.write("forget a person's logins", move |db| {
            match person {
                // A relay account's tokens all end, whichever AMI account it maps to now.
                Some(person) => db.execute(
                    "DELETE FROM logins WHERE server = ?1 AND person = ?2",
                    params![server, person],
                )?,
                None => db.execute(
                    "DELETE FROM logins WHERE server = ?1 AND username = ?2 AND person IS NULL",
                    params![server, username],
                )?,
            };
            Ok(())
        })
        .await;
    }

    async fn write(
        &self,
        what: &'static str,
        change: impl FnOnce(&Connection) -> rusqlite::Result<()> + Send + 'static,
    ) {
        let Some(db) = self.db.clone() else {
            return;
        };
        let done = tokio::task::spawn_blocking(move || change(&lock(&db))).await;
        match done {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "login store: cannot {what}"),
            Err(error) => tracing::warn!(%error, "login store: the writer failed: {what}"),
        }
    }
}

/// The file is made readable by the relay's user only before SQLite opens it.
fn create_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map(drop)
}

/// Tokens are 256 random bits, so one SHA-256 each with a label of its own is all
/// the derivation the row id and the sealing key need: neither tells the other, and
/// neither gives back the token.
fn derive(label: &[u8], token: &str) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(label);
    hash.update(token.as_bytes());
    hash.finalize().into()
}

fn row_id(token: &str) -> Vec<u8> {
    derive(b"astpanel login id\0", token).to_vec()
}

fn sealing_key(token: &str) -> Option<LessSafeKey> {
    let key = derive(b"astpanel login key\0", token);
    UnboundKey::new(&CHACHA20_POLY1305, &key)
        .ok()
        .map(LessSafeKey::new)
}

/// The nonce, then the ciphertext with its tag. Each key seals one secret only (a
/// token is made once), so a random nonce is more than enough.
fn seal(token: &str, secret: &str) -> Option<Vec<u8>> {
    let mut nonce = [0u8; NONCE_LEN];
    rand::Rng::fill(&mut rand::rng(), &mut nonce);
    let mut sealed = secret.as_bytes().to_vec();
    sealing_key(token)?
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::empty(),
            &mut sealed,
        )
        .ok()?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    Some(out)
}

fn unseal(token: &str, sealed: &[u8]) -> Option<String> {
    let (nonce, ciphertext) = sealed.split_at_checked(NONCE_LEN)?;
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut buffer = ciphertext.to_vec();
    let plain = sealing_key(token)?
        .open_in_place(nonce, Aad::empty(), &mut buffer)
        .ok()?;
    String::from_utf8(plain.to_vec()).ok()
}

fn epoch_ms(time: SystemTime) -> i64 {
    let ms = time
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    i64::try_from(ms).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(secret: Option<&str>, person: Option<&str>) -> SavedLogin {
        SavedLogin {
            server: "pbx".into(),
            username: "agent".into(),
            person: person.map(str::to_owned),
            secret: secret.map(str::to_owned),
            // Whole milliseconds: that is what the file keeps.
            expires: UNIX_EPOCH
                + Duration::from_millis(epoch_ms(SystemTime::now()) as u64)
                + Duration::from_secs(3600),
        }
    }

    fn store_in(dir: &tempfile::TempDir) -> LoginStore {
        let path = dir.path().join("logins.db");
        LoginStore::open(Some(&path)).expect("opens")
    }

    #[tokio::test]
    async fn a_login_comes_back_after_the_store_is_opened_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let saved = login(Some("agent-secret"), None);
        store_in(&dir).save("token-1", saved.clone()).await;
        let again = store_in(&dir);
        assert_eq!(again.find("token-1").await, Some(saved));
        assert_eq!(again.find("token-2").await, None);
    }

    #[tokio::test]
    async fn the_file_holds_neither_the_secret_nor_the_token() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store_in(&dir);
        store
            .save("the-token-itself", login(Some("s3cret-words"), None))
            .await;
        drop(store);
        let mut bytes = Vec::new();
        for entry in std::fs::read_dir(dir.path()).expect("dir") {
            bytes.extend(std::fs::read(entry.expect("entry").path()).expect("read"));
        }
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("agent"), "the store saved nothing");
        assert!(!text.contains("s3cret-words"));
        assert!(!text.contains("the-token-itself"));
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(dir.path().join("logins.db"))
                .expect("meta")
                .permissions(),
        );
        assert_eq!(mode & 0o077, 0, "others may read the store: {mode:o}");
    }

    #[test]
    fn a_sealed_secret_opens_only_under_its_own_token() {
        let sealed = seal("token-a", "secret").expect("seals");
        assert_eq!(unseal("token-a", &sealed).as_deref(), Some("secret"));
        assert_eq!(unseal("token-b", &sealed), None);
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(unseal("token-a", &tampered), None);
        assert_eq!(unseal("token-a", &sealed[..NONCE_LEN - 1]), None);
    }

    #[tokio::test]
    async fn expired_and_forgotten_logins_are_gone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store_in(&dir);
        let mut expired = login(Some("x"), None);
        expired.expires = SystemTime::now() - Duration::from_secs(1);
        store.save("old", expired).await;
        store.save("kept", login(Some("x"), None)).await;
        store.save("out", login(Some("x"), None)).await;
        store.forget("out").await;
        assert_eq!(store.find("old").await, None);
        assert_eq!(store.find("out").await, None);
        assert!(store.find("kept").await.is_some());
    }

    #[tokio::test]
    async fn log_out_everywhere_forgets_one_holder_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = store_in(&dir);
        store.save("ami-1", login(Some("x"), None)).await;
        store.save("ami-2", login(Some("x"), None)).await;
        store.save("ann", login(None, Some("ann"))).await;
        store.save("bob", login(None, Some("bob"))).await;
        store.forget_holder("pbx", "agent", None).await;
        assert_eq!(store.find("ami-1").await, None);
        assert_eq!(store.find("ami-2").await, None);
        assert!(store.find("ann").await.is_some());
        store.forget_holder("pbx", "agent", Some("ann")).await;
        assert_eq!(store.find("ann").await, None);
        assert_eq!(
            store.find("bob").await.and_then(|l| l.person).as_deref(),
            Some("bob")
        );
    }

    #[tokio::test]
    async fn without_a_file_nothing_is_kept() {
        let store = LoginStore::open(None).expect("opens");
        store.save("t", login(Some("x"), None)).await;
        assert!(!store.is_persistent());
        assert_eq!(store.find("t").await, None);
    }

    #[test]
    fn a_store_that_cannot_be_made_is_an_error_naming_it() {
        let error = LoginStore::open(Some(Path::new("/nonexistent-dir/logins.db")))
            .err()
            .expect("refused");
        assert!(
            error.to_string().contains("/nonexistent-dir/logins.db"),
            "{error}"
        );
    }
}
