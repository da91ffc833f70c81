//! The WebSocket to the relay: it feeds relay messages to the page's [`Live`] state
//! (raw events to the [`EventLog`]), sends the page's requests, and reconnects by
//! itself, with capped backoff, whenever the socket closes; each new socket starts with
//! a fresh snapshot, and asks for raw events again if the event log was open.
//!
//! It stops for good when [`Sender::close`] is called (logout, and the cleanup of the
//! view that opened it) or when the relay closes it with
//! [`CLOSE_LOGIN_ENDED`]: then the state is [`SocketState::Ended`] and the frame shows
//! the login form. No callback of a closed socket runs afterwards, and none reads a
//! signal without asking whether it is still there: a socket can outlive the view
//! that owned its signals by one event.
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
use shared::protocol::{CLOSE_LOGIN_ENDED, ClientMessage, ServerMessage};
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

use crate::events::EventLog;
use crate::route::base_path;
use crate::store::{Follow, Live};

/// The most often deltas redraw the page.
pub const REDRAW_EVERY: Duration = Duration::from_millis(200);

/// The close code of a socket the page closes itself: a normal closure.
const CLOSE_NORMAL: u16 = 1000;

/// The state of the browser's own link to the relay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketState {
    Connecting,
    Open,
    /// Closed; the next attempt is scheduled.
    Retrying,
    /// Closed for good: the login ended (the relay said [`CLOSE_LOGIN_ENDED`]) or the
    /// page closed it.
    Ended,
}

/// The live socket and the JS callbacks it holds.
struct Connection {
    socket: WebSocket,
    on_open: Closure<dyn FnMut()>,
    on_message: Closure<dyn FnMut(MessageEvent)>,
    on_close: Closure<dyn FnMut(CloseEvent)>,
}

impl Connection {
    /// Detaches the callbacks and closes the socket. The callbacks are dropped on a
    /// later turn of the event loop: this may run inside one of them (a close that
    /// ends the login), and a closure must not be freed while it runs.
    fn shut(self) {
        self.socket.set_onopen(None);
        self.socket.set_onmessage(None);
        self.socket.set_onclose(None);
        // Closing an already closed socket is a no-op; an error here changes nothing.
        let _ = self
            .socket
            .close_with_code_and_reason(CLOSE_NORMAL, "the page closed it");
        let Connection {
            on_open,
            on_message,
            on_close,
            ..
        } = self;
        set_timeout(
            move || drop((on_open, on_message, on_close)),
            Duration::ZERO,
        );
    }
}

/// What every connection of one page state shares.
#[derive(Default)]
struct Shared {
    /// The socket open now, if any. Its callbacks hold this struct, a cycle that
    /// [`Sender::close`] breaks by taking the connection out.
    current: RefCell<Option<Connection>>,
    /// Whether the event log wants raw events: a new socket starts without them.
    events_wanted: Cell<bool>,
    /// Closed for good: no socket is opened again.
    closed: Cell<bool>,
}

/// Sends requests on whatever socket is open now, and closes it for good.
#[derive(Clone)]
pub struct Sender {
    shared: Rc<Shared>,
}

impl Sender {
    /// Starts or stops the relay's raw events, now and on every socket to come.
    pub fn want_events(&self, enabled: bool) {
        if self.shared.events_wanted.replace(enabled) != enabled {
            self.send(&ClientMessage::Events { enabled });
        }
    }

    /// Sends one request; false when no socket is open (the page says so).
    pub fn send(&self, message: &ClientMessage) -> bool {
        let Ok(text) = serde_json::to_string(message) else {
            return false;
        };
        self.shared
            .current
            .borrow()
            .as_ref()
            .is_some_and(|c| c.socket.send_with_str(&text).is_ok())
    }

    /// Closes the socket and stops reconnecting, for good; a retry already scheduled
    /// finds it closed and does nothing. Safe to call again, and from a callback.
    pub fn close(&self) {
        self.shared.closed.set(true);
        let connection = self.shared.current.borrow_mut().take();
        if let Some(connection) = connection {
            connection.shut();
        }
    }
}

