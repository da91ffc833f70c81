//! The live model of one Asterisk server: what the panel shows, kept by a pure reducer.
//!
//! [`ServerModel::apply_event`] (in [`reduce`]) turns one AMI event into the model and
//! appends the [`Change`]s it made; the relay runs it on every event of its service
//! session. Browsers receive the changes and run [`ServerModel::apply_change`], the
//! same code, so the two sides cannot drift. Each change carries the whole new value
//! of one thing, or its removal by key: applying a change twice, or to a snapshot that
//! already holds it, does no harm.
//!
//! Keys are what Asterisk keeps stable: a channel's `Uniqueid` (its name can change),
//! a bridge's `BridgeUniqueid`, a queue member's interface, a parked call's parkee.
//! [`resync`] lists the status actions whose list events rebuild a model from nothing
//! through the same reducer. [`follow`] is how a reader of the relay's snapshots and
//! deltas keeps to their `seq`.

pub mod follow;
mod list;
pub mod reduce;
pub mod resync;
pub mod scope;

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::ami::Classes;
pub use list::Keyed;

/// Everything the panel shows about one server.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerModel {
    /// Live channels, by uniqueid.
    #[serde(with = "list", default)]
    pub channels: BTreeMap<String, Channel>,
    /// Bridges with the channels talking in them, by bridge id.
    #[serde(with = "list", default)]
    pub calls: BTreeMap<String, Call>,
    #[serde(with = "list", default)]
    pub queues: BTreeMap<String, Queue>,
    /// Parked calls, by the parked channel's uniqueid.
    #[serde(with = "list", default)]
    pub parked: BTreeMap<String, ParkedCall>,
    /// Hints (extension states), by `exten@context`.
    #[serde(with = "list", default)]
    pub extensions: BTreeMap<String, Extension>,
    #[serde(with = "list", default)]
    pub devices: BTreeMap<String, Device>,
    #[serde(with = "list", default)]
    pub presence: BTreeMap<String, Presence>,
    #[serde(with = "list", default)]
    pub mailboxes: BTreeMap<String, Mailbox>,
    /// Active ChanSpy sessions (listen, whisper, barge), by the spying channel's uniqueid.
    #[serde(with = "list", default)]
    pub spies: BTreeMap<String, Spy>,
    /// Active MixMonitor recordings, by the recorded channel's uniqueid.
    #[serde(with = "list", default)]
    pub recordings: BTreeMap<String, Recording>,
    /// ConfBridge rooms, by name.
    #[serde(with = "list", default)]
    pub conferences: BTreeMap<String, Conference>,
}

/// One live channel, as the channel snapshot headers of Asterisk's events describe it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channel {
    pub uniqueid: String,
    /// The AMI channel name, e.g. `PJSIP/1001-00000001`.
    pub channel: String,
    /// The uniqueid of the channel that started the call: equal to `uniqueid` on the
    /// calling side.
    pub linkedid: String,
    /// Asterisk's channel state number (0 down … 4 ring, 5 ringing, 6 up, 7 busy).
    pub state: u8,
    pub state_desc: String,
    pub caller_id_num: String,
    pub caller_id_name: String,
    pub connected_num: String,
    pub connected_name: String,
    pub context: String,
    pub exten: String,
    pub priority: String,
    pub application: String,
    pub application_data: String,
    pub account_code: String,
    /// The bridge (call) the channel is in.
    pub bridge: Option<String>,
    pub on_hold: bool,
    /// When the channel was created, ms since the epoch (from `Duration` after a rebuild).
    pub started_ms: i64,
}

impl Channel {
    /// Whether this channel is `phone`'s, by its name or its caller ID: what a person
    /// sees as "my calls". Not for deciding who may act on it (a caller ID is whatever
    /// the caller says); see [`Phone::names`] for that.
    pub fn belongs_to(&self, phone: &Phone<'_>) -> bool {
        !phone.exten.is_empty() && (self.caller_id_num == phone.exten || phone.names(&self.channel))
    }
}

