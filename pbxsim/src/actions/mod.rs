//! AMI actions: the dispatch table, privilege checks, and the answer helpers every family uses.
//!
//! One module per family: `login` (Login, Challenge, Logoff, Events, Filter, ListCommands and
//! the refusals), `status` (Ping, Core*, Status, lists of channels, bridges and devices,
//! Command, Getvar/Setvar), `calls` (Originate, Hangup, Redirect, transfers, UserEvent),
//! `queues`, `parking`, `monitor` (MixMonitor), `extensions` (hints), `presence`, `mailbox`
//! (MailboxCount, MailboxStatus, `Voicemail*`), `conf` (ConfBridge), `astdb` (`DB*`).

mod astdb;
mod calls;
mod conf;
mod extensions;
mod login;
mod mailbox;
mod monitor;
mod parking;
mod presence;
mod queues;
mod status;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{BufMut, BytesMut};
use shared::ami::{Classes, Message, MessageBuilder};

use crate::client::Session;
use crate::listcommands::ACTIONS;
use crate::pbx::Pbx;
use crate::state::Core;

/// What the session does with an action's answer.
#[derive(Debug, Default)]
pub(crate) struct Reply {
    /// Bytes to write (a response, maybe followed by list events).
    pub bytes: BytesMut,
    /// Wait this long before writing (a failed Login takes 1 s).
    pub delay: Option<Duration>,
    /// Close the connection after writing.
    pub close: bool,
    /// The close is a `Logoff`.
    pub logoff: bool,
    /// Start receiving events (after a successful Login).
    pub subscribe: bool,
}

impl Reply {
    fn msg(msg: &Message) -> Reply {
        let mut reply = Reply::default();
        msg.write_to(&mut reply.bytes);
        reply
    }

    /// `Response: Error` with `Message: text`.
    pub fn error(id: Option<&[u8]>, text: &str) -> Reply {
        Reply::msg(&response("Error", id).with("Message", text))
    }

    fn success(id: Option<&[u8]>, text: &str) -> Reply {
        Reply::msg(&response("Success", id).with("Message", text))
    }

    fn push(&mut self, msg: &Message) {
        msg.write_to(&mut self.bytes);
    }

    /// A response whose `Message` ends in a bare LF, as Asterisk writes the texts it was
    /// given with a trailing `\n` (`Park successful\n`, app_queue's ringinuse error): the
    /// message model cannot hold that, so the bytes are written by hand.
    fn with_bare_lf(kind: &str, id: Option<&[u8]>, text: &str) -> Reply {
        let mut reply = Reply::default();
        let bytes = &mut reply.bytes;
        bytes.put_slice(b"Response: ");
        bytes.put_slice(kind.as_bytes());
        bytes.put_slice(b"\r\n");
        if let Some(id) = id {
            bytes.put_slice(b"ActionID: ");
            bytes.put_slice(id);
            bytes.put_slice(b"\r\n");
        }
        bytes.put_slice(b"Message: ");
        bytes.put_slice(text.as_bytes());
        bytes.put_slice(b"\n\r\n\r\n");
        reply
    }
}

/// Asterisk's `ast_false`: `no`, `false`, `n`, `f`, `0` or `off`, any case. Not the
/// negation of `is_true`: app_mixmonitor unmutes only on these words (anything else
/// mutes), app_queue refuses a RingInUse that is neither.
pub(super) fn is_false(v: &[u8]) -> bool {
    let v = v.trim_ascii();
    ["no", "false", "n", "f", "0", "off"]
        .iter()
        .any(|f| v.eq_ignore_ascii_case(f.as_bytes()))
}

