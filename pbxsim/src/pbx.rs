//! The simulated PBX: the call model, a virtual clock, and the events each change emits.
//!
//! Everything here is synchronous and deterministic: the same seed and the same calls give
//! the same events. Time is virtual (`now_ms`); the traffic driver decides how fast it runs
//! (real time in demo mode, as fast as the client reads in load mode).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use shared::ami::Message;

use crate::class::Classes;
use crate::clock;
use crate::model::{Bridge, ChanState, Channel, Member, Parked, Queue, UNKNOWN};

/// One event the PBX raised, with the class that decides who may read it.
#[derive(Clone, Debug)]
pub struct Event {
    /// Read class (`call`, `agent`, `dialplan`…).
    pub class: Classes,
    /// The message, `Event:` and `Privilege:` first.
    pub msg: Message,
}

/// What a call does once its originating phone has answered: the extensions of the test dialplan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// 200: Dial(Local/201@test), bridged.
    Bridged,
    /// 211: Dial to a busy phone.
    Busy,
    /// 221: Dial to a congested phone.
    Congested,
    /// 231: Dial to a phone that never answers (5 s).
    NoAnswer,
    /// 300: Queue(support).
    Queue,
    /// 310: Queue(sales), no members: the caller abandons.
    QueueAbandon,
    /// 400: Park(default,s).
    Park,
    /// 701: pick up the first parked call.
    ParkPickup,
    /// 500: Echo.
    Echo,
    /// 600: Playback.
    Playback,
    /// 650: SendDTMF(1234#).
    Dtmf,
    /// 800: ChanSpy on a bridged callee.
    ChanSpy,
    /// 900: MixMonitor, then Dial(Local/201).
    MixMonitor,
    /// 950: UserEvent(TestEvent).
    UserEvent,
    /// 960: Gosub, CDR(userfield), CHANNEL(accountcode).
    AccountCode,
    /// 999: Answer, Hangup(17).
    Hangup17,
    /// 260: a Local chain that optimizes away.
    LocalChain,
}

impl Target {
    /// The extension of `configs/extensions.conf` this target stands for.
    pub fn exten(self) -> &'static str {
        match self {
            Target::Bridged => "200",
            Target::Busy => "211",
            Target::Congested => "221",
            Target::NoAnswer => "231",
            Target::Queue => "300",
            Target::QueueAbandon => "310",
            Target::Park => "400",
            Target::ParkPickup => "701",
            Target::Echo => "500",
            Target::Playback => "600",
            Target::Dtmf => "650",
            Target::ChanSpy => "800",
            Target::MixMonitor => "900",
            Target::UserEvent => "950",
            Target::AccountCode => "960",
            Target::Hangup17 => "999",
            Target::LocalChain => "260",
        }
    }

    /// The target of an extension, if the test dialplan has it.
    pub fn from_exten(exten: &str) -> Option<Target> {
        Target::ALL.iter().copied().find(|t| t.exten() == exten)
    }

    /// Every target, for tests and the traffic mix.
    pub const ALL: [Target; 17] = [
        Target::Bridged,
        Target::Busy,
        Target::Congested,
        Target::NoAnswer,
        Target::Queue,
        Target::QueueAbandon,
        Target::Park,
        Target::ParkPickup,
        Target::Echo,
        Target::Playback,
        Target::Dtmf,
        Target::ChanSpy,
        Target::MixMonitor,
        Target::UserEvent,
        Target::AccountCode,
        Target::Hangup17,
        Target::LocalChain,
    ];
}

type CallId = u64;

/// One call in flight: the Uniqueids of its legs.
#[derive(Clone, Debug)]
struct Call {
    target: Target,
    /// The originated pair: `a1` runs the target dialplan, `a2` is the "phone".
    a1: String,
    a2: String,
    /// The dialled pair (callee, agent, chain), if any.
    b1: Option<String>,
    b2: Option<String>,
    bridge: Option<String>,
    duration_s: u64,
    /// Queue index and member index while an agent is offered or connected.
    queue: Option<(usize, usize)>,
    /// Virtual ms when the caller joined a queue or an agent started ringing.
    mark_ms: u64,
    ring_ms: u64,
    /// The spied channel of a ChanSpy call.
    spyee: Option<String>,
}

/// A scheduled step of a call, or of the traffic generator.
#[derive(Clone, Debug)]
enum Step {
    DialRinging(CallId),
    DialAnswer(CallId),
    DialFail(CallId),
    PhoneHangup(CallId),
    DialplanEnd(CallId),
    AgentHangup(CallId),
    QueueOffer(CallId),
    QueueAnswer(CallId),
    QueueRingNoAnswer(CallId),
    ParkTimeout(CallId),
    Dtmf(CallId, usize),
    /// The end of an Atxfer hold: the transferer, and the peer that heard music.
    Unhold(String, Option<String>),
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Timer {
    due_ms: u64,
    seq: u64,
}

/// How the PBX was set up: fixed epoch and noise switch make runs reproducible.
#[derive(Clone, Debug)]
pub struct PbxOptions {
    /// Epoch seconds at virtual time 0 (the Uniqueid prefix).
    pub epoch: u64,
    /// Seed of every random choice.
    pub seed: u64,
    /// Emit the dialplan/CEL/CDR noise (`Newexten`, `VarSet`, `CEL`, `Cdr`): most of a real stream.
    pub noise: bool,
}

/// The simulated PBX. Not `Sync` by design: the server keeps it behind one mutex that is
/// never held across an `.await`.
pub struct Pbx {
    opts: PbxOptions,
    now_ms: u64,
    rng: StdRng,
    next_seq: u64,
    next_local: u32,
    next_call: CallId,
    timer_seq: u64,
    channels: BTreeMap<String, Channel>,
    bridges: BTreeMap<String, Bridge>,
    calls: HashMap<CallId, Call>,
    pub(crate) queues: Vec<Queue>,
    pub(crate) parked: Vec<Parked>,
    /// Per device: live channels and how many of them ring (kept up to date, not recounted).
    devices: HashMap<String, (u32, u32)>,
    device_state: BTreeMap<String, &'static str>,
    pub(crate) globals: BTreeMap<String, String>,
    timers: BinaryHeap<Reverse<Timer>>,
    steps: HashMap<u64, Step>,
    out: Vec<Event>,
    processed: u64,
}

/// Who the caller "phones" are, as in `extensions.conf`.
fn phone_identity(exten: &str) -> (&'static str, &'static str) {
    match exten {
        "101" => ("1002", "Bob Caller"),
        _ => ("1001", "Alice Caller"),
    }
}

fn cause_text(cause: u32) -> &'static str {
    match cause {
        16 => "Normal Clearing",
        17 => "User busy",
        34 => "Circuit/channel congestion",
        _ => "Unknown",
    }
}

