//! Queues: callers joining and leaving, members offered calls, paused, added and removed.

use super::*;

/// `timeout = 15` of `queues.conf`: how long one member rings.
const QUEUE_TIMEOUT_MS: u64 = 15_000;

/// A member setting an AMI action changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberValue {
    /// `QueuePenalty`.
    Penalty(u32),
    /// `QueueMemberRingInUse`.
    RingInUse(bool),
}

impl Pbx {
    pub(super) fn queue_pos(&self, uid: &str) -> Option<(usize, usize)> {
        self.queues.iter().enumerate().find_map(|(q, queue)| {
            queue
                .callers
                .iter()
                .position(|(u, _)| u == uid)
                .map(|p| (q, p))
        })
    }

    pub(super) fn queue_leave(&mut self, q: usize, uid: &str) {
        let Some(pos) = self.queues[q].callers.iter().position(|(u, _)| u == uid) else {
            return;
        };
        self.queues[q].callers.remove(pos);
        self.queues[q].original_positions.remove(uid);
        let qname = self.queues[q].name.clone();
        let count = self.queues[q].callers.len().to_string();
        self.chan_event(
            "QueueCallerLeave",
            Classes::AGENT,
            uid,
            &[
                ("Queue", &qname),
                ("Position", &(pos + 1).to_string()),
                ("Count", &count),
            ],
        );
    }

    pub(super) fn queue_abandon(&mut self, id: CallId, q: usize) {
        let Some(call) = self.calls.get(&id).cloned() else {
            return;
        };
        let Some(pos) = self.queues[q]
            .callers
            .iter()
            .position(|(u, _)| *u == call.a1)
        else {
            return;
        };
        let joined = self.queues[q].callers[pos].1;
        let qname = self.queues[q].name.clone();
        let hold = ((self.now_ms - joined) / 1_000).to_string();
        // `Position` is the caller's place now (callers ahead may have left),
        // `OriginalPosition` the place at join (ami-session-3: 2 and 3).
        let p = (pos + 1).to_string();
        let original = self.queues[q]
            .original_positions
            .get(&call.a1)
            .map_or(pos + 1, |&o| o)
            .to_string();
        let held = u32::try_from((self.now_ms - joined) / 1_000).unwrap_or(u32::MAX);
        let service_level = self.queues[q].service_level;
        self.queues[q].stats.abandoned(held, service_level);
        self.chan_event("MusicOnHoldStop", Classes::CALL, &call.a1, &[]);
        self.chan_event(
            "QueueCallerAbandon",
            Classes::AGENT,
            &call.a1,
            &[
                ("Queue", &qname),
                ("Position", &p),
                ("OriginalPosition", &original),
                ("HoldTime", &hold),
            ],
        );
        self.queue_leave(q, &call.a1);
        if let (Some((_, m)), Some(b1)) = (call.queue, call.b1.clone()) {
            // An agent was ringing: the dial is cancelled.
            self.dial_event("DialEnd", &call.a1, &b1, "CANCEL");
            self.set_member_status(q, m, 1);
        }
    }

    pub(super) fn member_event(&mut self, name: &str, q: usize, m: usize) {
        let qname = self.queues[q].name.clone();
        let mut msg = Self::head(name, Classes::AGENT);
        self.queues[q].members[m].push_event_headers(&mut msg, &qname);
        self.emit(Classes::AGENT, msg);
    }

    /// A member's device changed: every queue it belongs to reports it (ringinuse=no means
    /// a member busy in one queue is not offered calls from another). Back to not in use
    /// (1), a member's call is over before the event goes out (app_queue's
    /// `update_status` calls `update_queue`), so it says `InCall: 0`; any other status
    /// leaves `InCall` as it was: app_queue marks a member in call only after it
    /// connected it ([`Pbx::queue_answer`]), so the status at ringing and answer says 0.
    pub(super) fn set_member_status(&mut self, q: usize, m: usize, status: u8) {
        let interface = self.queues[q].members[m].interface.clone();
        let phone = self.queues[q].members[m].state_interface.clone();
        if phone != interface {
            // A call-centre agent: its phone rings and is in use with the member.
            let state = match status {
                6 => "RINGING",
                2 => "INUSE",
                _ => "NOT_INUSE",
            };
            // An agent's desk may be in a call of its own (a second line): it stays in use.
            if state != "NOT_INUSE" || !self.desk_in_a_call(&phone) {
                self.set_device_state(&phone, state);
            }
        }
        for qi in 0..self.queues.len() {
            let Some(mi) = self.queues[qi]
                .members
                .iter()
                .position(|x| x.interface == interface)
            else {
                continue;
            };
            let member = &mut self.queues[qi].members[mi];
            member.status = status;
            if status == 1 {
                member.in_call = false;
            }
            self.member_event("QueueMemberStatus", qi, mi);
        }
    }

