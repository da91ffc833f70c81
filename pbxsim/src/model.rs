//! The call model's nouns: channels, bridges, queues and their members, the parking lot, devices.

use std::collections::HashMap;

use shared::ami::MessageBuilder;

/// A channel state as Asterisk numbers it (`ChannelState:`), with its `ChannelStateDesc:` text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChanState {
    /// 0, `Down`: just created, not yet ringing.
    Down,
    /// 4, `Ring`: the `;2` half of a Local channel running its dialplan.
    Ring,
    /// 5, `Ringing`: the far end is alerting.
    Ringing,
    /// 6, `Up`: answered.
    Up,
    /// 7, `Busy`: `Busy()` was run.
    Busy,
}

impl ChanState {
    /// The numeric `ChannelState:` value.
    pub fn code(self) -> u8 {
        match self {
            ChanState::Down => 0,
            ChanState::Ring => 4,
            ChanState::Ringing => 5,
            ChanState::Up => 6,
            ChanState::Busy => 7,
        }
    }

    /// The `ChannelStateDesc:` text.
    pub fn desc(self) -> &'static str {
        match self {
            ChanState::Down => "Down",
            ChanState::Ring => "Ring",
            ChanState::Ringing => "Ringing",
            ChanState::Up => "Up",
            ChanState::Busy => "Busy",
        }
    }
}

/// One channel: what the standard channel header block of every event shows, plus what the
/// status actions (`Status`, `CoreShowChannels`) add.
#[derive(Clone, Debug)]
pub struct Channel {
    /// `Local/100@test-00000012;1`.
    pub name: String,
    /// Current state.
    pub state: ChanState,
    /// Caller ID number (`<unknown>` until set).
    pub cid_num: String,
    /// Caller ID name.
    pub cid_name: String,
    /// Connected line number.
    pub conn_num: String,
    /// Connected line name.
    pub conn_name: String,
    /// Account code (`NewAccountCode` changes it).
    pub account: String,
    /// Dialplan context.
    pub context: String,
    /// Dialplan extension (empty for the outgoing half of a dial, like Asterisk).
    pub exten: String,
    /// Dialplan priority.
    pub priority: u32,
    /// `1795418203.36`.
    pub uniqueid: String,
    /// The Uniqueid of the call's first channel.
    pub linkedid: String,
    /// The application running now (`Dial`, `Wait`, `Queue`, `AppDial`…).
    pub app: String,
    /// Its argument.
    pub data: String,
    /// The bridge the channel is in, if any.
    pub bridge: Option<String>,
    /// Virtual time of creation, in ms (for `Seconds:` / `Duration:`).
    pub created_ms: u64,
    /// Channel variables set so far, in first-set order (`Status` `Variables:`, `Getvar`).
    pub vars: Vec<(String, String)>,
}

impl Channel {
    /// The value of a channel variable, if set.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Sets a channel variable (the `__` inheritance prefix is not part of the name).
    pub fn set_var(&mut self, name: &str, value: &str) {
        let name = name.trim_start_matches('_');
        match self.vars.iter_mut().find(|(k, _)| k == name) {
            Some(slot) => value.clone_into(&mut slot.1),
            None => self.vars.push((name.to_string(), value.to_string())),
        }
    }
}

pub(crate) const UNKNOWN: &str = "<unknown>";

