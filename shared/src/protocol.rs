//! The messages the relay and the SPA exchange over the WebSocket at `/ws`, as JSON
//! text frames, and the bodies of the HTTP API beside it. `PROTOCOL.md` in this crate
//! shows every message with a JSON example.
//!
//! The relay speaks first: [`ServerMessage::Hello`] (who you are, what you may do),
//! then a [`ServerMessage::Snapshot`] of the server's live model, then
//! [`ServerMessage::Delta`]s. Snapshots and deltas of one server share one `seq`: a
//! delta whose `seq` is not above the snapshot's is already in it and is dropped; a
//! browser that sees a gap asks for [`ClientMessage::Resync`]. The relay sends a fresh
//! snapshot by itself after every rebuild of the model (Asterisk reconnected) and to a
//! browser that fell behind, never a backlog. Both sides use these types, so a field
//! renamed here breaks the build instead of the page.

use serde::{Deserialize, Serialize};

use crate::action::{ActionRequest, ActionResult, Permissions, Role};
use crate::ami::{Classes, Message};
use crate::model::figures::AlarmLevel;
use crate::model::{Change, Queue, ServerModel};

/// Bumped whenever a message changes shape; the SPA reloads itself when it differs.
pub const PROTOCOL_VERSION: u32 = 1;

/// The WebSocket close code of a socket whose login ended: logout, log out
/// everywhere, the token's expiry, or its relay account removed or disabled. A
/// browser that gets it shows its login form instead of reconnecting, as nothing it
/// sent would run any more. The relay's other close codes (`1001` going away, `4008`
/// too slow) mean "reconnect"; `PROTOCOL.md` lists them all.
pub const CLOSE_LOGIN_ENDED: u16 = 4401;

/// WebSocket close code: the browser could not keep up even with fresh snapshots.
pub const CLOSE_TOO_SLOW: u16 = 4008;

/// WebSocket close code: the relay is shutting down (the standard "going away").
pub const CLOSE_GOING_AWAY: u16 = 1001;

/// The state of the relay's link to one Asterisk server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    /// Connecting, logging in, or waiting to retry after a failure.
    Connecting,
    /// Logged in; the model is being rebuilt from Asterisk's status lists.
    Resyncing,
    /// Logged in and the model is live.
    Up,
    /// The link failed; the relay is backing off before it tries again. The model a
    /// browser holds is from before the failure: show it as stale.
    Down,
}

/// One server's link as browsers see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkStatus {
    /// The name the operator gave this server (`demo` for the simulated PBX).
    pub server: String,
    pub state: LinkState,
    /// Why the link is not up, in words fit for an operator.
    pub detail: Option<String>,
    /// AMI events received from this server since the relay started.
    pub events_received: u64,
}

/// One AMI event for the opt-in event log: its headers in order, as Asterisk sent them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawEvent {
    pub headers: Vec<(String, String)>,
}

/// Headers as text, for people and JSON; bytes that are not UTF-8 (caller ID names
/// from old phones) show as U+FFFD.
impl From<&Message> for RawEvent {
    fn from(message: &Message) -> RawEvent {
        RawEvent {
            headers: message
                .headers()
                .map(|(k, v)| {
                    (
                        String::from_utf8_lossy(k).into_owned(),
                        String::from_utf8_lossy(v).into_owned(),
                    )
                })
                .collect(),
        }
    }
}

/// Relay → browser.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// First message on every socket: the account and what it may do.
    Hello(Hello),
    /// The whole model of one server as this account may see it.
    Snapshot {
        server: String,
        seq: u64,
        link: LinkStatus,
        model: ServerModel,
    },
    /// What changed since `seq - 1`, batched per tick (a burst is one frame).
    Delta {
        server: String,
        seq: u64,
        changes: Vec<Change>,
    },
    /// One server's link changed.
    Link(LinkStatus),
    /// Raw AMI events, only after [`ClientMessage::Events`] asked for them.
    Events {
        server: String,
        events: Vec<RawEvent>,
        /// Events left out because this browser was too slow to take them.
        dropped: u64,
    },
    /// A queue's alarm rose to amber or red (supervisors and admins only).
    QueueAlarm(QueueAlarm),
    /// The answer to a [`ClientMessage::Action`].
    ActionResult(ActionResult),
    /// The browser sent something the relay could not use; the socket stays open.
    Error { message: String },
}

