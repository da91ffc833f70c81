//! QueueStatus, QueueSummary, QueueReset, QueuePause, QueueAdd and QueueRemove, and the
//! CLI's `queue show`.

use shared::ami::{Message, MessageBuilder, is_true};

use super::{Reply, is_false, list_end, list_start, push_id, secs_since};
use crate::pbx::{MemberValue, Pbx};
use crate::state::Core;

/// `QueueReset`: the statistics of one queue, or of all without `Queue:`, back to 0;
/// answered as recorded (ami-session-3), also for a queue that does not exist, as
/// app_queue's reload of statistics finds nothing to clear and succeeds.
pub(super) fn reset(core: &Core, m: &Message, id: Option<&[u8]>) -> Reply {
    let queue = m
        .get_str("Queue")
        .filter(|q| !q.is_empty())
        .map(|q| q.into_owned());
    core.with_pbx(|pbx| pbx.queue_reset(queue.as_deref()));
    Reply::success(id, "Queue stats reset successfully")
}

/// `QueuePause`: in one queue, or in all of them without `Queue:`; `Reason:` is kept.
pub(super) fn pause(core: &Core, m: &Message, id: Option<&[u8]>) -> Reply {
    let (Some(iface), Some(paused)) = (m.get_str("Interface"), m.get("Paused")) else {
        return Reply::error(id, "Need 'Interface' and 'Paused' parameters.");
    };
    let paused = is_true(paused);
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

/// `QueueAdd`: a dynamic member, maybe paused with a `Reason`, maybe following a
/// `StateInterface`; app_queue's texts.
pub(super) fn add(core: &Core, m: &Message, id: Option<&[u8]>) -> Reply {
    let header = |k: &str| {
        m.get_str(k)
            .filter(|v| !v.is_empty())
            .map(|v| v.into_owned())
    };
    let Some(queue) = header("Queue") else {
        return Reply::error(id, "'Queue' not specified.");
    };
    let Some(iface) = header("Interface") else {
        return Reply::error(id, "'Interface' not specified.");
    };
    let name = header("MemberName").unwrap_or_default();
    let penalty = header("Penalty").and_then(|p| p.parse().ok()).unwrap_or(0);
    let paused = m.get("Paused").is_some_and(is_true);
    let reason = header("Reason").unwrap_or_default();
    let state_interface = header("StateInterface");
    let added = core.with_pbx(|pbx| {
        let paused = paused.then_some(reason.as_str());
        pbx.queue_add(
            &queue,
            &iface,
            &name,
            penalty,
            paused,
            state_interface.as_deref(),
        )
    });
    match added {
        Ok(()) => Reply::success(id, "Added interface to queue"),
        Err(text) => Reply::error(id, text),
    }
}

/// `QueuePenalty`: in one queue or all of them; a negative penalty is refused, as recorded.
pub(super) fn penalty(core: &Core, m: &Message, id: Option<&[u8]>) -> Reply {
    let (Some(iface), Some(penalty)) = (m.get_str("Interface"), m.get_str("Penalty")) else {
        return Reply::error(id, "Need 'Interface' and 'Penalty' parameters.");
    };
    let queue = m.get_str("Queue").filter(|q| !q.is_empty());
    let set = penalty.trim().parse::<u32>().is_ok_and(|p| {
        core.with_pbx(|pbx| pbx.set_member_value(queue.as_deref(), &iface, MemberValue::Penalty(p)))
    });
    if set {
        Reply::success(id, "Interface penalty set successfully")
    } else {
        Reply::error(id, "Invalid interface, queuename or penalty")
    }
}

/// `QueueMemberRingInUse`: app_queue's error text ends in a bare LF (recorded).
pub(super) fn ring_in_use(core: &Core, m: &Message, id: Option<&[u8]>) -> Reply {
    let (Some(iface), Some(value)) = (m.get_str("Interface"), m.get("RingInUse")) else {
        return Reply::error(id, "Need 'Interface' and 'RingInUse' parameters.");
    };
    let on = if is_true(value) {
        true
    } else if is_false(value) {
        false
    } else {
        return Reply::error(
            id,
            "'RingInUse' parameter must be a truth value (yes/no, on/off, 0/1, etc)",
        );
    };
    let queue = m.get_str("Queue").filter(|q| !q.is_empty());
    if core
        .with_pbx(|pbx| pbx.set_member_value(queue.as_deref(), &iface, MemberValue::RingInUse(on)))
    {
        Reply::success(id, "Interface ringinuse set successfully")
    } else {
        Reply::with_bare_lf(
            "Error",
            id,
            "Invalid interface, queuename, or ringinuse value",
        )
    }
}

/// `QueueLog`: acknowledged (pbxsim keeps no `queue_log` file).
pub(super) fn log(m: &Message, id: Option<&[u8]>) -> Reply {
    if [m.get("Queue"), m.get("Event")]
        .iter()
        .any(|v| v.is_none_or(<[u8]>::is_empty))
    {
        return Reply::error(id, "Need 'Queue' and 'Event' parameters.");
    }
    Reply::success(id, "Event added successfully")
}

/// `QueueRemove`: only dynamic members can go.
pub(super) fn remove(core: &Core, m: &Message, id: Option<&[u8]>) -> Reply {
    let (Some(queue), Some(iface)) = (m.get_str("Queue"), m.get_str("Interface")) else {
        return Reply::error(id, "Need 'Queue' and 'Interface' parameters.");
    };
    match core.with_pbx(|pbx| pbx.queue_remove(&queue, &iface)) {
        Ok(()) => Reply::success(id, "Removed interface from queue"),
        Err(text) => Reply::error(id, text),
    }
}

pub(super) fn queue_status(pbx: &Pbx, m: &Message, id: Option<&[u8]>) -> Reply {
    let only = m.get_str("Queue").map(|q| q.into_owned());
    let member_filter = m.get_str("Member").map(|q| q.into_owned());
    let mut reply = list_start(id, "Queue status will follow");
    let mut n = 0;
    for q in pbx
        .queues
        .iter()
        .filter(|q| only.as_ref().is_none_or(|o| *o == q.name))
    {
        let (perf, perf2) = q.stats.service_levels();
        // Spelled as recorded: `Holdtime`, `ServicelevelPerf` (QueueSummary: `HoldTime`).
        let mut params = MessageBuilder::new()
            .with("Event", "QueueParams")
            .with("Queue", &q.name)
            .with("Max", "0")
            .with("Strategy", &q.strategy)
            .with("Calls", q.callers.len().to_string())
            .with("Holdtime", q.stats.holdtime.to_string())
            .with("TalkTime", q.stats.talktime.to_string())
            .with("Completed", q.stats.completed.to_string())
            .with("Abandoned", q.stats.abandoned.to_string())
            .with("ServiceLevel", q.service_level.to_string())
            .with("ServicelevelPerf", perf)
            .with("ServicelevelPerf2", perf2)
            .with("Weight", "0");
        push_id(&mut params, id);
        reply.push(&params.build());
        n += 1;
        for member in q.members.iter().filter(|mem| {
            member_filter
                .as_ref()
                .is_none_or(|f| *f == mem.interface || *f == mem.name)
        }) {
            let mut msg = MessageBuilder::new().with("Event", "QueueMember");
            member.push_status_headers(&mut msg, &q.name);
            push_id(&mut msg, id);
            reply.push(&msg.build());
            n += 1;
        }
        for (pos, (uid, joined)) in q.callers.iter().enumerate() {
            let Some(ch) = pbx.channel(uid) else { continue };
            let mut msg = MessageBuilder::new()
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
            reply.push(&msg.build());
            n += 1;
        }
    }
    list_end(&mut reply, "QueueStatusComplete", id, n);
    reply
}

pub(super) fn queue_summary(pbx: &Pbx, m: &Message, id: Option<&[u8]>) -> Reply {
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
        let mut msg = MessageBuilder::new()
            .with("Event", "QueueSummary")
            .with("Queue", &q.name)
            .with("LoggedIn", q.members.len().to_string())
            .with("Available", available.to_string())
            .with("Callers", q.callers.len().to_string())
            .with("HoldTime", q.stats.holdtime.to_string())
            .with("TalkTime", q.stats.talktime.to_string())
            .with("LongestHoldTime", longest.to_string());
        push_id(&mut msg, id);
        reply.push(&msg.build());
        n += 1;
    }
    list_end(&mut reply, "QueueSummaryComplete", id, n);
    reply
}

/// `queue show <name>`, as `app_queue.c` prints it.
pub(super) fn queue_show(pbx: &Pbx, q: &crate::model::Queue, lines: &mut Vec<String>) {
    let now = pbx.epoch_now();
    let (perf, perf2) = q.stats.service_levels();
    lines.push(format!(
        "{} has {} calls (max unlimited) in '{}' strategy ({}s holdtime, {}s talktime), W:0, C:{}, A:{}, SL:{perf}%, SL2:{perf2}% within {}s",
        q.name,
        q.callers.len(),
        q.strategy,
        q.stats.holdtime,
        q.stats.talktime,
        q.stats.completed,
        q.stats.abandoned,
        q.service_level
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
            "      {} ({}){dynamic} (ringinuse {}){paused} ({status}) {calls} (login was {} secs ago)",
            m.name,
            m.interface,
            if m.ringinuse { "enabled" } else { "disabled" },
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
