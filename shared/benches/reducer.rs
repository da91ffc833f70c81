//! The live model's reducer on the recorded Asterisk 22 event stream
//! (`ami-events-stream.txt`, 4,038 events of real call churn), one core, native.
//! The relay runs this on every event; the target is at least 1 M events/s.

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use shared::ami::{Frame, Message, MessageKind, Parser};
use shared::model::ServerModel;

const STREAM: &[u8] = include_bytes!("../../../shared/fixtures/asterisk/ami-events-stream.txt");

fn events() -> Vec<Message> {
    let mut parser = Parser::new().expecting_banner();
    let mut buf = BytesMut::from(STREAM);
    let mut events = Vec::new();
    while let Some(frame) = parser.next_frame(&mut buf) {
        if let Frame::Message(message) = frame
            && message.kind() == MessageKind::Event
        {
            events.push(message);
        }
    }
    events
}

/// Applies every event to a fresh model; returns the changes made, so the work counts.
fn reduce(events: &[Message]) -> usize {
    let mut model = ServerModel::default();
    let mut changes = Vec::with_capacity(64);
    let mut total = 0;
    for event in events {
        model.apply_event(event, 1_000_000, &mut changes);
        total += changes.len();
        changes.clear();
    }
    black_box(&model);
    total
}

fn reducer(c: &mut Criterion) {
    let events = events();
    assert_eq!(events.len(), 4038, "the recording's events");
    assert!(
        reduce(&events) > 1000,
        "the reducer made too few changes to measure"
    );
    let mut group = c.benchmark_group("reducer events-stream");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.bench_function("events", |b| {
        b.iter_batched(|| (), |()| reduce(&events), BatchSize::SmallInput)
    });
    group.finish();
}

criterion_group!(benches, reducer);
criterion_main!(benches);
