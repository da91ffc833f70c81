//! Voicemail against `ami-session-3.txt`: the recorded `Voicemail*`, `MailboxCount` and
//! `MailboxStatus` actions answered header for header by a simulator with that
//! recording's mailboxes (1001-1005@default), a message left by a caller redirected to
//! the voicemail context (`MessageWaiting` with the caller's channel fields, then
//! `DeviceStateChange` of `MWI:1001@default`), and `VoicemailRemove` (its bare LF, and
//! `MessageWaiting` without channel fields); and the QueuePenalty part of the same
//! recording.

mod common;

use common::fixture::{self, Step};
use common::{Client, keys};
use pbxsim::{Directory, SimConfig};
use shared::ami::Message;
use testkit::Pbx as Sim;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What ami-session-3 answered to the action with ActionID `id`: the response and the
/// messages that followed it (list items and events) up to the next action.
fn recorded(id: &str) -> (Message, Message, Vec<Message>) {
    let conns = fixture::transcript("ami-session-3.txt");
    let conn = conns.first().expect("connection 1");
    let at = conn
        .iter()
        .position(|s| matches!(s, Step::Sent(m) if m.action_id() == Some(id.as_bytes())))
        .unwrap_or_else(|| panic!("{id} is not in the recording"));
    let Step::Sent(action) = &conn[at] else {
        unreachable!()
    };
    let mut response = Message::new();
    let mut after = Vec::new();
    for step in &conn[at + 1..] {
        match step {
            Step::Sent(_) => break,
            Step::Recv(m) if m.event_name().is_none() => response = m.clone(),
            Step::Recv(m) => after.push(m.clone()),
            Step::Comment(_) => {}
        }
    }
    (action.clone(), response, after)
}

fn config() -> SimConfig {
    let mut config = SimConfig::quiet();
    config.directory.mailboxes = Directory::recorded_mailboxes();
    config
}

fn text(m: &Message) -> String {
    String::from_utf8_lossy(&m.to_bytes()).into_owned()
}

/// Sends a recorded action and returns our response and the list items with its ActionID.
async fn ours(c: &mut Client, action: &Message) -> (Message, Vec<Message>) {
    let id = action.action_id().map(<[u8]>::to_vec);
    c.send(&String::from_utf8_lossy(&action.to_bytes())).await;
    c.send("Action: Ping\r\nActionID: marker\r\n\r\n").await;
    let (mut response, mut items) = (Message::new(), Vec::new());
    loop {
        let m = c.message().await.expect("answer before close");
        if m.event_name().is_none() {
            if m.action_id() == Some(&b"marker"[..]) {
                return (response, items);
            }
            response = m;
        } else if m.action_id() == id.as_deref() {
            items.push(m);
        }
    }
}

#[tokio::test]
async fn recorded_voicemail_answers_of_session_3() {
    let sim = Sim::start(config()).await;
    let mut c = Client::login(sim.addr, "admin", "admin-secret").await;
    for id in [
        "vmlist-35",
        "mbcount-36",
        "mbstatus-37",
        "vmuserstatus-38",
        "vmrefresh-45",
        "vmrefresh-46",
        "vmuserstatus-47",
        "vmboxsummary-48",
    ] {
        let (action, response, after) = recorded(id);
        let (our_response, our_items) = ours(&mut c, &action).await;
        assert_eq!(text(&our_response), text(&response), "{id}: response");
        let items: Vec<String> = after
            .iter()
            .filter(|m| m.action_id() == action.action_id())
            .map(text)
            .collect();
        let our_items: Vec<String> = our_items.iter().map(text).collect();
        assert_eq!(our_items, items, "{id}: list items");
    }
}

#[tokio::test]
async fn without_mailboxes_app_voicemail_is_not_loaded() {
    let sim = Sim::start(SimConfig::quiet()).await;
    let mut c = Client::login(sim.addr, "admin", "admin-secret").await;
    let r = c
        .action("Action: VoicemailUsersList\r\nActionID: v\r\n\r\n")
        .await;
    assert_eq!(
        r.get_str("Message").as_deref(),
        Some(
            "Invalid/unknown command: VoicemailUsersList. Use Action: ListCommands to show available commands."
        ),
        "as ami-session-2 recorded it"
    );
}

