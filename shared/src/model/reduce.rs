//! The reducer: one AMI event in, the model and its [`Change`]s out.
//!
//! Live events and the items of status lists go through the same code, each handled
//! as "this is now the state of X": `CoreShowChannel` like `Newchannel`, `QueueMember`
//! like `QueueMemberStatus`, list `ExtensionStatus` like the live one. A model rebuilt
//! from the lists and a model kept from the events therefore agree by construction.
//!
//! Only `Newchannel` and the list items create a channel; later events about a channel
//! the model does not hold (one that hung up) change nothing, so a late event cannot
//! bring back a ghost. The reducer reads no header itself: [`Event::parse`] reads them,
//! leniently (a missing or malformed one is empty or zero, never a panic), and this file
//! only decides what each typed event does to the model.

use crate::ami::Message;
use crate::ami::event::{
    AgentMember, BridgeSnapshot, CallerSnapshot, ChannelSnapshot, Event, ExtensionState,
    MemberSnapshot, ParkedSnapshot, ParticipantSnapshot, QueueStats, Text,
};

use super::{
    Call, Caller, Change, Channel, Conference, Device, Extension, Mailbox, Member, ParkedCall,
    Participant, Presence, Queue, Recording, ServerModel, Spy,
};

/// The time `seconds` before `now_ms`, in ms. Saturating: the seconds come from
/// headers, and no header may make the reducer panic (or wrap into the future).
fn seconds_before(now_ms: i64, seconds: i64) -> i64 {
    now_ms.saturating_sub(seconds.saturating_mul(1000))
}

/// Sets `field` to `value` unless it holds it already (reusing its allocation);
/// true if it changed.
fn set(field: &mut String, value: &str) -> bool {
    if field == value {
        return false;
    }
    field.clear();
    field.push_str(value);
    true
}

/// Writes a snapshot's fields into `channel`; true if any of them changed.
fn take_snapshot(channel: &mut Channel, snapshot: ChannelSnapshot<'_>) -> bool {
    let mut changed = set(&mut channel.channel, &snapshot.channel);
    changed |= set(&mut channel.linkedid, &snapshot.linkedid);
    if channel.state != snapshot.state {
        channel.state = snapshot.state;
        changed = true;
    }
    changed |= set(&mut channel.state_desc, &snapshot.state_desc);
    changed |= set(&mut channel.caller_id_num, &snapshot.caller_id_num);
    changed |= set(&mut channel.caller_id_name, &snapshot.caller_id_name);
    changed |= set(&mut channel.connected_num, &snapshot.connected_num);
    changed |= set(&mut channel.connected_name, &snapshot.connected_name);
    changed |= set(&mut channel.context, &snapshot.context);
    changed |= set(&mut channel.exten, &snapshot.exten);
    changed |= set(&mut channel.priority, &snapshot.priority);
    changed |= set(&mut channel.account_code, &snapshot.account_code);
    if let Some(application) = snapshot.application {
        changed |= set(&mut channel.application, &application.name);
        changed |= set(&mut channel.application_data, &application.data);
    }
    changed
}

/// Takes a waiting caller out of `queue`, moving everyone behind up one place (Asterisk
/// renumbers: ami-session-3's QueueStatus after the first of four callers left lists
/// the other three at 1-3); true if the caller was there.
fn remove_caller(queue: &mut Queue, uniqueid: &str) -> bool {
    let Some(gone) = queue.callers.remove(uniqueid) else {
        return false;
    };
    move_up_behind(queue, gone.position);
    queue.calls = queue.callers.len() as u32;
    true
}

/// Moves every caller behind `position` up one place; true if any moved.
fn move_up_behind(queue: &mut Queue, position: u32) -> bool {
    let mut moved = false;
    for caller in queue.callers.values_mut() {
        if caller.position > position {
            caller.position -= 1;
            moved = true;
        }
    }
    moved
}

impl ServerModel {
    /// Applies one AMI message; appends what changed to `changes`. Messages that are not
    /// events the model uses, or that lack the header they are about, change nothing
    /// (see [`Event::parse`]). Never panics, whatever the headers.
    pub fn apply_event(&mut self, message: &Message, now_ms: i64, changes: &mut Vec<Change>) {
        if let Ok(event) = Event::parse(message) {
            self.apply(event, now_ms, changes);
        }
    }

