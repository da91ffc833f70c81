//! Thousands of WebSockets opened and dropped leave no file descriptor and no memory
//! behind. Alone in its test binary, so that the process's figures are this test's.

mod relay_support;

use std::time::{Duration, Instant};

use relay_support::{PATIENCE, Pbx, Relay, server};

/// The relay's gauge of open browser sockets.
/// A missing gauge counts as browsers still open, so the wait cannot pass by mistake.
fn browsers(metrics: &str) -> f64 {
    relay_support::metric(metrics, "astpanel_browsers ").unwrap_or(f64::MAX)
}

/// Open file descriptors and resident memory of this process (relay and clients).
fn usage() -> (usize, u64) {
    let fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count());
    let rss_kb = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0);
    (fds, rss_kb)
}

#[tokio::test]
async fn ten_thousand_websockets_opened_and_dropped_leave_nothing_behind() {
    const ROUNDS: usize = 20;
    const AT_ONCE: usize = 500;
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let relay = Relay::start(vec![server("pbx", &pbx)], |_| {}).await;
    let token = relay.login("pbx", "admin", "admin-secret").await.unwrap();
    let round = || async {
        let mut sockets = Vec::with_capacity(AT_ONCE);
        for _ in 0..AT_ONCE {
            let mut socket = relay.socket(&token).await;
            socket.next_of("snapshot").await;
            sockets.push(socket);
        }
        drop(sockets);
    };
    let settle = || async {
        let deadline = Instant::now() + PATIENCE;
        while browsers(&relay.get_text("/metrics").await) > 0.0 {
            assert!(Instant::now() < deadline, "browsers never left");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        usage()
    };
    // The first rounds take the allocator to the high-water mark of 500 sockets at
    // once (client and relay sides, both in this process), where it stays: freed memory
    // is kept for reuse, not returned. How many rounds that takes depends on how the
    // tasks interleave (fewer sockets overlap on a busy machine), so warm-up goes on
    // until a round no longer raises the mark. A leak never settles, and fails here.
    const WARM_UP_MAX: usize = 15;
    let mut warmed = 0;
    let mut mark = 0;
    loop {
        round().await;
        warmed += 1;
        let (_, rss) = settle().await;
        if warmed >= 5 && rss <= mark + 1024 {
            break;
        }
        mark = mark.max(rss);
        assert!(
            warmed < WARM_UP_MAX,
            "memory still growing after {warmed} rounds: {rss} kB"
        );
    }
    let (fds_before, rss_before) = settle().await;
    for _ in 0..ROUNDS {
        round().await;
    }
    let (fds_after, rss_after) = settle().await;
    println!(
        "{} WebSockets opened and dropped: fds {fds_before} -> {fds_after}, RSS {rss_before} kB -> {rss_after} kB",
        ROUNDS * AT_ONCE
    );
    assert!(
        fds_after <= fds_before + 4,
        "file descriptors leaked: {fds_before} -> {fds_after}"
    );
    assert!(
        rss_after <= rss_before + 8 * 1024,
        "memory grew: {rss_before} kB -> {rss_after} kB"
    );
}
