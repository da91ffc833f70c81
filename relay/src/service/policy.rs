//! What each role may use beyond actions (which `shared::action::Role::may_use`
//! decides, as the browser must know it too): the raw views, the AMI proxy (an agent's
//! events and actions narrowed to their own calls) and the audit log.

use shared::action::Role;
use shared::ami::{Classes, Message};
use shared::model::ServerModel;

use super::Login;
use crate::control::scope;

/// A refusal, in the words the person reads.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub &'static str);

/// The event log and the AMI console show every call on the server: supervisors,
/// admins and AMI accounts logged in with their own secret (whose read classes
/// Asterisk gave them) may read raw events; an agent, who sees only their own
/// calls, may not.
pub fn may_read_raw_events(login: &Login) -> Result<(), Refused> {
    match login.role() {
        Some(Role::Agent) => Err(Refused(
            "the event log is for supervisors and admins; an agent sees their own calls only",
        )),
        _ => Ok(()),
    }
}

/// The way raw AMI comes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RawWay {
    /// AJAM (and the console): sessions with no per-person narrowing.
    Ajam,
    /// The AMI proxy: each client's events and actions go through this module.
    Proxy,
}

/// Raw AMI reaches as far as the AMI account does. AJAM: among relay accounts, admins
/// only. The AMI proxy: every relay account, since the proxy narrows each role here
/// (a supervisor loses the shell, see [`raw_ami_write`]; an agent keeps their own
/// calls, see [`may_run_raw_ami`] and [`event_concerns`]).
pub fn may_use_raw_ami(login: &Login, way: RawWay) -> Result<(), Refused> {
    match way {
        RawWay::Ajam if !matches!(login.role(), None | Some(Role::Admin)) => {
            Err(Refused("AJAM is for admins only"))
        }
        RawWay::Ajam | RawWay::Proxy => Ok(()),
    }
}

/// The write classes the shell guard checks a raw action against: the AMI account's,
/// narrowed by role. A supervisor does not get the panel's raw console, so on raw AMI
/// they lose `system` too: no `Command`, configuration or `System()`, whatever the AMI
/// account behind them may do.
pub fn raw_ami_write(login: &Login) -> Classes {
    let write = login.permissions().write;
    match login.role() {
        Some(Role::Supervisor | Role::Agent) => write.and_not(Classes::SYSTEM),
        None | Some(Role::Admin) => write,
    }
}

/// Raw actions that act on one call, named by `Channel` (and `ExtraChannel`).
const AGENT_CALL_ACTIONS: &[&str] = &[
    "hangup",
    "redirect",
    "blindtransfer",
    "atxfer",
    "cancelatxfer",
    "park",
    "mixmonitor",
    "stopmixmonitor",
    "mixmonitormute",
    "monitor",
    "stopmonitor",
    "pausemonitor",
    "unpausemonitor",
];

/// Raw actions on a queue membership, named by `Interface`.
const AGENT_MEMBER_ACTIONS: &[&str] = &["queuepause", "queuepenalty"];

/// Whether `login` may send the raw AMI `action` upstream, decided on `model` now.
/// Everyone but an agent: yes (the role's write classes and the shell guard follow).
/// An agent: only the actions the panel lets them use, on their own calls, as
/// `control::scope` checks the panel's: a call action whose every `Channel` and
/// `ExtraChannel` is their own call; an `Originate` from their own phone into the
/// dialplan (no `Application`); `QueuePause`/`QueuePenalty` on their own `Interface`.
/// Anything else, the lists and the CLI included, is refused.
pub fn may_run_raw_ami(
    login: &Login,
    action: &Message,
    model: &ServerModel,
) -> Result<(), Refused> {
    if login.role() != Some(Role::Agent) {
        return Ok(());
    }
    let exten = login.extension().unwrap_or_default();
    agent_may_run(action, exten, model)
}

fn agent_may_run(action: &Message, exten: &str, model: &ServerModel) -> Result<(), Refused> {
    const REFUSED: Refused = Refused("an agent acts on their own calls and queues only");
    if exten.is_empty() {
        return Err(Refused("no extension is configured for this account"));
    }
    let mut names = action.get_all("Action");
    let (Some(name), None) = (names.next(), names.next()) else {
        return Err(REFUSED);
    };
    let name = String::from_utf8_lossy(name).trim().to_ascii_lowercase();
    // Every value of a header counts: a repeated one must not smuggle a second target.
    let all = |header: &str, own: &dyn Fn(&str) -> bool| {
        let mut values = action.get_all(header).peekable();
        values.peek().is_some() && values.all(|value| own(String::from_utf8_lossy(value).trim()))
    };
    let any = |header: &str| action.get(header).is_some();
    let call = |channel: &str| scope::owns_call(model, exten, channel);
    let allowed = if AGENT_CALL_ACTIONS.contains(&name.as_str()) {
        // MixMonitor's `Command` runs a shell command when the recording ends.
        all("Channel", &call)
            && (!any("ExtraChannel") || all("ExtraChannel", &call))
            && !any("Command")
    } else if AGENT_MEMBER_ACTIONS.contains(&name.as_str()) {
        all("Interface", &|interface| {
            scope::owns_name(model, exten, interface)
        })
    } else if name == "originate" {
        all("Channel", &|channel| {
            channel == exten || scope::owns_name(model, exten, channel)
        }) && !any("Application")
    } else {
        false
    };
    if allowed { Ok(()) } else { Err(REFUSED) }
}

