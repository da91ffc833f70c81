//! Which `Cdr` record is a call a person recognises, and what of it the history keeps.
//!
//! Asterisk writes one `Cdr` per CDR record, and a call has several (`ami-session-3.txt`):
//! both halves of each Local pair have one, and the caller's channel gets a second after
//! its `Dial` returns (`LastApplication: Hangup`, `Disposition: ANSWERED`, 0 s, whatever
//! the dial's outcome). The record of the caller's channel with the dial (or `Queue`) is the
//! call: it names the caller (`Source`), the number dialled (`Destination`), the outcome
//! (`NO ANSWER` for a queue caller who hung up while an agent rang) and the queue. So:
//! a Local `;2` half is the far end of a pair (the dialled side, or an originate's own
//! phone half), never a call of its own; and of one channel's records the first wins,
//! by its `UniqueID`, which is also what keeps a record from being stored twice.

use shared::ami::Message;

/// One call as the history stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallRecord {
    pub server: String,
    /// The caller's channel's `UniqueID`: with `server`, the call's key.
    pub uniqueid: String,
    pub start_ms: i64,
    pub from: String,
    pub from_name: String,
    pub to: String,
    /// The caller's channel, and the channel it reached (`DestinationChannel`): who the
    /// call was with, for "my calls".
    pub channel: String,
    pub dest_channel: String,
    pub duration_s: i64,
    pub disposition: String,
    pub queue: String,
}

/// Asterisk's word for an answered call; every other disposition is unanswered.
pub const ANSWERED: &str = "ANSWERED";

impl CallRecord {
    /// The call `message` records, if it is a `Cdr` of a caller's channel (see the module
    /// docs); `None` for other events and for the far halves of Local pairs.
    pub fn from_cdr(server: &str, message: &Message) -> Option<CallRecord> {
        if !message
            .event_name()
            .is_some_and(|e| e.eq_ignore_ascii_case(b"Cdr"))
        {
            return None;
        }
        let text = |key: &str| {
            message
                .get_str(key)
                .map(|v| v.trim().to_owned())
                .unwrap_or_default()
        };
        let uniqueid = text("UniqueID");
        let channel = text("Channel");
        if uniqueid.is_empty() || is_far_local_half(&channel) {
            return None;
        }
        let queue = if text("LastApplication").eq_ignore_ascii_case("Queue") {
            text("LastData")
                .split(',')
                .next()
                .unwrap_or_default()
                .to_owned()
        } else {
            String::new()
        };
        let start_ms = parse_time(&text("StartTime")).unwrap_or(0);
        Some(CallRecord {
            server: server.to_owned(),
            uniqueid,
            start_ms,
            from: text("Source"),
            from_name: caller_name(&text("CallerID")),
            to: text("Destination"),
            channel,
            dest_channel: text("DestinationChannel"),
            duration_s: text("Duration").parse().unwrap_or(0),
            disposition: text("Disposition"),
            queue,
        })
    }

    /// Whether nobody answered.
    pub fn unanswered(&self) -> bool {
        self.disposition != ANSWERED
    }
}

/// `Local/201@test-00000016;2`: the half of a Local pair that runs the dialled
/// extension's dialplan.
fn is_far_local_half(channel: &str) -> bool {
    channel.starts_with("Local/") && channel.ends_with(";2")
}

/// The name of `"CDR Busy" <8002>`; empty for a bare number.
fn caller_name(callerid: &str) -> String {
    match callerid.split_once('<') {
        Some((name, _)) => name.trim().trim_matches('"').to_owned(),
        None => String::new(),
    }
}

/// `2026-12-07 21:10:22` (cdr_manager's format, Asterisk's local time) as ms since the
/// epoch, read as UTC: the relay cannot know the PBX's time zone.
pub fn parse_time(text: &str) -> Option<i64> {
    let (date, time) = text.split_once(' ')?;
    let mut d = date.splitn(3, '-').map(str::parse::<i64>);
    let (year, month, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let mut t = time.splitn(3, ':').map(str::parse::<i64>);
    let (hour, minute, second) = (t.next()?.ok()?, t.next()?.ok()?, t.next()?.ok()?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1_000)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `Cdr` events of `ami-session-3.txt`, in order.
    fn recorded() -> Vec<Message> {
        use shared::ami::{Frame, Parser};
        let mut buf = bytes::BytesMut::from(&testkit::fixture("ami-session-3.recv.raw")[..]);
        let mut parser = Parser::new().expecting_banner();
        let mut cdrs = Vec::new();
        while let Some(frame) = parser.next_frame(&mut buf) {
            if let Frame::Message(m) = frame
                && m.event_name() == Some(b"Cdr")
            {
                cdrs.push(m);
            }
        }
        assert_eq!(cdrs.len(), 52, "the README counts 52");
        cdrs
    }

    fn calls() -> Vec<CallRecord> {
        let mut seen = std::collections::HashSet::new();
        recorded()
            .iter()
            .filter_map(|m| CallRecord::from_cdr("pbx", m))
            .filter(|c| seen.insert(c.uniqueid.clone()))
            .collect()
    }

    #[test]
    fn each_recorded_outcome_is_one_call_with_its_disposition() {
        let calls = calls();
        let by_from =
            |from: &str| -> Vec<&CallRecord> { calls.iter().filter(|c| c.from == from).collect() };
        for (from, to, disposition, duration) in [
            ("8001", "200", "ANSWERED", 3),
            ("8002", "211", "BUSY", 0),
            ("8003", "221", "FAILED", 0),
            ("8004", "231", "NO ANSWER", 5),
        ] {
            let mine = by_from(from);
            assert_eq!(mine.len(), 1, "{from}: {mine:?}");
            assert_eq!(mine[0].to, to);
            assert_eq!(mine[0].disposition, disposition, "{from}");
            assert_eq!(mine[0].duration_s, duration, "{from}");
            assert!(mine[0].channel.ends_with(";1"), "{from}");
        }
        let answered = by_from("8001")[0];
        assert_eq!(answered.from_name, "CDR Answered");
        assert_eq!(answered.dest_channel, "Local/201@test-00000016;1");
        assert_eq!(
            answered.start_ms,
            parse_time("2026-12-07 21:10:09").expect("a time")
        );
    }

    #[test]
    fn a_queue_call_abandoned_while_an_agent_rang_is_unanswered_in_its_queue() {
        let calls = calls();
        let abandoned = calls
            .iter()
            .find(|c| c.from == "7204")
            .expect("Support Caller 4");
        assert_eq!(abandoned.queue, "support");
        assert_eq!(abandoned.disposition, "NO ANSWER");
        assert!(abandoned.unanswered());
        let answered = calls.iter().find(|c| c.from == "7101").expect("sales 1");
        assert_eq!(answered.queue, "sales");
        assert!(!answered.unanswered());
        // No agent's Local half is a call of its own.
        assert!(calls.iter().all(|c| !c.channel.contains("agent")));
    }

    #[test]
    fn times_are_read_as_utc() {
        assert_eq!(parse_time("1970-01-01 00:00:01"), Some(1_000));
        assert_eq!(parse_time("2026-12-07 21:10:22"), Some(1_796_677_822_000));
        assert_eq!(parse_time(""), None);
        assert_eq!(parse_time("2026-13-07 21:10:22"), None);
    }
}