impl Pbx {
    /// A PBX with the fixtures' queues (`support` with two agents, `sales` empty) and no calls.
    pub fn new(opts: PbxOptions) -> Pbx {
        let login = opts.epoch;
        let member = |n: u32, name: &str| Member {
            name: name.to_string(),
            interface: format!("Local/agent{n}@agents/n"),
            dynamic: false,
            penalty: 0,
            calls_taken: 0,
            last_call: 0,
            last_pause: 0,
            login_time: login,
            in_call: false,
            status: 1,
            paused: false,
            paused_reason: String::new(),
        };
        let queues = vec![
            Queue {
                name: "support".into(),
                strategy: "rrmemory".into(),
                members: vec![member(1, "Agent One"), member(2, "Agent Two")],
                callers: Vec::new(),
                completed: 0,
                abandoned: 0,
                next_member: 0,
            },
            Queue {
                name: "sales".into(),
                strategy: "ringall".into(),
                members: Vec::new(),
                callers: Vec::new(),
                completed: 0,
                abandoned: 0,
                next_member: 0,
            },
        ];
        Pbx {
            rng: StdRng::seed_from_u64(opts.seed),
            opts,
            now_ms: 0,
            next_seq: 0,
            next_local: 0,
            next_call: 0,
            timer_seq: 0,
            channels: BTreeMap::new(),
            bridges: BTreeMap::new(),
            calls: HashMap::new(),
            queues,
            parked: Vec::new(),
            devices: HashMap::new(),
            device_state: BTreeMap::new(),
            globals: BTreeMap::new(),
            timers: BinaryHeap::new(),
            steps: HashMap::new(),
            out: Vec::new(),
            processed: 0,
        }
    }

    // ----- clock and scheduling -------------------------------------------------------

    /// Virtual milliseconds since start.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// Epoch seconds now.
    pub fn epoch_now(&self) -> u64 {
        self.opts.epoch + self.now_ms / 1_000
    }

    /// Epoch seconds at start (startup date of `CoreStatus`).
    pub fn epoch_start(&self) -> u64 {
        self.opts.epoch
    }

    /// Virtual time of the next scheduled step, if any.
    pub fn next_due(&self) -> Option<u64> {
        self.timers.peek().map(|Reverse(t)| t.due_ms)
    }

    /// Runs every step due up to `to_ms` and moves the clock there.
    pub fn advance_to(&mut self, to_ms: u64) {
        while let Some(Reverse(t)) = self.timers.peek() {
            if t.due_ms > to_ms {
                break;
            }
            let Some(Reverse(t)) = self.timers.pop() else {
                break;
            };
            self.now_ms = self.now_ms.max(t.due_ms);
            if let Some(step) = self.steps.remove(&t.seq) {
                self.run(step);
            }
        }
        self.now_ms = self.now_ms.max(to_ms);
    }