/// A queue whose alarm rose, with the readings a notification shows; the level itself
/// also reaches every reader of the queue in its [`Queue::alarm`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueueAlarm {
    pub server: String,
    pub queue: String,
    pub level: AlarmLevel,
    /// Callers waiting now.
    pub waiting: u32,
    /// The longest wait now, in seconds.
    pub longest_wait_s: u32,
    /// The day's service level, in percent.
    pub service_level_pct: f64,
}

impl QueueAlarm {
    /// The alarm of `queue` on `server`, now at `level`, as of `now_ms`.
    pub fn of(server: &str, queue: &Queue, level: AlarmLevel, now_ms: i64) -> QueueAlarm {
        let longest_ms = queue
            .callers
            .values()
            .map(|caller| now_ms.saturating_sub(caller.joined_ms).max(0))
            .max()
            .unwrap_or(0);
        QueueAlarm {
            server: server.to_owned(),
            queue: queue.name.clone(),
            level,
            waiting: queue.callers.len() as u32,
            longest_wait_s: u32::try_from(longest_ms / 1000).unwrap_or(u32::MAX),
            service_level_pct: queue.day.service_level_pct,
        }
    }
}

/// A [`ServerMessage::Delta`] written from borrowed changes, leaving out those that
/// `shown` refuses: the same JSON as the owned message, without copying a change (the
/// relay encodes each tick's delta for several views of the same changes).
pub struct DeltaOf<'a, F> {
    pub server: &'a str,
    pub seq: u64,
    pub changes: &'a [Change],
    pub shown: F,
}

impl<F: Fn(&Change) -> bool> Serialize for DeltaOf<'_, F> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        /// The shown changes, as a JSON array.
        struct Shown<'a, 'b, F>(&'a DeltaOf<'b, F>);
        impl<F: Fn(&Change) -> bool> Serialize for Shown<'_, '_, F> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let delta = self.0;
                serializer.collect_seq(delta.changes.iter().filter(|c| (delta.shown)(c)))
            }
        }
        // The field order and the tag of `ServerMessage::Delta`.
        let mut delta = serializer.serialize_struct("ServerMessage", 4)?;
        delta.serialize_field("type", "delta")?;
        delta.serialize_field("server", self.server)?;
        delta.serialize_field("seq", &self.seq)?;
        delta.serialize_field("changes", &Shown(self))?;
        delta.end()
    }
}

/// Who is logged in on a socket, and what the panel should offer them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    pub protocol: u32,
    pub server: String,
    pub username: String,
    /// The AMI read classes: which parts of the model this account sees.
    pub read: Classes,
    /// The actions this account may use (from Asterisk's `ListCommands`, narrowed by
    /// the role of a relay account).
    pub permissions: Permissions,
    /// A relay account's role; `None` for a login with an AMI account itself.
    #[serde(default)]
    pub role: Option<Role>,
    /// A relay account's own extension: the agent view shows it and the relay lets
    /// an agent act on its calls only.
    #[serde(default)]
    pub extension: Option<String>,
    /// The reasons offered when pausing in a queue, and with a presence (away, DND).
    pub pause_reasons: Vec<String>,
    /// How the screen-pop talks to the CRM around it.
    pub screen_pop: ScreenPop,
    /// Queue sign-in: an agent's own seat; every configured seat for a supervisor.
    #[serde(default)]
    pub seats: Vec<Seat>,
}

/// Who may sign in to which queues, and as which member (`[server.agents]`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seat {
    pub exten: String,
    /// The queue member interface the agent signs in as (`PJSIP/1001`,
    /// `Local/agent1@agents/n`).
    pub interface: String,
    /// The queues the agent may sign in to and out of.
    pub queues: Vec<String>,
}

