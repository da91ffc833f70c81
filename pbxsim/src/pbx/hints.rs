//! Hints, presence and voicemail: `ExtensionStatus`, `PresenceStatus`/`PresenceStateChange`
//! and `MessageWaiting`, and the `DEVICE_STATE()`/`PRESENCE_STATE()` functions.

use super::*;
use crate::directory::{PRESENCE_STATES, Phone, Presence};

/// Device states `func_devstate` accepts, in `enum ast_device_state` order.
const DEVICE_STATES: [&str; 9] = [
    "UNKNOWN",
    "NOT_INUSE",
    "INUSE",
    "BUSY",
    "INVALID",
    "UNAVAILABLE",
    "RINGING",
    "RINGINUSE",
    "ONHOLD",
];

/// The static name of a device state (unknown words read as `UNKNOWN`).
pub(super) fn device_state_name(state: &str) -> &'static str {
    DEVICE_STATES
        .iter()
        .find(|s| s.eq_ignore_ascii_case(state.trim()))
        .copied()
        .unwrap_or("UNKNOWN")
}

/// Rank of each device state in `ast_devstate_aggregate_add`'s `state_order` (higher wins).
fn aggregate_rank(state: &str) -> u8 {
    match state {
        "UNKNOWN" => 1,
        "NOT_INUSE" => 3,
        "INUSE" => 6,
        "BUSY" => 7,
        "UNAVAILABLE" => 2,
        "RINGING" => 5,
        "RINGINUSE" => 8,
        "ONHOLD" => 4,
        _ => 0,
    }
}

/// `ast_devstate_aggregate_*`: the combined state of a hint's devices.
fn aggregate<'a>(states: impl Iterator<Item = &'a str>) -> &'a str {
    let (mut ringing, mut in_use, mut result) = (false, false, "INVALID");
    for state in states {
        ringing |= state == "RINGING";
        in_use |= matches!(state, "INUSE" | "ONHOLD" | "BUSY");
        if ringing && in_use {
            result = "RINGINUSE";
        } else if aggregate_rank(state) > aggregate_rank(result) {
            result = state;
        }
    }
    result
}

/// `ast_devstate_to_extenstate`: the extension state number of a device state.
fn extension_state(device_state: &str) -> i32 {
    match device_state {
        "ONHOLD" => 16,
        "BUSY" => 2,
        "UNAVAILABLE" | "INVALID" => 4,
        "RINGINUSE" => 9,
        "RINGING" => 8,
        "INUSE" => 1,
        _ => 0,
    }
}

/// `ast_extension_state2str`: the `StatusText` of a state number (as recorded).
pub fn status_text(status: i32) -> &'static str {
    match status {
        0 => "Idle",
        1 => "InUse",
        2 => "Busy",
        4 => "Unavailable",
        8 => "Ringing",
        9 => "InUse&Ringing",
        16 => "Hold",
        17 => "InUse&Hold",
        _ => "Unknown",
    }
}

/// Why a `Setvar` of `DEVICE_STATE()` or `PRESENCE_STATE()` was refused: Asterisk's
/// function returns an error, which the action reports as `Variable not set`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FunctionError {
    /// Only `Custom:` devices and `CustomPresence:` providers can be written, with a known state.
    #[error("Variable not set")]
    NotSet,
}

impl Pbx {
    /// The current state number of a hint: its devices' states aggregated.
    fn hint_status(&self, phone: &Phone) -> i32 {
        let states = phone.devices().map(|d| self.device_state_of(d));
        extension_state(aggregate(states))
    }

    /// A device's state (`UNKNOWN` for one never seen, as `DEVICE_STATE()` reads it).
    pub fn device_state_of(&self, device: &str) -> &str {
        self.device_state.get(device).copied().unwrap_or("UNKNOWN")
    }

    /// Every hint, with its context and current state number, in listing order.
    pub fn hints(&self) -> impl Iterator<Item = (&Phone, &str, i32)> {
        let context = self.opts.directory.context.as_str();
        self.opts
            .directory
            .phones
            .iter()
            .map(move |p| (p, context, self.hint_status(p)))
    }

