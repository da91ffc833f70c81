//! Screenshots of a running panel: the agent, supervisor (and its conference room
//! cards), wallboard (with a queue in alarm), call history, event log, console and audit
//! views at phone, tablet and desktop sizes, light and dark, logged in as the demo's
//! `admin`.
//!
//! `cargo run -p e2e --bin screenshots -- [URL] [OUT_DIR]`
//! (defaults: http://127.0.0.1:8080 and target/screenshots, which git ignores).

use std::path::PathBuf;

use anyhow::Context;
use e2e::{Browser, wait_for};
use thirtyfour::prelude::*;

/// Viewport sizes a person uses the panel at: a phone, a tablet, a desktop.
const SIZES: &[(&str, u32, u32)] = &[
    ("phone", 390, 844),
    ("tablet", 1024, 768),
    ("desktop", 1440, 900),
];

/// Each view: its file name, its link in the navigation, and what shows it has live
/// data (empty: the frame is enough). The first element that matches is scrolled into
/// view, so a shot of a part lower on the page (the conference cards) shows it.
const VIEWS: &[(&str, &str, &str)] = &[
    ("agent", "Agent", ""),
    (
        "supervisor",
        "Supervisor",
        "[data-testid='extension'], [data-testid='queue']",
    ),
    ("conference", "Supervisor", "[data-testid='conference']"),
    ("wallboard", "Wallboard", "[data-testid='queue']"),
    // The demo's queues have alarms its traffic reaches within a minute or two.
    (
        "wallboard-alarm",
        "Wallboard",
        "[data-alarm='red'], [data-alarm='amber']",
    ),
    ("history", "History", "[data-testid='history-row']"),
    ("events", "Events", "[data-testid='event']"),
    ("console", "Console", "[data-testid='console-answer']"),
    ("audit", "Audit", "[data-testid='audit-record']"),
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let out = PathBuf::from(args.next().unwrap_or_else(|| "target/screenshots".into()));
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;

    for scheme in ["light", "dark"] {
        let browser = if scheme == "dark" {
            Browser::start_dark().await?
        } else {
            Browser::start().await?
        };
        let page = browser.open_panel(&url).await?;
        page.login_and_wait("admin", "admin-secret")
            .await
            .with_context(|| format!("is the panel at {url} running (cargo xtask run)?"))?;
        // The agent view follows phone 1001 of the demo call centre.
        page.driver
            .execute("localStorage.setItem('astpanel.exten', '1001')", Vec::new())
            .await?;
        page.driver.refresh().await?;
        page.wait_for_attribute("link-state", "data-state", "up")
            .await?;
        // The demo's alarms come and go with its traffic: once one is seen, it is shot
        // at every size while it lasts.
        let mut alarm_shot = false;
        for (index, (_, width, height)) in SIZES.iter().enumerate() {
            browser
                .driver
                .set_window_rect(0, 0, *width, *height)
                .await?;
            for (view, label, ready) in VIEWS {
                if *view == "wallboard-alarm" && alarm_shot {
                    continue;
                }
                page.navigate(label).await?;
                if *view == "console" {
                    // An answer on screen: Asterisk's reply to a Ping.
                    page.click("console-send").await?;
                }
                // Live data on screen, not only the frame. An alarm may take the demo's
                // traffic a few minutes: it is waited for longer.
                let alarm = *view == "wallboard-alarm";
                let tries = if alarm { 6 } else { 1 };
                let mut seen = false;
                for attempt in 1..=tries {
                    let found = wait_for("live data", || async {
                        let shown = match *ready {
                            "" => true,
                            css => !page.driver.find_all(By::Css(css)).await?.is_empty(),
                        };
                        Ok(shown.then_some(()))
                    })
                    .await;
                    match found {
                        Ok(()) => {
                            seen = true;
                            break;
                        }
                        Err(error) if attempt == tries && !alarm => return Err(error),
                        Err(_) => {}
                    }
                }
                if !seen {
                    eprintln!(
                        "no queue in alarm yet at {width}x{height}: tried again at the next size"
                    );
                    continue;
                }
                alarm_shot |= alarm;
                let sizes = if alarm { SIZES } else { &SIZES[index..=index] };
                for (name, width, height) in sizes {
                    browser
                        .driver
                        .set_window_rect(0, 0, *width, *height)
                        .await?;
                    // Gone meanwhile (an alarm that cleared): the shot is taken as it is.
                    if !ready.is_empty()
                        && let Ok(first) = page.driver.find(By::Css(*ready)).await
                    {
                        first.scroll_into_view().await?;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
                    let path = out.join(format!("{view}-{name}-{width}x{height}-{scheme}.png"));
                    browser.driver.screenshot(&path).await?;
                    println!("{}", path.display());
                }
                browser
                    .driver
                    .set_window_rect(0, 0, *width, *height)
                    .await?;
            }
        }
        browser.stop().await?;
    }
    Ok(())
}