/// The headers that name a channel or a queue member's interface in an event.
const NAMING_HEADERS: &[&str] = &[
    "Channel",
    "DestChannel",
    "Interface",
    "StateInterface",
    "MemberName",
];

/// The headers that carry the call's linked id.
const LINKEDID_HEADERS: &[&str] = &["Linkedid", "DestLinkedid"];

/// Whether a raw event concerns extension `exten`'s calls or queue memberships, as the
/// model stands now: a naming header (`Channel`, `DestChannel`, `Interface`,
/// `StateInterface`, `MemberName`) names the phone or a channel bridged with one of
/// its channels, or the event's `Linkedid` is that of one of the phone's channels. An
/// agent's AMI proxy client gets these events and no other. The model may trail the
/// event feed by an event or two: the first event of a channel that is not the phone's
/// itself is delivered once the model links it to the agent's call.
pub fn event_concerns(event: &Message, model: &ServerModel, exten: &str) -> bool {
    if exten.is_empty() {
        return false;
    }
    let phone = model.phone(exten);
    let names = NAMING_HEADERS.iter().flat_map(|h| event.get_all(h));
    for value in names {
        let value = String::from_utf8_lossy(value);
        let value = value.trim();
        if phone.names(value) || scope::owns_call(model, exten, value) {
            return true;
        }
    }
    let linked: Vec<_> = LINKEDID_HEADERS
        .iter()
        .flat_map(|h| event.get_all(h))
        .filter(|id| !id.is_empty())
        .collect();
    !linked.is_empty()
        && model
            .channels
            .values()
            .filter(|c| !c.linkedid.is_empty() && phone.names(&c.channel))
            .any(|c| {
                linked
                    .iter()
                    .any(|id| id.trim_ascii() == c.linkedid.as_bytes())
            })
}

/// The audit log: relay accounts with the admin role, or AMI accounts that hold the
/// `system` write class (they could read Asterisk's own logs anyway).
pub fn may_read_audit(login: &Login) -> Result<(), Refused> {
    let allowed = match login.role() {
        Some(role) => role == Role::Admin,
        None => login.permissions().write.contains(Classes::SYSTEM),
    };
    if allowed {
        Ok(())
    } else {
        Err(Refused("the audit log is for admins only"))
    }
}

/// Queue alarms ([`shared::protocol::QueueAlarm`]) go to those who watch queues for
/// everyone: supervisors and admins, and AMI accounts, if they may read queues (the
/// `agent` class). An agent sees their own queue cards turn red, with no notification.
pub fn hears_queue_alarms(login: &Login) -> bool {
    login.read().intersects(Classes::AGENT) && login.role() != Some(Role::Agent)
}

#[cfg(test)]
mod tests {
    use shared::model::{Call, Channel, Member, Queue};

    use super::*;

    /// 100's call with an outside caller (bridged), 101's call, and 100 a queue member.
    fn model() -> ServerModel {
        let mut model = ServerModel::default();
        for (uniqueid, name, linkedid, bridge) in [
            ("1", "Local/100@test-00000001;1", "1", Some("b1")),
            ("2", "PJSIP/7000-00000002", "2", Some("b1")),
            ("3", "Local/101@test-00000003;1", "3", Some("b2")),
            ("4", "PJSIP/7001-00000004", "3", Some("b2")),
        ] {
            model.channels.insert(
                uniqueid.into(),
                Channel {
                    uniqueid: uniqueid.into(),
                    channel: name.into(),
                    linkedid: linkedid.into(),
                    // A caller claiming to be 100 owns nothing by it.
                    caller_id_num: "100".into(),
                    bridge: bridge.map(Into::into),
                    ..Channel::default()
                },
            );
        }
        for (id, channels) in [("b1", ["1", "2"]), ("b2", ["3", "4"])] {
            model.calls.insert(
                id.into(),
                Call {
                    id: id.into(),
                    channels: channels.iter().map(|c| c.to_string()).collect(),
                    ..Call::default()
                },
            );
        }
        let mut queue = Queue::default();
        for interface in ["Local/100@test", "Local/101@test"] {
            queue.members.insert(
                interface.into(),
                Member {
                    interface: interface.into(),
                    state_interface: interface.into(),
                    ..Member::default()
                },
            );
        }
        model.queues.insert("support".into(), queue);
        model
    }

    fn event(headers: &[(&str, &str)]) -> Message {
        let mut message = Message::new();
        for (key, value) in headers {
            message.push(key, value);
        }
        message
    }

