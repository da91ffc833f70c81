//! [`Ctx`], the typed handle every view reads and acts through, and what it starts:
//! the socket to the relay and the clock of live durations, both stopped when the
//! view that started them goes. Also the person's own extension, kept in this browser.

use std::time::Duration;

use leptos::prelude::*;
use shared::action::{Action, ActionRequest, ActionResult};
use shared::model::ServerModel;
use shared::protocol::ClientMessage;

use crate::events::EventLog;
use crate::i18n::t;
use crate::socket::{self, Sender, SocketState};
use crate::store::Live;

/// What every view reads and how it acts; `Copy`, so closures take it freely.
#[derive(Clone, Copy)]
pub struct Ctx {
    pub live: RwSignal<Live>,
    /// Raw events, only while the event log is open.
    pub log: RwSignal<EventLog>,
    pub socket: RwSignal<SocketState>,
    sender: StoredValue<Sender, LocalStorage>,
    /// Milliseconds since the epoch, ticking once a second for live durations.
    pub now: RwSignal<f64>,
    next_id: StoredValue<u64>,
}

impl Ctx {
    /// Opens the socket (with `token`, for the screen-pop, else the cookie) and starts
    /// the clock, for as long as the current owner lives: its cleanup closes both.
    pub fn start(token: Option<String>) -> Ctx {
        let live = RwSignal::new(Live::default());
        let log = RwSignal::new(EventLog::default());
        let state = RwSignal::new(SocketState::Connecting);
        let sender = StoredValue::new_local(socket::connect(live, log, state, token));
        let now = RwSignal::new(js_sys::Date::now());
        let clock =
            set_interval_with_handle(move || now.set(js_sys::Date::now()), Duration::from_secs(1))
                .ok();
        // Cleanups run before the owner's values are dropped: the sender is still there.
        on_cleanup(move || {
            if let Some(clock) = clock {
                clock.clear();
            }
            sender.try_with_value(Sender::close);
        });
        Ctx {
            live,
            log,
            socket: state,
            sender,
            now,
            next_id: StoredValue::new(0),
        }
    }

    /// Closes the socket for good (logout): no reconnect follows.
    pub fn close(self) {
        self.sender.try_with_value(Sender::close);
    }

    /// Sends an action for the logged-in server; its answer shows in the toast.
    pub fn act(self, action: Action) {
        self.send_action(action);
    }

    /// [`Ctx::act`], and the request's id, so a part can tell its own answer in
    /// `last_result` (`None`: not sent, the toast says why).
    pub fn act_tracked(self, action: Action) -> Option<String> {
        self.send_action(action)
    }

    /// Sends an action for the console, whose answer shows there instead.
    pub fn ask_console(self, action: Action) {
        let id = self.send_action(action);
        self.live.update(|l| {
            l.console_id = id;
            l.console_result = None;
        });
    }

    /// Starts or stops the raw events the event log shows.
    pub fn subscribe_events(self, enabled: bool) {
        // Also called from a cleanup, when the page may already be gone.
        self.sender.try_with_value(|s| s.want_events(enabled));
    }

    /// Sends an action; its id, or `None` (and a failed answer) when it could not go.
    fn send_action(self, action: Action) -> Option<String> {
        let server = self
            .live
            .with_untracked(|l| l.hello.as_ref().map(|h| h.server.clone()))?;
        let n = self.next_id.get_value() + 1;
        self.next_id.set_value(n);
        let id = format!("a{n}");
        let request = ActionRequest {
            id: Some(id.clone()),
            server,
            action,
        };
        let sent = self
            .sender
            .try_with_value(|s| s.send(&ClientMessage::Action(request)))
            .unwrap_or(false);
        if sent {
            return Some(id);
        }
        self.live
            .update(|l| l.last_result = Some(ActionResult::failed(None, t("app.not_connected"))));
        None
    }

    /// `build` over the model, rebuilt only when `revision` (a counter in [`Live`] of the
    /// changes that matter to it) moves, not on every delta.
    pub fn model_memo<T: PartialEq + Send + Sync + 'static>(
        self,
        revision: fn(&Live) -> u64,
        build: fn(&ServerModel) -> T,
    ) -> Memo<T> {
        let live = self.live;
        let moved = Memo::new(move |_| live.with(revision));
        Memo::new(move |_| {
            // Read, not only tracked: a Memo that is only tracked is never computed, so
            // it would never learn of a change.
            moved.get();
            live.with_untracked(|l| build(&l.model))
        })
    }

    /// The configured reasons (pausing in a queue, a presence), from the hello (tracked).
    pub fn reasons(self) -> Vec<String> {
        self.live.with(|l| {
            l.hello
                .as_ref()
                .map(|h| h.pause_reasons.clone())
                .unwrap_or_default()
        })
    }

    /// Whether the hello's permissions offer the panel action `action`.
    pub fn may(self, action: &'static str) -> impl Fn() -> bool + Copy + 'static {
        let live = self.live;
        move || live.with(|l| l.may(action))
    }

    /// Whether the raw tools (event log, console) are offered: `None` until the hello
    /// says who this is. A memo, so a view switching on it is not re-run per delta.
    pub fn raw_tools(self) -> Memo<Option<bool>> {
        let live = self.live;
        Memo::new(move |_| live.with(Live::raw_tools))
    }
}

/// The extension this browser keeps as the person's phone (empty: none yet).
pub fn stored_extension() -> String {
    web_sys::window()
        .and_then(|w| w.local_storage().ok().flatten())
        .and_then(|s| s.get_item("astpanel.exten").ok().flatten())
        .unwrap_or_default()
}

/// The person's own extension, kept in this browser.
pub fn my_extension() -> RwSignal<String> {
    let exten = RwSignal::new(stored_extension());
    Effect::new(move |_| {
        let value = exten.get();
        if let Some(storage) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
            let _ = storage.set_item("astpanel.exten", &value);
        }
    });
    exten
}

/// How many missed calls the person has not seen (the header's badge): the frame
/// fills it, the history view clears it once it has marked the calls seen.
#[derive(Clone, Copy)]
pub struct MissedCalls(pub RwSignal<u32>);