/// Handles one action of `session`.
pub(crate) fn handle(core: &Core, s: &mut Session, m: &Message) -> Reply {
    let id = m.action_id();
    let Some(action) = m.get_str("Action").map(|a| a.into_owned()) else {
        login::bad_format(core, s, "NONE");
        return Reply::error(id, "Missing action in request");
    };
    let lower = action.to_ascii_lowercase();
    // Asterisk answers these before checking authentication.
    match lower.as_str() {
        "login" => return login::login(core, s, m),
        "challenge" => return login::challenge(s, m),
        "logoff" => return login::logoff(id),
        _ => {}
    }
    let Some(user) = s.user.clone() else {
        return Reply::error(id, "Permission denied");
    };
    let Some((_, needed)) = action_privilege(&action).filter(|_| core.config.has_action(&action))
    else {
        return login::unknown(core, s, id, &action);
    };
    if !needed.is_empty() && !user.write.intersects(needed) {
        return Reply::error(id, "Permission denied");
    }
    core.config.stats.action(&action);
    match lower.as_str() {
        "ping" => status::ping(id),
        "events" => login::events(s, m),
        "filter" => login::filter(s, m),
        "listcommands" => login::list_commands(core, &user.write, id),
        "coresettings" => status::core_settings(id),
        "corestatus" => core.with_pbx(|pbx| status::core_status(pbx, id)),
        "status" => core.with_pbx(|pbx| status::status(pbx, m, id)),
        "coreshowchannels" => core.with_pbx(|pbx| status::core_show_channels(pbx, id)),
        "queuestatus" => core.with_pbx(|pbx| queues::queue_status(pbx, m, id)),
        "queuesummary" => core.with_pbx(|pbx| queues::queue_summary(pbx, m, id)),
        "queuereset" => queues::reset(core, m, id),
        "parkedcalls" => core.with_pbx(|pbx| parking::parked_calls(pbx, id)),
        "bridgelist" => core.with_pbx(|pbx| status::bridge_list(pbx, m, id)),
        "bridgeinfo" => core.with_pbx(|pbx| status::bridge_info(pbx, m, id)),
        "devicestatelist" => core.with_pbx(|pbx| status::device_state_list(pbx, id)),
        "extensionstatelist" => core.with_pbx(|pbx| extensions::list(pbx, id)),
        "extensionstate" => core.with_pbx(|pbx| extensions::state(pbx, m, id)),
        "presencestatelist" => core.with_pbx(|pbx| presence::list(pbx, id)),
        "presencestate" => core.with_pbx(|pbx| presence::state(pbx, m, id)),
        "mailboxcount" => core.with_pbx(|pbx| mailbox::count(pbx, m, id, false)),
        "mailboxstatus" => core.with_pbx(|pbx| mailbox::count(pbx, m, id, true)),
        "voicemailuserslist" => core.with_pbx(|pbx| mailbox::users_list(pbx, id)),
        "voicemailuserstatus" => core.with_pbx(|pbx| mailbox::user_status(pbx, m, id)),
        "voicemailboxsummary" => core.with_pbx(|pbx| mailbox::box_summary(pbx, m, id)),
        "voicemailremove" => mailbox::remove(core, m, id),
        "voicemailrefresh" => mailbox::refresh(id),
        "command" => core.with_pbx(|pbx| status::command(pbx, m, id)),
        "getvar" => core.with_pbx(|pbx| status::getvar(pbx, m, id)),
        "setvar" => status::setvar(core, m, id),
        "dbput" => astdb::put(core, m, id),
        "dbget" => astdb::get(core, m, id),
        "dbdel" => astdb::del(core, m, id),
        "dbdeltree" => astdb::del_tree(core, m, id),
        "originate" => calls::originate(core, m, id),
        "hangup" => calls::hangup(core, m, id),
        "redirect" => calls::redirect(core, m, id, false),
        "blindtransfer" => calls::redirect(core, m, id, true),
        "atxfer" => calls::atxfer(core, m, id),
        "cancelatxfer" => calls::cancel_atxfer(core, m, id),
        "userevent" => calls::user_event(core, m, id),
        "park" => parking::park(core, m, id),
        "mixmonitor" | "stopmixmonitor" | "mixmonitormute" => {
            monitor::mix_monitor(core, &lower, m, id)
        }
        "queuepause" => queues::pause(core, m, id),
        "queueadd" => queues::add(core, m, id),
        "queueremove" => queues::remove(core, m, id),
        "queuepenalty" => queues::penalty(core, m, id),
        "queuememberringinuse" => queues::ring_in_use(core, m, id),
        "queuelog" => queues::log(m, id),
        "confbridgelistrooms"
        | "confbridgelist"
        | "confbridgemute"
        | "confbridgeunmute"
        | "confbridgekick"
        | "confbridgelock"
        | "confbridgeunlock"
        | "confbridgestartrecord"
        | "confbridgestoprecord" => conf::confbridge(core, &lower, m, id),
        _ => login::unknown(core, s, id, &action),
    }
}

