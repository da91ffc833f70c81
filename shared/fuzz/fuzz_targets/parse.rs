//! Fuzzes the AMI parser: any bytes, cut into any reads, with a small bound.
//!
//! Checks, beyond "does not panic": the read buffer never holds a bound's worth of
//! bytes between calls, and every message that comes out survives serialize → parse.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use shared::ami::{Frame, MessageKind, Parser};

fuzz_target!(|data: &[u8]| {
    let Some((&control, input)) = data.split_first() else {
        return;
    };
    // The first byte picks the bound, the read size and whether a banner comes first.
    let max_len = 16 + usize::from(control & 0x3f) * 8;
    let step = 1 + usize::from(control >> 6) * 37;
    let parser = Parser::with_max_len(max_len);
    let mut parser = if control & 1 == 1 {
        parser.expecting_banner()
    } else {
        parser
    };
    let mut buf = BytesMut::new();
    for chunk in input.chunks(step) {
        buf.extend_from_slice(chunk);
        while let Some(frame) = parser.next_frame(&mut buf) {
            let Frame::Message(message) = frame else {
                continue;
            };
            if message.kind() == MessageKind::CommandOutput {
                continue; // legacy output has its own, narrower round trip
            }
            let wire = message.to_bytes();
            let mut again = BytesMut::from(&wire[..]);
            match Parser::with_max_len(wire.len() + 1).next_frame(&mut again) {
                Some(Frame::Message(back)) => assert_eq!(back, message),
                other => panic!("{message:?} serialized as {wire:?} parsed back as {other:?}"),
            }
        }
        assert!(
            buf.len() < max_len,
            "{} bytes kept with bound {max_len}",
            buf.len()
        );
    }
});
