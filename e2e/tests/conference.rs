//! A conference room in the supervisor view, in Chromium: a supervisor mutes a
//! participant (the card shows it muted) and kicks one (it leaves the card); a
//! read-only account sees the room and is offered none of its buttons.

use e2e::{Harness, PanelPage, Pbx, originate, side_session, wait_for};
use thirtyfour::prelude::*;

/// The channels of the participants the card of `room` shows, with their `data-muted`.
async fn participants(page: &PanelPage, room: &str) -> anyhow::Result<Vec<(String, String)>> {
    let script = "return Array.from(document.querySelectorAll(\
        `[data-testid='conference'][data-room='${arguments[0]}'] [data-testid='participant']`))\
        .map(e => [e.getAttribute('data-channel'), e.getAttribute('data-muted')])";
    let value = page
        .driver
        .execute(script, vec![serde_json::json!(room)])
        .await?;
    Ok(value.convert()?)
}

/// Clicks the button `testid` in the row of `channel`; false while it is not there.
async fn click_in_row(page: &PanelPage, channel: &str, testid: &str) -> anyhow::Result<bool> {
    let css =
        format!("[data-testid='participant'][data-channel='{channel}'] [data-testid='{testid}']");
    match page.driver.find(By::Css(css)).await {
        Ok(button) => Ok(button.click().await.is_ok()),
        Err(_) => Ok(false),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_mutes_and_kicks_a_conference_participant() -> anyhow::Result<()> {
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let harness = Harness::start_with(&pbx).await?;
    let ami = side_session(&pbx).await?;
    originate(&ami, "100", "1000", "\"Conf User A\" <5001>", 300).await?;
    originate(&ami, "101", "1010", "\"Conf Admin\" <5002>", 300).await?;
    let page = harness.open_panel().await?;
    page.login_and_wait("admin", "admin-secret").await?;
    page.navigate("Supervisor").await?;
    let shown = wait_for("room 1000 with its two participants", || async {
        let shown = participants(&page, "1000").await?;
        Ok((shown.len() == 2).then_some(shown))
    })
    .await?;
    let user = shown
        .iter()
        .map(|(channel, _)| channel.clone())
        .find(|c| c.starts_with("Local/100@test"))
        .ok_or_else(|| anyhow::anyhow!("Conf User A is not on the card: {shown:?}"))?;

    wait_for("the mute button", || async {
        Ok(click_in_row(&page, &user, "conf-mute").await?.then_some(()))
    })
    .await?;
    wait_for("the participant shown muted", || async {
        let shown = participants(&page, "1000").await?;
        Ok(shown
            .iter()
            .any(|(c, muted)| *c == user && muted == "true")
            .then_some(()))
    })
    .await?;

    wait_for("the kick button", || async {
        Ok(click_in_row(&page, &user, "conf-kick").await?.then_some(()))
    })
    .await?;
    wait_for("the kicked participant gone from the card", || async {
        let shown = participants(&page, "1000").await?;
        Ok((shown.len() == 1 && shown.iter().all(|(c, _)| *c != user)).then_some(()))
    })
    .await?;
    page.ensure_no_console_errors().await?;

    // A read-only account (`read=call`, no write class) sees the room, and no button.
    page.click_button_in("header", "Log out").await?;
    page.login_and_wait("viewer", "viewer-secret").await?;
    page.navigate("Supervisor").await?;
    wait_for("the room for the viewer", || async {
        Ok((participants(&page, "1000").await?.len() == 1).then_some(()))
    })
    .await?;
    for testid in ["conf-mute", "conf-kick", "conf-lock", "conf-record"] {
        let offered = page.attributes(testid, "data-testid").await?;
        anyhow::ensure!(offered.is_empty(), "a viewer was offered {testid}");
    }
    harness.stop().await
}