/// Connects to the relay that served this page and keeps reconnecting until
/// [`Sender::close`] or the login ends. `token` is for the screen-pop, which has no
/// cookie inside an iframe.
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
            shared: Rc::default(),
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
    /// Whether this page state is gone (closed, or its signals disposed with the view
    /// that owned them): then the socket closes and nothing more happens.
    fn gone(&self) -> bool {
        let gone = self.sender.shared.closed.get() || self.state.is_disposed();
        if gone {
            self.sender.close();
        }
        gone
    }

    fn open(self, attempt: u32) {
        if self.gone() {
            return;
        }
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
            if state.try_set(SocketState::Open).is_some() {
                return;
            }
            if sender.shared.events_wanted.get() {
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
                }) => {
                    log.try_update(|log| log.receive(events, dropped));
                }
                Ok(message) => {
                    let mut follow = Follow::Nothing;
                    let is_delta = matches!(message, ServerMessage::Delta { .. });
                    // The page state this socket fed may be gone: nothing to update.
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
                    if follow == Follow::Reload {
                        if let Some(window) = web_sys::window() {
                            let _ = window.location().reload();
                        }
                        return;
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
            Closure::<dyn FnMut(CloseEvent)>::new(move |event: CloseEvent| {
                match after_close(event.code(), state.try_get_untracked(), attempt) {
                    AfterClose::Retry(next) => link.clone().retry(next),
                    AfterClose::Stop => link.sender.close(),
                    AfterClose::Ended => {
                        link.sender.close();
                        state.try_set(SocketState::Ended);
                    }
                }
            })
        };
        socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        let previous = self.sender.shared.current.borrow_mut().replace(Connection {
            socket,
            on_open,
            on_message,
            on_close,
        });
        if let Some(previous) = previous {
            previous.shut();
        }
    }

    fn retry(self, attempt: u32) {
        if self.gone() {
            return;
        }
        self.state.set(SocketState::Retrying);
        set_timeout(move || self.open(attempt), backoff(attempt));
    }
}

/// What follows a socket's close.
#[derive(Debug, PartialEq, Eq)]
enum AfterClose {
    /// Another socket, as attempt number `n` (its backoff).
    Retry(u32),
    /// Nothing: the page state the socket fed is gone.
    Stop,
    /// The login ended: no socket again, and the page says so.
    Ended,
}

/// What follows the close `code` of attempt number `attempt`, with the socket's state
/// before it (`None`: disposed with the view that owned it).
fn after_close(code: u16, was: Option<SocketState>, attempt: u32) -> AfterClose {
    match was {
        _ if code == CLOSE_LOGIN_ENDED => AfterClose::Ended,
        None => AfterClose::Stop,
        // Once the page had connected, the backoff starts over.
        Some(SocketState::Open) => AfterClose::Retry(0),
        Some(_) => AfterClose::Retry(attempt + 1),
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
        base_path()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn a_login_ended_is_not_retried_and_a_gone_page_stops() {
        let going_away = 1001;
        assert_eq!(
            after_close(CLOSE_LOGIN_ENDED, Some(SocketState::Open), 0),
            AfterClose::Ended
        );
        assert_eq!(
            after_close(CLOSE_LOGIN_ENDED, None, 3),
            AfterClose::Ended,
            "ended, whoever still listens"
        );
        assert_eq!(after_close(going_away, None, 0), AfterClose::Stop);
        assert_eq!(
            after_close(going_away, Some(SocketState::Open), 4),
            AfterClose::Retry(0),
            "a socket that was open starts the backoff over"
        );
        assert_eq!(
            after_close(4008, Some(SocketState::Connecting), 2),
            AfterClose::Retry(3)
        );
    }

    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    fn the_backoff_doubles_up_to_ten_seconds() {
        let waits: Vec<u128> = (0..8).map(|n| backoff(n).as_millis()).collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]);
    }
}
