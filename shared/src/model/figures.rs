//! A queue's figures for the day and its alarm: what the wallboard shows, and what
//! turns a queue's card amber or red.
//!
//! Asterisk's own counters (`QueueParams`) start again at 0 when Asterisk restarts or
//! someone sends `QueueReset` (qpanel issue 113), so the relay keeps the day's counts
//! itself and writes them into [`Queue::day`]; a model the relay has not filled (a
//! replay, pbxsim's own) holds zeros there. [`evaluate`] is the one place a queue's
//! alarm is decided, from [`QueueThresholds`] (`[[server.queue_alarm]]` in the relay's
//! file) and the queue as it is now.

use serde::{Deserialize, Serialize};

use super::Queue;

/// A queue's figures since local midnight, Asterisk restarts included.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DayFigures {
    /// Calls answered by a member and ended.
    pub completed: u32,
    /// Callers who hung up (or timed out) before a member answered.
    pub abandoned: u32,
    /// Share of completed calls answered within the queue's service level, in percent
    /// (Asterisk's `ServicelevelPerf`, counted over the day).
    pub service_level_pct: f64,
    /// Share of the calls that left the queue that were abandoned, in percent.
    pub abandon_rate_pct: f64,
    /// Asterisk's average hold time (`Holdtime`), in seconds.
    pub avg_hold_s: u32,
    /// Asterisk's average talk time (`TalkTime`), in seconds.
    pub avg_talk_s: u32,
}

/// How alarming a queue is; ordered, so that the worst of several readings is `max`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum AlarmLevel {
    #[default]
    None,
    Amber,
    Red,
}

impl AlarmLevel {
    /// The name used in the page (`data-alarm`) and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmLevel::None => "none",
            AlarmLevel::Amber => "amber",
            AlarmLevel::Red => "red",
        }
    }
}

/// One queue's alarm thresholds (`[[server.queue_alarm]]`). Each reading has an amber
/// and a red level; a level left out never fires. A wait or a count at a level or above
/// it fires it; a service level below it does, once the day has a completed call (a
/// queue with no answered call yet is not failing its service level).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueThresholds {
    /// The queue's name, as Asterisk knows it.
    pub queue: String,
    /// The longest wait of a caller now, in seconds.
    pub wait_amber_s: Option<u32>,
    pub wait_red_s: Option<u32>,
    /// Callers waiting now.
    pub waiting_amber: Option<u32>,
    pub waiting_red: Option<u32>,
    /// The day's service level ([`DayFigures::service_level_pct`]), in percent.
    pub service_level_amber_pct: Option<f64>,
    pub service_level_red_pct: Option<f64>,
}

/// The level one reading reaches: red at or past `red`, else amber at or past `amber`;
/// `past` says what "past" means for that reading.
fn level(amber: Option<f64>, red: Option<f64>, past: impl Fn(f64) -> bool) -> AlarmLevel {
    if red.is_some_and(&past) {
        AlarmLevel::Red
    } else if amber.is_some_and(&past) {
        AlarmLevel::Amber
    } else {
        AlarmLevel::None
    }
}

/// The queue's alarm at `now_ms`: the worst of its longest wait, its callers waiting and
/// its day's service level against `thresholds`. The only place an alarm is decided:
/// the relay runs it every second and on every change of the queue.
pub fn evaluate(thresholds: &QueueThresholds, queue: &Queue, now_ms: i64) -> AlarmLevel {
    let longest_wait_s = queue
        .callers
        .values()
        .map(|caller| now_ms.saturating_sub(caller.joined_ms).max(0) / 1000)
        .max();
    let wait = longest_wait_s.map_or(AlarmLevel::None, |wait| {
        level(
            thresholds.wait_amber_s.map(f64::from),
            thresholds.wait_red_s.map(f64::from),
            |limit| wait as f64 >= limit,
        )
    });
    let waiting = queue.callers.len() as f64;
    let count = level(
        thresholds.waiting_amber.map(f64::from),
        thresholds.waiting_red.map(f64::from),
        |limit| waiting >= limit,
    );
    let service = if queue.day.completed == 0 {
        AlarmLevel::None
    } else {
        level(
            thresholds.service_level_amber_pct,
            thresholds.service_level_red_pct,
            |limit| queue.day.service_level_pct < limit,
        )
    };
    wait.max(count).max(service)
}

/// The abandon rate in percent of `abandoned` out of every call that left the queue.
pub fn abandon_rate(completed: u32, abandoned: u32) -> f64 {
    let ended = u64::from(completed) + u64::from(abandoned);
    if ended == 0 {
        0.0
    } else {
        one_decimal(100.0 * abandoned as f64 / ended as f64)
    }
}

