//! The live model's reducer on the recorded Asterisk 22 event stream
//! (`ami-events-stream.txt`, 4,038 events of real call churn), one core, native.
//! The relay runs this on every event; the target is at least 1 M events/s.
//! `service session`: parse and reduce of what the service session receives with the
//! default filter before and after `Newexten` stopped being filtered.

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

/// The service session's stream as Asterisk sends it with `exclude` filtered: the
/// recorded events without those types, as bytes.
fn filtered(events: &[Message], exclude: &[&str]) -> BytesMut {
    let mut bytes = BytesMut::new();
    for event in events {
        let name = event.event_name().unwrap_or_default();
        if !exclude.iter().any(|e| name.starts_with(e.as_bytes())) {
            bytes.extend_from_slice(&event.to_bytes());
        }
    }
    bytes
}

/// Parses the stream and applies every event to a fresh model: the relay's work per
/// received event. Returns the events, so the work counts.
fn parse_and_reduce(mut bytes: BytesMut) -> usize {
    let mut parser = Parser::new();
    let mut model = ServerModel::default();
    let mut changes = Vec::with_capacity(64);
    let mut count = 0;
    while let Some(frame) = parser.next_frame(&mut bytes) {
        if let Frame::Message(event) = frame {
            model.apply_event(&event, 1_000_000, &mut changes);
            changes.clear();
            count += 1;
        }
    }
    black_box(&model);
    count
}

/// What no longer filtering `Newexten` costs the model (issue 22, item 4): the same
/// recorded traffic through the parser and the reducer, with the old default filter
/// and with the new one. Throughput counts the recording's events in both, so the two
/// rates compare as "the same calls per second".
fn newexten(c: &mut Criterion) {
    let events = events();
    let old = filtered(&events, &["VarSet", "Newexten", "RTCP", "Cdr", "CEL"]);
    let new = filtered(&events, &["VarSet", "RTCP", "Cdr", "CEL"]);
    assert!(parse_and_reduce(new.clone()) > parse_and_reduce(old.clone()));
    let mut group = c.benchmark_group("service session events-stream");
    group.throughput(Throughput::Elements(events.len() as u64));
    for (name, bytes) in [("without Newexten", old), ("with Newexten", new)] {
        group.bench_function(name, |b| {
            b.iter_batched(|| bytes.clone(), parse_and_reduce, BatchSize::LargeInput)
        });
    }
    group.finish();
}

criterion_group!(benches, reducer, newexten);
criterion_main!(benches);
