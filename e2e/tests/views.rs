//! The supervisor's tools in Chromium: the extension grid of a 2,000-phone PBX drawn in
//! part and searched, the call list of a thousand channels drawn in part, the raw event
//! log (open, filter, pause), and the AMI console (answered for `admin`, refused in
//! Asterisk's words, absent for `viewer`).

use e2e::{Harness, PanelPage, Pbx, originate, wait_for};
use pbxsim::directory::{Agent, Directory, Phone, QueueDef};
use thirtyfour::prelude::*;

const PHONES: usize = 2_000;
/// The last phone: far below the first screenful, unregistered, and the one agent.
const FAR: &str = "2999";
const FAR_NAME: &str = "Zoe Farthest";

/// 2,000 phones 1000…2999 on custom devices (whose state a test sets), the last one
/// unavailable and the only member of `support`, so it has a name.
fn many_phones() -> Directory {
    let phones = (0..PHONES)
        .map(|i| {
            let exten = (1000 + i).to_string();
            Phone {
                hint: format!("Custom:{exten}"),
                exten,
                name: String::new(),
                mailbox: None,
            }
        })
        .collect();
    Directory {
        phones,
        device_states: vec![(format!("Custom:{FAR}"), "UNAVAILABLE".into())],
        agents: vec![Agent {
            name: FAR_NAME.into(),
            device: format!("Custom:{FAR}"),
        }],
        queues: vec![QueueDef {
            name: "support".into(),
            strategy: "ringall".into(),
            members: vec![0],
            paused: Vec::new(),
        }],
        ..Directory::none()
    }
}

/// The relay on `pbx` and the panel logged in as `admin`, on the view `label`.
async fn admin_on(pbx: &Pbx, label: &str) -> anyhow::Result<(Harness, PanelPage)> {
    let harness = Harness::start_with(pbx).await?;
    let page = harness.open_panel().await?;
    page.login_and_wait("admin", "admin-secret").await?;
    page.navigate(label).await?;
    Ok((harness, page))
}