/// The names extension `exten`'s phone goes by in channel and interface names: its own
/// device (`PJSIP/1001`), and the interface of every queue member whose state
/// interface that device is. A call-centre agent is often a member through a Local
/// channel (`Local/agent1@agents/n` with `StateInterface: PJSIP/1001`): the queue
/// calls that ring the phone run on `Local/agent1@agents-…` channels, and they are the
/// agent's calls as much as those on `PJSIP/1001-…`.
#[derive(Clone, Debug)]
pub struct Phone<'a> {
    exten: &'a str,
    member_interfaces: Vec<&'a str>,
}

impl Phone<'_> {
    /// Whether a channel or interface name is this phone's.
    pub fn names(&self, name: &str) -> bool {
        names_extension(name, self.exten)
            || self.member_interfaces.iter().any(|interface| {
                // `Local/agent1@agents/n` rings as `Local/agent1@agents-0000002a;1`.
                let device = interface.strip_suffix("/n").unwrap_or(interface);
                name == *interface
                    || name
                        .strip_prefix(device)
                        .is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
            })
    }
}

/// Whether a channel or interface name is extension `exten`'s device: `PJSIP/201`,
/// `PJSIP/201-00000001`, `Local/201@agents/n`, but not `PJSIP/2010`.
pub fn names_extension(name: &str, exten: &str) -> bool {
    !exten.is_empty()
        && name.split_once('/').is_some_and(|(_, rest)| {
            rest.strip_prefix(exten)
                .is_some_and(|after| !after.starts_with(|c: char| c.is_ascii_alphanumeric()))
        })
}

/// A bridge: the channels talking to each other.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Call {
    pub id: String,
    pub bridge_type: String,
    pub technology: String,
    /// Uniqueids, in the order they entered.
    pub channels: Vec<String>,
    pub started_ms: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Queue {
    pub name: String,
    pub strategy: String,
    /// Callers waiting now.
    pub calls: u32,
    pub holdtime: u32,
    pub talktime: u32,
    pub completed: u32,
    pub abandoned: u32,
    /// Seconds the service level is measured against.
    pub service_level: u32,
    /// Share of calls answered within it, in percent, as Asterisk reports it.
    pub service_level_perf: f64,
    #[serde(with = "list", default)]
    pub members: BTreeMap<String, Member>,
    /// Callers waiting, by uniqueid.
    #[serde(with = "list", default)]
    pub callers: BTreeMap<String, Caller>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The member's interface (`Location` in lists), e.g. `PJSIP/1001`.
    pub interface: String,
    pub name: String,
    pub state_interface: String,
    /// `static` or `dynamic`.
    pub membership: String,
    pub penalty: i32,
    pub calls_taken: u32,
    /// Unix seconds of the last call, 0 if none.
    pub last_call: i64,
    /// Device state number (1 not in use, 2 in use, 3 busy, 5 unavailable, 6 ringing …).
    pub status: u8,
    pub paused: bool,
    /// As Asterisk gives it; empty when none.
    pub paused_reason: String,
    pub in_call: bool,
    pub wrapup_time: u32,
}

