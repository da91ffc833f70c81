//! The call history as a login may read it: the one rule of "my calls" and "my missed
//! calls", the query's checks, the seen marker and the badge's count.
//!
//! An agent sees the calls of their own phone (by [`shared::model::Phone`], the same
//! "my phone" the agent view and `control::scope` use: its device and the queue member
//! interfaces it is rung through) and the calls missed in a queue they are in. A
//! supervisor, an admin and an AMI account logged in with its secret see every call of
//! the server. A call is missed when nobody answered it and it came to the reader: to
//! their phone or a queue they are in (an agent), to anyone (everyone else); a call an
//! agent made that nobody answered is theirs, not missed. The phone and the memberships
//! are the live model's now: an agent who left a queue no longer sees the calls missed
//! in it.

use shared::ami::Classes;
use shared::model::{Phone, ServerModel};
use shared::protocol::{HISTORY_UNSEEN_CAP, HistoryCall, HistoryPage};

use super::{Login, Service};
use crate::history::record::{ANSWERED, days_from_civil};
use crate::history::{CallRecord, Filter, HistoryError, StoredCall};

/// Calls in a page when the request names no `limit`.
pub const DEFAULT_LIMIT: usize = 100;

/// The most calls one page holds.
pub const MAX_LIMIT: usize = 1_000;

/// How many of the newest calls after a seen marker are looked at for the badge.
const UNSEEN_SCAN: usize = 10_000;

/// The dispositions Asterisk writes (cdr.conf may turn `congestion` on).
pub const DISPOSITIONS: &[&str] = &[ANSWERED, "NO ANSWER", "BUSY", "FAILED", "CONGESTION"];

/// A request for a page, as the API's query string has it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HistoryQuery {
    pub limit: Option<usize>,
    pub before: Option<i64>,
    pub missed: bool,
    /// `YYYY-MM-DD` (UTC).
    pub day: Option<String>,
    /// Part of the caller's or the dialled number.
    pub number: Option<String>,
    pub disposition: Option<String>,
}

/// Why a page is not given.
#[derive(Debug, thiserror::Error)]
pub enum HistoryRefusal {
    /// The request does not make sense: the words say which parameter.
    #[error("{0}")]
    BadRequest(String),
    /// The login may not read calls.
    #[error("{0}")]
    Forbidden(&'static str),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] HistoryError),
}

/// Whose calls a reader sees.
enum Reader {
    Everyone,
    /// An agent: their extension, and the model their phone is read from.
    Agent {
        exten: String,
        model: Box<ServerModel>,
    },
}

impl Reader {
    fn of(login: &Login) -> Reader {
        match login.agent_extension() {
            Some(exten) => Reader::Agent {
                exten: exten.to_owned(),
                model: Box::new(login.server().with_model(Clone::clone)),
            },
            None => Reader::Everyone,
        }
    }

