//! Login, Challenge, Logoff, Events, Filter, ListCommands, and the answers to unknown actions.

use std::sync::atomic::Ordering;

use shared::ami::{Classes, Message, md5_key};

use super::{Reply, now_epoch_micros, response};
use crate::client::Session;
use crate::clock;
use crate::listcommands::ACTIONS;
use crate::state::Core;
use shared::ami::filter::Filter;

/// `Logoff`: Asterisk's goodbye, then the connection closes.
pub(super) fn logoff(id: Option<&[u8]>) -> Reply {
    let mut reply =
        Reply::msg(&response("Goodbye", id).with("Message", "Thanks for all the fish."));
    reply.close = true;
    reply.logoff = true;
    reply
}

/// Asterisk's answer to an action it does not know, plus its security event.
pub(super) fn unknown(core: &Core, s: &Session, id: Option<&[u8]>, action: &str) -> Reply {
    bad_format(core, s, action);
    Reply::error(
        id,
        &format!(
            "Invalid/unknown command: {action}. Use Action: ListCommands to show available commands."
        ),
    )
}

/// The `RequestBadFormat` security event an authenticated session's bad request raises.
pub(super) fn bad_format(core: &Core, s: &Session, action: &str) {
    let Some(user) = &s.user else { return };
    let msg = Message::new()
        .with("Event", "RequestBadFormat")
        .with("Privilege", "security,all")
        .with("EventTV", now_tv())
        .with("Severity", "Error")
        .with("Service", "AMI")
        .with("EventVersion", "1")
        .with("SessionID", session_id(s))
        .with("LocalAddress", "IPV4/TCP/127.0.0.1/5038")
        .with(
            "RemoteAddress",
            format!("IPV4/TCP/{}/{}", s.peer.ip(), s.peer.port()),
        )
        .with("RequestType", format!("Action: {action}"))
        .with("SessionTV", &s.login_tv)
        .with("AccountID", &user.name);
    core.publish(vec![crate::pbx::Event {
        class: Classes::SECURITY,
        msg,
    }]);
}

/// `0x7f7318000010`: a pointer-like session id, as Asterisk prints its session address.
fn session_id(s: &Session) -> String {
    format!("0x{:012x}", 0x7f73_1800_0000_u64 + s.id * 0x10)
}

/// Now, as security events print it.
fn now_tv() -> String {
    let (secs, micros) = now_epoch_micros();
    clock::event_tv(secs * 1_000 + u64::from(micros / 1_000))
}

pub(super) fn login(core: &Core, s: &mut Session, m: &Message) -> Reply {
    let id = m.action_id();
    if s.user.is_some() {
        return Reply::success(id, "Already authenticated");
    }
    let name = m.get_str("Username").unwrap_or_default();
    let user = core.config.user(&name).cloned();
    let md5 = m
        .get_str("AuthType")
        .is_some_and(|a| a.eq_ignore_ascii_case("md5"));
    let ok = user.as_ref().is_some_and(|u| {
        if md5 {
            let (Some(challenge), Some(key)) = (&s.challenge, m.get_str("Key")) else {
                return false;
            };
            md5_key(challenge.as_bytes(), u.secret.as_bytes()).eq_ignore_ascii_case(&key)
        } else {
            m.get_str("Secret")
                .is_some_and(|secret| *secret == u.secret)
        }
    });
    let (true, Some(user)) = (ok, user) else {
        let mut reply = Reply::error(id, "Authentication failed");
        reply.delay = Some(core.config.failed_login_delay);
        reply.close = true;
        return reply;
    };
    s.event_mask = match m.get_str("Events") {
        Some(e) => event_mask(&e),
        None => Classes::ALL,
    };
    let mut reply = Reply::success(id, "Authentication accepted");
    reply.subscribe = true;
    let uptime = (core.elapsed_ms() / 1_000).to_string();
    // Asterisk adds it only once it has finished booting (`ami-boot.txt`).
    let booting = core.config.faults.booting();
    if !booting && Classes::SYSTEM.intersects(user.read) && Classes::SYSTEM.intersects(s.event_mask)
    {
        reply.push(
            &Message::new()
                .with("Event", "FullyBooted")
                .with("Privilege", "system,all")
                .with("Uptime", &uptime)
                .with("LastReload", &uptime)
                .with("Status", "Fully Booted"),
        );
    }
    s.user = Some(user.clone());
    core.config.stats.login(&user.name);
    let tv = now_tv();
    s.login_tv = tv.clone();
    let auth = Message::new()
        .with("Event", "SuccessfulAuth")
        .with("Privilege", "security,all")
        .with("EventTV", &tv)
        .with("Severity", "Informational")
        .with("Service", "AMI")
        .with("EventVersion", "1")
        .with("AccountID", &user.name)
        .with("SessionID", session_id(s))
        .with("LocalAddress", "IPV4/TCP/127.0.0.1/5038")
        .with(
            "RemoteAddress",
            format!("IPV4/TCP/{}/{}", s.peer.ip(), s.peer.port()),
        )
        .with("UsingPassword", "0")
        .with("SessionTV", &tv);
    // The security event goes to every session that reads `security`, this one included
    // (it subscribes before the event is published).
    if Classes::SECURITY.intersects(user.read) && Classes::SECURITY.intersects(s.event_mask) {
        reply.push(&auth);
    }
    core.publish(vec![crate::pbx::Event {
        class: Classes::SECURITY,
        msg: auth,
    }]);
    if booting {
        voicemail_loads(core, s, &mut reply);
    }
    reply
}

