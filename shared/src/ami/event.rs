//! Typed AMI events: the headers the live model uses, read once from a raw [`Message`].
//!
//! This is the "message" layer of `STYLE.md` (mini-redis `Frame` → `Command`): the
//! reducer matches on an [`Event`] and never reads a header itself, so what it depends
//! on is written down here, one variant per event type, and nowhere else.
//!
//! [`Event::parse`] allocates nothing when the values are UTF-8 (every value in the
//! recordings is): a [`Text`] borrows from the message's buffer and is only an owned,
//! lossy copy when a value is not UTF-8 (a caller ID name from a trunk in Latin-1).
//!
//! Reading is as lenient as Asterisk's output is uneven. A missing header is empty
//! text, a number that does not parse is 0, a flag is [`is_true`]. The one exception
//! is the header that says what an event is about (a channel's `Uniqueid`, a queue's
//! `Queue`, ...): where the reducer could do nothing without it, an event lacking it,
//! or leaving it empty, is [`EventError::MissingHeader`], which the reducer skips. Where
//! it could still do something, the header stays plain text, so that no event changes
//! the model differently for having been typed.

use std::borrow::Cow;
use std::str::FromStr;

use super::{Message, is_true};

/// A header value as text: borrowed from the message when it is UTF-8, else a lossy copy.
pub type Text<'a> = Cow<'a, str>;

/// Why a message gives no [`Event`]; either way the reducer leaves the model alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// The message has no `Event` header (a response or an action): route it elsewhere.
    #[error("not an AMI event: no Event header")]
    NotAnEvent,
    /// The event does not name what it is about, so nothing can be done with it: skip it.
    #[error("{event} event without a {header} header")]
    MissingHeader {
        event: &'static str,
        header: &'static str,
    },
}

