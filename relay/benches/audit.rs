//! The audit log's writer: one batch of [`BATCH`] records inserted in one transaction
//! into a SQLite file in WAL mode (the writer thread's work per batch), and the masking
//! and queueing an action pays before it returns.

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use relay::audit::{self, Caller, Who, store};
use shared::action::{Action, Role};
use shared::protocol::AuditVia;

/// The writer's largest batch.
const BATCH: usize = 500;

fn sample() -> audit::Entry {
    let action = Action::Originate {
        from: "1001".into(),
        to: "5551234".into(),
        context: Some("from-internal".into()),
        caller_id: None,
    };
    audit::entry(
        Caller {
            client: [10, 0, 0, 7].into(),
            via: AuditVia::Panel,
        },
        Who {
            person: "alice",
            ami_user: "agents",
            role: Some(Role::Agent),
            server: "main",
        },
        action.name(),
        audit::arguments_of(&action),
        (true, "Originate successfully queued"),
    )
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut db = store::open(Some(&dir.path().join("audit.db"))).expect("open");
    let batch: Vec<audit::Entry> = (0..BATCH).map(|_| sample()).collect();
    let mut group = c.benchmark_group("audit");
    group.measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("insert_batch_wal_file", |b| {
        b.iter(|| store::insert(&mut db, &batch).expect("insert"));
    });
    group.throughput(Throughput::Elements(1));
    group.bench_function("entry_with_masked_arguments", |b| b.iter(sample));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