impl Channel {
    /// Appends the 14-header channel block, each key prefixed by `prefix`
    /// (`""`, `Dest`, `Transferer`, `Parkee`, `LocalOne`, …), in Asterisk's order.
    pub fn push_headers(&self, msg: &mut MessageBuilder, prefix: &str) {
        // Keys are built in one reused buffer: this runs for most events of a load test.
        let mut key = String::with_capacity(prefix.len() + 20);
        let state = [b'0' + self.state.code()];
        let mut priority = itoa_buf();
        let fields: [(&str, &[u8]); 14] = [
            ("Channel", self.name.as_bytes()),
            ("ChannelState", &state),
            ("ChannelStateDesc", self.state.desc().as_bytes()),
            ("CallerIDNum", self.cid_num.as_bytes()),
            ("CallerIDName", self.cid_name.as_bytes()),
            ("ConnectedLineNum", self.conn_num.as_bytes()),
            ("ConnectedLineName", self.conn_name.as_bytes()),
            ("Language", b"en"),
            ("AccountCode", self.account.as_bytes()),
            ("Context", self.context.as_bytes()),
            ("Exten", self.exten.as_bytes()),
            ("Priority", format_u32(self.priority, &mut priority)),
            ("Uniqueid", self.uniqueid.as_bytes()),
            ("Linkedid", self.linkedid.as_bytes()),
        ];
        for (name, value) in fields {
            key.clear();
            key.push_str(prefix);
            key.push_str(name);
            msg.push(&key, value);
        }
    }

    /// The `Local/100@test` part of the name, the device whose state follows the channel.
    pub fn device(&self) -> &str {
        self.name
            .rsplit_once('-')
            .map_or(self.name.as_str(), |(dev, _)| dev)
    }

    /// The `"Name" <num>` form the CDR and `CALLERID(all)` use.
    pub fn callerid_all(&self) -> String {
        format!("\"{}\" <{}>", self.cid_name, self.cid_num)
    }
}

/// A mixing bridge (`basic` / `simple_bridge`, the only kind Local-channel calls create).
#[derive(Clone, Debug)]
pub struct Bridge {
    /// UUID text.
    pub id: String,
    /// Uniqueids of the channels in it, in entry order.
    pub members: Vec<String>,
    /// Virtual creation time, ms.
    pub created_ms: u64,
    /// The parking lot's holding bridge (it outlives its last member) rather than a call's.
    pub parking: bool,
    /// The ConfBridge room whose softmix bridge this is.
    pub conference: Option<String>,
    /// ConfBridge's own channels in it (the announcer `CBAnn/…`, the recorder
    /// `CBRec/…`): counted in `BridgeNumChannels`, never in any other event.
    pub hidden: usize,
}

impl Bridge {
    /// `simple_bridge` for calls, `holding_bridge` for the parking lot, `softmix` for a
    /// conference.
    pub fn technology(&self) -> &'static str {
        if self.parking {
            "holding_bridge"
        } else if self.conference.is_some() {
            "softmix"
        } else {
            "simple_bridge"
        }
    }

    /// Appends the bridge header block (`BridgeUniqueid` … `BridgeVideoSourceMode`).
    pub fn push_headers(&self, msg: &mut MessageBuilder) {
        msg.push("BridgeUniqueid", &self.id);
        let (kind, creator, name) = match (&self.conference, self.parking) {
            (_, true) => ("parking", "Parking", "default"),
            (Some(room), false) => ("base", "ConfBridge", room.as_str()),
            (None, false) => ("basic", UNKNOWN, UNKNOWN),
        };
        msg.push("BridgeType", kind);
        msg.push("BridgeTechnology", self.technology());
        msg.push("BridgeCreator", creator);
        msg.push("BridgeName", name);
        msg.push(
            "BridgeNumChannels",
            (self.members.len() + self.hidden).to_string(),
        );
        msg.push("BridgeVideoSourceMode", "none");
    }
}