    /// Applies one typed event, for a caller that has parsed it already.
    pub fn apply(&mut self, event: Event<'_>, now_ms: i64, changes: &mut Vec<Change>) {
        match event {
            Event::Newchannel(channel) => self.channel_snapshot(channel, now_ms, true, changes),
            Event::CoreShowChannel {
                channel,
                up_for_s,
                bridge,
            } => {
                let uniqueid = channel.uniqueid.clone();
                self.channel_snapshot(channel, seconds_before(now_ms, up_for_s), true, changes);
                if !bridge.uniqueid.is_empty() {
                    self.enter_bridge(&uniqueid, bridge, now_ms, changes);
                }
            }
            Event::Newstate(channel)
            | Event::NewCallerid(channel)
            | Event::NewConnectedLine(channel)
            | Event::NewAccountCode(channel)
            | Event::Newexten(channel)
            | Event::DialEnd(channel) => self.channel_snapshot(channel, now_ms, false, changes),
            Event::DialBegin { caller, dest } => {
                for channel in [caller, dest].into_iter().flatten() {
                    self.channel_snapshot(channel, now_ms, false, changes);
                }
            }
            Event::Hold { uniqueid } => self.hold(&uniqueid, true, changes),
            Event::Unhold { uniqueid } => self.hold(&uniqueid, false, changes),
            Event::Hangup { uniqueid } => self.hangup(&uniqueid, changes),
            Event::BridgeCreate(bridge) | Event::BridgeListItem(bridge) => {
                self.bridge(bridge, now_ms, changes)
            }
            Event::BridgeEnter { channel, bridge } => {
                let uniqueid = channel.uniqueid.clone();
                self.channel_snapshot(channel, now_ms, false, changes);
                self.enter_bridge(&uniqueid, bridge, now_ms, changes);
            }
            Event::BridgeLeave { uniqueid } => self.leave_bridge(&uniqueid, changes),
            Event::BridgeDestroy { bridge_uniqueid } => {
                self.destroy_bridge(&bridge_uniqueid, changes)
            }
            Event::QueueParams(stats) => self.queue_params(stats, changes),
            Event::QueueMember(member) => self.queue_member(member, true, changes),
            Event::QueueMemberAdded(member)
            | Event::QueueMemberStatus(member)
            | Event::QueueMemberPause(member)
            | Event::QueueMemberPenalty(member)
            | Event::QueueMemberRinginuse(member) => self.queue_member(member, false, changes),
            Event::QueueMemberRemoved { queue, interface } => {
                self.with_queue(&queue, changes, |queue| {
                    queue.members.remove(interface.as_ref()).is_some()
                });
            }
            Event::QueueEntry { caller, waited_s } => {
                self.queue_caller(caller, seconds_before(now_ms, waited_s), false, changes)
            }
            Event::QueueCallerJoin(caller) => self.queue_caller(caller, now_ms, true, changes),
            Event::QueueCallerLeave { queue, uniqueid } => {
                self.queue_caller_gone(&queue, &uniqueid, false, changes)
            }
            Event::QueueCallerAbandon { queue, uniqueid } => {
                self.queue_caller_gone(&queue, &uniqueid, true, changes)
            }
            Event::AgentConnect(agent) => self.agent_in_call(agent, true, changes),
            Event::AgentComplete(agent) => self.agent_in_call(agent, false, changes),
            Event::ParkedCall(parked) => self.parked(parked, now_ms, changes),
            Event::UnParkedCall { parkee_uniqueid }
            | Event::ParkedCallGiveUp { parkee_uniqueid }
            | Event::ParkedCallTimeOut { parkee_uniqueid }
            | Event::ParkedCallSwap { parkee_uniqueid } => {
                if self.parked.remove(parkee_uniqueid.as_ref()).is_some() {
                    changes.push(Change::ParkedRemoved {
                        uniqueid: parkee_uniqueid.into_owned(),
                    });
                }
            }
            Event::ExtensionStatus(extension) => self.extension(extension, changes),
            // `Local/` devices are left out: Asterisk does not cache their states
            // (core_unreal.c sets AST_FLAG_DISABLE_DEVSTATE_CACHE on every Local
            // channel), so `DeviceStateList` never lists them, and a model kept from
            // the live events would hold devices a rebuilt one lacks. ami-session-2.txt's
            // two DeviceStateList answers list only `Queue:`, `park:` and `Custom:`
            // devices, though `Local/100@test` and `Local/agent1@agents` changed state
            // before them; states that go back to NOT_INUSE stay listed (`park:701`).
            Event::DeviceStateChange { device, .. } if device.starts_with("Local/") => {}
            Event::DeviceStateChange { device, state } => {
                let device = Device {
                    device: device.into_owned(),
                    state: state.into_owned(),
                };
                if self.devices.get(&device.device) != Some(&device) {
                    self.devices.insert(device.device.clone(), device.clone());
                    changes.push(Change::Device(device));
                }
            }
            Event::PresenceStateChange {
                presentity,
                status,
                subtype,
                message,
            } => {
                let presence = Presence {
                    presentity: presentity.into_owned(),
                    status: status.into_owned(),
                    subtype: subtype.into_owned(),
                    message: message.into_owned(),
                };
                self.presence
                    .insert(presence.presentity.clone(), presence.clone());
                changes.push(Change::Presence(presence));
            }
            Event::MessageWaiting {
                mailbox,
                waiting,
                new,
                old,
            } => {
                let mailbox = Mailbox {
                    mailbox: mailbox.into_owned(),
                    waiting,
                    new,
                    old,
                };
                self.mailboxes
                    .insert(mailbox.mailbox.clone(), mailbox.clone());
                changes.push(Change::Mailbox(mailbox));
            }
            Event::ChanSpyStart {
                spyer_uniqueid,
                spyer_channel,
                spyee_uniqueid,
                spyee_channel,
            } => {
                if self.channels.contains_key(spyer_uniqueid.as_ref()) {
                    let spy = Spy {
                        spyer_uniqueid: spyer_uniqueid.into_owned(),
                        spyer_channel: spyer_channel.into_owned(),
                        spyee_uniqueid: spyee_uniqueid.into_owned(),
                        spyee_channel: spyee_channel.into_owned(),
                    };
                    self.spies.insert(spy.spyer_uniqueid.clone(), spy.clone());
                    changes.push(Change::Spy(spy));
                }
            }
            Event::ChanSpyStop { spyer_uniqueid } => {
                if self.spies.remove(spyer_uniqueid.as_ref()).is_some() {
                    changes.push(Change::SpyRemoved {
                        spyer_uniqueid: spyer_uniqueid.into_owned(),
                    });
                }
            }
            Event::MixMonitorStart { uniqueid, channel } => {
                self.with_recording(uniqueid, channel, changes, |_| {})
            }
            Event::MixMonitorMute {
                uniqueid,
                channel,
                muted,
                direction,
            } => self.with_recording(uniqueid, channel, changes, |recording| {
                recording.muted = muted.then(|| direction.into_owned());
            }),
            Event::MixMonitorStop { uniqueid } => {
                if self.recordings.remove(uniqueid.as_ref()).is_some() {
                    changes.push(Change::RecordingRemoved {
                        uniqueid: uniqueid.into_owned(),
                    });
                }
            }
            Event::ConfbridgeStart { conference } => {
                self.with_conference(&conference, true, changes, |_| true)
            }
            Event::ConfbridgeEnd { conference } => {
                if self.conferences.remove(conference.as_ref()).is_some() {
                    changes.push(Change::ConferenceRemoved {
                        name: conference.into_owned(),
                    });
                }
            }
            Event::ConfbridgeJoin(user) | Event::ConfbridgeList(user) => {
                self.participant(user, changes)
            }
            Event::ConfbridgeLeave {
                conference,
                uniqueid,
            } => self.with_conference(&conference, false, changes, |room| {
                room.participants.remove(uniqueid.as_ref()).is_some()
            }),
            Event::ConfbridgeMute {
                conference,
                uniqueid,
            } => self.with_participant(&conference, &uniqueid, changes, |user| {
                !std::mem::replace(&mut user.muted, true)
            }),
            Event::ConfbridgeUnmute {
                conference,
                uniqueid,
            } => self.with_participant(&conference, &uniqueid, changes, |user| {
                std::mem::replace(&mut user.muted, false)
            }),
            Event::ConfbridgeTalking {
                conference,
                uniqueid,
                talking,
            } => self.with_participant(&conference, &uniqueid, changes, |user| {
                std::mem::replace(&mut user.talking, talking) != talking
            }),
            Event::ConfbridgeRecord { conference } => {
                self.with_conference(&conference, false, changes, |room| {
                    !std::mem::replace(&mut room.recording, true)
                })
            }
            Event::ConfbridgeStopRecord { conference } => {
                self.with_conference(&conference, false, changes, |room| {
                    std::mem::replace(&mut room.recording, false)
                })
            }
            Event::ConfbridgeListRooms { conference, locked } => {
                self.with_conference(&conference, true, changes, |room| {
                    std::mem::replace(&mut room.locked, locked) != locked
                })
            }
            Event::Other => {}
        }
    }

