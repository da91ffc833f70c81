//! MixMonitor on a channel: started by extension 900 or the `MixMonitor` action, muted and
//! stopped by AMI, in the orders of `ami-session-2.txt`.

use super::*;

/// One recording on a channel (Asterisk keeps it as a channel datastore).
#[derive(Clone, Debug)]
pub(super) struct Monitor {
    /// Uniqueid of the recorded channel.
    uid: String,
    /// The datastore address Asterisk hands out as `MixMonitorID`.
    id: String,
}

impl Pbx {
    /// Starts a recording of `uid` into `file`: `MIXMONITOR_FILENAME`, `MixMonitorStart`,
    /// then (a bridged channel's audio hook re-joins its bridge) `BRIDGEPEER` on both sides.
    /// With `id_var`, the `MixMonitorID` is stored in that channel variable and returned.
    pub(super) fn monitor_start(
        &mut self,
        uid: &str,
        file: &str,
        id_var: Option<&str>,
    ) -> Option<String> {
        self.next_monitor += 1;
        // A pointer, as Asterisk prints the datastore's address.
        let id = format!("0x7f732c{:06x}", self.next_monitor * 0x40);
        self.monitors.push(Monitor {
            uid: uid.to_string(),
            id: id.clone(),
        });
        let path = if file.starts_with('/') {
            file.to_string()
        } else {
            format!("/var/spool/asterisk/monitor/{file}")
        };
        self.varset(uid, "MIXMONITOR_FILENAME", &path);
        if let Some(var) = id_var {
            self.varset(uid, var, &id);
        }
        self.chan_event("MixMonitorStart", Classes::CALL, uid, &[]);
        id_var.map(|_| id)
    }

    /// AMI `MixMonitor` of channel `name`. `options` are the application's (`b`, `i(VAR)`…);
    /// only `i(VAR)` changes what is seen. Returns the `MixMonitorID` if `i(VAR)` asked for
    /// one, or Asterisk's error text.
    pub fn mix_monitor(
        &mut self,
        name: &str,
        file: &str,
        options: &str,
    ) -> Result<Option<String>, &'static str> {
        let Some(uid) = self.channel_by_name(name).map(|c| c.uniqueid.clone()) else {
            return Err("No such channel");
        };
        if file.is_empty() {
            // No file and no r()/t() file: the application refuses to start.
            return Err("Could not start monitoring channel");
        }
        let id_var = options
            .split_once("i(")
            .and_then(|(_, rest)| rest.split_once(')'))
            .map(|(var, _)| var)
            .filter(|var| !var.is_empty());
        let id = self.monitor_start(&uid, file, id_var);
        if let Some(peer) = self.bridge_peer(&uid) {
            let (me, them) = (self.name_of(&uid), self.name_of(&peer));
            self.varset(&uid, "BRIDGEPEER", &them);
            self.varset(&peer, "BRIDGEPEER", &me);
        }
        Ok(id)
    }

    /// AMI `StopMixMonitor`: stops the recording `id` of channel `name` (the newest one if
    /// `id` is `None`), with `MixMonitorStop`. Returns Asterisk's error text otherwise.
    pub fn stop_mix_monitor(&mut self, name: &str, id: Option<&str>) -> Result<(), &'static str> {
        let Some(uid) = self.channel_by_name(name).map(|c| c.uniqueid.clone()) else {
            return Err("No such channel");
        };
        // Asterisk adds datastores at the head of the channel's list: the newest is found first.
        let found = self
            .monitors
            .iter()
            .rposition(|m| m.uid == uid && id.is_none_or(|id| m.id == id));
        let Some(i) = found else {
            return Err("Could not stop monitoring channel");
        };
        self.monitors.remove(i);
        self.chan_event("MixMonitorStop", Classes::CALL, &uid, &[]);
        Ok(())
    }

    /// AMI `MixMonitorMute` of channel `name` in `direction` (`read`, `write` or `both`,
    /// checked by the caller).
    /// Returns Asterisk's error text if there is no such channel or it is not recorded.
    pub fn mix_monitor_mute(
        &mut self,
        name: &str,
        direction: &str,
        on: bool,
    ) -> Result<(), &'static str> {
        let Some(uid) = self.channel_by_name(name).map(|c| c.uniqueid.clone()) else {
            return Err("No such channel");
        };
        if !self.monitors.iter().any(|m| m.uid == uid) {
            return Err("Cannot set mute flag");
        }
        self.chan_event(
            "MixMonitorMute",
            Classes::CALL,
            &uid,
            &[
                ("Direction", direction),
                ("State", if on { "1" } else { "0" }),
            ],
        );
        Ok(())
    }

    /// A hung-up channel's recordings end silently: Asterisk raises `MixMonitorStop` only
    /// for `StopMixMonitor` (the recorded extension-900 call hangs up without one).
    pub(super) fn monitors_gone(&mut self, uid: &str) {
        self.monitors.retain(|m| m.uid != uid);
    }
}