    /// `(shown, missed)` of `call` for this reader.
    fn sees(&self, call: &CallRecord) -> (bool, bool) {
        match self {
            Reader::Everyone => (true, call.unanswered()),
            Reader::Agent { exten, model } => {
                let phone = model.phone(exten);
                let missed = call.unanswered() && came_to(call, exten, &phone, model);
                (missed || is_phones(call, exten, &phone), missed)
            }
        }
    }
}

/// Whether the call was from or to extension `exten`'s phone.
fn is_phones(call: &CallRecord, exten: &str, phone: &Phone<'_>) -> bool {
    !exten.is_empty()
        && (call.from == exten
            || call.to == exten
            || phone.names(&call.channel)
            || phone.names(&call.dest_channel))
}

/// Whether the call came to `exten`'s phone or through a queue it is a member of.
fn came_to(call: &CallRecord, exten: &str, phone: &Phone<'_>, model: &ServerModel) -> bool {
    if exten.is_empty() {
        return false;
    }
    let in_queue = !call.queue.is_empty()
        && model
            .queues
            .get(&call.queue)
            .is_some_and(|q| q.members.keys().any(|interface| phone.names(interface)));
    in_queue || call.to == exten || phone.names(&call.dest_channel)
}

/// The account a seen marker belongs to: a relay account, or an AMI account.
fn account_of(login: &Login) -> String {
    match login.role() {
        Some(_) => format!("user:{}", login.display_name()),
        None => format!("ami:{}", login.ami_user()),
    }
}

/// The store's filter for `query` on the login's server, or what is wrong with it.
fn filter_of(login: &Login, query: &HistoryQuery) -> Result<(Filter, usize), HistoryRefusal> {
    let bad = |words: String| HistoryRefusal::BadRequest(words);
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(bad(format!("limit must be 1 to {MAX_LIMIT}, not {limit}")));
    }
    if query.before.is_some_and(|id| id < 1) {
        return Err(bad("before must be a call id (1 or more)".into()));
    }
    let started = match query.day.as_deref().filter(|d| !d.is_empty()) {
        Some(day) => Some(
            day_range(day)
                .ok_or_else(|| bad(format!("day must be a date as YYYY-MM-DD, not {day:?}")))?,
        ),
        None => None,
    };
    let disposition = match query.disposition.as_deref().filter(|d| !d.is_empty()) {
        Some(d) => {
            let upper = d.to_ascii_uppercase();
            if !DISPOSITIONS.contains(&upper.as_str()) {
                return Err(bad(format!(
                    "disposition must be one of {}, not {d:?}",
                    DISPOSITIONS.join(", ")
                )));
            }
            Some(upper)
        }
        None => None,
    };
    let number = query
        .number
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty());
    if number.is_some_and(|n| n.len() > 80) {
        return Err(bad("number is longer than 80 characters".into()));
    }
    Ok((
        Filter {
            server: login.server().name().to_owned(),
            before: query.before,
            started,
            number: number.map(str::to_owned),
            disposition,
            unanswered: query.missed,
            after: None,
        },
        limit,
    ))
}

/// `[start, end)` of a UTC day, in ms.
fn day_range(day: &str) -> Option<(i64, i64)> {
    let mut parts = day.splitn(3, '-');
    let year: i64 = parts.next().filter(|y| y.len() == 4)?.parse().ok()?;
    let month: i64 = parts.next().filter(|m| m.len() == 2)?.parse().ok()?;
    let date: i64 = parts.next().filter(|d| d.len() == 2)?.parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&date) {
        return None;
    }
    let start = days_from_civil(year, month, date) * 86_400_000;
    Some((start, start + 86_400_000))
}

fn may_read(login: &Login) -> Result<(), HistoryRefusal> {
    if login.read().contains(Classes::CALL) {
        Ok(())
    } else {
        Err(HistoryRefusal::Forbidden(
            "the call history needs the call read class",
        ))
    }
}

impl Service {
    /// A page of the call history as `login` may read it, newest first, with the count
    /// of missed calls the login has not seen.
    pub async fn history(
        &self,
        login: &Login,
        query: &HistoryQuery,
    ) -> Result<HistoryPage, HistoryRefusal> {
        may_read(login)?;
        let (filter, limit) = filter_of(login, query)?;
        let reader = std::sync::Arc::new(Reader::of(login));
        let history = &self.inner.history;
        let only_missed = query.missed;
        let keeper = reader.clone();
        let calls = history
            .page(filter.clone(), limit, usize::MAX, move |call| {
                let (shown, missed) = keeper.sees(&call.record);
                shown && (missed || !only_missed)
            })
            .await?;
        let calls = calls
            .into_iter()
            .map(|call| {
                let missed = reader.sees(&call.record).1;
                to_wire(call, missed)
            })
            .collect();
        // The badge's count is the first page's: paging on does not count again.
        if query.before.is_some() {
            return Ok(HistoryPage {
                calls,
                unseen_missed: 0,
            });
        }
        let seen = history.seen(account_of(login)).await?;
        let unseen = Filter {
            server: filter.server,
            unanswered: true,
            after: Some(seen),
            ..Filter::default()
        };
        let counter = reader.clone();
        let unseen_missed = history
            .page(
                unseen,
                HISTORY_UNSEEN_CAP as usize,
                UNSEEN_SCAN,
                move |call| counter.sees(&call.record).1,
            )
            .await?
            .len();
        Ok(HistoryPage {
            calls,
            unseen_missed: u32::try_from(unseen_missed).unwrap_or(HISTORY_UNSEEN_CAP),
        })
    }