    /// `ExtensionState`: the hint and state of an extension (`""` and -1 without a hint).
    pub fn extension_state(&self, exten: &str, context: &str) -> (String, i32) {
        self.hints()
            .find(|(p, c, _)| p.exten == exten && *c == context)
            .map_or((String::new(), -1), |(p, _, s)| (p.hint.clone(), s))
    }

    /// Raises `ExtensionStatus` for every hint on `device` whose state changed, before the
    /// `DeviceStateChange` (the order most of the recorded changes show).
    pub(super) fn hints_follow(&mut self, device: &str) {
        let changed: Vec<(usize, i32)> = self
            .opts
            .directory
            .phones
            .iter()
            .enumerate()
            .filter(|(_, p)| p.devices().any(|d| d == device))
            .map(|(i, p)| (i, self.hint_status(p)))
            .filter(|&(i, status)| self.hint_states.get(i) != Some(&status))
            .collect();
        for (i, status) in changed {
            if let Some(slot) = self.hint_states.get_mut(i) {
                *slot = status;
            }
            let Some(phone) = self.opts.directory.phones.get(i) else {
                continue;
            };
            let msg = Self::head("ExtensionStatus", Classes::CALL)
                .with("Exten", &phone.exten)
                .with("Context", &self.opts.directory.context)
                .with("Hint", &phone.hint)
                .with("Status", status.to_string())
                .with("StatusText", status_text(status));
            self.emit(Classes::CALL, msg);
        }
    }

    /// Presence states set so far, in `PresenceStateList` order.
    pub fn presences(&self) -> impl Iterator<Item = &Presence> {
        self.presence.iter()
    }

    /// `PresenceState`: the state of a provider; `None` for a provider that is not
    /// `CustomPresence:` (`ast_presence_state` gives INVALID), `not_set` for an unknown one.
    pub fn presence_of(&self, provider: &str) -> Option<Presence> {
        if !provider.starts_with("CustomPresence:") {
            return None;
        }
        Some(
            self.presence
                .iter()
                .find(|p| p.provider == provider)
                .cloned()
                .unwrap_or_else(|| Presence {
                    provider: provider.into(),
                    state: "not_set".into(),
                    subtype: String::new(),
                    message: String::new(),
                }),
        )
    }

    /// Sets a presence state: `PresenceStatus` for each hint with this provider, then
    /// `PresenceStateChange`, as recorded.
    pub fn set_presence(&mut self, provider: &str, state: &str, subtype: &str, message: &str) {
        let new = Presence {
            provider: provider.into(),
            state: state.into(),
            subtype: subtype.into(),
            message: message.into(),
        };
        match self.presence.iter_mut().find(|p| p.provider == provider) {
            Some(slot) => *slot = new,
            None => self.presence.push(new),
        }
        let hinted: Vec<Phone> = self
            .opts
            .directory
            .phones
            .iter()
            .filter(|p| p.presence() == Some(provider))
            .cloned()
            .collect();
        for phone in hinted {
            let msg = Self::head("PresenceStatus", Classes::CALL)
                .with("Exten", &phone.exten)
                .with("Context", &self.opts.directory.context)
                .with("Hint", &phone.hint)
                .with("Status", state)
                .with("Subtype", subtype)
                .with("Message", message);
            self.emit(Classes::CALL, msg);
        }
        let msg = Self::head("PresenceStateChange", Classes::CALL)
            .with("Presentity", provider)
            .with("Status", state)
            .with("Subtype", subtype)
            .with("Message", message);
        self.emit(Classes::CALL, msg);
    }

    /// `Setvar` of `DEVICE_STATE(Custom:x)` or `PRESENCE_STATE(CustomPresence:x)`
    /// (`state,subtype,message`); `None` when `var` is neither function.
    pub fn write_function(&mut self, var: &str, value: &str) -> Option<Result<(), FunctionError>> {
        let arg = |name: &str| {
            var.strip_prefix(name)
                .and_then(|r| r.strip_prefix('('))
                .and_then(|r| r.strip_suffix(')'))
        };
        if let Some(device) = arg("DEVICE_STATE") {
            let state = DEVICE_STATES
                .iter()
                .find(|s| s.eq_ignore_ascii_case(value.trim()));
            return Some(match (device.starts_with("Custom:"), state) {
                (true, Some(state)) => {
                    self.set_device_state(device, state);
                    Ok(())
                }
                _ => Err(FunctionError::NotSet),
            });
        }
        let provider = arg("PRESENCE_STATE")?;
        let mut parts = value.splitn(3, ',');
        let state = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let (subtype, message) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let known = PRESENCE_STATES.iter().find(|s| **s == state);
        Some(match (provider.starts_with("CustomPresence:"), known) {
            (true, Some(state)) => {
                self.set_presence(provider, state, subtype, message);
                Ok(())
            }
            _ => Err(FunctionError::NotSet),
        })
    }