    /// Changes a conference room, made first when `create` (a start, a join or a list
    /// item; a late leave or record of a room that ended brings back no ghost), and
    /// reports it when `change` says it changed or the room is new.
    fn with_conference(
        &mut self,
        name: &str,
        create: bool,
        changes: &mut Vec<Change>,
        change: impl FnOnce(&mut Conference) -> bool,
    ) {
        let new = !self.conferences.contains_key(name);
        if new && !create {
            return;
        }
        let room = self
            .conferences
            .entry(name.to_owned())
            .or_insert_with(|| Conference {
                name: name.to_owned(),
                ..Conference::default()
            });
        if change(room) || new {
            changes.push(Change::Conference(room.clone()));
        }
    }

    /// Changes one participant the model holds.
    fn with_participant(
        &mut self,
        conference: &str,
        uniqueid: &str,
        changes: &mut Vec<Change>,
        change: impl FnOnce(&mut Participant) -> bool,
    ) {
        self.with_conference(conference, false, changes, |room| {
            room.participants.get_mut(uniqueid).is_some_and(change)
        });
    }

    /// A `ConfbridgeJoin` or a `ConfbridgeList` item: the user as it is now, in a room
    /// made if the model lacked it.
    fn participant(&mut self, user: ParticipantSnapshot<'_>, changes: &mut Vec<Change>) {
        let participant = Participant {
            uniqueid: user.uniqueid.into_owned(),
            channel: user.channel.into_owned(),
            caller_id_num: user.caller_id_num.into_owned(),
            caller_id_name: user.caller_id_name.into_owned(),
            muted: user.muted,
            talking: user.talking,
            admin: user.admin,
        };
        self.with_conference(&user.conference, true, changes, |room| {
            if room.participants.get(&participant.uniqueid) == Some(&participant) {
                return false;
            }
            room.participants
                .insert(participant.uniqueid.clone(), participant);
            true
        });
    }

