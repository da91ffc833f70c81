//! What the page knows: who is logged in, the server's model and its link, as the
//! relay sent them. [`Live::receive`] applies one relay message with the shared
//! `ServerModel::apply_change`, keeps to the relay's `seq` with the shared
//! [`Follower`], and says when the page must ask for a resync.

use std::hash::{Hash, Hasher};

use shared::action::{ActionResult, Role};
use shared::model::follow::{Follower, Step};
use shared::model::{Change, Queue, ServerModel};
use shared::protocol::{Hello, LinkState, LinkStatus, PROTOCOL_VERSION, QueueAlarm, ServerMessage};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Live {
    pub hello: Option<Hello>,
    pub link: Option<LinkStatus>,
    /// Where the model is in the relay's snapshots and deltas.
    pub follower: Follower,
    pub model: ServerModel,
    /// The answer to the last action, shown to the person.
    pub last_result: Option<ActionResult>,
    /// The id of the console's action awaiting its answer, and that answer: kept apart
    /// from `last_result`, so the console's answer does not pop up as a toast.
    pub console_id: Option<String>,
    pub console_result: Option<ActionResult>,
    /// Counts the messages that changed what an extension tile shows (extensions,
    /// queues, presence, mailboxes), so the grid rebuilds its 2,000 tiles only then
    /// and not on every channel's change.
    pub tiles_revision: u64,
    /// Counts the messages that changed the call list's order (a channel came, went or
    /// changed call; a call changed), so the list re-sorts only then.
    pub rows_revision: u64,
    /// The last queue alarm the relay raised (supervisors only), and how many came:
    /// each one is notified once.
    pub last_alarm: Option<QueueAlarm>,
    pub alarms: u64,
}

/// What the page must do after a message.
#[derive(Debug, PartialEq, Eq)]
pub enum Follow {
    Nothing,
    /// A delta arrived out of order: ask for a fresh snapshot.
    Resync,
    /// The relay speaks another protocol version: this page is older than the relay
    /// that serves it (it was upgraded), so load the page again.
    Reload,
}

impl Live {
    pub fn receive(&mut self, message: ServerMessage) -> Follow {
        match message {
            ServerMessage::Hello(hello) if hello.protocol != PROTOCOL_VERSION => {
                return Follow::Reload;
            }
            ServerMessage::Hello(hello) => self.hello = Some(hello),
            ServerMessage::Snapshot {
                seq, link, model, ..
            } => {
                self.follower.snapshot(seq);
                self.link = Some(link);
                self.model = model;
                self.tiles_revision += 1;
                self.rows_revision += 1;
            }
            ServerMessage::Delta { seq, changes, .. } => match self.follower.delta(seq) {
                Step::Drop => {}
                Step::Apply => {
                    if changes.iter().any(changes_a_tile) {
                        self.tiles_revision += 1;
                    }
                    if changes.iter().any(|c| reorders_calls(&self.model, c)) {
                        self.rows_revision += 1;
                    }
                    for change in changes {
                        self.model.apply_change(change);
                    }
                }
                Step::Resync => return Follow::Resync,
            },
            ServerMessage::Link(link) => self.link = Some(link),
            ServerMessage::QueueAlarm(alarm) => {
                self.last_alarm = Some(alarm);
                self.alarms += 1;
            }
            // The socket hands these to the event log, a signal of its own, so a busy
            // log does not re-run every view of the model.
            ServerMessage::Events { .. } => {}
            ServerMessage::ActionResult(result) => {
                if result.id.is_some() && result.id == self.console_id {
                    self.console_result = Some(result);
                } else {
                    self.last_result = Some(result);
                }
            }
            ServerMessage::Error { message } => {
                leptos::logging::warn!("the relay could not use a message: {message}");
            }
        }
        Follow::Nothing
    }

    /// Whether the panel's actions are offered to this account.
    pub fn may(&self, action: &str) -> bool {
        self.hello
            .as_ref()
            .is_some_and(|h| h.permissions.actions.contains(action))
    }

    /// Whether the raw tools (the event log, the AMI console) are offered to this
    /// account: to every one but the agent role, which the relay refuses raw events;
    /// `None` until the hello says who this is.
    pub fn raw_tools(&self) -> Option<bool> {
        self.hello.as_ref().map(|h| h.role != Some(Role::Agent))
    }

    pub fn link_state(&self) -> Option<LinkState> {
        self.link.as_ref().map(|l| l.state)
    }
}

/// Whether `change` touches what an extension tile shows.
fn changes_a_tile(change: &Change) -> bool {
    matches!(
        change,
        Change::Extension(_) | Change::Queue(_) | Change::Presence(_) | Change::Mailbox(_)
    )
}

/// Whether `change`, not yet applied to `model`, moves a row of the call list.
fn reorders_calls(model: &ServerModel, change: &Change) -> bool {
    match change {
        Change::Channel(channel) => model
            .channels
            .get(&channel.uniqueid)
            .is_none_or(|old| old.bridge != channel.bridge),
        Change::ChannelRemoved { .. } | Change::Call(_) | Change::CallRemoved { .. } => true,
        _ => false,
    }
}

