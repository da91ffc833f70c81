//! Parse-only throughput on the recorded Asterisk 22 event stream (`ami-events-stream.txt`).

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use shared::ami::{Frame, Parser};

/// The admin connection's received bytes, byte for byte: banner, login response, 4038 events, logoff.
const STREAM: &[u8] = include_bytes!("../../../shared/fixtures/asterisk/ami-events-stream.txt");

/// Parses the whole stream as one read and returns the number of messages.
fn parse_stream(mut buf: BytesMut) -> usize {
    let mut parser = Parser::new().expecting_banner();
    let mut count = 0;
    while let Some(frame) = parser.next_frame(&mut buf) {
        if let Frame::Message(message) = frame {
            black_box(&message);
            count += 1;
        }
    }
    count
}

fn parse(c: &mut Criterion) {
    let input = BytesMut::from(STREAM);
    let messages = parse_stream(input.clone()) as u64;
    let mut group = c.benchmark_group("parse events-stream");
    group.throughput(Throughput::Elements(messages));
    // The copy of the input into a fresh read buffer is set-up, not parsing.
    let fresh = || input.clone();
    group.bench_function("messages", |b| {
        b.iter_batched(fresh, parse_stream, BatchSize::LargeInput)
    });
    group.throughput(Throughput::Bytes(STREAM.len() as u64));
    group.bench_function("bytes", |b| {
        b.iter_batched(fresh, parse_stream, BatchSize::LargeInput)
    });
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
