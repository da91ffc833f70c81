//! Queue alarms in Chromium: a queue crossing its threshold turns its wallboard card
//! red, and a supervisor whose tab is in the background gets a desktop notification.

use std::sync::Arc;

use e2e::{Harness, Pbx, originate, wait_for};
use serde_json::{Value, json};
use shared::model::figures::QueueThresholds;

/// Run before the panel's own code on every page (CDP's
/// `Page.addScriptToEvaluateOnNewDocument`). Headless Chromium shows no notification a
/// test could see, and its tab is always in front, where the panel rightly shows none.
/// So the page gets a `Notification` that records what it is asked to show (and grants
/// the permission when asked, counting the asks, so the test also sees that the panel
/// asks only on the click), and a document that reports itself hidden. Granting through
/// CDP's `Browser.grantPermissions` instead would still leave nothing to observe.
const RECORDER: &str = r#"
window.__notifications = [];
window.__asked = 0;
window.__permission = 'default';
class RecordingNotification {
  constructor(title, options) {
    window.__notifications.push({ title, body: (options || {}).body, tag: (options || {}).tag });
  }
  static get permission() { return window.__permission; }
  static requestPermission() {
    window.__asked += 1;
    window.__permission = 'granted';
    return Promise.resolve('granted');
  }
}
Object.defineProperty(window, 'Notification', { value: RecordingNotification, configurable: true, writable: true });
Object.defineProperty(Document.prototype, 'visibilityState', { get() { return 'hidden'; }, configurable: true });
Object.defineProperty(Document.prototype, 'hidden', { get() { return true; }, configurable: true });
"#;

/// What the page's recorder holds: `{asked, notifications: [{title, body, tag}]}`.
async fn recorded(driver: &thirtyfour::WebDriver) -> anyhow::Result<Value> {
    let answer = driver
        .execute(
            "return JSON.stringify({asked: window.__asked, notifications: window.__notifications});",
            Vec::new(),
        )
        .await?;
    let text: String = answer.convert()?;
    Ok(serde_json::from_str(&text)?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_crossing_its_threshold_turns_the_card_red_and_notifies() -> anyhow::Result<()> {
    let pbx = Pbx::start(pbxsim::SimConfig::quiet()).await;
    // `sales` has no members: a caller waits there until they hang up.
    let alarm_on_sales: e2e::Tweak = Arc::new(|config: &mut relay::config::Config| {
        if let relay::config::Upstream::Asterisk(servers) = &mut config.upstream {
            for server in servers {
                server.queue_alarms = vec![QueueThresholds {
                    queue: "sales".into(),
                    waiting_amber: Some(1),
                    wait_red_s: Some(3),
                    ..QueueThresholds::default()
                }];
            }
        }
    });
    let harness = Harness::start_tweaked(&pbx, alarm_on_sales).await?;
    harness
        .browser
        .driver
        .cdp()
        .send_raw(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({ "source": RECORDER }),
        )
        .await?;
    let page = harness.open_panel().await?;
    page.login_and_wait("admin", "admin-secret").await?;
    page.navigate("Wallboard").await?;
    page.wait_for_attributes("both queue cards, clear", "queue", "data-alarm", |a| {
        a.len() == 2 && a.iter().all(|level| level == "none")
    })
    .await?;
    anyhow::ensure!(
        recorded(&page.driver).await?["asked"] == 0,
        "the panel asked for the permission before any click"
    );
    page.click("notifications").await?;
    page.wait_for_attribute("notifications", "data-permission", "granted")
        .await?;
    anyhow::ensure!(recorded(&page.driver).await?["asked"] == 1);

    let side = e2e::side_session(&pbx).await?;
    originate(&side, "100", "310", "\"Sales Caller\" <7101>", 60).await?;
    let levels = page
        .wait_for_attributes("the sales card red", "queue", "data-alarm", |a| {
            a.iter().any(|level| level == "red")
        })
        .await?;
    let queues = page.attributes("queue", "data-queue").await?;
    let red: Vec<&String> = queues
        .iter()
        .zip(&levels)
        .filter(|(_, level)| *level == "red")
        .map(|(queue, _)| queue)
        .collect();
    anyhow::ensure!(red == ["sales"], "red cards: {red:?}");
    let class = page
        .driver
        .find(thirtyfour::By::Css("[data-queue='sales']"))
        .await?
        .attr("class")
        .await?
        .unwrap_or_default();
    anyhow::ensure!(class.contains("alarm-red"), "class {class:?}");

    let notifications = wait_for("the red alarm's notification", || async {
        let seen = recorded(&page.driver).await?["notifications"].clone();
        let red = seen.as_array().is_some_and(|all| {
            all.iter().any(|n| {
                n["title"]
                    .as_str()
                    .is_some_and(|t| t.contains("sales") && t.contains("red"))
            })
        });
        Ok(red.then_some(seen))
    })
    .await?;
    let titles: Vec<&str> = notifications
        .as_array()
        .map(|all| all.iter().filter_map(|n| n["title"].as_str()).collect())
        .unwrap_or_default();
    anyhow::ensure!(
        titles == ["Queue sales: amber", "Queue sales: red"],
        "notifications: {notifications}"
    );
    page.ensure_no_console_errors().await?;
    harness.stop().await
}