    /// Takes a channel snapshot into the model; creates the channel only when `create`.
    /// The channel is updated in place: most events repeat most of the snapshot, and
    /// copying the channel to compare it would cost more than the event itself.
    fn channel_snapshot(
        &mut self,
        snapshot: ChannelSnapshot<'_>,
        started_ms: i64,
        create: bool,
        changes: &mut Vec<Change>,
    ) {
        if let Some(channel) = self.channels.get_mut(snapshot.uniqueid.as_ref()) {
            if take_snapshot(channel, snapshot) {
                changes.push(Change::Channel(channel.clone()));
            }
            return;
        }
        if !create {
            return;
        }
        let mut channel = Channel {
            uniqueid: snapshot.uniqueid.to_string(),
            started_ms,
            ..Channel::default()
        };
        take_snapshot(&mut channel, snapshot);
        changes.push(Change::Channel(channel.clone()));
        self.channels.insert(channel.uniqueid.clone(), channel);
    }

    fn hold(&mut self, uniqueid: &str, on_hold: bool, changes: &mut Vec<Change>) {
        if let Some(channel) = self.channels.get_mut(uniqueid)
            && channel.on_hold != on_hold
        {
            channel.on_hold = on_hold;
            changes.push(Change::Channel(channel.clone()));
        }
    }
    /// A hung-up channel goes from everywhere: its bridge, queues, parking, spies,
    /// recordings.
    fn hangup(&mut self, uniqueid: &str, changes: &mut Vec<Change>) {
        self.leave_bridge(uniqueid, changes);
        // ConfBridge sends a leave first; a hangup whose leave was lost leaves no ghost.
        for room in self.conferences.values_mut() {
            if room.participants.remove(uniqueid).is_some() {
                changes.push(Change::Conference(room.clone()));
            }
        }
        if self.channels.remove(uniqueid).is_some() {
            changes.push(Change::ChannelRemoved {
                uniqueid: uniqueid.to_owned(),
            });
        }
        for queue in self.queues.values_mut() {
            if remove_caller(queue, uniqueid) {
                changes.push(Change::Queue(queue.clone()));
            }
        }
        if self.parked.remove(uniqueid).is_some() {
            changes.push(Change::ParkedRemoved {
                uniqueid: uniqueid.to_owned(),
            });
        }
        let gone: Vec<String> = self
            .spies
            .values()
            .filter(|s| s.spyer_uniqueid == uniqueid || s.spyee_uniqueid == uniqueid)
            .map(|s| s.spyer_uniqueid.clone())
            .collect();
        for spyer_uniqueid in gone {
            self.spies.remove(&spyer_uniqueid);
            changes.push(Change::SpyRemoved { spyer_uniqueid });
        }
        if self.recordings.remove(uniqueid).is_some() {
            changes.push(Change::RecordingRemoved {
                uniqueid: uniqueid.to_owned(),
            });
        }
    }

    fn bridge(&mut self, bridge: BridgeSnapshot<'_>, now_ms: i64, changes: &mut Vec<Change>) {
        let id = bridge.uniqueid.as_ref();
        let existing = self.calls.get(id);
        let mut call = existing.cloned().unwrap_or_else(|| Call {
            id: id.to_owned(),
            started_ms: now_ms,
            ..Call::default()
        });
        let before = call.clone();
        call.bridge_type = bridge.bridge_type.into_owned();
        call.technology = bridge.technology.into_owned();
        if call != before || existing.is_none() {
            self.calls
                .insert(bridge.uniqueid.into_owned(), call.clone());
            changes.push(Change::Call(call));
        }
    }

