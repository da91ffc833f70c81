//! The reducer: one AMI event in, the model and its [`Change`]s out.
//!
//! Live events and the items of status lists go through the same code, each handled
//! as "this is now the state of X": `CoreShowChannel` like `Newchannel`, `QueueMember`
//! like `QueueMemberStatus`, list `ExtensionStatus` like the live one. A model rebuilt
//! from the lists and a model kept from the events therefore agree by construction.
//!
//! Only `Newchannel` and the list items create a channel; later events about a channel
//! the model does not hold (one that hung up) change nothing, so a late event cannot
//! bring back a ghost. Every header is read leniently: a missing or malformed one
//! becomes empty or zero, never a panic.

use crate::ami::{Message, is_true};

use super::{
    Call, Caller, Change, Channel, Device, Extension, Mailbox, Member, ParkedCall, Presence, Queue,
    Recording, ServerModel, Spy,
};

fn text(event: &Message, key: &str) -> String {
    event
        .get_str(key)
        .map(|v| v.into_owned())
        .unwrap_or_default()
}

fn number<T: std::str::FromStr + Default>(event: &Message, key: &str) -> T {
    event
        .get_str(key)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_default()
}

/// `HH:MM:SS` (CoreShowChannel's `Duration`) in seconds.
fn hms(value: &str) -> i64 {
    value
        .split(':')
        .try_fold(0i64, |total, part| {
            part.trim().parse::<i64>().ok().map(|n| total * 60 + n)
        })
        .unwrap_or(0)
}