/// The first login of a boot sees app_voicemail load: one `MessageWaiting` per mailbox
/// (`ami-boot.txt`: 1001-1005 with `Waiting: 0`), to this session and every other.
fn voicemail_loads(core: &Core, s: &Session, reply: &mut Reply) {
    let Some(phase) = core.config.faults.boot_phase() else {
        return;
    };
    if core
        .voicemail_loaded
        .swap(phase.generation, Ordering::SeqCst)
        == phase.generation
    {
        return;
    }
    let events = core.with_pbx(|pbx| pbx.mailbox_states());
    let reads = s.user.as_ref().is_some_and(|u| {
        Classes::CALL.intersects(u.read) && Classes::CALL.intersects(s.event_mask)
    });
    if reads {
        for event in &events {
            reply.push(&event.msg);
        }
    }
    core.publish(events);
}

pub(super) fn challenge(s: &mut Session, m: &Message) -> Reply {
    let id = m.action_id();
    if !m
        .get_str("AuthType")
        .is_some_and(|a| a.eq_ignore_ascii_case("md5"))
    {
        return Reply::error(id, "Must specify AuthType");
    }
    let (secs, micros) = now_epoch_micros();
    let challenge = ((secs ^ u64::from(micros) ^ s.id.wrapping_mul(2_654_435_761)) % 900_000_000
        + 100_000_000)
        .to_string();
    s.challenge = Some(challenge.clone());
    Reply::msg(&response("Success", id).with("Challenge", challenge))
}

/// `on`/`off`/a class list, as `Events:` of Login and `EventMask:` of Events take them.
fn event_mask(value: &str) -> Classes {
    match value.trim().to_ascii_lowercase().as_str() {
        "on" | "yes" | "true" => Classes::ALL,
        "off" | "no" | "false" | "" => Classes::NONE,
        list => Classes::parse(list),
    }
}

pub(super) fn events(s: &mut Session, m: &Message) -> Reply {
    let id = m.action_id();
    let mask = event_mask(&m.get_str("EventMask").unwrap_or_default());
    s.event_mask = mask;
    Reply::msg(&response("Success", id).with("Events", if mask.is_empty() { "Off" } else { "On" }))
}

pub(super) fn filter(s: &mut Session, m: &Message) -> Reply {
    let id = m.action_id();
    if !m
        .get_str("Operation")
        .is_some_and(|o| o.eq_ignore_ascii_case("add"))
    {
        return Reply::error(id, "Unknown operation");
    }
    let pattern = m.get_str("Filter").unwrap_or_default();
    let criteria = m.get_str("MatchCriteria");
    match Filter::parse(&pattern, criteria.as_deref()) {
        Ok(f) => {
            s.filters.push(f);
            Reply::success(id, "Success")
        }
        Err(e) => Reply::error(id, &e.to_string()),
    }
}

pub(super) fn list_commands(core: &Core, write: &Classes, id: Option<&[u8]>) -> Reply {
    let mut msg = response("Success", id);
    for (name, synopsis, privs) in ACTIONS {
        if !core.config.has_action(name) {
            continue;
        }
        let needed = privs
            .split(',')
            .filter(|c| *c != "all")
            .fold(Classes::NONE, |acc, c| acc.or(Classes::parse(c)));
        let show = if privs.starts_with('<') {
            "<none>"
        } else {
            privs
        };
        if needed.is_empty() || write.intersects(needed) {
            msg.push(name, format!("{synopsis}  (Priv: {show})"));
        }
    }
    Reply::msg(&msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_masks() {
        assert_eq!(event_mask("off"), Classes::NONE);
        assert_eq!(event_mask("on"), Classes::ALL);
        assert!(event_mask("call,agent").intersects(Classes::AGENT));
    }
}
