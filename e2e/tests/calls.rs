//! Call control in the panel, in Chromium, on a pbxsim that makes only the calls each
//! test makes: transfers, park and pick-up, queue pause with a reason, listening in, a
//! PBX restart, a hostile caller ID, and the screen-pop in a CRM page of another origin.

use std::sync::Arc;

use e2e::{Harness, PanelPage, Pbx, api_state, channel_names, originate, wait_for};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The first shown channel whose name starts with `prefix`.
async fn shown_starting(page: &PanelPage, prefix: &str) -> anyhow::Result<Option<String>> {
    Ok(page
        .shown_channels()
        .await?
        .into_iter()
        .find(|c| c.starts_with(prefix)))
}

/// Waits for the last action's answer and checks it succeeded.
async fn action_succeeded(page: &PanelPage) -> anyhow::Result<()> {
    let ok = wait_for("the action's answer", || async {
        Ok(page.attributes("action-result", "data-ok").await?.pop())
    })
    .await?;
    let text = page.text("action-result").await.unwrap_or_default();
    anyhow::ensure!(ok == "true", "the action failed: {text}");
    // Dismiss it, so the next wait sees the next answer.
    page.click_button_in("[data-testid='action-result']", "×")
        .await?;
    Ok(())
}

fn row(channel: &str) -> String {
    format!("[data-testid='channel'][data-channel='{channel}']")
}