/// One AMI event the live model uses, its headers read and typed.
///
/// Live events and the items of status lists have variants of their own, even where
/// the reducer treats them alike, so that each event type's headers are named in one
/// place.
#[derive(Clone, Debug, PartialEq)]
#[allow(
    clippy::large_enum_variant,
    reason = "an event lives on the stack for one reducer call and is never stored: \
              boxing DialBegin's two snapshots would cost an allocation per dial"
)]
pub enum Event<'a> {
    /// The only live event that creates a channel.
    Newchannel(ChannelSnapshot<'a>),
    /// A `CoreShowChannels` item: creates the channel, as `Newchannel` does, when the
    /// model is rebuilt.
    CoreShowChannel {
        channel: ChannelSnapshot<'a>,
        /// How long the channel has been up (`Duration`, `HH:MM:SS`), to date its start.
        up_for_s: i64,
        /// The bridge the channel is in (`BridgeId`); its id is empty when none.
        bridge: BridgeSnapshot<'a>,
    },
    Newstate(ChannelSnapshot<'a>),
    NewCallerid(ChannelSnapshot<'a>),
    NewConnectedLine(ChannelSnapshot<'a>),
    NewAccountCode(ChannelSnapshot<'a>),
    Newexten(ChannelSnapshot<'a>),
    /// Either side may be missing: an `Originate` dials with no calling channel.
    DialBegin {
        caller: Option<ChannelSnapshot<'a>>,
        dest: Option<ChannelSnapshot<'a>>,
    },
    DialEnd(ChannelSnapshot<'a>),
    Hold {
        uniqueid: Text<'a>,
    },
    Unhold {
        uniqueid: Text<'a>,
    },
    /// `Uniqueid` is not required: a spy session whose `ChanSpyStart` named no spyee
    /// ends at a `Hangup` that names no channel either, as it always has.
    Hangup {
        uniqueid: Text<'a>,
    },
    BridgeCreate(BridgeSnapshot<'a>),
    /// A `BridgeList` item, handled as a `BridgeCreate`.
    BridgeListItem(BridgeSnapshot<'a>),
    /// The bridge id may be empty: the channel's snapshot is still taken.
    BridgeEnter {
        channel: ChannelSnapshot<'a>,
        bridge: BridgeSnapshot<'a>,
    },
    BridgeLeave {
        uniqueid: Text<'a>,
    },
    BridgeDestroy {
        bridge_uniqueid: Text<'a>,
    },
    /// A `QueueStatus` item with the queue's counters.
    QueueParams(QueueStats<'a>),
    /// A `QueueStatus` item: the live member events' state, as a list.
    QueueMember(MemberSnapshot<'a>),
    QueueMemberAdded(MemberSnapshot<'a>),
    QueueMemberStatus(MemberSnapshot<'a>),
    QueueMemberPause(MemberSnapshot<'a>),
    QueueMemberPenalty(MemberSnapshot<'a>),
    QueueMemberRinginuse(MemberSnapshot<'a>),
    /// The interface may be empty; the queue is still created if the model lacked it.
    QueueMemberRemoved {
        queue: Text<'a>,
        interface: Text<'a>,
    },
    /// A `QueueStatus` item: a waiting caller.
    QueueEntry {
        caller: CallerSnapshot<'a>,
        /// How long the caller has waited (`Wait`), to date the join.
        waited_s: i64,
    },
    QueueCallerJoin(CallerSnapshot<'a>),
    /// The uniqueid may be empty; the queue is still created if the model lacked it.
    QueueCallerLeave {
        queue: Text<'a>,
        uniqueid: Text<'a>,
    },
    /// The uniqueid may be empty: the abandon is counted all the same.
    QueueCallerAbandon {
        queue: Text<'a>,
        uniqueid: Text<'a>,
    },
    /// A member answered a queue caller: from now until `AgentComplete` the member is
    /// in call (what `QueueStatus` says as `InCall: 1`).
    AgentConnect(AgentMember<'a>),
    /// A member finished a call: counted in the queue's `completed`, and no longer in
    /// call. May come without any channel header (seen in a trial of ami-session-3).
    AgentComplete(AgentMember<'a>),
    /// Live, and the `ParkedCalls` list's items.
    ParkedCall(ParkedSnapshot<'a>),
    UnParkedCall {
        parkee_uniqueid: Text<'a>,
    },
    ParkedCallGiveUp {
        parkee_uniqueid: Text<'a>,
    },
    ParkedCallTimeOut {
        parkee_uniqueid: Text<'a>,
    },
    ParkedCallSwap {
        parkee_uniqueid: Text<'a>,
    },
    /// Live, and the `ExtensionStateList` items, which have the same name.
    ExtensionStatus(ExtensionState<'a>),
    DeviceStateChange {
        device: Text<'a>,
        state: Text<'a>,
    },
    PresenceStateChange {
        presentity: Text<'a>,
        status: Text<'a>,
        subtype: Text<'a>,
        message: Text<'a>,
    },
    MessageWaiting {
        mailbox: Text<'a>,
        /// `Waiting` is `yes`/`no` on some versions and a count on others.
        waiting: bool,
        new: u32,
        old: u32,
    },
    ChanSpyStart {
        spyer_uniqueid: Text<'a>,
        spyer_channel: Text<'a>,
        spyee_uniqueid: Text<'a>,
        spyee_channel: Text<'a>,
    },
    ChanSpyStop {
        spyer_uniqueid: Text<'a>,
    },
    MixMonitorStart {
        uniqueid: Text<'a>,
        channel: Text<'a>,
    },
    MixMonitorMute {
        uniqueid: Text<'a>,
        channel: Text<'a>,
        /// `State`: whether this event mutes (rather than unmutes) the recording.
        muted: bool,
        direction: Text<'a>,
    },
    MixMonitorStop {
        uniqueid: Text<'a>,
    },
    /// The first user made a ConfBridge room (`Conference`).
    ConfbridgeStart {
        conference: Text<'a>,
    },
    /// The last user left; the room is gone.
    ConfbridgeEnd {
        conference: Text<'a>,
    },
    ConfbridgeJoin(ParticipantSnapshot<'a>),
    /// A `ConfbridgeList` item: the live join's state, with `Muted` and `Talking`.
    ConfbridgeList(ParticipantSnapshot<'a>),
    ConfbridgeLeave {
        conference: Text<'a>,
        uniqueid: Text<'a>,
    },
    /// One per user, also for `Channel: participants` (every user who is not an admin).
    /// Carries no `Muted` header: the event's name says it.
    ConfbridgeMute {
        conference: Text<'a>,
        uniqueid: Text<'a>,
    },
    ConfbridgeUnmute {
        conference: Text<'a>,
        uniqueid: Text<'a>,
    },
    /// `TalkingStatus: on` or `off` (user profiles with `talk_detection_events`).
    ConfbridgeTalking {
        conference: Text<'a>,
        uniqueid: Text<'a>,
        talking: bool,
    },
    /// The room is being recorded (no file name in the event).
    ConfbridgeRecord {
        conference: Text<'a>,
    },
    ConfbridgeStopRecord {
        conference: Text<'a>,
    },
    /// A `ConfbridgeListRooms` item: the only place the room's lock shows, since
    /// ConfBridge sends no event when a room is locked or unlocked (ami-session-3).
    ConfbridgeListRooms {
        conference: Text<'a>,
        locked: bool,
    },
    /// An event the live model does not use (`VarSet`, `Cdr`, list completions, ...).
    Other,
}

/// The channel snapshot block Asterisk puts in every channel event (`Channel`,
/// `ChannelState`, `CallerIDNum`, ...), or with a `Dest` prefix in `DialBegin`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelSnapshot<'a> {
    /// Never empty: it is the key of the channel.
    pub uniqueid: Text<'a>,
    pub channel: Text<'a>,
    pub linkedid: Text<'a>,
    pub state: u8,
    pub state_desc: Text<'a>,
    pub caller_id_num: Text<'a>,
    pub caller_id_name: Text<'a>,
    pub connected_num: Text<'a>,
    pub connected_name: Text<'a>,
    pub context: Text<'a>,
    pub exten: Text<'a>,
    pub priority: Text<'a>,
    pub account_code: Text<'a>,
    /// Present only when the event has an `Application` header (`Newexten`,
    /// `CoreShowChannel`), so that other events keep the application already known.
    pub application: Option<Application<'a>>,
}

/// The dialplan application a channel runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Application<'a> {
    pub name: Text<'a>,
    /// `AppData` in `Newexten`, `ApplicationData` in `CoreShowChannel`.
    pub data: Text<'a>,
}

/// The bridge block of bridge events (`BridgeUniqueid`, `BridgeType`, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BridgeSnapshot<'a> {
    /// Never empty in `BridgeCreate` and `BridgeListItem`, whose key it is.
    pub uniqueid: Text<'a>,
    /// `basic`, `parking`, ...
    pub bridge_type: Text<'a>,
    pub technology: Text<'a>,
}

/// A queue's counters, from `QueueParams`.
#[derive(Clone, Debug, PartialEq)]
pub struct QueueStats<'a> {
    /// Never empty.
    pub queue: Text<'a>,
    pub strategy: Text<'a>,
    pub holdtime: u32,
    pub talktime: u32,
    pub completed: u32,
    pub abandoned: u32,
    pub service_level: u32,
    pub service_level_perf: f64,
}

/// A queue member as the member events and the `QueueMember` list items describe it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberSnapshot<'a> {
    /// Never empty.
    pub queue: Text<'a>,
    /// Never empty. Live events say `Interface`; the `QueueStatus` list says `Location`.
    pub interface: Text<'a>,
    /// `MemberName` in live events, `Name` in the list.
    pub name: Text<'a>,
    pub state_interface: Text<'a>,
    pub membership: Text<'a>,
    pub penalty: i32,
    pub calls_taken: u32,
    pub last_call: i64,
    pub status: u8,
    pub paused: bool,
    pub paused_reason: Text<'a>,
    pub in_call: bool,
    pub wrapup_time: u32,
}

/// The queue member an `AgentConnect` or `AgentComplete` is about: by `Interface`, or
/// by `MemberName` where the interface is missing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentMember<'a> {
    /// Never empty.
    pub queue: Text<'a>,
    pub interface: Text<'a>,
    pub member_name: Text<'a>,
}

/// A caller waiting in a queue (`QueueCallerJoin`, `QueueEntry`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallerSnapshot<'a> {
    /// Never empty.
    pub queue: Text<'a>,
    /// Never empty.
    pub uniqueid: Text<'a>,
    pub channel: Text<'a>,
    pub position: u32,
    pub caller_id_num: Text<'a>,
    pub caller_id_name: Text<'a>,
}

/// A conference user, from `ConfbridgeJoin` or a `ConfbridgeList` item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParticipantSnapshot<'a> {
    /// Never empty.
    pub conference: Text<'a>,
    /// Never empty: the participant's key.
    pub uniqueid: Text<'a>,
    pub channel: Text<'a>,
    pub caller_id_num: Text<'a>,
    pub caller_id_name: Text<'a>,
    pub admin: bool,
    /// `ConfbridgeJoin` ends with `Muted:` (a user profile may start muted).
    pub muted: bool,
    /// Only the list says it (`Talking:`); a join is never talking yet.
    pub talking: bool,
}

/// A parked call, from `ParkedCall` (live or listed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParkedSnapshot<'a> {
    /// Never empty.
    pub parkee_uniqueid: Text<'a>,
    pub parkee_channel: Text<'a>,
    pub parkee_caller_id_num: Text<'a>,
    pub parkee_caller_id_name: Text<'a>,
    pub lot: Text<'a>,
    pub space: Text<'a>,
    pub parker_dial_string: Text<'a>,
    pub timeout_s: u32,
    /// How long it has been parked (`ParkingDuration`), to date the parking.
    pub parked_for_s: i64,
}

/// A hint's state, from `ExtensionStatus`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtensionState<'a> {
    /// Never empty.
    pub exten: Text<'a>,
    pub context: Text<'a>,
    pub hint: Text<'a>,
    pub status: i32,
    pub status_text: Text<'a>,
}

/// The header names of one channel snapshot block: plain, or `Dest`-prefixed. Static
/// tables, so that a prefixed lookup builds no key string.
struct ChannelKeys {
    uniqueid: &'static str,
    channel: &'static str,
    linkedid: &'static str,
    state: &'static str,
    state_desc: &'static str,
    caller_id_num: &'static str,
    caller_id_name: &'static str,
    connected_num: &'static str,
    connected_name: &'static str,
    context: &'static str,
    exten: &'static str,
    priority: &'static str,
    account_code: &'static str,
}

const CHANNEL_KEYS: ChannelKeys = ChannelKeys {
    uniqueid: "Uniqueid",
    channel: "Channel",
    linkedid: "Linkedid",
    state: "ChannelState",
    state_desc: "ChannelStateDesc",
    caller_id_num: "CallerIDNum",
    caller_id_name: "CallerIDName",
    connected_num: "ConnectedLineNum",
    connected_name: "ConnectedLineName",
    context: "Context",
    exten: "Exten",
    priority: "Priority",
    account_code: "AccountCode",
};

const DEST_KEYS: ChannelKeys = ChannelKeys {
    uniqueid: "DestUniqueid",
    channel: "DestChannel",
    linkedid: "DestLinkedid",
    state: "DestChannelState",
    state_desc: "DestChannelStateDesc",
    caller_id_num: "DestCallerIDNum",
    caller_id_name: "DestCallerIDName",
    connected_num: "DestConnectedLineNum",
    connected_name: "DestConnectedLineName",
    context: "DestContext",
    exten: "DestExten",
    priority: "DestPriority",
    account_code: "DestAccountCode",
};

/// The headers of one event, with the event's name for [`EventError::MissingHeader`].
#[derive(Clone, Copy)]
struct Headers<'a> {
    message: &'a Message,
    event: &'static str,
}

impl<'a> Headers<'a> {
    fn text(self, key: &str) -> Text<'a> {
        self.message
            .get(key)
            .map_or(Cow::Borrowed(""), String::from_utf8_lossy)
    }

    /// The header the event is about: missing and empty are alike, since the model
    /// keys on it.
    fn key(self, key: &'static str) -> Result<Text<'a>, EventError> {
        let value = self.text(key);
        if value.is_empty() {
            return Err(EventError::MissingHeader {
                event: self.event,
                header: key,
            });
        }
        Ok(value)
    }

    /// A number, 0 when missing or malformed. Bytes that are not UTF-8 cannot be
    /// digits, so they need no lossy copy.
    fn number<T: FromStr + Default>(self, key: &str) -> T {
        self.message
            .get(key)
            .and_then(|value| std::str::from_utf8(value).ok())
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or_default()
    }

    fn flag(self, key: &str) -> bool {
        self.message.get(key).is_some_and(is_true)
    }

    /// A channel snapshot; `None` without a uniqueid, the channel's key.
    fn snapshot(self, keys: &ChannelKeys, with_application: bool) -> Option<ChannelSnapshot<'a>> {
        let uniqueid = self.text(keys.uniqueid);
        if uniqueid.is_empty() {
            return None;
        }
        let application = if with_application {
            self.message.get("Application").map(|name| Application {
                name: String::from_utf8_lossy(name),
                data: match self.message.get("AppData") {
                    Some(_) => self.text("AppData"),
                    None => self.text("ApplicationData"),
                },
            })
        } else {
            None
        };
        Some(ChannelSnapshot {
            uniqueid,
            channel: self.text(keys.channel),
            linkedid: self.text(keys.linkedid),
            state: self.number(keys.state),
            state_desc: self.text(keys.state_desc),
            caller_id_num: self.text(keys.caller_id_num),
            caller_id_name: self.text(keys.caller_id_name),
            connected_num: self.text(keys.connected_num),
            connected_name: self.text(keys.connected_name),
            context: self.text(keys.context),
            exten: self.text(keys.exten),
            priority: self.text(keys.priority),
            account_code: self.text(keys.account_code),
            application,
        })
    }

    /// The event's own channel, which it is about.
    fn channel(self) -> Result<ChannelSnapshot<'a>, EventError> {
        self.snapshot(&CHANNEL_KEYS, true)
            .ok_or(EventError::MissingHeader {
                event: self.event,
                header: CHANNEL_KEYS.uniqueid,
            })
    }

    /// A bridge block whose id is in `id_key`; empty when missing.
    fn bridge(self, id_key: &str) -> BridgeSnapshot<'a> {
        BridgeSnapshot {
            uniqueid: self.text(id_key),
            bridge_type: self.text("BridgeType"),
            technology: self.text("BridgeTechnology"),
        }
    }

    /// A bridge block that the event is about.
    fn keyed_bridge(self) -> Result<BridgeSnapshot<'a>, EventError> {
        let key = "BridgeUniqueid";
        self.key(key)?;
        Ok(self.bridge(key))
    }

    fn queue_stats(self) -> Result<QueueStats<'a>, EventError> {
        Ok(QueueStats {
            queue: self.key("Queue")?,
            strategy: self.text("Strategy"),
            holdtime: self.number("Holdtime"),
            talktime: self.number("TalkTime"),
            completed: self.number("Completed"),
            abandoned: self.number("Abandoned"),
            service_level: self.number("ServiceLevel"),
            service_level_perf: self.number("ServicelevelPerf"),
        })
    }

    /// `Interface` when present, even empty, else `Location`.
    fn interface(self) -> Text<'a> {
        self.message
            .get("Interface")
            .or_else(|| self.message.get("Location"))
            .map_or(Cow::Borrowed(""), String::from_utf8_lossy)
    }

    fn member(self) -> Result<MemberSnapshot<'a>, EventError> {
        let interface = self.interface();
        if interface.is_empty() {
            return Err(EventError::MissingHeader {
                event: self.event,
                header: "Interface",
            });
        }
        Ok(MemberSnapshot {
            queue: self.key("Queue")?,
            interface,
            name: self
                .message
                .get("MemberName")
                .or_else(|| self.message.get("Name"))
                .map_or(Cow::Borrowed(""), String::from_utf8_lossy),
            state_interface: self.text("StateInterface"),
            membership: self.text("Membership"),
            penalty: self.number("Penalty"),
            calls_taken: self.number("CallsTaken"),
            last_call: self.number("LastCall"),
            status: self.number("Status"),
            paused: self.flag("Paused"),
            paused_reason: self.text("PausedReason"),
            in_call: self.flag("InCall"),
            wrapup_time: self.number("Wrapuptime"),
        })
    }

    fn agent_member(self) -> Result<AgentMember<'a>, EventError> {
        Ok(AgentMember {
            queue: self.key("Queue")?,
            interface: self.text("Interface"),
            member_name: self.text("MemberName"),
        })
    }

    fn caller(self) -> Result<CallerSnapshot<'a>, EventError> {
        Ok(CallerSnapshot {
            uniqueid: self.key("Uniqueid")?,
            queue: self.key("Queue")?,
            channel: self.text("Channel"),
            position: self.number("Position"),
            caller_id_num: self.text("CallerIDNum"),
            caller_id_name: self.text("CallerIDName"),
        })
    }

    fn parked(self) -> Result<ParkedSnapshot<'a>, EventError> {
        Ok(ParkedSnapshot {
            parkee_uniqueid: self.key("ParkeeUniqueid")?,
            parkee_channel: self.text("ParkeeChannel"),
            parkee_caller_id_num: self.text("ParkeeCallerIDNum"),
            parkee_caller_id_name: self.text("ParkeeCallerIDName"),
            lot: self.text("Parkinglot"),
            space: self.text("ParkingSpace"),
            parker_dial_string: self.text("ParkerDialString"),
            timeout_s: self.number("ParkingTimeout"),
            parked_for_s: self.number("ParkingDuration"),
        })
    }

    fn participant(self) -> Result<ParticipantSnapshot<'a>, EventError> {
        Ok(ParticipantSnapshot {
            conference: self.key("Conference")?,
            uniqueid: self.key("Uniqueid")?,
            channel: self.text("Channel"),
            caller_id_num: self.text("CallerIDNum"),
            caller_id_name: self.text("CallerIDName"),
            admin: self.flag("Admin"),
            muted: self.flag("Muted"),
            talking: self.flag("Talking"),
        })
    }

    /// The room and the user a Confbridge event is about.
    fn conference_user(self) -> Result<(Text<'a>, Text<'a>), EventError> {
        Ok((self.key("Conference")?, self.key("Uniqueid")?))
    }

    fn extension(self) -> Result<ExtensionState<'a>, EventError> {
        Ok(ExtensionState {
            exten: self.key("Exten")?,
            context: self.text("Context"),
            hint: self.text("Hint"),
            status: self.number("Status"),
            status_text: self.text("StatusText"),
        })
    }
}

