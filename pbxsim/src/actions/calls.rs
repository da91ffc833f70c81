//! Originate, Hangup, Redirect, BlindTransfer, Atxfer, CancelAtxfer and UserEvent.

use shared::ami::Message;
use tracing::warn;

use super::{Reply, item, list_end, list_start};
use crate::pbx::Target;
use crate::state::Core;

/// `CancelAtxfer`: queued as the `*1` DTMF (as recorded, nothing else happens).
pub(super) fn cancel_atxfer(core: &Core, m: &Message, id: Option<&[u8]>) -> Reply {
    let Some(chan) = m.get_str("Channel") else {
        return Reply::error(id, "No channel specified");
    };
    if core.with_pbx(|pbx| pbx.channel_by_name(&chan).is_some()) {
        Reply::success(id, "CancelAtxfer successfully queued")
    } else {
        Reply::error(id, "Channel specified does not exist")
    }
}

/// `UserEvent`: every header but `Action` and `UserEvent` is passed on in the action's
/// order, its ActionID included where it stood (as Asterisk does).
pub(super) fn user_event(core: &Core, m: &Message, id: Option<&[u8]>) -> Reply {
    let Some(name) = m.get_str("UserEvent").map(|n| n.into_owned()) else {
        return Reply::error(id, "Missing UserEvent");
    };
    let extra: Vec<(String, String)> = m
        .headers()
        .filter(|(k, _)| {
            !k.eq_ignore_ascii_case(b"Action") && !k.eq_ignore_ascii_case(b"UserEvent")
        })
        .map(|(k, v)| {
            (
                String::from_utf8_lossy(k).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            )
        })
        .collect();
    core.with_pbx(|pbx| pbx.user_event(&name, &extra));
    Reply::success(id, "Event Sent")
}

/// `(number, name)` of a `CallerID:` value, as Asterisk's `ast_callerid_parse` reads it:
/// a quoted name is taken whole, `<` and all; the number is what the last `<…>` after
/// the name holds. Without brackets the value is a number.
fn parse_caller_id(value: &str) -> (String, String) {
    let value = value.trim();
    let (name, rest) = match value.strip_prefix('"') {
        Some(quoted) => match quoted.find('"') {
            Some(end) => (quoted[..end].to_owned(), &quoted[end + 1..]),
            None => (quoted.to_owned(), ""),
        },
        None => match value.rfind('<') {
            Some(lt) => (value[..lt].trim().to_owned(), &value[lt..]),
            None => return (value.to_owned(), String::new()),
        },
    };
    let number = match rest.rfind('<') {
        Some(lt) => rest[lt + 1..].split('>').next().unwrap_or_default().trim(),
        None => rest.trim(),
    };
    (number.to_owned(), name)
}

pub(super) fn originate(core: &Core, m: &Message, id: Option<&[u8]>) -> Reply {
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
        |c| parse_caller_id(&c),
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
        // The `parkedcalls` context's spaces: each picks up the call parked there.
        (Some(e), None) if e.parse::<u32>().is_ok_and(|s| (701..=720).contains(&s)) => {
            Some(Target::ParkPickup)
        }
        (Some(e), None) => Target::from_exten(e),
        (None, None) => return Reply::error(id, "Exten not specified"),
    };
    let data = m
        .get_str("Data")
        .map(|d| d.into_owned())
        .unwrap_or_default();
    if let Some(app) = app.as_deref().filter(|a| runs_a_shell(a)) {
        // Asterisk would run `data` as a shell command, as its own user: never harmless.
        warn!(
            app,
            data,
            "Originate of a shell application: Asterisk would run this command; pbxsim does not"
        );
    }
    core.with_pbx(|pbx| {
        // A desk phone of the call centre (`PJSIP/1001`) calls as the test dialplan's caller
        // phone, under its own name; an Exten of another desk rings that desk.
        let desks = pbx.desk_phones();
        let desk = desks.iter().find(|(_, _, device)| *device == channel);
        let callee = desks
            .iter()
            .find(|(num, _, _)| desk.is_some() && exten.as_deref() == Some(num.as_str()));
        let (phone, target) = match (desk, callee) {
            (Some(_), Some(_)) => (Some("100".to_string()), Some(Target::Bridged)),
            (Some(_), None) => (Some("100".to_string()), target),
            (None, _) => (phone, target),
        };
        let cid = match desk {
            Some((num, name, _)) if m.get("CallerID").is_none() => (num.as_str(), name.as_str()),
            _ => (cid_num.as_str(), cid_name.as_str()),
        };
        let phone_ok = phone
            .as_deref()
            .is_some_and(|p| matches!(p, "100" | "101" | "610" | "999"));
        let (true, Some(target), Some(phone)) = (phone_ok, target, phone) else {
            pbx.originate_failure(aid.as_deref(), &channel, exten.as_deref().unwrap_or(""));
            return;
        };
        let space = exten
            .as_deref()
            .and_then(|e| e.parse::<u32>().ok())
            .filter(|s| (701..=720).contains(s));
        let a1 = match (&app, space) {
            (Some(app), _) => {
                pbx.originate_application(&phone, app, &data, cid, duration, aid.as_deref())
            }
            (None, Some(space)) => {
                pbx.originate_pickup(&phone, space, cid, duration, aid.as_deref())
            }
            (None, None) => pbx.originate(&phone, target, cid, duration, aid.as_deref()),
        };
        pbx.set_channel_vars(&a1, &variables);
        if let Some(secs) = agent_delay {
            pbx.set_agent_delay(&a1, secs);
        }
        if let Some((_, _, device)) = desk {
            let callee = callee.map(|(n, name, d)| (n.as_str(), name.as_str(), d.as_str()));
            pbx.attach_desk_phones(&a1, Some(device), callee);
        }
    });
    Reply::success(id, "Originate successfully queued")
}