/// A bridged call from phone 100 to 200 (which dials 201): waits until 201 answered.
async fn bridged_call(pbx: &Pbx, page: &PanelPage, caller_id: &str) -> anyhow::Result<()> {
    let admin = e2e::side_session(pbx).await?;
    originate(&admin, "100", "200", caller_id, 300).await?;
    wait_for("the call bridged on screen", || async {
        let bridges = page
            .driver
            .execute(
                "const calls = {};\
                 for (const c of document.querySelectorAll(\"[data-testid='channel'][data-bridge]\")) {\
                   const bridge = c.getAttribute('data-bridge'); if (bridge) calls[bridge] = (calls[bridge] || 0) + 1; }\
                 return Object.values(calls).filter(n => n >= 2).length",
                Vec::new(),
            )
            .await?
            .convert::<u64>()?;
        Ok((bridges > 0).then_some(()))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn park_pick_up_and_pause_a_queue_member_with_a_reason() -> anyhow::Result<()> {
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let harness = Harness::start_with(&pbx).await?;
    let page = harness.open_panel().await?;
    page.login_and_wait("admin", "admin-secret").await?;
    page.navigate("Supervisor").await?;
    page.fill(
        "[aria-label='Extensions'] input[aria-label='My extension']",
        "101",
    )
    .await?;
    bridged_call(&pbx, &page, "\"Alice Caller\" <1001>").await?;

    // Park the called phone; its call shows in the parking lot.
    let callee = shown_starting(&page, "Local/201@test")
        .await?
        .ok_or_else(|| anyhow::anyhow!("no callee on screen"))?;
    anyhow::ensure!(
        page.click_button_in(&row(&callee), "Park").await?,
        "no Park button"
    );
    action_succeeded(&page).await?;
    let space = wait_for("a parked call", || async {
        Ok(page.attributes("parked", "data-space").await?.pop())
    })
    .await?;
    // Pick it up at my extension: the lot empties and my phone has the call.
    let parked = format!("[data-testid='parked'][data-space='{space}']");
    anyhow::ensure!(
        page.click_button_in(&parked, "Pick up").await?,
        "no Pick up button"
    );
    action_succeeded(&page).await?;
    wait_for("the lot to empty", || async {
        Ok(page
            .attributes("parked", "data-space")
            .await?
            .is_empty()
            .then_some(()))
    })
    .await?;
    wait_for("my phone to have the call", || async {
        Ok(shown_starting(&page, "Local/101@test").await?.map(|_| ()))
    })
    .await?;

    // Pause agent one in support for lunch: the relay holds the reason as given.
    let member = "[data-testid='queue'][data-queue='support'] li.member[data-interface='Local/agent1@agents/n']";
    page.fill(
        &format!("{member} select[aria-label='Pause reason']"),
        "Lunch",
    )
    .await?;
    anyhow::ensure!(
        page.click_button_in(member, "Pause").await?,
        "no Pause button"
    );
    action_succeeded(&page).await?;
    wait_for("the member shown paused for Lunch", || async {
        let text = page
            .driver
            .execute(
                "const m = document.querySelector(arguments[0]); return m ? m.getAttribute('data-paused') + ' ' + m.textContent : ''",
                vec![serde_json::json!(member)],
            )
            .await?
            .convert::<String>()?;
        Ok((text.starts_with("true") && text.contains("paused: Lunch")).then_some(()))
    })
    .await?;
    let state = api_state(&harness.base_url).await?;
    let paused = state["servers"][0]["queues"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|q| q["members"].as_array().into_iter().flatten())
        .any(|m| m["interface"] == "Local/agent1@agents/n" && m["paused_reason"] == "Lunch");
    anyhow::ensure!(paused, "the relay does not hold the pause reason: {state}");
    page.ensure_no_console_errors().await?;
    harness.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blind_and_attended_transfer_from_the_agent_view() -> anyhow::Result<()> {
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let harness = Harness::start_with(&pbx).await?;
    let page = harness.open_panel().await?;
    page.login_and_wait("admin", "admin-secret").await?;
    page.fill("input[aria-label='My extension']", "100").await?;
    let admin = e2e::side_session(&pbx).await?;
    // FEATUREMAP(atxfer) lets this caller transfer attended, as in ami-session-2.
    let action = shared::ami::Message::new()
        .with("Action", "Originate")
        .with("Channel", "Local/100@test")
        .with("Context", "test")
        .with("Exten", "200")
        .with("Priority", "1")
        .with("Async", "true")
        .with("Variable", "BRIDGE_FEATURES=T")
        .with("Variable", "FEATUREMAP(atxfer)=*2")
        .with("Variable", "DURATION=300");
    admin.send_until_response(action).await?;
    // My leg that dialled (…;1) once the call is bridged.
    let mine = wait_for("my call, bridged", || async {
        let state = api_state(&harness.base_url).await?;
        let bridged = state["servers"][0]["channels"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| {
                c["channel"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("Local/100@test") && n.ends_with(";1"))
                    && !c["bridge"].is_null()
            })
            .and_then(|c| c["channel"].as_str().map(String::from));
        let shown = page.attributes("my-call", "data-channel").await?;
        Ok(bridged.filter(|b| shown.contains(b)))
    })
    .await?;
    let my_row = format!("[data-testid='my-call'][data-channel='{mine}']");

    // Attended: consult 200, then cancel. Asterisk queues it ("Atxfer successfully
    // queued") but, as recorded in ami-session-2, never starts it here: the panel says
    // so within a few seconds instead of showing a transfer that is not happening.
    page.fill(&format!("{my_row} input[aria-label='Transfer to']"), "200")
        .await?;
    anyhow::ensure!(
        page.click_button_in(&my_row, "Consult").await?,
        "no Consult button"
    );
    let ok = wait_for("the consult's answer", || async {
        Ok(page.attributes("action-result", "data-ok").await?.pop())
    })
    .await?;
    let text = page.text("action-result").await.unwrap_or_default();
    anyhow::ensure!(
        ok == "false" && text.contains("never started"),
        "a transfer Asterisk never started was shown as {ok}: {text}"
    );
    page.click_button_in("[data-testid='action-result']", "×")
        .await?;
    anyhow::ensure!(
        page.click_button_in(&my_row, "Cancel").await?,
        "no Cancel button"
    );
    wait_for("the cancel's answer", || async {
        Ok(page.attributes("action-result", "data-ok").await?.pop())
    })
    .await?;
    page.click_button_in("[data-testid='action-result']", "×")
        .await?;

    // Blind: the other party goes on to 250, which rings phone 202.
    page.fill(&format!("{my_row} input[aria-label='Transfer to']"), "250")
        .await?;
    anyhow::ensure!(
        page.click_button_in(&my_row, "Transfer").await?,
        "no Transfer button"
    );
    action_succeeded(&page).await?;
    page.navigate("Supervisor").await?;
    wait_for("the transferee ringing 202", || async {
        Ok(shown_starting(&page, "Local/202@test").await?.map(|_| ()))
    })
    .await?;
    page.ensure_no_console_errors().await?;
    harness.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_listens_in_and_a_hostile_caller_id_stays_text() -> anyhow::Result<()> {
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let harness = Harness::start_with(&pbx).await?;
    let page = harness.open_panel().await?;
    page.login_and_wait("admin", "admin-secret").await?;
    page.navigate("Supervisor").await?;
    page.fill(
        "[aria-label='Extensions'] input[aria-label='My extension']",
        "101",
    )
    .await?;
    let hostile = "<img src=x onerror=window.__xss=1>";
    bridged_call(&pbx, &page, &format!("\"{hostile}\" <7999>")).await?;
    // The name is shown as the very text Asterisk sent, and nothing ran.
    let shown = wait_for("the caller's name on screen", || async {
        let texts = page
            .driver
            .execute(
                "return Array.from(document.querySelectorAll(\"[data-testid='channel'] .caller\")).map(e => e.textContent)",
                Vec::new(),
            )
            .await?
            .convert::<Vec<String>>()?;
        Ok(texts.into_iter().find(|t| t.contains("7999")))
    })
    .await?;
    anyhow::ensure!(shown == format!("{hostile} <7999>"), "shown as {shown:?}");
    let ran = page
        .driver
        .execute(
            "return window.__xss === 1 || document.querySelector('.caller img') !== null",
            Vec::new(),
        )
        .await?
        .convert::<bool>()?;
    anyhow::ensure!(!ran, "the caller ID was rendered as markup");

    // Listen in on the callee from my phone: a spy session starts.
    let callee = shown_starting(&page, "Local/201@test")
        .await?
        .ok_or_else(|| anyhow::anyhow!("no callee on screen"))?;
    anyhow::ensure!(
        page.click_button_in(&row(&callee), "Listen").await?,
        "no Listen button"
    );
    action_succeeded(&page).await?;
    wait_for("the spy session in the relay's model", || async {
        let state = api_state(&harness.base_url).await?;
        Ok(state["servers"][0]["spies"]
            .as_array()
            .is_some_and(|s| !s.is_empty())
            .then_some(()))
    })
    .await?;
    page.ensure_no_console_errors().await?;
    harness.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_pbx_restart_no_channel_of_the_old_run_is_shown() -> anyhow::Result<()> {
    let mut pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let harness = Harness::start_with(&pbx).await?;
    let page = harness.open_panel().await?;
    page.login_and_wait("admin", "admin-secret").await?;
    page.navigate("Supervisor").await?;
    bridged_call(&pbx, &page, "\"Before Restart\" <1111>").await?;
    let before = page.shown_channels().await?;

    pbx.restart().await;
    let admin = e2e::side_session(&pbx).await?;
    originate(&admin, "101", "200", "\"After Restart\" <2222>", 300).await?;
    // The page follows the new run: what it shows is what the relay holds, which is
    // what the new pbxsim has, and none of it is from before.
    wait_for("the screen to show only the new run", || async {
        let api = channel_names(&api_state(&harness.base_url).await?);
        let shown = page.shown_channels().await?;
        let new_call = shown.iter().any(|c| c.starts_with("Local/101@test"));
        Ok((new_call && shown == api).then_some(()))
    })
    .await?;
    let callers = page
        .driver
        .execute(
            "return Array.from(document.querySelectorAll(\"[data-testid='channel'] .caller\")).map(e => e.textContent).join('|')",
            Vec::new(),
        )
        .await?
        .convert::<String>()?;
    anyhow::ensure!(
        !callers.contains("Before Restart"),
        "a ghost of the old run: {callers} (before: {before:?})"
    );
    harness.stop().await
}

/// Serves `page` to every request on `listener`: the CRM's page, on its own origin.
fn serve_page(listener: TcpListener, page: String) {
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let page = page.clone();
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request).await;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
                    page.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_screen_pop_posts_the_call_to_a_crm_page_of_another_origin() -> anyhow::Result<()> {
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    // The CRM's origin is another port: the relay is told it may frame and hear the pop.
    let crm = TcpListener::bind("127.0.0.1:0").await?;
    let crm_origin = format!("http://{}", crm.local_addr()?);
    let origin = crm_origin.clone();
    let harness = Harness::start_tweaked(
        &pbx,
        Arc::new(move |config| {
            config.pop_frame_ancestors = vec![origin.clone()];
            config.screen_pop.target_origin = Some(origin.clone());
        }),
    )
    .await?;
    // A CRM gets the token server-side and hands it to the pop in the URL fragment.
    let login: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/api/v1/login", harness.base_url))
        .json(&serde_json::json!({"server": "demo", "username": "admin", "secret": "admin-secret"}))
        .send()
        .await?
        .json()
        .await?;
    let token = login["token"].as_str().unwrap_or_default();
    serve_page(
        crm,
        format!(
            "<!doctype html><title>CRM</title><script>window.__messages = [];\
             addEventListener('message', e => window.__messages.push({{origin: e.origin, data: e.data}}));</script>\
             <iframe width=400 height=300 src=\"{}/pop?ext=100#token={token}\"></iframe>",
            harness.base_url
        ),
    );
    harness.browser.driver.goto(&crm_origin).await?;
    // Ring extension 100 until the pop, once live, reports it.
    let admin = e2e::side_session(&pbx).await?;
    originate(&admin, "100", "200", "\"Pop Caller\" <5555>", 300).await?;
    let message = wait_for("the pop's message in the CRM page", || async {
        let messages = harness
            .browser
            .driver
            .execute("return window.__messages", Vec::new())
            .await?
            .convert::<Vec<serde_json::Value>>()?;
        Ok(messages
            .into_iter()
            .find(|m| m["data"]["type"] == "astpanel.call"))
    })
    .await?;
    anyhow::ensure!(message["origin"] == harness.base_url.as_str(), "{message}");
    anyhow::ensure!(message["data"]["exten"] == "100", "{message}");
    harness.stop().await
}
