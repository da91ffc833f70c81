//! Queue statistics as ami-session-3 recorded them: `QueueParams` and `QueueSummary` after
//! support's five calls, `QueueReset`, and a restart that starts them again at 0.

mod common;

use common::Client;
use common::fixture::{self, keys};
use pbxsim::SimConfig;
use pbxsim::model::QueueStats;
use shared::ami::Message;
use testkit::Pbx as Sim;

/// The recorded list items of the action with ActionID `id` in ami-session-3.
fn recorded(id: &str) -> Vec<Message> {
    fixture::received("ami-session-3.txt")
        .into_iter()
        .filter(|m| m.event_name().is_some() && m.action_id() == Some(id.as_bytes()))
        .collect()
}

/// The recorded `QueueParams` of support answering ActionID `id`.
fn recorded_params(id: &str) -> Message {
    recorded(id)
        .into_iter()
        .find(|m| {
            m.event_name() == Some(b"QueueParams")
                && m.get_str("Queue").as_deref() == Some("support")
        })
        .expect("support's QueueParams")
}

fn text(m: &Message, key: &str) -> String {
    m.get_str(key).unwrap_or_default().into_owned()
}

/// Support's calls of ami-session-3: holds of 2, 0 and 6 s, talks of 4, 9 and 4 s, then
/// two callers who hang up after 3 s. app_queue's averages and shares give what its
/// QueueStatus said during call 1 (`Holdtime: 2`, `Completed: 0`) and after the five
/// (`Holdtime: 2`, `TalkTime: 4`, `ServicelevelPerf: 33.3`, `ServicelevelPerf2: 20.0`).
#[test]
fn the_statistics_are_app_queues_averages_and_shares() {
    let mut stats = QueueStats::default();
    stats.answered(2);
    let during = recorded_params("qstatus-65");
    assert_eq!(stats.holdtime.to_string(), text(&during, "Holdtime"));
    assert_eq!(stats.completed.to_string(), text(&during, "Completed"));
    stats.completed(2, 4, 0);
    for (hold, talk) in [(0, 9), (6, 4)] {
        stats.answered(hold);
        stats.completed(hold, talk, 0);
    }
    stats.abandoned(3, 0);
    stats.abandoned(3, 0);
    let after = recorded_params("qstatus-78");
    let (perf, perf2) = stats.service_levels();
    assert_eq!(
        [
            stats.completed.to_string(),
            stats.abandoned.to_string(),
            stats.holdtime.to_string(),
            stats.talktime.to_string(),
            perf,
            perf2,
        ],
        [
            "Completed",
            "Abandoned",
            "Holdtime",
            "TalkTime",
            "ServicelevelPerf",
            "ServicelevelPerf2"
        ]
        .map(|key| text(&after, key))
    );
}

async fn login(sim: &Sim) -> Client {
    Client::login(sim.addr, "admin", "admin-secret").await
}

/// A caller waits in `sales` (no members) and hangs up: one abandon.
async fn abandon_in_sales(c: &mut Client, n: u32) {
    c.action(&format!(
        "Action: Originate\r\nChannel: Local/100@test\r\nContext: test\r\nExten: 310\r\nPriority: 1\r\nAsync: true\r\nCallerID: \"Sales Caller {n}\" <710{n}>\r\nActionID: o-{n}\r\n\r\n"
    ))
    .await;
    let join = c.event("QueueCallerJoin").await;
    let caller = text(&join, "Channel");
    let phone = caller.replace(";1", ";2");
    c.action(&format!(
        "Action: Hangup\r\nChannel: {phone}\r\nActionID: h-{n}\r\n\r\n"
    ))
    .await;
    c.event("QueueCallerLeave").await;
}

/// sales's `QueueParams` now.
async fn sales(c: &mut Client, id: &str) -> Message {
    let (_, items, _) = c
        .list(
            &format!("Action: QueueStatus\r\nQueue: sales\r\nActionID: {id}\r\n\r\n"),
            id,
        )
        .await;
    items
        .into_iter()
        .find(|m| m.event_name() == Some(b"QueueParams"))
        .expect("sales's QueueParams")
}

/// QueueStatus and QueueSummary items have the recorded key orders, `QueueReset` answers
/// as recorded and sets the counts back to 0, and so does a restart (app_queue keeps its
/// statistics in memory), so that a relay must carry the day's counts over it.
#[tokio::test]
async fn queue_reset_and_a_restart_start_the_statistics_again() {
    let mut sim = Sim::start(SimConfig::quiet()).await;
    let mut c = login(&sim).await;
    abandon_in_sales(&mut c, 1).await;
    abandon_in_sales(&mut c, 2).await;
    let params = sales(&mut c, "s-1").await;
    assert_eq!(keys(&params), keys(&recorded_params("qstatus-78")));
    assert_eq!(text(&params, "Abandoned"), "2");
    assert_eq!(text(&params, "ServicelevelPerf"), "0.0");
    let (_, summary, _) = c
        .list(
            "Action: QueueSummary\r\nQueue: support\r\nActionID: qsummary-77\r\n\r\n",
            "qsummary-77",
        )
        .await;
    let want = recorded("qsummary-77");
    assert_eq!(
        summary.iter().map(keys).collect::<Vec<_>>(),
        want.iter()
            .filter(|m| m.event_name() == Some(b"QueueSummary"))
            .map(keys)
            .collect::<Vec<_>>()
    );

    let reset = c
        .action("Action: QueueReset\r\nActionID: qreset-51\r\n\r\n")
        .await;
    let recorded_reset = fixture::received("ami-session-3.txt")
        .into_iter()
        .find(|m| m.event_name().is_none() && m.action_id() == Some(b"qreset-51"))
        .expect("the recorded QueueReset answer");
    assert_eq!(keys(&reset), keys(&recorded_reset));
    assert_eq!(text(&reset, "Message"), text(&recorded_reset, "Message"));
    assert_eq!(text(&sales(&mut c, "s-2").await, "Abandoned"), "0");

    abandon_in_sales(&mut c, 3).await;
    assert_eq!(text(&sales(&mut c, "s-3").await, "Abandoned"), "1");
    sim.config.faults.restart();
    // The restart closes every session; the new one waits for the boot to end.
    drop(c);
    let mut c = login(&sim).await;
    c.event("FullyBooted").await;
    assert_eq!(text(&sales(&mut c, "s-4").await, "Abandoned"), "0");
    sim.stop();
}