/// A caller redirected into the voicemail context leaves a message: the events carry
/// the recorded keys, and the counts and the box summary show it; `VoicemailRemove`
/// takes it away again.
#[tokio::test]
async fn a_caller_sent_to_voicemail_leaves_a_message() {
    let (_, _, left) = recorded("vm-orig-40");
    let recorded_waiting = left
        .iter()
        .find(|m| m.event_name() == Some(&b"MessageWaiting"[..]))
        .expect("MessageWaiting recorded");
    let (_, _, removed) = recorded("vmremove-49");
    let recorded_cleared = removed
        .iter()
        .find(|m| m.event_name() == Some(&b"MessageWaiting"[..]))
        .expect("MessageWaiting after remove recorded");

    let sim = Sim::start(config()).await;
    let mut c = Client::login(sim.addr, "admin", "admin-secret").await;
    c.send("Action: Originate\r\nChannel: Local/100@test\r\nContext: test\r\nExten: 200\r\nPriority: 1\r\nAsync: true\r\nVariable: DURATION=300\r\nActionID: o\r\n\r\n").await;
    let bridged = c.event("BridgeEnter").await;
    let caller = bridged.get_str("Channel").expect("channel").into_owned();
    let redirect = c
        .action(&format!(
            "Action: Redirect\r\nChannel: {caller}\r\nContext: voicemail\r\nExten: 1001\r\nPriority: 1\r\nActionID: r\r\n\r\n"
        ))
        .await;
    assert_eq!(
        redirect.get_str("Message").as_deref(),
        Some("Redirect successful")
    );
    let waiting = c.event("MessageWaiting").await;
    assert_eq!(keys(&waiting), keys(recorded_waiting), "{}", text(&waiting));
    assert_eq!(waiting.get_str("Channel").as_deref(), Some(caller.as_str()));
    assert_eq!(waiting.get_str("New").as_deref(), Some("1"));
    let mwi = c.event("DeviceStateChange").await;
    assert_eq!(mwi.get_str("Device").as_deref(), Some("MWI:1001@default"));
    assert_eq!(mwi.get_str("State").as_deref(), Some("INUSE"));
    let count = c
        .action("Action: MailboxCount\r\nMailbox: 1001@default\r\nActionID: n\r\n\r\n")
        .await;
    assert_eq!(count.get_str("NewMessages").as_deref(), Some("1"));

    let (_, _, summary) = recorded("vmboxsummary-44");
    let summary_items: Vec<&Message> = summary
        .iter()
        .filter(|m| m.event_name() == Some(&b"VoicemailBoxDetail"[..]))
        .collect();
    let (_, items, _) = c
        .list(
            "Action: VoicemailBoxSummary\r\nContext: default\r\nMailbox: 1001\r\nActionID: s\r\n\r\n",
            "s",
        )
        .await;
    assert_eq!(items.len(), 1);
    assert_eq!(keys(&items[0]), keys(summary_items[0]));
    let message_id = items[0].get_str("ID").expect("ID").into_owned();

    // The remove's answer ends in a bare LF: read the raw bytes on a second connection.
    let mut raw = tokio::net::TcpStream::connect(sim.addr).await.unwrap();
    raw.write_all(
        b"Action: Login\r\nUsername: admin\r\nSecret: admin-secret\r\nEvents: off\r\n\r\n",
    )
    .await
    .unwrap();
    raw.write_all(format!("Action: VoicemailRemove\r\nContext: default\r\nMailbox: 1001\r\nFolder: INBOX\r\nID: {message_id}\r\nActionID: vmremove-49\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let expected = b"Response: Success\r\nActionID: vmremove-49\r\nMessage: Message remove successful\n\r\n\r\n";
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !seen.windows(expected.len()).any(|w| w == expected) {
        let n = tokio::time::timeout(common::WAIT, raw.read(&mut buf))
            .await
            .expect("answer in time")
            .expect("read");
        assert!(n > 0, "closed: {:?}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    let cleared = c.event("MessageWaiting").await;
    assert_eq!(text(&cleared), text(recorded_cleared));
    let mwi = c.event("DeviceStateChange").await;
    assert_eq!(mwi.get_str("Device").as_deref(), Some("MWI:1001@default"));
    assert_eq!(mwi.get_str("State").as_deref(), Some("NOT_INUSE"));
}

/// ami-session-3's QUEUEPENALTY part: `QueuePenalty` of agent1 in `support` to 2 is
/// answered as recorded and raises `QueueMemberPenalty` with the recorded keys.
#[tokio::test]
async fn queue_penalty_of_session_3_raises_the_recorded_member_event() {
    let (action, response, after) = recorded("qpenalty-80");
    let recorded_event = after
        .iter()
        .find(|m| m.event_name() == Some(&b"QueueMemberPenalty"[..]))
        .expect("QueueMemberPenalty recorded");
    let sim = Sim::start(config()).await;
    let mut c = Client::login(sim.addr, "admin", "admin-secret").await;
    c.send(&String::from_utf8_lossy(&action.to_bytes())).await;
    let mut ours = None;
    let event = loop {
        let m = c.message().await.expect("answer before close");
        match m.event_name() {
            None => ours = Some(m),
            Some(b"QueueMemberPenalty") => break m,
            Some(_) => {}
        }
    };
    assert_eq!(text(&ours.expect("the response first")), text(&response));
    assert_eq!(keys(&event), keys(recorded_event), "{}", text(&event));
    assert_eq!(event.get_str("Penalty").as_deref(), Some("2"));
}
