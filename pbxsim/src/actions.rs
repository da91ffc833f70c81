//! AMI actions: privilege checks, Asterisk's own refusal texts, and the answers the recordings show.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{BufMut, BytesMut};
use md5::{Digest, Md5};
use shared::ami::Message;

use crate::clock;
use crate::listcommands::ACTIONS;
use crate::pbx::{Pbx, Target};
use crate::server::Core;
use crate::session::{Filter, Session};
use shared::ami::Classes;

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
}

/// `Response: <kind>`, then `ActionID` if the action had one: Asterisk's order.
fn response(kind: &str, id: Option<&[u8]>) -> Message {
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

fn now_epoch_micros() -> (u64, u32) {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_secs(), d.subsec_micros())
}

/// Handles one action of `session`.
pub(crate) fn handle(core: &Core, s: &mut Session, m: &Message) -> Reply {
    let id = m.action_id();
    let Some(action) = m.get_str("Action").map(|a| a.into_owned()) else {
        bad_format(core, s, "NONE");
        return Reply::error(id, "Missing action in request");
    };
    let lower = action.to_ascii_lowercase();
    // Asterisk answers these before checking authentication.
    match lower.as_str() {
        "login" => return login(core, s, m),
        "challenge" => return challenge(s, m),
        "logoff" => {
            let mut reply =
                Reply::msg(&response("Goodbye", id).with("Message", "Thanks for all the fish."));
            reply.close = true;
            reply.logoff = true;
            return reply;
        }
        _ => {}
    }
    let Some(user) = s.user.clone() else {
        return Reply::error(id, "Permission denied");
    };
    let Some((_, needed)) = action_privilege(&action) else {
        return unknown(core, s, id, &action);
    };
    if !needed.is_empty() && !user.write.intersects(needed) {
        return Reply::error(id, "Permission denied");
    }
    match lower.as_str() {
        "ping" => {
            let (secs, micros) = now_epoch_micros();
            Reply::msg(
                &response("Success", id)
                    .with("Ping", "Pong")
                    .with("Timestamp", format!("{secs}.{micros:06}")),
            )
        }
        "events" => events(s, m),
        "filter" => filter(s, m),
        "listcommands" => list_commands(&user.write, id),
        "coresettings" => Reply::msg(
            &response("Success", id)
                .with("AMIversion", "11.0.0")
                .with("AsteriskVersion", "22.10.1")
                .with("SystemName", "")
                .with("CoreMaxCalls", "0")
                .with("CoreMaxLoadAvg", "0.000000")
                .with("CoreRunUser", "")
                .with("CoreRunGroup", "")
                .with("CoreMaxFilehandles", "0")
                .with("CoreRealTimeEnabled", "No")
                .with("CoreCDRenabled", "Yes")
                .with("CoreHTTPenabled", "Yes")
                .with("SoundsSearchCustomDir", "No"),
        ),
        "corestatus" => core.with_pbx(|pbx| {
            let start = pbx.epoch_start();
            Reply::msg(
                &response("Success", id)
                    .with("CoreStartupDate", clock::date(start))
                    .with("CoreStartupTime", clock::time(start))
                    .with("CoreReloadDate", clock::date(start))
                    .with("CoreReloadTime", clock::time(start))
                    .with("CoreCurrentCalls", pbx.current_calls().to_string())
                    .with("CoreProcessedCalls", pbx.processed_calls().to_string()),
            )
        }),
        "status" => core.with_pbx(|pbx| status(pbx, m, id)),
        "coreshowchannels" => core.with_pbx(|pbx| core_show_channels(pbx, id)),
        "queuestatus" => core.with_pbx(|pbx| queue_status(pbx, m, id)),
        "queuesummary" => core.with_pbx(|pbx| queue_summary(pbx, m, id)),
        "parkedcalls" => core.with_pbx(|pbx| parked_calls(pbx, id)),
        "bridgelist" => core.with_pbx(|pbx| bridge_list(pbx, m, id)),
        "devicestatelist" => core.with_pbx(|pbx| device_state_list(pbx, id)),
        "extensionstatelist" => {
            let mut reply = list_start(id, "Extension Statuses will follow");
            list_end(&mut reply, "ExtensionStateListComplete", id, 0);
            reply
        }
        "command" => core.with_pbx(|pbx| command(pbx, m, id)),
        "getvar" => core.with_pbx(|pbx| getvar(pbx, m, id)),
        "setvar" => setvar(core, m, id),
        "originate" => originate(core, m, id),
        "hangup" => hangup(core, m, id),
        "redirect" => redirect(core, m, id, false),
        "blindtransfer" => redirect(core, m, id, true),
        "atxfer" => atxfer(core, m, id),
        "cancelatxfer" => {
            let Some(chan) = m.get_str("Channel") else {
                return Reply::error(id, "No channel specified");
            };
            if core.with_pbx(|pbx| pbx.channel_by_name(&chan).is_some()) {
                Reply::success(id, "CancelAtxfer successfully queued")
            } else {
                Reply::error(id, "Channel specified does not exist")
            }
        }
        "park" => park(core, m, id),
        "mixmonitor" | "stopmixmonitor" | "mixmonitormute" => mix_monitor(core, &lower, m, id),
        "queuepause" => {
            let (Some(iface), Some(paused)) = (m.get_str("Interface"), m.get_str("Paused")) else {
                return Reply::error(id, "Need 'Interface' and 'Paused' parameters.");
            };
            let paused = is_true(&paused);
            let queue = m.get_str("Queue").map(|q| q.into_owned());
            let reason = m
                .get_str("Reason")
                .map(|r| r.into_owned())
                .unwrap_or_default();
            if core.with_pbx(|pbx| pbx.queue_pause(queue.as_deref(), &iface, paused, &reason)) {
                Reply::success(
                    id,
                    if paused {
                        "Interface paused successfully"
                    } else {
                        "Interface unpaused successfully"
                    },
                )
            } else {
                Reply::error(id, "Interface not found")
            }
        }
        "queueadd" => {
            let (Some(queue), Some(iface)) = (m.get_str("Queue"), m.get_str("Interface")) else {
                return Reply::error(id, "'Queue' and 'Interface' not specified.");
            };
            let name = m
                .get_str("MemberName")
                .map(|n| n.into_owned())
                .unwrap_or_default();
            let penalty = m
                .get_str("Penalty")
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            let paused = m.get_str("Paused").is_some_and(|p| is_true(&p));
            match core.with_pbx(|pbx| pbx.queue_add(&queue, &iface, &name, penalty, paused)) {
                Ok(()) => Reply::success(id, "Added interface to queue"),
                Err(text) => Reply::error(id, text),
            }
        }
        "queueremove" => {
            let (Some(queue), Some(iface)) = (m.get_str("Queue"), m.get_str("Interface")) else {
                return Reply::error(id, "Need 'Queue' and 'Interface' parameters.");
            };
            if core.with_pbx(|pbx| pbx.queue_remove(&queue, &iface)) {
                Reply::success(id, "Removed interface from queue")
            } else {
                Reply::error(id, "Unable to remove interface: Not there")
            }
        }
        "userevent" => {
            let Some(name) = m.get_str("UserEvent").map(|n| n.into_owned()) else {
                return Reply::error(id, "Missing UserEvent");
            };
            let extra: Vec<(String, String)> = m
                .headers()
                .filter(|(k, _)| {
                    !k.eq_ignore_ascii_case(b"Action")
                        && !k.eq_ignore_ascii_case(b"ActionID")
                        && !k.eq_ignore_ascii_case(b"UserEvent")
                })
                .map(|(k, v)| {
                    (
                        String::from_utf8_lossy(k).into_owned(),
                        String::from_utf8_lossy(v).into_owned(),
                    )
                })
                .collect();
            let aid = id.map(|i| String::from_utf8_lossy(i).into_owned());
            core.with_pbx(|pbx| pbx.user_event(aid.as_deref(), &name, &extra));
            Reply::success(id, "Event Sent")
        }
        _ => unknown(core, s, id, &action),
    }
}