    /// Takes the events raised since the last call.
    pub fn drain(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.out)
    }

    /// Number of events waiting to be drained.
    pub fn pending(&self) -> usize {
        self.out.len()
    }

    fn schedule(&mut self, after_ms: u64, step: Step) {
        self.timer_seq += 1;
        let seq = self.timer_seq;
        self.steps.insert(seq, step);
        self.timers.push(Reverse(Timer {
            due_ms: self.now_ms + after_ms,
            seq,
        }));
    }

    /// A random number in `lo..=hi`, from the seeded generator.
    pub fn rand(&mut self, lo: u64, hi: u64) -> u64 {
        self.rng.random_range(lo..=hi)
    }

    // ----- read access for the status actions -----------------------------------------

    /// Live channels, ordered by Uniqueid.
    pub fn channels(&self) -> impl Iterator<Item = &Channel> {
        self.channels.values()
    }

    /// A channel by name.
    pub fn channel_by_name(&self, name: &str) -> Option<&Channel> {
        self.channels.values().find(|c| c.name == name)
    }

    /// A channel by Uniqueid.
    pub fn channel(&self, uid: &str) -> Option<&Channel> {
        self.channels.get(uid)
    }

    /// Live bridges.
    pub fn bridges(&self) -> impl Iterator<Item = &Bridge> {
        self.bridges.values()
    }

    /// Known device states (`Local/100@test` → `INUSE`).
    pub fn device_states(&self) -> impl Iterator<Item = (&String, &&'static str)> {
        self.device_state.iter()
    }

    /// Calls set up since start (`CoreProcessedCalls`).
    pub fn processed_calls(&self) -> u64 {
        self.processed
    }

    /// Number of calls in flight (`CoreCurrentCalls` counts channels; so do we).
    pub fn current_calls(&self) -> usize {
        self.channels.len()
    }

    /// Whether `call` is in flight, for tests and the load driver.
    pub fn calls_in_flight(&self) -> usize {
        self.calls.len()
    }

    // ----- event helpers ---------------------------------------------------------------

    fn emit(&mut self, class: Classes, msg: Message) {
        self.out.push(Event { class, msg });
    }

    fn head(name: &str, class: Classes) -> Message {
        Message::new()
            .with("Event", name)
            .with("Privilege", class.privilege())
    }

    /// An event made of the channel block of `uid` plus `extra` headers.
    fn chan_event(&mut self, name: &str, class: Classes, uid: &str, extra: &[(&str, &str)]) {
        let Some(ch) = self.channels.get(uid) else {
            return;
        };
        let mut msg = Self::head(name, class);
        ch.push_headers(&mut msg, "");
        for (k, v) in extra {
            msg.push(k, v);
        }
        self.emit(class, msg);
    }

    fn two_chan_event(
        &mut self,
        name: &str,
        class: Classes,
        first: (&str, &str),
        second: (&str, &str),
        extra: &[(&str, &str)],
    ) {
        let mut msg = Self::head(name, class);
        for (prefix, uid) in [first, second] {
            if uid.is_empty() {
                continue;
            }
            match self.channels.get(uid) {
                Some(ch) => ch.push_headers(&mut msg, prefix),
                None => return,
            }
        }
        for (k, v) in extra {
            msg.push(k, v);
        }
        self.emit(class, msg);
    }

    fn ch(&mut self, uid: &str) -> Option<&mut Channel> {
        self.channels.get_mut(uid)
    }

    fn set_state(&mut self, uid: &str, state: ChanState) {
        let Some(ch) = self.ch(uid) else { return };
        let was_ringing = i32::from(ch.state == ChanState::Ringing);
        ch.state = state;
        let device = ch.device().to_string();
        self.chan_event("Newstate", Classes::CALL, uid, &[]);
        let ringing = i32::from(state == ChanState::Ringing) - was_ringing;
        self.device_delta(&device, 0, ringing);
    }

    fn set_callerid(&mut self, uid: &str, num: &str, name: &str) {
        let Some(ch) = self.ch(uid) else { return };
        ch.cid_num = num.to_string();
        ch.cid_name = name.to_string();
        self.chan_event(
            "NewCallerid",
            Classes::CALL,
            uid,
            &[("CID-CallingPres", "0 (Presentation Allowed, Not Screened)")],
        );
    }

    fn set_connected(&mut self, uid: &str, num: &str, name: &str) {
        let Some(ch) = self.ch(uid) else { return };
        ch.conn_num = num.to_string();
        ch.conn_name = name.to_string();
        self.chan_event("NewConnectedLine", Classes::CALL, uid, &[]);
    }

    /// Moves a channel to a dialplan step; `Newexten` is noise.
    fn exten(&mut self, uid: &str, exten: &str, priority: u32, app: &str, data: &str) {
        let Some(ch) = self.ch(uid) else { return };
        ch.exten = exten.to_string();
        ch.priority = priority;
        ch.app = app.to_string();
        ch.data = data.to_string();
        if self.opts.noise {
            self.chan_event(
                "Newexten",
                Classes::DIALPLAN,
                uid,
                &[
                    ("Extension", exten),
                    ("Application", app),
                    ("AppData", data),
                ],
            );
        }
    }

    fn varset(&mut self, uid: &str, var: &str, value: &str) {
        if self.opts.noise {
            self.chan_event(
                "VarSet",
                Classes::DIALPLAN,
                uid,
                &[("Variable", var), ("Value", value)],
            );
        }
    }

    fn cel(&mut self, uid: &str, name: &str, extra: &str) {
        if !self.opts.noise {
            return;
        }
        let Some(ch) = self.channels.get(uid) else {
            return;
        };
        let started = name == "CHAN_START";
        let msg = Self::head("CEL", Classes::CALL)
            .with("EventName", name)
            .with("AccountCode", &ch.account)
            .with("CallerIDnum", if started { "" } else { &ch.cid_num })
            .with("CallerIDname", if started { "" } else { &ch.cid_name })
            .with("CallerIDani", "")
            .with("CallerIDrdnis", "")
            .with("CallerIDdnid", "")
            .with("Exten", &ch.exten)
            .with("Context", &ch.context)
            .with("Channel", &ch.name)
            .with("Application", &ch.app)
            .with("AppData", &ch.data)
            .with("EventTime", clock::date_time(self.epoch_now()))
            .with("AMAFlags", "DOCUMENTATION")
            .with("UniqueID", &ch.uniqueid)
            .with("LinkedID", &ch.linkedid)
            .with("Userfield", "")
            .with("Peer", "")
            .with("PeerAccount", "")
            .with("Extra", extra);
        self.emit(Classes::CALL, msg);
    }

    fn cdr(&mut self, uid: &str, dest: &str, disposition: &str, answered_ms: Option<u64>) {
        if !self.opts.noise {
            return;
        }
        let Some(ch) = self.channels.get(uid) else {
            return;
        };
        let start = self.opts.epoch + ch.created_ms / 1_000;
        let end = self.epoch_now();
        let answer = answered_ms.map(|ms| self.opts.epoch + ms / 1_000);
        let billable = answer.map_or(0, |a| end.saturating_sub(a));
        let msg = Self::head("Cdr", Classes::CDR)
            .with("AccountCode", &ch.account)
            .with("Source", &ch.cid_num)
            .with("Destination", dest)
            .with("DestinationContext", &ch.context)
            .with("CallerID", ch.callerid_all())
            .with("Channel", &ch.name)
            .with("DestinationChannel", "")
            .with("LastApplication", &ch.app)
            .with("LastData", &ch.data)
            .with("StartTime", clock::date_time(start))
            .with(
                "AnswerTime",
                answer.map(clock::date_time).unwrap_or_default(),
            )
            .with("EndTime", clock::date_time(end))
            .with("Duration", end.saturating_sub(start).to_string())
            .with("BillableSeconds", billable.to_string())
            .with("Disposition", disposition)
            .with("AMAFlags", "DOCUMENTATION")
            .with("UniqueID", &ch.uniqueid)
            .with("UserField", "");
        self.emit(Classes::CDR, msg);
    }

    /// Sets a device's state directly (custom devices), with `DeviceStateChange` on change.
    fn set_device_state(&mut self, device: &str, state: &'static str) {
        if self.device_state.get(device) != Some(&state) {
            self.device_state.insert(device.to_string(), state);
            let msg = Self::head("DeviceStateChange", Classes::CALL)
                .with("Device", device)
                .with("State", state);
            self.emit(Classes::CALL, msg);
        }
    }

    /// Adjusts a device's channel and ringing counts and emits `DeviceStateChange` when its
    /// state changes.
    fn device_delta(&mut self, device: &str, channels: i32, ringing: i32) {
        let entry = self.devices.entry(device.to_string()).or_insert((0, 0));
        entry.0 = entry.0.saturating_add_signed(channels);
        entry.1 = entry.1.saturating_add_signed(ringing);
        let state = match *entry {
            (0, _) => "NOT_INUSE",
            (_, r) if r > 0 => "RINGING",
            _ => "INUSE",
        };
        self.set_device_state(device, state);
    }

    // ----- channels --------------------------------------------------------------------

    fn new_uid(&mut self) -> String {
        let uid = format!("{}.{}", self.epoch_now(), self.next_seq);
        self.next_seq += 1;
        uid
    }

    /// Creates a Local channel pair `Local/exten@context-XXXXXXXX;1/;2`; returns their Uniqueids.
    fn new_local(
        &mut self,
        exten: &str,
        context: &str,
        linkedid: Option<&str>,
    ) -> (String, String) {
        let n = self.next_local;
        self.next_local += 1;
        let base = format!("Local/{exten}@{context}-{n:08x}");
        let u1 = self.new_uid();
        let u2 = self.new_uid();
        let linked = linkedid.unwrap_or(&u1).to_string();
        for (suffix, uid, state) in [(";1", &u1, ChanState::Down), (";2", &u2, ChanState::Ring)] {
            let ch = Channel {
                name: format!("{base}{suffix}"),
                state,
                cid_num: UNKNOWN.into(),
                cid_name: UNKNOWN.into(),
                conn_num: UNKNOWN.into(),
                conn_name: UNKNOWN.into(),
                account: String::new(),
                context: context.into(),
                exten: exten.into(),
                priority: 1,
                uniqueid: uid.clone(),
                linkedid: linked.clone(),
                app: String::new(),
                data: String::new(),
                bridge: None,
                created_ms: self.now_ms,
            };
            self.channels.insert(uid.clone(), ch);
        }
        self.chan_event("Newchannel", Classes::CALL, &u1, &[]);
        self.cel(&u1, "CHAN_START", "");
        self.cel(&u2, "CHAN_START", "");
        self.chan_event("Newchannel", Classes::CALL, &u2, &[]);
        let device = self
            .channels
            .get(&u1)
            .map(|c| c.device().to_string())
            .unwrap_or_default();
        self.device_delta(&device, 2, 0);
        (u1, u2)
    }

    fn local_bridge(&mut self, u1: &str, u2: &str) {
        let (Some(c1), Some(c2)) = (self.channels.get(u1), self.channels.get(u2)) else {
            return;
        };
        let mut msg = Self::head("LocalBridge", Classes::CALL);
        c1.push_headers(&mut msg, "LocalOne");
        c2.push_headers(&mut msg, "LocalTwo");
        msg.push("Context", &c2.context);
        msg.push("Exten", &c2.exten);
        msg.push("LocalOptimization", "Yes");
        self.emit(Classes::CALL, msg);
    }

    /// Hangs a channel up: request, hangup event, CEL, device state; removes it.
    fn hangup_chan(&mut self, uid: &str, cause: u32, soft: bool) {
        if !self.channels.contains_key(uid) {
            return;
        }
        let cause_s = cause.to_string();
        if soft {
            // The soft request always carries 16, whatever the final cause (recorded for busy legs).
            self.chan_event("SoftHangupRequest", Classes::CALL, uid, &[("Cause", "16")]);
        }
        if let Some(bid) = self.channels.get(uid).and_then(|c| c.bridge.clone()) {
            self.bridge_leave(&bid, uid);
        }
        self.cel(
            uid,
            "HANGUP",
            &format!("{{\"hangupcause\":{cause},\"hangupsource\":\"\",\"dialstatus\":\"\"}}"),
        );
        self.cel(uid, "CHAN_END", "");
        self.chan_event(
            "Hangup",
            Classes::CALL,
            uid,
            &[("Cause", &cause_s), ("Cause-txt", cause_text(cause))],
        );
        if let Some(ch) = self.channels.remove(uid) {
            self.parked.retain(|p| p.uniqueid != uid);
            let ringing = i32::from(ch.state == ChanState::Ringing);
            self.device_delta(ch.device(), -1, -ringing);
        }
    }

    /// Cancels a dialled pair that never answered: `;2` is asked to hang up, `;1` (ringing)
    /// goes at once, both with cause 0, as the recording of a cancelled agent shows.
    fn cancel_pair(&mut self, one: &str, two: &str) {
        self.chan_event("HangupRequest", Classes::CALL, two, &[("Cause", "0")]);
        self.hangup_chan(one, 0, false);
        let ex = self.field(two, |c| &c.exten);
        self.cdr(two, &ex, "NO ANSWER", None);
        self.hangup_chan(two, 0, true);
    }

    // ----- bridges ---------------------------------------------------------------------

    fn uuid(&mut self) -> String {
        let v: u128 = self.rng.random();
        let h = format!("{v:032x}");
        format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }

    fn bridge_create(&mut self) -> String {
        let id = self.uuid();
        let bridge = Bridge {
            id: id.clone(),
            members: Vec::new(),
            created_ms: self.now_ms,
        };
        let mut msg = Self::head("BridgeCreate", Classes::CALL);
        bridge.push_headers(&mut msg);
        self.emit(Classes::CALL, msg);
        self.bridges.insert(id.clone(), bridge);
        id
    }

    fn bridge_enter(&mut self, bid: &str, uid: &str, swap: Option<&str>) {
        let (Some(bridge), Some(ch)) = (self.bridges.get_mut(bid), self.channels.get_mut(uid))
        else {
            return;
        };
        bridge.members.push(uid.to_string());
        ch.bridge = Some(bid.to_string());
        let mut msg = Self::head("BridgeEnter", Classes::CALL);
        bridge.push_headers(&mut msg);
        ch.push_headers(&mut msg, "");
        if let Some(swap) = swap {
            msg.push("SwapUniqueid", swap);
        }
        self.emit(Classes::CALL, msg);
        let extra = format!("{{\"bridge_id\":\"{bid}\",\"bridge_technology\":\"simple_bridge\"}}");
        self.cel(uid, "BRIDGE_ENTER", &extra);
    }

    fn bridge_leave(&mut self, bid: &str, uid: &str) {
        let (Some(bridge), Some(ch)) = (self.bridges.get_mut(bid), self.channels.get_mut(uid))
        else {
            return;
        };
        bridge.members.retain(|m| m != uid);
        ch.bridge = None;
        let mut msg = Self::head("BridgeLeave", Classes::CALL);
        bridge.push_headers(&mut msg);
        ch.push_headers(&mut msg, "");
        let empty = bridge.members.is_empty();
        self.emit(Classes::CALL, msg);
        let extra = format!("{{\"bridge_id\":\"{bid}\",\"bridge_technology\":\"simple_bridge\"}}");
        self.cel(uid, "BRIDGE_EXIT", &extra);
        if empty && let Some(bridge) = self.bridges.remove(bid) {
            let mut msg = Self::head("BridgeDestroy", Classes::CALL);
            bridge.push_headers(&mut msg);
            self.emit(Classes::CALL, msg);
        }
    }

    /// Creates a bridge and puts the two channels in it, callee first (as Dial does).
    fn bridge_pair(&mut self, call: CallId, callee: &str, caller: &str) {
        let bid = self.bridge_create();
        self.bridge_enter(&bid, callee, None);
        self.bridge_enter(&bid, caller, None);
        let (callee_name, caller_name) = (self.name_of(callee), self.name_of(caller));
        self.varset(callee, "BRIDGEPEER", &caller_name);
        self.varset(caller, "BRIDGEPEER", &callee_name);
        if let Some(c) = self.calls.get_mut(&call) {
            c.bridge = Some(bid);
        }
    }

    /// A call with its dialled pair (callee or agent), if both exist.
    fn dialled(&self, id: CallId) -> Option<(Call, String, String)> {
        let call = self.calls.get(&id)?.clone();
        let (b1, b2) = (call.b1.clone()?, call.b2.clone()?);
        Some((call, b1, b2))
    }

    /// A text field of a live channel, or empty if the channel is gone.
    fn field(&self, uid: &str, f: impl Fn(&Channel) -> &String) -> String {
        self.channels
            .get(uid)
            .map(|c| f(c).clone())
            .unwrap_or_default()
    }

    fn name_of(&self, uid: &str) -> String {
        self.field(uid, |c| &c.name)
    }

    // ----- originate -------------------------------------------------------------------

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
        let (pnum, pname) = phone_identity(phone);
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
        self.two_chan_event(
            "DialEnd",
            Classes::CALL,
            ("", ""),
            ("Dest", &a1),
            &[("DialStatus", "ANSWER")],
        );
        self.originate_response(action_id, &a1, target, cid_num, cid_name);
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
            },
        );
        self.exten(&a2, phone, 5, "Wait", &dur);
        self.run_target(id);
        a1
    }

    fn originate_response(
        &mut self,
        action_id: Option<&str>,
        uid: &str,
        target: Target,
        num: &str,
        name: &str,
    ) {
        let mut msg = Self::head("OriginateResponse", Classes::CALL);
        if let Some(id) = action_id {
            msg.push("ActionID", id);
        }
        msg.push("Response", "Success");
        msg.push("Channel", self.name_of(uid));
        msg.push("Context", "test");
        msg.push("Exten", target.exten());
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

    // ----- scenarios ---------------------------------------------------------------------

    fn run_target(&mut self, id: CallId) {
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
                let mut prio = 1;
                if target == Target::MixMonitor {
                    self.exten(&a1, ex, 1, "MixMonitor", "${UNIQUEID}.wav,b");
                    let file = format!("/var/spool/asterisk/monitor/{a1}.wav");
                    self.varset(&a1, "MIXMONITOR_FILENAME", &file);
                    self.chan_event("MixMonitorStart", Classes::CALL, &a1, &[]);
                    prio = 2;
                } else {
                    self.exten(&a1, ex, 1, "NoOp", &format!("Bridged call from {cid}"));
                }
                let dial = match target {
                    Target::Busy => "210",
                    Target::Congested => "220",
                    Target::NoAnswer => "230",
                    _ => "201",
                };
                self.exten(&a1, ex, prio + 1, "Dial", &format!("Local/{dial}@test,30"));
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
                let q = usize::from(target == Target::QueueAbandon);
                let qname = self.queues[q].name.clone();
                self.exten(&a1, ex, 1, "Answer", "");
                self.exten(&a1, ex, 3, "Queue", &format!("{qname},,,,60"));
                self.queues[q].callers.push((a1.clone(), self.now_ms));
                let pos = self.queues[q].callers.len().to_string();
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
                if q == 0 {
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
                self.exten(&a1, ex, 1, "ParkedCall", "default,701");
                if let Some(p) = self.parked.first().cloned() {
                    self.unpark(&p.uniqueid, &a1);
                    let bid = self.bridge_create();
                    self.bridge_enter(&bid, &p.uniqueid, None);
                    self.bridge_enter(&bid, &a1, None);
                    if let Some(c) = self.calls.get_mut(&id) {
                        c.bridge = Some(bid);
                        c.b1 = Some(p.uniqueid.clone());
                    }
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
                if let Some(spyee) = spyee {
                    self.two_chan_event(
                        "ChanSpyStart",
                        Classes::CALL,
                        ("Spyer", &a1),
                        ("Spyee", &spyee),
                        &[],
                    );
                    if let Some(c) = self.calls.get_mut(&id) {
                        c.spyee = Some(spyee);
                    }
                }
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
            Target::LocalChain => {
                self.exten(&a1, ex, 1, "Dial", "Local/261@test,30");
                self.dial(id, "261");
                self.schedule(30, Step::DialRinging(id));
                self.schedule(300, Step::DialAnswer(id));
            }
        }
    }

    /// `Dial(Local/<exten>@test)` from the call's `a1`: creates the callee pair and `DialBegin`.
    fn dial(&mut self, id: CallId, exten: &str) {
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
                let app = if call.target == Target::Busy {
                    "Busy"
                } else {
                    "Congestion"
                };
                self.exten(&b2, exten, 1, "NoOp", &callee);
                self.exten(&b2, exten, 2, app, "3");
                self.set_state(&b2, ChanState::Busy);
                dial_begin(self);
            }
            _ => {
                dial_begin(self);
                self.exten(&b2, exten, 1, "NoOp", &callee);
            }
        }
        if let Some(c) = self.calls.get_mut(&id) {
            c.b1 = Some(b1);
            c.b2 = Some(b2);
            c.ring_ms = self.now_ms;
        }
    }

    fn run(&mut self, step: Step) {
        match step {
            Step::DialRinging(id) => {
                let Some(call) = self.calls.get(&id).cloned() else {
                    return;
                };
                let (Some(b1), Some(b2)) = (call.b1.clone(), call.b2.clone()) else {
                    return;
                };
                let ex = self.field(&b2, |c| &c.exten);
                self.exten(&b2, &ex, 3, "Ringing", "");
                self.set_state(&b1, ChanState::Ringing);
                self.varset(&call.a1, "RINGTIME", "0");
                self.two_chan_event(
                    "DialState",
                    Classes::CALL,
                    ("", &call.a1),
                    ("Dest", &b1),
                    &[("DialStatus", "RINGING")],
                );
            }
            Step::DialAnswer(id) => self.dial_answer(id),
            Step::DialFail(id) => self.dial_fail(id),
            Step::PhoneHangup(id) => self.phone_hangup(id, true),
            Step::DialplanEnd(id) => self.phone_hangup(id, false),
            Step::AgentHangup(id) => self.agent_hangup(id),
            Step::QueueOffer(id) => self.queue_offer(id),
            Step::QueueAnswer(id) => self.queue_answer(id),
            Step::QueueRingNoAnswer(id) => self.queue_ring_no_answer(id),
            Step::ParkTimeout(id) => self.park_timeout(id),
            Step::Dtmf(id, i) => self.dtmf(id, i),
            Step::Unhold(uid, peer) => {
                self.chan_event("Unhold", Classes::CALL, &uid, &[]);
                if let Some(peer) = peer {
                    self.chan_event("MusicOnHoldStop", Classes::CALL, &peer, &[]);
                }
            }
        }
    }

    fn dial_answer(&mut self, id: CallId) {
        let Some((call, b1, b2)) = self.dialled(id) else {
            return;
        };
        let a1 = call.a1.clone();
        let ex = self.field(&b2, |c| &c.exten);
        let (num, name) = if call.target == Target::LocalChain {
            ("262", "Caller")
        } else {
            ("2001", "Carol Callee")
        };
        let name = if call.target == Target::LocalChain {
            self.channels
                .get(&a1)
                .map(|c| c.cid_name.clone())
                .unwrap_or_else(|| name.to_string())
        } else {
            name.to_string()
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
        self.two_chan_event(
            "DialEnd",
            Classes::CALL,
            ("", &a1),
            ("Dest", &b1),
            &[("DialStatus", "ANSWER")],
        );
        if let Some(ch) = self.ch(&b1) {
            ch.exten.clear();
        }
        self.bridge_pair(id, &b1, &a1);
        self.exten(&b2, &ex, 7, "Wait", &call.duration_s.to_string());
        if call.target == Target::LocalChain {
            self.local_optimize(id);
        }
        self.schedule(call.duration_s * 1_000, Step::PhoneHangup(id));
    }

    /// Local/261 hands its place in the bridge to Local/262 and goes away.
    fn local_optimize(&mut self, id: CallId) {
        let Some(call) = self.calls.get(&id).cloned() else {
            return;
        };
        let (Some(b1), Some(b2), Some(bid)) =
            (call.b1.clone(), call.b2.clone(), call.bridge.clone())
        else {
            return;
        };
        let linked = self.field(&call.a1, |c| &c.linkedid);
        let (c1, c2) = self.new_local("262", "test", Some(&linked));
        self.set_state(&c2, ChanState::Up);
        self.set_state(&c1, ChanState::Up);
        if let Some(ch) = self.ch(&c1) {
            ch.exten.clear();
        }
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
        self.bridge_leave(&bid, &b1);
        self.bridge_enter(&bid, &c1, Some(&b1));
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
        self.hangup_chan(&b1, 16, false);
        self.hangup_chan(&b2, 16, true);
        if let Some(c) = self.calls.get_mut(&id) {
            c.b1 = Some(c1);
            c.b2 = Some(c2);
        }
    }

    fn dial_fail(&mut self, id: CallId) {
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
        self.two_chan_event(
            "DialEnd",
            Classes::CALL,
            ("", &a1),
            ("Dest", &b1),
            &[("DialStatus", status)],
        );
        self.chan_event("HangupRequest", Classes::CALL, &b2, &[("Cause", "0")]);
        self.chan_event("SoftHangupRequest", Classes::CALL, &b2, &[("Cause", "16")]);
        self.hangup_chan(&b1, 0, false);
        let disposition = if cause == 17 { "BUSY" } else { "FAILED" };
        let ex = self.field(&b2, |c| &c.exten);
        self.cdr(&b2, &ex, disposition, None);
        self.hangup_chan(&b2, cause, false);
        if let Some(c) = self.calls.get_mut(&id) {
            c.b1 = None;
            c.b2 = None;
        }
        self.end_call(id, 16, false);
    }

    /// The call ends, from the phone (`phone_first`) or from its dialplan: queue, parking
    /// and spy state is closed first, then every leg is torn down.
    fn phone_hangup(&mut self, id: CallId, phone_first: bool) {
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
    fn end_call(&mut self, id: CallId, cause: u32, phone_first: bool) {
        let Some(call) = self.calls.remove(&id) else {
            return;
        };
        if let Some((q, m)) = call.queue {
            self.member_done(q, m);
        }
        let (a1, a2) = (call.a1.as_str(), call.a2.as_str());
        let ex = self.field(a2, |c| &c.exten);
        let answered = Some(self.channels.get(a1).map_or(0, |c| c.created_ms));
        let cause_s = cause.to_string();
        self.cdr(a2, &ex, "ANSWERED", answered);
        self.cdr(a1, call.target.exten(), "ANSWERED", answered);
        if phone_first {
            self.exten(a2, &ex, 6, "Hangup", "");
            let peer_id = self
                .channels
                .get(a1)
                .filter(|c| c.bridge.is_some())
                .map(|c| (c.conn_num.clone(), c.conn_name.clone()));
            if let Some((num, name)) = peer_id {
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
            if let Some(bid) = self.channels.get(a1).and_then(|c| c.bridge.clone()) {
                self.bridge_leave(&bid, a1);
            }
            self.chan_event("SoftHangupRequest", Classes::CALL, a1, &[("Cause", "16")]);
            self.chan_event("HangupRequest", Classes::CALL, a2, &[("Cause", "16")]);
            self.hangup_chan(a1, cause, false);
            self.hangup_chan(a2, 16, true);
        }
        if let (Some(b1), Some(b2)) = (call.b1.as_deref(), call.b2.as_deref()) {
            self.end_peer_pair(b1, b2);
        }
    }

    /// The dialled pair goes once its caller has gone: the bridge empties, `;2` is asked to
    /// hang up, `;1` goes, then `;2` (or the ringing pair is cancelled).
    fn end_peer_pair(&mut self, one: &str, two: &str) {
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
        self.cdr(two, &ex, "ANSWERED", Some(self.now_ms));
        self.hangup_chan(two, 16, true);
    }

    // ----- queues ------------------------------------------------------------------------

    fn queue_pos(&self, uid: &str) -> Option<(usize, usize)> {
        self.queues.iter().enumerate().find_map(|(q, queue)| {
            queue
                .callers
                .iter()
                .position(|(u, _)| u == uid)
                .map(|p| (q, p))
        })
    }

    fn queue_leave(&mut self, q: usize, uid: &str) {
        let Some(pos) = self.queues[q].callers.iter().position(|(u, _)| u == uid) else {
            return;
        };
        self.queues[q].callers.remove(pos);
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

    fn queue_abandon(&mut self, id: CallId, q: usize) {
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
        let p = (pos + 1).to_string();
        self.queues[q].abandoned += 1;
        self.chan_event(
            "QueueCallerAbandon",
            Classes::AGENT,
            &call.a1,
            &[
                ("Queue", &qname),
                ("Position", &p),
                ("OriginalPosition", &p),
                ("HoldTime", &hold),
            ],
        );
        self.queue_leave(q, &call.a1);
        self.chan_event("MusicOnHoldStop", Classes::CALL, &call.a1, &[]);
        if let (Some((_, m)), Some(b1)) = (call.queue, call.b1.clone()) {
            // An agent was ringing: the dial is cancelled.
            self.two_chan_event(
                "DialEnd",
                Classes::CALL,
                ("", &call.a1),
                ("Dest", &b1),
                &[("DialStatus", "CANCEL")],
            );
            self.set_member_status(q, m, 1, false);
        }
    }

    fn member_event(&mut self, name: &str, q: usize, m: usize) {
        let qname = self.queues[q].name.clone();
        let mut msg = Self::head(name, Classes::AGENT);
        self.queues[q].members[m].push_event_headers(&mut msg, &qname);
        self.emit(Classes::AGENT, msg);
    }

    fn set_member_status(&mut self, q: usize, m: usize, status: u8, in_call: bool) {
        let member = &mut self.queues[q].members[m];
        member.status = status;
        member.in_call = in_call;
        self.member_event("QueueMemberStatus", q, m);
    }

    fn member_done(&mut self, q: usize, m: usize) {
        if m < self.queues[q].members.len() {
            let now = self.epoch_now();
            let member = &mut self.queues[q].members[m];
            member.calls_taken += 1;
            member.last_call = now;
            self.set_member_status(q, m, 1, false);
        }
    }

    fn queue_offer(&mut self, id: CallId) {
        let Some(call) = self.calls.get(&id).cloned() else {
            return;
        };
        let q = 0;
        if self.queue_pos(&call.a1).is_none() || call.b1.is_some() {
            return;
        }
        let n = self.queues[q].members.len();
        let start = self.queues[q].next_member;
        // Only a member that is not paused and not in use (status 1) may be offered a call;
        // it rings with status 6 and talks with status 2.
        let free = |mem: &Member| !mem.paused && mem.status == 1;
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
        self.two_chan_event(
            "DialState",
            Classes::CALL,
            ("", &call.a1),
            ("Dest", &g1),
            &[("DialStatus", "RINGING")],
        );
        self.set_member_status(q, m, 6, false);
        if let Some(c) = self.calls.get_mut(&id) {
            c.b1 = Some(g1);
            c.b2 = Some(g2);
            c.queue = Some((q, m));
            c.ring_ms = self.now_ms;
        }
        // Dynamic members (agent3, added with QueueAdd) never answer, as in the recording:
        // RingNoAnswer after the queue's 15 s timeout.
        if self.queues[q].members[m].dynamic {
            self.schedule(15_000, Step::QueueRingNoAnswer(id));
        } else {
            let delay = self.rand(1_000, 4_000);
            self.schedule(delay, Step::QueueAnswer(id));
        }
    }

    /// An agent event: both channel blocks, then `Queue`, `Interface`, `MemberName`, `extra`.
    fn agent_event(
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

    fn queue_ring_no_answer(&mut self, id: CallId) {
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
            &[("RingTime", "15000")],
        );
        self.two_chan_event(
            "DialEnd",
            Classes::CALL,
            ("", &call.a1),
            ("Dest", &g1),
            &[("DialStatus", "NOANSWER")],
        );
        self.cancel_pair(&g1, &g2);
        self.set_member_status(q, m, 1, false);
        if let Some(c) = self.calls.get_mut(&id) {
            c.b1 = None;
            c.b2 = None;
            c.queue = None;
        }
        self.schedule(2_000, Step::QueueOffer(id));
    }

    fn queue_answer(&mut self, id: CallId) {
        let Some((call, g1, g2)) = self.dialled(id) else {
            return;
        };
        let Some((q, m)) = call.queue else {
            return;
        };
        self.set_state(&g2, ChanState::Up);
        self.set_state(&g1, ChanState::Up);
        self.two_chan_event(
            "DialEnd",
            Classes::CALL,
            ("", &call.a1),
            ("Dest", &g1),
            &[("DialStatus", "ANSWER")],
        );
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
        self.set_member_status(q, m, 2, true);
        self.queues[q].completed += 1;
        if let Some(c) = self.calls.get_mut(&id) {
            c.mark_ms = self.now_ms;
            c.ring_ms = hold.parse().unwrap_or(0);
        }
        let talk = self.rand(4_000, 10_000);
        self.schedule(talk, Step::AgentHangup(id));
    }

    /// The agent hangs up: its pair goes first (`AgentComplete` in between), then the caller.
    fn agent_hangup(&mut self, id: CallId) {
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
        let ex = self.field(&g2, |c| &c.exten);
        self.cdr(&g2, &ex, "ANSWERED", Some(call.mark_ms));
        self.hangup_chan(&g2, 16, false);
        self.hangup_chan(&g1, 16, false);
        if let Some(c) = self.calls.get_mut(&id) {
            c.b1 = None;
            c.b2 = None;
        }
        self.end_call(id, 16, false);
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

    /// `QueueAdd`: false if the queue is unknown or the member already there.
    pub fn queue_add(
        &mut self,
        queue: &str,
        interface: &str,
        name: &str,
        penalty: u32,
        paused: bool,
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
            dynamic: true,
            penalty,
            calls_taken: 0,
            last_call: 0,
            last_pause: 0,
            login_time: self.epoch_now(),
            in_call: false,
            status: 1,
            paused,
            paused_reason: String::new(),
        };
        self.queues[q].members.push(member);
        let m = self.queues[q].members.len() - 1;
        self.member_event("QueueMemberAdded", q, m);
        Ok(())
    }

    /// `QueueRemove`: false if no such member.
    pub fn queue_remove(&mut self, queue: &str, interface: &str) -> bool {
        let Some(q) = self.queues.iter().position(|x| x.name == queue) else {
            return false;
        };
        let Some(m) = self.queues[q]
            .members
            .iter()
            .position(|mem| mem.interface == interface)
        else {
            return false;
        };
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
        true
    }

    // ----- parking -----------------------------------------------------------------------

    fn park(&mut self, uid: &str, parker: &str, timeout_s: u64) {
        let space = (701..=720)
            .find(|s| !self.parked.iter().any(|p| p.space == *s))
            .unwrap_or(720);
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
        msg: &mut Message,
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

    fn park_end(&mut self, uid: &str, event: &str) {
        self.parked_event(event, uid, None);
        self.cel(uid, "PARK_END", "");
        self.parked.retain(|p| p.uniqueid != uid);
    }

    fn unpark(&mut self, uid: &str, retriever: &str) {
        self.chan_event("MusicOnHoldStop", Classes::CALL, uid, &[]);
        self.parked_event("UnParkedCall", uid, Some(retriever));
        self.cel(uid, "PARK_END", "");
        self.parked.retain(|p| p.uniqueid != uid);
    }

    fn park_timeout(&mut self, id: CallId) {
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
        self.chan_event("MusicOnHoldStop", Classes::CALL, &call.a1, &[]);
        self.park_end(&call.a1, "ParkedCallTimeOut");
        self.end_call(id, 16, false);
    }

    /// AMI `Park` of a channel: it leaves its bridge and waits in the lot; the peer hangs up.
    pub fn park_channel(&mut self, name: &str, timeout_s: u64) -> bool {
        let Some(uid) = self.channel_by_name(name).map(|c| c.uniqueid.clone()) else {
            return false;
        };
        if let Some(bid) = self.channels.get(&uid).and_then(|c| c.bridge.clone()) {
            self.bridge_leave(&bid, &uid);
        }
        self.park(&uid, "Local/100@test", timeout_s);
        if let Some((&id, _)) = self
            .calls
            .iter()
            .find(|(_, c)| c.b1.as_deref() == Some(uid.as_str()))
        {
            self.schedule(timeout_s * 1_000, Step::ParkTimeout(id));
            if let Some(c) = self.calls.get_mut(&id) {
                // The parked callee now outlives its caller: make it the call's `a1`.
                let a1 = std::mem::replace(&mut c.a1, uid.clone());
                c.b1 = Some(a1);
            }
        }
        true
    }

    // ----- DTMF, hold, transfer, hangup ---------------------------------------------------

    fn dtmf(&mut self, id: CallId, i: usize) {
        let Some(call) = self.calls.get(&id).cloned() else {
            return;
        };
        let digits = ['1', '2', '3', '4', '#'];
        let Some(d) = digits.get(i) else {
            self.schedule(500, Step::DialplanEnd(id));
            return;
        };
        let d = d.to_string();
        self.chan_event(
            "DTMFBegin",
            Classes::DTMF,
            &call.a2,
            &[("Digit", &d), ("Direction", "Received")],
        );
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

    /// AMI `Atxfer`: the feature hook puts the peer on hold, and (as recorded) the transfer
    /// drops at once, giving `MusicOnHoldStart` then `Unhold`.
    pub fn atxfer(&mut self, name: &str) -> bool {
        let Some(uid) = self.channel_by_name(name).map(|c| c.uniqueid.clone()) else {
            return false;
        };
        // The feature code arrives as DTMF, the transferer is held and its peer hears music;
        // the recorded transfer then drops at once (Unhold, music stops).
        for digit in ["*", "2"] {
            self.chan_event(
                "DTMFEnd",
                Classes::DTMF,
                &uid,
                &[
                    ("Digit", digit),
                    ("DurationMs", "0"),
                    ("Direction", "Received"),
                ],
            );
        }
        self.chan_event("Hold", Classes::CALL, &uid, &[]);
        let peer = self.bridge_peer(&uid);
        if let Some(peer) = &peer {
            self.chan_event(
                "MusicOnHoldStart",
                Classes::CALL,
                peer,
                &[("Class", "default")],
            );
        }
        self.schedule(200, Step::Unhold(uid, peer));
        true
    }

    /// The other channel in `uid`'s bridge, if any.
    fn bridge_peer(&self, uid: &str) -> Option<String> {
        let bid = self.channels.get(uid)?.bridge.as_ref()?;
        self.bridges
            .get(bid)?
            .members
            .iter()
            .find(|m| *m != uid)
            .cloned()
    }

    /// The demo's trickle: a random bridged channel goes on hold for a moment. False if
    /// no channel is bridged.
    pub fn trickle(&mut self) -> bool {
        let bridged: Vec<String> = self
            .channels
            .values()
            .filter(|c| c.bridge.is_some())
            .map(|c| c.name.clone())
            .collect();
        if bridged.is_empty() {
            return false;
        }
        let i = self.rand(0, bridged.len() as u64 - 1) as usize;
        self.atxfer(&bridged[i])
    }

    /// AMI `Hangup` of a channel by name; returns false if it does not exist.
    pub fn hangup_by_name(&mut self, name: &str, cause: u32) -> bool {
        let Some(uid) = self.channel_by_name(name).map(|c| c.uniqueid.clone()) else {
            return false;
        };
        let call = self
            .calls
            .iter()
            .find(|(_, c)| {
                c.a1 == uid
                    || c.a2 == uid
                    || c.b1.as_deref() == Some(&uid)
                    || c.b2.as_deref() == Some(&uid)
            })
            .map(|(&id, _)| id);
        self.chan_event(
            "HangupRequest",
            Classes::CALL,
            &uid,
            &[("Cause", &cause.to_string())],
        );
        if self.parked.iter().any(|p| p.uniqueid == uid) {
            self.park_end(&uid, "ParkedCallGiveUp");
        }
        let phone = call
            .and_then(|id| self.calls.get(&id))
            .is_some_and(|c| c.a2 == uid);
        match call {
            Some(id) => self.phone_hangup(id, phone),
            None => self.hangup_chan(&uid, cause, true),
        }
        true
    }

    /// Names of live channels matching a `/regex/`-style pattern (a plain prefix match here).
    pub fn channels_matching(&self, prefix: &str) -> Vec<String> {
        self.channels
            .values()
            .filter(|c| c.name.starts_with(prefix))
            .map(|c| c.name.clone())
            .collect()
    }

    /// AMI `BlindTransfer` (and `Redirect` of a bridged leg): the peer of `name` is sent to
    /// `exten` (250, Dial(Local/202)); emits `BlindTransfer`.
    pub fn blind_transfer(&mut self, name: &str, exten: &str, event: bool) -> bool {
        let Some(uid) = self.channel_by_name(name).map(|c| c.uniqueid.clone()) else {
            return false;
        };
        let Some(id) = self
            .calls
            .iter()
            .find(|(_, c)| c.a1 == uid || c.b1.as_deref() == Some(&uid))
            .map(|(&id, _)| id)
        else {
            // Not in a call we drive: just move it in the dialplan.
            self.exten(&uid, exten, 1, "NoOp", "Transfer target");
            return true;
        };
        let Some(call) = self.calls.get(&id).cloned() else {
            return false;
        };
        let peer = if call.a1 == uid {
            call.b1.clone()
        } else {
            Some(call.a1.clone())
        };
        if event && let (Some(peer), Some(bid)) = (peer.clone(), call.bridge.clone()) {
            let mut msg = Self::head("BlindTransfer", Classes::CALL).with("Result", "Success");
            if let (Some(t), Some(p), Some(b)) = (
                self.channels.get(&uid),
                self.channels.get(&peer),
                self.bridges.get(&bid),
            ) {
                t.push_headers(&mut msg, "Transferer");
                p.push_headers(&mut msg, "Transferee");
                b.push_headers(&mut msg);
                msg.push("IsExternal", "Yes");
                msg.push("Context", "test");
                msg.push("Extension", exten);
                self.emit(Classes::CALL, msg);
                self.cel(&uid, "BLINDTRANSFER", "");
            }
        }
        self.exten(&uid, exten, 1, "NoOp", "Transfer target");
        self.exten(&uid, exten, 2, "Dial", "Local/202@test,30");
        true
    }

    /// Raises `UserEvent` from the AMI action (it carries the action's ActionID).
    pub fn user_event(&mut self, action_id: Option<&str>, name: &str, extra: &[(String, String)]) {
        let mut msg = Self::head("UserEvent", Classes::USER).with("UserEvent", name);
        if let Some(id) = action_id {
            msg.push("ActionID", id);
        }
        for (k, v) in extra {
            msg.push(k, v);
        }
        self.emit(Classes::USER, msg);
    }

    /// `Setvar` on a channel: a `VarSet` of that channel. False if there is no such channel.
    pub fn set_channel_var(&mut self, name: &str, var: &str, value: &str) -> bool {
        let Some(uid) = self.channel_by_name(name).map(|c| c.uniqueid.clone()) else {
            return false;
        };
        self.varset(&uid, var, value);
        true
    }

    /// Sets a global variable; `VarSet` with `Channel: none`. `DEVICE_STATE(Custom:x)` sets
    /// that custom device's state instead, as `func_devstate` does.
    pub fn set_global(&mut self, var: &str, value: &str) {
        if let Some(device) = var
            .strip_prefix("DEVICE_STATE(")
            .and_then(|d| d.strip_suffix(')'))
            && device.starts_with("Custom:")
        {
            const STATES: &[&str] = &[
                "UNKNOWN",
                "NOT_INUSE",
                "INUSE",
                "BUSY",
                "INVALID",
                "UNAVAILABLE",
                "RINGING",
                "RINGINUSE",
                "ONHOLD",
            ];
            if let Some(state) = STATES.iter().find(|s| s.eq_ignore_ascii_case(value)) {
                self.set_device_state(device, state);
            }
            return;
        }
        self.globals.insert(var.to_string(), value.to_string());
        if self.opts.noise {
            let msg = Self::head("VarSet", Classes::DIALPLAN)
                .with("Channel", "none")
                .with("Uniqueid", "none")
                .with("Variable", var)
                .with("Value", value);
            self.emit(Classes::DIALPLAN, msg);
        }
    }

    /// Restart: every call vanishes and Uniqueids continue from a new epoch (a fault switch).
    pub fn restart(&mut self, epoch: u64) {
        self.calls.clear();
        self.channels.clear();
        self.bridges.clear();
        self.parked.clear();
        self.timers.clear();
        self.steps.clear();
        for q in &mut self.queues {
            q.callers.clear();
        }
        self.opts.epoch = epoch.saturating_sub(self.now_ms / 1_000);
    }
}