impl Member {
    /// Whether the member is on a call or being offered one: not paused, and in a call
    /// or its device in use, busy, ringing, ringing while in use or on hold (device
    /// states 2, 3, 6, 7, 8). The wallboard counts these as busy and the supervisor
    /// view says so; a paused member is counted as paused, whatever its phone does.
    pub fn is_busy(&self) -> bool {
        !self.paused && (self.in_call || matches!(self.status, 2 | 3 | 6 | 7 | 8))
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    pub uniqueid: String,
    pub channel: String,
    pub position: u32,
    pub caller_id_num: String,
    pub caller_id_name: String,
    /// When the caller joined, ms since the epoch: the wait is now minus this.
    pub joined_ms: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParkedCall {
    pub uniqueid: String,
    pub channel: String,
    pub caller_id_num: String,
    pub caller_id_name: String,
    pub lot: String,
    pub space: String,
    /// Who parked it (`ParkerDialString`).
    pub parker: String,
    /// Seconds until the call comes back, as of `since_ms`.
    pub timeout: u32,
    pub since_ms: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extension {
    pub exten: String,
    pub context: String,
    pub hint: String,
    /// Asterisk's extension state (-1 removed, 0 idle, 1 in use, 2 busy, 4 unavailable,
    /// 8 ringing, 16 on hold, and their sums).
    pub status: i32,
    pub status_text: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    pub device: String,
    /// `NOT_INUSE`, `INUSE`, `BUSY`, `UNAVAILABLE`, `RINGING`, `ONHOLD`, …
    pub state: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    /// `CustomPresence:1001`.
    pub presentity: String,
    /// `available`, `away`, `dnd`, `xa`, `chat`, `unavailable`, …
    pub status: String,
    pub subtype: String,
    pub message: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mailbox {
    /// `1001@default`.
    pub mailbox: String,
    pub waiting: bool,
    pub new: u32,
    pub old: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spy {
    pub spyer_uniqueid: String,
    pub spyer_channel: String,
    pub spyee_uniqueid: String,
    pub spyee_channel: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recording {
    pub uniqueid: String,
    pub channel: String,
    /// The muted direction (`read`, `write`, `both`), if any.
    pub muted: Option<String>,
}

/// A ConfBridge room (`Conference`) and the people in it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conference {
    pub name: String,
    /// Only `ConfbridgeListRooms` says it (ConfBridge sends no lock event), so the relay
    /// reads that list after locking or unlocking a room.
    pub locked: bool,
    /// From `ConfbridgeRecord`/`ConfbridgeStopRecord`; no list says it, so a rebuild
    /// during a recording shows none.
    pub recording: bool,
    /// By uniqueid.
    #[serde(with = "list", default)]
    pub participants: BTreeMap<String, Participant>,
}

/// A user in a conference (ConfBridge's hidden announcer and recorder are never one).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    pub uniqueid: String,
    /// The channel name, which the conference actions take.
    pub channel: String,
    pub caller_id_num: String,
    pub caller_id_name: String,
    pub muted: bool,
    pub talking: bool,
    pub admin: bool,
}

macro_rules! keyed {
    ($($type:ty => |$item:ident| $key:expr;)*) => {
        $(impl Keyed for $type {
            fn key(&self) -> String {
                let $item = self;
                $key
            }
        })*
    };
}

keyed! {
    Channel => |c| c.uniqueid.clone();
    Call => |c| c.id.clone();
    Queue => |q| q.name.clone();
    Member => |m| m.interface.clone();
    Caller => |c| c.uniqueid.clone();
    ParkedCall => |p| p.uniqueid.clone();
    Extension => |e| format!("{}@{}", e.exten, e.context);
    Device => |d| d.device.clone();
    Presence => |p| p.presentity.clone();
    Mailbox => |m| m.mailbox.clone();
    Spy => |s| s.spyer_uniqueid.clone();
    Recording => |r| r.uniqueid.clone();
    Conference => |c| c.name.clone();
    Participant => |p| p.uniqueid.clone();
}

/// One change to a model: the whole new value of one thing, or its removal by key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    Channel(Channel),
    ChannelRemoved {
        uniqueid: String,
    },
    Call(Call),
    CallRemoved {
        id: String,
    },
    /// A queue with its members and callers (queues change a few times a second at most).
    Queue(Queue),
    Parked(ParkedCall),
    ParkedRemoved {
        uniqueid: String,
    },
    Extension(Extension),
    Device(Device),
    Presence(Presence),
    Mailbox(Mailbox),
    Spy(Spy),
    SpyRemoved {
        spyer_uniqueid: String,
    },
    Recording(Recording),
    RecordingRemoved {
        uniqueid: String,
    },
    /// A conference room with its participants (a few changes a second at most).
    Conference(Conference),
    ConferenceRemoved {
        name: String,
    },
}

impl Change {
    /// Whether a reader with these AMI read classes may see it: queues need `agent`
    /// (Asterisk's queue events are of that class), everything else `call`.
    pub fn visible_to(&self, read: Classes) -> bool {
        match self {
            Change::Queue(_) => read.intersects(Classes::AGENT),
            _ => read.intersects(Classes::CALL),
        }
    }
}

/// Which of the model's maps a [`Change`] writes to, and under which key: changes with
/// the same place overwrite each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Place<'a> {
    Channel(&'a str),
    Call(&'a str),
    Queue(&'a str),
    Parked(&'a str),
    /// `exten` and `context`, the two halves of the `exten@context` key.
    Extension(&'a str, &'a str),
    Device(&'a str),
    Presence(&'a str),
    Mailbox(&'a str),
    Spy(&'a str),
    Recording(&'a str),
    Conference(&'a str),
}

impl Change {
    /// Where [`ServerModel::apply_change`] puts this change (or what it removes); the
    /// same key as [`Keyed::key`] of the value, without building it.
    fn place(&self) -> Place<'_> {
        match self {
            Change::Channel(Channel { uniqueid, .. }) | Change::ChannelRemoved { uniqueid } => {
                Place::Channel(uniqueid)
            }
            Change::Call(Call { id, .. }) | Change::CallRemoved { id } => Place::Call(id),
            Change::Queue(queue) => Place::Queue(&queue.name),
            Change::Parked(ParkedCall { uniqueid, .. }) | Change::ParkedRemoved { uniqueid } => {
                Place::Parked(uniqueid)
            }
            Change::Extension(e) => Place::Extension(&e.exten, &e.context),
            Change::Device(device) => Place::Device(&device.device),
            Change::Presence(presence) => Place::Presence(&presence.presentity),
            Change::Mailbox(mailbox) => Place::Mailbox(&mailbox.mailbox),
            Change::Spy(Spy { spyer_uniqueid, .. }) | Change::SpyRemoved { spyer_uniqueid } => {
                Place::Spy(spyer_uniqueid)
            }
            Change::Recording(Recording { uniqueid, .. })
            | Change::RecordingRemoved { uniqueid } => Place::Recording(uniqueid),
            Change::Conference(Conference { name, .. }) | Change::ConferenceRemoved { name } => {
                Place::Conference(name)
            }
        }
    }
}

/// Keeps only the last change of each thing, in the order of those last changes.
///
/// Each change is the whole new value of one thing or its removal, so applying the
/// survivors gives exactly the model that applying them all gives: under load a
/// busy channel changes a dozen times within one tick, and only its last state needs
/// to be encoded, sent to every browser and applied there.
pub fn coalesce(changes: &mut Vec<Change>) {
    let mut keep = {
        let mut seen = HashSet::with_capacity(changes.len());
        changes
            .iter()
            .rev()
            .map(|change| seen.insert(change.place()))
            .collect::<Vec<bool>>()
    };
    keep.reverse();
    let mut keep = keep.into_iter();
    changes.retain(|_| keep.next().unwrap_or(true));
}

fn put<T: Keyed>(map: &mut BTreeMap<String, T>, value: T) {
    map.insert(value.key(), value);
}

impl ServerModel {
    /// Extension `exten`'s phone, with the queue memberships it is rung through.
    pub fn phone<'a>(&'a self, exten: &'a str) -> Phone<'a> {
        let mut member_interfaces: Vec<&str> = self
            .queues
            .values()
            .flat_map(|q| q.members.values())
            .filter(|m| {
                m.interface != m.state_interface && names_extension(&m.state_interface, exten)
            })
            .map(|m| m.interface.as_str())
            .collect();
        member_interfaces.sort_unstable();
        member_interfaces.dedup();
        Phone {
            exten,
            member_interfaces,
        }
    }

    /// Extension `exten`'s channels as a person sees "my calls" (by
    /// [`Channel::belongs_to`]): the agent view's and the screen-pop's.
    pub fn channels_of<'a>(&'a self, exten: &'a str) -> impl Iterator<Item = &'a Channel> {
        let phone = self.phone(exten);
        self.channels.values().filter(move |c| c.belongs_to(&phone))
    }

    /// Applies a change made elsewhere (the relay's reducer): applying the changes
    /// `apply_event` produced to the old model gives the new one exactly.
    pub fn apply_change(&mut self, change: Change) {
        match change {
            Change::Channel(channel) => put(&mut self.channels, channel),
            Change::ChannelRemoved { uniqueid } => {
                self.channels.remove(&uniqueid);
            }
            Change::Call(call) => put(&mut self.calls, call),
            Change::CallRemoved { id } => {
                self.calls.remove(&id);
            }
            Change::Queue(queue) => put(&mut self.queues, queue),
            Change::Parked(parked) => put(&mut self.parked, parked),
            Change::ParkedRemoved { uniqueid } => {
                self.parked.remove(&uniqueid);
            }
            Change::Extension(extension) => put(&mut self.extensions, extension),
            Change::Device(device) => put(&mut self.devices, device),
            Change::Presence(presence) => put(&mut self.presence, presence),
            Change::Mailbox(mailbox) => put(&mut self.mailboxes, mailbox),
            Change::Spy(spy) => put(&mut self.spies, spy),
            Change::SpyRemoved { spyer_uniqueid } => {
                self.spies.remove(&spyer_uniqueid);
            }
            Change::Recording(recording) => put(&mut self.recordings, recording),
            Change::RecordingRemoved { uniqueid } => {
                self.recordings.remove(&uniqueid);
            }
            Change::Conference(conference) => put(&mut self.conferences, conference),
            Change::ConferenceRemoved { name } => {
                self.conferences.remove(&name);
            }
        }
    }

    /// The part of the model a reader with these read classes may see.
    pub fn visible_to(&self, read: Classes) -> ServerModel {
        let call = read.intersects(Classes::CALL);
        let agent = read.intersects(Classes::AGENT);
        ServerModel {
            channels: if call {
                self.channels.clone()
            } else {
                BTreeMap::new()
            },
            calls: if call {
                self.calls.clone()
            } else {
                BTreeMap::new()
            },
            queues: if agent {
                self.queues.clone()
            } else {
                BTreeMap::new()
            },
            parked: if call {
                self.parked.clone()
            } else {
                BTreeMap::new()
            },
            extensions: if call {
                self.extensions.clone()
            } else {
                BTreeMap::new()
            },
            devices: if call {
                self.devices.clone()
            } else {
                BTreeMap::new()
            },
            presence: if call {
                self.presence.clone()
            } else {
                BTreeMap::new()
            },
            mailboxes: if call {
                self.mailboxes.clone()
            } else {
                BTreeMap::new()
            },
            spies: if call {
                self.spies.clone()
            } else {
                BTreeMap::new()
            },
            recordings: if call {
                self.recordings.clone()
            } else {
                BTreeMap::new()
            },
            // Confbridge events are of class `call` (ami-session-3).
            conferences: if call {
                self.conferences.clone()
            } else {
                BTreeMap::new()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel(uniqueid: &str, state: u8) -> Change {
        Change::Channel(Channel {
            uniqueid: uniqueid.into(),
            state,
            ..Channel::default()
        })
    }

    #[test]
    fn coalescing_keeps_each_things_last_change_in_order() {
        let removed = |uniqueid: &str| Change::ChannelRemoved {
            uniqueid: uniqueid.into(),
        };
        let parked = Change::ParkedRemoved {
            uniqueid: "1.1".into(),
        };
        let mut changes = vec![
            channel("1.1", 4),
            channel("1.2", 4),
            channel("1.1", 6),
            parked.clone(),
            removed("1.2"),
            channel("1.2", 5),
            removed("1.1"),
        ];
        coalesce(&mut changes);
        // The parked call shares the channel's uniqueid, not its map: it stays.
        assert_eq!(changes, [parked, channel("1.2", 5), removed("1.1")]);
        let mut empty = Vec::new();
        coalesce(&mut empty);
        assert!(empty.is_empty());
    }

    #[test]
    fn extensions_coalesce_by_exten_and_context() {
        let extension = |exten: &str, context: &str, status: i32| {
            Change::Extension(Extension {
                exten: exten.into(),
                context: context.into(),
                status,
                ..Extension::default()
            })
        };
        let mut changes = vec![
            extension("201", "hints", 1),
            extension("201", "other", 1),
            extension("201", "hints", 0),
        ];
        coalesce(&mut changes);
        assert_eq!(
            changes,
            [extension("201", "other", 1), extension("201", "hints", 0)]
        );
    }

    #[test]
    fn an_extension_is_named_by_its_devices_only() {
        for name in [
            "PJSIP/201",
            "PJSIP/201-0000000a",
            "Local/201@agents/n",
            "Local/201@agents-00000001;2",
        ] {
            assert!(names_extension(name, "201"), "{name}");
        }
        for name in [
            "PJSIP/2010-00000001",
            "PJSIP/20",
            "201",
            "Local/1201@agents/n",
            "PJSIP/201x",
        ] {
            assert!(!names_extension(name, "201"), "{name}");
        }
        assert!(!names_extension("PJSIP/201", ""));
        let model = ServerModel::default();
        let by_caller_id = Channel {
            channel: "Local/q@queues-1;1".into(),
            caller_id_num: "201".into(),
            ..Channel::default()
        };
        assert!(by_caller_id.belongs_to(&model.phone("201")));
        assert!(!model.phone("201").names(&by_caller_id.channel));
    }

    #[test]
    fn a_member_is_busy_on_a_call_or_when_its_phone_is_in_use_unless_paused() {
        let member = |status: u8, in_call: bool, paused: bool| Member {
            status,
            in_call,
            paused,
            ..Member::default()
        };
        // 2 in use, 3 busy, 6 ringing, 7 ringing in use, 8 on hold.
        for status in [2, 3, 6, 7, 8] {
            assert!(member(status, false, false).is_busy(), "{status}");
            assert!(!member(status, false, true).is_busy(), "{status}, paused");
        }
        // 0 unknown, 1 not in use, 4 invalid, 5 unavailable.
        for status in [0, 1, 4, 5] {
            assert!(!member(status, false, false).is_busy(), "{status}");
        }
        assert!(
            member(1, true, false).is_busy(),
            "a call the device state missed"
        );
        assert!(!member(1, true, true).is_busy());
    }

    #[test]
    fn a_phone_also_goes_by_the_member_interfaces_that_ring_it() {
        let mut model = ServerModel::default();
        let mut support = Queue::default();
        for (interface, state_interface) in [
            ("Local/agent1@agents/n", "PJSIP/1001"),
            ("Local/agent2@agents/n", "PJSIP/1002"),
            ("PJSIP/1003", "PJSIP/1003"),
        ] {
            let member = Member {
                interface: interface.into(),
                state_interface: state_interface.into(),
                ..Member::default()
            };
            support.members.insert(interface.into(), member);
        }
        model.queues.insert("support".into(), support);
        let phone = model.phone("1001");
        for name in [
            "PJSIP/1001-0000000a",
            "Local/agent1@agents/n",
            "Local/agent1@agents-0000002a;1",
            "Local/agent1@agents-0000002a;2",
        ] {
            assert!(phone.names(name), "{name}");
        }
        for name in [
            "Local/agent2@agents-0000002b;1",
            "Local/agent10@agents-0000002c;1",
            "Local/agent1@agentsx-1;1",
            "PJSIP/1003-00000001",
        ] {
            assert!(!phone.names(name), "{name}");
        }
        assert!(model.phone("1003").names("PJSIP/1003-00000001"));
        assert!(!model.phone("").names("Local/agent1@agents-1;1"));
    }
}
