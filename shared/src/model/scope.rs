//! What one agent sees of a server: their own calls and their own queue memberships.
//!
//! A relay account with the agent role acts on its own calls only, and sees only them
//! too: the channels of its extension's phone (see [`super::Phone`]: its device and
//! the queue member interfaces that ring it), the channels those talk to, those
//! calls, the queues it is a member of (with its own member entry only; the callers
//! waiting and the counters stay, an agent needs them), and the spies and recordings
//! on those channels. Parked calls, extension and device states, presence,
//! voicemail counts and conference rooms stay whole: an agent picks up parked calls
//! and transfers to colleagues, and a panel shows who is free.
//!
//! The relay keeps, per agent socket, the [`Scoped`] parts it last sent, and sends the
//! [`Scoped::changes_since`] of each tick: a diff of what the agent sees, so nothing
//! the agent saw can linger after it stopped being theirs.

use std::collections::BTreeMap;

use super::{Call, Change, Channel, Queue, Recording, ServerModel, Spy};

/// The parts of a model that depend on whose calls they are.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scoped {
    pub channels: BTreeMap<String, Channel>,
    pub calls: BTreeMap<String, Call>,
    pub queues: BTreeMap<String, Queue>,
    pub spies: BTreeMap<String, Spy>,
    pub recordings: BTreeMap<String, Recording>,
}

impl Scoped {
    /// Extension `exten`'s part of `model`.
    pub fn of(model: &ServerModel, exten: &str) -> Scoped {
        let phone = model.phone(exten);
        let mine = |c: &Channel| phone.names(&c.channel);
        let calls: BTreeMap<String, Call> = model
            .calls
            .values()
            .filter(|call| {
                call.channels
                    .iter()
                    .any(|id| model.channels.get(id).is_some_and(mine))
            })
            .map(|call| (call.id.clone(), call.clone()))
            .collect();
        let channels: BTreeMap<String, Channel> = model
            .channels
            .values()
            .filter(|c| {
                mine(c)
                    || c.bridge
                        .as_ref()
                        .is_some_and(|bridge| calls.contains_key(bridge))
            })
            .map(|c| (c.uniqueid.clone(), c.clone()))
            .collect();
        let queues = model
            .queues
            .values()
            .filter(|q| q.members.keys().any(|i| phone.names(i)))
            .map(|queue| {
                let mut own = queue.clone();
                own.members.retain(|interface, _| phone.names(interface));
                (own.name.clone(), own)
            })
            .collect();
        let spies = model
            .spies
            .values()
            .filter(|s| {
                channels.contains_key(&s.spyee_uniqueid) || channels.contains_key(&s.spyer_uniqueid)
            })
            .map(|s| (s.spyer_uniqueid.clone(), s.clone()))
            .collect();
        let recordings = model
            .recordings
            .values()
            .filter(|r| channels.contains_key(&r.uniqueid))
            .map(|r| (r.uniqueid.clone(), r.clone()))
            .collect();
        Scoped {
            channels,
            calls,
            queues,
            spies,
            recordings,
        }
    }

    /// `model` with its scoped parts replaced by these: what an agent's snapshot holds.
    pub fn into_model(self, mut model: ServerModel) -> ServerModel {
        model.channels = self.channels;
        model.calls = self.calls;
        model.queues = self.queues;
        model.spies = self.spies;
        model.recordings = self.recordings;
        model
    }

    /// The changes that turn `before` into `self`. A queue the agent left comes as
    /// the queue without their entry (the protocol has no queue removal).
    pub fn changes_since(&self, before: &Scoped) -> Vec<Change> {
        let mut changes = Vec::new();
        diff(
            &before.channels,
            &self.channels,
            &mut changes,
            Change::Channel,
            |uniqueid| Change::ChannelRemoved { uniqueid },
        );
        diff(
            &before.calls,
            &self.calls,
            &mut changes,
            Change::Call,
            |id| Change::CallRemoved { id },
        );
        for (name, old) in &before.queues {
            if !self.queues.contains_key(name) {
                let mut left = old.clone();
                left.members.clear();
                changes.push(Change::Queue(left));
            }
        }
        for (name, queue) in &self.queues {
            if before.queues.get(name) != Some(queue) {
                changes.push(Change::Queue(queue.clone()));
            }
        }
        diff(
            &before.spies,
            &self.spies,
            &mut changes,
            Change::Spy,
            |spyer_uniqueid| Change::SpyRemoved { spyer_uniqueid },
        );
        diff(
            &before.recordings,
            &self.recordings,
            &mut changes,
            Change::Recording,
            |uniqueid| Change::RecordingRemoved { uniqueid },
        );
        changes
    }
}