/// The screen-pop's settings (`[screen_pop]` in the relay's file).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScreenPop {
    /// The only origin the pop posts its `message`s to (`window.parent.postMessage`);
    /// `None`: it posts nothing.
    pub target_origin: Option<String>,
    /// A link opened on a call, `{callerid}` replaced by the caller's number
    /// (`https://crm.example.com/search?phone={callerid}`).
    pub crm_link: Option<String>,
}

/// What the screen-pop posts to the CRM around it (`window.parent.postMessage`, only to
/// [`ScreenPop::target_origin`]), once per call and [`PopEvent`]:
/// `{"type": "astpanel.call", "event": "ringing", "exten": "100", ...}`. CRMs read this
/// JSON, so its fields keep their names; `crate::pop` decides when it is posted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename = "astpanel.call")]
pub struct CallPop {
    pub event: PopEvent,
    /// The extension the pop is for (`/pop?ext=100`).
    pub exten: String,
    /// The other party: the caller when the extension is called, whom it called when
    /// it calls.
    pub caller_id_num: String,
    pub caller_id_name: String,
    /// The extension's channel that rang or answered, and its uniqueid.
    pub channel: String,
    pub uniqueid: String,
}

/// What happened to the call a [`CallPop`] tells of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PopEvent {
    /// The extension's phone rings (or it is calling out and the other side rings).
    Ringing,
    /// The call is up.
    Answered,
}

/// Browser → relay.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// Ask for a fresh [`ServerMessage::Snapshot`].
    Resync,
    /// Run an action; answered by a [`ServerMessage::ActionResult`] with the same `id`.
    Action(ActionRequest),
    /// Start or stop the raw event log (off by default: nobody pays for it unused).
    Events { enabled: bool },
}

/// `POST /api/v1/login`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginRequest {
    pub server: String,
    pub username: String,
    pub secret: String,
}

/// `POST /api/v1/exchange`: a token from the screen-pop's URL fragment, traded for a
/// short-lived one (the pop cannot rely on cookies inside a third-party iframe).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExchangeRequest {
    pub token: String,
}

/// The answer to a good login; the same token is set as the `astpanel_session` cookie.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginResponse {
    pub token: String,
    pub server: String,
    pub username: String,
}

/// Every error of the HTTP API: `{"error": "..."}`, with Asterisk's own words where
/// Asterisk refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    pub error: String,
}

/// `GET /api/v1/servers`: what the login page offers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerInfo {
    pub name: String,
    pub link: LinkState,
    /// Accounts anyone may try (the demo's); empty for a real server.
    #[serde(default)]
    pub demo_accounts: Vec<DemoAccount>,
}

/// A demo account named on the login page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoAccount {
    pub username: String,
    pub secret: String,
    pub role: String,
}

/// `GET /api/v1/state`: the logged-in account's snapshot, per server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateResponse {
    pub servers: Vec<ServerState>,
}

/// One server in [`StateResponse`]: its link and its model, flattened, so that
/// `servers[0].channels` is the channel list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServerState {
    pub name: String,
    pub link: LinkStatus,
    pub seq: u64,
    #[serde(flatten)]
    pub model: ServerModel,
}

/// Where an audited action came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditVia {
    /// The panel's WebSocket.
    Panel,
    /// The HTTP API (`/api/v1/...`), the SPA's login included.
    Api,
    /// Asterisk's AJAM endpoints (`/asterisk/rawman`, ...).
    Ajam,
    /// The AMI proxy listener (`[ami_proxy]`): an AMI application over TCP or TLS.
    Ami,
}

/// One action or login in the audit log (`GET /api/v1/audit`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Grows with every record: the `before` of the next page.
    pub id: i64,
    /// UTC, RFC 3339 with milliseconds: `2026-12-03T14:10:00.123Z`.
    pub time: String,
    /// The relay account's name, else the AMI user's (as typed, for a failed login).
    pub person: String,
    /// The AMI account the action ran on.
    pub ami_user: String,
    /// The relay account's role; `None` for an AMI login.
    pub role: Option<Role>,
    /// The client's address (behind a trusted proxy, from `X-Forwarded-For`).
    pub client: String,
    pub server: String,
    pub via: AuditVia,
    /// The panel's action name (`hangup`), the AJAM action as sent (`Originate`), or `login`.
    pub action: String,
    /// The action's fields or AMI headers, secrets masked (see `SECURITY.md`).
    pub arguments: serde_json::Value,
    pub ok: bool,
    /// Asterisk's words, or the relay's reason for refusing.
    pub message: String,
}

