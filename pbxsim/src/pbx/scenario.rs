//! Calls through the test dialplan: originate, dial, answer, fail, and the recorded teardown orders.

use super::*;

/// How long after its `Answer()` the caller phone's `Wait` starts: the recordings show
/// it after the callee's `Ringing` and `Wait(1)`, and not at all when the dial failed
/// within milliseconds (busy, congestion).
const CALLER_WAIT_MS: u64 = 500;

impl Pbx {
    /// Originates `Local/<phone>@test` into `target` (Async Originate, or the generator's
    /// calls). Emits the originate events and an `OriginateResponse` carrying `action_id`.
    pub fn originate(
        &mut self,
        phone: &str,
        target: Target,
        callerid: (&str, &str),
        duration_s: u64,
        action_id: Option<&str>,
    ) -> String {
        let (id, a1) = self.originate_leg(phone, target, None, callerid, duration_s, action_id);
        self.run_target(id);
        a1
    }

    /// The originated pair up to its answer, with the `OriginateResponse` (of the
    /// `Application`/`Data` form when `app` is given); the call's target is not run yet.
    pub(super) fn originate_leg(
        &mut self,
        phone: &str,
        target: Target,
        app: Option<(&str, &str)>,
        callerid: (&str, &str),
        duration_s: u64,
        action_id: Option<&str>,
    ) -> (CallId, String) {
        self.processed += 1;
        let (a1, a2) = self.new_local(phone, "test", None);
        let (cid_num, cid_name) = callerid;
        let dur = duration_s.to_string();
        self.exten(&a1, phone, 1, "AppDial2", "(Outgoing Line)");
        self.varset(&a1, "DURATION", &dur);
        self.set_callerid(&a1, cid_num, cid_name);
        self.set_connected(&a1, cid_num, cid_name);
        self.varset(&a2, "DURATION", &dur);
        self.set_callerid(&a2, cid_num, cid_name);
        self.set_connected(&a2, cid_num, cid_name);
        self.local_bridge(&a1, &a2);
        self.two_chan_event(
            "DialBegin",
            Classes::CALL,
            ("", ""),
            ("Dest", &a1),
            &[("DialString", &format!("{phone}@test"))],
        );
        // In a call centre (a directory of named desk phones) the caller phone stands
        // for whoever calls, a desk or an outside caller, and carries their identity:
        // the test dialplan's fixed one would claim a desk's number (1001) for a call
        // that desk is not in, and a panel would show that desk a call it does not have.
        let call_centre = self
            .opts
            .directory
            .phones
            .iter()
            .any(|p| !p.name.is_empty());
        let (pnum, pname) = if call_centre {
            (cid_num, cid_name)
        } else {
            phone_identity(phone)
        };
        self.exten(
            &a2,
            phone,
            1,
            "NoOp",
            &format!("Caller phone {}", self.name_of(&a2)),
        );
        self.exten(&a2, phone, 2, "Set", &format!("D={dur}"));
        self.varset(&a2, "D", &dur);
        self.exten(
            &a2,
            phone,
            3,
            "Set",
            &format!("CALLERID(all)=\"{pname}\" <{pnum}>"),
        );
        self.set_callerid(&a2, pnum, pname);
        self.exten(&a2, phone, 4, "Answer", "");
        self.set_state(&a2, ChanState::Up);
        self.set_state(&a1, ChanState::Up);
        self.dial_event("DialEnd", "", &a1, "ANSWER");
        self.originate_response(action_id, &a1, target, app, (cid_num, cid_name));
        self.cel(&a2, "ANSWER", "");
        self.cel(&a1, "ANSWER", "");
        let id = self.next_call;
        self.next_call += 1;
        self.calls.insert(
            id,
            Call {
                target,
                a1: a1.clone(),
                a2: a2.clone(),
                b1: None,
                b2: None,
                bridge: None,
                duration_s,
                queue: None,
                mark_ms: self.now_ms,
                ring_ms: 0,
                spyee: None,
                picked: None,
                agent_delay_ms: None,
                chain: None,
                phone: None,
                callee: None,
                space: None,
            },
        );
        self.schedule(CALLER_WAIT_MS, Step::CallerWait(id));
        (id, a1)
    }

