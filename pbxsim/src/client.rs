//! What one AMI session has told the simulator: who logged in, which events it wants.

use std::net::SocketAddr;

use shared::ami::Classes;

use crate::config::User;
use crate::state::Wire;
use shared::ami::filter::{self, Filter};

/// What a session knows about its client.
#[derive(Debug)]
pub(crate) struct Session {
    /// For logs and `SessionID`.
    pub id: u64,
    /// The client's address.
    pub peer: SocketAddr,
    /// The logged-in user.
    pub user: Option<User>,
    /// The last `Challenge` handed out.
    pub challenge: Option<String>,
    /// The classes this session asked for (`Events`), within the user's `read=`.
    pub event_mask: Classes,
    /// `Filter` action rules.
    pub filters: Vec<Filter>,
    /// When the login succeeded (`SessionTV` of security events).
    pub login_tv: String,
}

impl Session {
    /// A session that has not logged in yet.
    pub fn new(id: u64, peer: SocketAddr) -> Session {
        Session {
            id,
            peer,
            user: None,
            challenge: None,
            event_mask: Classes::ALL,
            filters: Vec::new(),
            login_tv: String::new(),
        }
    }

    /// Whether the event goes to this client: its user's `read=`, its `Events` mask, its filters.
    pub fn wants(&self, ev: &Wire) -> bool {
        let Some(user) = &self.user else { return false };
        if !ev.class.intersects(user.read) || !ev.class.intersects(self.event_mask) {
            return false;
        }
        if self.filters.is_empty() {
            return true;
        }
        let text = String::from_utf8_lossy(&ev.bytes);
        // Every event is serialized `Event: <name>` first.
        let name = text
            .strip_prefix("Event: ")
            .and_then(|rest| rest.split("\r\n").next())
            .unwrap_or_default();
        filter::should_send(&self.filters, name, &text)
    }
}
