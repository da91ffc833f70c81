//! The simulated PBX: the call model, a virtual clock, and the events each change emits.
//!
//! Everything here is synchronous and deterministic: the same seed and the same calls give
//! the same events. Time is virtual (`now_ms`); the traffic driver decides how fast it runs
//! (real time in demo mode, as fast as the client reads in load mode).
//!
//! This file holds the state, the clock and the event helpers shared by the parts:
//! `scenario` (calls through the test dialplan), `chain` (the Local chain of 260), `queue`,
//! `park`, `control` (what AMI clients do to calls), `apps` (Originate into an
//! application, ChanSpy), `monitor` (MixMonitor), `hints`
//! (extension and presence states, voicemail) and `desk` (the call centre's desk phones).

mod apps;
mod astdb;
mod chain;
pub(crate) mod conf;
mod control;
mod desk;
mod hints;
mod monitor;
mod park;
mod queue;
mod scenario;
mod voicemail;

pub use voicemail::{VOICEMAIL_CONTEXT, VoiceMessage};

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use shared::ami::{Message, MessageBuilder};

pub use hints::{FunctionError, status_text};
pub use queue::MemberValue;

use crate::clock;
use crate::directory::{Directory, Mailbox, Presence};
use crate::model::{Bridge, ChanState, Channel, Member, Parked, Queue, QueueStats, UNKNOWN};
use shared::ami::Classes;

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
    /// 1000: `ConfBridge(1000)`, a normal user.
    Conference,
    /// 1010: `ConfBridge(1000,,admin_user)`, an admin and marked user.
    ConferenceAdmin,
    /// 1020: `ConfBridge(2000,room_2000)`, another room.
    Conference2000,
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
            Target::Conference => "1000",
            Target::ConferenceAdmin => "1010",
            Target::Conference2000 => "1020",
        }
    }

    /// The target of an extension, if the test dialplan has it.
    pub fn from_exten(exten: &str) -> Option<Target> {
        Target::ALL
            .iter()
            .chain(&Target::CONFERENCES)
            .copied()
            .find(|t| t.exten() == exten)
    }

    /// The ConfBridge extensions (ami-session-3), outside the traffic mix.
    pub const CONFERENCES: [Target; 3] = [
        Target::Conference,
        Target::ConferenceAdmin,
        Target::Conference2000,
    ];

    /// Every target but the conferences, for tests and the traffic mix.
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
    /// How long agents ring before answering (`__AGENT_DELAY`), if set.
    agent_delay_ms: Option<u64>,
    /// The parked channel this call picked up (701), which ends once this call has.
    picked: Option<String>,
    /// The Local/262 pair of the 260 chain, until Local/261 optimizes away.
    chain: Option<(String, String)>,
    /// The caller's desk phone (call centre), whose device state follows the call.
    phone: Option<String>,
    /// The dialled desk phone (call centre): its number, name and device.
    callee: Option<Callee>,
    /// The parking space a pickup asked for (`701`…`720`); `None`: the first parked call.
    space: Option<u32>,
}

/// A desk phone a call dials instead of the fixtures' `Carol Callee`.
#[derive(Clone, Debug)]
struct Callee {
    num: String,
    name: String,
    device: String,
}

/// A scheduled step of a call, or of the traffic generator.
#[derive(Clone, Debug)]
enum Step {
    DialRinging(CallId),
    DialAnswer(CallId),
    DialFail(CallId),
    ChainRinging(CallId),
    ChainAnswer(CallId),
    PhoneHangup(CallId),
    /// The caller phone's `Wait(${D})` after its `Answer()`: recorded only once the
    /// callee had taken its first steps, and never for a call that failed at once.
    CallerWait(CallId),
    DialplanEnd(CallId),
    AgentHangup(CallId),
    QueueOffer(CallId),
    QueueAnswer(CallId),
    QueueRingNoAnswer(CallId),
    ParkTimeout(CallId),
    Dtmf(CallId, usize),
    /// The end of an Atxfer hold: the transferer, and the peer that heard music.
    Unhold(String, Option<String>),
    /// The end of a desk phone's hold (call centre).
    HoldEnd(CallId),
    /// A conference user's phone starts (`true`) or stops talking.
    ConfTalk(CallId, bool),
    /// VoiceMail saves the message a redirected caller left (the call, or the lone
    /// channel, and the mailbox).
    VoicemailSaved(Option<CallId>, String, String),
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
    /// Agents (`Local/agentN@agents/n`), members of every queue but `sales`.
    pub agents: usize,
    /// Queues: `support`, `sales` (no members, callers abandon), then `queue3`, `queue4`…
    pub queues: usize,
    /// The first Uniqueid sequence number and Local channel number (0 in the recordings;
    /// `serve` gives each run its own block).
    pub first_id: u64,
    /// Hints, presence, mailboxes, and the agents and queues if not the fixtures' ones.
    pub directory: Directory,
}

