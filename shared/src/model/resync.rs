//! The status actions that rebuild a model from nothing.
//!
//! Their list events go through [`super::ServerModel::apply_event`] like live events:
//! `CoreShowChannel` (with its `BridgeId`, so bridge membership needs no `BridgeInfo`
//! per bridge), `BridgeListItem`, `QueueParams`/`QueueMember`/`QueueEntry`,
//! `ParkedCall`, `ExtensionStatus`, `DeviceStateChange`, `PresenceStateChange`,
//! `ConfbridgeListRooms` and then, per room it listed, `ConfbridgeList` ([`rooms`]). Message
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
    "ConfbridgeListRooms",
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

/// `ConfbridgeList` of each room `model` holds: the second step of a rebuild, after
/// `ConfbridgeListRooms` named the rooms (the list takes one `Conference` at a time).
/// A room that ended in between answers `No Conference by that name found.`.
pub fn rooms(model: &super::ServerModel) -> Vec<Message> {
    model
        .conferences
        .keys()
        .enumerate()
        .map(|(n, room)| {
            Message::new()
                .with("Action", "ConfbridgeList")
                .with("Conference", room)
                .with("ActionID", format!("resync-room-{n}"))
        })
        .collect()
}