/// Whether the audit log is being written, for the admin view.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditStatus {
    /// The database file, or `:memory:`.
    pub storage: String,
    /// Why the last write failed (a full disk, a read-only file); `None` while writes succeed.
    pub error: Option<String>,
    /// Records written since the relay started.
    pub written: u64,
    /// Records lost since the relay started: the queue was full or a write failed.
    pub lost: u64,
}

/// `GET /api/v1/audit`: newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditPage {
    pub records: Vec<AuditRecord>,
    pub status: AuditStatus,
}

/// One finished call of `GET /api/v1/history`, made from Asterisk's `Cdr` record of the
/// caller's channel (see `relay::history` for which record that is).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryCall {
    /// The relay's id: newer calls have larger ids; `before` pages by it.
    pub id: i64,
    /// When the call started, ms since the epoch (Asterisk's `StartTime`, read as UTC).
    pub start_ms: i64,
    /// The caller's number (`Source`).
    pub from: String,
    /// The caller's name (the name part of `CallerID`), empty when it had none.
    #[serde(default)]
    pub from_name: String,
    /// The number dialled (`Destination`).
    pub to: String,
    /// Seconds from start to end (`Duration`).
    pub duration_s: i64,
    /// Asterisk's words: `ANSWERED`, `NO ANSWER`, `BUSY`, `FAILED`, `CONGESTION`.
    pub disposition: String,
    /// The queue the call came through, empty when none.
    pub queue: String,
    /// Unanswered, and missed by the reader: to their phone or a queue they are in (an
    /// agent), or by anyone (a supervisor or an admin).
    pub missed: bool,
}

/// `GET /api/v1/history`: newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryPage {
    pub calls: Vec<HistoryCall>,
    /// Missed calls newer than the reader's seen marker (counted up to
    /// `HISTORY_UNSEEN_CAP`, on the first page only): the header's badge.
    #[serde(default)]
    pub unseen_missed: u32,
}

/// The most unseen missed calls the history counts; the badge shows `99+` beyond.
pub const HISTORY_UNSEEN_CAP: u32 = 99;