impl PbxOptions {
    /// The fixtures' PBX: two agents, the `support` and `sales` queues.
    pub fn new(epoch: u64, seed: u64) -> PbxOptions {
        PbxOptions {
            epoch,
            seed,
            noise: true,
            agents: 2,
            queues: 2,
            first_id: 0,
            directory: Directory::none(),
        }
    }
}

/// `Agent One` … `Agent Ten`, then `Agent 11`: the fixtures' naming.
fn agent_name(n: usize) -> String {
    const WORDS: [&str; 10] = [
        "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine", "Ten",
    ];
    match WORDS.get(n.wrapping_sub(1)) {
        Some(word) => format!("Agent {word}"),
        None => format!("Agent {n}"),
    }
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
    /// Id of the parking lot's holding bridge (in `bridges`).
    parking_bridge: String,
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
    /// Recordings in progress (`MixMonitor`), oldest first.
    monitors: Vec<monitor::Monitor>,
    /// Recordings started so far (makes each `MixMonitorID` unique).
    next_monitor: u64,
    /// The last reported state number of each hint (`directory.phones` order).
    hint_states: Vec<i32>,
    /// Presence states, in `PresenceStateList` order.
    presence: Vec<Presence>,
    /// Voicemail boxes.
    mailboxes: Vec<Mailbox>,
    /// ConfBridge rooms, by name (`conf`).
    conferences: BTreeMap<String, conf::Room>,
    /// The messages in them, oldest first.
    voice_messages: Vec<VoiceMessage>,
    /// Asterisk's database (AstDB), by family and key (`astdb`).
    astdb: BTreeMap<(String, String), String>,
}