    pub(super) fn member_done(&mut self, q: usize, m: usize) {
        if m < self.queues[q].members.len() {
            let now = self.epoch_now();
            let member = &mut self.queues[q].members[m];
            member.calls_taken += 1;
            member.last_call = now;
            self.set_member_status(q, m, 1);
        }
    }

    pub(super) fn queue_offer(&mut self, id: CallId) {
        let Some(call) = self.calls.get(&id).cloned() else {
            return;
        };
        let Some((q, _)) = self.queue_pos(&call.a1) else {
            return;
        };
        if call.b1.is_some() {
            return;
        }
        let n = self.queues[q].members.len();
        let start = self.queues[q].next_member;
        // Only a member that is not paused, not in use (status 1) and past its wrap-up
        // may be offered a call; it rings with status 6 and talks with status 2.
        let now = self.epoch_now();
        let free = |mem: &Member| {
            !mem.paused && mem.status == 1 && mem.last_call + u64::from(mem.wrapuptime) <= now
        };
        let Some(m) = (0..n)
            .map(|i| (start + i) % n)
            .find(|&i| free(&self.queues[q].members[i]))
        else {
            self.schedule(2_000, Step::QueueOffer(id));
            return;
        };
        self.queues[q].next_member = (m + 1) % n;
        let agent = self.queues[q].members[m].interface.clone();
        let agent_exten = agent
            .trim_start_matches("Local/")
            .split('@')
            .next()
            .unwrap_or("agent1")
            .to_string();
        let Some((num, name, linked)) = self
            .channels
            .get(&call.a1)
            .map(|c| (c.cid_num.clone(), c.cid_name.clone(), c.linkedid.clone()))
        else {
            return;
        };
        let (g1, g2) = self.new_local(&agent_exten, "agents", Some(&linked));
        if let Some(ch) = self.ch(&g1) {
            ch.exten = "300".into();
        }
        self.set_callerid(&g1, &num, &name);
        if let Some(ch) = self.ch(&g2) {
            ch.conn_num.clone_from(&num);
            ch.conn_name.clone_from(&name);
        }
        self.set_callerid(&g2, &num, &name);
        self.set_connected(&g2, &num, &name);
        self.local_bridge(&g1, &g2);
        self.agent_event("AgentCalled", &call.a1, &g1, q, m, &[]);
        let dial_string = agent
            .trim_start_matches("Local/")
            .trim_end_matches("/n")
            .to_string();
        self.two_chan_event(
            "DialBegin",
            Classes::CALL,
            ("", &call.a1),
            ("Dest", &g1),
            &[("DialString", &dial_string)],
        );
        self.set_state(&g1, ChanState::Ringing);
        self.set_connected(&g1, &num, &name);
        self.dial_event("DialState", &call.a1, &g1, "RINGING");
        self.set_member_status(q, m, 6);
        if let Some(c) = self.calls.get_mut(&id) {
            c.b1 = Some(g1);
            c.b2 = Some(g2);
            c.queue = Some((q, m));
            c.ring_ms = self.now_ms;
        }
        // Agents answer after 1-4 s, or after `__AGENT_DELAY`; past the queue's 15 s
        // timeout the offer ends in RingNoAnswer and the next member is tried.
        let delay = match call.agent_delay_ms {
            Some(ms) => ms,
            None => self.rand(1_000, 4_000),
        };
        if delay > QUEUE_TIMEOUT_MS {
            self.schedule(QUEUE_TIMEOUT_MS, Step::QueueRingNoAnswer(id));
        } else {
            self.schedule(delay, Step::QueueAnswer(id));
        }
    }

