//! AMI bytes from a hostile or broken peer: the parser never panics, never keeps more
//! than its bound, gives the same frames however the bytes are split, and every
//! message it yields reads back the same from what `Message::write_to` writes.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use shared::ami::{Frame, MessageKind, ParseError, Parser};

/// A small bound, so that oversized messages and their resync are reached often.
const MAX_LEN: usize = 1024;

fuzz_target!(|input: &[u8]| {
    let Some((&step, wire)) = input.split_first() else {
        return;
    };
    let banner = step & 0x80 != 0;
    let step = usize::from(step & 0x7f) + 1;
    let whole = parse(
        Parser::with_max_len(MAX_LEN),
        wire,
        wire.len().max(1),
        banner,
    );
    let split = parse(Parser::with_max_len(MAX_LEN), wire, step, banner);
    assert!(
        whole.len() == split.len() && whole.iter().zip(&split).all(|(a, b)| same(a, b)),
        "split every {step} bytes: {whole:?} != {split:?}"
    );
    for frame in whole {
        if let Frame::Message(message) = frame {
            if message.kind() == MessageKind::CommandOutput {
                continue;
            }
            // The written form may be longer than what was read (`Key:value` gains a
            // space, a bare LF a CR), so it is read back without the small bound.
            let again = parse(Parser::new(), &message.to_bytes(), usize::MAX, false);
            assert_eq!(again, [Frame::Message(message)]);
        }
    }
});

/// The frames `parser` reads from `wire` fed `step` bytes per read.
fn parse(parser: Parser, wire: &[u8], step: usize, banner: bool) -> Vec<Frame> {
    let max_len = parser.max_len();
    let mut parser = if banner {
        parser.expecting_banner()
    } else {
        parser
    };
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for chunk in wire.chunks(step.min(wire.len().max(1))) {
        buf.extend_from_slice(chunk);
        frames.extend(std::iter::from_fn(|| parser.next_frame(&mut buf)));
        assert!(
            buf.len() < max_len,
            "{} bytes kept, bound {max_len}",
            buf.len()
        );
    }
    frames
}

/// Equal frames, but for the size a too-long message had when it was noticed: that
/// depends on the reads, by design.
fn same(a: &Frame, b: &Frame) -> bool {
    match (a, b) {
        (
            Frame::Invalid(ParseError::TooLong { offset, max, .. }),
            Frame::Invalid(ParseError::TooLong {
                offset: other_offset,
                max: other_max,
                ..
            }),
        ) => offset == other_offset && max == other_max,
        _ => a == b,
    }
}
