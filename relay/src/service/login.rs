//! [`Login`]: what every way in holds once the service let a person in.

use std::sync::Arc;

use shared::action::{Permissions, Role};
use shared::ami::Classes;
use shared::protocol::Seat;
use tokio_util::sync::CancellationToken;

use crate::auth::users::Person;
use crate::live::{AgentView, LiveServer};
use crate::pool::Lease;

/// A person logged in: the lease on their account's AMI session, who they are, and
/// the signal that ends the login. Made only by [`crate::service::Service`]; its
/// session is reachable only through the service's methods, so a way in cannot run
/// an action or read an event past the rules by holding one.
#[derive(Clone)]
pub struct Login {
    pub(super) lease: Lease,
    pub(super) person: Option<Arc<Person>>,
    pub(super) token: Option<String>,
    /// Fires on logout, log out everywhere and the account leaving the configuration.
    pub(super) ended: CancellationToken,
    /// When the token expires; `None` for a login without one (AJAM keeps its own).
    pub(super) expires: Option<tokio::time::Instant>,
}

/// The panel action that runs on the service account.
const CALL_FORWARD: &str = "call_forward";

impl Login {
    pub fn server(&self) -> &Arc<LiveServer> {
        &self.lease.server
    }

    /// The account's read classes: what of the model and of the events it may see.
    pub fn read(&self) -> Classes {
        self.lease.read
    }

    /// The account's permissions, narrowed by the person's role. `call_forward` runs on
    /// the relay's service account, so a person's role grants it where the server
    /// configures one and their AMI account may write at all; an AMI account logged in
    /// itself needs `DBPut` of its own. Without `call_forward` configured, nobody has it.
    pub fn permissions(&self) -> Permissions {
        let mut permissions = match &self.person {
            Some(person) => {
                let mut narrowed = self.lease.permissions.narrowed_to(person.role);
                if person.role.may_use(CALL_FORWARD) && !narrowed.write.is_empty() {
                    narrowed.actions.insert(CALL_FORWARD.to_owned());
                }
                narrowed
            }
            None => self.lease.permissions.clone(),
        };
        if self.server().config.dialing.call_forward.is_none() {
            permissions.actions.remove(CALL_FORWARD);
        }
        permissions
    }

    /// The relay account's role; `None` for an AMI account logged in with its secret.
    pub fn role(&self) -> Option<Role> {
        self.person.as_ref().map(|p| p.role)
    }

    /// The relay account's extension, if it has one.
    pub fn extension(&self) -> Option<&str> {
        self.person.as_deref().and_then(|p| p.extension.as_deref())
    }

    /// The extension an agent's view is narrowed to (`Some("")` for an agent without
    /// one: it sees no call); `None` for everyone else, who sees the whole model.
    pub fn agent_extension(&self) -> Option<&str> {
        self.person
            .as_deref()
            .filter(|p| p.role == Role::Agent)
            .map(|p| p.extension.as_deref().unwrap_or_default())
    }

    /// The queue sign-in seats this login may use: an agent's own (none without an
    /// extension), every configured one for anyone else.
    pub fn seats(&self) -> Vec<Seat> {
        let seats = &self.server().config.dialing.seats;
        match self.agent_extension() {
            Some(exten) => seats.iter().filter(|s| s.exten == exten).cloned().collect(),
            None => seats.clone(),
        }
    }

    /// An agent's own view of the model, which keeps their socket to their calls.
    pub fn agent_view(&self) -> Option<AgentView> {
        self.agent_extension()
            .map(|exten| AgentView::new(exten, self.read()))
    }

    /// The name the panel shows: the relay account's, else the AMI user's.
    pub fn display_name(&self) -> &str {
        self.person
            .as_deref()
            .map_or(&self.lease.username, |p| &p.name)
    }

    /// The AMI account behind the login.
    pub fn ami_user(&self) -> &str {
        &self.lease.username
    }

    /// The token this login was made from or issued, if any.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// Completes when the login ends: logged out (here or everywhere), revoked, or
    /// its token expired. A way in that holds the login stops serving it then.
    pub async fn ended(&self) {
        match self.expires {
            Some(expires) => {
                tokio::select! {
                    () = self.ended.cancelled() => {}
                    () = tokio::time::sleep_until(expires) => {}
                }
            }
            None => self.ended.cancelled().await,
        }
    }

    /// Whether the login has ended.
    pub fn is_ended(&self) -> bool {
        self.ended.is_cancelled()
            || self
                .expires
                .is_some_and(|expires| expires <= tokio::time::Instant::now())
    }
}
