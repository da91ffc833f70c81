//! Call control: panel actions turned into AMI, run on the person's own AMI session.
//!
//! Asterisk's permissions come first: at login [`permissions`] asks `ListCommands`
//! which actions the account may run, the panel offers only those, and [`execute`]
//! refuses the rest itself with a clear message. [`guard`] adds the relay's own rules
//! against the shell. Whatever Asterisk still refuses comes back in its own words.
//! A failed action changes nothing in the model: the model only follows events.

pub mod guard;
mod limits;
pub mod scope;
pub mod transfer;

use shared::action::{
    Action, ActionRequest, ActionResult, HeaderValue, MuteDirection, Permissions, SpyMode,
};
use shared::ami::Message;
use shared::protocol::{RawEvent, Seat};

use crate::ami::{AmiError, SessionHandle};

pub use limits::{ActionLimiter, LimitError, Permit};

/// How click-to-dial, pickup, spy and voicemail reach a person's phone, and which queues
/// an agent signs in to as which member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dialing {
    /// The channel that rings for an extension; `{exten}` is replaced (`PJSIP/{exten}`).
    pub channel_template: String,
    /// The dialplan context numbers are dialled in.
    pub context: String,
    /// The context of the parking spaces, for pick-up.
    pub parking_context: String,
    /// The dialplan context whose extension `<mailbox>` runs `VoiceMail(<mailbox>)`.
    pub voicemail_context: String,
    /// Queue sign-in seats (`[server.agents]`), by extension.
    pub seats: Vec<Seat>,
    /// `dnd_pauses_queues`: a `dnd` presence also pauses the extension's seat in every
    /// queue (with the presence's message as the reason), any other presence unpauses it.
    pub dnd_pauses: bool,
    /// `call_forward`: the AstDB `family/key` the dialplan reads an extension's call
    /// forward from (`{exten}` replaced, e.g. `CF/{exten}`); `None`: no call forward.
    pub call_forward: Option<String>,
}

impl Default for Dialing {
    fn default() -> Self {
        Dialing {
            channel_template: "PJSIP/{exten}".into(),
            context: "from-internal".into(),
            parking_context: "parkedcalls".into(),
            voicemail_context: "voicemail".into(),
            seats: Vec::new(),
            dnd_pauses: false,
            call_forward: None,
        }
    }
}

impl Dialing {
    /// Extension `exten`'s seat, if one is configured.
    pub fn seat(&self, exten: &str) -> Option<&Seat> {
        self.seats.iter().find(|s| s.exten == exten)
    }

    /// The seat whose member interface is `interface`.
    fn seat_of_interface(&self, interface: &str) -> Option<&Seat> {
        self.seats.iter().find(|s| s.interface == interface)
    }
}

/// The presence states `PRESENCE_STATE()` accepts (presencestate.c), `not_set` aside.
pub const PRESENCE_STATES: &[&str] = &["available", "away", "dnd", "xa", "chat", "unavailable"];

/// How long the originated phone may ring before Asterisk gives up, in ms.
const ORIGINATE_TIMEOUT_MS: u32 = 30_000;

/// Asks Asterisk what this account may do.
pub async fn permissions(session: &SessionHandle) -> Result<Permissions, AmiError> {
    let answer = session
        .send(Message::new().with("Action", "ListCommands"))
        .await?;
    let headers = pairs(&answer.response);
    Ok(Permissions::from_list_commands(
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    ))
}

/// Runs one action and answers it; never panics, never waits past the session's timeout.
pub async fn execute(
    request: &ActionRequest,
    session: &SessionHandle,
    permissions: &Permissions,
    dialing: &Dialing,
) -> ActionResult {
    let id = request.id.clone();
    if !permissions.allows(&request.action) {
        return ActionResult::failed(
            id,
            format!(
                "the {} action is not allowed for this account",
                request.action.name()
            ),
        );
    }
    let is_raw = matches!(request.action, Action::Ami { .. });
    let ami = match translate(&request.action, session, dialing).await {
        Ok(ami) => ami,
        Err(message) => return ActionResult::failed(id, message),
    };
    if let Err(refusal) = guard::check(&ami, permissions.write) {
        return ActionResult::failed(id, refusal.to_string());
    }
    match session.send(ami).await {
        Ok(answer) => {
            let mut message = answer
                .response
                .get_str("Message")
                .map(|m| m.into_owned())
                .unwrap_or_default();
            if let Some(pause) = dnd_pause(&request.action, dialing)
                .filter(|_| permissions.ami_actions.contains("QueuePause"))
            {
                let outcome = match session.send(pause).await {
                    Ok(answer) => answer
                        .response
                        .get_str("Message")
                        .map(|m| m.into_owned())
                        .unwrap_or_default(),
                    Err(error) => asterisk_words(error),
                };
                message = format!("{message}; queues: {outcome}");
            }
            let mut result = ActionResult::ok(id, message);
            if is_raw {
                result.response = Some(pairs(&answer.response));
                result.events = Some(answer.events.iter().map(pairs).collect());
            }
            result
        }
        Err(error) => ActionResult::failed(id, asterisk_words(error)),
    }
}