    /// Puts a channel the model holds into a bridge, out of any other.
    fn enter_bridge(
        &mut self,
        uniqueid: &str,
        bridge: BridgeSnapshot<'_>,
        now_ms: i64,
        changes: &mut Vec<Change>,
    ) {
        let id = bridge.uniqueid.as_ref();
        if id.is_empty() || !self.channels.contains_key(uniqueid) {
            return;
        }
        if self
            .channels
            .get(uniqueid)
            .and_then(|c| c.bridge.as_deref())
            != Some(id)
        {
            self.leave_bridge(uniqueid, changes);
        }
        let call = self.calls.entry(id.to_owned()).or_insert_with(|| Call {
            id: id.to_owned(),
            bridge_type: bridge.bridge_type.into_owned(),
            technology: bridge.technology.into_owned(),
            started_ms: now_ms,
            channels: Vec::new(),
        });
        if !call.channels.iter().any(|c| c == uniqueid) {
            call.channels.push(uniqueid.to_owned());
            changes.push(Change::Call(call.clone()));
        }
        if let Some(channel) = self.channels.get_mut(uniqueid)
            && channel.bridge.as_deref() != Some(id)
        {
            channel.bridge = Some(id.to_owned());
            changes.push(Change::Channel(channel.clone()));
        }
    }

    fn leave_bridge(&mut self, uniqueid: &str, changes: &mut Vec<Change>) {
        let Some(channel) = self.channels.get_mut(uniqueid) else {
            return;
        };
        let Some(id) = channel.bridge.take() else {
            return;
        };
        changes.push(Change::Channel(channel.clone()));
        if let Some(call) = self.calls.get_mut(&id) {
            call.channels.retain(|c| c != uniqueid);
            changes.push(Change::Call(call.clone()));
        }
    }

    fn destroy_bridge(&mut self, id: &str, changes: &mut Vec<Change>) {
        let Some(call) = self.calls.remove(id) else {
            return;
        };
        for uniqueid in &call.channels {
            if let Some(channel) = self.channels.get_mut(uniqueid)
                && channel.bridge.as_deref() == Some(id)
            {
                channel.bridge = None;
                changes.push(Change::Channel(channel.clone()));
            }
        }
        changes.push(Change::CallRemoved { id: id.to_owned() });
    }

    /// Changes one queue (creating it if a member or caller names it first) and
    /// reports it when `change` says it changed something.
    fn with_queue(
        &mut self,
        name: &str,
        changes: &mut Vec<Change>,
        change: impl FnOnce(&mut Queue) -> bool,
    ) {
        if name.is_empty() {
            return;
        }
        let created = !self.queues.contains_key(name);
        let queue = self.queues.entry(name.to_owned()).or_insert_with(|| Queue {
            name: name.to_owned(),
            ..Queue::default()
        });
        // A queue first heard of here is news to browsers even if nothing else
        // changed, or their models would lack it until the next snapshot.
        if change(queue) || created {
            changes.push(Change::Queue(queue.clone()));
        }
    }

    fn queue_params(&mut self, stats: QueueStats<'_>, changes: &mut Vec<Change>) {
        self.with_queue(&stats.queue, changes, |queue| {
            let before = queue.clone();
            queue.strategy = stats.strategy.into_owned();
            queue.holdtime = stats.holdtime;
            queue.talktime = stats.talktime;
            queue.completed = stats.completed;
            queue.abandoned = stats.abandoned;
            queue.service_level = stats.service_level;
            queue.service_level_perf = stats.service_level_perf;
            // `Calls` is not taken: it is the callers waiting, which the `QueueEntry`
            // items that follow (and the live joins and leaves) keep exactly.
            queue.calls = queue.callers.len() as u32;
            *queue != before
        });
    }

    /// A member as an event or a `QueueMember` item (`listed`) describes it.
    ///
    /// A live event's `InCall: 0` is not taken while the member is in call and its
    /// device is not back to NOT_INUSE (`Status: 1`): Asterisk publishes a device
    /// state change (`QueueMemberStatus`) before it marks the member in call, so in
    /// ami-session-3's calls 1, 3 and 4 the only `QueueMemberStatus` of the call said
    /// `InCall: 0` while `QueueStatus` said `InCall: 1`. Back to NOT_INUSE, app_queue
    /// ends the call before it publishes (`update_status` calls `update_queue`), so
    /// `Status: 1, InCall: 0` is the truth. A listed member is the truth as it stands.
    fn queue_member(
        &mut self,
        member: MemberSnapshot<'_>,
        listed: bool,
        changes: &mut Vec<Change>,
    ) {
        let interface = member.interface.into_owned();
        let snapshot = Member {
            name: member.name.into_owned(),
            interface: interface.clone(),
            state_interface: member.state_interface.into_owned(),
            membership: member.membership.into_owned(),
            penalty: member.penalty,
            calls_taken: member.calls_taken,
            last_call: member.last_call,
            status: member.status,
            paused: member.paused,
            paused_reason: member.paused_reason.into_owned(),
            in_call: member.in_call,
            wrapup_time: member.wrapup_time,
        };
        self.with_queue(&member.queue, changes, |queue| {
            let mut snapshot = snapshot;
            if !listed
                && !snapshot.in_call
                && snapshot.status != 1
                && queue.members.get(&interface).is_some_and(|m| m.in_call)
            {
                snapshot.in_call = true;
            }
            if queue.members.get(&interface) == Some(&snapshot) {
                return false;
            }
            queue.members.insert(interface, snapshot);
            true
        });
    }

