//! Ping, CoreSettings, CoreStatus, Status, the channel/bridge/device lists, Command, Getvar and Setvar.

use shared::ami::{Message, MessageBuilder, is_true};
use tracing::warn;

use super::{Reply, item, list_end, list_start, now_epoch_micros, push_id, response, secs_since};
use crate::clock;
use crate::pbx::Pbx;
use crate::state::Core;

/// `SHELL(...)` in a variable name: Asterisk's `func_shell` runs the command when the
/// variable is read or written (with `live_dangerously` or from AMI); pbxsim reads it as
/// an ordinary, empty variable, and says so.
fn warn_shell(var: &str) {
    if var.trim_start().to_ascii_uppercase().starts_with("SHELL(") {
        warn!(
            var,
            "SHELL(): Asterisk would run this command; pbxsim does not"
        );
    }
}

/// `Ping`: `Pong` with the wall-clock timestamp.
pub(super) fn ping(id: Option<&[u8]>) -> Reply {
    let (secs, micros) = now_epoch_micros();
    Reply::msg(
        &response("Success", id)
            .with("Ping", "Pong")
            .with("Timestamp", format!("{secs}.{micros:06}")),
    )
}

/// `CoreSettings`: the recorded values.
pub(super) fn core_settings(id: Option<&[u8]>) -> Reply {
    Reply::msg(
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
    )
}

/// `CoreStatus`: start dates from the PBX's epoch, calls counted on the model.
pub(super) fn core_status(pbx: &Pbx, id: Option<&[u8]>) -> Reply {
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
}

pub(super) fn status(pbx: &Pbx, m: &Message, id: Option<&[u8]>) -> Reply {
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
    let all_vars = m
        .get_str("AllVariables")
        .is_some_and(|v| is_true(v.as_bytes()));
    let mut reply = list_start(id, "Channel status will follow");
    let mut n = 0;
    for ch in pbx
        .channels()
        .filter(|c| only.as_ref().is_none_or(|o| *o == c.name))
    {
        let mut msg = MessageBuilder::new()
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
        reply.push(&msg.build());
        n += 1;
    }
    list_end(&mut reply, "StatusComplete", id, n);
    reply
}

fn hms(secs: u64) -> String {
    format!("{:02}:{:02}:{:02}", secs / 3_600, secs / 60 % 60, secs % 60)
}

pub(super) fn core_show_channels(pbx: &Pbx, id: Option<&[u8]>) -> Reply {
    let mut reply = list_start(id, "Channels will follow");
    let mut n = 0;
    for ch in pbx.channels() {
        let mut msg = item("CoreShowChannel", id);
        ch.push_headers(&mut msg, "");
        msg.push("Application", &ch.app);
        msg.push("ApplicationData", &ch.data);
        msg.push("Duration", hms(secs_since(pbx, ch.created_ms)));
        msg.push("BridgeId", ch.bridge.as_deref().unwrap_or(""));
        reply.push(&msg.build());
        n += 1;
    }
    list_end(&mut reply, "CoreShowChannelsComplete", id, n);
    reply
}

pub(super) fn bridge_list(pbx: &Pbx, m: &Message, id: Option<&[u8]>) -> Reply {
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
        reply.push(&msg.build());
        n += 1;
    }
    list_end(&mut reply, "BridgeListComplete", id, n);
    reply
}

/// `BridgeInfo`: one `BridgeInfoChannel` per channel in the bridge, and the bridge's
/// headers after the counts of `BridgeInfoComplete` (manager_bridges.c, as recorded).
pub(super) fn bridge_info(pbx: &Pbx, m: &Message, id: Option<&[u8]>) -> Reply {
    let Some(wanted) = m.get_str("BridgeUniqueid").filter(|b| !b.is_empty()) else {
        return Reply::error(id, "BridgeUniqueid must be provided");
    };
    let Some(bridge) = pbx.bridges().find(|b| b.id == *wanted) else {
        return Reply::error(id, "Specified BridgeUniqueid not found");
    };
    let mut reply = list_start(id, "Bridge channel listing will follow");
    let mut n = 0;
    for ch in bridge.members.iter().filter_map(|uid| pbx.channel(uid)) {
        let mut msg = item("BridgeInfoChannel", id);
        ch.push_headers(&mut msg, "");
        reply.push(&msg.build());
        n += 1;
    }
    let mut end = item("BridgeInfoComplete", id)
        .with("EventList", "Complete")
        .with("ListItems", n.to_string());
    bridge.push_headers(&mut end);
    reply.push(&end.build());
    reply
}

