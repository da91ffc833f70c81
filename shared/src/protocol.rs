//! The messages the relay and the SPA exchange over the WebSocket, as JSON text frames.
//!
//! The relay speaks first: a [`ServerMessage::Snapshot`] right after the socket
//! opens (and again whenever a slow browser fell behind), then a stream of
//! updates. Both sides use these types, so a field renamed here breaks the
//! build instead of the page.

use serde::{Deserialize, Serialize};

/// The state of the relay's AMI link to one Asterisk server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    /// Connecting, logging in, or waiting to retry after a failure.
    Connecting,
    /// Logged in; events are flowing.
    Up,
    /// The link failed; the relay is backing off before it tries again.
    Down,
}

/// What one Asterisk server looks like to a browser right now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerStatus {
    /// The name the operator gave this server (`demo` for the simulated PBX).
    pub name: String,
    pub link: LinkState,
    /// Why the link is not up, in words fit for an operator.
    pub detail: Option<String>,
    /// AMI events received from this server since the relay started.
    pub events_received: u64,
}

/// Relay → browser.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// The whole state: sent first, and again instead of the updates a lagging browser missed.
    Snapshot { servers: Vec<ServerStatus> },
    /// One server's link changed.
    Link(ServerStatus),
    /// AMI events arrived: their names, in order, batched so a busy PBX does not
    /// cost one WebSocket frame per event.
    Events { server: String, names: Vec<String> },
    /// The browser sent something the relay could not use; the socket stays open.
    Error { message: String },
}

/// Browser → relay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// Ask for a fresh [`ServerMessage::Snapshot`].
    Resync,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_have_a_stable_json_shape() {
        let message = ServerMessage::Events {
            server: "demo".into(),
            names: vec!["Newchannel".into()],
        };
        let json = serde_json::to_string(&message).unwrap();
        assert_eq!(
            json,
            r#"{"type":"events","server":"demo","names":["Newchannel"]}"#
        );
        assert_eq!(
            serde_json::from_str::<ServerMessage>(&json).unwrap(),
            message
        );
        assert_eq!(
            serde_json::from_str::<ClientMessage>(r#"{"type":"resync"}"#).unwrap(),
            ClientMessage::Resync
        );
    }
}