    /// An agent event: both channel blocks, then `Queue`, `Interface`, `MemberName`, `extra`.
    pub(super) fn agent_event(
        &mut self,
        name: &str,
        caller: &str,
        agent: &str,
        q: usize,
        m: usize,
        extra: &[(&str, &str)],
    ) {
        let queue = &self.queues[q];
        let member = &queue.members[m];
        let mut headers: Vec<(&str, &str)> = vec![
            ("Queue", &queue.name),
            ("Interface", &member.interface),
            ("MemberName", &member.name),
        ];
        headers.extend_from_slice(extra);
        let headers: Vec<(String, String)> = headers
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let refs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.two_chan_event(name, Classes::AGENT, ("", caller), ("Dest", agent), &refs);
    }

    pub(super) fn queue_ring_no_answer(&mut self, id: CallId) {
        let Some((call, g1, g2)) = self.dialled(id) else {
            return;
        };
        let Some((q, m)) = call.queue else {
            return;
        };
        self.agent_event(
            "AgentRingNoAnswer",
            &call.a1,
            &g1,
            q,
            m,
            &[("RingTime", &QUEUE_TIMEOUT_MS.to_string())],
        );
        self.dial_event("DialEnd", &call.a1, &g1, "NOANSWER");
        self.cancel_pair(&g1, &g2);
        self.set_member_status(q, m, 1);
        if let Some(c) = self.calls.get_mut(&id) {
            c.b1 = None;
            c.b2 = None;
            c.queue = None;
        }
        self.schedule(2_000, Step::QueueOffer(id));
    }

    pub(super) fn queue_answer(&mut self, id: CallId) {
        let Some((call, g1, g2)) = self.dialled(id) else {
            return;
        };
        let Some((q, m)) = call.queue else {
            return;
        };
        self.set_state(&g2, ChanState::Up);
        self.set_state(&g1, ChanState::Up);
        self.dial_event("DialEnd", &call.a1, &g1, "ANSWER");
        // The agent's phone is in use once it answers, and app_queue hears of it before
        // it connects the call: `InCall: 0`, as in ami-session-3's calls 1 and 3.
        self.set_member_status(q, m, 2);
        self.chan_event("MusicOnHoldStop", Classes::CALL, &call.a1, &[]);
        self.queue_leave(q, &call.a1);
        let hold = ((self.now_ms - call.mark_ms) / 1_000).to_string();
        let ring = ((self.now_ms - call.ring_ms) / 1_000).to_string();
        self.agent_event(
            "AgentConnect",
            &call.a1,
            &g1,
            q,
            m,
            &[("HoldTime", &hold), ("RingTime", &ring)],
        );
        self.bridge_pair(id, &g1, &call.a1);
        // In call from now, in this queue only (app_queue sets the `starttime` of the
        // member of the queue that connected it), with no event: only QueueStatus says
        // `InCall: 1` (ami-session-3, call 1).
        self.queues[q].members[m].in_call = true;
        // The hold time counts at the answer (during ami-session-3's call 1 QueueParams
        // says `Holdtime: 2` and still `Completed: 0`).
        let held = u32::try_from((self.now_ms - call.mark_ms) / 1_000).unwrap_or(u32::MAX);
        self.queues[q].stats.answered(held);
        if let Some(c) = self.calls.get_mut(&id) {
            c.mark_ms = self.now_ms;
            c.ring_ms = hold.parse().unwrap_or(0);
        }
        let talk = self.rand(4_000, 10_000);
        self.schedule(talk, Step::AgentHangup(id));
    }

    /// The agent hangs up: its pair goes first (`AgentComplete` in between), then the caller.
    pub(super) fn agent_hangup(&mut self, id: CallId) {
        let Some((call, g1, g2)) = self.dialled(id) else {
            return;
        };
        let Some((q, m)) = call.queue else {
            return;
        };
        let talk = ((self.now_ms - call.mark_ms) / 1_000).to_string();
        let hold = call.ring_ms.to_string();
        self.chan_event("SoftHangupRequest", Classes::CALL, &g2, &[("Cause", "16")]);
        self.chan_event("HangupRequest", Classes::CALL, &g1, &[("Cause", "16")]);
        self.agent_event(
            "AgentComplete",
            &call.a1,
            &g1,
            q,
            m,
            &[
                ("HoldTime", &hold),
                ("TalkTime", &talk),
                ("Reason", "agent"),
            ],
        );
        // A call counts as completed when it ends, not at answer (ami-session-3: during
        // call 1, QueueParams still says `Completed: 0`).
        let seconds = |text: &str| text.parse().unwrap_or(0);
        let service_level = self.queues[q].service_level;
        self.queues[q]
            .stats
            .completed(seconds(&hold), seconds(&talk), service_level);
        let ex = self.field(&g2, |c| &c.exten);
        self.cdr(&g2, (&ex, ""), "ANSWERED", Some(call.mark_ms));
        self.hangup_chan(&g2, 16, false);
        self.hangup_chan(&g1, 16, false);
        if let Some(c) = self.calls.get_mut(&id) {
            c.b1 = None;
            c.b2 = None;
        }
        self.end_call(id, 16, false);
    }