    /// `Getvar` of `DEVICE_STATE(device)` or `PRESENCE_STATE(provider,value|subtype|message)`.
    pub fn read_function(&self, var: &str) -> Option<String> {
        let arg = |name: &str| {
            var.strip_prefix(name)
                .and_then(|r| r.strip_prefix('('))
                .and_then(|r| r.strip_suffix(')'))
        };
        if let Some(device) = arg("DEVICE_STATE") {
            return Some(self.device_state_of(device).to_string());
        }
        let (provider, field) = arg("PRESENCE_STATE")?.split_once(',')?;
        let p = self.presence_of(provider)?;
        Some(match field.trim() {
            "value" => p.state,
            "subtype" => p.subtype,
            "message" => p.message,
            _ => String::new(),
        })
    }

    /// `MailboxCount`: urgent, new and old messages (all 0 for an unknown mailbox, as
    /// recorded without app_voicemail).
    pub fn mailbox_count(&self, mailbox: &str) -> (u32, u32, u32) {
        self.mailboxes
            .iter()
            .find(|m| m.mailbox == mailbox)
            .map_or((0, 0, 0), |m| (m.urgent, m.new, m.old))
    }

    /// One `MessageWaiting` per mailbox with its counts, as app_voicemail sends them when
    /// it loads (`ami-boot.txt`).
    pub fn mailbox_states(&self) -> Vec<Event> {
        self.mailboxes
            .iter()
            .map(|m| Event {
                class: Classes::CALL,
                msg: Self::head("MessageWaiting", Classes::CALL)
                    .with("Mailbox", &m.mailbox)
                    .with("Waiting", u8::from(m.new > 0).to_string())
                    .with("New", m.new.to_string())
                    .with("Old", m.old.to_string())
                    .build(),
            })
            .collect()
    }

    /// A caller left a message (`new`) or the owner heard one (`new` to `old`):
    /// `MessageWaiting` as `manager_mwi.c` sends it, without a channel, and the
    /// `MWI:` device state.
    pub fn voicemail(&mut self, mailbox: &str, left: bool) {
        let Some(m) = self.mailboxes.iter_mut().find(|m| m.mailbox == mailbox) else {
            return;
        };
        if left {
            m.new += 1;
            self.store_message(mailbox, "INBOX", "\"Unknown\" <0>", 0);
        } else if m.new > 0 {
            m.new -= 1;
            m.old += 1;
            if let Some(heard) = self
                .voice_messages
                .iter_mut()
                .find(|v| v.mailbox == mailbox && v.folder == "INBOX")
            {
                heard.folder = "Old".into();
            }
        } else {
            return;
        }
        self.message_waiting(mailbox, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregation_follows_devicestate_c() {
        assert_eq!(aggregate(["INUSE", "RINGING"].into_iter()), "RINGINUSE");
        assert_eq!(aggregate(["NOT_INUSE", "RINGING"].into_iter()), "RINGING");
        assert_eq!(
            aggregate(["NOT_INUSE", "NOT_INUSE"].into_iter()),
            "NOT_INUSE"
        );
        assert_eq!(aggregate(["UNKNOWN"].into_iter()), "UNKNOWN");
        assert_eq!(aggregate(["UNAVAILABLE", "INUSE"].into_iter()), "INUSE");
        assert_eq!(extension_state("UNKNOWN"), 0);
        assert_eq!(status_text(extension_state("RINGINUSE")), "InUse&Ringing");
        assert_eq!(status_text(-1), "Unknown");
    }
}