/// A share rounded to one decimal, as Asterisk prints `ServicelevelPerf` (`%2.1f`).
pub fn one_decimal(share: f64) -> f64 {
    (share * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Caller;

    /// A queue with `waiting` callers, the first of whom joined `waited_s` before
    /// `NOW`, and a day of `completed` calls at `service_level_pct`.
    fn queue(waiting: u32, waited_s: i64, completed: u32, service_level_pct: f64) -> Queue {
        let mut queue = Queue {
            name: "support".into(),
            ..Queue::default()
        };
        for n in 0..waiting {
            let uniqueid = format!("1.{n}");
            let joined_ms = NOW - waited_s * 1000 + i64::from(n) * 1000;
            queue.callers.insert(
                uniqueid.clone(),
                Caller {
                    uniqueid,
                    joined_ms,
                    position: n + 1,
                    ..Caller::default()
                },
            );
        }
        queue.day.completed = completed;
        queue.day.service_level_pct = service_level_pct;
        queue
    }

    const NOW: i64 = 1_800_000_000_000;

    fn thresholds() -> QueueThresholds {
        QueueThresholds {
            queue: "support".into(),
            wait_amber_s: Some(30),
            wait_red_s: Some(60),
            waiting_amber: Some(3),
            waiting_red: Some(5),
            service_level_amber_pct: Some(80.0),
            service_level_red_pct: Some(60.0),
        }
    }

    #[test]
    fn the_longest_wait_turns_amber_and_red_at_its_levels() {
        let t = thresholds();
        for (waited, expected) in [
            (29, AlarmLevel::None),
            (30, AlarmLevel::Amber),
            (31, AlarmLevel::Amber),
            (59, AlarmLevel::Amber),
            (60, AlarmLevel::Red),
            (61, AlarmLevel::Red),
        ] {
            assert_eq!(
                evaluate(&t, &queue(1, waited, 0, 0.0), NOW),
                expected,
                "{waited} s"
            );
        }
        // 29.999 s is 29 whole seconds, as the wallboard shows it.
        let mut almost = queue(1, 30, 0, 0.0);
        for caller in almost.callers.values_mut() {
            caller.joined_ms += 1;
        }
        assert_eq!(evaluate(&t, &almost, NOW), AlarmLevel::None);
    }

    #[test]
    fn the_callers_waiting_turn_amber_and_red_at_their_levels() {
        let t = thresholds();
        for (waiting, expected) in [
            (0, AlarmLevel::None),
            (2, AlarmLevel::None),
            (3, AlarmLevel::Amber),
            (4, AlarmLevel::Amber),
            (5, AlarmLevel::Red),
            (6, AlarmLevel::Red),
        ] {
            // The first caller waited 10 s, below the wait's levels.
            assert_eq!(
                evaluate(&t, &queue(waiting, 10, 0, 0.0), NOW),
                expected,
                "{waiting}"
            );
        }
    }

    #[test]
    fn the_service_level_alarms_below_its_levels_once_a_call_completed() {
        let t = thresholds();
        for (share, expected) in [
            (80.1, AlarmLevel::None),
            (80.0, AlarmLevel::None),
            (79.9, AlarmLevel::Amber),
            (60.1, AlarmLevel::Amber),
            (60.0, AlarmLevel::Amber),
            (59.9, AlarmLevel::Red),
        ] {
            assert_eq!(
                evaluate(&t, &queue(0, 0, 1, share), NOW),
                expected,
                "{share}%"
            );
        }
        assert_eq!(
            evaluate(&t, &queue(0, 0, 0, 0.0), NOW),
            AlarmLevel::None,
            "no completed call yet"
        );
    }

    #[test]
    fn the_worst_reading_wins_and_a_missing_level_never_fires() {
        let t = thresholds();
        assert_eq!(evaluate(&t, &queue(3, 61, 1, 90.0), NOW), AlarmLevel::Red);
        assert_eq!(evaluate(&t, &queue(5, 10, 1, 70.0), NOW), AlarmLevel::Red);
        let amber_only = QueueThresholds {
            queue: "support".into(),
            wait_amber_s: Some(30),
            ..QueueThresholds::default()
        };
        assert_eq!(
            evaluate(&amber_only, &queue(9, 600, 9, 0.0), NOW),
            AlarmLevel::Amber
        );
        assert_eq!(
            evaluate(&QueueThresholds::default(), &queue(9, 600, 9, 0.0), NOW),
            AlarmLevel::None
        );
    }

    #[test]
    fn the_abandon_rate_is_a_share_of_the_calls_that_ended() {
        assert_eq!(abandon_rate(0, 0), 0.0);
        assert_eq!(abandon_rate(3, 2), 40.0);
        assert_eq!(abandon_rate(2, 1), 33.3);
        assert_eq!(abandon_rate(0, 4), 100.0);
    }
}
