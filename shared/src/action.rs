//! Call-control actions: what a browser or a script asks the relay to do, and the
//! answer. `ACTIONS.md` in this crate shows each with an example.
//!
//! The JSON is flat, `{"server": "demo", "action": "hangup", "channel": "PJSIP/1001-00000001"}`,
//! the same over the WebSocket (plus `"type": "action"` and an `id`) and on
//! `POST /api/v1/actions`. The answer is `{"type": "action_result", "id", "ok",
//! "message"}` with Asterisk's own words, plus what the action returns.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::ami::Classes;

/// One action for one server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionRequest {
    /// Chosen by the caller; copied into the result so it can match them up.
    #[serde(default)]
    pub id: Option<String>,
    pub server: String,
    #[serde(flatten)]
    pub action: Action,
}

/// How a supervisor joins a call with ChanSpy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpyMode {
    /// Hear both sides, say nothing.
    Listen,
    /// Speak to the agent only (coaching).
    Whisper,
    /// Speak to both sides.
    Barge,
}

/// Which side of a recording to mute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MuteDirection {
    Read,
    Write,
    Both,
}

/// A header value of a raw action: one value, or several for a repeated key
/// (`Variable`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum HeaderValue {
    One(String),
    Many(Vec<String>),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    Hangup {
        channel: String,
    },
    /// Blind transfer (`BlindTransfer` when the channel is bridged, else `Redirect`).
    Redirect {
        channel: String,
        exten: String,
        #[serde(default)]
        context: Option<String>,
    },
    /// Attended transfer: the channel's peer hears hold while the channel consults `exten`.
    Atxfer {
        channel: String,
        exten: String,
        #[serde(default)]
        context: Option<String>,
    },
    /// Completes an attended transfer: the transferer leaves, the two others talk.
    AtxferComplete {
        channel: String,
    },
    AtxferCancel {
        channel: String,
    },
    /// Click-to-dial: ring `from` (an extension or a channel), then dial `to`.
    Originate {
        from: String,
        to: String,
        #[serde(default)]
        context: Option<String>,
        #[serde(default)]
        caller_id: Option<String>,
    },
    Park {
        channel: String,
    },
    /// Rings `from` and connects it to the call parked at `space`.
    Pickup {
        space: String,
        from: String,
    },
    Spy {
        target_channel: String,
        from: String,
        mode: SpyMode,
    },
    QueuePause {
        #[serde(default)]
        queue: Option<String>,
        interface: String,
        paused: bool,
        #[serde(default)]
        reason: Option<String>,
    },
    QueueAdd {
        queue: String,
        interface: String,
        #[serde(default)]
        penalty: Option<i32>,
        #[serde(default)]
        paused: Option<bool>,
    },
    QueueRemove {
        queue: String,
        interface: String,
    },
    /// A member's penalty in one queue.
    QueuePenalty {
        queue: String,
        interface: String,
        penalty: i32,
    },
    /// Sets `PRESENCE_STATE(CustomPresence:<exten>)`: `state` is one of Asterisk's
    /// (`available`, `away`, `dnd`, `xa`, `chat`, `unavailable`), `message` the reason.
    Presence {
        exten: String,
        state: String,
        #[serde(default)]
        message: Option<String>,
    },
    /// Forwards `exten`'s calls to `to` (digits, `*`, `#`, `+`), or stops forwarding
    /// them when `to` is absent or empty: an AstDB entry the dialplan reads, at the
    /// server's `call_forward` family/key, written by the relay's service account.
    CallForward {
        exten: String,
        #[serde(default)]
        to: Option<String>,
    },
    /// Sends `channel` to `mailbox`'s voicemail (the server's voicemail context).
    VoicemailTransfer {
        channel: String,
        mailbox: String,
    },
    RecordStart {
        channel: String,
        #[serde(default)]
        file: Option<String>,
    },
    RecordStop {
        channel: String,
    },
    RecordMute {
        channel: String,
        direction: MuteDirection,
        mute: bool,
    },
    /// Mutes or unmutes a conference user (`ConfbridgeMute`/`ConfbridgeUnmute`);
    /// `channel` may also be Asterisk's `participants` (every user who is not an admin).
    ConfMute {
        room: String,
        channel: String,
        mute: bool,
    },
    /// Kicks a user out of a conference (`ConfbridgeKick`); `channel` may be `all`.
    ConfKick {
        room: String,
        channel: String,
    },
    /// Locks or unlocks a conference room: a locked room refuses every new user who is
    /// not an admin.
    ConfLock {
        room: String,
        locked: bool,
    },
    /// Starts or stops recording a conference room (Asterisk names the file).
    ConfRecord {
        room: String,
        recording: bool,
    },
    /// A raw AMI action for power users; the answer carries the whole response.
    Ami {
        headers: BTreeMap<String, HeaderValue>,
    },
}

