//! The operator's day in Chromium, on a pbxsim with the demo's call centre (its agents,
//! presence and mailboxes) that makes only the calls the test makes: an agent signs out
//! of all their queues and the supervisor sees it; DND set by an agent shows on the
//! supervisor's grid; a call sent to voicemail reaches the mailbox; a queue call shows
//! its queue on the agent's call; a read-only account is offered none of it.

use std::sync::Arc;

use e2e::{Browser, Harness, PanelPage, Pbx, originate, wait_for};
use relay::auth::users::{RelayUser, hash_password};
use shared::action::Role;
use shared::ami::Message;

/// alice: agent at 1001, whose seat is `Local/agent1@agents/n` in `support`; sam: supervisor.
fn users() -> Vec<RelayUser> {
    let user = |name: &str, role: Role, exten: &str| {
        let hash = hash_password(format!("{name}-password").as_bytes()).expect("hash");
        RelayUser::new(
            name.into(),
            hash.as_str(),
            "demo".into(),
            "admin".into(),
            "admin-secret".into(),
            role,
            Some(exten.into()),
        )
        .expect("user")
    };
    vec![
        user("alice", Role::Agent, "1001"),
        user("sam", Role::Supervisor, "1002"),
    ]
}

async fn start() -> anyhow::Result<(Pbx, Harness)> {
    let mut config = pbxsim::SimConfig::quiet();
    config.directory = pbxsim::Directory::call_centre();
    let pbx = Pbx::start(config).await;
    let harness = Harness::start_tweaked(&pbx, Arc::new(|c| c.users = users())).await?;
    Ok((pbx, harness))
}

/// A second Chromium for the supervisor, logged in on the supervisor view.
async fn supervisor(harness: &Harness) -> anyhow::Result<(Browser, PanelPage)> {
    let browser = Browser::start().await?;
    let page = browser.open_panel(&harness.base_url).await?;
    page.login_and_wait("sam", "sam-password").await?;
    page.navigate("Supervisor").await?;
    Ok((browser, page))
}