fn pairs(message: &Message) -> Vec<(String, String)> {
    RawEvent::from(message).headers
}

/// Asterisk's own text where it refused; otherwise what went wrong on the way.
pub fn asterisk_words(error: AmiError) -> String {
    match error {
        AmiError::ActionFailed { message, .. }
        | AmiError::PermissionDenied { message }
        | AmiError::UnknownAction { message }
        | AmiError::AuthenticationFailed { message } => message,
        AmiError::NotConnected | AmiError::Disconnected | AmiError::SessionStopped => {
            format!("the PBX is not reachable: {error}")
        }
        other => other.to_string(),
    }
}

/// The channel that rings for `from`: a channel or device name as given, or an
/// extension through the server's dial template.
fn dial_channel(from: &str, dialing: &Dialing) -> String {
    if from.contains('/') {
        from.to_owned()
    } else {
        dialing.channel_template.replace("{exten}", from)
    }
}

fn originate(channel: String, caller_id: Option<&str>) -> Message {
    let mut message = Message::new()
        .with("Action", "Originate")
        .with("Channel", channel)
        .with("Timeout", ORIGINATE_TIMEOUT_MS.to_string());
    if let Some(caller_id) = caller_id {
        message.push("CallerID", caller_id);
    }
    message
}

/// The AMI action for a panel action. `redirect` asks Asterisk whether the channel is
/// bridged: `BlindTransfer` moves the other party, `Redirect` the channel itself.
async fn translate(
    action: &Action,
    session: &SessionHandle,
    dialing: &Dialing,
) -> Result<Message, String> {
    let context = |c: &Option<String>| c.clone().unwrap_or_else(|| dialing.context.clone());
    Ok(match action {
        Action::Hangup { channel } | Action::AtxferComplete { channel } => Message::new()
            .with("Action", "Hangup")
            .with("Channel", channel),
        Action::Redirect {
            channel,
            exten,
            context: c,
        } => {
            let bridged = is_bridged(session, channel).await;
            let name = if bridged { "BlindTransfer" } else { "Redirect" };
            let mut message = Message::new()
                .with("Action", name)
                .with("Channel", channel)
                .with("Exten", exten)
                .with("Context", context(c));
            if !bridged {
                message.push("Priority", "1");
            }
            message
        }
        Action::Atxfer {
            channel,
            exten,
            context: c,
        } => Message::new()
            .with("Action", "Atxfer")
            .with("Channel", channel)
            .with("Exten", exten)
            .with("Context", context(c)),
        Action::AtxferCancel { channel } => Message::new()
            .with("Action", "CancelAtxfer")
            .with("Channel", channel),
        Action::Originate {
            from,
            to,
            context: c,
            caller_id,
        } => {
            let mut message = originate(dial_channel(from, dialing), caller_id.as_deref());
            message.push("Context", context(c));
            message.push("Exten", to);
            message.push("Priority", "1");
            message
        }
        Action::Park { channel } => Message::new()
            .with("Action", "Park")
            .with("Channel", channel),
        Action::Pickup { space, from } => {
            let mut message = originate(dial_channel(from, dialing), None);
            message.push("Context", &dialing.parking_context);
            message.push("Exten", space);
            message.push("Priority", "1");
            message
        }
        Action::Spy {
            target_channel,
            from,
            mode,
        } => {
            // app_chanspy: q quiet, w whisper, B barge; never spy on an arbitrary prefix.
            let options = match mode {
                SpyMode::Listen => "q",
                SpyMode::Whisper => "qw",
                SpyMode::Barge => "qB",
            };
            if target_channel.contains(',') {
                return Err("a channel name has no comma".into());
            }
            let mut message = originate(dial_channel(from, dialing), None);
            message.push("Application", "ChanSpy");
            message.push("Data", format!("{target_channel},{options}"));
            message
        }
        Action::QueuePause {
            queue,
            interface,
            paused,
            reason,
        } => {
            let mut message = Message::new()
                .with("Action", "QueuePause")
                .with("Interface", interface)
                .with("Paused", if *paused { "true" } else { "false" });
            if let Some(queue) = queue {
                message.push("Queue", queue);
            }
            if let Some(reason) = reason {
                message.push("Reason", reason);
            }
            message
        }
        Action::QueueAdd {
            queue,
            interface,
            penalty,
            paused,
        } => {
            let mut message = Message::new()
                .with("Action", "QueueAdd")
                .with("Queue", queue)
                .with("Interface", interface);
            // A seat's member follows its phone's device state (a `Local/` member
            // has no state of its own).
            if let Some(seat) = dialing.seat_of_interface(interface) {
                message.push("StateInterface", dial_channel(&seat.exten, dialing));
            }
            if let Some(penalty) = penalty {
                message.push("Penalty", penalty.to_string());
            }
            if let Some(paused) = paused {
                message.push("Paused", if *paused { "true" } else { "false" });
            }
            message
        }
        Action::QueueRemove { queue, interface } => Message::new()
            .with("Action", "QueueRemove")
            .with("Queue", queue)
            .with("Interface", interface),
        Action::QueuePenalty {
            queue,
            interface,
            penalty,
        } => Message::new()
            .with("Action", "QueuePenalty")
            .with("Queue", queue)
            .with("Interface", interface)
            .with("Penalty", penalty.to_string()),
        Action::Presence {
            exten,
            state,
            message,
        } => presence(exten, state, message.as_deref())?,
        Action::CallForward { exten, to } => call_forward(exten, to.as_deref(), dialing)?,
        Action::VoicemailTransfer { channel, mailbox } => {
            // `1001` or `1001@default`: the context's extension is the box's number.
            let number = mailbox.split('@').next().unwrap_or_default();
            if !is_extension(number) {
                return Err(format!("{mailbox:?} is not a mailbox number"));
            }
            Message::new()
                .with("Action", "Redirect")
                .with("Channel", channel)
                .with("Exten", number)
                .with("Context", &dialing.voicemail_context)
                .with("Priority", "1")
        }
        Action::RecordStart { channel, file } => {
            let file = match file {
                Some(file) if file.contains('/') || file.contains("..") => {
                    return Err("a recording file name has no path in it".into());
                }
                Some(file) => file.clone(),
                // MixMonitor needs a file; name it after the channel and the time.
                None => default_recording_name(channel),
            };
            Message::new()
                .with("Action", "MixMonitor")
                .with("Channel", channel)
                .with("File", file)
        }
        Action::RecordStop { channel } => Message::new()
            .with("Action", "StopMixMonitor")
            .with("Channel", channel),
        Action::RecordMute {
            channel,
            direction,
            mute,
        } => Message::new()
            .with("Action", "MixMonitorMute")
            .with("Channel", channel)
            .with(
                "Direction",
                match direction {
                    MuteDirection::Read => "read",
                    MuteDirection::Write => "write",
                    MuteDirection::Both => "both",
                },
            )
            .with("State", if *mute { "1" } else { "0" }),
        Action::ConfMute {
            room,
            channel,
            mute,
        } => {
            let name = if *mute {
                "ConfbridgeMute"
            } else {
                "ConfbridgeUnmute"
            };
            conference(name, room).with("Channel", channel)
        }
        Action::ConfKick { room, channel } => {
            conference("ConfbridgeKick", room).with("Channel", channel)
        }
        Action::ConfLock { room, locked } => {
            let name = if *locked {
                "ConfbridgeLock"
            } else {
                "ConfbridgeUnlock"
            };
            conference(name, room)
        }
        Action::ConfRecord { room, recording } => {
            let name = if *recording {
                "ConfbridgeStartRecord"
            } else {
                "ConfbridgeStopRecord"
            };
            conference(name, room)
        }
        Action::Ami { headers } => {
            let mut message = Message::new();
            // `Action` first, as Asterisk expects to read it.
            let mut names: Vec<&String> = headers.keys().collect();
            names.sort_by_key(|k| !k.eq_ignore_ascii_case("action"));
            if !names
                .first()
                .is_some_and(|k| k.eq_ignore_ascii_case("action"))
            {
                return Err("a raw action needs an Action header".into());
            }
            for name in names {
                if name.eq_ignore_ascii_case("actionid") {
                    continue;
                }
                match &headers[name] {
                    HeaderValue::One(value) => message.push(name, value),
                    HeaderValue::Many(values) => {
                        for value in values {
                            message.push(name, value);
                        }
                    }
                }
            }
            message
        }
    })
}