impl Action {
    /// The name used in JSON (`hangup`, `queue_pause`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Action::Hangup { .. } => "hangup",
            Action::Redirect { .. } => "redirect",
            Action::Atxfer { .. } => "atxfer",
            Action::AtxferComplete { .. } => "atxfer_complete",
            Action::AtxferCancel { .. } => "atxfer_cancel",
            Action::Originate { .. } => "originate",
            Action::Park { .. } => "park",
            Action::Pickup { .. } => "pickup",
            Action::Spy { .. } => "spy",
            Action::QueuePause { .. } => "queue_pause",
            Action::QueueAdd { .. } => "queue_add",
            Action::QueueRemove { .. } => "queue_remove",
            Action::QueuePenalty { .. } => "queue_penalty",
            Action::Presence { .. } => "presence",
            Action::CallForward { .. } => "call_forward",
            Action::VoicemailTransfer { .. } => "voicemail_transfer",
            Action::RecordStart { .. } => "record_start",
            Action::RecordStop { .. } => "record_stop",
            Action::RecordMute { .. } => "record_mute",
            Action::ConfMute { .. } => "conf_mute",
            Action::ConfKick { .. } => "conf_kick",
            Action::ConfLock { .. } => "conf_lock",
            Action::ConfRecord { .. } => "conf_record",
            Action::Ami { .. } => "ami",
        }
    }
}

/// The answer to an action.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionResult {
    #[serde(default)]
    pub id: Option<String>,
    pub ok: bool,
    /// Asterisk's own words (its `Message:`), or the relay's reason for refusing.
    pub message: String,
    /// For `ami`: the response's headers in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Vec<(String, String)>>,
    /// For `ami`: the list events that came with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<Vec<(String, String)>>>,
}

impl ActionResult {
    pub fn ok(id: Option<String>, message: impl Into<String>) -> ActionResult {
        ActionResult {
            id,
            ok: true,
            message: message.into(),
            ..ActionResult::default()
        }
    }

    pub fn failed(id: Option<String>, message: impl Into<String>) -> ActionResult {
        ActionResult {
            id,
            ok: false,
            message: message.into(),
            ..ActionResult::default()
        }
    }
}

/// The AMI actions each panel action sends, so the panel can offer exactly what the
/// account's `ListCommands` allows.
pub const PANEL_ACTIONS: &[(&str, &[&str])] = &[
    ("hangup", &["Hangup"]),
    ("redirect", &["Redirect", "BlindTransfer"]),
    ("atxfer", &["Atxfer"]),
    ("atxfer_complete", &["Hangup"]),
    ("atxfer_cancel", &["CancelAtxfer"]),
    ("originate", &["Originate"]),
    ("park", &["Park"]),
    ("pickup", &["Originate"]),
    ("spy", &["Originate"]),
    ("queue_pause", &["QueuePause"]),
    ("queue_add", &["QueueAdd"]),
    ("queue_remove", &["QueueRemove"]),
    ("queue_penalty", &["QueuePenalty"]),
    ("presence", &["Setvar"]),
    // Sent on the relay's service account (DBPut and DBDel need `system`): the relay
    // offers it wherever the server configures `call_forward`.
    ("call_forward", &["DBPut", "DBDel"]),
    ("voicemail_transfer", &["Redirect"]),
    ("record_start", &["MixMonitor"]),
    ("record_stop", &["StopMixMonitor"]),
    ("record_mute", &["MixMonitorMute"]),
    ("conf_mute", &["ConfbridgeMute", "ConfbridgeUnmute"]),
    ("conf_kick", &["ConfbridgeKick"]),
    ("conf_lock", &["ConfbridgeLock", "ConfbridgeUnlock"]),
    // ConfbridgeStartRecord and ConfbridgeStopRecord need the `system` class.
    (
        "conf_record",
        &["ConfbridgeStartRecord", "ConfbridgeStopRecord"],
    ),
];

