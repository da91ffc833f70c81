//! The status actions that rebuild a model from nothing.
//!
//! Their list events go through [`super::ServerModel::apply_event`] like live events:
//! `CoreShowChannel` (with its `BridgeId`, so bridge membership needs no `BridgeInfo`
//! per bridge), `BridgeListItem`, `QueueParams`/`QueueMember`/`QueueEntry`,
//! `ParkedCall`, `ExtensionStatus`, `DeviceStateChange`, `PresenceStateChange`,
//! `ConfbridgeListRooms` and then, per room it listed, `ConfbridgeList` ([`rooms`]), and
//! `VoicemailUserEntry` (each mailbox's new and old counts; live `MessageWaiting`
//! events keep them). Without app_confbridge or app_voicemail that part of the model is
//! simply empty ([`OPTIONAL`]).

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
    "VoicemailUsersList",
];

/// Lists of a module an Asterisk may well not load (app_confbridge, app_voicemail):
/// unknown once booted, that part of the model is simply empty, nothing to warn about.
pub const OPTIONAL: &[&str] = &["ConfbridgeListRooms", "VoicemailUsersList"];

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