/// Asterisk's answer to an action it does not know, plus its security event.
fn unknown(core: &Core, s: &Session, id: Option<&[u8]>, action: &str) -> Reply {
    bad_format(core, s, action);
    Reply::error(
        id,
        &format!(
            "Invalid/unknown command: {action}. Use Action: ListCommands to show available commands."
        ),
    )
}

/// The `RequestBadFormat` security event an authenticated session's bad request raises.
fn bad_format(core: &Core, s: &Session, action: &str) {
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

/// Asterisk's `ast_false`: what a `State:` of `MixMonitorMute` must say to unmute.
fn is_false(v: &str) -> bool {
    matches!(
        v.to_ascii_lowercase().as_str(),
        "false" | "no" | "n" | "f" | "0" | "off"
    )
}

fn is_true(v: &str) -> bool {
    matches!(v.to_ascii_lowercase().as_str(), "true" | "yes" | "1" | "on")
}

fn login(core: &Core, s: &mut Session, m: &Message) -> Reply {
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
            let digest = Md5::digest(format!("{challenge}{}", u.secret).as_bytes());
            let hex = digest.iter().fold(String::new(), |mut acc, b| {
                let _ = write!(acc, "{b:02x}");
                acc
            });
            hex.eq_ignore_ascii_case(&key)
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
    if Classes::SYSTEM.intersects(user.read) && Classes::SYSTEM.intersects(s.event_mask) {
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
    reply
}

fn challenge(s: &mut Session, m: &Message) -> Reply {
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

fn events(s: &mut Session, m: &Message) -> Reply {
    let id = m.action_id();
    let mask = event_mask(&m.get_str("EventMask").unwrap_or_default());
    s.event_mask = mask;
    Reply::msg(&response("Success", id).with("Events", if mask.is_empty() { "Off" } else { "On" }))
}

fn filter(s: &mut Session, m: &Message) -> Reply {
    let id = m.action_id();
    if !m
        .get_str("Operation")
        .is_some_and(|o| o.eq_ignore_ascii_case("add"))
    {
        return Reply::error(id, "Unknown operation");
    }
    let raw = m.get_str("Filter").unwrap_or_default().into_owned();
    let mut f = Filter {
        exclude: false,
        pattern: raw.clone(),
        event: None,
        header: None,
    };
    if let Some(criteria) = m.get_str("MatchCriteria") {
        for part in criteria.split(',') {
            let Some((k, v)) = part
                .trim()
                .strip_suffix(')')
                .and_then(|p| p.split_once('('))
            else {
                return Reply::error(
                    id,
                    "Filter was formatted incorrectly.  Check the syntax of the filter given.",
                );
            };
            match (k, v) {
                ("action", "include") => {}
                ("action", "exclude") => f.exclude = true,
                ("name", name) => f.event = Some(name.to_string()),
                ("header", h) => f.header = Some(h.to_string()),
                (
                    "method",
                    "exact" | "regex" | "starts_with" | "ends_with" | "contains" | "none",
                ) => {}
                _ => {
                    return Reply::error(
                        id,
                        "Filter was formatted incorrectly.  Check the syntax of the filter given.",
                    );
                }
            }
        }
    } else if let Some(rest) = raw.strip_prefix('!') {
        f.exclude = true;
        f.pattern = rest.to_string();
    }
    let opens = f.pattern.matches('(').count();
    if opens != f.pattern.matches(')').count() {
        return Reply::error(
            id,
            "Filter did not compile.  Check the syntax of the filter given.",
        );
    }
    s.filters.push(f);
    Reply::success(id, "Success")
}

fn list_commands(write: &Classes, id: Option<&[u8]>) -> Reply {
    let mut msg = response("Success", id);
    for (name, synopsis, privs) in ACTIONS {
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

fn list_start(id: Option<&[u8]>, text: &str) -> Reply {
    Reply::msg(
        &response("Success", id)
            .with("EventList", "start")
            .with("Message", text),
    )
}

fn list_end(reply: &mut Reply, name: &str, id: Option<&[u8]>, items: usize) {
    let mut msg = Message::new().with("Event", name);
    push_id(&mut msg, id);
    msg.push("EventList", "Complete");
    msg.push("ListItems", items.to_string());
    if name == "StatusComplete" {
        msg.push("Items", items.to_string());
    }
    if name == "ParkedCallsComplete" {
        msg.push("Total", items.to_string());
    }
    reply.push(&msg);
}

/// Appends `ActionID` when the action had one.
fn push_id(msg: &mut Message, id: Option<&[u8]>) {
    if let Some(id) = id {
        msg.push("ActionID", id);
    }
}

fn item(name: &str, id: Option<&[u8]>) -> Message {
    let msg = Message::new().with("Event", name);
    match id {
        Some(id) => msg.with("ActionID", id),
        None => msg,
    }
}

fn secs_since(pbx: &Pbx, ms: u64) -> u64 {
    pbx.now_ms().saturating_sub(ms) / 1_000
}

fn status(pbx: &Pbx, m: &Message, id: Option<&[u8]>) -> Reply {
    let only = m.get_str("Channel").map(|c| c.into_owned());
    if let Some(name) = &only
        && pbx.channel_by_name(name).is_none()
    {
        return Reply::error(id, "No such channel");
    }
    // `Variables: A,B` adds `Variable: A=…` lines; `AllVariables: true` adds every one.
    let wanted_vars: Vec<String> = m
        .get_str("Variables")
        .map(|v| {
            v.split(',')
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let all_vars = m.get_str("AllVariables").is_some_and(|v| is_true(&v));
    let mut reply = list_start(id, "Channel status will follow");
    let mut n = 0;
    for ch in pbx
        .channels()
        .filter(|c| only.as_ref().is_none_or(|o| *o == c.name))
    {
        let mut msg = Message::new()
            .with("Event", "Status")
            .with("Privilege", "Call");
        ch.push_headers(&mut msg, "");
        msg.push("Type", "Local");
        msg.push("DNID", "");
        msg.push("EffectiveConnectedLineNum", &ch.conn_num);
        msg.push("EffectiveConnectedLineName", &ch.conn_name);
        msg.push("TimeToHangup", "0");
        msg.push("BridgeID", ch.bridge.as_deref().unwrap_or(""));
        msg.push("Application", &ch.app);
        msg.push("Data", &ch.data);
        msg.push("Nativeformats", "(slin)");
        msg.push("Readformat", "slin");
        msg.push("Readtrans", "");
        msg.push("Writeformat", "slin");
        msg.push("Writetrans", "");
        msg.push("Callgroup", "0");
        msg.push("Pickupgroup", "0");
        msg.push("Seconds", secs_since(pbx, ch.created_ms).to_string());
        if all_vars {
            for (k, v) in &ch.vars {
                msg.push("Variable", format!("{k}={v}"));
            }
        } else {
            for name in &wanted_vars {
                msg.push("Variable", format!("{name}={}", ch.var(name).unwrap_or("")));
            }
        }
        push_id(&mut msg, id);
        reply.push(&msg);
        n += 1;
    }
    list_end(&mut reply, "StatusComplete", id, n);
    reply
}

fn hms(secs: u64) -> String {
    format!("{:02}:{:02}:{:02}", secs / 3_600, secs / 60 % 60, secs % 60)
}

fn core_show_channels(pbx: &Pbx, id: Option<&[u8]>) -> Reply {
    let mut reply = list_start(id, "Channels will follow");
    let mut n = 0;
    for ch in pbx.channels() {
        let mut msg = item("CoreShowChannel", id);
        ch.push_headers(&mut msg, "");
        msg.push("Application", &ch.app);
        msg.push("ApplicationData", &ch.data);
        msg.push("Duration", hms(secs_since(pbx, ch.created_ms)));
        msg.push("BridgeId", ch.bridge.as_deref().unwrap_or(""));
        reply.push(&msg);
        n += 1;
    }
    list_end(&mut reply, "CoreShowChannelsComplete", id, n);
    reply
}

fn queue_status(pbx: &Pbx, m: &Message, id: Option<&[u8]>) -> Reply {
    let only = m.get_str("Queue").map(|q| q.into_owned());
    let member_filter = m.get_str("Member").map(|q| q.into_owned());
    let mut reply = list_start(id, "Queue status will follow");
    let mut n = 0;
    for q in pbx
        .queues
        .iter()
        .filter(|q| only.as_ref().is_none_or(|o| *o == q.name))
    {
        let mut params = Message::new()
            .with("Event", "QueueParams")
            .with("Queue", &q.name)
            .with("Max", "0")
            .with("Strategy", &q.strategy)
            .with("Calls", q.callers.len().to_string())
            .with("Holdtime", "0")
            .with("TalkTime", "0")
            .with("Completed", q.completed.to_string())
            .with("Abandoned", q.abandoned.to_string())
            .with("ServiceLevel", "0")
            .with("ServicelevelPerf", "0.0")
            .with("ServicelevelPerf2", "0.0")
            .with("Weight", "0");
        push_id(&mut params, id);
        reply.push(&params);
        n += 1;
        for member in q.members.iter().filter(|mem| {
            member_filter
                .as_ref()
                .is_none_or(|f| *f == mem.interface || *f == mem.name)
        }) {
            let mut msg = Message::new().with("Event", "QueueMember");
            member.push_status_headers(&mut msg, &q.name);
            push_id(&mut msg, id);
            reply.push(&msg);
            n += 1;
        }
        for (pos, (uid, joined)) in q.callers.iter().enumerate() {
            let Some(ch) = pbx.channel(uid) else { continue };
            let mut msg = Message::new()
                .with("Event", "QueueEntry")
                .with("Queue", &q.name)
                .with("Position", (pos + 1).to_string())
                .with("Channel", &ch.name)
                .with("Uniqueid", &ch.uniqueid)
                .with("CallerIDNum", &ch.cid_num)
                .with("CallerIDName", &ch.cid_name)
                .with("ConnectedLineNum", &ch.conn_num)
                .with("ConnectedLineName", &ch.conn_name)
                .with("Wait", secs_since(pbx, *joined).to_string())
                .with("Priority", "0");
            push_id(&mut msg, id);
            reply.push(&msg);
            n += 1;
        }
    }
    list_end(&mut reply, "QueueStatusComplete", id, n);
    reply
}

fn queue_summary(pbx: &Pbx, m: &Message, id: Option<&[u8]>) -> Reply {
    let only = m.get_str("Queue").map(|q| q.into_owned());
    let mut reply = list_start(id, "Queue summary will follow");
    let mut n = 0;
    for q in pbx
        .queues
        .iter()
        .filter(|q| only.as_ref().is_none_or(|o| *o == q.name))
    {
        let available = q.members.iter().filter(|m| !m.paused && !m.in_call).count();
        let longest = q
            .callers
            .iter()
            .map(|(_, j)| secs_since(pbx, *j))
            .max()
            .unwrap_or(0);
        let mut msg = Message::new()
            .with("Event", "QueueSummary")
            .with("Queue", &q.name)
            .with("LoggedIn", q.members.len().to_string())
            .with("Available", available.to_string())
            .with("Callers", q.callers.len().to_string())
            .with("HoldTime", "0")
            .with("TalkTime", "0")
            .with("LongestHoldTime", longest.to_string());
        push_id(&mut msg, id);
        reply.push(&msg);
        n += 1;
    }
    list_end(&mut reply, "QueueSummaryComplete", id, n);
    reply
}

fn parked_calls(pbx: &Pbx, id: Option<&[u8]>) -> Reply {
    let mut reply = list_start(id, "Parked calls will follow");
    let mut n = 0;
    for p in &pbx.parked {
        let mut msg = Message::new().with("Event", "ParkedCall");
        if pbx.parked_headers(&mut msg, &p.uniqueid, None) {
            push_id(&mut msg, id);
            reply.push(&msg);
            n += 1;
        }
    }
    list_end(&mut reply, "ParkedCallsComplete", id, n);
    reply
}

fn bridge_list(pbx: &Pbx, m: &Message, id: Option<&[u8]>) -> Reply {
    let kind = m.get_str("BridgeType").map(|k| k.into_owned());
    let mut reply = list_start(id, "Bridge listing will follow");
    let mut n = 0;
    let wanted = |b: &&crate::model::Bridge| {
        kind.as_deref()
            .is_none_or(|k| k == if b.parking { "parking" } else { "basic" })
    };
    for b in pbx.bridges().filter(wanted) {
        let mut msg = item("BridgeListItem", id);
        b.push_headers(&mut msg);
        reply.push(&msg);
        n += 1;
    }
    list_end(&mut reply, "BridgeListComplete", id, n);
    reply
}

fn device_state_list(pbx: &Pbx, id: Option<&[u8]>) -> Reply {
    let mut reply = list_start(id, "Device State Changes will follow");
    let mut n = 0;
    for (device, state) in pbx.device_states() {
        let msg = item("DeviceStateChange", id)
            .with("Device", device)
            .with("State", *state);
        reply.push(&msg);
        n += 1;
    }
    list_end(&mut reply, "DeviceStateListComplete", id, n);
    reply
}

fn command(pbx: &Pbx, m: &Message, id: Option<&[u8]>) -> Reply {
    let Some(cmd) = m.get_str("Command").map(|c| c.trim().to_string()) else {
        return Reply::error(id, "No command provided");
    };
    let mut lines: Vec<String> = Vec::new();
    let ok = match cmd.as_str() {
        "core show version" => {
            lines.push("Asterisk 22.10.1 built by root @ vm on a x86_64 running Linux on 2026-11-23 06:55:11 UTC".into());
            true
        }
        "core show channels" => {
            let row = |a: &str, b: &str, c: &str, d: &str| {
                format!("{a:<64.64} {b:<32.32} {c:<7.7} {d:<30.30}")
            };
            lines.push(row("Channel", "Location", "State", "Application(Data)"));
            let mut n = 0;
            for ch in pbx.channels() {
                let location = if ch.exten.is_empty() {
                    "(None)".to_string()
                } else {
                    format!("{}@{}:{}", ch.exten, ch.context, ch.priority)
                };
                lines.push(row(
                    &ch.name,
                    &location,
                    ch.state.desc(),
                    &format!("{}({})", ch.app, ch.data),
                ));
                n += 1;
            }
            lines.push(format!("{n} active channels"));
            lines.push(format!("{} active calls", n / 2));
            lines.push(format!("{} calls processed", pbx.processed_calls()));
            true
        }
        other if other.starts_with("queue show ") => {
            let name = other.trim_start_matches("queue show ").trim();
            match pbx.queues.iter().find(|q| q.name == name) {
                Some(q) => {
                    queue_show(pbx, q, &mut lines);
                    true
                }
                None => {
                    lines.push(format!("No such queue: {name}."));
                    false
                }
            }
        }
        other => {
            let first = other
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ");
            lines.push(format!("No such command '{other}' (type 'core show help {first}' for other possible commands)"));
            false
        }
    };
    let mut msg = response(if ok { "Success" } else { "Error" }, id)
        .with("Message", "Command output follows");
    for line in lines {
        msg.push("Output", line);
    }
    Reply::msg(&msg)
}

/// `queue show <name>`, as `app_queue.c` prints it.
fn queue_show(pbx: &Pbx, q: &crate::model::Queue, lines: &mut Vec<String>) {
    let now = pbx.epoch_now();
    lines.push(format!(
        "{} has {} calls (max unlimited) in '{}' strategy (0s holdtime, 0s talktime), W:0, C:{}, A:{}, SL:0.0%, SL2:0.0% within 0s",
        q.name,
        q.callers.len(),
        q.strategy,
        q.completed,
        q.abandoned
    ));
    if q.members.is_empty() {
        lines.push("   No Members".into());
    } else {
        lines.push("   Members: ".into());
    }
    for m in &q.members {
        let paused = match (m.paused, m.paused_reason.is_empty()) {
            (false, _) => String::new(),
            (true, true) => format!(
                " (paused was {} secs ago)",
                now.saturating_sub(m.last_pause)
            ),
            (true, false) => format!(
                " (paused:{} was {} secs ago)",
                m.paused_reason,
                now.saturating_sub(m.last_pause)
            ),
        };
        let status = match m.status {
            2 => "In use",
            6 => "Ringing",
            _ => "Not in use",
        };
        let calls = if m.calls_taken == 0 {
            "has taken no calls yet".to_string()
        } else {
            format!(
                "has taken {} calls (last was {} secs ago)",
                m.calls_taken,
                now.saturating_sub(m.last_call)
            )
        };
        let dynamic = if m.dynamic { " (dynamic)" } else { "" };
        lines.push(format!(
            "      {} ({}){dynamic} (ringinuse disabled){paused} ({status}) {calls} (login was {} secs ago)",
            m.name,
            m.interface,
            now.saturating_sub(m.login_time)
        ));
    }
    if q.callers.is_empty() {
        lines.push("   No Callers".into());
    } else {
        lines.push("   Callers: ".into());
    }
    for (i, (uid, joined)) in q.callers.iter().enumerate() {
        let wait = secs_since(pbx, *joined);
        let name = pbx
            .channel(uid)
            .map(|c| c.name.as_str())
            .unwrap_or_default();
        lines.push(format!(
            "      {}. {name} (wait: {}:{:02}, prio: 0)",
            i + 1,
            wait / 60,
            wait % 60
        ));
    }
    lines.push(String::new());
    lines.push(String::new());
}

fn getvar(pbx: &Pbx, m: &Message, id: Option<&[u8]>) -> Reply {
    let Some(var) = m.get_str("Variable").map(|v| v.into_owned()) else {
        return Reply::error(id, "No variable specified");
    };
    let value = match m.get_str("Channel") {
        Some(chan) => {
            let Some(ch) = pbx.channel_by_name(&chan) else {
                return Reply::error(id, "No such channel");
            };
            match var.as_str() {
                "CALLERID(all)" => ch.callerid_all(),
                "CALLERID(num)" => ch.cid_num.clone(),
                "CALLERID(name)" => ch.cid_name.clone(),
                "UNIQUEID" => ch.uniqueid.clone(),
                other => ch.var(other).unwrap_or_default().to_string(),
            }
        }
        None => pbx.globals.get(&var).cloned().unwrap_or_default(),
    };
    Reply::msg(
        &response("Success", id)
            .with("Variable", &var)
            .with("Value", value),
    )
}

fn setvar(core: &Core, m: &Message, id: Option<&[u8]>) -> Reply {
    let Some(var) = m.get_str("Variable").map(|v| v.into_owned()) else {
        return Reply::error(id, "No variable specified");
    };
    let value = m
        .get_str("Value")
        .map(|v| v.into_owned())
        .unwrap_or_default();
    let channel = m.get_str("Channel").map(|c| c.into_owned());
    let done = core.with_pbx(|pbx| match &channel {
        Some(name) => pbx.set_channel_var(name, &var, &value),
        None => {
            pbx.set_global(&var, &value);
            true
        }
    });
    if done {
        Reply::success(id, "Variable Set")
    } else {
        Reply::error(id, "No such channel")
    }
}

fn originate(core: &Core, m: &Message, id: Option<&[u8]>) -> Reply {
    let Some(channel) = m.get_str("Channel").map(|c| c.into_owned()) else {
        return Reply::error(id, "Channel not specified");
    };
    let exten = m.get_str("Exten").map(|e| e.into_owned());
    let app = m.get_str("Application").map(|a| a.into_owned());
    if let Some(ctx) = m.get_str("Context")
        && ctx != "test"
    {
        return Reply::error(id, "Extension does not exist.");
    }
    let aid = id.map(|i| String::from_utf8_lossy(i).into_owned());
    let phone = channel
        .strip_prefix("Local/")
        .and_then(|r| r.strip_suffix("@test"))
        .map(str::to_string);
    let (cid_num, cid_name) = m.get_str("CallerID").map_or_else(
        || (String::from("<unknown>"), String::from("<unknown>")),
        |c| {
            let c = c.into_owned();
            match c.split_once('<') {
                Some((name, num)) => (
                    num.trim_end_matches('>').to_string(),
                    name.trim().trim_matches('"').to_string(),
                ),
                None => (c.clone(), String::new()),
            }
        },
    );
    // `Variable: NAME=value` headers the test dialplan reads.
    let variable = |name: &str| -> Option<u64> {
        m.get_all("Variable")
            .filter_map(|v| {
                std::str::from_utf8(v)
                    .ok()?
                    .strip_prefix(name)?
                    .strip_prefix('=')?
                    .parse()
                    .ok()
            })
            .next()
    };
    let duration = variable("DURATION").unwrap_or(30);
    let variables: Vec<(String, String)> = m
        .get_all("Variable")
        .filter_map(|v| {
            let (k, v) = std::str::from_utf8(v).ok()?.split_once('=')?;
            Some((k.to_string(), v.to_string()))
        })
        .collect();
    let agent_delay = variable("__AGENT_DELAY");
    let target = match (&exten, &app) {
        (_, Some(_)) => Some(Target::Echo),
        (Some(e), None) => Target::from_exten(e),
        (None, None) => return Reply::error(id, "Exten not specified"),
    };
    let phone_ok = phone
        .as_deref()
        .is_some_and(|p| matches!(p, "100" | "101" | "999"));
    core.with_pbx(|pbx| match (phone_ok, target, phone) {
        (true, Some(target), Some(phone)) => {
            let a1 = pbx.originate(
                &phone,
                target,
                (&cid_num, &cid_name),
                duration,
                aid.as_deref(),
            );
            pbx.set_channel_vars(&a1, &variables);
            if let Some(secs) = agent_delay {
                pbx.set_agent_delay(&a1, secs);
            }
        }
        _ => pbx.originate_failure(aid.as_deref(), &channel, exten.as_deref().unwrap_or("")),
    });
    Reply::success(id, "Originate successfully queued")
}

/// `Atxfer`: only a channel with an attended-transfer feature code can (the fixtures'
/// `features.conf` has none, so it must come as `Variable: FEATUREMAP(atxfer)=*2`).
/// `MixMonitor`, `StopMixMonitor` and `MixMonitorMute`, with app_mixmonitor's checks in its
/// order (a mute's direction is checked before its channel) and texts.
fn mix_monitor(core: &Core, action: &str, m: &Message, id: Option<&[u8]>) -> Reply {
    let header = |k: &str| m.get_str(k).map(|v| v.into_owned()).unwrap_or_default();
    let (chan, direction, state) = (header("Channel"), header("Direction"), header("State"));
    if action == "mixmonitormute" {
        if direction.is_empty() {
            return Reply::error(id, "No direction specified. Must be read, write or both");
        }
        if !["read", "write", "both"]
            .iter()
            .any(|d| d.eq_ignore_ascii_case(&direction))
        {
            return Reply::error(
                id,
                "Invalid direction specified. Must be read, write or both",
            );
        }
    }
    if chan.is_empty() {
        return Reply::error(id, "No channel specified");
    }
    if action == "mixmonitormute" && state.is_empty() {
        return Reply::error(id, "No state specified");
    }
    let result = core.with_pbx(|pbx| match action {
        "mixmonitor" => pbx.mix_monitor(&chan, &header("File"), &header("Options")),
        "stopmixmonitor" => {
            let monitor = m.get_str("MixMonitorID").filter(|v| !v.is_empty());
            pbx.stop_mix_monitor(&chan, monitor.as_deref())
                .map(|()| None)
        }
        _ => pbx
            .mix_monitor_mute(&chan, &direction, !is_false(&state))
            .map(|()| None),
    });
    match result {
        Ok(Some(monitor)) => Reply::msg(&response("Success", id).with("MixMonitorID", monitor)),
        Ok(None) => Reply::msg(&response("Success", id)),
        Err(text) => Reply::error(id, text),
    }
}

fn atxfer(core: &Core, m: &Message, id: Option<&[u8]>) -> Reply {
    let Some(chan) = m.get_str("Channel") else {
        return Reply::error(id, "No channel specified");
    };
    if m.get("Exten").is_none() {
        return Reply::error(id, "No extension specified");
    }
    core.with_pbx(|pbx| {
        let Some(ch) = pbx.channel_by_name(&chan) else {
            return Reply::error(id, "Channel specified does not exist");
        };
        if ch.var("FEATUREMAP(atxfer)").is_none() {
            return Reply::error(id, "No attended transfer feature code found");
        }
        pbx.atxfer(&chan);
        Reply::success(id, "Atxfer successfully queued")
    })
}

fn hangup(core: &Core, m: &Message, id: Option<&[u8]>) -> Reply {
    let Some(chan) = m.get_str("Channel").map(|c| c.into_owned()) else {
        return Reply::error(id, "No channel specified");
    };
    let cause = m
        .get_str("Cause")
        .and_then(|c| c.parse().ok())
        .unwrap_or(16);
    if let Some(pattern) = chan.strip_prefix('/').and_then(|p| p.strip_suffix('/')) {
        // A regex: Asterisk answers with a list of the channels it hung up.
        let prefix = pattern
            .trim_start_matches('^')
            .replace('\\', "")
            .trim_end_matches(".*")
            .to_string();
        let hung = core.with_pbx(|pbx| {
            let names = pbx.channels_matching(&prefix);
            for name in &names {
                pbx.hangup_by_name(name, cause);
            }
            names
        });
        let mut reply = list_start(id, "Channels hung up will follow");
        for name in &hung {
            reply.push(&item("ChannelHungup", id).with("Channel", name));
        }
        list_end(&mut reply, "ChannelsHungupListComplete", id, hung.len());
        return reply;
    }
    if core.with_pbx(|pbx| pbx.hangup_by_name(&chan, cause)) {
        Reply::success(id, "Channel Hungup")
    } else {
        Reply::error(id, "No such channel")
    }
}

fn redirect(core: &Core, m: &Message, id: Option<&[u8]>, blind: bool) -> Reply {
    let Some(chan) = m.get_str("Channel").map(|c| c.into_owned()) else {
        return Reply::error(id, "Channel not specified");
    };
    if m.get("Context").is_none() {
        return Reply::error(id, "Context not specified");
    }
    let Some(exten) = m.get_str("Exten").map(|e| e.into_owned()) else {
        return Reply::error(id, "Exten not specified");
    };
    if core.with_pbx(|pbx| pbx.blind_transfer(&chan, &exten, blind)) {
        Reply::success(
            id,
            if blind {
                "Transfer succeeded"
            } else {
                "Redirect successful"
            },
        )
    } else {
        Reply::error(id, "Channel specified does not exist")
    }
}

fn park(core: &Core, m: &Message, id: Option<&[u8]>) -> Reply {
    let Some(chan) = m.get_str("Channel").map(|c| c.into_owned()) else {
        return Reply::error(id, "Channel not specified");
    };
    let timeout = m
        .get_str("Timeout")
        .and_then(|t| t.parse::<u64>().ok())
        .map_or(45, |ms| ms / 1_000);
    let ok = core.with_pbx(|pbx| pbx.park_channel(&chan, timeout));
    // Asterisk's `astman_send_ack(s, m, "Park successful\n")`: the text ends in a bare LF,
    // which the message model cannot hold, so the bytes are written by hand.
    let mut reply = Reply::default();
    reply.bytes.put_slice(if ok {
        b"Response: Success\r\n"
    } else {
        b"Response: Error\r\n"
    });
    if let Some(id) = id {
        reply.bytes.put_slice(b"ActionID: ");
        reply.bytes.put_slice(id);
        reply.bytes.put_slice(b"\r\n");
    }
    reply.bytes.put_slice(if ok {
        b"Message: Park successful\n\r\n\r\n"
    } else {
        b"Message: Unable to park\n\r\n\r\n"
    });
    reply
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

    #[test]
    fn event_masks() {
        assert_eq!(event_mask("off"), Classes::NONE);
        assert_eq!(event_mask("on"), Classes::ALL);
        assert!(event_mask("call,agent").intersects(Classes::AGENT));
    }
}
