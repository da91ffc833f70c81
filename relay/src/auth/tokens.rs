//! The tokens this process knows, and the signal that ends every way in holding one.
//!
//! A token stands for [`Credentials`]. Every login handle made from a token (a
//! browser's socket, an API request) carries that token's [`CancellationToken`]; it
//! is a child of its holder's (the relay account, or the AMI account logged in with
//! its own secret), so one `cancel` ends one token, and one on the holder ends all of
//! that person's logins at once, AJAM sessions included. Nothing needs to poll.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rand::Rng;
use tokio_util::sync::CancellationToken;

use crate::auth::users::Person;
use crate::sync::lock;

/// Tokens held at once; past it the oldest expired ones go, then logins are refused.
pub const MAX_TOKENS: usize = 100_000;

/// What a token stands for.
#[derive(Clone)]
pub struct Credentials {
    pub server: String,
    pub username: String,
    pub secret: String,
    pub person: Option<Arc<Person>>,
    pub expires: Instant,
}

/// Who holds a login: the server, the AMI user, and the relay account if there is one.
pub type Holder = (String, String, Option<String>);

impl Credentials {
    /// Who holds it: the relay account, or the AMI account when there is none.
    pub fn holder(&self) -> Holder {
        holder_of(&self.server, &self.username, self.person.as_deref())
    }
}

/// The holder of a login to `username` on `server` as `person`.
pub fn holder_of(server: &str, username: &str, person: Option<&Person>) -> Holder {
    (
        server.to_owned(),
        username.to_owned(),
        person.map(|p| p.name.clone()),
    )
}

/// The table is full of live tokens.
#[derive(Debug, thiserror::Error)]
#[error("too many logins are open on this relay")]
pub struct TooManyTokens;

struct Entry {
    credentials: Credentials,
    ended: CancellationToken,
}

/// Every token this process made or restored; cheap to share behind an `Arc`.
#[derive(Default)]
pub struct Tokens {
    inner: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    tokens: HashMap<String, Entry>,
    holders: HashMap<Holder, CancellationToken>,
}

impl Table {
    /// The holder's signal, made on first use.
    fn holder(&mut self, holder: Holder) -> CancellationToken {
        self.holders.entry(holder).or_default().clone()
    }

    /// Forgets holders with no token left. Only when the table is full: a holder's
    /// token-less logins (AJAM) that outlive this no longer end with a later log out
    /// everywhere, which a bounded table is worth.
    fn prune_holders(&mut self) {
        let held: std::collections::HashSet<Holder> = self
            .tokens
            .values()
            .map(|entry| entry.credentials.holder())
            .collect();
        self.holders.retain(|holder, _| held.contains(holder));
    }
}