    /// `AgentConnect` (`in_call`) or `AgentComplete`: the member is in call, or no
    /// longer; a completed call also counts in the queue's `completed`. The member is
    /// found by `Interface`, else by `MemberName` (an `AgentComplete` may lack the
    /// channel headers, and a client cannot count on more than `Queue`, `Interface`
    /// and `MemberName`). `in_call` is per queue, as app_queue keeps it (the member's
    /// `starttime` in the one queue whose call it took), so other queues of the same
    /// interface are left alone.
    fn agent_in_call(&mut self, agent: AgentMember<'_>, in_call: bool, changes: &mut Vec<Change>) {
        self.with_queue(&agent.queue, changes, |queue| {
            let mut changed = false;
            if !in_call {
                queue.completed = queue.completed.saturating_add(1);
                changed = true;
            }
            let member = if agent.interface.is_empty() {
                queue
                    .members
                    .values_mut()
                    .find(|m| !agent.member_name.is_empty() && m.name == agent.member_name)
            } else {
                queue.members.get_mut(agent.interface.as_ref())
            };
            if let Some(member) = member
                && member.in_call != in_call
            {
                member.in_call = in_call;
                changed = true;
            }
            changed
        });
    }

    /// A caller waiting: a `QueueEntry` item, or a live join (`joined`). A join takes
    /// the place Asterisk gives (`Position`: the count plus one, or ahead of callers of
    /// a lower priority) and those at that place or behind move back one, as app_queue
    /// inserts the entry.
    fn queue_caller(
        &mut self,
        caller: CallerSnapshot<'_>,
        joined_ms: i64,
        joined: bool,
        changes: &mut Vec<Change>,
    ) {
        let uniqueid = caller.uniqueid.into_owned();
        let snapshot = Caller {
            uniqueid: uniqueid.clone(),
            channel: caller.channel.into_owned(),
            position: caller.position,
            caller_id_num: caller.caller_id_num.into_owned(),
            caller_id_name: caller.caller_id_name.into_owned(),
            joined_ms,
        };
        self.with_queue(&caller.queue, changes, |queue| {
            if joined && snapshot.position > 0 && !queue.callers.contains_key(&uniqueid) {
                for other in queue.callers.values_mut() {
                    if other.position >= snapshot.position {
                        other.position = other.position.saturating_add(1);
                    }
                }
            }
            queue.callers.insert(uniqueid, snapshot);
            queue.calls = queue.callers.len() as u32;
            true
        });
    }

    /// A caller left the queue, answered or not; an abandon counts even for a caller
    /// the model never saw join. The caller leaves at the abandon, which Asterisk sends
    /// first with the same `Position`, and everyone behind moves up one place. A caller
    /// the model lacks moves nobody: the leave that follows an abandon names a caller
    /// already gone, so the event's `Position` cannot tell whether anyone moved yet.
    fn queue_caller_gone(
        &mut self,
        queue: &str,
        uniqueid: &str,
        abandoned: bool,
        changes: &mut Vec<Change>,
    ) {
        self.with_queue(queue, changes, |queue| {
            let left = remove_caller(queue, uniqueid);
            if abandoned {
                queue.abandoned = queue.abandoned.saturating_add(1);
            }
            queue.calls = queue.callers.len() as u32;
            left || abandoned
        });
    }

    fn parked(&mut self, parked: ParkedSnapshot<'_>, now_ms: i64, changes: &mut Vec<Change>) {
        let uniqueid = parked.parkee_uniqueid.into_owned();
        let call = ParkedCall {
            uniqueid: uniqueid.clone(),
            channel: parked.parkee_channel.into_owned(),
            caller_id_num: parked.parkee_caller_id_num.into_owned(),
            caller_id_name: parked.parkee_caller_id_name.into_owned(),
            lot: parked.lot.into_owned(),
            space: parked.space.into_owned(),
            parker: parked.parker_dial_string.into_owned(),
            timeout: parked.timeout_s,
            since_ms: seconds_before(now_ms, parked.parked_for_s),
        };
        self.parked.insert(uniqueid, call.clone());
        changes.push(Change::Parked(call));
    }

    fn extension(&mut self, state: ExtensionState<'_>, changes: &mut Vec<Change>) {
        let extension = Extension {
            exten: state.exten.into_owned(),
            context: state.context.into_owned(),
            hint: state.hint.into_owned(),
            status: state.status,
            status_text: state.status_text.into_owned(),
        };
        let key = format!("{}@{}", extension.exten, extension.context);
        if self.extensions.get(&key) != Some(&extension) {
            self.extensions.insert(key, extension.clone());
            changes.push(Change::Extension(extension));
        }
    }

