//! Which calls and queue members a relay account's role lets it act on.
//!
//! Asterisk only knows the AMI account, which many people may share, so the relay
//! narrows it per person: an agent acts on their own calls (a channel of their
//! extension's device, or one bridged with such a channel) and their own queue
//! memberships, and dials from their own phone only. Supervisors and admins act on
//! anyone's. An agent signs in to (`queue_add`) and out of (`queue_remove`) only the
//! queues of their seat (`[server.agents]`), as their seat's member or their own
//! device, and sets only their own extension's presence and call forward. Ownership is decided by channel and interface names, never by caller
//! ID, which is whatever the caller says.

use shared::action::Action;
use shared::model::ServerModel;

use super::Dialing;
use crate::auth::users::Person;

/// `Ok` when `person` may perform `action`, else the reason, as the person reads it.
pub fn check(
    action: &Action,
    person: &Person,
    model: &ServerModel,
    dialing: &Dialing,
) -> Result<(), String> {
    if person.role.acts_for_others() {
        return Ok(());
    }
    let Some(exten) = person.extension.as_deref() else {
        return Err("no extension is configured for this account".into());
    };
    let allowed = match action {
        Action::Hangup { channel }
        | Action::Redirect { channel, .. }
        | Action::Atxfer { channel, .. }
        | Action::AtxferComplete { channel }
        | Action::AtxferCancel { channel }
        | Action::Park { channel }
        | Action::VoicemailTransfer { channel, .. } => owns_call(model, exten, channel),
        Action::Originate { from, .. } | Action::Pickup { from, .. } => {
            from == exten || owns_name(model, exten, from)
        }
        Action::QueuePause { interface, .. } => owns_name(model, exten, interface),
        Action::QueueAdd {
            queue, interface, ..
        }
        | Action::QueueRemove { queue, interface } => {
            may_sign_in(model, dialing, exten, queue, interface)
        }
        Action::Presence { exten: target, .. } | Action::CallForward { exten: target, .. } => {
            target == exten
        }
        _ => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(format!(
            "an agent may {} only on extension {exten}'s own calls and queues",
            action.name()
        ))
    }
}

/// Whether extension `exten` may sign `interface` in to or out of `queue`: the queue is
/// one of its seat's, and the interface its seat's member or its own phone's.
fn may_sign_in(
    model: &ServerModel,
    dialing: &Dialing,
    exten: &str,
    queue: &str,
    interface: &str,
) -> bool {
    let Some(seat) = dialing.seat(exten) else {
        return false;
    };
    seat.queues.iter().any(|q| q == queue)
        && (seat.interface == interface || owns_name(model, exten, interface))
}

/// Whether `channel` (an AMI channel name, exactly as the model has it) is extension
/// `exten`'s own call: one of its phone's channels, or one bridged with such a channel.
/// The panel's actions and the AMI proxy's (`service::policy`) both ask this.
pub fn owns_call(model: &ServerModel, exten: &str, channel: &str) -> bool {
    let phone = model.phone(exten);
    is_own_call(model, channel, |name| phone.names(name))
}

/// Whether a channel or interface name is extension `exten`'s phone's (its device, or
/// a queue member interface whose state interface is that device).
pub fn owns_name(model: &ServerModel, exten: &str, name: &str) -> bool {
    model.phone(exten).names(name)
}

/// Whether `channel` (an AMI channel name) is one of the phone's (`mine` tells by a
/// name), or talks to one of them in a bridge.
fn is_own_call(model: &ServerModel, channel: &str, mine: impl Fn(&str) -> bool) -> bool {
    let Some(target) = model.channels.values().find(|c| c.channel == channel) else {
        return false;
    };
    if mine(&target.channel) {
        return true;
    }
    let Some(call) = target.bridge.as_ref().and_then(|id| model.calls.get(id)) else {
        return false;
    };
    call.channels.iter().any(|uniqueid| {
        model
            .channels
            .get(uniqueid)
            .is_some_and(|c| mine(&c.channel))
    })
}

#[cfg(test)]
mod tests {
    use shared::model::{Call, Channel};

    use super::*;

    fn model() -> ServerModel {
        let mut model = ServerModel::default();
        for (uniqueid, name, bridge) in [
            ("1", "PJSIP/201-00000001", Some("b1")),
            ("2", "PJSIP/7000-00000002", Some("b1")),
            ("3", "PJSIP/202-00000003", Some("b2")),
            ("4", "PJSIP/7001-00000004", Some("b2")),
            ("5", "PJSIP/7002-00000005", None),
        ] {
            model.channels.insert(
                uniqueid.into(),
                Channel {
                    uniqueid: uniqueid.into(),
                    channel: name.into(),
                    // A caller claiming to be 201 owns nothing by it.
                    caller_id_num: "201".into(),
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
        model
    }

    fn own(model: &ServerModel, channel: &str, exten: &str) -> bool {
        let phone = model.phone(exten);
        is_own_call(model, channel, |name| phone.names(name))
    }

    #[test]
    fn an_agents_calls_are_its_channels_and_their_bridge_peers() {
        let model = model();
        assert!(own(&model, "PJSIP/201-00000001", "201"));
        assert!(
            own(&model, "PJSIP/7000-00000002", "201"),
            "the caller I talk to"
        );
        assert!(
            !own(&model, "PJSIP/7001-00000004", "201"),
            "someone else's caller"
        );
        assert!(
            !own(&model, "PJSIP/7002-00000005", "201"),
            "caller ID proves nothing"
        );
        assert!(
            !own(&model, "PJSIP/201-gone", "201"),
            "a channel that is not there"
        );
    }

    #[test]
    fn a_queue_call_that_rings_an_agents_phone_is_theirs() {
        let mut model = model();
        // 202 is a member as Local/agent7@agents/n, whose state interface is its phone.
        let member = shared::model::Member {
            interface: "Local/agent7@agents/n".into(),
            state_interface: "PJSIP/202".into(),
            ..Default::default()
        };
        let mut queue = shared::model::Queue::default();
        queue.members.insert(member.interface.clone(), member);
        model.queues.insert("support".into(), queue);
        for (uniqueid, name) in [
            ("6", "Local/agent7@agents-0000000f;1"),
            ("7", "PJSIP/7003-7"),
        ] {
            model.channels.insert(
                uniqueid.into(),
                Channel {
                    uniqueid: uniqueid.into(),
                    channel: name.into(),
                    bridge: Some("b3".into()),
                    ..Channel::default()
                },
            );
        }
        model.calls.insert(
            "b3".into(),
            Call {
                id: "b3".into(),
                channels: vec!["6".into(), "7".into()],
                ..Call::default()
            },
        );
        assert!(
            own(&model, "PJSIP/7003-7", "202"),
            "the queue caller I talk to"
        );
        assert!(own(&model, "Local/agent7@agents-0000000f;1", "202"));
        assert!(!own(&model, "PJSIP/7003-7", "201"), "not 201's");
    }
}