/// The call centre's agents' wrap-up after each call, in seconds (a member's
/// `wrapuptime` in queues.conf): no call is offered to them until it is over.
const CALL_CENTRE_WRAPUP_S: u32 = 10;

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
        let member = |n: usize| Member {
            name: agent_name(n),
            interface: format!("Local/agent{n}@agents/n"),
            state_interface: format!("Local/agent{n}@agents/n"),
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
            ringinuse: false,
            wrapuptime: 0,
        };
        let queue = |name: String, strategy: &str, members: Vec<Member>| Queue {
            name,
            strategy: strategy.into(),
            members,
            callers: Vec::new(),
            original_positions: HashMap::new(),
            stats: QueueStats::default(),
            service_level: 0,
            next_member: 0,
        };
        let agents = || (1..=opts.agents).map(member).collect::<Vec<_>>();
        let mut queues = vec![
            queue("support".into(), "rrmemory", agents()),
            queue("sales".into(), "ringall", Vec::new()),
        ];
        for i in 3..=opts.queues {
            queues.push(queue(format!("queue{i}"), "rrmemory", agents()));
        }
        let directory = &opts.directory;
        if !directory.queues.is_empty() {
            // The directory's agents are `Local/agentN@agents/n` members too (so that a
            // queue call dials them the same way) whose state follows their phone. They
            // signed in (QueueAdd): dynamic members, which can sign out.
            let agent = |i: usize, reason: Option<&String>| {
                let mut m = member(i + 1);
                m.dynamic = true;
                m.wrapuptime = CALL_CENTRE_WRAPUP_S;
                if let Some(a) = directory.agents.get(i) {
                    m.name.clone_from(&a.name);
                    m.state_interface.clone_from(&a.device);
                }
                if let Some(reason) = reason {
                    m.paused = true;
                    m.paused_reason.clone_from(reason);
                    m.last_pause = login;
                }
                m
            };
            queues = directory
                .queues
                .iter()
                .map(|q| {
                    let members = q
                        .members
                        .iter()
                        .map(|&i| agent(i, q.paused.iter().find(|(p, _)| *p == i).map(|(_, r)| r)))
                        .collect();
                    queue(q.name.clone(), &q.strategy, members)
                })
                .collect();
        }
        let mut device_state: BTreeMap<String, &'static str> = BTreeMap::new();
        for phone in &directory.phones {
            for device in phone.devices().filter(|d| !d.starts_with("Local/")) {
                device_state.insert(device.to_string(), "NOT_INUSE");
            }
        }
        for (device, state) in &directory.device_states {
            device_state.insert(device.clone(), hints::device_state_name(state));
        }
        let presence = directory.presence.clone();
        let mailboxes = directory.mailboxes.clone();
        let first_id = opts.first_id;
        let mut pbx = Pbx {
            rng: StdRng::seed_from_u64(opts.seed),
            opts,
            now_ms: 0,
            next_seq: first_id,
            // Local channel numbers are 8 hex digits: the block wraps within them.
            next_local: first_id as u32,
            next_call: 0,
            timer_seq: 0,
            channels: BTreeMap::new(),
            bridges: BTreeMap::new(),
            calls: HashMap::new(),
            queues,
            parked: Vec::new(),
            devices: HashMap::new(),
            device_state,
            globals: BTreeMap::new(),
            timers: BinaryHeap::new(),
            steps: HashMap::new(),
            out: Vec::new(),
            processed: 0,
            monitors: Vec::new(),
            next_monitor: 0,
            parking_bridge: String::new(),
            hint_states: Vec::new(),
            presence,
            mailboxes,
            conferences: BTreeMap::new(),
            voice_messages: Vec::new(),
            astdb: BTreeMap::new(),
        };
        pbx.seed_voice_messages();
        pbx.hint_states = pbx.hints().map(|(_, _, status)| status).collect();
        // The lot's holding bridge exists before any recorded call (no BridgeCreate).
        let lot = pbx.uuid();
        pbx.bridges.insert(
            lot.clone(),
            Bridge {
                id: lot.clone(),
                members: Vec::new(),
                created_ms: 0,
                parking: true,
                conference: None,
                hidden: 0,
            },
        );
        pbx.parking_bridge = lot;
        pbx
    }

    /// A queue for a new queue call: `support` or one of the extra queues, never `sales`.
    fn pick_queue(&mut self) -> usize {
        let extra = self.queues.len().saturating_sub(2) as u64;
        if extra == 0 {
            return 0;
        }
        match self.rand(0, extra) {
            0 => 0,
            i => 1 + i as usize,
        }
    }

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

    /// The queues with their members and waiting callers, as `QueueStatus` lists them.
    pub fn queues(&self) -> &[Queue] {
        &self.queues
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

    fn emit(&mut self, class: Classes, msg: MessageBuilder) {
        self.out.push(Event {
            class,
            msg: msg.build(),
        });
    }

    /// An event's first headers; the event is built in place from there (`emit`),
    /// as the load mode makes hundreds of thousands a second. The room fits a
    /// two-channel event (`DialBegin`, 30 headers, 800 bytes), so no buffer grows.
    fn head(name: &str, class: Classes) -> MessageBuilder {
        MessageBuilder::with_capacity(1024, 40)
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

    /// `DialState`/`DialEnd` of `caller` dialling `dest`, with its `DialStatus`.
    fn dial_event(&mut self, name: &str, caller: &str, dest: &str, status: &str) {
        self.two_chan_event(
            name,
            Classes::CALL,
            ("", caller),
            ("Dest", dest),
            &[("DialStatus", status)],
        );
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
        if let Some(ch) = self.ch(uid) {
            ch.set_var(var, value);
        }
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

    /// One `Cdr` record of channel `uid`: `peer` is the channel its dial reached
    /// (`DestinationChannel`), empty when none.
    fn cdr(
        &mut self,
        uid: &str,
        (dest, peer): (&str, &str),
        disposition: &str,
        answered_ms: Option<u64>,
    ) {
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
            .with("DestinationChannel", peer)
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
            self.hints_follow(device);
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
                vars: Vec::new(),
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
        self.spyee_gone(uid);
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
            self.monitors_gone(uid);
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
        // The member's half that never answered (`ami-session-3.txt`, support call 4).
        self.cdr(two, (&ex, ""), "FAILED", None);
        self.hangup_chan(two, 0, true);
    }

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
        self.bridge_create_for(None)
    }

    /// A new bridge, a conference's softmix bridge when `conference` names its room.
    fn bridge_create_for(&mut self, conference: Option<String>) -> String {
        let id = self.uuid();
        let bridge = Bridge {
            id: id.clone(),
            members: Vec::new(),
            created_ms: self.now_ms,
            parking: false,
            conference,
            hidden: 0,
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
        let extra = format!(
            "{{\"bridge_id\":\"{bid}\",\"bridge_technology\":\"{}\"}}",
            bridge.technology()
        );
        self.emit(Classes::CALL, msg);
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
        // A conference's bridge ends after its ConfbridgeEnd (`conf`).
        let empty = bridge.members.is_empty() && !bridge.parking && bridge.conference.is_none();
        let extra = format!(
            "{{\"bridge_id\":\"{bid}\",\"bridge_technology\":\"{}\"}}",
            bridge.technology()
        );
        self.emit(Classes::CALL, msg);
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
                // 230 rings and waits a minute; 201 and 202 ring a second, then answer.
                if call.target == Target::NoAnswer {
                    self.exten(&b2, &ex, 2, "Ringing", "");
                    self.exten(&b2, &ex, 3, "Wait", "60");
                } else {
                    self.exten(&b2, &ex, 3, "Ringing", "");
                    self.exten(&b2, &ex, 4, "Wait", "1");
                }
                self.set_state(&b1, ChanState::Ringing);
                if let Some(c) = &call.callee {
                    self.set_device_state(&c.device, "RINGING");
                }
                self.varset(&call.a1, "RINGTIME", "0");
                self.dial_event("DialState", &call.a1, &b1, "RINGING");
            }
            Step::DialAnswer(id) => self.dial_answer(id),
            Step::VoicemailSaved(id, uid, mailbox) => self.voicemail_saved(id, &uid, &mailbox),
            Step::ChainRinging(id) => self.chain_ringing(id),
            Step::ChainAnswer(id) => self.chain_answer(id),
            Step::DialFail(id) => self.dial_fail(id),
            Step::PhoneHangup(id) => self.phone_hangup(id, true),
            Step::CallerWait(id) => self.caller_wait(id),
            Step::DialplanEnd(id) => self.phone_hangup(id, false),
            Step::AgentHangup(id) => self.agent_hangup(id),
            Step::QueueOffer(id) => self.queue_offer(id),
            Step::QueueAnswer(id) => self.queue_answer(id),
            Step::QueueRingNoAnswer(id) => self.queue_ring_no_answer(id),
            Step::ParkTimeout(id) => self.park_timeout(id),
            Step::Dtmf(id, i) => self.dtmf(id, i),
            Step::HoldEnd(id) => self.hold_end(id),
            Step::ConfTalk(id, on) => self.conf_talk(id, on),
            Step::Unhold(uid, peer) => {
                self.chan_event("Unhold", Classes::CALL, &uid, &[]);
                if let Some(peer) = peer {
                    self.chan_event("MusicOnHoldStop", Classes::CALL, &peer, &[]);
                }
            }
        }
    }

    /// Restart: every call vanishes and Uniqueids continue from a new epoch (a fault switch).
    pub fn restart(&mut self, epoch: u64) {
        self.calls.clear();
        self.channels.clear();
        self.bridges.retain(|_, b| b.parking);
        for b in self.bridges.values_mut() {
            b.members.clear();
        }
        self.parked.clear();
        self.conferences.clear();
        self.monitors.clear();
        self.timers.clear();
        self.steps.clear();
        for q in &mut self.queues {
            q.callers.clear();
            q.original_positions.clear();
            for m in &mut q.members {
                (m.status, m.in_call) = (1, false);
            }
        }
        // app_queue's statistics live in memory: a restarted Asterisk counts from 0.
        self.queue_reset(None);
        // Channel devices start over; `Custom:` states and presence live in the astdb and
        // survive, as on Asterisk. Clients list hints again after they reconnect.
        self.devices.clear();
        self.device_state.retain(|d, _| !d.starts_with("Local/"));
        for (device, state) in self.device_state.iter_mut() {
            if !device.starts_with("Custom:") {
                *state = "NOT_INUSE";
            }
        }
        for (device, state) in &self.opts.directory.device_states {
            self.device_state
                .insert(device.clone(), hints::device_state_name(state));
        }
        self.hint_states = self.hints().map(|(_, _, status)| status).collect();
        self.opts.epoch = epoch.saturating_sub(self.now_ms / 1_000);
    }
}
