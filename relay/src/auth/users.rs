//! AstPanel's own accounts (`[[user]]`): people who log in to the relay itself with
//! an argon2-hashed password, each mapped to an AMI account of one server, an
//! extension and a [`Role`].
//!
//! With them, agents never learn an AMI secret and many people can share one AMI
//! account (and so one AMI session); the role narrows what that account allows, so
//! an agent mapped to a powerful account is still only an agent. The AMI secret an
//! account is mapped to comes from the configuration and stays in memory.

use std::sync::{Arc, OnceLock};

use argon2::password_hash::{PasswordHash, PasswordHashString, SaltString};
use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use rand::Rng;
use shared::action::Role;

/// Why a `[[user]]` entry or a password cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error(
        "password_hash is not a PHC string such as \"$argon2id$v=19$...\" ({0}); make one with `astpanel --hash-password`"
    )]
    Hash(argon2::password_hash::Error),
    #[error("password_hash uses {0:?}; only argon2id, argon2i and argon2d are accepted")]
    Algorithm(String),
}

/// One relay account.
#[derive(Clone)]
pub struct RelayUser {
    pub name: String,
    password_hash: PasswordHashString,
    pub server: String,
    /// The AMI account the person acts through.
    pub ami_user: String,
    ami_secret: String,
    pub role: Role,
    pub extension: Option<String>,
}

/// Everything but the secrets: a configuration is logged at debug level.
impl std::fmt::Debug for RelayUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayUser")
            .field("name", &self.name)
            .field("server", &self.server)
            .field("ami_user", &self.ami_user)
            .field("role", &self.role)
            .field("extension", &self.extension)
            .finish_non_exhaustive()
    }
}

impl RelayUser {
    pub fn new(
        name: String,
        password_hash: &str,
        server: String,
        ami_user: String,
        ami_secret: String,
        role: Role,
        extension: Option<String>,
    ) -> Result<RelayUser, UserError> {
        let parsed = PasswordHash::new(password_hash.trim()).map_err(UserError::Hash)?;
        let algorithm = parsed.algorithm.as_str();
        if !algorithm.starts_with("argon2") {
            return Err(UserError::Algorithm(algorithm.to_owned()));
        }
        Ok(RelayUser {
            name,
            password_hash: parsed.serialize(),
            server,
            ami_user,
            ami_secret,
            role,
            extension: extension.filter(|e| !e.is_empty()),
        })
    }

    /// The secret of the AMI account behind this person.
    pub fn ami_secret(&self) -> &str {
        &self.ami_secret
    }

    /// Who this account is, as a lease carries it.
    pub fn person(&self) -> Person {
        Person {
            name: self.name.clone(),
            role: self.role,
            extension: self.extension.clone(),
        }
    }
}

/// A relay account as the rest of the relay sees it once logged in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Person {
    pub name: String,
    pub role: Role,
    pub extension: Option<String>,
}

/// The configured relay accounts; cheap to clone.
#[derive(Clone, Default)]
pub struct Users {
    users: Arc<Vec<RelayUser>>,
}

impl Users {
    pub fn new(users: Vec<RelayUser>) -> Users {
        Users {
            users: Arc::new(users),
        }
    }

    /// Whether `name` is a relay account (of `server`, when one is named).
    pub fn find(&self, server: Option<&str>, name: &str) -> Option<&RelayUser> {
        self.users
            .iter()
            .find(|u| u.name == name && server.is_none_or(|s| s == u.server))
    }

    /// Checks a password. An unknown name costs the same work as a known one, so
    /// that timing does not tell which names exist. Argon2 is slow on purpose, so
    /// it runs off the async threads.
    pub async fn verify(&self, user: Option<&RelayUser>, password: &str) -> bool {
        let Some(hash) = user.map(|u| u.password_hash.clone()).or_else(dummy_hash) else {
            return false;
        };
        let password = password.to_owned();
        let matched = tokio::task::spawn_blocking(move || {
            Argon2::default()
                .verify_password(password.as_bytes(), &hash.password_hash())
                .is_ok()
        })
        .await
        .unwrap_or(false);
        matched && user.is_some()
    }
}

/// A hash of a random password with the default parameters, to verify unknown
/// names against (`None` only if hashing itself failed, which it does not for
/// fixed-size input and default parameters).
fn dummy_hash() -> Option<PasswordHashString> {
    static DUMMY: OnceLock<Option<PasswordHashString>> = OnceLock::new();
    DUMMY
        .get_or_init(|| {
            let mut password = [0u8; 32];
            rand::rng().fill(&mut password);
            hash_password(&password).ok()
        })
        .clone()
}

/// A PHC string for `password` with argon2id's default parameters and a random salt
/// (`astpanel --hash-password`).
pub fn hash_password(password: &[u8]) -> Result<PasswordHashString, argon2::password_hash::Error> {
    let mut salt = [0u8; 16];
    rand::rng().fill(&mut salt);
    let salt = SaltString::encode_b64(&salt)?;
    Ok(Argon2::default()
        .hash_password(password, &salt)?
        .serialize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(hash: &str, role: Role) -> Result<RelayUser, UserError> {
        RelayUser::new(
            "alice".into(),
            hash,
            "pbx".into(),
            "agents".into(),
            "ami-secret".into(),
            role,
            Some("201".into()),
        )
    }

    #[tokio::test]
    async fn a_password_is_checked_against_its_hash_and_nothing_else() {
        let hash = hash_password(b"correct horse").expect("hash");
        let alice = user(hash.as_str(), Role::Agent).expect("user");
        let users = Users::new(vec![alice]);
        let found = users.find(Some("pbx"), "alice");
        assert!(users.verify(found, "correct horse").await);
        assert!(!users.verify(found, "correct horse ").await);
        assert!(!users.verify(found, "").await);
        assert!(
            !users.verify(None, "correct horse").await,
            "no user, no login"
        );
        assert!(users.find(Some("other"), "alice").is_none());
        assert!(users.find(None, "alice").is_some());
    }

    #[test]
    fn a_bad_hash_is_refused_with_how_to_make_one() {
        let message = user("hunter2", Role::Admin).unwrap_err().to_string();
        assert!(message.contains("astpanel --hash-password"), "{message}");
        let scrypt = "$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E";
        assert!(matches!(
            user(scrypt, Role::Admin),
            Err(UserError::Algorithm(_))
        ));
    }

    #[test]
    fn debug_output_holds_no_secret() {
        let hash = hash_password(b"pw").expect("hash");
        let alice = user(hash.as_str(), Role::Supervisor).expect("user");
        let shown = format!("{alice:?}");
        assert!(
            !shown.contains("ami-secret") && !shown.contains(hash.as_str()),
            "{shown}"
        );
        assert!(shown.contains("alice") && shown.contains("Supervisor"));
    }
}