impl Change {
    /// Whether this change is about a part every agent sees whole.
    pub fn is_unscoped(&self) -> bool {
        matches!(
            self,
            Change::Parked(_)
                | Change::ParkedRemoved { .. }
                | Change::Extension(_)
                | Change::Device(_)
                | Change::Presence(_)
                | Change::Mailbox(_)
                | Change::Conference(_)
                | Change::ConferenceRemoved { .. }
        )
    }
}

/// Removals of what left, then the values that are new or changed.
fn diff<T: Clone + PartialEq>(
    before: &BTreeMap<String, T>,
    after: &BTreeMap<String, T>,
    changes: &mut Vec<Change>,
    put: impl Fn(T) -> Change,
    removed: impl Fn(String) -> Change,
) {
    for key in before.keys().filter(|k| !after.contains_key(*k)) {
        changes.push(removed(key.clone()));
    }
    for (key, value) in after {
        if before.get(key) != Some(value) {
            changes.push(put(value.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Member;

    fn channel(uniqueid: &str, name: &str, bridge: Option<&str>) -> Channel {
        Channel {
            uniqueid: uniqueid.into(),
            channel: name.into(),
            bridge: bridge.map(Into::into),
            ..Channel::default()
        }
    }

    fn model() -> ServerModel {
        let mut model = ServerModel::default();
        for c in [
            channel("1", "PJSIP/201-01", Some("b1")),
            channel("2", "PJSIP/7000-02", Some("b1")),
            channel("3", "PJSIP/202-03", Some("b2")),
            channel("4", "PJSIP/7001-04", Some("b2")),
        ] {
            model.channels.insert(c.uniqueid.clone(), c);
        }
        for (id, members) in [("b1", ["1", "2"]), ("b2", ["3", "4"])] {
            model.calls.insert(
                id.into(),
                Call {
                    id: id.into(),
                    channels: members.iter().map(|m| m.to_string()).collect(),
                    ..Call::default()
                },
            );
        }
        let member = |interface: &str| Member {
            interface: interface.into(),
            ..Member::default()
        };
        let mut support = Queue {
            name: "support".into(),
            ..Queue::default()
        };
        for m in [member("PJSIP/201"), member("PJSIP/202")] {
            support.members.insert(m.interface.clone(), m);
        }
        model.queues.insert("support".into(), support);
        model.queues.insert(
            "sales".into(),
            Queue {
                name: "sales".into(),
                ..Queue::default()
            },
        );
        model
    }

    #[test]
    fn an_agent_sees_its_call_its_peer_and_its_own_membership() {
        let scoped = Scoped::of(&model(), "201");
        assert_eq!(scoped.channels.keys().collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(scoped.calls.keys().collect::<Vec<_>>(), ["b1"]);
        assert_eq!(scoped.queues.keys().collect::<Vec<_>>(), ["support"]);
        assert_eq!(
            scoped.queues["support"].members.keys().collect::<Vec<_>>(),
            ["PJSIP/201"]
        );
    }

    #[test]
    fn applying_the_changes_gives_exactly_what_the_agent_sees_now() {
        let mut model = model();
        let before = Scoped::of(&model, "201");
        // The peer hangs up, 202's caller is transferred to 201, 201 leaves the queue.
        model.channels.remove("2");
        if let Some(call) = model.calls.get_mut("b1") {
            call.channels.retain(|c| c != "2");
        }
        if let Some(c) = model.channels.get_mut("4") {
            c.bridge = Some("b1".into());
        }
        if let Some(call) = model.calls.get_mut("b1") {
            call.channels.push("4".into());
        }
        if let Some(queue) = model.queues.get_mut("support") {
            queue.members.remove("PJSIP/201");
        }
        let after = Scoped::of(&model, "201");
        let mut browser = before.clone().into_model(ServerModel::default());
        for change in after.changes_since(&before) {
            browser.apply_change(change);
        }
        assert_eq!(browser.channels, after.channels);
        assert_eq!(browser.calls, after.calls);
        assert!(
            browser.queues["support"].members.is_empty(),
            "left, so no entry"
        );
        assert!(
            after.changes_since(&after).is_empty(),
            "nothing changed, nothing sent"
        );
    }
}
