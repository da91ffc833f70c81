//! Load mode: virtual time runs as fast as the readers (or a cap) allow, with `UserEvent`s
//! that carry their wall-clock send time for latency measurements.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use shared::ami::{Classes, MessageBuilder};
use tokio::sync::watch;
use tracing::debug;

use crate::pbx::Event;
use crate::state::{Core, stopped};
use crate::traffic::Generator;

/// The `UserEvent:` name of a stamp.
pub const STAMP_EVENT: &str = "LoadStamp";

/// Inserts a stamp after every `every` events: `Event: UserEvent`, `UserEvent: LoadStamp`,
/// `Seq` (from 1) and `SentUs` (microseconds since the epoch when it is handed to the
/// sessions), so that a client that sees it can tell how long it took to arrive.
struct Stamps {
    every: u32,
    since: u32,
    seq: u64,
}

impl Stamps {
    fn new(every: u32) -> Stamps {
        Stamps {
            every,
            since: 0,
            seq: 0,
        }
    }

    fn insert(&mut self, events: Vec<Event>) -> Vec<Event> {
        if self.every == 0 {
            return events;
        }
        let mut out = Vec::with_capacity(events.len() + events.len() / self.every as usize + 1);
        for ev in events {
            out.push(ev);
            self.since += 1;
            if self.since >= self.every {
                self.since = 0;
                self.seq += 1;
                out.push(stamp(self.seq));
            }
        }
        out
    }
}

/// One stamp, timed now.
fn stamp(seq: u64) -> Event {
    let sent_us = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    let msg = MessageBuilder::new()
        .with("Event", "UserEvent")
        .with("Privilege", Classes::USER.privilege())
        .with("UserEvent", STAMP_EVENT)
        .with("Seq", seq.to_string())
        .with("SentUs", sent_us.to_string())
        .build();
    Event {
        class: Classes::USER,
        msg,
    }
}

/// Load mode: virtual time runs as fast as the slowest session reads, optionally capped.
pub(crate) async fn drive(core: &Core, stop: &mut watch::Receiver<bool>, cap: Option<u64>) {
    // A batch is at most 512 events, and about 5 ms worth under a cap, so that a stamp's
    // send time is close to when its neighbours go out.
    let batch = cap.map_or(512, |c| (c / 200).clamp(1, 512) as usize);
    let mut stamps = Stamps::new(core.config.stamp_every);
    // 600 calls a virtual minute keeps ~200 calls up: a busy call centre, small maps.
    let mut generator = Generator::new(core.config.seed, 600.0);
    let high_water = core.config.max_lag_events / 2;
    let mut started = Instant::now();
    let mut sent: u64 = 0;
    loop {
        if *stop.borrow() {
            return;
        }
        if core.config.faults.traffic_held() {
            let held = Instant::now();
            tokio::select! {
                _ = stopped(stop) => return,
                _ = tokio::time::sleep(crate::fault::POLL) => {}
            }
            // The cap counts from the release, not in a burst that makes up for the hold.
            started += held.elapsed();
            continue;
        }
        let events = {
            let mut pbx = core.lock();
            while pbx.pending() < batch {
                let next = pbx.next_due().unwrap_or(u64::MAX).min(generator.next_ms());
                pbx.advance_to(next);
                generator.run_due(&mut pbx);
            }
            pbx.drain()
        };
        let events = stamps.insert(events);
        sent += events.len() as u64;
        core.publish(events);
        // Backpressure: wait while the slowest reader is half a buffer behind, but not for
        // ever, so that a client that stopped reading is dropped by the lag bound instead.
        let waited = Instant::now();
        while core.events.len() > high_water && waited.elapsed() < Duration::from_secs(2) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        if let Some(cap) = cap {
            let due = Duration::from_secs_f64(sent as f64 / cap.max(1) as f64);
            if let Some(ahead) = due.checked_sub(started.elapsed()) {
                tokio::time::sleep(ahead).await;
            }
        }
        tokio::task::yield_now().await;
        if core.events.receiver_count() == 0 {
            debug!("load mode idle: no session");
            tokio::select! {
                _ = stopped(stop) => return,
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::ami::Message;

    fn events(n: usize) -> Vec<Event> {
        (0..n)
            .map(|_| Event {
                class: Classes::CALL,
                msg: Message::new().with("Event", "Newstate"),
            })
            .collect()
    }

    #[test]
    fn a_stamp_follows_every_nth_event_across_batches() {
        let mut stamps = Stamps::new(3);
        let first = stamps.insert(events(2));
        assert_eq!(first.len(), 2, "N-1 events: no stamp yet");
        let second = stamps.insert(events(1));
        assert_eq!(second.len(), 2, "the Nth event brings one");
        let third = stamps.insert(events(4));
        assert_eq!(third.len(), 5, "N+1 more events: one more");
        let stamp = &second[1].msg;
        assert_eq!(stamp.get_str("UserEvent").as_deref(), Some(STAMP_EVENT));
        assert_eq!(stamp.get_str("Seq").as_deref(), Some("1"));
        assert!(stamp.get_str("SentUs").is_some_and(|us| us.len() >= 16));
        assert_eq!(Stamps::new(0).insert(events(5)).len(), 5);
    }
}
