//! Screenshots of a running panel at phone, tablet and desktop sizes, taken
//! once its event count has moved past the first snapshot, so the picture shows live data.
//!
//! `cargo run -p e2e --bin screenshots -- [URL] [OUT_DIR]`
//! (defaults: http://127.0.0.1:8080 and target/screenshots).

use std::path::PathBuf;

use anyhow::Context;
use e2e::Browser;

/// Viewport sizes a person uses the panel at: a phone, a tablet upright, a desktop.
const SIZES: &[(&str, u32, u32)] = &[
    ("phone", 390, 844),
    ("tablet", 820, 1180),
    ("desktop", 1440, 900),
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let out = PathBuf::from(args.next().unwrap_or_else(|| "target/screenshots".into()));
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;

    let browser = Browser::start().await?;
    for (name, width, height) in SIZES {
        browser
            .driver
            .set_window_rect(0, 0, *width, *height)
            .await?;
        let page = browser.open_panel(&url).await?;
        // Wait for live updates, not just the first snapshot, so the picture shows moving data.
        let first = page
            .wait_for_event_count_above(0)
            .await
            .with_context(|| format!("is the panel at {url} running?"))?;
        page.wait_for_event_count_above(first).await?;
        let path = out.join(format!("panel-{name}-{width}x{height}.png"));
        browser.driver.screenshot(&path).await?;
        println!("{}", path.display());
    }
    browser.stop().await
}
