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
    /// The most recent events, newest first, at most [`RECENT_EVENTS`].
    pub recent: Vec<RecentEvent>,
    /// Events this page has listed so far: the next [`RecentEvent::seq`].
    listed: u64,
}

/// One line of the recent-events list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecentEvent {
    /// Unique within the page, so a list view can key its rows by it.
    pub seq: u64,
    pub name: String,
}

/// How many event names [`PanelState::recent`] keeps.
pub const RECENT_EVENTS: usize = 12;

impl PanelState {
    /// AMI events received from every server since the relay started. It comes from the
    /// relay's counts, so it stays right after a snapshot replaced missed updates.
    pub fn events_received(&self) -> u64 {
        self.servers.iter().map(|s| s.events_received).sum()
    }

    pub fn apply(&mut self, message: &ServerMessage) {
        match message {
            ServerMessage::Snapshot { servers } => self.servers = servers.clone(),
            ServerMessage::Link(status) => self.upsert(status.clone()),
            ServerMessage::Events { server, names } => {
                if let Some(status) = self.servers.iter_mut().find(|s| &s.name == server) {
                    status.events_received += names.len() as u64;
                }
                let first_seq = self.listed;
                self.listed += names.len() as u64;
                let newest = names.iter().enumerate().rev().take(RECENT_EVENTS);
                let newest = newest.map(|(i, name)| RecentEvent {
                    seq: first_seq + i as u64,
                    name: name.clone(),
                });
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
        assert_eq!(state.servers[0].events_received, 25);
        assert_eq!(state.events_received(), 25);
        assert_eq!(state.recent.len(), RECENT_EVENTS);
        assert_eq!(
            state.recent[0],
            RecentEvent {
                seq: 19,
                name: "E19".into()
            }
        );
        assert_eq!(
            state.recent[RECENT_EVENTS - 1],
            RecentEvent {
                seq: 8,
                name: "E8".into()
            }
        );

        state.apply(&ServerMessage::Events {
            server: "demo".into(),
            names: vec!["Next".into()],
        });
        assert_eq!(
            state.recent[0],
            RecentEvent {
                seq: 20,
                name: "Next".into()
            }
        );
    }

    #[test]
    fn a_snapshot_after_missed_updates_brings_the_count_back_in_line() {
        let mut state = PanelState::default();
        state.apply(&ServerMessage::Snapshot {
            servers: vec![status("demo", LinkState::Up, 5)],
        });
        // The updates for events 6..=900 were lost to lag; the relay sends a snapshot instead.
        state.apply(&ServerMessage::Snapshot {
            servers: vec![status("demo", LinkState::Up, 900)],
        });
        assert_eq!(state.events_received(), 900);
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
