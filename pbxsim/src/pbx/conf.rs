//! ConfBridge rooms as ami-session-3 recorded them: joins through 1000, 1010 (admin) and
//! 1020 (room 2000), the Confbridge events with their headers in Asterisk's order, and
//! what the Confbridge actions do. No event says a room was locked.

use super::*;

/// One room: its softmix bridge (with the hidden announcer) and its users.
#[derive(Clone, Debug, Default)]
pub struct Room {
    pub bridge: String,
    pub locked: bool,
    pub recording: bool,
    pub users: Vec<User>,
    /// Virtual ms at creation: `ConfbridgeListRooms` lists the newest first, as recorded.
    pub created_ms: u64,
}

/// A conference user: the `;1` half that runs `ConfBridge()`.
#[derive(Clone, Debug)]
pub struct User {
    pub uid: String,
    pub call: CallId,
    pub admin: bool,
    pub muted: bool,
    pub talking: bool,
    pub joined_ms: u64,
}

/// How long a talking phone (610) waits before its beep, and how long talk detection
/// takes to call it silence (beep, then 4 s of silence; `dsp_silence_threshold`).
const TALK_START_MS: u64 = 1_000;
const TALK_LENGTH_MS: u64 = 3_500;
/// The demo's talking phone talks again this long after it stopped.
const TALK_AGAIN_MS: u64 = 9_000;

/// A Confbridge action's refusal, in app_confbridge's words.
pub const NO_CONFERENCES: &str = "No active conferences.";
pub const NO_CONFERENCE: &str = "No Conference by that name found.";
pub const NO_CHANNEL: &str = "No Channel by that name found in Conference.";

fn yes(flag: bool) -> &'static str {
    if flag { "Yes" } else { "No" }
}

impl Pbx {
    /// The rooms, newest first (the order ConfbridgeListRooms gave in ami-session-3).
    pub fn conferences(&self) -> Vec<(&String, &Room)> {
        let mut rooms: Vec<_> = self.conferences.iter().collect();
        rooms.sort_by_key(|(_, r)| Reverse(r.created_ms));
        rooms
    }

    /// The room and the users of a room, for `ConfbridgeList`.
    pub fn conference(&self, name: &str) -> Option<&Room> {
        self.conferences.get(name)
    }

    /// A Confbridge event: `Conference`, the bridge block (`BridgeNumChannels` plus
    /// `extra_count`), then the user's channel block and `extra`, when there is a user.
    fn conf_event(
        &mut self,
        name: &str,
        room: &str,
        extra_count: usize,
        user: Option<&str>,
        extra: &[(&str, &str)],
    ) {
        let Some(bridge) = self
            .conferences
            .get(room)
            .and_then(|r| self.bridges.get(&r.bridge))
        else {
            return;
        };
        let mut bridge = bridge.clone();
        bridge.hidden += extra_count;
        let mut msg = Self::head(name, Classes::CALL).with("Conference", room);
        bridge.push_headers(&mut msg);
        if let Some(uid) = user {
            match self.channels.get(uid) {
                Some(ch) => ch.push_headers(&mut msg, ""),
                None => return,
            }
        }
        for (k, v) in extra {
            msg.push(k, v);
        }
        self.emit(Classes::CALL, msg);
    }

    /// `ConfBridge()` of call `id`'s `a1`: joins the room, made at the first join; a locked
    /// room refuses a user who is not an admin (no ConfbridgeJoin; the call hangs up).
    pub(super) fn conf_join(&mut self, id: CallId) {
        let Some(call) = self.calls.get(&id).cloned() else {
            return;
        };
        let (room, admin, data) = match call.target {
            Target::ConferenceAdmin => ("1000", true, "1000,,admin_user"),
            Target::Conference2000 => ("2000", false, "2000,room_2000"),
            _ => ("1000", false, "1000"),
        };
        let (a1, ex) = (call.a1.clone(), call.target.exten());
        self.exten(&a1, ex, 1, "NoOp", &format!("Conference {room}"));
        self.exten(&a1, ex, 2, "ConfBridge", data);
        if self.conferences.get(room).is_some_and(|r| r.locked) && !admin {
            self.varset(&a1, "CONFBRIDGE_RESULT", "FAILED");
            self.exten(&a1, ex, 3, "NoOp", "CONFBRIDGE_RESULT=FAILED");
            self.schedule(0, Step::DialplanEnd(id));
            return;
        }
        let first = !self.conferences.contains_key(room);
        if first {
            let bid = self.bridge_create_for(Some(room.to_string()));
            // The announcer's channel is in the bridge before the room starts.
            self.conferences.insert(
                room.to_string(),
                Room {
                    bridge: bid.clone(),
                    created_ms: self.now_ms,
                    ..Room::default()
                },
            );
            if let Some(bridge) = self.bridges.get_mut(&bid) {
                bridge.hidden = 1;
            }
            self.conf_event("ConfbridgeStart", room, 0, None, &[]);
            self.set_device_state(&format!("confbridge:{room}"), "INUSE");
        }
        let bid = self.conferences[room].bridge.clone();
        let flags = [("Admin", yes(admin)), ("Muted", "No")];
        // The first user's join came before its BridgeEnter, later ones' after it.
        if first {
            self.conf_event("ConfbridgeJoin", room, 1, Some(&a1), &flags);
            self.bridge_enter(&bid, &a1, None);
        } else {
            self.bridge_enter(&bid, &a1, None);
            self.conf_event("ConfbridgeJoin", room, 0, Some(&a1), &flags);
        }
        let user = User {
            uid: a1.clone(),
            call: id,
            admin,
            muted: false,
            talking: false,
            joined_ms: self.now_ms,
        };
        if let Some(r) = self.conferences.get_mut(room) {
            r.users.push(user);
        }
        if self.field(&call.a2, |c| &c.exten) == "610" {
            self.schedule(TALK_START_MS, Step::ConfTalk(id, true));
        }
        // The caller phone hangs up after its `Wait(${DURATION})`: the user leaves.
        self.schedule(call.duration_s * 1_000, Step::PhoneHangup(id));
    }