impl ServerModel {
    /// Applies one AMI event; appends what changed to `changes`. Events the model does
    /// not use change nothing. Never panics, whatever the headers.
    pub fn apply_event(&mut self, event: &Message, now_ms: i64, changes: &mut Vec<Change>) {
        let Some(name) = event.get_str("Event") else {
            return;
        };
        match name.as_ref() {
            "Newchannel" => self.channel_snapshot(event, "", now_ms, true, changes),
            "CoreShowChannel" => {
                let started = now_ms - hms(&text(event, "Duration")) * 1000;
                self.channel_snapshot(event, "", started, true, changes);
                let bridge = text(event, "BridgeId");
                if !bridge.is_empty() {
                    self.enter_bridge(event, &bridge, now_ms, changes);
                }
            }
            "Newstate" | "NewCallerid" | "NewConnectedLine" | "NewAccountCode" | "Newexten"
            | "DialBegin" | "DialEnd" => {
                self.channel_snapshot(event, "", now_ms, false, changes);
                if name == "DialBegin" {
                    self.channel_snapshot(event, "Dest", now_ms, false, changes);
                }
            }
            "Hold" | "Unhold" => self.hold(event, name == "Hold", changes),
            "Hangup" => self.hangup(&text(event, "Uniqueid"), changes),
            "BridgeCreate" | "BridgeListItem" => self.bridge(event, now_ms, changes),
            "BridgeEnter" => {
                self.channel_snapshot(event, "", now_ms, false, changes);
                self.enter_bridge(event, &text(event, "BridgeUniqueid"), now_ms, changes);
            }
            "BridgeLeave" => {
                self.leave_bridge(&text(event, "Uniqueid"), changes);
            }
            "BridgeDestroy" => self.destroy_bridge(&text(event, "BridgeUniqueid"), changes),
            "QueueParams" => self.queue_params(event, changes),
            "QueueMember"
            | "QueueMemberAdded"
            | "QueueMemberStatus"
            | "QueueMemberPause"
            | "QueueMemberPenalty"
            | "QueueMemberRinginuse" => self.queue_member(event, changes),
            "QueueMemberRemoved" => {
                let interface = member_interface(event);
                self.with_queue(&text(event, "Queue"), changes, |queue| {
                    queue.members.remove(&interface).is_some()
                });
            }
            "QueueEntry" => {
                let joined = now_ms - number::<i64>(event, "Wait") * 1000;
                self.queue_caller(event, joined, changes);
            }
            "QueueCallerJoin" => self.queue_caller(event, now_ms, changes),
            "QueueCallerLeave" | "QueueCallerAbandon" => {
                let uniqueid = text(event, "Uniqueid");
                let abandoned = name == "QueueCallerAbandon";
                self.with_queue(&text(event, "Queue"), changes, |queue| {
                    let left = queue.callers.remove(&uniqueid).is_some();
                    if abandoned {
                        queue.abandoned += 1;
                    }
                    queue.calls = queue.callers.len() as u32;
                    left || abandoned
                });
            }
            "AgentComplete" => {
                self.with_queue(&text(event, "Queue"), changes, |queue| {
                    queue.completed += 1;
                    true
                });
            }
            "ParkedCall" => self.parked(event, now_ms, changes),
            "UnParkedCall" | "ParkedCallGiveUp" | "ParkedCallTimeOut" | "ParkedCallSwap" => {
                let uniqueid = text(event, "ParkeeUniqueid");
                if self.parked.remove(&uniqueid).is_some() {
                    changes.push(Change::ParkedRemoved { uniqueid });
                }
            }
            "ExtensionStatus" => self.extension(event, changes),
            "DeviceStateChange" => {
                let device = Device {
                    device: text(event, "Device"),
                    state: text(event, "State"),
                };
                if !device.device.is_empty() && self.devices.get(&device.device) != Some(&device) {
                    self.devices.insert(device.device.clone(), device.clone());
                    changes.push(Change::Device(device));
                }
            }
            "PresenceStateChange" => {
                let presence = Presence {
                    presentity: text(event, "Presentity"),
                    status: text(event, "Status"),
                    subtype: text(event, "Subtype"),
                    message: text(event, "Message"),
                };
                if !presence.presentity.is_empty() {
                    self.presence
                        .insert(presence.presentity.clone(), presence.clone());
                    changes.push(Change::Presence(presence));
                }
            }
            "MessageWaiting" => {
                let mailbox = Mailbox {
                    mailbox: text(event, "Mailbox"),
                    waiting: event.get("Waiting").is_some_and(is_true)
                        || number::<u32>(event, "Waiting") > 0,
                    new: number(event, "New"),
                    old: number(event, "Old"),
                };
                if !mailbox.mailbox.is_empty() {
                    self.mailboxes
                        .insert(mailbox.mailbox.clone(), mailbox.clone());
                    changes.push(Change::Mailbox(mailbox));
                }
            }
            "ChanSpyStart" => {
                let spy = Spy {
                    spyer_uniqueid: text(event, "SpyerUniqueid"),
                    spyer_channel: text(event, "SpyerChannel"),
                    spyee_uniqueid: text(event, "SpyeeUniqueid"),
                    spyee_channel: text(event, "SpyeeChannel"),
                };
                if self.channels.contains_key(&spy.spyer_uniqueid) {
                    self.spies.insert(spy.spyer_uniqueid.clone(), spy.clone());
                    changes.push(Change::Spy(spy));
                }
            }
            "ChanSpyStop" => {
                let spyer_uniqueid = text(event, "SpyerUniqueid");
                if self.spies.remove(&spyer_uniqueid).is_some() {
                    changes.push(Change::SpyRemoved { spyer_uniqueid });
                }
            }
            "MixMonitorStart" | "MixMonitorMute" => {
                let uniqueid = text(event, "Uniqueid");
                if !self.channels.contains_key(&uniqueid) {
                    return;
                }
                let mut recording = self
                    .recordings
                    .get(&uniqueid)
                    .cloned()
                    .unwrap_or(Recording {
                        uniqueid: uniqueid.clone(),
                        channel: text(event, "Channel"),
                        muted: None,
                    });
                if name == "MixMonitorMute" {
                    let muted = event.get("State").is_some_and(is_true);
                    recording.muted = muted.then(|| text(event, "Direction"));
                }
                self.recordings.insert(uniqueid, recording.clone());
                changes.push(Change::Recording(recording));
            }
            "MixMonitorStop" => {
                let uniqueid = text(event, "Uniqueid");
                if self.recordings.remove(&uniqueid).is_some() {
                    changes.push(Change::RecordingRemoved { uniqueid });
                }
            }
            _ => {}
        }
    }

