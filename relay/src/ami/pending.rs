//! The actions a session has sent and not yet fully answered: which incoming message
//! answers which action. Pure (no I/O, no clock): the session task feeds it what it
//! reads and delivers what it gives back, so every rule of the correlation is tested
//! here without a socket.
//!
//! - A response goes to the action with its ActionID, or, without one, to the oldest
//!   action still waiting for a response (Asterisk answers in order).
//! - A response with `EventList: start` waits for its list, up to the event that
//!   completes it; an `Async: true` Originate waits for its `OriginateResponse` (which
//!   may overtake the response).
//! - A caller that gave up leaves a tombstone while its list is still arriving, so the
//!   rest is dropped instead of reaching the consumer as strays.

use std::collections::HashMap;

use shared::ami::Message;
use tokio::sync::oneshot;

use super::error::AmiError;

/// The complete answer to one action.
#[derive(Clone, Debug)]
pub struct ActionResult {
    /// The `Response:` message.
    pub response: Message,
    /// The `EventList` items (the closing `...Complete` event included), or the
    /// `OriginateResponse` of an `Async: true` Originate (check its `Response:`, which
    /// is `Failure` when the call could not be placed).
    pub events: Vec<Message>,
}

/// Where an action's answer goes.
pub type Reply = oneshot::Sender<Result<ActionResult, AmiError>>;

/// An action waiting for (the rest of) its answer.
struct Pending {
    /// Send order, so a response without ActionID goes to the oldest action still
    /// waiting for one.
    seq: u64,
    /// `None` once the caller is gone (gave up, or got [`AmiError::ListTooLong`]) while
    /// its list is still arriving: the entry stays so the rest is dropped, not passed
    /// to the consumer, and goes at the list's end.
    reply: Option<Reply>,
    response: Option<Message>,
    events: Vec<Message>,
    /// The response said `EventList: start`: collect events up to the `Complete` one.
    list: bool,
    /// An `Async: true` Originate: complete at its `OriginateResponse`.
    originate: bool,
}

/// The actions in flight on one connection.
pub struct PendingActions {
    map: HashMap<Vec<u8>, Pending>,
    seq: u64,
    max_pending: usize,
    max_list_items: usize,
}

impl PendingActions {
    pub fn new(max_pending: usize, max_list_items: usize) -> PendingActions {
        PendingActions {
            map: HashMap::new(),
            seq: 0,
            max_pending,
            max_list_items,
        }
    }

    /// Whether an action with ActionID `id` may be sent now: not while another with
    /// the same id waits, nor past `max_pending` callers still waiting.
    pub fn admit(&mut self, id: &[u8]) -> Result<(), AmiError> {
        if self.map.contains_key(id) {
            return Err(AmiError::DuplicateActionId(
                String::from_utf8_lossy(id).into_owned(),
            ));
        }
        if self.map.len() >= self.max_pending {
            self.sweep();
            if self.map.len() >= self.max_pending {
                return Err(AmiError::TooManyPending(self.max_pending));
            }
        }
        Ok(())
    }

    /// Waits for the answer of an action just sent (after [`PendingActions::admit`]).
    /// `originate`: an `Async: true` Originate, complete at its `OriginateResponse`.
    pub fn insert(&mut self, id: Vec<u8>, reply: Reply, originate: bool) {
        self.seq += 1;
        self.map.insert(
            id,
            Pending {
                seq: self.seq,
                reply: Some(reply),
                response: None,
                events: Vec::new(),
                list: false,
                originate,
            },
        );
    }

    /// Whether nothing waits (the hot path skips the ActionID lookup then).
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Actions waiting, tombstones included.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Pairs a response with its action: by ActionID, or, without one, with the
    /// oldest action still waiting for a response. A response to nothing (a keepalive
    /// Ping, a caller that gave up) is dropped.
    pub fn on_response(&mut self, message: Message) {
        let key = match message.action_id() {
            Some(id) => self.map.contains_key(id).then(|| id.to_vec()),
            None => self
                .map
                .iter()
                .filter(|(_, waiting)| waiting.response.is_none())
                .min_by_key(|(_, waiting)| waiting.seq)
                .map(|(id, _)| id.clone()),
        };
        let Some(key) = key else {
            tracing::trace!(
                ?message,
                "response to no pending action (a keepalive Ping, or a caller that gave up)"
            );
            return;
        };
        let Some(mut waiting) = self.map.remove(&key) else {
            return;
        };
        if is_error(&message) {
            waiting.fail(AmiError::from_response(message));
            return;
        }
        waiting.list = message
            .get("EventList")
            .is_some_and(|v| v.eq_ignore_ascii_case(b"start"));
        let more =
            waiting.list || waiting.originate && !waiting.events.iter().any(is_originate_response);
        if more {
            waiting.response = Some(message);
            self.map.insert(key, waiting);
        } else {
            waiting.finish(message);
        }
    }