    /// The demo's conference: room 1000 keeps a few people, an admin among them and one
    /// on the talking phone (610), each staying a minute to four; called as calls start.
    pub fn conf_trickle(&mut self) {
        let users = self
            .conferences
            .get("1000")
            .map_or(&[][..], |r| &r.users[..]);
        if users.len() >= 3 {
            return;
        }
        let has_admin = users.iter().any(|u| u.admin);
        let talker = users.iter().any(|u| {
            self.calls
                .get(&u.call)
                .is_some_and(|c| self.field(&c.a2, |ch| &ch.exten) == "610")
        });
        // The recorded callers' names ('Conf Admin' <5002>, 'Conf Talker' <5003>), and
        // numbered users like 'Conf User A' <5001>.
        let guest = self.rand(10, 99);
        let (phone, target, name) = match (has_admin, talker) {
            (false, _) => ("101", Target::ConferenceAdmin, "Conf Admin".to_string()),
            (true, false) => ("610", Target::Conference, "Conf Talker".to_string()),
            (true, true) => ("100", Target::Conference, format!("Conf User {guest}")),
        };
        let num = match target {
            Target::ConferenceAdmin => "5002".to_string(),
            _ if phone == "610" => "5003".to_string(),
            _ => format!("50{guest}"),
        };
        let duration = self.rand(60, 240);
        // Originated like the traffic's calls, with an ActionID (as every recorded one).
        let action_id = format!("conf-{guest:02}");
        self.originate(phone, target, (&num, &name), duration, Some(&action_id));
    }

    /// The room and the place of the user whose channel is `uid`.
    fn conf_user(&self, uid: &str) -> Option<(String, usize)> {
        self.conferences.iter().find_map(|(name, r)| {
            r.users
                .iter()
                .position(|u| u.uid == uid)
                .map(|i| (name.clone(), i))
        })
    }

    /// The 610 phone's beep (talk detection on), then silence (off), and in the demo
    /// again later, while its user is in a room.
    pub(super) fn conf_talk(&mut self, id: CallId, on: bool) {
        let Some(a1) = self.calls.get(&id).map(|c| c.a1.clone()) else {
            return;
        };
        let Some((room, i)) = self.conf_user(&a1) else {
            return;
        };
        let admin = {
            let user = &mut self.conferences.get_mut(&room).expect("found").users[i];
            user.talking = on;
            user.admin
        };
        self.conf_event(
            "ConfbridgeTalking",
            &room,
            0,
            Some(&a1),
            &[
                ("TalkingStatus", if on { "on" } else { "off" }),
                ("Admin", yes(admin)),
            ],
        );
        let next = if on {
            (TALK_LENGTH_MS, false)
        } else {
            (TALK_AGAIN_MS, true)
        };
        self.schedule(next.0, Step::ConfTalk(id, next.1));
    }

    /// The user on `uid` leaves its room (`result`: `KICKED`, `HANGUP`): ConfbridgeLeave,
    /// BridgeLeave, and after the last user ConfbridgeEnd and the bridge's end.
    pub(super) fn conf_leave(&mut self, uid: &str, result: &str) {
        let Some((room, i)) = self.conf_user(uid) else {
            return;
        };
        let user = self.conferences.get_mut(&room).expect("found").users[i].clone();
        self.conf_event(
            "ConfbridgeLeave",
            &room,
            0,
            Some(uid),
            &[("Admin", yes(user.admin))],
        );
        self.varset(uid, "CONFBRIDGE_RESULT", result);
        let Some(r) = self.conferences.get_mut(&room) else {
            return;
        };
        r.users.remove(i);
        let (bid, empty) = (r.bridge.clone(), r.users.is_empty());
        self.bridge_leave(&bid, uid);
        if empty {
            self.conf_event("ConfbridgeEnd", &room, 0, None, &[]);
            self.conferences.remove(&room);
            self.set_device_state(&format!("confbridge:{room}"), "NOT_INUSE");
            if let Some(mut bridge) = self.bridges.remove(&bid) {
                bridge.hidden = 0;
                let mut msg = Self::head("BridgeDestroy", Classes::CALL);
                bridge.push_headers(&mut msg);
                self.emit(Classes::CALL, msg);
            }
        }
    }