    /// Reads the channel snapshot headers (with `prefix`, e.g. `Dest`) into the channel;
    /// creates it only when `create`.
    fn channel_snapshot(
        &mut self,
        event: &Message,
        prefix: &str,
        started_ms: i64,
        create: bool,
        changes: &mut Vec<Change>,
    ) {
        let field = |key: &str| text(event, &format!("{prefix}{key}"));
        let uniqueid = field("Uniqueid");
        if uniqueid.is_empty() {
            return;
        }
        let existing = self.channels.get(&uniqueid);
        if existing.is_none() && !create {
            return;
        }
        let mut channel = existing.cloned().unwrap_or_else(|| Channel {
            uniqueid: uniqueid.clone(),
            started_ms,
            ..Channel::default()
        });
        let before = channel.clone();
        channel.channel = field("Channel");
        channel.linkedid = field("Linkedid");
        channel.state = number(event, &format!("{prefix}ChannelState"));
        channel.state_desc = field("ChannelStateDesc");
        channel.caller_id_num = field("CallerIDNum");
        channel.caller_id_name = field("CallerIDName");
        channel.connected_num = field("ConnectedLineNum");
        channel.connected_name = field("ConnectedLineName");
        channel.context = field("Context");
        channel.exten = field("Exten");
        channel.priority = field("Priority");
        channel.account_code = field("AccountCode");
        if prefix.is_empty() {
            // Newexten names the application; the channel list calls it ApplicationData.
            for (key, data) in [
                ("Application", "ApplicationData"),
                ("Application", "AppData"),
            ] {
                if let Some(app) = event.get_str(key) {
                    channel.application = app.into_owned();
                    channel.application_data = text(event, data);
                }
            }
        }
        if channel != before || existing.is_none() {
            self.channels.insert(uniqueid, channel.clone());
            changes.push(Change::Channel(channel));
        }
    }

