//! The panel end to end: simulated PBX → AMI → relay → WebSocket → SPA in Chromium,
//! looked at through `data-testid`s the way a person looks at it.

use std::collections::BTreeSet;

use e2e::{Harness, api_state, channel_names, wait_for};
use thirtyfour::prelude::*;

/// The channels the relay's API holds right now, for `admin`.
async fn api_channels(base: &str) -> anyhow::Result<BTreeSet<String>> {
    Ok(channel_names(&api_state(base).await?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_is_refused_in_asterisks_words_then_the_login_works() -> anyhow::Result<()> {
    let harness = Harness::start().await?;
    let page = harness.open_panel().await?;
    page.login("agent", "wrong").await?;
    page.wait_for_text_containing("login-error", "Authentication failed")
        .await?;
    page.login_and_wait("agent", "agent-secret").await?;
    // A reload keeps the session.
    page.driver.refresh().await?;
    page.wait_for_attribute("link-state", "data-state", "up")
        .await?;
    page.ensure_no_console_errors().await?;
    harness.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_supervisor_view_shows_exactly_the_live_channels() -> anyhow::Result<()> {
    let harness = Harness::start().await?;
    let page = harness.open_panel().await?;
    page.login_and_wait("admin", "admin-secret").await?;
    page.navigate("Supervisor").await?;
    wait_for("extension tiles", || async {
        Ok((!page.attributes("extension", "data-exten").await?.is_empty()).then_some(()))
    })
    .await?;
    wait_for("a queue", || async {
        Ok((!page.attributes("queue", "data-queue").await?.is_empty()).then_some(()))
    })
    .await?;
    // The demo PBX makes calls by itself; at some moment what the page shows equals
    // what the relay holds, with nothing extra (no ghost rows).
    wait_for("a call on screen equal to the relay's channels", || async {
        let api = api_channels(&harness.base_url).await?;
        let shown = page.shown_channels().await?;
        Ok((!api.is_empty() && shown == api).then_some(()))
    })
    .await?;
    page.ensure_no_console_errors().await?;
    harness.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hangup_removes_the_call_and_a_viewer_is_not_offered_one() -> anyhow::Result<()> {
    let harness = Harness::start().await?;
    let page = harness.open_panel().await?;
    page.login_and_wait("admin", "admin-secret").await?;
    page.navigate("Supervisor").await?;
    let target = wait_for("a channel to hang up", || async {
        for channel in page.shown_channels().await? {
            let row = format!("[data-testid='channel'][data-channel='{channel}']");
            if page.click_button_in(&row, "Hang up").await? {
                return Ok(Some(channel));
            }
        }
        Ok(None)
    })
    .await?;
    wait_for("the hung-up channel to go", || async {
        Ok((!page.shown_channels().await?.contains(&target)).then_some(()))
    })
    .await?;

    page.click_button_in("header", "Log out").await?;
    page.login_and_wait("viewer", "viewer-secret").await?;
    page.navigate("Supervisor").await?;
    wait_for("a channel for the viewer", || async {
        Ok((!page.shown_channels().await?.is_empty()).then_some(()))
    })
    .await?;
    let buttons = page
        .driver
        .find_all(By::XPath("//button[normalize-space()='Hang up']"))
        .await?;
    anyhow::ensure!(buttons.is_empty(), "a viewer was offered Hang up");
    page.ensure_no_console_errors().await?;
    harness.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_relay_restart_the_page_resumes_with_its_token_and_shows_no_stale_call()
-> anyhow::Result<()> {
    let mut harness = Harness::start().await?;
    let page = harness.open_panel().await?;
    page.login_and_wait("admin", "admin-secret").await?;
    page.navigate("Supervisor").await?;

    harness.stop_relay().await?;
    page.wait_for_attribute("link-state", "data-state", "reconnecting")
        .await?;
    harness.start_relay().await?;
    // The restarted relay finds the token in its login store: no login page, the
    // supervisor view comes back live by itself.
    page.wait_for_attribute("link-state", "data-state", "up")
        .await?;
    let login_forms = page.attributes("login-submit", "type").await?;
    assert!(login_forms.is_empty(), "the page asked to log in again");
    wait_for("the screen to equal the new relay's channels", || async {
        let api = api_channels(&harness.base_url).await?;
        let shown = page.shown_channels().await?;
        Ok((shown == api).then_some(()))
    })
    .await?;
    harness.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logging_out_everywhere_elsewhere_brings_this_page_back_to_the_login_form()
-> anyhow::Result<()> {
    let harness = Harness::start().await?;
    let page = harness.open_panel().await?;
    page.login_and_wait("admin", "admin-secret").await?;
    // The same person on another device logs out everywhere: a lost tablet.
    let http = reqwest::Client::new();
    let login: serde_json::Value = http
        .post(format!("{}/api/v1/login", harness.base_url))
        .json(&serde_json::json!({"server": "demo", "username": "admin", "secret": "admin-secret"}))
        .send()
        .await?
        .json()
        .await?;
    let token = login["token"].as_str().unwrap_or_default().to_owned();
    let status = http
        .post(format!(
            "{}/api/v1/logout?everywhere=true",
            harness.base_url
        ))
        .bearer_auth(&token)
        .send()
        .await?
        .status();
    anyhow::ensure!(status.as_u16() == 204, "logout answered {status}");
    // The relay closed this page's socket (4401): it shows the login form, says why,
    // and does not keep reconnecting with a dead token.
    page.wait_for_text_containing("login-error", "Your login ended")
        .await?;
    page.login_and_wait("admin", "admin-secret").await?;
    page.ensure_no_console_errors().await?;
    harness.stop().await
}