/// What an account may do, learnt from Asterisk's `ListCommands` at login.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permissions {
    /// The write classes the listed actions add up to.
    pub write: Classes,
    /// The AMI actions the account may send.
    pub ami_actions: BTreeSet<String>,
    /// The panel's actions (`hangup`, `spy`, ...) the account may use: hide the rest.
    pub actions: BTreeSet<String>,
}

impl Permissions {
    /// From the `Name: Synopsis  (Priv: call,all)` headers of a `ListCommands` answer.
    pub fn from_list_commands<'a>(
        headers: impl Iterator<Item = (&'a str, &'a str)>,
    ) -> Permissions {
        let mut write = Classes::NONE;
        let mut ami_actions = BTreeSet::new();
        for (name, synopsis) in headers {
            let Some(privilege) = synopsis
                .rsplit_once("(Priv: ")
                .and_then(|(_, p)| p.strip_suffix(')'))
            else {
                continue;
            };
            // Asterisk lists an action when the account holds any one of its classes,
            // so only an action of a single class proves that class is held. (`all` at
            // the end of the list is Asterisk's marker, not a class.)
            let classes: Vec<&str> = privilege
                .split(',')
                .filter(|c| *c != "all" && *c != "<none>")
                .collect();
            if let [class] = classes.as_slice() {
                write = write.or(Classes::parse(class));
            }
            ami_actions.insert(name.to_owned());
        }
        let actions = PANEL_ACTIONS
            .iter()
            .filter(|(_, needs)| needs.iter().any(|n| ami_actions.contains(*n)))
            .map(|(panel, _)| panel.to_string())
            // The raw console: Asterisk still checks each action's class, and the
            // relay's shell guards apply to it as to everything else.
            .chain((!write.is_empty()).then(|| "ami".to_owned()))
            .collect();
        Permissions {
            write,
            ami_actions,
            actions,
        }
    }

    /// Whether the account may use this panel action.
    pub fn allows(&self, action: &Action) -> bool {
        self.actions.contains(action.name())
    }

    /// What is left of these permissions for a person with `role`: a role only ever
    /// takes away, so an agent mapped to a powerful AMI account is still an agent.
    pub fn narrowed_to(&self, role: Role) -> Permissions {
        Permissions {
            actions: self
                .actions
                .iter()
                .filter(|action| role.may_use(action))
                .cloned()
                .collect(),
            ..self.clone()
        }
    }
}

/// What a person logged in to AstPanel itself (a relay account) is, whatever the
/// AMI account behind them allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Their own calls and their own queue memberships.
    Agent,
    /// Also anyone's calls and members: listen, whisper, barge, pause, record.
    Supervisor,
    /// Also the raw AMI console.
    Admin,
}

/// The panel actions an agent may use, each on their own calls, queue memberships and
/// presence only (`control::scope` in the relay says which are theirs).
const AGENT_ACTIONS: &[&str] = &[
    "hangup",
    "redirect",
    "atxfer",
    "atxfer_complete",
    "atxfer_cancel",
    "originate",
    "park",
    "pickup",
    "queue_pause",
    "queue_add",
    "queue_remove",
    "presence",
    "call_forward",
    "voicemail_transfer",
];

impl Role {
    /// Whether the role may use the panel action `name` at all.
    pub fn may_use(self, name: &str) -> bool {
        match self {
            Role::Admin => true,
            Role::Supervisor => name != "ami",
            Role::Agent => AGENT_ACTIONS.contains(&name),
        }
    }