    /// Takes an event that belongs to a waiting action (a list item, its own
    /// `OriginateResponse`); gives back any other (a `UserEvent` that repeats its
    /// action's ActionID included), which is the consumer's.
    pub fn on_event(&mut self, message: Message) -> Option<Message> {
        if self.map.is_empty() {
            return Some(message);
        }
        let Some(id) = message.action_id() else {
            return Some(message);
        };
        let Some(waiting) = self.map.get_mut(id) else {
            return Some(message);
        };
        let last = if waiting.list {
            ends_list(&message)
        } else if waiting.originate && is_originate_response(&message) {
            true
        } else {
            return Some(message);
        };
        let id = id.to_vec();
        if waiting.caller_gone() {
            // The caller gave up: stop collecting for nobody.
            waiting.abandon();
        } else if waiting.list && waiting.events.len() >= self.max_list_items {
            tracing::warn!(
                id = %String::from_utf8_lossy(&id),
                limit = self.max_list_items,
                "AMI event list too long; dropping the rest"
            );
            waiting.abandon_with(AmiError::ListTooLong(self.max_list_items));
        }
        if waiting.reply.is_some() {
            waiting.events.push(message);
        } else {
            if last {
                self.map.remove(&id);
            }
            return None;
        }
        // Without a response yet (an OriginateResponse that overtook it), the response
        // completes it.
        if last
            && waiting.response.is_some()
            && let Some(mut done) = self.map.remove(&id)
            && let Some(response) = done.response.take()
        {
            done.finish(response);
        }
        None
    }

    /// Forgets callers that gave up. A list still arriving stays as a tombstone, so
    /// that its remaining items are dropped instead of reaching the consumer.
    pub fn sweep(&mut self) {
        self.map.retain(|_, waiting| {
            if !waiting.caller_gone() {
                return true;
            }
            waiting.abandon();
            waiting.list
        });
    }

    /// Fails every waiting action (the link dropped).
    pub fn fail_all(&mut self, error: impl Fn() -> AmiError) {
        for (_, waiting) in self.map.drain() {
            waiting.fail(error());
        }
    }
}

impl Pending {
    fn finish(self, response: Message) {
        // The caller may have timed out and gone; nothing to do then.
        if let Some(reply) = self.reply {
            let _ = reply.send(Ok(ActionResult {
                response,
                events: self.events,
            }));
        }
    }

    fn fail(self, error: AmiError) {
        if let Some(reply) = self.reply {
            let _ = reply.send(Err(error));
        }
    }

    /// True when the caller stopped waiting (its timeout passed) for a live entry.
    fn caller_gone(&self) -> bool {
        self.reply.as_ref().is_some_and(|reply| reply.is_closed())
    }

    /// Keeps the entry only to swallow the rest of its list; frees what was collected.
    fn abandon(&mut self) {
        self.reply = None;
        self.events = Vec::new();
    }

    fn abandon_with(&mut self, error: AmiError) {
        if let Some(reply) = self.reply.take() {
            let _ = reply.send(Err(error));
        }
        self.abandon();
    }
}

/// `Response: Error` (or `Failure`, which some modules use).
pub(super) fn is_error(response: &Message) -> bool {
    response
        .get("Response")
        .is_some_and(|r| r.eq_ignore_ascii_case(b"Error") || r.eq_ignore_ascii_case(b"Failure"))
}

/// The last event of a list carries `EventList: Complete`; older modules only name it
/// `...Complete`.
fn ends_list(event: &Message) -> bool {
    event
        .get("EventList")
        .is_some_and(|v| v.eq_ignore_ascii_case(b"Complete"))
        || event
            .event_name()
            .is_some_and(|name| name.ends_with(b"Complete"))
}

fn is_originate_response(event: &Message) -> bool {
    event
        .event_name()
        .is_some_and(|name| name.eq_ignore_ascii_case(b"OriginateResponse"))
}

#[cfg(test)]
mod tests {
    use super::*;

    type Answer = oneshot::Receiver<Result<ActionResult, AmiError>>;

    fn table() -> PendingActions {
        PendingActions::new(3, 2)
    }

    fn send(table: &mut PendingActions, id: &str, originate: bool) -> Answer {
        table.admit(id.as_bytes()).expect("admitted");
        let (reply, answer) = oneshot::channel();
        table.insert(id.as_bytes().to_vec(), reply, originate);
        answer
    }

    fn response(id: Option<&str>, kind: &str) -> Message {
        let mut message = Message::new().with("Response", kind);
        if let Some(id) = id {
            message.push("ActionID", id.as_bytes());
        }
        message
    }

    fn event(name: &str, id: &str) -> Message {
        Message::new().with("Event", name).with("ActionID", id)
    }

    fn answered(answer: &mut Answer) -> Option<Result<ActionResult, AmiError>> {
        answer.try_recv().ok()
    }

