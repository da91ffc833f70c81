//! The relay against an Asterisk that is still booting (`ami-boot.txt`, pbxsim's restart
//! fault) and against one that floods events from its first second: the model is
//! rebuilt whole, and the link comes up, without a reconnect.

mod relay_support;

use std::time::{Duration, Instant};

use relay_support::{PATIENCE, Pbx, Relay, server};
use serde_json::Value;

/// The first server's link, from `/healthz`.
async fn link(relay: &Relay) -> Value {
    relay.get_json("/healthz").await["servers"][0].clone()
}

async fn until_link(relay: &Relay, wanted: impl Fn(&Value) -> bool, what: &str) -> Value {
    let started = Instant::now();
    loop {
        let link = link(relay).await;
        if wanted(&link) {
            return link;
        }
        assert!(started.elapsed() < PATIENCE, "never {what}: {link}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn state_is(state: &'static str) -> impl Fn(&Value) -> bool {
    move |link| link["state"] == state
}

/// Restarts pbxsim with a boot phase of `boot` and follows the relay's link through it:
/// it must not be `up` while pbxsim boots (it logged in during the boot), and must be
/// once it has booted. Returns the link then.
async fn through_a_boot(relay: &Relay, faults: &pbxsim::Faults, boot: Duration) -> Value {
    faults.boot_time(boot);
    let restarted = Instant::now();
    faults.restart();
    until_link(relay, |l| l["state"] != "up", "noticed the restart").await;
    let mut resyncing = false;
    // A little before the boot ends, so a slow poll cannot see the end as the boot.
    while restarted.elapsed() < boot - Duration::from_millis(150) {
        let now = link(relay).await;
        assert_ne!(now["state"], "up", "up while Asterisk still boots: {now}");
        resyncing |= now["state"] == "resyncing";
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(resyncing, "the relay never logged in during the boot");
    until_link(relay, state_is("up"), "up after the boot").await
}

#[tokio::test]
async fn a_relay_that_logs_in_while_asterisk_boots_rebuilds_the_whole_model_once_it_has_booted() {
    let config = pbxsim::SimConfig::quiet();
    let faults = config.faults.clone();
    let pbx = Pbx::start(config).await;
    let relay = Relay::start(vec![server("pbx", &pbx)], |_| {}).await;
    until_link(&relay, state_is("up"), "up").await;
    let logins = pbx.stats.logins("admin");

    let up = through_a_boot(&relay, &faults, Duration::from_millis(1_500)).await;
    assert_eq!(up["detail"], Value::Null, "{up}");
    assert_eq!(
        pbx.stats.logins("admin"),
        logins + 1,
        "one login after the restart, no reconnect"
    );
    let admin = relay.login("pbx", "admin", "admin-secret").await.unwrap();
    let state = relay.state(&admin).await;
    let queues = state["servers"][0]["queues"].as_array().cloned();
    let support = queues
        .iter()
        .flatten()
        .find(|q| q["name"] == "support")
        .unwrap_or_else(|| panic!("no queue support after the boot: {state}"));
    let members = support["members"].as_array().map_or(0, Vec::len);
    assert_eq!(members, 2, "{support}");
}

#[tokio::test]
async fn a_status_list_that_stays_unknown_after_the_boot_is_named_on_the_link() {
    let mut config = pbxsim::SimConfig::quiet();
    // app_queue not loaded: QueueStatus is unknown, booted or not.
    config.missing_actions = vec!["QueueStatus".into()];
    let faults = config.faults.clone();
    let pbx = Pbx::start(config).await;
    let relay = Relay::start(vec![server("pbx", &pbx)], |_| {}).await;
    let up = until_link(&relay, state_is("up"), "up").await;
    let named = |link: &Value| {
        let detail = link["detail"].as_str().unwrap_or_default().to_owned();
        assert!(detail.contains("QueueStatus"), "{link}");
        // The lists that were unknown only while booting were answered after it.
        assert!(!detail.contains("DeviceStateList"), "{link}");
    };
    named(&up);
    let logins = pbx.stats.logins("admin");

    let up = through_a_boot(&relay, &faults, Duration::from_millis(1_500)).await;
    named(&up);
    assert_eq!(pbx.stats.logins("admin"), logins + 1, "no reconnect");
}

/// Issue 21: the rebuild must not wait for an answer that sits behind events it holds
/// back. With a 16-event session queue and pbxsim streaming as fast as it is read from
/// its first second, the `Filter` answers and the status lists arrive behind thousands of
/// events; a 60 s action timeout keeps a starved wait from being rescued by its timeout.
#[tokio::test]
async fn the_link_comes_up_while_asterisk_floods_events_from_its_first_second() {
    let pbx = Pbx::start(pbxsim::SimConfig::load()).await;
    // Another client reading, so the flood is on before the relay logs in (pbxsim's
    // load mode idles while nobody listens).
    let _busy = relay_support::side_session(&pbx);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut followed = server("pbx", &pbx);
    followed.ami.event_buffer = 16;
    followed.ami.action_timeout = Duration::from_secs(60);
    let relay = Relay::start(vec![followed], |_| {}).await;
    until_link(&relay, state_is("up"), "up under load").await;
}
