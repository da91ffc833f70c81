//! The panel's view of the relay, and the one function that changes it.
//!
//! The SPA keeps a [`PanelState`] and feeds every [`ServerMessage`] to
//! [`PanelState::apply`]; keeping the reducer here means it is unit-tested
//! natively and cannot drift from the relay's wire types.

use crate::protocol::{ServerMessage, ServerStatus};

/// Everything the panel shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PanelState {
    pub servers: Vec<ServerStatus>,
    /// AMI events this page has seen since it loaded (a snapshot does not reset it).
    pub events_seen: u64,
    /// The most recent event names, newest first, at most [`RECENT_EVENTS`].
    pub recent: Vec<String>,
}

/// How many event names [`PanelState::recent`] keeps.
pub const RECENT_EVENTS: usize = 12;

impl PanelState {
    pub fn apply(&mut self, message: &ServerMessage) {
        match message {
            ServerMessage::Snapshot { servers } => self.servers = servers.clone(),
            ServerMessage::Link(status) => self.upsert(status.clone()),
            ServerMessage::Events { server, names } => {
                self.events_seen += names.len() as u64;
                if let Some(status) = self.servers.iter_mut().find(|s| &s.name == server) {
                    status.events_received += names.len() as u64;
                }
                let newest = names.iter().rev().take(RECENT_EVENTS).cloned();
                self.recent.splice(0..0, newest);
                self.recent.truncate(RECENT_EVENTS);
            }
            ServerMessage::Error { .. } => {}
        }
    }

    fn upsert(&mut self, status: ServerStatus) {
        match self.servers.iter_mut().find(|s| s.name == status.name) {
            Some(existing) => *existing = status,
            None => self.servers.push(status),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::LinkState;

    fn status(name: &str, link: LinkState, events_received: u64) -> ServerStatus {
        ServerStatus {
            name: name.into(),
            link,
            detail: None,
            events_received,
        }
    }

    #[test]
    fn events_count_up_and_keep_the_newest_names_first() {
        let mut state = PanelState::default();
        state.apply(&ServerMessage::Snapshot {
            servers: vec![status("demo", LinkState::Up, 5)],
        });
        let names: Vec<String> = (0..20).map(|i| format!("E{i}")).collect();
        state.apply(&ServerMessage::Events {
            server: "demo".into(),
            names,
        });
        assert_eq!(state.events_seen, 20);
        assert_eq!(state.servers[0].events_received, 25);
        assert_eq!(state.recent.len(), RECENT_EVENTS);
        assert_eq!(state.recent[0], "E19");
        assert_eq!(state.recent[RECENT_EVENTS - 1], "E8");
    }

    #[test]
    fn a_link_update_replaces_the_server_it_names_or_adds_it() {
        let mut state = PanelState::default();
        state.apply(&ServerMessage::Link(status("a", LinkState::Connecting, 0)));
        state.apply(&ServerMessage::Link(status("a", LinkState::Up, 3)));
        state.apply(&ServerMessage::Link(status("b", LinkState::Down, 0)));
        assert_eq!(
            state.servers,
            vec![
                status("a", LinkState::Up, 3),
                status("b", LinkState::Down, 0)
            ]
        );
    }
}