    #[test]
    fn a_response_goes_to_its_action_id_or_else_to_the_oldest_waiting() {
        let mut table = table();
        let mut first = send(&mut table, "a-1", false);
        let mut second = send(&mut table, "a-2", false);
        table.on_response(response(Some("a-2"), "Success"));
        assert!(matches!(answered(&mut second), Some(Ok(_))));
        assert!(answered(&mut first).is_none());
        // No ActionID (some modules forget it): the oldest still waiting.
        let mut third = send(&mut table, "a-3", false);
        table.on_response(response(None, "Success"));
        assert!(matches!(answered(&mut first), Some(Ok(_))));
        assert!(answered(&mut third).is_none());
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn an_error_response_fails_with_asterisks_words() {
        let mut table = table();
        let mut answer = send(&mut table, "a-1", false);
        table.on_response(response(Some("a-1"), "Error").with("Message", "Permission denied"));
        assert!(matches!(
            answered(&mut answer),
            Some(Err(AmiError::PermissionDenied { .. }))
        ));
        assert!(table.is_empty());
    }

    #[test]
    fn a_list_collects_its_events_up_to_the_complete_one_and_others_pass_on() {
        let mut table = PendingActions::new(3, 10);
        let mut answer = send(&mut table, "l-1", false);
        table.on_response(response(Some("l-1"), "Success").with("EventList", "start"));
        assert!(table.on_event(event("QueueParams", "l-1")).is_none());
        let stray = Message::new().with("Event", "Newchannel");
        assert!(table.on_event(stray).is_some(), "not ours: the consumer's");
        assert!(table.on_event(event("UserEvent", "other")).is_some());
        assert!(answered(&mut answer).is_none(), "not complete yet");
        assert!(
            table
                .on_event(event("QueueStatusComplete", "l-1").with("EventList", "Complete"))
                .is_none()
        );
        let result = answered(&mut answer).expect("answered").expect("ok");
        assert_eq!(result.events.len(), 2);
        assert!(table.is_empty());
    }

    #[test]
    fn an_async_originate_completes_at_its_originate_response_in_either_order() {
        for response_first in [true, false] {
            let mut table = table();
            let mut answer = send(&mut table, "o-1", true);
            let done = event("OriginateResponse", "o-1").with("Response", "Success");
            if response_first {
                table.on_response(response(Some("o-1"), "Success"));
                assert!(answered(&mut answer).is_none());
                assert!(table.on_event(done).is_none());
            } else {
                assert!(table.on_event(done).is_none());
                assert!(answered(&mut answer).is_none());
                table.on_response(response(Some("o-1"), "Success"));
            }
            let result = answered(&mut answer).expect("answered").expect("ok");
            assert_eq!(result.events.len(), 1, "response first: {response_first}");
            assert!(table.is_empty());
        }
    }

    #[test]
    fn a_list_past_its_limit_fails_and_the_rest_is_swallowed() {
        let mut table = table();
        let mut answer = send(&mut table, "l-1", false);
        table.on_response(response(Some("l-1"), "Success").with("EventList", "start"));
        for _ in 0..3 {
            assert!(table.on_event(event("Item", "l-1")).is_none());
        }
        assert!(matches!(
            answered(&mut answer),
            Some(Err(AmiError::ListTooLong(2)))
        ));
        assert_eq!(table.len(), 1, "a tombstone until the list ends");
        assert!(table.on_event(event("ItemComplete", "l-1")).is_none());
        assert!(table.is_empty());
    }

    #[test]
    fn a_caller_that_gave_up_leaves_a_tombstone_only_while_its_list_arrives() {
        let mut table = table();
        let gone_list = send(&mut table, "l-1", false);
        let gone_plain = send(&mut table, "p-1", false);
        table.on_response(response(Some("l-1"), "Success").with("EventList", "start"));
        drop((gone_list, gone_plain));
        table.sweep();
        assert_eq!(table.len(), 1, "the list's tombstone stays");
        assert!(table.on_event(event("Item", "l-1")).is_none(), "swallowed");
        assert!(table.on_event(event("ItemComplete", "l-1")).is_none());
        assert!(table.is_empty());
    }

    #[test]
    fn duplicates_and_one_past_the_bound_are_refused_and_gone_callers_make_room() {
        let mut table = table();
        let _a = send(&mut table, "a", false);
        assert!(matches!(
            table.admit(b"a"),
            Err(AmiError::DuplicateActionId(_))
        ));
        let _b = send(&mut table, "b", false);
        let gone = send(&mut table, "c", false);
        assert!(matches!(
            table.admit(b"d"),
            Err(AmiError::TooManyPending(3))
        ));
        drop(gone);
        assert!(table.admit(b"d").is_ok(), "a caller that gave up is swept");
    }

    #[test]
    fn a_dropped_link_fails_everyone_waiting() {
        let mut table = table();
        let mut a = send(&mut table, "a", false);
        let mut b = send(&mut table, "b", false);
        table.fail_all(|| AmiError::Disconnected);
        assert!(matches!(
            answered(&mut a),
            Some(Err(AmiError::Disconnected))
        ));
        assert!(matches!(
            answered(&mut b),
            Some(Err(AmiError::Disconnected))
        ));
        assert!(table.is_empty());
    }

    #[test]
    fn lists_end_at_eventlist_complete_or_a_complete_event() {
        let event = |name: &str| Message::new().with("Event", name);
        assert!(ends_list(&event("QueueStatusComplete")));
        assert!(ends_list(&event("Whatever").with("EventList", "Complete")));
        assert!(!ends_list(&event("QueueMember").with("EventList", "start")));
    }
}
