//! The call history in the panel, in Chromium, on a pbxsim that makes only the calls the
//! test makes: a call to an agent's phone that nobody answers shows the missed-calls
//! badge and its row in the history, and the call-back button sends the caller an
//! `Originate` from the agent's phone, which pbxsim receives.

use std::sync::Arc;

use e2e::{Harness, Pbx, originate, wait_for};
use shared::action::Role;

/// Agent `carol`'s phone: the test dialplan's 231 dials `Local/230@test` for 5 s and
/// nobody answers (`ami-session-3.txt`, the "NO ANSWER" call).
const CAROL_PHONE: &str = "230";

#[tokio::test]
async fn a_missed_call_shows_its_badge_and_row_and_the_call_back_originates_from_the_agents_phone()
-> anyhow::Result<()> {
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let hash = relay::auth::users::hash_password(b"carol-password")
        .map_err(|error| anyhow::anyhow!("hashing: {error}"))?;
    let carol = relay::auth::users::RelayUser::new(
        "carol".into(),
        hash.as_str(),
        "demo".into(),
        "admin".into(),
        "admin-secret".into(),
        Role::Agent,
        Some(CAROL_PHONE.into()),
    )?;
    let harness = Harness::start_tweaked(
        &pbx,
        Arc::new(move |config| config.users.push(carol.clone())),
    )
    .await?;
    let page = harness.open_panel().await?;
    page.login_and_wait("carol", "carol-password").await?;

    let admin = e2e::side_session(&pbx).await?;
    originate(&admin, "100", "231", "\"Missed Caller\" <8004>", 30).await?;
    // The dial gives up after 5 s; its `Cdr` reaches the history as the call ends.
    page.wait_for_text_containing("missed-badge", "1").await?;

    page.navigate("History").await?;
    let missed = page
        .wait_for_attributes("the missed call's row", "history-row", "data-missed", |v| {
            v == ["true"]
        })
        .await?;
    assert_eq!(missed, ["true"]);
    page.wait_for_text_containing("history", "8004").await?;
    page.wait_for_attribute("history-row", "data-disposition", "NO ANSWER")
        .await?;
    // Seen: the badge goes.
    wait_for("the badge to go once seen", || async {
        Ok(page
            .attributes("missed-badge", "role")
            .await?
            .is_empty()
            .then_some(()))
    })
    .await?;

    let before = pbx.stats.actions("Originate");
    page.click("history-call-back").await?;
    wait_for("pbxsim to get the call back's Originate", || async {
        Ok((pbx.stats.actions("Originate") > before).then_some(()))
    })
    .await?;
    // The relay took it from carol's phone (her scope allows only her own extension).
    let ok = wait_for("the call back's answer", || async {
        Ok(page.attributes("action-result", "data-ok").await?.pop())
    })
    .await?;
    assert_eq!(ok, "true", "{}", page.text("action-result").await?);
    page.ensure_no_console_errors().await?;
    harness.stop().await
}