async fn tiles(page: &PanelPage) -> anyhow::Result<Vec<String>> {
    page.attributes("extension", "data-exten").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_extensions_draw_a_window_and_search_finds_the_last() -> anyhow::Result<()> {
    let mut config = pbxsim::SimConfig::quiet();
    config.directory = many_phones();
    let pbx = Pbx::start(config).await;
    let admin = e2e::side_session(&pbx).await?;
    let (harness, page) = admin_on(&pbx, "Supervisor").await?;
    // Loaded by its address, the view is there before the first snapshot.
    page.driver.refresh().await?;
    page.wait_for_text_containing("extension-count", &format!("{PHONES} extensions"))
        .await?;
    let drawn = page
        .wait_for_attributes("the first tiles", "extension", "data-exten", |t| {
            t.first().is_some_and(|t| t == "1000")
        })
        .await?;
    anyhow::ensure!(
        drawn.len() < 300 && !drawn.iter().any(|t| t == FAR),
        "{} of {PHONES} tiles are in the DOM",
        drawn.len()
    );

    // Scrolled to the end, the window moves there.
    page.driver
        .execute(
            "const box = document.querySelector('.scroll-box.extensions'); box.scrollTop = box.scrollHeight;",
            Vec::new(),
        )
        .await?;
    let drawn = page
        .wait_for_attributes("the last tiles", "extension", "data-exten", |t| {
            t.last().is_some_and(|t| t == FAR)
        })
        .await?;
    anyhow::ensure!(
        drawn.len() < 300 && !drawn.iter().any(|t| t == "1000"),
        "{drawn:?}"
    );

    let search = "[data-testid='extension-search']";
    let state = "[data-testid='extension-state-filter']";
    page.fill(search, FAR).await?;
    page.wait_for_attributes("a search by number", "extension", "data-exten", |t| {
        t == [FAR]
    })
    .await?;
    page.fill(search, "zoe far").await?;
    page.wait_for_attributes("a search by name", "extension", "data-exten", |t| {
        t == [FAR]
    })
    .await?;
    anyhow::ensure!(
        page.text("extension").await?.contains(FAR_NAME),
        "the tile names its agent"
    );
    page.fill(search, "").await?;
    page.fill(state, "unavailable").await?;
    page.wait_for_attributes("the state filter", "extension", "data-exten", |t| {
        t == [FAR]
    })
    .await?;
    page.wait_for_attribute("extension", "data-state", "unavailable")
        .await?;
    // A state Asterisk reports later shows on the tile.
    let in_use = shared::ami::Message::new()
        .with("Action", "Setvar")
        .with("Variable", format!("DEVICE_STATE(Custom:{FAR})"))
        .with("Value", "INUSE");
    admin.send_until_response(in_use).await?;
    page.fill(state, "inuse").await?;
    page.wait_for_attributes("the tile in use", "extension", "data-exten", |t| t == [FAR])
        .await?;
    page.fill(state, "").await?;
    page.wait_for_attributes(
        "every tile again, in part",
        "extension",
        "data-exten",
        |t| t.len() > 1 && t.len() < 300,
    )
    .await?;
    anyhow::ensure!(tiles(&page).await?.len() < PHONES);
    page.ensure_no_console_errors().await?;
    harness.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_channels_draw_a_window_of_the_call_list() -> anyhow::Result<()> {
    const CALLS: usize = 250;
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let admin = e2e::side_session(&pbx).await?;
    let (harness, page) = admin_on(&pbx, "Supervisor").await?;
    // Calls to `200` in the test dialplan: four Local channels each.
    for n in 0..CALLS {
        let caller = format!("\"Caller {n}\" <{}>", 2000 + n);
        originate(&admin, "100", "200", &caller, 600).await?;
    }
    let live = wait_for("every call on the relay", || async {
        let names = e2e::channel_names(&e2e::api_state(&harness.base_url).await?);
        Ok((names.len() >= 4 * CALLS).then_some(names))
    })
    .await?;
    page.wait_for_text_containing("channel-count", &format!("{} channels", live.len()))
        .await?;
    let top = page.shown_channels().await?;
    anyhow::ensure!(
        !top.is_empty() && top.len() < 300 && top.is_subset(&live),
        "{} of {} channels drawn at the top",
        top.len(),
        live.len()
    );
    page.driver
        .execute(
            "const box = document.querySelector('.scroll-box.calls'); box.scrollTop = box.scrollHeight;",
            Vec::new(),
        )
        .await?;
    let bottom = wait_for("other rows drawn at the bottom", || async {
        let shown = page.shown_channels().await?;
        Ok((!shown.is_empty() && shown.is_disjoint(&top)).then_some(shown))
    })
    .await?;
    anyhow::ensure!(bottom.len() < 300 && bottom.is_subset(&live), "{bottom:?}");
    page.ensure_no_console_errors().await?;
    harness.stop().await
}

/// The events shown, by name.
async fn events(page: &PanelPage) -> anyhow::Result<Vec<String>> {
    page.attributes("event", "data-event").await
}

/// The text of every event shown.
async fn event_texts(page: &PanelPage) -> anyhow::Result<Vec<String>> {
    let script = "return Array.from(document.querySelectorAll(\"[data-testid='event']\")).map(e => e.textContent)";
    Ok(page.driver.execute(script, Vec::new()).await?.convert()?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_log_shows_events_while_open_filters_pauses_and_stops_when_left()
-> anyhow::Result<()> {
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let admin = e2e::side_session(&pbx).await?;
    let (harness, page) = admin_on(&pbx, "Agent").await?;
    page.driver
        .execute(SPY_ON_EVENT_REQUESTS, Vec::new())
        .await?;
    page.navigate("Events").await?;
    originate(&admin, "100", "200", "\"Log Test\" <1001>", 300).await?;
    page.wait_for_attributes("a Newchannel in the log", "event", "data-event", |e| {
        e.iter().any(|e| e == "Newchannel")
    })
    .await?;

    page.fill("[data-testid='event-filter-name']", "newchan")
        .await?;
    page.wait_for_attributes("only Newchannel events", "event", "data-event", |e| {
        !e.is_empty() && e.iter().all(|e| e == "Newchannel")
    })
    .await?;
    page.fill("[data-testid='event-filter-name']", "").await?;
    page.fill("[data-testid='event-filter-text']", "log test")
        .await?;
    wait_for("only events that mention the caller", || async {
        let texts = event_texts(&page).await?;
        Ok((!texts.is_empty() && texts.iter().all(|t| t.contains("Log Test"))).then_some(()))
    })
    .await?;
    page.fill("[data-testid='event-filter-text']", "").await?;

    // Paused, a new call adds nothing to the log.
    page.click("event-pause").await?;
    page.wait_for_attribute("event-count", "data-paused", "true")
        .await?;
    let before = events(&page).await?;
    originate(&admin, "101", "200", "\"While Paused\" <1002>", 300).await?;
    wait_for("the second call on the relay", || async {
        let state = e2e::api_state(&harness.base_url).await?;
        let channels = state["servers"][0]["channels"].as_array().cloned();
        Ok(channels
            .into_iter()
            .flatten()
            .any(|c| c["caller_id_name"] == "While Paused")
            .then_some(()))
    })
    .await?;
    anyhow::ensure!(
        events(&page).await? == before,
        "events arrived while paused"
    );

    // Resumed, the next events show again.
    page.click("event-pause").await?;
    page.wait_for_attribute("event-count", "data-paused", "false")
        .await?;
    originate(&admin, "101", "200", "\"After Resume\" <1003>", 300).await?;
    wait_for("the next call in the log", || async {
        Ok(event_texts(&page)
            .await?
            .iter()
            .any(|t| t.contains("After Resume"))
            .then_some(()))
    })
    .await?;
    // Leaving the view stops the relay's raw events: the page asked for them only
    // while the log was open and not paused.
    page.navigate("Supervisor").await?;
    wait_for("the page to stop the events", || async {
        let asked: Vec<bool> = page
            .driver
            .execute("return window.__eventsAsked", Vec::new())
            .await?
            .convert()?;
        Ok((asked == [true, false, true, false]).then_some(()))
    })
    .await?;
    page.ensure_no_console_errors().await?;
    harness.stop().await
}

/// Records every `{"type": "events", "enabled": …}` the page sends on its socket.
const SPY_ON_EVENT_REQUESTS: &str = "window.__eventsAsked = [];\
    const send = WebSocket.prototype.send;\
    WebSocket.prototype.send = function (data) {\
      try { const m = JSON.parse(data); if (m.type === 'events') window.__eventsAsked.push(m.enabled); } catch (e) {}\
      return send.call(this, data);\
    };";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_answers_admin_and_is_not_offered_to_a_viewer() -> anyhow::Result<()> {
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    let (harness, page) = admin_on(&pbx, "Console").await?;
    page.fill("[data-testid='console-action']", "Ping").await?;
    page.click("console-send").await?;
    page.wait_for_text_containing("console-response", "Ping: Pong")
        .await?;
    page.wait_for_attribute("console-answer", "data-ok", "true")
        .await?;

    // Refused: Asterisk's own words.
    page.fill("[data-testid='console-action']", "Hangup")
        .await?;
    page.fill(
        "[data-testid='console-headers']",
        "Channel: PJSIP/nobody-00000000",
    )
    .await?;
    page.click("console-send").await?;
    page.wait_for_text_containing("console-error", "No such channel")
        .await?;
    anyhow::ensure!(
        page.attributes("action-result", "data-ok")
            .await?
            .is_empty(),
        "the console's answer also popped up as a toast"
    );

    page.click_button_in("header", "Log out").await?;
    page.login_and_wait("viewer", "viewer-secret").await?;
    let console_links = page
        .driver
        .find_all(By::XPath("//nav//a[normalize-space()='Console']"))
        .await?;
    anyhow::ensure!(console_links.is_empty(), "a viewer was offered the console");
    // Even by its address, the viewer gets no console.
    page.driver
        .goto(format!("{}/console", harness.base_url))
        .await?;
    page.wait_for_text_containing("console-refused", "may not")
        .await?;
    anyhow::ensure!(
        page.attributes("console", "data-testid").await?.is_empty(),
        "the console form is there for a viewer"
    );
    page.ensure_no_console_errors().await?;
    harness.stop().await
}