    /// `ConfbridgeKick`: `all` kicks everyone, `participants` everyone who is not an
    /// admin; a kicked user's dialplan goes on (`CONFBRIDGE_RESULT=KICKED`) and ends.
    pub fn conf_kick(&mut self, room: &str, channel: &str) -> Result<&'static str, &'static str> {
        let users = self.conf_targets(room, channel)?;
        for (uid, call) in &users {
            self.conf_leave(uid, "KICKED");
            if let Some(ex) = self.calls.get(call).map(|c| c.target.exten()) {
                self.exten(uid, ex, 3, "NoOp", "CONFBRIDGE_RESULT=KICKED");
            }
            self.schedule(0, Step::DialplanEnd(*call));
        }
        Ok(if channel.eq_ignore_ascii_case("all") {
            "All participants kicked"
        } else {
            "User kicked"
        })
    }

    /// `ConfbridgeMute`/`ConfbridgeUnmute`: one event per user.
    pub fn conf_mute(
        &mut self,
        room: &str,
        channel: &str,
        mute: bool,
    ) -> Result<&'static str, &'static str> {
        let users = self.conf_targets(room, channel)?;
        for (uid, _) in &users {
            let Some((name, i)) = self.conf_user(uid) else {
                continue;
            };
            let admin = {
                let user = &mut self.conferences.get_mut(&name).expect("found").users[i];
                user.muted = mute;
                user.admin
            };
            let event = if mute {
                "ConfbridgeMute"
            } else {
                "ConfbridgeUnmute"
            };
            self.conf_event(event, &name, 0, Some(uid), &[("Admin", yes(admin))]);
        }
        Ok(if mute { "User muted" } else { "User unmuted" })
    }

    /// The users a kick or mute names: `all`, `participants` (not admins), or a channel.
    fn conf_targets(
        &self,
        room: &str,
        channel: &str,
    ) -> Result<Vec<(String, CallId)>, &'static str> {
        if self.conferences.is_empty() {
            return Err(NO_CONFERENCES);
        }
        let r = self.conferences.get(room).ok_or(NO_CONFERENCE)?;
        let name = |u: &User| self.name_of(&u.uid);
        let users: Vec<(String, CallId)> = r
            .users
            .iter()
            .filter(|u| match channel.to_ascii_lowercase().as_str() {
                "all" => true,
                "participants" => !u.admin,
                _ => name(u) == channel,
            })
            .map(|u| (u.uid.clone(), u.call))
            .collect();
        if users.is_empty() && !channel.eq_ignore_ascii_case("participants") {
            return Err(NO_CHANNEL);
        }
        Ok(users)
    }

    /// `ConfbridgeLock`/`ConfbridgeUnlock`: no event, only `ConfbridgeListRooms` shows it.
    pub fn conf_lock(&mut self, room: &str, lock: bool) -> Result<&'static str, &'static str> {
        let r = self.conferences.get_mut(room).ok_or(NO_CONFERENCE)?;
        r.locked = lock;
        Ok(if lock {
            "Conference locked"
        } else {
            "Conference unlocked"
        })
    }

    /// `ConfbridgeStartRecord`/`ConfbridgeStopRecord`: the recorder channel joins the
    /// bridge (counted in `BridgeNumChannels`) and the event says so, with no file name.
    pub fn conf_record(&mut self, room: &str, start: bool) -> Result<&'static str, &'static str> {
        let r = self.conferences.get_mut(room).ok_or(NO_CONFERENCE)?;
        match (start, r.recording) {
            (true, true) => return Err("Conference is already being recorded."),
            (false, false) => return Err("Internal error while stopping recording."),
            _ => {}
        }
        r.recording = start;
        let bid = r.bridge.clone();
        if start {
            if let Some(bridge) = self.bridges.get_mut(&bid) {
                bridge.hidden += 1;
            }
            self.conf_event("ConfbridgeRecord", room, 0, None, &[]);
            Ok("Conference Recording Started.")
        } else {
            self.conf_event("ConfbridgeStopRecord", room, 0, None, &[]);
            if let Some(bridge) = self.bridges.get_mut(&bid) {
                bridge.hidden = bridge.hidden.saturating_sub(1);
            }
            Ok("Conference Recording Stopped.")
        }
    }
}