/// `Response: <kind>`, then `ActionID` if the action had one: Asterisk's order.
pub(super) fn response(kind: &str, id: Option<&[u8]>) -> Message {
    let msg = Message::new().with("Response", kind);
    match id {
        Some(id) => msg.with("ActionID", id),
        None => msg,
    }
}

/// Privileges an action needs, from the `ListCommands` table (`None` = unknown action).
fn action_privilege(name: &str) -> Option<(&'static str, Classes)> {
    ACTIONS
        .iter()
        .find(|(n, _, _)| n.eq_ignore_ascii_case(name))
        .map(|(n, _, p)| {
            let classes = p
                .split(',')
                .filter(|c| *c != "all")
                .fold(Classes::NONE, |acc, c| acc.or(Classes::parse(c)));
            (*n, classes)
        })
}

/// Wall-clock seconds and microseconds, for `Ping` and security events.
pub(super) fn now_epoch_micros() -> (u64, u32) {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_secs(), d.subsec_micros())
}

/// The response that opens a list: `EventList: start` and its text.
pub(super) fn list_start(id: Option<&[u8]>, text: &str) -> Reply {
    Reply::msg(
        &response("Success", id)
            .with("EventList", "start")
            .with("Message", text),
    )
}

/// The `...Complete` event that closes a list, with the counts Asterisk adds.
pub(super) fn list_end(reply: &mut Reply, name: &str, id: Option<&[u8]>, items: usize) {
    let mut msg = MessageBuilder::new().with("Event", name);
    push_id(&mut msg, id);
    msg.push("EventList", "Complete");
    msg.push("ListItems", items.to_string());
    if name == "StatusComplete" {
        msg.push("Items", items.to_string());
    }
    if name == "ParkedCallsComplete" {
        msg.push("Total", items.to_string());
    }
    reply.push(&msg.build());
}

/// Appends `ActionID` when the action had one.
pub(super) fn push_id(msg: &mut MessageBuilder, id: Option<&[u8]>) {
    if let Some(id) = id {
        msg.push("ActionID", id);
    }
}

/// A list item: `Event:` then the ActionID, as every list event repeats it.
pub(super) fn item(name: &str, id: Option<&[u8]>) -> MessageBuilder {
    let msg = MessageBuilder::new().with("Event", name);
    match id {
        Some(id) => msg.with("ActionID", id),
        None => msg,
    }
}

/// Whole virtual seconds since `ms`.
pub(super) fn secs_since(pbx: &Pbx, ms: u64) -> u64 {
    pbx.now_ms().saturating_sub(ms) / 1_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn privileges_come_from_listcommands() {
        let (name, needed) = action_privilege("corestatus").expect("known");
        assert_eq!(name, "CoreStatus");
        assert!(needed.intersects(Classes::SYSTEM));
        assert!(!Classes::parse("call,agent,originate").intersects(needed));
        let (_, ping) = action_privilege("Ping").expect("known");
        assert!(ping.is_empty());
        assert!(action_privilege("NoSuchAction").is_none());
    }
}