    #[test]
    fn an_agent_reads_events_of_their_phone_their_bridge_peers_and_their_linkedid() {
        let model = model();
        let concerns = |headers: &[(&str, &str)]| event_concerns(&event(headers), &model, "100");
        assert!(concerns(&[
            ("Event", "Newchannel"),
            ("Channel", "Local/100@test-00000001;1")
        ]));
        assert!(
            concerns(&[("Event", "Hangup"), ("Channel", "PJSIP/7000-00000002")]),
            "the caller 100 talks to"
        );
        assert!(
            concerns(&[
                ("Event", "DialBegin"),
                ("Channel", "PJSIP/7009-00000009"),
                ("DestChannel", "Local/100@test-00000001;2")
            ]),
            "a dial to 100"
        );
        assert!(
            concerns(&[
                ("Event", "Newstate"),
                ("Channel", "PJSIP/7009-00000009"),
                ("Linkedid", "1")
            ]),
            "a channel of 100's call, not bridged yet"
        );
        assert!(concerns(&[
            ("Event", "QueueMemberPause"),
            ("Queue", "support"),
            ("Interface", "Local/100@test"),
        ]));
        assert!(concerns(&[
            ("Event", "QueueMemberStatus"),
            ("StateInterface", "Local/100@test"),
        ]));
    }

    #[test]
    fn an_agent_reads_nothing_of_other_calls_nor_events_about_no_call() {
        let model = model();
        let concerns = |headers: &[(&str, &str)]| event_concerns(&event(headers), &model, "100");
        for headers in [
            &[
                ("Event", "Newchannel"),
                ("Channel", "Local/101@test-00000003;1"),
                ("Linkedid", "3"),
            ][..],
            &[
                ("Event", "Hangup"),
                ("Channel", "PJSIP/7001-00000004"),
                ("Linkedid", "3"),
            ],
            &[
                ("Event", "Newchannel"),
                ("Channel", "PJSIP/1000-00000009"),
                ("CallerIDNum", "100"),
            ],
            &[
                ("Event", "QueueMemberPause"),
                ("Interface", "Local/101@test"),
            ],
            &[
                ("Event", "Newchannel"),
                ("Channel", "Local/1000@test-00000009;1"),
            ],
            &[("Event", "FullyBooted"), ("Status", "Fully Booted")],
            &[("Event", "PeerStatus"), ("Peer", "PJSIP/100")],
            &[("Event", "Newstate"), ("Linkedid", "")],
        ] {
            assert!(!concerns(headers), "{headers:?}");
        }
        let own = event(&[("Channel", "Local/100@test-00000001;1")]);
        assert!(!event_concerns(&own, &model, ""), "no extension, no events");
    }

    #[test]
    fn an_agent_runs_only_a_few_raw_actions_on_their_own_calls() {
        let model = model();
        let may = |headers: &[(&str, &str)]| agent_may_run(&event(headers), "100", &model).is_ok();
        assert!(may(&[
            ("Action", "Hangup"),
            ("Channel", "PJSIP/7000-00000002")
        ]));
        assert!(may(&[
            ("Action", "Park"),
            ("Channel", "Local/100@test-00000001;1")
        ]));
        assert!(may(&[
            ("Action", "Originate"),
            ("Channel", "Local/100@test"),
            ("Context", "test"),
            ("Exten", "200"),
        ]));
        assert!(may(&[
            ("Action", "QueuePause"),
            ("Interface", "Local/100@test")
        ]));
        assert!(may(&[
            ("Action", "MixMonitor"),
            ("Channel", "Local/100@test-00000001;1")
        ]));
        for headers in [
            &[("Action", "Hangup"), ("Channel", "PJSIP/7001-00000004")][..],
            &[("Action", "Hangup"), ("Channel", "/.*/")],
            &[("Action", "Hangup")],
            &[
                ("Action", "Hangup"),
                ("Channel", "Local/100@test-00000001;1"),
                ("Channel", "PJSIP/7001-00000004"),
            ],
            &[
                ("Action", "Redirect"),
                ("Channel", "Local/100@test-00000001;1"),
                ("ExtraChannel", "PJSIP/7001-00000004"),
            ],
            &[("Action", "Originate"), ("Channel", "Local/101@test")],
            &[
                ("Action", "Originate"),
                ("Channel", "Local/100@test"),
                ("Application", "ChanSpy"),
            ],
            &[
                ("Action", "MixMonitor"),
                ("Channel", "Local/100@test-00000001;1"),
                ("Command", "rm -rf /"),
            ],
            &[("Action", "QueuePause"), ("Interface", "Local/101@test")],
            &[("Action", "CoreShowChannels")],
            &[("Action", "Command"), ("Command", "core show channels")],
            &[
                ("Action", "Hangup"),
                ("Action", "Command"),
                ("Channel", "PJSIP/7000-00000002"),
            ],
        ] {
            assert!(!may(headers), "{headers:?}");
        }
        let hangup = event(&[("Action", "Hangup"), ("Channel", "PJSIP/7000-00000002")]);
        assert!(agent_may_run(&hangup, "", &model).is_err(), "no extension");
    }
}