    /// `__AGENT_DELAY` of the call whose first channel is `a1`: its agents ring this long.
    pub fn set_agent_delay(&mut self, a1: &str, secs: u64) {
        if let Some(call) = self.calls.values_mut().find(|c| c.a1 == a1) {
            call.agent_delay_ms = Some(secs * 1_000);
        }
    }

    /// `QueueReset`: the statistics of `queue` (of every queue when `None`) back to 0, and
    /// its members' `CallsTaken` and `LastCall` (app_queue's `clear_queue`). A restart
    /// does the same, as app_queue keeps them in memory only.
    pub fn queue_reset(&mut self, queue: Option<&str>) {
        for q in self
            .queues
            .iter_mut()
            .filter(|q| queue.is_none_or(|name| name == q.name))
        {
            q.stats = QueueStats::default();
            for m in &mut q.members {
                (m.calls_taken, m.last_call) = (0, 0);
            }
        }
    }

    /// `QueuePause`: pauses or unpauses `interface` in `queue` (every queue when `None`).
    /// Returns false when no such member exists.
    pub fn queue_pause(
        &mut self,
        queue: Option<&str>,
        interface: &str,
        paused: bool,
        reason: &str,
    ) -> bool {
        let mut found = false;
        for q in 0..self.queues.len() {
            if queue.is_some_and(|name| name != self.queues[q].name) {
                continue;
            }
            if let Some(m) = self.queues[q]
                .members
                .iter()
                .position(|mem| mem.interface == interface)
            {
                found = true;
                let now = self.epoch_now();
                let member = &mut self.queues[q].members[m];
                member.paused = paused;
                member.paused_reason = reason.to_string();
                member.last_pause = now;
                self.member_event("QueueMemberPause", q, m);
            }
        }
        found
    }

