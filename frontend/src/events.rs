//! The event log's state: the raw events received while the log is open, bounded to
//! the last [`EVENT_LOG_SIZE`], searchable. The socket fills it, the event log view
//! shows it; a signal of its own, so a busy log does not re-run the model's views.

use std::sync::Arc;

use shared::protocol::RawEvent;

use crate::format::lowercase;

/// Events the page keeps; older ones fall off.
pub const EVENT_LOG_SIZE: usize = 500;

/// One event as the log shows and searches it.
#[derive(Debug, PartialEq, Eq)]
pub struct Entry {
    /// Arrival number, the list's key.
    pub id: u64,
    /// The `Event` header.
    pub name: String,
    /// Every other header as `Key: Value`, in order, in one text: one DOM node per
    /// event rather than one per header keeps 500 events light.
    pub text: String,
    /// The name and the text in lower case, searched by the filters.
    haystack: String,
}

impl Entry {
    fn new(id: u64, event: RawEvent) -> Entry {
        let mut name = String::new();
        let mut headers = Vec::with_capacity(event.headers.len());
        for (key, value) in event.headers {
            if name.is_empty() && key.eq_ignore_ascii_case("Event") {
                name = value;
            } else {
                headers.push(format!("{key}: {value}"));
            }
        }
        let text = headers.join(" · ");
        let haystack = lowercase(&format!("event: {name} · {text}"));
        Entry {
            id,
            name,
            text,
            haystack,
        }
    }

    /// Whether the entry passes both filters (lower case; empty passes everything).
    pub fn matches(&self, name: &str, text: &str) -> bool {
        lowercase(&self.name).contains(name) && self.haystack.contains(text)
    }
}

/// The events received while the log was open, bounded.
#[derive(Debug, Default)]
pub struct EventLog {
    pub entries: Vec<Arc<Entry>>,
    /// Events the relay left out because this page was too slow to take them.
    pub dropped: u64,
    /// Paused: nothing is added, and the relay is asked to stop sending.
    pub paused: bool,
    next_id: u64,
}

impl EventLog {
    /// Adds a frame of events (unless paused), dropping the oldest past the bound.
    pub fn receive(&mut self, events: Vec<RawEvent>, dropped: u64) {
        if self.paused {
            // Frames already on the way when the page paused.
            return;
        }
        self.dropped += dropped;
        for event in events {
            self.next_id += 1;
            self.entries.push(Arc::new(Entry::new(self.next_id, event)));
        }
        let excess = self.entries.len().saturating_sub(EVENT_LOG_SIZE);
        self.entries.drain(..excess);
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.dropped = 0;
    }

    /// The entries passing the filters, newest first.
    pub fn shown(&self, name: &str, text: &str) -> Vec<Arc<Entry>> {
        self.entries
            .iter()
            .rev()
            .filter(|e| e.matches(name, text))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str, channel: &str) -> RawEvent {
        RawEvent {
            headers: vec![
                ("Event".into(), name.into()),
                ("Channel".into(), channel.into()),
            ],
        }
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn the_log_keeps_the_newest_and_nothing_while_paused() {
        let mut log = EventLog::default();
        let frame = (0..EVENT_LOG_SIZE + 10)
            .map(|n| event("Newstate", &format!("PJSIP/{n}")))
            .collect();
        log.receive(frame, 3);
        assert_eq!(log.entries.len(), EVENT_LOG_SIZE);
        assert_eq!(log.dropped, 3);
        let newest = &log.shown("", "")[0];
        assert_eq!(
            newest.text,
            format!("Channel: PJSIP/{}", EVENT_LOG_SIZE + 9)
        );
        log.paused = true;
        log.receive(vec![event("Hangup", "PJSIP/late")], 0);
        assert!(log.shown("hangup", "").is_empty(), "paused");
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn filters_match_the_name_and_any_header_text() {
        let mut log = EventLog::default();
        log.receive(
            vec![
                event("Newchannel", "PJSIP/1001-1"),
                event("Hangup", "PJSIP/1002-2"),
            ],
            0,
        );
        let names = |name: &str, text: &str| -> Vec<String> {
            log.shown(name, text)
                .iter()
                .map(|e| e.name.clone())
                .collect()
        };
        assert_eq!(names("hang", ""), ["Hangup"]);
        assert_eq!(names("", "pjsip/1001"), ["Newchannel"]);
        assert_eq!(
            names("", "event: hangup"),
            ["Hangup"],
            "the name is text too"
        );
        assert_eq!(names("new", "1002"), Vec::<String>::new());
        assert_eq!(names("", ""), ["Hangup", "Newchannel"], "newest first");
    }
}