/// A queue as the key of its own card (`<For key=...>`): a card is drawn again whenever
/// anything in its queue changed. Equal when the queues are equal, hashed by name only;
/// it replaced a key of the queue's `Debug` text, which brought `Debug` for the model and
/// the shortest float printer into the SPA.
#[derive(Clone, PartialEq)]
pub struct QueueKey(pub Queue);

/// `Queue` is not `Eq` only for its `f64`, and JSON carries no NaN.
impl Eq for QueueKey {}

impl Hash for QueueKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.name.hash(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::model::{Change, Channel};

    fn delta(seq: u64, uniqueid: &str) -> ServerMessage {
        ServerMessage::Delta {
            server: "demo".into(),
            seq,
            changes: vec![Change::Channel(Channel {
                uniqueid: uniqueid.into(),
                ..Channel::default()
            })],
        }
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn deltas_the_snapshot_holds_are_dropped_and_a_gap_asks_for_a_resync() {
        let mut live = Live::default();
        assert_eq!(
            live.receive(delta(1, "early")),
            Follow::Resync,
            "no snapshot yet"
        );
        live.receive(ServerMessage::Snapshot {
            server: "demo".into(),
            seq: 5,
            link: LinkStatus {
                server: "demo".into(),
                state: LinkState::Up,
                detail: None,
                events_received: 0,
            },
            model: ServerModel::default(),
        });
        let revision = live.tiles_revision;
        assert_eq!(live.receive(delta(5, "old")), Follow::Nothing);
        assert!(live.model.channels.is_empty(), "seq 5 is in the snapshot");
        assert_eq!(live.receive(delta(6, "new")), Follow::Nothing);
        assert!(live.model.channels.contains_key("new"));
        assert_eq!(live.tiles_revision, revision, "a channel changes no tile");
        let rows = live.rows_revision;
        let mut answered = live.model.channels["new"].clone();
        answered.state = 6;
        live.receive(ServerMessage::Delta {
            server: "demo".into(),
            seq: 7,
            changes: vec![Change::Channel(answered.clone())],
        });
        assert_eq!(
            live.rows_revision, rows,
            "a channel's new state moves no row"
        );
        answered.bridge = Some("b1".into());
        live.receive(ServerMessage::Delta {
            server: "demo".into(),
            seq: 8,
            changes: vec![Change::Channel(answered)],
        });
        assert_eq!(
            live.rows_revision,
            rows + 1,
            "a channel joining a call does"
        );
        assert_eq!(live.receive(delta(10, "gap")), Follow::Resync);
        assert!(!live.model.channels.contains_key("gap"));
        let extension = ServerMessage::Delta {
            server: "demo".into(),
            seq: 9,
            changes: vec![Change::Extension(shared::model::Extension::default())],
        };
        live.receive(extension);
        assert_eq!(
            live.tiles_revision,
            revision + 1,
            "an extension's change does"
        );
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn the_consoles_answer_goes_to_the_console_and_others_to_the_toast() {
        let mut live = Live {
            console_id: Some("a2".into()),
            ..Live::default()
        };
        let answer = |id: &str| ServerMessage::ActionResult(ActionResult::ok(Some(id.into()), ""));
        live.receive(answer("a1"));
        assert!(live.console_result.is_none());
        assert_eq!(
            live.last_result.as_ref().and_then(|r| r.id.as_deref()),
            Some("a1")
        );
        live.last_result = None;
        live.receive(answer("a2"));
        assert!(live.last_result.is_none(), "no toast for the console");
        assert_eq!(
            live.console_result.and_then(|r| r.id).as_deref(),
            Some("a2")
        );
    }

    fn hello(role: Option<Role>) -> Hello {
        Hello {
            protocol: shared::protocol::PROTOCOL_VERSION,
            server: "demo".into(),
            username: "someone".into(),
            read: shared::ami::Classes::ALL,
            permissions: shared::action::Permissions {
                write: shared::ami::Classes::ALL,
                ami_actions: Default::default(),
                actions: Default::default(),
            },
            role,
            extension: None,
            pause_reasons: Vec::new(),
            screen_pop: Default::default(),
            seats: Vec::new(),
        }
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn the_raw_tools_are_not_offered_to_an_agent() {
        let mut live = Live::default();
        assert_eq!(live.raw_tools(), None, "no hello yet");
        for (role, offered) in [
            (Some(Role::Agent), false),
            (Some(Role::Supervisor), true),
            (Some(Role::Admin), true),
            (None, true),
        ] {
            live.receive(ServerMessage::Hello(hello(role)));
            assert_eq!(live.raw_tools(), Some(offered), "{role:?}");
        }
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn a_relay_of_another_protocol_version_reloads_the_page() {
        let mut live = Live::default();
        let mut newer = hello(None);
        newer.protocol = PROTOCOL_VERSION + 1;
        assert_eq!(live.receive(ServerMessage::Hello(newer)), Follow::Reload);
        assert!(
            live.hello.is_none(),
            "nothing of the other protocol is kept"
        );
        assert_eq!(
            live.receive(ServerMessage::Hello(hello(None))),
            Follow::Nothing
        );
    }
}