    /// The caller phone starts its `Wait(${D})`, if its call is still there.
    pub(super) fn caller_wait(&mut self, id: CallId) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let (a2, dur) = (call.a2.clone(), call.duration_s.to_string());
        let phone = self.field(&a2, |c| &c.exten);
        self.exten(&a2, &phone, 5, "Wait", &dur);
    }

    pub(super) fn originate_response(
        &mut self,
        action_id: Option<&str>,
        uid: &str,
        target: Target,
        app: Option<(&str, &str)>,
        (num, name): (&str, &str),
    ) {
        let mut msg = Self::head("OriginateResponse", Classes::CALL);
        if let Some(id) = action_id {
            msg.push("ActionID", id);
        }
        msg.push("Response", "Success");
        msg.push("Channel", self.name_of(uid));
        match app {
            Some((app, data)) => {
                msg.push("Application", app);
                msg.push("Data", data);
            }
            None => {
                msg.push("Context", "test");
                msg.push("Exten", target.exten());
            }
        }
        msg.push("Reason", "4");
        msg.push("Uniqueid", uid);
        msg.push("CallerIDNum", num);
        msg.push("CallerIDName", name);
        self.emit(Classes::CALL, msg);
    }

    /// The `OriginateResponse` of an Originate whose channel cannot be created.
    pub fn originate_failure(&mut self, action_id: Option<&str>, channel: &str, exten: &str) {
        let mut msg = Self::head("OriginateResponse", Classes::CALL);
        if let Some(id) = action_id {
            msg.push("ActionID", id);
        }
        msg.push("Response", "Failure");
        msg.push("Channel", channel);
        msg.push("Context", "test");
        msg.push("Exten", exten);
        msg.push("Reason", "0");
        msg.push("Uniqueid", "<unknown>");
        msg.push("CallerIDNum", UNKNOWN);
        msg.push("CallerIDName", UNKNOWN);
        self.emit(Classes::CALL, msg);
    }

    pub(super) fn run_target(&mut self, id: CallId) {
        let Some(call) = self.calls.get(&id).cloned() else {
            return;
        };
        let (a1, target) = (call.a1.clone(), call.target);
        let ex = target.exten();
        let cid = self
            .channels
            .get(&a1)
            .map(|c| c.callerid_all())
            .unwrap_or_default();
        match target {
            Target::Bridged
            | Target::MixMonitor
            | Target::Busy
            | Target::Congested
            | Target::NoAnswer => {
                // As extensions.conf has them: 200 says who calls and passes DURATION on
                // to the callee; 211, 221 and 231 dial at once, with a shorter timeout.
                let (prio, dial, timeout) = match target {
                    Target::MixMonitor => {
                        self.exten(&a1, ex, 1, "MixMonitor", "${UNIQUEID}.wav,b");
                        self.monitor_start(&a1, &format!("{a1}.wav"), None);
                        (2, "201", 30)
                    }
                    Target::Busy => (1, "210", 10),
                    Target::Congested => (1, "220", 10),
                    Target::NoAnswer => (1, "230", 5),
                    _ => {
                        self.exten(&a1, ex, 1, "NoOp", &format!("Bridged call from {cid}"));
                        let pass_on = format!("1?Set(__DURATION={})", call.duration_s);
                        self.exten(&a1, ex, 2, "ExecIf", &pass_on);
                        (3, "201", 30)
                    }
                };
                self.exten(
                    &a1,
                    ex,
                    prio,
                    "Dial",
                    &format!("Local/{dial}@test,{timeout}"),
                );
                self.varset(&a1, "DIALSTATUS", "");
                self.dial(id, dial);
                match target {
                    Target::Busy | Target::Congested => self.schedule(20, Step::DialFail(id)),
                    Target::NoAnswer => {
                        self.schedule(30, Step::DialRinging(id));
                        self.schedule(5_000, Step::DialFail(id));
                    }
                    _ => {
                        self.schedule(30, Step::DialRinging(id));
                        self.schedule(1_000, Step::DialAnswer(id));
                    }
                }
            }
            Target::Queue | Target::QueueAbandon => {
                let q = if target == Target::QueueAbandon {
                    1
                } else {
                    self.pick_queue()
                };
                let qname = self.queues[q].name.clone();
                self.exten(&a1, ex, 1, "Answer", "");
                self.exten(&a1, ex, 3, "Queue", &format!("{qname},,,,60"));
                self.queues[q].callers.push((a1.clone(), self.now_ms));
                let place = self.queues[q].callers.len();
                self.queues[q].original_positions.insert(a1.clone(), place);
                let pos = place.to_string();
                self.chan_event(
                    "QueueCallerJoin",
                    Classes::AGENT,
                    &a1,
                    &[("Queue", &qname), ("Position", &pos), ("Count", &pos)],
                );
                self.chan_event(
                    "MusicOnHoldStart",
                    Classes::CALL,
                    &a1,
                    &[("Class", "default")],
                );
                if let Some(c) = self.calls.get_mut(&id) {
                    c.mark_ms = self.now_ms;
                }
                if !self.queues[q].members.is_empty() {
                    self.schedule(500, Step::QueueOffer(id));
                }
                self.schedule(call.duration_s * 1_000, Step::PhoneHangup(id));
            }
            Target::Park => {
                self.exten(&a1, ex, 1, "Answer", "");
                self.exten(&a1, ex, 3, "Park", "default,s");
                self.park(&a1, "Local/100@test", 45);
                self.schedule(call.duration_s.min(60) * 1_000, Step::PhoneHangup(id));
                self.schedule(45_000, Step::ParkTimeout(id));
            }
            Target::ParkPickup => {
                let space = call.space.unwrap_or(701);
                self.exten(&a1, ex, 1, "ParkedCall", &format!("default,{space}"));
                let parked = self
                    .parked
                    .iter()
                    .find(|p| call.space.is_none_or(|s| s == p.space))
                    .cloned();
                if let Some(p) = parked {
                    self.pick_up(id, &a1, &p.uniqueid);
                }
                self.schedule(call.duration_s * 1_000, Step::PhoneHangup(id));
            }
            Target::Dtmf => {
                self.exten(&a1, ex, 1, "Answer", "");
                self.exten(&a1, ex, 2, "SendDTMF", "1234#");
                self.schedule(100, Step::Dtmf(id, 0));
            }
            Target::ChanSpy => {
                self.exten(&a1, ex, 1, "Answer", "");
                self.exten(&a1, ex, 3, "ChanSpy", "Local/201@test,qbES");
                let spyee = self
                    .channels
                    .values()
                    .find(|c| {
                        c.name.starts_with("Local/201@test")
                            && c.name.ends_with(";1")
                            && c.bridge.is_some()
                    })
                    .map(|c| c.uniqueid.clone());
                self.spy_start(id, &a1, spyee);
                self.schedule(call.duration_s.min(5) * 1_000, Step::PhoneHangup(id));
            }
            Target::UserEvent => {
                self.exten(&a1, ex, 1, "Answer", "");
                self.exten(
                    &a1,
                    ex,
                    2,
                    "UserEvent",
                    "TestEvent,Source: dialplan,Number: 60",
                );
                let num = self.field(&a1, |c| &c.cid_num);
                self.chan_event(
                    "UserEvent",
                    Classes::USER,
                    &a1,
                    &[
                        ("UserEvent", "TestEvent"),
                        ("Source", "dialplan"),
                        ("Number", "60"),
                        ("Caller", &num),
                    ],
                );
                self.schedule(1_000, Step::DialplanEnd(id));
            }
            Target::AccountCode => {
                self.exten(&a1, ex, 1, "Answer", "");
                self.exten(&a1, ex, 4, "Set", "CHANNEL(accountcode)=acct42");
                let old = self.field(&a1, |c| &c.account);
                if let Some(ch) = self.ch(&a1) {
                    ch.account = "acct42".into();
                }
                self.chan_event(
                    "NewAccountCode",
                    Classes::CALL,
                    &a1,
                    &[("OldAccountCode", &old)],
                );
                self.schedule(1_000, Step::DialplanEnd(id));
            }
            Target::Hangup17 => {
                self.exten(&a1, ex, 1, "Answer", "");
                self.exten(&a1, ex, 2, "Hangup", "17");
                self.end_call(id, 17, false);
            }
            Target::Echo | Target::Playback => {
                let (app, data) = if target == Target::Echo {
                    ("Echo", "")
                } else {
                    ("Playback", "silence/1&beep&silence/1")
                };
                self.exten(&a1, ex, 1, "Answer", "");
                self.exten(&a1, ex, 2, app, data);
                self.cel(&a1, "STREAM_BEGIN", "");
                let end = if target == Target::Echo {
                    Step::PhoneHangup(id)
                } else {
                    Step::DialplanEnd(id)
                };
                self.schedule(2_000, end);
            }
            Target::LocalChain => self.chain_start(id),
            Target::Conference | Target::ConferenceAdmin | Target::Conference2000 => {
                self.conf_join(id)
            }
        }
    }

    /// `Dial(Local/<exten>@test)` from the call's `a1`: creates the callee pair and `DialBegin`.
    pub(super) fn dial(&mut self, id: CallId, exten: &str) {
        let Some(call) = self.calls.get(&id).cloned() else {
            return;
        };
        let a1 = call.a1.clone();
        let linked = self.field(&a1, |c| &c.linkedid);
        for var in [
            "DIALEDPEERNUMBER",
            "DIALEDPEERNAME",
            "ANSWEREDTIME",
            "DIALEDTIME",
            "RINGTIME",
        ] {
            self.varset(&a1, var, "");
        }
        let (b1, b2) = self.new_local(exten, "test", Some(&linked));
        let (num, name, target_ex) = match self.channels.get(&a1) {
            Some(c) => (c.cid_num.clone(), c.cid_name.clone(), c.exten.clone()),
            None => return,
        };
        self.varset(&b1, "DIALEDPEERNUMBER", &format!("{exten}@test"));
        self.exten(&b1, &target_ex, 1, "AppDial", "(Outgoing Line)");
        self.set_callerid(&b1, &target_ex, &name);
        self.set_connected(&b1, &num, &name);
        self.set_callerid(&b2, &num, &name);
        self.set_connected(&b2, &target_ex, &name);
        self.local_bridge(&b1, &b2);
        let callee = format!("Callee phone {}", self.name_of(&b2));
        let dial_begin = |pbx: &mut Pbx| {
            let dial_string = format!("{exten}@test");
            pbx.two_chan_event(
                "DialBegin",
                Classes::CALL,
                ("", &a1),
                ("Dest", &b1),
                &[("DialString", &dial_string)],
            );
        };
        match call.target {
            // A busy or congested phone answers with Busy()/Congestion() at once, before the
            // dialler has even reported DialBegin (as recorded).
            Target::Busy | Target::Congested => {
                let (app, what) = if call.target == Target::Busy {
                    ("Busy", "Busy phone")
                } else {
                    ("Congestion", "Congested phone")
                };
                self.exten(&b2, exten, 1, "NoOp", what);
                self.exten(&b2, exten, 2, app, "3");
                self.set_state(&b2, ChanState::Busy);
                dial_begin(self);
            }
            Target::NoAnswer => {
                dial_begin(self);
                self.exten(&b2, exten, 1, "NoOp", "Phone that never answers");
            }
            _ => {
                dial_begin(self);
                self.exten(&b2, exten, 1, "NoOp", &callee);
                let d = format!("D={}", call.duration_s);
                self.exten(&b2, exten, 2, "Set", &d);
            }
        }
        if let Some(c) = self.calls.get_mut(&id) {
            c.b1 = Some(b1);
            c.b2 = Some(b2);
            c.ring_ms = self.now_ms;
        }
    }

    pub(super) fn dial_answer(&mut self, id: CallId) {
        let Some((call, b1, b2)) = self.dialled(id) else {
            return;
        };
        let a1 = call.a1.clone();
        let ex = self.field(&b2, |c| &c.exten);
        // Who answers: the phone the dial reached (`extensions.conf`), or the desk phone
        // the call centre dialled.
        let (num, name) = match (&call.callee, ex.as_str()) {
            (Some(c), _) => {
                self.set_device_state(&c.device, "INUSE");
                (c.num.as_str(), c.name.clone())
            }
            (None, "202") => ("2002", "Dave Target".to_string()),
            (None, _) => ("2001", "Carol Callee".to_string()),
        };
        self.exten(
            &b2,
            &ex,
            5,
            "Set",
            &format!("CONNECTEDLINE(all)=\"{name}\" <{num}>"),
        );
        self.set_connected(&b2, num, &name);
        self.exten(&b2, &ex, 6, "Answer", "");
        self.set_state(&b2, ChanState::Up);
        self.cel(&b2, "ANSWER", "");
        self.set_connected(&a1, num, &name);
        self.set_state(&b1, ChanState::Up);
        self.cel(&b1, "ANSWER", "");
        self.set_callerid(&b1, num, &name);
        self.varset(&a1, "DIALSTATUS", "ANSWER");
        let (peer, number) = (self.name_of(&b1), format!("{ex}@test"));
        self.varset(&a1, "DIALEDPEERNAME", &peer);
        self.varset(&a1, "DIALEDPEERNUMBER", &number);
        self.dial_event("DialEnd", &a1, &b1, "ANSWER");
        // The answered `;1` half leaves the caller's extension (recorded: an empty one).
        self.exten(&b1, "", 1, "AppDial", "(Outgoing Line)");
        self.bridge_pair(id, &b1, &a1);
        self.exten(&b2, &ex, 7, "Wait", &call.duration_s.to_string());
        self.schedule(call.duration_s * 1_000, Step::PhoneHangup(id));
    }

    pub(super) fn dial_fail(&mut self, id: CallId) {
        let Some((call, b1, b2)) = self.dialled(id) else {
            return;
        };
        let a1 = call.a1.clone();
        let (status, cause) = match call.target {
            Target::Busy => ("BUSY", 17),
            Target::Congested => ("CONGESTION", 34),
            _ => ("NOANSWER", 16),
        };
        self.varset(&a1, "DIALSTATUS", status);
        // The dialled desk stops ringing; the caller's desk stays in its call.
        self.hand_desk_over(id, call.phone.clone());
        self.dial_event("DialEnd", &a1, &b1, status);
        self.chan_event("HangupRequest", Classes::CALL, &b2, &[("Cause", "0")]);
        self.chan_event("SoftHangupRequest", Classes::CALL, &b2, &[("Cause", "16")]);
        // The caller's record carries the dial's outcome and the channel it rang; a second
        // one follows when its dialplan ends (`end_call`), as recorded.
        let peer = self.name_of(&b1);
        let answered = self.channels.get(&a1).map(|c| c.created_ms);
        let outcome = match status {
            "BUSY" => "BUSY",
            "NOANSWER" => "NO ANSWER",
            _ => "FAILED",
        };
        let caller_record = (call.target.exten(), peer.as_str());
        if status == "NOANSWER" {
            self.cdr(&a1, caller_record, outcome, answered);
        }
        self.hangup_chan(&b1, 0, false);
        let disposition = if cause == 17 { "BUSY" } else { "FAILED" };
        let ex = self.field(&b2, |c| &c.exten);
        self.cdr(&b2, (&ex, ""), disposition, None);
        if status != "NOANSWER" {
            self.cdr(&a1, caller_record, outcome, answered);
        }
        self.hangup_chan(&b2, cause, false);
        if let Some(c) = self.calls.get_mut(&id) {
            c.b1 = None;
            c.b2 = None;
        }
        // The dialplan goes on after Dial returns: `NoOp(DIALSTATUS=...)`, then `Hangup()`.
        let (ex, prio) = self
            .channels
            .get(&a1)
            .map_or((String::new(), 1), |c| (c.exten.clone(), c.priority));
        self.exten(&a1, &ex, prio + 1, "NoOp", &format!("DIALSTATUS={status}"));
        self.exten(&a1, &ex, prio + 2, "Hangup", "");
        self.end_call(id, 16, false);
    }

    /// The call ends, from the phone (`phone_first`) or from its dialplan: queue, parking
    /// and spy state is closed first, then every leg is torn down.
    pub(super) fn phone_hangup(&mut self, id: CallId, phone_first: bool) {
        let Some(call) = self.calls.get(&id).cloned() else {
            return;
        };
        if let Some((q, _)) = self.queue_pos(&call.a1) {
            self.queue_abandon(id, q);
        }
        if self.parked.iter().any(|p| p.uniqueid == call.a1) {
            self.park_end(&call.a1, "ParkedCallGiveUp");
        }
        if let Some(spyee) = call.spyee.clone() {
            self.two_chan_event(
                "ChanSpyStop",
                Classes::CALL,
                ("Spyer", &call.a1),
                ("Spyee", &spyee),
                &[],
            );
        }
        if call.target == Target::Playback || call.target == Target::Echo {
            self.cel(&call.a1, "STREAM_END", "");
        }
        self.end_call(id, 16, phone_first);
    }

    /// Tears every leg of a call down. `phone_first`: the caller phone (`a2`) hung up at the
    /// end of its Wait; otherwise `a1`'s dialplan ended first (failed dial, `Hangup()`, the
    /// end of a Playback). The orders are the recorded ones.
    pub(super) fn end_call(&mut self, id: CallId, cause: u32, phone_first: bool) {
        if let Some(a1) = self.calls.get(&id).map(|c| c.a1.clone()) {
            // A conference user whose phone hung up leaves the room first.
            self.conf_leave(&a1, "HANGUP");
        }
        let Some(call) = self.calls.remove(&id) else {
            return;
        };
        if let Some((q, m)) = call.queue {
            self.member_done(q, m);
        }
        self.desk_phones_free(&call);
        let (a1, a2) = (call.a1.as_str(), call.a2.as_str());
        let ex = self.field(a2, |c| &c.exten);
        let answered = Some(self.channels.get(a1).map_or(0, |c| c.created_ms));
        let cause_s = cause.to_string();
        // A dialled channel still ringing (a queue member) leaves the caller `NO ANSWER`.
        let (peer, outcome) = match call.b1.as_deref().and_then(|b1| self.channels.get(b1)) {
            Some(b1) if b1.state != ChanState::Up => (b1.name.clone(), "NO ANSWER"),
            Some(b1) => (b1.name.clone(), "ANSWERED"),
            None => (String::new(), "ANSWERED"),
        };
        if phone_first {
            self.exten(a2, &ex, 6, "Hangup", "");
        }
        self.cdr(a2, (&ex, ""), "ANSWERED", answered);
        self.cdr(a1, (call.target.exten(), &peer), outcome, answered);
        if phone_first {
            if let Some((num, name)) = self.connected_update(a1, a2) {
                self.set_callerid(a2, &num, &name);
            }
            self.chan_event("SoftHangupRequest", Classes::CALL, a2, &[("Cause", "16")]);
            self.chan_event("HangupRequest", Classes::CALL, a1, &[("Cause", &cause_s)]);
            if let Some(bid) = self.channels.get(a1).and_then(|c| c.bridge.clone()) {
                self.bridge_leave(&bid, a1);
            }
            self.hangup_chan(a1, cause, true);
            self.hangup_chan(a2, 16, false);
        } else {
            self.caller_pair_down(a1, a2, cause);
        }
        if let (Some(b1), Some(b2)) = (call.b1.as_deref(), call.b2.as_deref()) {
            self.end_peer_pair(b1, b2);
        }
        // A picked-up parked call is left alone in the bridge: its Park() returns and its
        // dialplan ends.
        if let Some(picked) = call.picked.as_deref()
            && let Some(other) = self
                .calls
                .iter()
                .find(|(_, c)| c.a1 == picked)
                .map(|(&id, _)| id)
        {
            self.end_call(other, 16, false);
        }
    }

    /// A connected-line update a callee made (`CONNECTEDLINE()`) on `one` that has not yet
    /// reached `two`, the other half of the Local pair: it does so as `two`'s caller ID when
    /// the pair hangs up (recorded). A pair whose `;1` still shows itself has none.
    fn connected_update(&self, one: &str, two: &str) -> Option<(String, String)> {
        let (one, two) = (self.channels.get(one)?, self.channels.get(two)?);
        (one.conn_num != one.cid_num && two.cid_num != one.conn_num)
            .then(|| (one.conn_num.clone(), one.conn_name.clone()))
    }

    /// A pair whose `;1` dialplan ended (failed dial, `Hangup()`, a peer that left, an AMI
    /// Hangup): `;1` is asked to go, then `;2`; a connected-line update from a callee reaches
    /// `;2` as its caller ID on the way (all as recorded).
    pub(super) fn caller_pair_down(&mut self, one: &str, two: &str, cause: u32) {
        if let Some(bid) = self.channels.get(one).and_then(|c| c.bridge.clone()) {
            self.bridge_leave(&bid, one);
        }
        let peer_id = self.connected_update(one, two);
        self.chan_event("SoftHangupRequest", Classes::CALL, one, &[("Cause", "16")]);
        self.chan_event("HangupRequest", Classes::CALL, two, &[("Cause", "16")]);
        self.hangup_chan(one, cause, false);
        self.chan_event("SoftHangupRequest", Classes::CALL, two, &[("Cause", "16")]);
        if let Some((num, name)) = peer_id {
            self.set_callerid(two, &num, &name);
        }
        self.hangup_chan(two, 16, false);
    }

    /// The dialled pair goes once its caller has gone: the bridge empties, `;2` is asked to
    /// hang up, `;1` goes, then `;2` (or the ringing pair is cancelled).
    pub(super) fn end_peer_pair(&mut self, one: &str, two: &str) {
        if !self.channels.contains_key(one) {
            return;
        }
        if self
            .channels
            .get(one)
            .is_some_and(|c| c.state != ChanState::Up)
        {
            self.cancel_pair(one, two);
            return;
        }
        if let Some(bid) = self.channels.get(one).and_then(|c| c.bridge.clone()) {
            self.bridge_leave(&bid, one);
        }
        self.chan_event("HangupRequest", Classes::CALL, two, &[("Cause", "16")]);
        self.hangup_chan(one, 16, false);
        let ex = self.field(two, |c| &c.exten);
        self.cdr(two, (&ex, ""), "ANSWERED", Some(self.now_ms));
        self.hangup_chan(two, 16, true);
    }

    pub(super) fn dtmf(&mut self, id: CallId, i: usize) {
        let Some(call) = self.calls.get(&id).cloned() else {
            return;
        };
        let digits = ['1', '2', '3', '4', '#'];
        let Some(d) = digits.get(i) else {
            self.schedule(500, Step::DialplanEnd(id));
            return;
        };
        let d = d.to_string();
        // Asterisk reports the first digit's DTMFBegin twice (recorded for SendDTMF).
        for _ in 0..if i == 0 { 2 } else { 1 } {
            self.chan_event(
                "DTMFBegin",
                Classes::DTMF,
                &call.a2,
                &[("Digit", &d), ("Direction", "Received")],
            );
        }
        self.chan_event(
            "DTMFEnd",
            Classes::DTMF,
            &call.a2,
            &[
                ("Digit", &d),
                ("DurationMs", "100"),
                ("Direction", "Received"),
            ],
        );
        self.cel(
            &call.a2,
            "DTMF",
            &format!("{{\"digit\":\"{d}\",\"duration_ms\":100}}"),
        );
        self.schedule(250, Step::Dtmf(id, i + 1));
    }
}
