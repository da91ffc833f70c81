//! The WebSocket to the relay: it feeds relay messages to the page's [`Live`] state
//! (raw events to the [`EventLog`]), sends the page's requests, and reconnects by
//! itself, with capped backoff, whenever the socket closes; each new socket starts with
//! a fresh snapshot, and asks for raw events again if the event log was open.
//!
//! Deltas are applied to the model as they arrive, but the page is redrawn at most
//! once per [`REDRAW_EVERY`]: a busy PBX sends up to fifty deltas a second, and
//! redrawing for each kept the main thread saturated with a few hundred calls, while
//! nobody reads faster than a few screens a second. Everything else (snapshots, link
//! changes, action results) is drawn at once.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use leptos::prelude::*;
use shared::protocol::{ClientMessage, ServerMessage};

use crate::event_log::EventLog;
use crate::store::{Follow, Live};
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

/// The most often deltas redraw the page.
pub const REDRAW_EVERY: Duration = Duration::from_millis(200);

/// The state of the browser's own link to the relay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketState {
    Connecting,
    Open,
    /// Closed; the next attempt is scheduled.
    Retrying,
}

impl SocketState {
    pub fn label(self) -> &'static str {
        match self {
            SocketState::Connecting => "connecting",
            SocketState::Open => "connected",
            SocketState::Retrying => "reconnecting",
        }
    }
}

/// The live socket and the JS callbacks it holds. The callbacks must outlive
/// the socket's use of them, so they are dropped only when the next
/// connection replaces this one, never from inside one of them.
struct Connection {
    socket: WebSocket,
    _on_open: Closure<dyn FnMut()>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

/// Sends requests on whatever socket is open now.
#[derive(Clone)]
pub struct Sender {
    current: Rc<RefCell<Option<Connection>>>,
    /// Whether the event log wants raw events: a new socket starts without them.
    events_wanted: Rc<Cell<bool>>,
}

impl Sender {
    /// Starts or stops the relay's raw events, now and on every socket to come.
    pub fn want_events(&self, enabled: bool) {
        if self.events_wanted.replace(enabled) != enabled {
            self.send(&ClientMessage::Events { enabled });
        }
    }

    /// Sends one request; false when no socket is open (the page says so).
    pub fn send(&self, message: &ClientMessage) -> bool {
        let Ok(text) = serde_json::to_string(message) else {
            return false;
        };
        self.current
            .borrow()
            .as_ref()
            .is_some_and(|c| c.socket.send_with_str(&text).is_ok())
    }
}

/// Connects to the relay that served this page and keeps reconnecting for the page's
/// lifetime. `token` is for the screen-pop, which has no cookie inside an iframe.
pub fn connect(
    live: RwSignal<Live>,
    log: RwSignal<EventLog>,
    state: RwSignal<SocketState>,
    token: Option<String>,
) -> Sender {
    let link = Link {
        live,
        log,
        state,
        token: Rc::new(token),
        sender: Sender {
            current: Rc::default(),
            events_wanted: Rc::default(),
        },
        redraw_due: Rc::default(),
    };
    let sender = link.sender.clone();
    link.open(0);
    sender
}

/// What every connection attempt needs: where to deliver messages, where to
/// show the socket's state, and the live connection to replace.
#[derive(Clone)]
struct Link {
    live: RwSignal<Live>,
    log: RwSignal<EventLog>,
    state: RwSignal<SocketState>,
    token: Rc<Option<String>>,
    sender: Sender,
    /// Whether a redraw for deltas already applied is scheduled.
    redraw_due: Rc<Cell<bool>>,
}

impl Link {
    fn open(self, attempt: u32) {
        let Link {
            live, log, state, ..
        } = self;
        state.set(SocketState::Connecting);
        let url = socket_url(self.token.as_deref());
        let Some(socket) = url.and_then(|url| WebSocket::new(&url).ok()) else {
            self.retry(attempt);
            return;
        };
        let sender = self.sender.clone();
        let on_open = Closure::<dyn FnMut()>::new(move || {
            state.set(SocketState::Open);
            if sender.events_wanted.get() {
                sender.send(&ClientMessage::Events { enabled: true });
            }
        });
        let sender = self.sender.clone();
        let redraw_due = self.redraw_due.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            let Some(text) = event.data().as_string() else {
                return;
            };
            match serde_json::from_str::<ServerMessage>(&text) {
                Ok(ServerMessage::Events {
                    events, dropped, ..
                }) => log.update(|log| log.receive(events, dropped)),
                Ok(message) => {
                    let mut follow = Follow::Nothing;
                    let is_delta = matches!(message, ServerMessage::Delta { .. });
                    // A socket of a page state already gone (after a logout) may still
                    // deliver a message: there is nothing left to update.
                    if live
                        .try_update_untracked(|live| follow = live.receive(message))
                        .is_none()
                    {
                        return;
                    }
                    if !is_delta {
                        live.notify();
                    } else if !redraw_due.replace(true) {
                        let redraw_due = redraw_due.clone();
                        set_timeout(
                            move || {
                                redraw_due.set(false);
                                if !live.is_disposed() {
                                    live.notify();
                                }
                            },
                            REDRAW_EVERY,
                        );
                    }
                    if follow == Follow::Resync {
                        sender.send(&ClientMessage::Resync);
                    }
                }
                Err(error) => {
                    leptos::logging::warn!(
                        "ignoring a relay message this page cannot read: {error}"
                    )
                }
            }
        });
        let on_close = {
            let link = self.clone();
            Closure::<dyn FnMut(CloseEvent)>::new(move |_: CloseEvent| {
                // Once the page had connected, the backoff starts over.
                let was_open = state.get_untracked() == SocketState::Open;
                link.clone().retry(if was_open { 0 } else { attempt + 1 });
            })
        };
        socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        let previous = self.sender.current.borrow_mut().replace(Connection {
            socket,
            _on_open: on_open,
            _on_message: on_message,
            _on_close: on_close,
        });
        if let Some(previous) = previous {
            previous.socket.set_onclose(None);
            // Closing an already closed socket is a no-op; an error here changes nothing.
            let _ = previous.socket.close();
        }
    }

    fn retry(self, attempt: u32) {
        self.state.set(SocketState::Retrying);
        set_timeout(move || self.open(attempt), backoff(attempt));
    }
}

/// 0.5 s, 1 s, 2 s, … capped at 10 s: quick after a relay restart, gentle when it stays down.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((500u64 << attempt.min(5)).min(10_000))
}

fn socket_url(token: Option<&str>) -> Option<String> {
    let location = web_sys::window()?.location();
    let scheme = if location.protocol().ok()? == "https:" {
        "wss"
    } else {
        "ws"
    };
    let query = token.map(|t| format!("?token={t}")).unwrap_or_default();
    Some(format!(
        "{scheme}://{}{}ws{query}",
        location.host().ok()?,
        crate::components::base_path()
    ))
}
