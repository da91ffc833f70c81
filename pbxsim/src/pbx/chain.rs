//! The Local channel chain of extension 260: two dials in a row, then Local/261 optimizes away.

use super::*;

impl Pbx {
    /// `Dial(Local/261)`, whose `;2` half at once runs `Dial(Local/262)`.
    pub(super) fn chain_start(&mut self, id: CallId) {
        let Some(a1) = self.calls.get(&id).map(|c| c.a1.clone()) else {
            return;
        };
        self.exten(&a1, "260", 1, "Dial", "Local/261@test,30");
        self.dial(id, "261");
        let Some((_, _, b2)) = self.dialled(id) else {
            return;
        };
        let (num, name, linked) = (
            self.field(&a1, |c| &c.cid_num),
            self.field(&a1, |c| &c.cid_name),
            self.field(&a1, |c| &c.linkedid),
        );
        let (c1, c2) = self.new_local("262", "test", Some(&linked));
        self.exten(&b2, "261", 1, "Dial", "Local/262@test,30");
        self.exten(&c1, "261", 1, "AppDial", "(Outgoing Line)");
        self.set_callerid(&c1, "261", &name);
        self.set_connected(&c1, &num, &name);
        self.set_callerid(&c2, &num, &name);
        self.set_connected(&c2, "261", &name);
        self.local_bridge(&c1, &c2);
        self.two_chan_event(
            "DialBegin",
            Classes::CALL,
            ("", &b2),
            ("Dest", &c1),
            &[("DialString", "262@test")],
        );
        if let Some(c) = self.calls.get_mut(&id) {
            c.chain = Some((c1, c2));
        }
        self.schedule(30, Step::ChainRinging(id));
        self.schedule(1_000, Step::ChainAnswer(id));
    }

    /// Local/262 rings, and so does the Local/261 leg the caller dialled.
    pub(super) fn chain_ringing(&mut self, id: CallId) {
        let Some((call, b1, b2)) = self.dialled(id) else {
            return;
        };
        let Some((c1, _)) = call.chain.clone() else {
            return;
        };
        self.set_state(&c1, ChanState::Ringing);
        self.set_state(&b1, ChanState::Ringing);
        self.dial_event("DialState", &b2, &c1, "RINGING");
        self.dial_event("DialState", &call.a1, &b1, "RINGING");
    }

    /// Local/262 answers: two bridges form, then Local/261 optimizes itself out of the
    /// middle (Local/262 takes its place in the caller's bridge) and hangs up.
    pub(super) fn chain_answer(&mut self, id: CallId) {
        let Some((call, b1, b2)) = self.dialled(id) else {
            return;
        };
        let Some((c1, c2)) = call.chain.clone() else {
            return;
        };
        let a1 = call.a1.clone();
        self.set_state(&c2, ChanState::Up);
        self.set_state(&c1, ChanState::Up);
        self.dial_event("DialEnd", &b2, &c1, "ANSWER");
        self.set_state(&b2, ChanState::Up);
        for uid in [&c1, &b1] {
            if let Some(ch) = self.ch(uid) {
                ch.exten.clear();
            }
        }
        let inner = self.bridge_create();
        self.bridge_enter(&inner, &c1, None);
        self.set_state(&b1, ChanState::Up);
        self.dial_event("DialEnd", &a1, &b1, "ANSWER");
        self.bridge_pair(id, &b1, &a1);
        self.bridge_enter(&inner, &b2, None);
        let Some(outer) = self.calls.get(&id).and_then(|c| c.bridge.clone()) else {
            return;
        };
        let (Some(one), Some(two), Some(src)) = (
            self.channels.get(&b1),
            self.channels.get(&b2),
            self.channels.get(&c1),
        ) else {
            return;
        };
        let mut begin = Self::head("LocalOptimizationBegin", Classes::CALL);
        one.push_headers(&mut begin, "LocalOne");
        two.push_headers(&mut begin, "LocalTwo");
        src.push_headers(&mut begin, "Source");
        begin.push("DestUniqueId", &b2);
        begin.push("Id", "0");
        self.emit(Classes::CALL, begin);
        self.cel(&b1, "LOCAL_OPTIMIZE_BEGIN", "");
        self.bridge_leave(&inner, &c1);
        self.bridge_leave(&outer, &b1);
        self.bridge_enter(&outer, &c1, Some(&b1));
        let (Some(one), Some(two)) = (self.channels.get(&b1), self.channels.get(&b2)) else {
            return;
        };
        let mut end = Self::head("LocalOptimizationEnd", Classes::CALL);
        one.push_headers(&mut end, "LocalOne");
        two.push_headers(&mut end, "LocalTwo");
        end.push("Success", "No");
        end.push("Id", "0");
        self.emit(Classes::CALL, end);
        self.cel(&b1, "LOCAL_OPTIMIZE", "");
        self.bridge_leave(&inner, &b2);
        self.chan_event("HangupRequest", Classes::CALL, &b2, &[("Cause", "16")]);
        self.hangup_chan(&b1, 16, false);
        self.hangup_chan(&b2, 16, true);
        if let Some(c) = self.calls.get_mut(&id) {
            c.b1 = Some(c1);
            c.b2 = Some(c2);
            c.chain = None;
        }
        self.schedule(call.duration_s * 1_000, Step::PhoneHangup(id));
    }
}
