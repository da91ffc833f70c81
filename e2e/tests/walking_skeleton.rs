//! The walking skeleton, end to end: simulated PBX → AMI → relay → WebSocket → SPA in Chromium.

use e2e::Harness;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_panel_shows_a_live_link_and_a_rising_event_count() -> anyhow::Result<()> {
    let harness = Harness::start().await?;
    let page = harness.open_panel().await?;

    page.wait_for_text("relay-state", "Relay: connected")
        .await?;
    page.wait_for_text("link-state", "AMI: up").await?;
    let first = page.wait_for_event_count_above(0).await?;
    let later = page.wait_for_event_count_above(first).await?;
    assert!(later > first);

    harness.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_reconnects_by_itself_when_the_relay_restarts() -> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let page = harness.open_panel().await?;
    page.wait_for_text("relay-state", "Relay: connected")
        .await?;
    page.wait_for_event_count_above(0).await?;

    harness.stop_relay().await?;
    page.wait_for_text("relay-state", "Relay: reconnecting")
        .await?;

    harness.start_relay().await?;
    page.wait_for_text("relay-state", "Relay: connected")
        .await?;
    page.wait_for_text("link-state", "AMI: up").await?;
    let first = page.wait_for_event_count_above(0).await?;
    page.wait_for_event_count_above(first).await?;

    harness.stop().await
}