    /// Changes the recording of a channel the model holds, starting it if the model
    /// has none (a mute may be the first the model hears of a recording), and reports it.
    fn with_recording(
        &mut self,
        uniqueid: Text<'_>,
        channel: Text<'_>,
        changes: &mut Vec<Change>,
        change: impl FnOnce(&mut Recording),
    ) {
        if !self.channels.contains_key(uniqueid.as_ref()) {
            return;
        }
        let mut recording = self
            .recordings
            .get(uniqueid.as_ref())
            .cloned()
            .unwrap_or_else(|| Recording {
                uniqueid: uniqueid.to_string(),
                channel: channel.into_owned(),
                muted: None,
            });
        change(&mut recording);
        self.recordings
            .insert(uniqueid.into_owned(), recording.clone());
        changes.push(Change::Recording(recording));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(headers: &[(&str, &str)]) -> Message {
        headers
            .iter()
            .fold(Message::new(), |message, (k, v)| message.with(k, v))
    }

    fn channel(name: &str, id: &str) -> Message {
        event(&[
            ("Event", "Newchannel"),
            ("Channel", name),
            ("ChannelState", "4"),
            ("Uniqueid", id),
            ("Linkedid", id),
        ])
    }

    #[test]
    fn a_hangup_removes_the_channel_from_everywhere() {
        let mut model = ServerModel::default();
        let mut changes = Vec::new();
        model.apply_event(&channel("PJSIP/1-1", "1.1"), 0, &mut changes);
        model.apply_event(&channel("PJSIP/2-1", "1.2"), 0, &mut changes);
        for id in ["1.1", "1.2"] {
            model.apply_event(
                &event(&[
                    ("Event", "BridgeEnter"),
                    ("BridgeUniqueid", "b"),
                    ("Uniqueid", id),
                ]),
                0,
                &mut changes,
            );
        }
        assert_eq!(model.calls["b"].channels, ["1.1", "1.2"]);
        model.apply_event(
            &event(&[("Event", "Hangup"), ("Uniqueid", "1.1")]),
            0,
            &mut changes,
        );
        assert!(!model.channels.contains_key("1.1"));
        assert_eq!(model.calls["b"].channels, ["1.2"]);

        let mut replayed = ServerModel::default();
        for change in changes {
            replayed.apply_change(change);
        }
        assert_eq!(replayed, model);
    }

    #[test]
    fn late_events_bring_back_no_ghost() {
        let mut model = ServerModel::default();
        let mut changes = Vec::new();
        model.apply_event(&channel("PJSIP/1-1", "1.1"), 0, &mut changes);
        model.apply_event(
            &event(&[("Event", "Hangup"), ("Uniqueid", "1.1")]),
            0,
            &mut changes,
        );
        let late = event(&[
            ("Event", "Newstate"),
            ("Uniqueid", "1.1"),
            ("Channel", "PJSIP/1-1"),
        ]);
        model.apply_event(&late, 0, &mut changes);
        assert!(model.channels.is_empty());
    }

    #[test]
    fn garbage_never_panics() {
        let mut model = ServerModel::default();
        let mut changes = Vec::new();
        for name in [
            "Newchannel",
            "CoreShowChannel",
            "BridgeEnter",
            "QueueMember",
            "QueueEntry",
            "ParkedCall",
            "Hangup",
            "MixMonitorMute",
        ] {
            let junk = event(&[
                ("Event", name),
                ("Duration", "xx:1"),
                ("Wait", "-"),
                ("Status", "??"),
            ]);
            model.apply_event(&junk, 0, &mut changes);
        }
        model.apply_event(&Message::new(), 0, &mut changes);
        assert!(model.channels.is_empty());
    }

    #[test]
    fn huge_numbers_saturate_rather_than_overflow() {
        let mut model = ServerModel::default();
        let mut changes = Vec::new();
        let max = i64::MAX.to_string();
        for junk in [
            event(&[
                ("Event", "CoreShowChannel"),
                ("Uniqueid", "1.1"),
                ("Duration", "2000000000000000:00:00"),
            ]),
            event(&[
                ("Event", "CoreShowChannel"),
                ("Uniqueid", "1.2"),
                ("Duration", &format!("{max}:00")),
            ]),
            event(&[
                ("Event", "QueueEntry"),
                ("Queue", "q"),
                ("Uniqueid", "1.1"),
                ("Wait", &max),
            ]),
            event(&[
                ("Event", "ParkedCall"),
                ("ParkeeUniqueid", "1.1"),
                ("ParkingDuration", &max),
            ]),
            event(&[
                ("Event", "QueueParams"),
                ("Queue", "q"),
                ("Completed", "4294967295"),
                ("Abandoned", "4294967295"),
            ]),
            event(&[("Event", "AgentComplete"), ("Queue", "q")]),
            event(&[("Event", "QueueCallerAbandon"), ("Queue", "q")]),
        ] {
            model.apply_event(&junk, i64::MIN / 2, &mut changes);
        }
        let now = i64::MIN / 2;
        assert_eq!(model.channels["1.1"].started_ms, i64::MIN);
        assert_eq!(model.channels["1.2"].started_ms, now, "past i64: malformed");
        assert_eq!(model.queues["q"].callers["1.1"].joined_ms, i64::MIN);
        assert_eq!(model.parked["1.1"].since_ms, i64::MIN);
        assert_eq!(model.queues["q"].abandoned, u32::MAX);
        assert_eq!(model.queues["q"].completed, u32::MAX);
    }

    /// A member in call stays so through a `QueueMemberStatus` that still says
    /// `InCall: 0` (published before app_queue marked the call), and leaves it at an
    /// `AgentComplete` that names only the queue and the member, as one did in a trial
    /// of ami-session-3.
    #[test]
    fn an_agent_complete_without_channel_headers_ends_the_members_call() {
        let mut model = ServerModel::default();
        let mut changes = Vec::new();
        let member = |status: &str, in_call: &str| {
            event(&[
                ("Event", "QueueMemberStatus"),
                ("Queue", "support"),
                ("MemberName", "Agent One"),
                ("Interface", "Local/agent1@agents/n"),
                ("InCall", in_call),
                ("Status", status),
            ])
        };
        let in_call =
            |model: &ServerModel| model.queues["support"].members["Local/agent1@agents/n"].in_call;
        model.apply_event(&member("2", "0"), 0, &mut changes);
        let connect = event(&[
            ("Event", "AgentConnect"),
            ("Channel", "Local/100@test-0000000c;1"),
            ("Uniqueid", "1.25"),
            ("Queue", "support"),
            ("Interface", "Local/agent1@agents/n"),
            ("MemberName", "Agent One"),
        ]);
        model.apply_event(&connect, 0, &mut changes);
        assert!(in_call(&model));
        model.apply_event(&member("2", "0"), 0, &mut changes);
        assert!(in_call(&model), "a late InCall: 0 undid the call");
        let complete = event(&[
            ("Event", "AgentComplete"),
            ("Queue", "support"),
            ("MemberName", "Agent One"),
            ("HoldTime", "2"),
            ("TalkTime", "4"),
            ("Reason", "agent"),
        ]);
        model.apply_event(&complete, 0, &mut changes);
        assert!(!in_call(&model));
        assert_eq!(model.queues["support"].completed, 1);
        model.apply_event(&connect, 0, &mut changes);
        model.apply_event(&member("1", "0"), 0, &mut changes);
        assert!(
            !in_call(&model),
            "back to NOT_INUSE, app_queue ends the call"
        );

        let mut browser = ServerModel::default();
        for change in changes {
            browser.apply_change(change);
        }
        assert_eq!(browser, model);
    }

    /// A leave, a mute or a recording of a room that ended (or never started) brings
    /// back no room; a hangup takes its channel out of every room.
    #[test]
    fn conference_events_after_the_end_bring_back_no_room() {
        let mut model = ServerModel::default();
        let mut changes = Vec::new();
        let user = |name: &str| {
            event(&[
                ("Event", name),
                ("Conference", "1000"),
                ("Channel", "Local/100@test-00000000;1"),
                ("Uniqueid", "1.1"),
                ("Admin", "No"),
                ("Muted", "No"),
            ])
        };
        model.apply_event(&user("ConfbridgeJoin"), 0, &mut changes);
        assert_eq!(model.conferences["1000"].participants.len(), 1);
        model.apply_event(
            &event(&[("Event", "Hangup"), ("Uniqueid", "1.1")]),
            0,
            &mut changes,
        );
        assert!(model.conferences["1000"].participants.is_empty());
        model.apply_event(
            &event(&[("Event", "ConfbridgeEnd"), ("Conference", "1000")]),
            0,
            &mut changes,
        );
        for late in ["ConfbridgeLeave", "ConfbridgeMute", "ConfbridgeTalking"] {
            model.apply_event(&user(late), 0, &mut changes);
        }
        model.apply_event(
            &event(&[("Event", "ConfbridgeRecord"), ("Conference", "1000")]),
            0,
            &mut changes,
        );
        assert!(model.conferences.is_empty(), "{:?}", model.conferences);
        let mut browser = ServerModel::default();
        for change in changes {
            browser.apply_change(change);
        }
        assert_eq!(browser, model);
    }

    #[test]
    fn a_queue_first_heard_of_in_a_removal_reaches_browsers() {
        let mut model = ServerModel::default();
        let mut changes = Vec::new();
        for removal in [
            event(&[
                ("Event", "QueueMemberRemoved"),
                ("Queue", "sales"),
                ("Interface", "PJSIP/201"),
            ]),
            event(&[
                ("Event", "QueueCallerLeave"),
                ("Queue", "support"),
                ("Uniqueid", "1.1"),
            ]),
        ] {
            model.apply_event(&removal, 0, &mut changes);
        }
        let mut browser = ServerModel::default();
        for change in changes {
            browser.apply_change(change);
        }
        assert_eq!(browser, model);
        assert!(browser.queues.contains_key("sales") && browser.queues.contains_key("support"));
    }
}