fn member(queue: &str, interface: &str) -> String {
    format!("[data-testid='queue'][data-queue='{queue}'] li.member[data-interface='{interface}']")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_signs_out_of_all_queues_and_the_supervisor_sees_it() -> anyhow::Result<()> {
    let (_pbx, harness) = start().await?;
    let (sup_browser, sup) = supervisor(&harness).await?;
    let agent1 = member("support", "Local/agent1@agents/n");
    wait_for("agent1 in support on the supervisor's page", || async {
        Ok(sup.driver.find(thirtyfour::By::Css(&agent1)).await.ok())
    })
    .await?;

    let page = harness.open_panel().await?;
    page.login_and_wait("alice", "alice-password").await?;
    page.wait_for_attributes(
        "alice's seat, signed in to support",
        "seat-queue",
        "data-signed-in",
        |v| v == ["true"],
    )
    .await?;
    let queues = page.attributes("seat-queue", "data-queue").await?;
    anyhow::ensure!(queues == ["support"], "alice's seat: {queues:?}");
    page.click("signout-all").await?;
    page.wait_for_attribute("seat-queue", "data-signed-in", "false")
        .await?;
    wait_for(
        "agent1 gone from support on the supervisor's page",
        || async {
            let gone = sup
                .driver
                .find_all(thirtyfour::By::Css(&agent1))
                .await?
                .is_empty();
            Ok(gone.then_some(()))
        },
    )
    .await?;
    // And back in, as the supervisor sees again.
    page.click("signin-all").await?;
    wait_for("agent1 back in support", || async {
        Ok(sup.driver.find(thirtyfour::By::Css(&agent1)).await.ok())
    })
    .await?;
    sup_browser.stop().await?;
    harness.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dnd_set_by_an_agent_shows_on_the_supervisors_grid() -> anyhow::Result<()> {
    let (_pbx, harness) = start().await?;
    let (sup_browser, sup) = supervisor(&harness).await?;
    let page = harness.open_panel().await?;
    page.login_and_wait("alice", "alice-password").await?;
    // The picker starts on DND; the first configured reason.
    page.click("presence-set").await?;
    wait_for("1001 DND on the supervisor's grid", || async {
        let tile = sup
            .driver
            .find(thirtyfour::By::Css(
                "[data-testid='extension'][data-exten='1001']",
            ))
            .await?;
        // The tile is drawn again when it changes: a stale one is looked up again.
        let presence = tile.attr("data-presence").await.ok().flatten();
        Ok((presence.as_deref() == Some("dnd")).then_some(()))
    })
    .await?;
    sup_browser.stop().await?;
    harness.stop().await
}

/// New messages in `mailbox` (urgent ones included, as `MessageWaiting` counts them),
/// as Asterisk (pbxsim) counts them.
async fn new_messages(pbx: &Pbx, mailbox: &str) -> anyhow::Result<u32> {
    let admin = e2e::side_session(pbx).await?;
    let answer = admin
        .send(
            Message::new()
                .with("Action", "MailboxCount")
                .with("Mailbox", mailbox),
        )
        .await?;
    let count = |header: &str| -> u32 {
        answer
            .response
            .get_str(header)
            .and_then(|n| n.parse().ok())
            .unwrap_or_default()
    };
    Ok(count("NewMessages") + count("UrgMessages"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_to_voicemail_reaches_the_mailbox() -> anyhow::Result<()> {
    let (pbx, harness) = start().await?;
    let before = new_messages(&pbx, "1003@default").await?;
    let page = harness.open_panel().await?;
    page.login_and_wait("sam", "sam-password").await?;
    page.navigate("Supervisor").await?;
    let admin = e2e::side_session(&pbx).await?;
    originate(&admin, "100", "200", "\"VM Caller\" <6001>", 300).await?;
    let caller = wait_for("the caller on screen", || async {
        Ok(page
            .shown_channels()
            .await?
            .into_iter()
            .find(|c| c.starts_with("Local/100@test") && c.ends_with(";1")))
    })
    .await?;
    // Pick 1003 in the grid, then send the caller to its voicemail.
    page.driver
        .find(thirtyfour::By::Css(
            "[data-testid='extension'][data-exten='1003']",
        ))
        .await?
        .click()
        .await?;
    let row = format!("[data-testid='channel'][data-channel='{caller}']");
    anyhow::ensure!(
        page.click_button_in(&row, "To voicemail").await?,
        "no To voicemail button"
    );
    let shown = (before + 1).to_string();
    wait_for("the new message on 1003's tile", || async {
        let tile = page
            .driver
            .find(thirtyfour::By::Css(
                "[data-testid='extension'][data-exten='1003']",
            ))
            .await?;
        // The tile is drawn again when its counts change: a stale one is looked up again.
        let messages = tile.attr("data-messages").await.ok().flatten();
        Ok((messages.as_deref() == Some(shown.as_str())).then_some(()))
    })
    .await?;
    anyhow::ensure!(new_messages(&pbx, "1003@default").await? == before + 1);
    harness.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_call_shows_its_queue_on_the_agents_call() -> anyhow::Result<()> {
    let (pbx, harness) = start().await?;
    let page = harness.open_panel().await?;
    page.login_and_wait("alice", "alice-password").await?;
    let admin = e2e::side_session(&pbx).await?;
    // 300 is the `support` queue, whose first member is alice's seat.
    originate(&admin, "100", "300", "\"Queue Caller\" <7201>", 60).await?;
    wait_for("the queue on alice's call", || async {
        let badges = page
            .driver
            .find_all(thirtyfour::By::Css(
                "[data-testid='my-call'] [data-testid='call-queue']",
            ))
            .await?;
        for badge in badges {
            if badge.text().await?.contains("support") {
                return Ok(Some(()));
            }
        }
        Ok(None)
    })
    .await?;
    harness.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_account_is_offered_none_of_these_actions() -> anyhow::Result<()> {
    let (pbx, harness) = start().await?;
    let page = harness.open_panel().await?;
    page.login_and_wait("viewer", "viewer-secret").await?;
    page.navigate("Supervisor").await?;
    let admin = e2e::side_session(&pbx).await?;
    originate(&admin, "100", "200", "\"Some Caller\" <6001>", 60).await?;
    wait_for("the call on the viewer's page", || async {
        Ok(page
            .shown_channels()
            .await?
            .into_iter()
            .find(|c| c.starts_with("Local/100@test")))
    })
    .await?;
    for testid in [
        "signin",
        "presence-picker",
        "to-voicemail",
        "penalty",
        "signout-all",
    ] {
        let found = page
            .driver
            .find_all(thirtyfour::By::Css(format!("[data-testid='{testid}']")))
            .await?;
        anyhow::ensure!(found.is_empty(), "{testid} offered to a read-only account");
    }
    harness.stop().await
}
