//! The status actions that rebuild a model from nothing.
//!
//! Their list events go through [`super::ServerModel::apply_event`] like live events:
//! `CoreShowChannel` (with its `BridgeId`, so bridge membership needs no `BridgeInfo`
//! per bridge), `BridgeListItem`, `QueueParams`/`QueueMember`/`QueueEntry`,
//! `ParkedCall`, `ExtensionStatus`, `DeviceStateChange`, `PresenceStateChange`. Message
//! waiting has no list without naming each mailbox, so mailboxes fill from live
//! `MessageWaiting` events only.

use crate::ami::Message;

/// The status lists, in order: channels first, so that bridges and queue callers find
/// the channels they name.
pub const ACTIONS: &[&str] = &[
    "CoreShowChannels",
    "BridgeList",
    "QueueStatus",
    "ParkedCalls",
    "ExtensionStateList",
    "DeviceStateList",
    "PresenceStateList",
];

/// The actions, ready to send, each with its own ActionID.
pub fn actions() -> Vec<Message> {
    ACTIONS
        .iter()
        .enumerate()
        .map(|(n, action)| {
            Message::new()
                .with("Action", action)
                .with("ActionID", format!("resync-{n}"))
        })
        .collect()
}
