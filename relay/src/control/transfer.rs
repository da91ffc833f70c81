//! An attended transfer is started by Asterisk, not by its answer to `Atxfer`.
//!
//! Asterisk answers `Atxfer successfully queued` once it has queued the feature's DTMF
//! on the channel; whether a transfer follows is decided later, in the bridge. The
//! recordings (`ami-session-2.txt`) show one that never starts: the hook holds the
//! other party and drops at once, and nothing is dialled. A transfer that starts
//! dials its target as `Local/<exten>@<context>` (Asterisk's attended transfer calls
//! the target through a Local channel), and the live model sees that channel appear.
//! So the relay answers an `Atxfer` only when the model shows that channel, or fails
//! it after [`START_WAIT`] (the service waits: `service::transfer`).

use std::collections::BTreeSet;
use std::time::Duration;

use shared::model::ServerModel;

/// How long a queued transfer may take to start before it is reported as never started.
pub const START_WAIT: Duration = Duration::from_secs(5);

/// The words of a transfer Asterisk queued but never started.
pub const NEVER_STARTED: &str =
    "Asterisk accepted the transfer (Atxfer successfully queued) but never started it";

/// The transfer's dial: channels named `Local/<exten>@<context>-…` in `model`.
pub fn dials(model: &ServerModel, exten: &str, context: &str) -> BTreeSet<String> {
    let prefix = format!("Local/{exten}@{context}-");
    model
        .channels
        .values()
        .filter(|c| c.channel.starts_with(&prefix))
        .map(|c| c.uniqueid.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use shared::ami::Message;

    use super::*;

    fn newchannel(name: &str, uniqueid: &str) -> Message {
        Message::new()
            .with("Event", "Newchannel")
            .with("Privilege", "call,all")
            .with("Channel", name)
            .with("ChannelState", "0")
            .with("Uniqueid", uniqueid)
            .with("Linkedid", uniqueid)
    }

    #[test]
    fn the_transfer_dial_is_a_local_channel_to_its_target() {
        let mut model = ServerModel::default();
        let mut changes = Vec::new();
        for (name, uniqueid) in [
            ("Local/250@test-00000001;1", "1.1"),
            ("Local/250@test-00000001;2", "1.2"),
            ("Local/2500@test-00000002;1", "1.3"),
            ("Local/250@other-00000003;1", "1.4"),
            ("PJSIP/250-00000004", "1.5"),
        ] {
            model.apply_event(&newchannel(name, uniqueid), 0, &mut changes);
        }
        let found: Vec<String> = dials(&model, "250", "test").into_iter().collect();
        assert_eq!(found, ["1.1", "1.2"]);
    }
}