pub(super) fn device_state_list(pbx: &Pbx, id: Option<&[u8]>) -> Reply {
    let mut reply = list_start(id, "Device State Changes will follow");
    let mut n = 0;
    // Local channels' device states are not cached (core_unreal.c sets
    // AST_FLAG_DISABLE_DEVSTATE_CACHE), so Asterisk never lists them: ami-session-2's
    // answers hold `Queue:`, `park:` and `Custom:` devices only.
    for (device, state) in pbx
        .device_states()
        .filter(|(device, _)| !device.starts_with("Local/"))
    {
        let msg = item("DeviceStateChange", id)
            .with("Device", device)
            .with("State", *state);
        reply.push(&msg.build());
        n += 1;
    }
    list_end(&mut reply, "DeviceStateListComplete", id, n);
    reply
}

pub(super) fn command(pbx: &Pbx, m: &Message, id: Option<&[u8]>) -> Reply {
    let Some(cmd) = m.get_str("Command").map(|c| c.trim().to_string()) else {
        return Reply::error(id, "No command provided");
    };
    let mut lines: Vec<String> = Vec::new();
    let ok = match cmd.as_str() {
        "core show hints" => {
            core_show_hints(pbx, &mut lines);
            true
        }
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
                    super::queues::queue_show(pbx, q, &mut lines);
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

/// `core show hints`, in `extension_state.c`'s layout.
fn core_show_hints(pbx: &Pbx, lines: &mut Vec<String>) {
    let hints: Vec<_> = pbx.hints().collect();
    if hints.is_empty() {
        lines.push("There are no registered dialplan hints".into());
        return;
    }
    lines.push(String::new());
    lines.push("    -= Registered Asterisk Dial Plan Hints =-".into());
    for (phone, context, status) in &hints {
        let presence = phone
            .presence()
            .and_then(|p| pbx.presence_of(p))
            .map_or_else(|| "not_set".to_string(), |p| p.state);
        lines.push(format!(
            "{:<30.30}: {:<60.60}  State:{:<15.15} Presence:{:<15.15} Watchers {:>2}",
            format!("{}@{context}", phone.exten),
            phone.hint,
            crate::pbx::status_text(*status),
            presence,
            0
        ));
    }
    lines.push("----------------".into());
    lines.push(format!("- {} hints registered", hints.len()));
}

pub(super) fn getvar(pbx: &Pbx, m: &Message, id: Option<&[u8]>) -> Reply {
    let Some(var) = m.get_str("Variable").map(|v| v.into_owned()) else {
        return Reply::error(id, "No variable specified");
    };
    warn_shell(&var);
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
        None => pbx
            .read_function(&var)
            .or_else(|| pbx.globals.get(&var).cloned())
            .unwrap_or_default(),
    };
    Reply::msg(
        &response("Success", id)
            .with("Variable", &var)
            .with("Value", value),
    )
}

pub(super) fn setvar(core: &Core, m: &Message, id: Option<&[u8]>) -> Reply {
    let Some(var) = m.get_str("Variable").map(|v| v.into_owned()) else {
        return Reply::error(id, "No variable specified");
    };
    warn_shell(&var);
    let value = m
        .get_str("Value")
        .map(|v| v.into_owned())
        .unwrap_or_default();
    let channel = m.get_str("Channel").map(|c| c.into_owned());
    let done = core.with_pbx(|pbx| match &channel {
        Some(name) if !pbx.set_channel_var(name, &var, &value) => Err("No such channel".into()),
        Some(_) => Ok(()),
        None => pbx.set_global(&var, &value).map_err(|e| e.to_string()),
    });
    match done {
        Ok(()) => Reply::success(id, "Variable Set"),
        Err(text) => Reply::error(id, &text),
    }
}