/// Applications that run a shell command on the Asterisk machine (`app_system.c`).
pub(super) fn runs_a_shell(app: &str) -> bool {
    ["System", "TrySystem"]
        .iter()
        .any(|a| a.eq_ignore_ascii_case(app.trim()))
}

/// `Atxfer`: only a channel with an attended-transfer feature code can (the fixtures'
/// `features.conf` has none, so it must come as `Variable: FEATUREMAP(atxfer)=*2`).
pub(super) fn atxfer(core: &Core, m: &Message, id: Option<&[u8]>) -> Reply {
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

pub(super) fn hangup(core: &Core, m: &Message, id: Option<&[u8]>) -> Reply {
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
            reply.push(&item("ChannelHungup", id).with("Channel", name).build());
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

pub(super) fn redirect(core: &Core, m: &Message, id: Option<&[u8]>, blind: bool) -> Reply {
    let Some(chan) = m.get_str("Channel").map(|c| c.into_owned()) else {
        return Reply::error(id, "Channel not specified");
    };
    if m.get("Context").is_none() {
        return Reply::error(id, "Context not specified");
    }
    let Some(exten) = m.get_str("Exten").map(|e| e.into_owned()) else {
        return Reply::error(id, "Exten not specified");
    };
    // A dual redirect needs ExtraChannel and ExtraContext, as in `manager.c`.
    let extra = m.get_str("ExtraChannel").filter(|c| {
        !c.is_empty() && !blind && m.get("ExtraContext").is_some_and(|x| !x.is_empty())
    });
    if let Some(extra) = extra {
        let Some(extra_exten) = m.get_str("ExtraExten").filter(|e| !e.is_empty()) else {
            return Reply::error(id, "ExtraExten not specified");
        };
        return core.with_pbx(|pbx| {
            if pbx.channel_by_name(&chan).is_none() {
                Reply::error(id, "Channel specified does not exist")
            } else if pbx.channel_by_name(&extra).is_none() {
                Reply::error(id, &format!("ExtraChannel does not exist: {extra}"))
            } else if pbx.dual_redirect(&chan, &exten, &extra, &extra_exten) {
                Reply::success(id, "Dual Redirect successful")
            } else {
                Reply::error(id, "Redirect failed")
            }
        });
    }
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

#[cfg(test)]
mod tests {
    use super::parse_caller_id;

    #[test]
    fn caller_ids_parse_as_asterisk_parses_them() {
        let cases = [
            ("\"Alice Caller\" <1001>", ("1001", "Alice Caller")),
            (
                "\"<img src=x onerror=window.__xss=1>\" <7999>",
                ("7999", "<img src=x onerror=window.__xss=1>"),
            ),
            ("Bob <1002>", ("1002", "Bob")),
            ("6001", ("6001", "")),
            ("\"No number\"", ("", "No number")),
        ];
        for (value, (number, name)) in cases {
            assert_eq!(
                parse_caller_id(value),
                (number.to_owned(), name.to_owned()),
                "{value}"
            );
        }
    }
}