/// `POST /api/v1/history/seen`: the newest call id the reader has seen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistorySeen {
    pub id: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_have_a_stable_json_shape() {
        let link = LinkStatus {
            server: "demo".into(),
            state: LinkState::Up,
            detail: None,
            events_received: 7,
        };
        let json = serde_json::to_string(&ServerMessage::Link(link.clone())).unwrap();
        assert_eq!(
            json,
            r#"{"type":"link","server":"demo","state":"up","detail":null,"events_received":7}"#
        );
        assert_eq!(
            serde_json::from_str::<ServerMessage>(&json).unwrap(),
            ServerMessage::Link(link)
        );
        let delta = ServerMessage::Delta {
            server: "demo".into(),
            seq: 42,
            changes: Vec::new(),
        };
        let json = serde_json::to_string(&delta).unwrap();
        assert_eq!(
            json,
            r#"{"type":"delta","server":"demo","seq":42,"changes":[]}"#
        );
        assert_eq!(
            serde_json::from_str::<ClientMessage>(r#"{"type":"resync"}"#).unwrap(),
            ClientMessage::Resync
        );
        assert_eq!(
            serde_json::from_str::<ClientMessage>(r#"{"type":"events","enabled":true}"#).unwrap(),
            ClientMessage::Events { enabled: true }
        );
    }

    #[test]
    fn the_screen_pops_message_keeps_the_json_crms_read() {
        let pop = CallPop {
            event: PopEvent::Ringing,
            exten: "100".into(),
            caller_id_num: "5555".into(),
            caller_id_name: "Pop Caller".into(),
            channel: "PJSIP/100-00000001".into(),
            uniqueid: "1764750000.1".into(),
        };
        let json = serde_json::to_string(&pop).unwrap();
        assert_eq!(
            json,
            r#"{"type":"astpanel.call","event":"ringing","exten":"100","caller_id_num":"5555","caller_id_name":"Pop Caller","channel":"PJSIP/100-00000001","uniqueid":"1764750000.1"}"#
        );
        assert_eq!(serde_json::from_str::<CallPop>(&json).unwrap(), pop);
        let answered = serde_json::to_value(PopEvent::Answered).unwrap();
        assert_eq!(answered, "answered");
    }

    #[test]
    fn a_borrowed_delta_is_the_owned_deltas_json() {
        use crate::model::{Channel, Queue};
        let changes = vec![
            Change::Channel(Channel {
                uniqueid: "1.1".into(),
                caller_id_name: "Quote \" and ünïcode".into(),
                ..Channel::default()
            }),
            Change::Queue(Queue {
                name: "support".into(),
                ..Queue::default()
            }),
            Change::ChannelRemoved {
                uniqueid: "1.1".into(),
            },
        ];
        for read in [Classes::NONE, Classes::CALL, Classes::AGENT, Classes::ALL] {
            let borrowed = serde_json::to_string(&DeltaOf {
                server: "demo",
                seq: 9,
                changes: &changes,
                shown: |change: &Change| change.visible_to(read),
            })
            .unwrap();
            let owned = serde_json::to_string(&ServerMessage::Delta {
                server: "demo".into(),
                seq: 9,
                changes: changes
                    .iter()
                    .filter(|c| c.visible_to(read))
                    .cloned()
                    .collect(),
            })
            .unwrap();
            assert_eq!(borrowed, owned, "read {read:?}");
        }
    }

    #[test]
    fn an_action_on_the_socket_is_the_api_json_plus_its_type() {
        let json = r#"{"type":"action","id":"a1","server":"demo","action":"hangup","channel":"PJSIP/1001-00000001"}"#;
        let ClientMessage::Action(request) = serde_json::from_str(json).unwrap() else {
            panic!("an action")
        };
        assert_eq!(request.server, "demo");
        assert_eq!(request.id.as_deref(), Some("a1"));
    }

    #[test]
    fn an_audit_page_reads_as_protocol_md_shows_it() {
        let json = r#"{"records": [{"id": 812, "time": "2026-12-03T14:10:00.123Z", "person": "alice",
          "ami_user": "agents", "role": "agent", "client": "10.0.0.7", "server": "main",
          "via": "panel", "action": "hangup", "arguments": {"channel": "PJSIP/1001-00000001"},
          "ok": true, "message": "Channel Hungup"}],
         "status": {"storage": "/var/lib/astpanel/audit.db", "error": null, "written": 5120, "lost": 0}}"#;
        let page: AuditPage = serde_json::from_str(json).unwrap();
        let record = &page.records[0];
        assert_eq!(
            (record.role, record.via, record.ok),
            (Some(Role::Agent), AuditVia::Panel, true)
        );
        assert_eq!(record.arguments["channel"], "PJSIP/1001-00000001");
        let back = serde_json::to_value(&page).unwrap();
        assert_eq!(
            back,
            serde_json::from_str::<serde_json::Value>(json).unwrap()
        );
    }

    #[test]
    fn the_state_response_lists_channels_per_server() {
        let state = StateResponse {
            servers: vec![ServerState {
                name: "demo".into(),
                link: LinkStatus {
                    server: "demo".into(),
                    state: LinkState::Up,
                    detail: None,
                    events_received: 0,
                },
                seq: 1,
                model: ServerModel::default(),
            }],
        };
        let value = serde_json::to_value(&state).unwrap();
        for part in ["channels", "calls", "queues", "parked", "extensions"] {
            assert!(value["servers"][0][part].is_array(), "{part}: {value}");
        }
    }
}