    /// Whether the role may act on calls and queue members that are not its own.
    pub fn acts_for_others(self) -> bool {
        self != Role::Agent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_is_flat() {
        let json = r#"{"server": "demo", "action": "hangup", "channel": "PJSIP/1001-00000001"}"#;
        let request: ActionRequest = serde_json::from_str(json).unwrap();
        assert_eq!(request.server, "demo");
        assert_eq!(
            request.action,
            Action::Hangup {
                channel: "PJSIP/1001-00000001".into()
            }
        );
        let pause = r#"{"server": "demo", "action": "queue_pause", "interface": "PJSIP/1001", "paused": true, "reason": "Lunch"}"#;
        assert!(matches!(
            serde_json::from_str::<ActionRequest>(pause).unwrap().action,
            Action::QueuePause { paused: true, .. }
        ));
        for bad in [
            r#"{"server": "demo", "action": "launch"}"#,
            r#"{"server": "demo", "action": "hangup"}"#,
            r#"{"server": "demo", "action": "hangup", "channel": 5}"#,
            r#"{"server": "demo", "action": "spy", "target_channel": "a", "from": "b", "mode": "shout"}"#,
        ] {
            assert!(serde_json::from_str::<ActionRequest>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn permissions_follow_list_commands() {
        let admin = [
            ("Hangup", "Hangup channel.  (Priv: system,call,all)"),
            ("ModuleLoad", "Module management.  (Priv: system,all)"),
            (
                "Command",
                "Execute Asterisk CLI Command.  (Priv: command,all)",
            ),
            ("Originate", "Originate a call.  (Priv: originate,all)"),
            ("Ping", "Keepalive command.  (Priv: <none>)"),
        ];
        let permissions = Permissions::from_list_commands(admin.into_iter());
        assert!(permissions.write.contains(Classes::SYSTEM));
        assert!(permissions.actions.contains("hangup"));
        assert!(permissions.actions.contains("spy"));
        assert!(permissions.actions.contains("ami"));
        // A call-only account sees Hangup listed, but does not hold `system`.
        let agent = [
            ("Hangup", "Hangup channel.  (Priv: system,call,all)"),
            ("Redirect", "Redirect.  (Priv: call,all)"),
        ];
        let permissions = Permissions::from_list_commands(agent.into_iter());
        assert_eq!(permissions.write, Classes::CALL);
        let viewer = [("Ping", "Keepalive command.  (Priv: <none>)")];
        let permissions = Permissions::from_list_commands(viewer.into_iter());
        assert!(permissions.actions.is_empty());
        assert!(!permissions.allows(&Action::Hangup {
            channel: "x".into()
        }));
    }

    #[test]
    fn a_role_only_takes_away() {
        let all = Permissions::from_list_commands(
            [
                ("Hangup", "Hangup channel.  (Priv: system,call,all)"),
                ("Originate", "Originate a call.  (Priv: originate,all)"),
                (
                    "QueuePause",
                    "Makes a queue member temporarily unavailable.  (Priv: agent,all)",
                ),
            ]
            .into_iter(),
        );
        let everything = |p: &Permissions| p.actions.iter().cloned().collect::<Vec<_>>();
        assert_eq!(everything(&all.narrowed_to(Role::Admin)), everything(&all));
        let supervisor = all.narrowed_to(Role::Supervisor);
        assert!(supervisor.actions.contains("spy") && !supervisor.actions.contains("ami"));
        // The conference actions are a supervisor's and an admin's, never an agent's.
        let conferences = Permissions::from_list_commands(
            [
                (
                    "ConfbridgeMute",
                    "Mute a Confbridge user.  (Priv: call,all)",
                ),
                (
                    "ConfbridgeKick",
                    "Kick a Confbridge user.  (Priv: call,all)",
                ),
                (
                    "ConfbridgeLock",
                    "Lock a Confbridge conference.  (Priv: call,all)",
                ),
                (
                    "ConfbridgeStartRecord",
                    "Start recording a Confbridge conference.  (Priv: system,all)",
                ),
            ]
            .into_iter(),
        );
        let conf = ["conf_kick", "conf_lock", "conf_mute", "conf_record"];
        for role in [Role::Supervisor, Role::Admin] {
            let offered = conferences.narrowed_to(role);
            assert!(
                conf.iter().all(|a| offered.actions.contains(*a)),
                "{role:?}"
            );
        }
        assert!(conferences.narrowed_to(Role::Agent).actions.is_empty());
        let agent = all.narrowed_to(Role::Agent);
        assert_eq!(
            everything(&agent),
            [
                "atxfer_complete",
                "hangup",
                "originate",
                "pickup",
                "queue_pause"
            ],
            "no spy, no console; nothing the AMI account lacks either"
        );
        assert_eq!(agent.write, all.write);
    }
}
