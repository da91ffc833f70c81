//! The `default` parking lot: park, give up, time out, pick up.
//!
//! Parked channels wait in the lot's holding bridge, which exists from start and outlives
//! its last member (as the recordings' `BridgeList` shows it).

use super::*;

impl Pbx {
    pub(super) fn park(&mut self, uid: &str, parker: &str, timeout_s: u64) {
        let space = (701..=720)
            .find(|s| !self.parked.iter().any(|p| p.space == *s))
            .unwrap_or(720);
        let lot = self.parking_bridge.clone();
        self.bridge_enter(&lot, uid, None);
        self.parked.push(Parked {
            uniqueid: uid.to_string(),
            space,
            since_ms: self.now_ms,
            timeout_s,
            parker: parker.to_string(),
        });
        self.parked_event("ParkedCall", uid, None);
        self.cel(uid, "PARK_START", "");
        self.chan_event(
            "MusicOnHoldStart",
            Classes::CALL,
            uid,
            &[("Class", "default")],
        );
    }

    /// Appends the parked-call block of `uid` (used by the events and by `ParkedCalls`).
    pub(crate) fn parked_headers(
        &self,
        msg: &mut MessageBuilder,
        uid: &str,
        retriever: Option<&str>,
    ) -> bool {
        let (Some(p), Some(ch)) = (
            self.parked.iter().find(|p| p.uniqueid == uid),
            self.channels.get(uid),
        ) else {
            return false;
        };
        ch.push_headers(msg, "Parkee");
        if let Some(r) = retriever.and_then(|r| self.channels.get(r)) {
            r.push_headers(msg, "Retriever");
        }
        let elapsed = (self.now_ms - p.since_ms) / 1_000;
        msg.push("ParkerDialString", &p.parker);
        msg.push("Parkinglot", "default");
        msg.push("ParkingSpace", p.space.to_string());
        msg.push(
            "ParkingTimeout",
            p.timeout_s.saturating_sub(elapsed).to_string(),
        );
        msg.push("ParkingDuration", elapsed.to_string());
        true
    }

    fn parked_event(&mut self, name: &str, uid: &str, retriever: Option<&str>) {
        let mut msg = Self::head(name, Classes::CALL);
        if self.parked_headers(&mut msg, uid, retriever) {
            self.emit(Classes::CALL, msg);
        }
    }

    /// A parked channel leaves the lot: the music stops, it leaves the holding bridge, and
    /// `event` (`ParkedCallGiveUp`, `ParkedCallTimeOut`, `UnParkedCall`) says why.
    fn leave_lot(&mut self, uid: &str, event: &str, retriever: Option<&str>) {
        self.chan_event("MusicOnHoldStop", Classes::CALL, uid, &[]);
        let lot = self.parking_bridge.clone();
        self.bridge_leave(&lot, uid);
        self.parked_event(event, uid, retriever);
        self.cel(uid, "PARK_END", "");
        self.parked.retain(|p| p.uniqueid != uid);
    }

    pub(super) fn park_end(&mut self, uid: &str, event: &str) {
        self.leave_lot(uid, event, None);
    }

    pub(super) fn unpark(&mut self, uid: &str, retriever: &str) {
        self.leave_lot(uid, "UnParkedCall", Some(retriever));
    }

    /// Call `id` (channel `a1`) picks up the parked channel `parked`: both enter a new
    /// bridge, the picker joins the parked call's Linkedid, each sees the other as its
    /// connected line (as recorded).
    pub(super) fn pick_up(&mut self, id: CallId, a1: &str, parked: &str) {
        self.unpark(parked, a1);
        let bid = self.bridge_create();
        self.bridge_enter(&bid, parked, None);
        let linked = self.field(parked, |c| &c.linkedid);
        if let Some(ch) = self.ch(a1) {
            ch.linkedid = linked;
        }
        self.bridge_enter(&bid, a1, None);
        let (pnum, pname) = (
            self.field(parked, |c| &c.cid_num),
            self.field(parked, |c| &c.cid_name),
        );
        let (num, name) = (
            self.field(a1, |c| &c.cid_num),
            self.field(a1, |c| &c.cid_name),
        );
        self.set_connected(a1, &pnum, &pname);
        self.set_connected(parked, &num, &name);
        if let Some(c) = self.calls.get_mut(&id) {
            c.bridge = Some(bid);
            c.picked = Some(parked.to_string());
        }
    }

    pub(super) fn park_timeout(&mut self, id: CallId) {
        let Some(call) = self.calls.get(&id).cloned() else {
            return;
        };
        let Some(p) = self.parked.iter().find(|p| p.uniqueid == call.a1).cloned() else {
            return;
        };
        if (self.now_ms - p.since_ms) / 1_000 < p.timeout_s {
            return;
        }
        if let Some(ch) = self.ch(&call.a1) {
            ch.context = "parkedcallstimeout".into();
            ch.exten = "s".into();
            ch.priority = 1;
        }
        self.park_end(&call.a1, "ParkedCallTimeOut");
        self.end_call(id, 16, false);
    }

    /// AMI `Park` of a channel. When it is the callee of a bridged call, the caller's Dial
    /// returns and the caller pair hangs up; the parked pair carries the call on until it
    /// times out or hangs up (as recorded).
    pub fn park_channel(&mut self, name: &str, timeout_s: u64) -> bool {
        let Some(uid) = self.channel_by_name(name).map(|c| c.uniqueid.clone()) else {
            return false;
        };
        let call = self
            .calls
            .iter()
            .find(|(_, c)| c.b1.as_deref() == Some(uid.as_str()))
            .map(|(&id, c)| (id, c.clone()));
        if let Some(bid) = self.channels.get(&uid).and_then(|c| c.bridge.clone()) {
            self.bridge_leave(&bid, &uid);
        }
        self.park(&uid, "Local/100@test", timeout_s);
        let Some((id, call)) = call else {
            return true;
        };
        if let Some((q, m)) = call.queue {
            self.member_done(q, m);
        }
        self.caller_pair_down(&call.a1, &call.a2, 16);
        if let Some(c) = self.calls.get_mut(&id) {
            c.a1 = uid;
            c.a2 = call.b2.clone().unwrap_or_default();
            c.b1 = None;
            c.b2 = None;
            c.bridge = None;
            c.queue = None;
        }
        self.schedule(timeout_s * 1_000, Step::ParkTimeout(id));
        true
    }
}