/// A queue member (static from `queues.conf`, or dynamic from `QueueAdd`).
#[derive(Clone, Debug)]
pub struct Member {
    /// `Agent One`.
    pub name: String,
    /// `Local/agent1@agents/n`.
    pub interface: String,
    /// The device whose state is the member's (`StateInterface`): the interface itself,
    /// or the agent's phone in the call centre.
    pub state_interface: String,
    /// `static` or `dynamic`.
    pub dynamic: bool,
    /// Penalty.
    pub penalty: u32,
    /// Calls answered.
    pub calls_taken: u32,
    /// Epoch seconds of the last call end (0 = never).
    pub last_call: u64,
    /// Epoch seconds of the last pause change (0 = never).
    pub last_pause: u64,
    /// Epoch seconds of login.
    pub login_time: u64,
    /// Whether in a call now.
    pub in_call: bool,
    /// Device status: 1 not in use, 2 in use, 6 ringing.
    pub status: u8,
    /// Paused.
    pub paused: bool,
    /// Pause reason.
    pub paused_reason: String,
    /// Whether the member may be offered a call while in use (`QueueMemberRingInUse`).
    pub ringinuse: bool,
}

impl Member {
    /// The member block shared by `QueueMemberStatus`/`Pause`/`Added`/`Removed`.
    pub fn push_event_headers(&self, msg: &mut MessageBuilder, queue: &str) {
        msg.push("Queue", queue);
        msg.push("MemberName", &self.name);
        msg.push("Interface", &self.interface);
        msg.push("StateInterface", &self.state_interface);
        self.push_tail(msg);
        msg.push("Ringinuse", if self.ringinuse { "1" } else { "0" });
        msg.push("Wrapuptime", "0");
    }

    /// The `QueueMember` item of `QueueStatus`.
    pub fn push_status_headers(&self, msg: &mut MessageBuilder, queue: &str) {
        msg.push("Queue", queue);
        msg.push("Name", &self.name);
        msg.push("Location", &self.interface);
        msg.push("StateInterface", &self.state_interface);
        self.push_tail(msg);
        msg.push("Wrapuptime", "0");
    }

    fn push_tail(&self, msg: &mut MessageBuilder) {
        msg.push(
            "Membership",
            if self.dynamic { "dynamic" } else { "static" },
        );
        msg.push("Penalty", self.penalty.to_string());
        msg.push("CallsTaken", self.calls_taken.to_string());
        msg.push("LastCall", self.last_call.to_string());
        msg.push("LastPause", self.last_pause.to_string());
        msg.push("LoginTime", self.login_time.to_string());
        msg.push("InCall", u8::from(self.in_call).to_string());
        msg.push("Status", self.status.to_string());
        msg.push("Paused", u8::from(self.paused).to_string());
        msg.push("PausedReason", &self.paused_reason);
    }
}

/// A queue with its members and waiting callers.
#[derive(Clone, Debug)]
pub struct Queue {
    /// `support`.
    pub name: String,
    /// `rrmemory`, `ringall`.
    pub strategy: String,
    /// Members.
    pub members: Vec<Member>,
    /// Uniqueids of waiting callers, in position order, with their join time (ms).
    pub callers: Vec<(String, u64)>,
    /// Each waiting caller's place when it joined (`OriginalPosition`), by uniqueid.
    pub original_positions: HashMap<String, usize>,
    /// Completed calls.
    pub completed: u32,
    /// Abandoned calls.
    pub abandoned: u32,
    /// Round-robin cursor for `rrmemory`.
    pub next_member: usize,
}

/// A parked call in the `default` lot.
#[derive(Clone, Debug)]
pub struct Parked {
    /// Uniqueid of the parkee.
    pub uniqueid: String,
    /// Space, 701-720.
    pub space: u32,
    /// Virtual time parked, ms.
    pub since_ms: u64,
    /// Timeout in seconds.
    pub timeout_s: u64,
    /// `ParkerDialString`.
    pub parker: String,
}

fn itoa_buf() -> [u8; 10] {
    [0; 10]
}

/// Writes `n` in decimal into `buf` without allocating; returns the digits.
fn format_u32(mut n: u32, buf: &mut [u8; 10]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_numbers_without_allocating() {
        let mut buf = itoa_buf();
        assert_eq!(format_u32(0, &mut buf), b"0");
        let mut buf = itoa_buf();
        assert_eq!(format_u32(4_294_967_295, &mut buf), b"4294967295");
    }
}