    /// Marks the calls up to `id` seen by the login's account: the badge counts only
    /// missed calls after it.
    pub async fn history_seen(&self, login: &Login, id: i64) -> Result<(), HistoryRefusal> {
        may_read(login)?;
        if id < 0 {
            return Err(HistoryRefusal::BadRequest(
                "id must be a call id (0 or more)".into(),
            ));
        }
        Ok(self.inner.history.set_seen(account_of(login), id).await?)
    }
}

fn to_wire(call: StoredCall, missed: bool) -> HistoryCall {
    let r = call.record;
    HistoryCall {
        id: call.id,
        start_ms: r.start_ms,
        from: r.from,
        from_name: r.from_name,
        to: r.to,
        duration_s: r.duration_s,
        disposition: r.disposition,
        queue: r.queue,
        missed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(from: &str, to: &str, channel: &str, disposition: &str, queue: &str) -> CallRecord {
        CallRecord {
            server: "demo".into(),
            uniqueid: format!("{from}-{to}-{channel}"),
            start_ms: 0,
            from: from.into(),
            from_name: String::new(),
            to: to.into(),
            channel: channel.into(),
            dest_channel: String::new(),
            duration_s: 0,
            disposition: disposition.into(),
            queue: queue.into(),
        }
    }

    fn agent_model() -> ServerModel {
        let mut model = ServerModel::default();
        let mut queue = shared::model::Queue {
            name: "support".into(),
            ..Default::default()
        };
        queue.members.insert(
            "Local/agent1@agents/n".into(),
            shared::model::Member {
                interface: "Local/agent1@agents/n".into(),
                state_interface: "PJSIP/1001".into(),
                ..Default::default()
            },
        );
        model.queues.insert("support".into(), queue);
        let other = shared::model::Queue {
            name: "sales".into(),
            ..Default::default()
        };
        model.queues.insert("sales".into(), other);
        model
    }

    #[test]
    fn an_agent_sees_their_phone_and_misses_only_what_came_to_them() {
        let reader = Reader::Agent {
            exten: "1001".into(),
            model: Box::new(agent_model()),
        };
        // Their own call out, unanswered: theirs, not missed.
        assert_eq!(
            reader.sees(&call("1001", "200", "PJSIP/1001-1", "BUSY", "")),
            (true, false)
        );
        // A call to their phone nobody took: missed.
        assert_eq!(
            reader.sees(&call("7000", "1001", "PJSIP/trunk-1", "NO ANSWER", "")),
            (true, true)
        );
        // Abandoned in their queue: missed; in another queue: not theirs.
        assert_eq!(
            reader.sees(&call(
                "7204",
                "300",
                "PJSIP/trunk-2",
                "NO ANSWER",
                "support"
            )),
            (true, true)
        );
        assert_eq!(
            reader.sees(&call("7205", "310", "PJSIP/trunk-3", "NO ANSWER", "sales")),
            (false, false)
        );
        // Answered in their queue by someone else, and someone else's call: not shown.
        assert_eq!(
            reader.sees(&call("7206", "300", "PJSIP/trunk-4", "ANSWERED", "support")),
            (false, false)
        );
        assert_eq!(
            reader.sees(&call("1002", "1003", "PJSIP/1002-5", "ANSWERED", "")),
            (false, false)
        );
        // `PJSIP/10010` is not extension 1001's phone.
        assert_eq!(
            reader.sees(&call("10010", "200", "PJSIP/10010-6", "ANSWERED", "")),
            (false, false)
        );
        let everyone = Reader::Everyone;
        assert_eq!(
            everyone.sees(&call("1002", "1003", "PJSIP/1002-5", "BUSY", "")),
            (true, true)
        );
    }

    #[test]
    fn days_are_utc_dates() {
        assert_eq!(day_range("1970-01-02"), Some((86_400_000, 172_800_000)));
        for bad in ["1970-1-2", "yesterday", "2026-13-01", "2026-12-00", ""] {
            assert_eq!(day_range(bad), None, "{bad}");
        }
    }
}