    fn hold(&mut self, event: &Message, on_hold: bool, changes: &mut Vec<Change>) {
        if let Some(channel) = self.channels.get_mut(&text(event, "Uniqueid"))
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
        if self.channels.remove(uniqueid).is_some() {
            changes.push(Change::ChannelRemoved {
                uniqueid: uniqueid.to_owned(),
            });
        }
        for queue in self.queues.values_mut() {
            if queue.callers.remove(uniqueid).is_some() {
                queue.calls = queue.callers.len() as u32;
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

    fn bridge(&mut self, event: &Message, now_ms: i64, changes: &mut Vec<Change>) {
        let id = text(event, "BridgeUniqueid");
        if id.is_empty() {
            return;
        }
        let mut call = self.calls.get(&id).cloned().unwrap_or(Call {
            id: id.clone(),
            started_ms: now_ms,
            ..Call::default()
        });
        let before = call.clone();
        call.bridge_type = text(event, "BridgeType");
        call.technology = text(event, "BridgeTechnology");
        if call != before || !self.calls.contains_key(&id) {
            self.calls.insert(id, call.clone());
            changes.push(Change::Call(call));
        }
    }

    fn enter_bridge(&mut self, event: &Message, id: &str, now_ms: i64, changes: &mut Vec<Change>) {
        let uniqueid = text(event, "Uniqueid");
        if id.is_empty() || !self.channels.contains_key(&uniqueid) {
            return;
        }
        if self
            .channels
            .get(&uniqueid)
            .and_then(|c| c.bridge.as_deref())
            != Some(id)
        {
            self.leave_bridge(&uniqueid, changes);
        }
        let call = self.calls.entry(id.to_owned()).or_insert_with(|| Call {
            id: id.to_owned(),
            bridge_type: text(event, "BridgeType"),
            technology: text(event, "BridgeTechnology"),
            started_ms: now_ms,
            channels: Vec::new(),
        });
        if !call.channels.contains(&uniqueid) {
            call.channels.push(uniqueid.clone());
            changes.push(Change::Call(call.clone()));
        }
        if let Some(channel) = self.channels.get_mut(&uniqueid)
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
        let queue = self.queues.entry(name.to_owned()).or_insert_with(|| Queue {
            name: name.to_owned(),
            ..Queue::default()
        });
        if change(queue) {
            changes.push(Change::Queue(queue.clone()));
        }
    }

    fn queue_params(&mut self, event: &Message, changes: &mut Vec<Change>) {
        self.with_queue(&text(event, "Queue"), changes, |queue| {
            let before = queue.clone();
            queue.strategy = text(event, "Strategy");
            queue.holdtime = number(event, "Holdtime");
            queue.talktime = number(event, "TalkTime");
            queue.completed = number(event, "Completed");
            queue.abandoned = number(event, "Abandoned");
            queue.service_level = number(event, "ServiceLevel");
            queue.service_level_perf = number(event, "ServicelevelPerf");
            // `Calls` is not taken: it is the callers waiting, which the `QueueEntry`
            // items that follow (and the live joins and leaves) keep exactly.
            queue.calls = queue.callers.len() as u32;
            *queue != before
        });
    }

    fn queue_member(&mut self, event: &Message, changes: &mut Vec<Change>) {
        let interface = member_interface(event);
        if interface.is_empty() {
            return;
        }
        let member = Member {
            name: event
                .get_str("MemberName")
                .or_else(|| event.get_str("Name"))
                .map(|n| n.into_owned())
                .unwrap_or_default(),
            interface: interface.clone(),
            state_interface: text(event, "StateInterface"),
            membership: text(event, "Membership"),
            penalty: number(event, "Penalty"),
            calls_taken: number(event, "CallsTaken"),
            last_call: number(event, "LastCall"),
            status: number(event, "Status"),
            paused: event.get("Paused").is_some_and(is_true),
            paused_reason: text(event, "PausedReason"),
            in_call: event.get("InCall").is_some_and(is_true),
            wrapup_time: number(event, "Wrapuptime"),
        };
        self.with_queue(&text(event, "Queue"), changes, |queue| {
            if queue.members.get(&interface) == Some(&member) {
                return false;
            }
            queue.members.insert(interface, member);
            true
        });
    }

    fn queue_caller(&mut self, event: &Message, joined_ms: i64, changes: &mut Vec<Change>) {
        let uniqueid = text(event, "Uniqueid");
        if uniqueid.is_empty() {
            return;
        }
        let caller = Caller {
            uniqueid: uniqueid.clone(),
            channel: text(event, "Channel"),
            position: number(event, "Position"),
            caller_id_num: text(event, "CallerIDNum"),
            caller_id_name: text(event, "CallerIDName"),
            joined_ms,
        };
        self.with_queue(&text(event, "Queue"), changes, |queue| {
            queue.callers.insert(uniqueid, caller);
            queue.calls = queue.callers.len() as u32;
            true
        });
    }

    fn parked(&mut self, event: &Message, now_ms: i64, changes: &mut Vec<Change>) {
        let uniqueid = text(event, "ParkeeUniqueid");
        if uniqueid.is_empty() {
            return;
        }
        let parked = ParkedCall {
            uniqueid: uniqueid.clone(),
            channel: text(event, "ParkeeChannel"),
            caller_id_num: text(event, "ParkeeCallerIDNum"),
            caller_id_name: text(event, "ParkeeCallerIDName"),
            lot: text(event, "Parkinglot"),
            space: text(event, "ParkingSpace"),
            parker: text(event, "ParkerDialString"),
            timeout: number(event, "ParkingTimeout"),
            since_ms: now_ms - number::<i64>(event, "ParkingDuration") * 1000,
        };
        self.parked.insert(uniqueid, parked.clone());
        changes.push(Change::Parked(parked));
    }

    fn extension(&mut self, event: &Message, changes: &mut Vec<Change>) {
        let extension = Extension {
            exten: text(event, "Exten"),
            context: text(event, "Context"),
            hint: text(event, "Hint"),
            status: number(event, "Status"),
            status_text: text(event, "StatusText"),
        };
        if extension.exten.is_empty() {
            return;
        }
        let key = format!("{}@{}", extension.exten, extension.context);
        if self.extensions.get(&key) != Some(&extension) {
            self.extensions.insert(key, extension.clone());
            changes.push(Change::Extension(extension));
        }
    }
}

/// Live member events say `Interface`; the `QueueStatus` list says `Location`.
fn member_interface(event: &Message) -> String {
    event
        .get_str("Interface")
        .or_else(|| event.get_str("Location"))
        .map(|i| i.into_owned())
        .unwrap_or_default()
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
    fn durations_parse_as_asterisk_writes_them() {
        assert_eq!(hms("00:01:05"), 65);
        assert_eq!(hms("1:00:00"), 3600);
        assert_eq!(hms("bad"), 0);
    }
}
