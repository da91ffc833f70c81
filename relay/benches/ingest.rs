//! Loopback TCP ingest: a local server replays the recorded Asterisk 22 event stream
//! [`PASSES`] times into a real [`relay::ami`] session, then an end marker; the consumer
//! counts every event that reaches it and the run fails unless the count is exact.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use relay::ami::{AmiConfig, SessionEvent, spawn_session};

/// The admin connection's received bytes, byte for byte (`ami-events-stream.txt`).
const STREAM: &[u8] = include_bytes!("../../../shared/fixtures/asterisk/ami-events-stream.txt");

/// Events in one pass of the recording (`ami-events-stream-summary.txt`).
const RECORDED_EVENTS: u64 = 4038;

/// Passes of the recording per measured run: 403,800 events.
const PASSES: u64 = 100;

/// Events delivered per measured run.
const EVENTS_PER_RUN: u64 = RECORDED_EVENTS * PASSES;

/// Written after the last pass; the consumer stops when it sees it.
const END_MARKER: &[u8] = b"Event: UserEvent\r\nUserEvent: BenchEnd\r\n\r\n";

/// The 4038 recorded events, without the banner, the login response and the logoff response.
fn recorded_events() -> &'static [u8] {
    let after_banner = STREAM.iter().position(|&b| b == b'\n').map_or(0, |i| i + 1);
    let login_end = after_banner + find(&STREAM[after_banner..], b"\r\n\r\n") + 4;
    let goodbye = find(STREAM, b"Response: Goodbye");
    &STREAM[login_end..goodbye]
}

fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap_or_else(|| panic!("{:?} not in the recording", String::from_utf8_lossy(needle)))
}

/// Serves one connection on a plain thread: banner, a successful Login, the recorded
/// events [`PASSES`] times and the end marker; then it waits for the client to hang up.
fn serve_one(listener: &TcpListener, events: &'static [u8]) {
    let (stream, _) = listener.accept().expect("accept");
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut writer = stream;
    writer
        .write_all(b"Asterisk Call Manager/11.0.0\r\n")
        .expect("banner");
    let mut action_id = String::new();
    let mut line = String::new();
    loop {
        line.clear();
        reader.read_line(&mut line).expect("login line");
        if let Some(id) = line.strip_prefix("ActionID: ") {
            action_id = id.trim_end().to_owned();
        }
        if line == "\r\n" {
            break;
        }
    }
    let login = format!(
        "Response: Success\r\nActionID: {action_id}\r\nMessage: Authentication accepted\r\n\r\n"
    );
    writer.write_all(login.as_bytes()).expect("login response");
    for _ in 0..PASSES {
        writer.write_all(events).expect("events");
    }
    writer.write_all(END_MARKER).expect("end marker");
    // Returns once the client has gone.
    let _ = std::io::copy(&mut reader, &mut std::io::sink());
}

/// One run: connect, log in, and time the delivery of every event sent; panics unless
/// exactly [`EVENTS_PER_RUN`] arrived before the end marker.
fn ingest_once(runtime: &tokio::runtime::Runtime) -> Duration {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let events = recorded_events();
    assert_eq!(
        events.windows(4).filter(|w| w == b"\r\n\r\n").count() as u64,
        RECORDED_EVENTS,
        "the recording's event count"
    );
    let server = std::thread::spawn(move || serve_one(&listener, events));
    // The consumer is a task of the same runtime, as the relay's hub is.
    let consumer = runtime.spawn(async move {
        let (session, mut rx) = spawn_session(AmiConfig::new(addr, "admin", "admin-secret"));
        let mut start = None;
        let mut count = 0_u64;
        // A consumer takes what is queued in one go, as the relay's hub does.
        let mut batch = Vec::with_capacity(1024);
        'consume: while rx.recv_many(&mut batch, 1024).await > 0 {
            for event in batch.drain(..) {
                match event {
                    SessionEvent::Connected { .. } => start = Some(Instant::now()),
                    SessionEvent::Event(event) => {
                        if event.get("UserEvent") == Some(b"BenchEnd".as_slice()) {
                            break 'consume;
                        }
                        count += 1;
                    }
                    SessionEvent::Disconnected { reason } => panic!("link lost: {reason}"),
                }
            }
        }
        let elapsed = start.expect("connected").elapsed();
        drop((session, rx));
        assert_eq!(
            count, EVENTS_PER_RUN,
            "delivered {count} events of {EVENTS_PER_RUN} sent"
        );
        elapsed
    });
    let elapsed = runtime.block_on(consumer).expect("consumer task");
    server.join().expect("server thread");
    elapsed
}

fn ingest(c: &mut Criterion) {
    // The runtime `#[tokio::main]` gives the relay: one worker per core.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let event_bytes = recorded_events().len() as u64 * PASSES;
    let mut group = c.benchmark_group("loopback ingest");
    // Each run is a whole session of 403,800 events: few, equal samples.
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(EVENTS_PER_RUN));
    group.bench_function("events", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| ingest_once(&runtime)).sum())
    });
    group.throughput(Throughput::Bytes(event_bytes));
    group.bench_function("bytes", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| ingest_once(&runtime)).sum())
    });
    group.finish();
}

criterion_group!(benches, ingest);
criterion_main!(benches);
