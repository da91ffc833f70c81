//! The seeded traffic generator: a call centre whose callers ring the test dialplan's extensions.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::pbx::{Pbx, Target};

/// The call mix, weighted like the recorded traffic (mostly bridged and queue calls).
const MIX: &[(Target, u32)] = &[
    (Target::Bridged, 30),
    (Target::Queue, 20),
    (Target::QueueAbandon, 3),
    (Target::Busy, 4),
    (Target::Congested, 2),
    (Target::NoAnswer, 2),
    (Target::Park, 4),
    (Target::ParkPickup, 2),
    (Target::Echo, 2),
    (Target::Playback, 3),
    (Target::Dtmf, 3),
    (Target::ChanSpy, 2),
    (Target::MixMonitor, 3),
    (Target::UserEvent, 3),
    (Target::AccountCode, 2),
    (Target::Hangup17, 2),
    (Target::LocalChain, 2),
];

/// Starts calls at a mean rate, with its own seeded generator so that the sequence of
/// calls depends only on the seed.
pub struct Generator {
    rng: StdRng,
    /// Mean gap between arrivals, virtual ms.
    mean_gap_ms: f64,
    next_ms: u64,
    caller_no: u32,
}

impl Generator {
    /// A generator of `calls_per_minute` (at least one call per ten minutes).
    pub fn new(seed: u64, calls_per_minute: f64) -> Generator {
        let mean_gap_ms = 60_000.0 / calls_per_minute.max(0.1);
        Generator {
            rng: StdRng::seed_from_u64(seed ^ 0x5eed),
            mean_gap_ms,
            next_ms: 0,
            caller_no: 0,
        }
    }

    /// Virtual time of the next arrival.
    pub fn next_ms(&self) -> u64 {
        self.next_ms
    }

    /// Starts every call due by `pbx.now_ms()`.
    pub fn run_due(&mut self, pbx: &mut Pbx) {
        while self.next_ms <= pbx.now_ms() {
            self.start_call(pbx);
            // Exponential gaps, as for a Poisson arrival process.
            let u: f64 = self.rng.random_range(0.001..1.0);
            self.next_ms += (-u.ln() * self.mean_gap_ms).max(1.0) as u64;
        }
    }