/// A Confbridge action on `room` (its `Conference` header).
fn conference(action: &str, room: &str) -> Message {
    Message::new()
        .with("Action", action)
        .with("Conference", room)
}

/// Whether `name` can be an extension (or a mailbox number) that goes into a dialplan
/// function, an AstDB key or a `Redirect`'s `Exten`: letters and digits only, so no
/// `,`, `/` or line break can reach Asterisk's parsers.
fn is_extension(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric())
}

/// `Setvar` of `PRESENCE_STATE(CustomPresence:<exten>)` to `state,,message`, as
/// ami-session-2 sets it (`dnd,,In a meeting`). A comma would start the function's
/// next field (its options), so none is let through.
fn presence(exten: &str, state: &str, message: Option<&str>) -> Result<Message, String> {
    if !is_extension(exten) {
        return Err(format!("{exten:?} is not an extension"));
    }
    if !PRESENCE_STATES.contains(&state) {
        return Err(format!(
            "{state:?} is not a presence state ({})",
            PRESENCE_STATES.join(", ")
        ));
    }
    let message = message.unwrap_or_default();
    if message.contains([',', '\r', '\n']) {
        return Err("a presence message has no comma or line break".into());
    }
    Ok(Message::new()
        .with("Action", "Setvar")
        .with(
            "Variable",
            format!("PRESENCE_STATE(CustomPresence:{exten})"),
        )
        .with("Value", format!("{state},,{message}")))
}

