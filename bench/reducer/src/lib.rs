//! `bench-reducer`: the shared reducer (`ServerModel::apply_event`) over a recorded AMI
//! stream, as one function the bench runs natively and, built for wasm32, in Chromium.
//!
//! Parsing the stream into events is set-up ([`events`]); [`reduce`] is what is timed: every
//! event applied to a fresh model per pass, counted, so a run that skipped or repeated work
//! cannot pass for a fast one. For wasm32 the `wasm` module exports the same through
//! wasm-bindgen to the bench's page (`bench/src/reducer.rs` serves it).

use bytes::BytesMut;
use shared::ami::{Frame, Message, MessageKind, Parser};
use shared::model::ServerModel;

/// The model's clock during a run: a constant, so every pass makes the same changes.
const NOW_MS: i64 = 1_000_000;

/// What a run did, for the bench to check against the recording.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tally {
    /// `apply_event` calls: passes × events.
    pub applied: u64,
    /// Model changes they made, the same natively and in WASM for the same input.
    pub changes: u64,
}

/// The events of `stream` (AMI bytes without a banner), in order; anything else is skipped.
pub fn events(stream: &[u8]) -> Vec<Message> {
    let mut parser = Parser::new();
    let mut buf = BytesMut::from(stream);
    std::iter::from_fn(|| parser.next_frame(&mut buf))
        .filter_map(|frame| match frame {
            Frame::Message(message) if message.kind() == MessageKind::Event => Some(message),
            _ => None,
        })
        .collect()
}

/// Applies `events` to a fresh model `passes` times.
pub fn reduce(events: &[Message], passes: u32) -> Tally {
    let mut tally = Tally {
        applied: 0,
        changes: 0,
    };
    let mut changes = Vec::with_capacity(64);
    for _ in 0..passes {
        let mut model = ServerModel::default();
        for event in events {
            model.apply_event(event, NOW_MS, &mut changes);
            tally.applied += 1;
            tally.changes += changes.len() as u64;
            changes.clear();
        }
        std::hint::black_box(&model);
    }
    tally
}

#[cfg(target_arch = "wasm32")]
mod wasm {
    use wasm_bindgen::prelude::*;

    /// The parsed recording, held by the page between runs.
    #[wasm_bindgen]
    pub struct Reducer {
        events: Vec<shared::ami::Message>,
    }

    #[wasm_bindgen]
    impl Reducer {
        #[wasm_bindgen(constructor)]
        pub fn new(stream: &[u8]) -> Reducer {
            Reducer {
                events: super::events(stream),
            }
        }

        /// Events in one pass.
        pub fn events(&self) -> u32 {
            u32::try_from(self.events.len()).unwrap_or(u32::MAX)
        }

        /// One timed run: `[applied, changes]` (as f64, JavaScript's numbers).
        pub fn run(&self, passes: u32) -> Box<[f64]> {
            let tally = super::reduce(&self.events, passes);
            Box::new([tally.applied as f64, tally.changes as f64])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{events, reduce};

    const STREAM: &[u8] =
        b"Event: Newchannel\r\nChannel: PJSIP/100-00000001\r\nUniqueid: 1.1\r\nLinkedid: 1.1\r\n\
ChannelState: 4\r\nChannelStateDesc: Ring\r\n\r\n\
Response: Success\r\nPing: Pong\r\n\r\n\
Event: Hangup\r\nChannel: PJSIP/100-00000001\r\nUniqueid: 1.1\r\nLinkedid: 1.1\r\n\r\n";

    #[test]
    fn every_event_of_every_pass_is_applied_and_responses_are_not_events() {
        let events = events(STREAM);
        assert_eq!(events.len(), 2);
        let once = reduce(&events, 1);
        assert_eq!(once.applied, 2);
        assert!(once.changes >= 2, "a channel came and went: {once:?}");
        let thrice = reduce(&events, 3);
        assert_eq!(thrice.applied, 6);
        assert_eq!(thrice.changes, 3 * once.changes, "each pass starts afresh");
    }
}