/// `HH:MM:SS` (CoreShowChannel's `Duration`) in seconds; 0 when malformed, which
/// includes a value past `i64`, so that no header can make the parse overflow.
fn hms_seconds(value: &[u8]) -> i64 {
    std::str::from_utf8(value)
        .ok()
        .and_then(|value| {
            value.split(':').try_fold(0i64, |total, part| {
                let n = part.trim().parse::<i64>().ok()?;
                total.checked_mul(60)?.checked_add(n)
            })
        })
        .unwrap_or(0)
}

impl<'a> Event<'a> {
    /// Reads the event the message holds. Event names are matched exactly, as
    /// Asterisk writes them; an unknown one is [`Event::Other`], never an error.
    pub fn parse(message: &'a Message) -> Result<Self, EventError> {
        let name = message.event_name().ok_or(EventError::NotAnEvent)?;
        let headers = |event| Headers { message, event };
        Ok(match name {
            b"Newchannel" => Event::Newchannel(headers("Newchannel").channel()?),
            b"CoreShowChannel" => {
                let h = headers("CoreShowChannel");
                Event::CoreShowChannel {
                    channel: h.channel()?,
                    up_for_s: message.get("Duration").map_or(0, hms_seconds),
                    bridge: h.bridge("BridgeId"),
                }
            }
            b"Newstate" => Event::Newstate(headers("Newstate").channel()?),
            b"NewCallerid" => Event::NewCallerid(headers("NewCallerid").channel()?),
            b"NewConnectedLine" => Event::NewConnectedLine(headers("NewConnectedLine").channel()?),
            b"NewAccountCode" => Event::NewAccountCode(headers("NewAccountCode").channel()?),
            b"Newexten" => Event::Newexten(headers("Newexten").channel()?),
            b"DialBegin" => {
                let h = headers("DialBegin");
                Event::DialBegin {
                    caller: h.snapshot(&CHANNEL_KEYS, true),
                    dest: h.snapshot(&DEST_KEYS, false),
                }
            }
            b"DialEnd" => Event::DialEnd(headers("DialEnd").channel()?),
            b"Hold" => Event::Hold {
                uniqueid: headers("Hold").key("Uniqueid")?,
            },
            b"Unhold" => Event::Unhold {
                uniqueid: headers("Unhold").key("Uniqueid")?,
            },
            b"Hangup" => Event::Hangup {
                uniqueid: headers("Hangup").text("Uniqueid"),
            },
            b"BridgeCreate" => Event::BridgeCreate(headers("BridgeCreate").keyed_bridge()?),
            b"BridgeListItem" => Event::BridgeListItem(headers("BridgeListItem").keyed_bridge()?),
            b"BridgeEnter" => {
                let h = headers("BridgeEnter");
                Event::BridgeEnter {
                    channel: h.channel()?,
                    bridge: h.bridge("BridgeUniqueid"),
                }
            }
            b"BridgeLeave" => Event::BridgeLeave {
                uniqueid: headers("BridgeLeave").key("Uniqueid")?,
            },
            b"BridgeDestroy" => Event::BridgeDestroy {
                bridge_uniqueid: headers("BridgeDestroy").key("BridgeUniqueid")?,
            },
            b"QueueParams" => Event::QueueParams(headers("QueueParams").queue_stats()?),
            b"QueueMember" => Event::QueueMember(headers("QueueMember").member()?),
            b"QueueMemberAdded" => Event::QueueMemberAdded(headers("QueueMemberAdded").member()?),
            b"QueueMemberStatus" => {
                Event::QueueMemberStatus(headers("QueueMemberStatus").member()?)
            }
            b"QueueMemberPause" => Event::QueueMemberPause(headers("QueueMemberPause").member()?),
            b"QueueMemberPenalty" => {
                Event::QueueMemberPenalty(headers("QueueMemberPenalty").member()?)
            }
            b"QueueMemberRinginuse" => {
                Event::QueueMemberRinginuse(headers("QueueMemberRinginuse").member()?)
            }
            b"QueueMemberRemoved" => {
                let h = headers("QueueMemberRemoved");
                Event::QueueMemberRemoved {
                    queue: h.key("Queue")?,
                    interface: h.interface(),
                }
            }
            b"QueueEntry" => {
                let h = headers("QueueEntry");
                Event::QueueEntry {
                    caller: h.caller()?,
                    waited_s: h.number("Wait"),
                }
            }
            b"QueueCallerJoin" => Event::QueueCallerJoin(headers("QueueCallerJoin").caller()?),
            b"QueueCallerLeave" => {
                let h = headers("QueueCallerLeave");
                Event::QueueCallerLeave {
                    queue: h.key("Queue")?,
                    uniqueid: h.text("Uniqueid"),
                }
            }
            b"QueueCallerAbandon" => {
                let h = headers("QueueCallerAbandon");
                Event::QueueCallerAbandon {
                    queue: h.key("Queue")?,
                    uniqueid: h.text("Uniqueid"),
                }
            }
            b"AgentConnect" => Event::AgentConnect(headers("AgentConnect").agent_member()?),
            b"AgentComplete" => Event::AgentComplete(headers("AgentComplete").agent_member()?),
            b"ParkedCall" => Event::ParkedCall(headers("ParkedCall").parked()?),
            b"UnParkedCall" => Event::UnParkedCall {
                parkee_uniqueid: headers("UnParkedCall").key("ParkeeUniqueid")?,
            },
            b"ParkedCallGiveUp" => Event::ParkedCallGiveUp {
                parkee_uniqueid: headers("ParkedCallGiveUp").key("ParkeeUniqueid")?,
            },
            b"ParkedCallTimeOut" => Event::ParkedCallTimeOut {
                parkee_uniqueid: headers("ParkedCallTimeOut").key("ParkeeUniqueid")?,
            },
            b"ParkedCallSwap" => Event::ParkedCallSwap {
                parkee_uniqueid: headers("ParkedCallSwap").key("ParkeeUniqueid")?,
            },
            b"ExtensionStatus" => Event::ExtensionStatus(headers("ExtensionStatus").extension()?),
            b"DeviceStateChange" => {
                let h = headers("DeviceStateChange");
                Event::DeviceStateChange {
                    device: h.key("Device")?,
                    state: h.text("State"),
                }
            }
            b"PresenceStateChange" => {
                let h = headers("PresenceStateChange");
                Event::PresenceStateChange {
                    presentity: h.key("Presentity")?,
                    status: h.text("Status"),
                    subtype: h.text("Subtype"),
                    message: h.text("Message"),
                }
            }
            b"MessageWaiting" => {
                let h = headers("MessageWaiting");
                Event::MessageWaiting {
                    mailbox: h.key("Mailbox")?,
                    waiting: h.flag("Waiting") || h.number::<u32>("Waiting") > 0,
                    new: h.number("New"),
                    old: h.number("Old"),
                }
            }
            b"ChanSpyStart" => {
                let h = headers("ChanSpyStart");
                Event::ChanSpyStart {
                    spyer_uniqueid: h.key("SpyerUniqueid")?,
                    spyer_channel: h.text("SpyerChannel"),
                    spyee_uniqueid: h.text("SpyeeUniqueid"),
                    spyee_channel: h.text("SpyeeChannel"),
                }
            }
            b"ChanSpyStop" => Event::ChanSpyStop {
                spyer_uniqueid: headers("ChanSpyStop").key("SpyerUniqueid")?,
            },
            b"MixMonitorStart" => {
                let h = headers("MixMonitorStart");
                Event::MixMonitorStart {
                    uniqueid: h.key("Uniqueid")?,
                    channel: h.text("Channel"),
                }
            }
            b"MixMonitorMute" => {
                let h = headers("MixMonitorMute");
                Event::MixMonitorMute {
                    uniqueid: h.key("Uniqueid")?,
                    channel: h.text("Channel"),
                    muted: h.flag("State"),
                    direction: h.text("Direction"),
                }
            }
            b"MixMonitorStop" => Event::MixMonitorStop {
                uniqueid: headers("MixMonitorStop").key("Uniqueid")?,
            },
            b"ConfbridgeStart" => Event::ConfbridgeStart {
                conference: headers("ConfbridgeStart").key("Conference")?,
            },
            b"ConfbridgeEnd" => Event::ConfbridgeEnd {
                conference: headers("ConfbridgeEnd").key("Conference")?,
            },
            b"ConfbridgeJoin" => Event::ConfbridgeJoin(headers("ConfbridgeJoin").participant()?),
            b"ConfbridgeList" => Event::ConfbridgeList(headers("ConfbridgeList").participant()?),
            b"ConfbridgeLeave" => {
                let (conference, uniqueid) = headers("ConfbridgeLeave").conference_user()?;
                Event::ConfbridgeLeave {
                    conference,
                    uniqueid,
                }
            }
            b"ConfbridgeMute" => {
                let (conference, uniqueid) = headers("ConfbridgeMute").conference_user()?;
                Event::ConfbridgeMute {
                    conference,
                    uniqueid,
                }
            }
            b"ConfbridgeUnmute" => {
                let (conference, uniqueid) = headers("ConfbridgeUnmute").conference_user()?;
                Event::ConfbridgeUnmute {
                    conference,
                    uniqueid,
                }
            }
            b"ConfbridgeTalking" => {
                let h = headers("ConfbridgeTalking");
                let (conference, uniqueid) = h.conference_user()?;
                Event::ConfbridgeTalking {
                    conference,
                    uniqueid,
                    talking: h.flag("TalkingStatus"),
                }
            }
            b"ConfbridgeRecord" => Event::ConfbridgeRecord {
                conference: headers("ConfbridgeRecord").key("Conference")?,
            },
            b"ConfbridgeStopRecord" => Event::ConfbridgeStopRecord {
                conference: headers("ConfbridgeStopRecord").key("Conference")?,
            },
            b"ConfbridgeListRooms" => {
                let h = headers("ConfbridgeListRooms");
                Event::ConfbridgeListRooms {
                    conference: h.key("Conference")?,
                    locked: h.flag("Locked"),
                }
            }
            _ => Event::Other,
        })
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::*;
    use crate::ami::{Frame, Parser};

    /// One message as the parser gives it, from text copied out of a recording.
    fn recorded(text: &str) -> Message {
        let mut buf = BytesMut::from(text);
        match Parser::new().next_frame(&mut buf) {
            Some(Frame::Message(message)) => message,
            other => panic!("not one message: {other:?}"),
        }
    }

    fn is_borrowed(text: &Text<'_>) -> bool {
        matches!(text, Cow::Borrowed(_))
    }

    // `ami-events-stream.txt`, the first event of the first call.
    const NEWCHANNEL: &str = "Event: Newchannel\r\nPrivilege: call,all\r\n\
        Channel: Local/100@test-00000012;1\r\nChannelState: 0\r\nChannelStateDesc: Down\r\n\
        CallerIDNum: <unknown>\r\nCallerIDName: <unknown>\r\nConnectedLineNum: <unknown>\r\n\
        ConnectedLineName: <unknown>\r\nLanguage: en\r\nAccountCode: \r\nContext: test\r\n\
        Exten: 100\r\nPriority: 1\r\nUniqueid: 1795418203.36\r\nLinkedid: 1795418203.36\r\n\r\n";

    #[test]
    fn a_recorded_newchannel_borrows_every_field() {
        let message = recorded(NEWCHANNEL);
        let Ok(Event::Newchannel(channel)) = Event::parse(&message) else {
            panic!("not a Newchannel: {:?}", Event::parse(&message));
        };
        assert_eq!(channel.uniqueid, "1795418203.36");
        assert_eq!(channel.channel, "Local/100@test-00000012;1");
        assert_eq!(channel.linkedid, "1795418203.36");
        assert_eq!((channel.state, channel.state_desc.as_ref()), (0, "Down"));
        assert_eq!(channel.caller_id_num, "<unknown>");
        assert_eq!(
            (channel.context.as_ref(), channel.exten.as_ref()),
            ("test", "100")
        );
        assert_eq!(channel.account_code, "");
        assert_eq!(channel.application, None, "Newchannel names no application");
        assert!(is_borrowed(&channel.uniqueid) && is_borrowed(&channel.caller_id_name));
    }

    #[test]
    fn an_originated_dial_begin_has_only_its_destination() {
        // `ami-events-stream.txt`: an Originate dials with no calling channel.
        let message = recorded(
            "Event: DialBegin\r\nPrivilege: call,all\r\n\
             DestChannel: Local/100@test-00000012;1\r\nDestChannelState: 0\r\n\
             DestChannelStateDesc: Down\r\nDestCallerIDNum: 1101\r\nDestCallerIDName: Caller 01\r\n\
             DestConnectedLineNum: 1101\r\nDestConnectedLineName: Caller 01\r\n\
             DestLanguage: en\r\nDestAccountCode: \r\nDestContext: test\r\nDestExten: 100\r\n\
             DestPriority: 1\r\nDestUniqueid: 1795418203.36\r\nDestLinkedid: 1795418203.36\r\n\
             DialString: 100@test\r\n\r\n",
        );
        let Ok(Event::DialBegin { caller, dest }) = Event::parse(&message) else {
            panic!("not a DialBegin: {:?}", Event::parse(&message));
        };
        assert_eq!(caller, None);
        let Some(dest) = dest else {
            panic!("no destination")
        };
        assert_eq!(dest.uniqueid, "1795418203.36");
        assert_eq!(dest.caller_id_name, "Caller 01");
        assert_eq!(
            dest.application, None,
            "a destination's application is not read"
        );
    }

    #[test]
    fn a_channel_list_item_dates_the_channel_and_names_its_application() {
        // `ami-session.txt`, the first item of `CoreShowChannels`.
        let message = recorded(
            "Event: CoreShowChannel\r\nChannel: Local/100@test-00000067;2\r\nChannelState: 6\r\n\
             ChannelStateDesc: Up\r\nCallerIDNum: 1001\r\nCallerIDName: Alice Caller\r\n\
             ConnectedLineNum: 3001\r\nConnectedLineName: Queue Caller\r\nLanguage: en\r\n\
             AccountCode: \r\nContext: test\r\nExten: 100\r\nPriority: 5\r\n\
             Uniqueid: 1795418495.209\r\nLinkedid: 1795418495.206\r\nApplication: Wait\r\n\
             ApplicationData: 300\r\nDuration: 00:00:03\r\nBridgeId: \r\n\r\n",
        );
        let Ok(Event::CoreShowChannel {
            channel,
            up_for_s,
            bridge,
        }) = Event::parse(&message)
        else {
            panic!("not a CoreShowChannel: {:?}", Event::parse(&message));
        };
        assert_eq!((channel.state, channel.priority.as_ref()), (6, "5"));
        assert_eq!(up_for_s, 3);
        assert_eq!(bridge.uniqueid, "");
        let Some(application) = channel.application else {
            panic!("no application")
        };
        assert_eq!(application.name, "Wait");
        assert_eq!(
            application.data, "300",
            "CoreShowChannel says ApplicationData"
        );
    }

    #[test]
    fn a_recorded_member_status_types_its_numbers_and_flags() {
        // `ami-events-stream-agent.txt`.
        let message = recorded(
            "Event: QueueMemberStatus\r\nPrivilege: agent,all\r\nQueue: support\r\n\
             MemberName: Agent Two\r\nInterface: Local/agent2@agents/n\r\n\
             StateInterface: Local/agent2@agents/n\r\nMembership: static\r\nPenalty: 0\r\n\
             CallsTaken: 0\r\nLastCall: 0\r\nLastPause: 1795418149\r\nLoginTime: 1795418137\r\n\
             InCall: 0\r\nStatus: 2\r\nPaused: 0\r\nPausedReason: \r\nRinginuse: 0\r\n\
             Wrapuptime: 0\r\n\r\n",
        );
        let Ok(Event::QueueMemberStatus(member)) = Event::parse(&message) else {
            panic!("not a QueueMemberStatus: {:?}", Event::parse(&message));
        };
        assert_eq!(member.queue, "support");
        assert_eq!(member.interface, "Local/agent2@agents/n");
        assert_eq!(member.name, "Agent Two");
        assert_eq!((member.status, member.penalty), (2, 0));
        assert!(!member.paused && !member.in_call);
    }

    #[test]
    fn an_event_without_the_header_it_is_about_is_an_error() {
        let without_uniqueid: String = NEWCHANNEL
            .split_inclusive("\r\n")
            .filter(|line| !line.starts_with("Uniqueid:"))
            .collect();
        assert_eq!(
            Event::parse(&recorded(&without_uniqueid)),
            Err(EventError::MissingHeader {
                event: "Newchannel",
                header: "Uniqueid",
            })
        );
        let empty_queue = Message::new()
            .with("Event", "QueueCallerJoin")
            .with("Queue", "")
            .with("Uniqueid", "1.1");
        assert_eq!(
            Event::parse(&empty_queue),
            Err(EventError::MissingHeader {
                event: "QueueCallerJoin",
                header: "Queue",
            })
        );
        let listed_member = Message::new()
            .with("Event", "QueueMember")
            .with("Queue", "support");
        assert_eq!(
            Event::parse(&listed_member),
            Err(EventError::MissingHeader {
                event: "QueueMember",
                header: "Interface",
            })
        );
    }

    #[test]
    fn a_hangup_is_taken_even_without_a_uniqueid() {
        let hangup = Message::new().with("Event", "Hangup");
        assert_eq!(
            Event::parse(&hangup),
            Ok(Event::Hangup {
                uniqueid: Cow::Borrowed("")
            })
        );
    }

    #[test]
    fn non_utf8_bytes_are_copied_lossily_and_only_there() {
        let message = Message::new()
            .with("Event", "QueueCallerJoin")
            .with("Queue", "support")
            .with("Uniqueid", "1.1")
            .with("CallerIDName", b"Jos\xe9")
            .with("Position", b"\xff1");
        let Ok(Event::QueueCallerJoin(caller)) = Event::parse(&message) else {
            panic!("not a QueueCallerJoin: {:?}", Event::parse(&message));
        };
        assert_eq!(caller.caller_id_name, "Jos\u{fffd}");
        assert!(!is_borrowed(&caller.caller_id_name));
        assert!(is_borrowed(&caller.queue) && is_borrowed(&caller.uniqueid));
        assert_eq!(caller.position, 0, "bytes that are not UTF-8 are no number");
    }

    #[test]
    fn malformed_numbers_are_zero_and_blanks_are_trimmed() {
        let message = Message::new()
            .with("Event", "MessageWaiting")
            .with("Mailbox", "1001@default")
            .with("Waiting", " 2 ")
            .with("New", "-1")
            .with("Old", "many");
        assert_eq!(
            Event::parse(&message),
            Ok(Event::MessageWaiting {
                mailbox: Cow::Borrowed("1001@default"),
                waiting: true,
                new: 0,
                old: 0,
            })
        );
    }

    #[test]
    fn other_messages_are_not_errors_unless_they_are_not_events() {
        let var_set = Message::new()
            .with("Event", "VarSet")
            .with("Uniqueid", "1.1");
        assert_eq!(Event::parse(&var_set), Ok(Event::Other));
        let lowercase = Message::new()
            .with("Event", "newchannel")
            .with("Uniqueid", "1.1");
        assert_eq!(Event::parse(&lowercase), Ok(Event::Other));
        let pong = Message::new()
            .with("Response", "Success")
            .with("Ping", "Pong");
        assert_eq!(Event::parse(&pong), Err(EventError::NotAnEvent));
    }

    #[test]
    fn durations_parse_as_asterisk_writes_them() {
        assert_eq!(hms_seconds(b"00:01:05"), 65);
        assert_eq!(hms_seconds(b"1:00:00"), 3600);
        assert_eq!(hms_seconds(b"bad"), 0);
        assert_eq!(hms_seconds(b"\xff:01"), 0);
        assert_eq!(hms_seconds(format!("{}:00", i64::MAX).as_bytes()), 0);
    }
}
