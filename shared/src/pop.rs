//! The screen-pop's rule: which calls of a model pop for an extension, as the
//! [`CallPop`] messages a CRM is posted.
//!
//! A call is the extension's by the same rule as the agent view's "my calls"
//! ([`ServerModel::channels_of`]): its device's
//! channels (`PJSIP/100-…`, never `PJSIP/1001-…`), the Local channels of the queue
//! memberships that ring it, and the calls it places. A call pops once when one of
//! those channels rings and once when it is up, however many of them there are (a
//! queue call through a Local member rings three); a call is its channels' `linkedid`.
//! It lives above both `model` and `protocol`, which do not know each other's parts.

use std::collections::BTreeSet;

use crate::model::{Channel, ServerModel};
use crate::protocol::{CallPop, PopEvent};

/// The pops of one extension: what was posted already, so each goes once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pops {
    exten: String,
    /// The calls (by `linkedid`) and events posted; a call leaves the set when its
    /// last channel leaves the model, so the set is as small as the calls alive.
    posted: BTreeSet<(String, PopEvent)>,
}

impl Pops {
    /// Pops for extension `exten`; an empty one never pops.
    pub fn new(exten: &str) -> Pops {
        Pops {
            exten: exten.to_owned(),
            posted: BTreeSet::new(),
        }
    }

    /// What `model` brings to post: each of the extension's calls that rings or is up
    /// and was not posted as such yet, by channel order.
    pub fn next(&mut self, model: &ServerModel) -> Vec<CallPop> {
        let alive: BTreeSet<&str> = model.channels.values().map(call_of).collect();
        self.posted
            .retain(|(call, _)| alive.contains(call.as_str()));
        let mut pops = Vec::new();
        for channel in model.channels_of(&self.exten) {
            let event = match channel.state {
                // Ring (calling out) and Ringing (called).
                4 | 5 => PopEvent::Ringing,
                6 => PopEvent::Answered,
                _ => continue,
            };
            if !self.posted.insert((call_of(channel).to_owned(), event)) {
                continue;
            }
            // The other party: the caller when this extension is called.
            let (num, name) = if channel.caller_id_num == self.exten {
                (&channel.connected_num, &channel.connected_name)
            } else {
                (&channel.caller_id_num, &channel.caller_id_name)
            };
            pops.push(CallPop {
                event,
                exten: self.exten.clone(),
                caller_id_num: num.clone(),
                caller_id_name: name.clone(),
                channel: channel.channel.clone(),
                uniqueid: channel.uniqueid.clone(),
            });
        }
        pops
    }
}

/// The call a channel is part of: the uniqueid of the channel that started it.
fn call_of(channel: &Channel) -> &str {
    if channel.linkedid.is_empty() {
        &channel.uniqueid
    } else {
        &channel.linkedid
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Member, Queue};

    fn channel(uniqueid: &str, name: &str, linkedid: &str, state: u8) -> Channel {
        Channel {
            uniqueid: uniqueid.into(),
            channel: name.into(),
            linkedid: linkedid.into(),
            state,
            caller_id_num: "5555".into(),
            caller_id_name: "Pop Caller".into(),
            connected_num: "100".into(),
            ..Channel::default()
        }
    }

    fn model(channels: &[&Channel]) -> ServerModel {
        let mut model = ServerModel::default();
        for &c in channels {
            model.channels.insert(c.uniqueid.clone(), c.clone());
        }
        model
    }

    fn events(pops: &[CallPop]) -> Vec<(PopEvent, &str)> {
        pops.iter().map(|p| (p.event, p.channel.as_str())).collect()
    }

    #[test]
    fn extension_100_ignores_a_call_on_1001_and_pops_for_its_own() {
        let mut pops = Pops::new("100");
        let other = channel("1.1", "PJSIP/1001-00000001", "1.1", 5);
        assert_eq!(pops.next(&model(&[&other])), []);
        let own = channel("1.2", "PJSIP/100-00000002", "1.2", 5);
        let popped = pops.next(&model(&[&other, &own]));
        assert_eq!(events(&popped), [(PopEvent::Ringing, "PJSIP/100-00000002")]);
        // Called: the caller is the other party.
        assert_eq!(
            (
                popped[0].caller_id_num.as_str(),
                popped[0].caller_id_name.as_str()
            ),
            ("5555", "Pop Caller")
        );
        assert_eq!(popped[0].exten, "100");
        assert_eq!(popped[0].uniqueid, "1.2");
    }

    #[test]
    fn a_call_pops_once_ringing_and_once_answered() {
        let mut pops = Pops::new("100");
        let mut own = channel("1.2", "PJSIP/100-00000002", "1.1", 5);
        assert_eq!(pops.next(&model(&[&own])).len(), 1);
        assert_eq!(pops.next(&model(&[&own])), [], "rang already");
        own.state = 6;
        let popped = pops.next(&model(&[&own]));
        assert_eq!(
            events(&popped),
            [(PopEvent::Answered, "PJSIP/100-00000002")]
        );
        assert_eq!(pops.next(&model(&[&own])), [], "answered already");
        // Down, dialling, busy: nothing to say.
        for state in [0, 3, 7] {
            let quiet = channel("2.1", "PJSIP/100-00000003", "2.1", state);
            assert_eq!(pops.next(&model(&[&quiet])), [], "state {state}");
        }
    }

    #[test]
    fn a_queue_call_through_a_local_member_pops_once() {
        let mut model = model(&[
            &channel("1.2", "Local/agent1@agents-0000002a;1", "1.1", 5),
            &channel("1.3", "Local/agent1@agents-0000002a;2", "1.1", 4),
            &channel("1.4", "PJSIP/100-00000004", "1.1", 5),
        ]);
        let member = Member {
            interface: "Local/agent1@agents/n".into(),
            state_interface: "PJSIP/100".into(),
            ..Member::default()
        };
        let mut support = Queue::default();
        support.members.insert(member.interface.clone(), member);
        model.queues.insert("support".into(), support);
        let mut pops = Pops::new("100");
        let popped = pops.next(&model);
        assert_eq!(
            events(&popped),
            [(PopEvent::Ringing, "Local/agent1@agents-0000002a;1")]
        );
        assert_eq!(popped[0].caller_id_num, "5555");
    }

    #[test]
    fn calling_out_pops_whom_the_extension_called() {
        let mut out = channel("1.1", "PJSIP/100-00000001", "1.1", 4);
        out.caller_id_num = "100".into();
        out.connected_num = "200".into();
        out.connected_name = "Bob".into();
        let popped = Pops::new("100").next(&model(&[&out]));
        assert_eq!(
            (
                popped[0].caller_id_num.as_str(),
                popped[0].caller_id_name.as_str()
            ),
            ("200", "Bob")
        );
    }

    #[test]
    fn a_call_gone_is_forgotten_and_no_extension_pops_nothing() {
        let mut pops = Pops::new("100");
        let own = channel("1.2", "PJSIP/100-00000002", "1.1", 5);
        assert_eq!(pops.next(&model(&[&own])).len(), 1);
        assert_eq!(pops.next(&ServerModel::default()), []);
        assert_eq!(pops, Pops::new("100"), "nothing kept of an ended call");
        let mut anyone = channel("1.3", "PJSIP/-00000003", "1.3", 5);
        anyone.caller_id_num = String::new();
        assert_eq!(Pops::new("").next(&model(&[&own, &anyone])), []);
    }
}
