//! The status actions that rebuild a model from nothing.
//!
//! Their list events go through [`super::ServerModel::apply_event`] like live events:
//! `CoreShowChannel` (with its `BridgeId`, so bridge membership needs no `BridgeInfo`
//! per bridge), `BridgeListItem`, `QueueParams`/`QueueMember`/`QueueEntry`,
//! `ParkedCall`, `ExtensionStatus`, `DeviceStateChange`, `PresenceStateChange`,
//! `VoicemailUserEntry` (each mailbox's new and old counts; live `MessageWaiting`
//! events keep them). Without app_voicemail Asterisk answers `VoicemailUsersList` with
//! an error, which the rebuild takes as an empty list.

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
    "VoicemailUsersList",
];

/// Lists of a module an Asterisk may well not load (app_voicemail): unknown once
/// booted, that part of the model is simply empty, nothing to warn about.
pub const OPTIONAL: &[&str] = &["VoicemailUsersList"];

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