    /// `QueueAdd`: an error text if the queue is unknown or the member already there.
    /// `paused` holds the pause reason (maybe empty) of a member added paused;
    /// `state_interface` the device whose state is the member's (default: the interface).
    pub fn queue_add(
        &mut self,
        queue: &str,
        interface: &str,
        name: &str,
        penalty: u32,
        paused: Option<&str>,
        state_interface: Option<&str>,
    ) -> Result<(), &'static str> {
        let Some(q) = self.queues.iter().position(|x| x.name == queue) else {
            return Err("Unable to add interface to queue: No such queue");
        };
        if self.queues[q]
            .members
            .iter()
            .any(|m| m.interface == interface)
        {
            return Err("Unable to add interface: Already there");
        }
        let member = Member {
            name: if name.is_empty() {
                interface.to_string()
            } else {
                name.to_string()
            },
            interface: interface.to_string(),
            state_interface: state_interface.unwrap_or(interface).to_string(),
            dynamic: true,
            penalty,
            calls_taken: 0,
            last_call: 0,
            last_pause: 0,
            login_time: self.epoch_now(),
            in_call: false,
            status: 1,
            paused: paused.is_some(),
            paused_reason: paused.unwrap_or_default().to_string(),
            ringinuse: false,
            wrapuptime: 0,
        };
        self.queues[q].members.push(member);
        let m = self.queues[q].members.len() - 1;
        self.member_event("QueueMemberAdded", q, m);
        Ok(())
    }

    /// `QueuePenalty` / `QueueMemberRingInUse`: sets the value of the member with this
    /// interface in `queue` (every queue it is in without one), each queue raising
    /// `QueueMemberPenalty` / `QueueMemberRinginuse`. False if no member matched.
    pub fn set_member_value(
        &mut self,
        queue: Option<&str>,
        interface: &str,
        value: MemberValue,
    ) -> bool {
        let mut found = false;
        for q in 0..self.queues.len() {
            if queue.is_some_and(|name| name != self.queues[q].name) {
                continue;
            }
            let Some(m) = self.queues[q]
                .members
                .iter()
                .position(|mem| mem.interface == interface)
            else {
                continue;
            };
            let member = &mut self.queues[q].members[m];
            let event = match value {
                MemberValue::Penalty(p) => {
                    member.penalty = p;
                    "QueueMemberPenalty"
                }
                MemberValue::RingInUse(on) => {
                    member.ringinuse = on;
                    "QueueMemberRinginuse"
                }
            };
            self.member_event(event, q, m);
            found = true;
        }
        found
    }

    /// `QueueRemove`: app_queue's error text if the queue or member is unknown, or the
    /// member is static (from `queues.conf`).
    pub fn queue_remove(&mut self, queue: &str, interface: &str) -> Result<(), &'static str> {
        let Some(q) = self.queues.iter().position(|x| x.name == queue) else {
            return Err("Unable to remove interface from queue: No such queue");
        };
        let Some(m) = self.queues[q]
            .members
            .iter()
            .position(|mem| mem.interface == interface)
        else {
            return Err("Unable to remove interface: Not there");
        };
        if !self.queues[q].members[m].dynamic {
            return Err("Member not dynamic");
        }
        self.queues[q].members[m].status = 2;
        self.member_event("QueueMemberRemoved", q, m);
        self.queues[q].members.remove(m);
        for call in self.calls.values_mut() {
            if let Some((cq, cm)) = call.queue
                && cq == q
            {
                call.queue = if cm == m {
                    None
                } else {
                    Some((cq, if cm > m { cm - 1 } else { cm }))
                };
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_centre_of_many_agents_and_queues() {
        let mut pbx = Pbx::new(PbxOptions {
            agents: 12,
            queues: 5,
            ..PbxOptions::new(1_795_418_000, 3)
        });
        let names: Vec<&str> = pbx.queues.iter().map(|q| q.name.as_str()).collect();
        assert_eq!(names, ["support", "sales", "queue3", "queue4", "queue5"]);
        assert_eq!(pbx.queues[4].members.len(), 12);
        assert!(pbx.queues[1].members.is_empty());
        assert_eq!(pbx.queues[0].members[2].name, "Agent Three");
        for i in 0..40 {
            pbx.originate(
                "100",
                Target::Queue,
                ("1100", "Caller"),
                30,
                Some(&format!("q-{i}")),
            );
        }
        pbx.advance_to(6_000);
        let talking: usize = pbx
            .queues
            .iter()
            .map(|q| q.members.iter().filter(|m| m.in_call).count())
            .sum();
        // An agent is in call in the queue whose call it took, not in its other ones.
        assert!(talking <= 12, "an agent took two calls at once");
        assert!(talking > 0, "no agent answered in 6 s");
    }

    /// A call-centre agent takes no queue call within its wrap-up after one: every
    /// member that ended a call is offered the next only once its `wrapuptime` is over.
    #[test]
    fn an_agent_in_wrap_up_is_not_offered_a_call() {
        let mut pbx = Pbx::new(PbxOptions {
            directory: crate::directory::Directory::call_centre(),
            ..PbxOptions::new(1_795_418_000, 3)
        });
        assert!(pbx.queues[0].members.iter().all(|m| m.wrapuptime == 10));
        for i in 0..30 {
            pbx.originate(
                "100",
                Target::Queue,
                ("1100", "Caller"),
                30,
                Some(&format!("q-{i}")),
            );
        }
        let mut offered_in_wrap_up = Vec::new();
        for t in (0..120_000).step_by(250) {
            pbx.advance_to(t);
            let now = pbx.epoch_now();
            for q in &pbx.queues {
                for m in &q.members {
                    let ringing = m.status == 6;
                    // The ring started within the wrap-up (whole seconds: one of slack).
                    if ringing && m.last_call > 0 && m.last_call + u64::from(m.wrapuptime) > now + 1
                    {
                        offered_in_wrap_up.push((t, m.name.clone()));
                    }
                }
            }
        }
        assert!(offered_in_wrap_up.is_empty(), "{offered_in_wrap_up:?}");
        assert!(
            pbx.queues
                .iter()
                .flat_map(|q| &q.members)
                .any(|m| m.calls_taken > 1),
            "nobody took a second call"
        );
    }
}
