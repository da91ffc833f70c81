//! MixMonitor, StopMixMonitor and MixMonitorMute.

use shared::ami::Message;

use super::{Reply, is_false, response};
use crate::state::Core;

/// `MixMonitor`, `StopMixMonitor` and `MixMonitorMute`, with app_mixmonitor's checks in its
/// order (a mute's direction is checked before its channel) and texts.
pub(super) fn mix_monitor(core: &Core, action: &str, m: &Message, id: Option<&[u8]>) -> Reply {
    let header = |k: &str| m.get_str(k).map(|v| v.into_owned()).unwrap_or_default();
    let (chan, direction, state) = (header("Channel"), header("Direction"), header("State"));
    if action == "mixmonitormute" {
        if direction.is_empty() {
            return Reply::error(id, "No direction specified. Must be read, write or both");
        }
        if !["read", "write", "both"]
            .iter()
            .any(|d| d.eq_ignore_ascii_case(&direction))
        {
            return Reply::error(
                id,
                "Invalid direction specified. Must be read, write or both",
            );
        }
    }
    if chan.is_empty() {
        return Reply::error(id, "No channel specified");
    }
    if action == "mixmonitormute" && state.is_empty() {
        return Reply::error(id, "No state specified");
    }
    let result = core.with_pbx(|pbx| match action {
        "mixmonitor" => pbx.mix_monitor(&chan, &header("File"), &header("Options")),
        "stopmixmonitor" => {
            let monitor = m.get_str("MixMonitorID").filter(|v| !v.is_empty());
            pbx.stop_mix_monitor(&chan, monitor.as_deref())
                .map(|()| None)
        }
        _ => pbx
            .mix_monitor_mute(&chan, &direction, !is_false(state.as_bytes()))
            .map(|()| None),
    });
    match result {
        Ok(Some(monitor)) => Reply::msg(&response("Success", id).with("MixMonitorID", monitor)),
        Ok(None) => Reply::msg(&response("Success", id)),
        Err(text) => Reply::error(id, text),
    }
}
