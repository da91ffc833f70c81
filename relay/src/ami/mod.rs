//! The AMI client, in layers like mini-redis: [`codec`] (bytes ⇄ frames, over
//! `shared::ami`'s parser), [`connection`] (one framed socket and its banner),
//! [`session`] (login, keepalive, reconnect; one task owns the socket), [`pending`]
//! (the pure table of actions in flight: ActionID correlation, event lists),
//! [`tls`] (AMI over TLS: trust and server name) and [`error`]. The wire format and Asterisk's quirks are described in [`shared::ami`].
//!
//! Start with [`spawn_session`]. It returns a [`SessionHandle`] for actions and a
//! bounded channel of [`SessionEvent`]s:
//!
//! - Every action gets an `ActionID` (unique across sessions, since Asterisk broadcasts
//!   `OriginateResponse` to all of them) and a timeout; its answer is the response plus,
//!   for list actions, the `EventList` items, or, for an `Async: true` Originate, its
//!   `OriginateResponse`. Those solicited events go to the caller, not the channel.
//! - An error response reaches the caller as an [`AmiError`] carrying Asterisk's text:
//!   [`AmiError::AuthenticationFailed`], [`AmiError::PermissionDenied`],
//!   [`AmiError::UnknownAction`], or [`AmiError::ActionFailed`] for the rest.
//! - A list answer is capped at `max_list_items` ([`AmiError::ListTooLong`]); the items
//!   of a list whose caller gave up are dropped, not collected or passed on.
//! - Every write is bounded by `write_timeout`: a server that stops reading is dropped
//!   and reconnected ([`AmiError::WriteTimeout`]) instead of stalling the session.
//! - Link changes are `Connected` / `Disconnected` items on the channel and are never
//!   dropped. After `Connected` the consumer should rebuild its state: events were
//!   missed while the link was down.
//! - When the consumer is slow, [`SlowConsumer`] decides: wait (the default; TCP pushes
//!   back and Asterisk may drop the link), drop and count, or reconnect to resync.

pub mod codec;
pub mod connection;
pub mod error;
pub mod pending;
pub mod session;
pub mod tls;

pub use codec::AmiCodec;
pub use connection::{AmiStream, Connection};
pub use error::AmiError;
pub use session::{
    ActionResult, AmiConfig, AuthMethod, SessionEvent, SessionHandle, SlowConsumer,
    connect_session, spawn_session,
};
pub use tls::AmiTls;