    /// Starts one call now, whatever the schedule says (the demo's trickle uses it).
    pub fn start_call(&mut self, pbx: &mut Pbx) {
        let total: u32 = MIX.iter().map(|(_, w)| w).sum();
        let mut pick = self.rng.random_range(0..total);
        let target = MIX
            .iter()
            .find(|(_, w)| {
                if pick < *w {
                    true
                } else {
                    pick -= w;
                    false
                }
            })
            .map_or(Target::Bridged, |(t, _)| *t);
        self.caller_no = self.caller_no % 899 + 1;
        let mut num = format!("{}", 1100 + self.caller_no);
        let mut name = format!("Caller {:02}", self.caller_no);
        // In the call centre, calls other than queue calls are made from a desk phone, and a
        // bridged call rings another desk; queue callers stay outside callers.
        let desks = pbx.free_desk_phones();
        let inside = desks.len() >= 2 && !matches!(target, Target::Queue | Target::QueueAbandon);
        let mut caller_device = None;
        let mut callee = None;
        if inside {
            let n = desks.len();
            let from = self.rng.random_range(0..n);
            (num, name) = (desks[from].0.clone(), desks[from].1.clone());
            caller_device = Some(desks[from].2.clone());
            if target == Target::Bridged {
                callee = Some(desks[(from + self.rng.random_range(1..n.max(2))) % n].clone());
            }
        }
        let phone = if self.rng.random_bool(0.5) {
            "100"
        } else {
            "101"
        };
        let duration = self.rng.random_range(5..=30);
        let action_id = format!("t-{:03}", self.caller_no);
        let a1 = pbx.originate(phone, target, (&num, &name), duration, Some(&action_id));
        // One queue call in fifteen finds agents slow to answer (`__AGENT_DELAY=18`, past the
        // queue's 15 s timeout), as in the recorded traffic.
        if target == Target::Queue && self.rng.random_ratio(1, 15) {
            pbx.set_agent_delay(&a1, 18);
        }
        if inside {
            let callee = callee
                .as_ref()
                .map(|(num, name, device)| (num.as_str(), name.as_str(), device.as_str()));
            pbx.attach_desk_phones(&a1, caller_device.as_deref(), callee);
        }
        // Desks are busy between calls too: holds, transfers, presence, voicemail.
        if !pbx.desk_phones().is_empty() && self.rng.random_ratio(1, 3) {
            pbx.desk_trickle();
        }
        // And the call centre keeps a conference room with people in it.
        if !pbx.desk_phones().is_empty() && self.rng.random_ratio(1, 4) {
            pbx.conf_trickle();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pbx::PbxOptions;

    fn run(seed: u64) -> Vec<Vec<u8>> {
        let mut pbx = Pbx::new(PbxOptions::new(1_795_418_000, seed));
        let mut generator = Generator::new(seed, 60.0);
        let mut out = Vec::new();
        for t in (0..120_000).step_by(100) {
            pbx.advance_to(t);
            generator.run_due(&mut pbx);
            out.extend(pbx.drain().into_iter().map(|e| e.msg.to_bytes().to_vec()));
        }
        out
    }

    /// The demo's calls are not all answered (issue 24's missed calls): in ten minutes
    /// of traffic, the caller's `Cdr` record of some calls says `BUSY`, `FAILED` or
    /// `NO ANSWER`, as the call history reads it.
    #[test]
    fn the_traffic_leaves_unanswered_calls_now_and_then() {
        let mut pbx = Pbx::new(PbxOptions::new(1_795_418_000, 7));
        let mut generator = Generator::new(7, 30.0);
        let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
        for t in (0..600_000).step_by(100) {
            pbx.advance_to(t);
            generator.run_due(&mut pbx);
            for event in pbx.drain() {
                let m = &event.msg;
                let callers = m.event_name() == Some(b"Cdr")
                    && m.get_str("Channel").is_some_and(|c| c.ends_with(";1"))
                    && m.get_str("LastApplication")
                        .is_some_and(|a| a == "Dial" || a == "Queue");
                if callers && let Some(d) = m.get_str("Disposition") {
                    *outcomes.entry(d.into_owned()).or_default() += 1;
                }
            }
        }
        for missed in ["BUSY", "FAILED", "NO ANSWER"] {
            assert!(
                outcomes.get(missed).is_some_and(|n| *n > 0),
                "no {missed} call in ten minutes: {outcomes:?}"
            );
        }
        assert!(
            outcomes.get("ANSWERED").is_some_and(|n| *n > 0),
            "{outcomes:?}"
        );
    }

    #[test]
    fn same_seed_same_events() {
        let a = run(42);
        assert!(
            a.len() > 1_000,
            "two minutes at 60 calls/min gave only {} events",
            a.len()
        );
        assert_eq!(a, run(42));
        assert_ne!(a, run(43));
    }
}

#[cfg(test)]
mod leak_tests {
    use super::*;
    use crate::pbx::PbxOptions;

    #[test]
    fn every_call_ends_and_leaves_nothing_behind() {
        for seed in [1, 2] {
            let mut pbx = Pbx::new(PbxOptions::new(1_795_418_000, seed));
            let mut generator = Generator::new(seed, 30.0);
            // Twenty minutes of traffic, then ten quiet minutes for the last calls to end.
            for t in (0..1_200_000).step_by(500) {
                pbx.advance_to(t);
                generator.run_due(&mut pbx);
                pbx.drain();
            }
            assert!(
                pbx.processed_calls() > 400,
                "seed {seed}: only {} calls",
                pbx.processed_calls()
            );
            pbx.advance_to(1_800_000);
            pbx.drain();
            let left: Vec<String> = pbx
                .channels()
                .map(|c| format!("{} ({})", c.name, c.app))
                .collect();
            assert!(left.is_empty(), "seed {seed}: channels left: {left:?}");
            assert!(
                pbx.bridges().all(|b| b.parking && b.members.is_empty()),
                "seed {seed}: bridges left besides the empty parking lot"
            );
            assert_eq!(pbx.calls_in_flight(), 0, "seed {seed}: calls left");
            assert!(pbx.parked.is_empty(), "seed {seed}: parked calls left");
            assert!(
                pbx.queues.iter().all(|q| q.callers.is_empty()),
                "seed {seed}: queue callers left"
            );
            assert!(
                pbx.device_states().all(|(_, s)| *s == "NOT_INUSE"),
                "seed {seed}: devices still in use: {:?}",
                pbx.device_states()
                    .filter(|(_, s)| **s != "NOT_INUSE")
                    .collect::<Vec<_>>()
            );
        }
    }
}

#[cfg(test)]
mod call_centre_tests {
    use super::*;
    use crate::directory::Directory;
    use crate::pbx::PbxOptions;
    use std::collections::BTreeSet;

    #[test]
    fn the_call_centre_churns_and_every_desk_is_free_at_the_end() {
        let mut pbx = Pbx::new(PbxOptions {
            directory: Directory::call_centre(),
            ..PbxOptions::new(1_795_418_000, 5)
        });
        let mut generator = Generator::new(5, 20.0);
        let mut names = BTreeSet::new();
        let mut hinted = BTreeSet::new();
        for t in (0..1_200_000).step_by(500) {
            pbx.advance_to(t);
            generator.run_due(&mut pbx);
            for ev in pbx.drain() {
                let name = ev.msg.get_str("Event").unwrap_or_default().into_owned();
                if name == "ExtensionStatus" {
                    hinted.insert(
                        ev.msg
                            .get_str("StatusText")
                            .unwrap_or_default()
                            .into_owned(),
                    );
                }
                names.insert(name);
            }
        }
        for wanted in [
            "ExtensionStatus",
            "Hold",
            "Unhold",
            "BlindTransfer",
            "ParkedCall",
            "AgentConnect",
            "PresenceStatus",
            "PresenceStateChange",
            "MessageWaiting",
            "ConfbridgeStart",
            "ConfbridgeJoin",
            "ConfbridgeTalking",
            "ConfbridgeLeave",
        ] {
            assert!(names.contains(wanted), "no {wanted} in twenty minutes");
        }
        for state in ["Idle", "InUse", "Ringing", "Hold"] {
            assert!(hinted.contains(state), "no hint went {state}: {hinted:?}");
        }
        pbx.advance_to(1_800_000);
        pbx.drain();
        assert_eq!(pbx.calls_in_flight(), 0);
        assert!(pbx.conferences().is_empty(), "a room outlived its people");
        let busy: Vec<(String, i32)> = pbx
            .hints()
            .filter(|(_, _, s)| *s != 0 && *s != 4)
            .map(|(p, _, s)| (p.exten.clone(), s))
            .collect();
        assert!(busy.is_empty(), "desks still busy: {busy:?}");
        let unregistered = pbx.hints().filter(|(_, _, s)| *s == 4).count();
        assert_eq!(unregistered, 2, "unregistered phones never call");
    }

    #[test]
    fn a_restart_frees_every_desk_but_keeps_presence() {
        let mut pbx = Pbx::new(PbxOptions {
            directory: Directory::call_centre(),
            ..PbxOptions::new(1_795_418_000, 6)
        });
        let mut generator = Generator::new(6, 60.0);
        for t in (0..120_000).step_by(500) {
            pbx.advance_to(t);
            generator.run_due(&mut pbx);
        }
        assert!(
            pbx.hints().any(|(_, _, s)| s != 0 && s != 4),
            "desks in use"
        );
        let presence: Vec<String> = pbx.presences().map(|p| p.state.clone()).collect();
        pbx.restart(1_795_419_000);
        pbx.drain();
        assert!(pbx.hints().all(|(_, _, s)| s == 0 || s == 4));
        assert_eq!(pbx.hints().filter(|(_, _, s)| *s == 4).count(), 2);
        let after: Vec<String> = pbx.presences().map(|p| p.state.clone()).collect();
        assert_eq!(presence, after);
        assert!(
            pbx.queues
                .iter()
                .all(|q| q.members.iter().all(|m| m.status == 1))
        );
    }
}