/// A fresh token: 32 bytes from a CSPRNG, in hex.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    // ThreadRng is a CSPRNG (ChaCha, seeded and reseeded from the OS).
    rand::rng().fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Tokens {
    /// Keeps `token`, returning the signal that ends it.
    pub fn insert(
        &self,
        token: String,
        credentials: Credentials,
    ) -> Result<CancellationToken, TooManyTokens> {
        let mut table = lock(&self.inner);
        if table.tokens.len() >= MAX_TOKENS {
            let now = Instant::now();
            let expired: Vec<String> = table
                .tokens
                .iter()
                .filter(|(_, e)| e.credentials.expires <= now)
                .map(|(t, _)| t.clone())
                .collect();
            for token in expired {
                if let Some(entry) = table.tokens.remove(&token) {
                    entry.ended.cancel();
                }
            }
            table.prune_holders();
            if table.tokens.len() >= MAX_TOKENS {
                return Err(TooManyTokens);
            }
        }
        let ended = table.holder(credentials.holder()).child_token();
        table.tokens.insert(
            token,
            Entry {
                credentials,
                ended: ended.clone(),
            },
        );
        Ok(ended)
    }

    /// The token's credentials and signal, if it is known here. An expired one is
    /// ended and forgotten: `Some(Err(()))`.
    pub fn get(&self, token: &str) -> Option<Result<(Credentials, CancellationToken), ()>> {
        let mut table = lock(&self.inner);
        let entry = table.tokens.get(token)?;
        if entry.credentials.expires > Instant::now() {
            return Some(Ok((entry.credentials.clone(), entry.ended.clone())));
        }
        if let Some(entry) = table.tokens.remove(token) {
            entry.ended.cancel();
        }
        Some(Err(()))
    }

    /// The signal of a holder, for a login that has no token (an AJAM session): it
    /// ends when the holder logs out everywhere.
    pub fn holder_signal(&self, holder: Holder) -> CancellationToken {
        lock(&self.inner).holder(holder).child_token()
    }

    /// Ends one token.
    pub fn revoke(&self, token: &str) {
        let mut table = lock(&self.inner);
        if let Some(entry) = table.tokens.remove(token) {
            entry.ended.cancel();
        }
    }

    /// Ends every token and token-less login of `holder`; answers how many tokens.
    pub fn revoke_holder(&self, holder: &Holder) -> usize {
        let mut table = lock(&self.inner);
        let before = table.tokens.len();
        table
            .tokens
            .retain(|_, entry| &entry.credentials.holder() != holder);
        let ended = before - table.tokens.len();
        // Its children are every login of this holder; the next login gets a new one.
        if let Some(signal) = table.holders.remove(holder) {
            signal.cancel();
        }
        ended
    }

    /// Ends the logins of every holder that `keep` refuses (relay accounts removed
    /// from the configuration); answers the holders ended.
    pub fn revoke_unless(&self, keep: impl Fn(&Holder) -> bool) -> Vec<Holder> {
        let gone: Vec<Holder> = {
            let table = lock(&self.inner);
            table.holders.keys().filter(|h| !keep(h)).cloned().collect()
        };
        for holder in &gone {
            self.revoke_holder(holder);
        }
        gone
    }

    /// The secret behind a token (the screen-pop's exchange makes a second token for
    /// the same account).
    pub fn secret_of(&self, token: &str) -> Option<String> {
        lock(&self.inner)
            .tokens
            .get(token)
            .map(|e| e.credentials.secret.clone())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn credentials(user: &str, person: Option<&str>, ttl: Duration) -> Credentials {
        Credentials {
            server: "pbx".into(),
            username: user.into(),
            secret: "s".into(),
            person: person.map(|name| {
                Arc::new(Person {
                    name: name.into(),
                    role: shared::action::Role::Agent,
                    extension: None,
                })
            }),
            expires: Instant::now() + ttl,
        }
    }

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn revoking_a_token_ends_it_and_no_other() {
        let tokens = Tokens::default();
        let a = tokens
            .insert("a".into(), credentials("u", None, HOUR))
            .unwrap();
        let b = tokens
            .insert("b".into(), credentials("u", None, HOUR))
            .unwrap();
        tokens.revoke("a");
        assert!(a.is_cancelled());
        assert!(!b.is_cancelled());
        assert!(tokens.get("a").is_none());
        assert!(matches!(tokens.get("b"), Some(Ok(_))));
    }

    #[test]
    fn revoking_a_holder_ends_its_tokens_and_its_tokenless_logins_only() {
        let tokens = Tokens::default();
        let mine = tokens
            .insert("a".into(), credentials("agent", Some("alice"), HOUR))
            .unwrap();
        let ajam = tokens.holder_signal(holder_of("pbx", "agent", None));
        let alice_ajam = tokens.holder_signal(("pbx".into(), "agent".into(), Some("alice".into())));
        let bob = tokens
            .insert("b".into(), credentials("agent", Some("bob"), HOUR))
            .unwrap();
        let ended = tokens.revoke_holder(&("pbx".into(), "agent".into(), Some("alice".into())));
        assert_eq!(ended, 1);
        assert!(mine.is_cancelled() && alice_ajam.is_cancelled());
        assert!(!bob.is_cancelled() && !ajam.is_cancelled());
        // A new login of the same person is not born ended.
        let again = tokens
            .insert("c".into(), credentials("agent", Some("alice"), HOUR))
            .unwrap();
        assert!(!again.is_cancelled());
    }

    #[test]
    fn an_expired_token_is_ended_when_seen() {
        let tokens = Tokens::default();
        let ended = tokens
            .insert("a".into(), credentials("u", None, Duration::ZERO))
            .unwrap();
        assert!(matches!(tokens.get("a"), Some(Err(()))));
        assert!(ended.is_cancelled());
        assert!(tokens.get("a").is_none());
    }

    #[test]
    fn holders_the_configuration_no_longer_has_are_ended() {
        let tokens = Tokens::default();
        let alice = tokens
            .insert("a".into(), credentials("agent", Some("alice"), HOUR))
            .unwrap();
        let ami = tokens
            .insert("b".into(), credentials("agent", None, HOUR))
            .unwrap();
        let gone = tokens.revoke_unless(|(_, _, person)| person.as_deref() != Some("alice"));
        assert_eq!(gone.len(), 1);
        assert!(alice.is_cancelled());
        assert!(!ami.is_cancelled());
    }

    #[test]
    fn the_table_holds_max_tokens_live_ones_and_makes_room_only_from_expired_ones() {
        let tokens = Tokens::default();
        for n in 0..MAX_TOKENS - 1 {
            tokens
                .insert(format!("t{n}"), credentials("u", None, HOUR))
                .expect("below the bound");
        }
        // N-1 held: the N-th fits, the N+1-th does not.
        tokens
            .insert("last".into(), credentials("u", None, HOUR))
            .expect("the bound itself");
        assert!(
            tokens
                .insert("over".into(), credentials("u", None, HOUR))
                .is_err()
        );
        assert!(
            matches!(tokens.get("t0"), Some(Ok(_))),
            "nothing live was dropped"
        );
        // An expired one makes room, and is ended.
        tokens.revoke("last");
        let expiring = tokens
            .insert("expired".into(), credentials("u", None, Duration::ZERO))
            .expect("room for one");
        tokens
            .insert("fresh".into(), credentials("u", None, HOUR))
            .expect("the expired one made room");
        assert!(expiring.is_cancelled());
        assert!(tokens.get("expired").is_none());
    }
}