/// Why a call forward is refused when the server configures none.
pub const NO_CALL_FORWARD: &str =
    "call forward is not configured for this server (call_forward in its [[server]] section)";

/// The AstDB family and key of `exten`'s forward under `template` (`CF/{exten}`): the
/// family is up to the first `/`, the key the rest (it may hold more `/`); `None` when
/// either would be empty. The configuration is checked with it at load.
pub fn forward_entry(template: &str, exten: &str) -> Option<(String, String)> {
    let path = template.replace("{exten}", exten);
    let (family, key) = path.split_once('/')?;
    (!family.is_empty() && !key.is_empty()).then(|| (family.to_owned(), key.to_owned()))
}

/// `DBPut` of the server's `call_forward` family/key to `to`, or `DBDel` of it when `to`
/// is absent or empty. The dialplan reads the entry, so only a dialable number goes in.
pub fn call_forward(exten: &str, to: Option<&str>, dialing: &Dialing) -> Result<Message, String> {
    let Some(template) = &dialing.call_forward else {
        return Err(NO_CALL_FORWARD.into());
    };
    if !is_extension(exten) {
        return Err(format!("{exten:?} is not an extension"));
    }
    let Some((family, key)) = forward_entry(template, exten) else {
        return Err(format!(
            "the call_forward template {template:?} is not family/key"
        ));
    };
    let to = to.map(str::trim).unwrap_or_default();
    if to.is_empty() {
        return Ok(Message::new()
            .with("Action", "DBDel")
            .with("Family", family)
            .with("Key", key));
    }
    if !to
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '*' | '#' | '+'))
    {
        return Err(format!(
            "{to:?} is not a number to forward to (digits, *, # and + only)"
        ));
    }
    Ok(Message::new()
        .with("Action", "DBPut")
        .with("Family", family)
        .with("Key", key)
        .with("Val", to))
}

/// With `dnd_pauses`, the `QueuePause` (every queue) that follows a presence set for an
/// extension with a seat: paused for `dnd`, with the message as the reason, else not.
fn dnd_pause(action: &Action, dialing: &Dialing) -> Option<Message> {
    let Action::Presence {
        exten,
        state,
        message,
    } = action
    else {
        return None;
    };
    let seat = dialing.seat(exten).filter(|_| dialing.dnd_pauses)?;
    let dnd = state == "dnd";
    let mut pause = Message::new()
        .with("Action", "QueuePause")
        .with("Interface", &seat.interface)
        .with("Paused", if dnd { "true" } else { "false" });
    if dnd {
        pause.push("Reason", message.as_deref().unwrap_or("DND"));
    }
    Some(pause)
}

/// `astpanel-PJSIP-1001-00000001-1764750000.wav`: unique enough, and no path.
fn default_recording_name(channel: &str) -> String {
    let safe: String = channel
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("astpanel-{safe}-{now}.wav")
}

/// Whether Asterisk says the channel is in a bridge (`Status` reports `BridgeID`).
async fn is_bridged(session: &SessionHandle, channel: &str) -> bool {
    let status = Message::new()
        .with("Action", "Status")
        .with("Channel", channel);
    match session.send(status).await {
        Ok(answer) => answer.events.iter().any(|e| {
            e.get("BridgeID")
                .is_some_and(|b| !b.trim_ascii().is_empty())
        }),
        Err(_) => false,
    }
}
