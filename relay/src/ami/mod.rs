//! The AMI client, in layers: [`codec`] (bytes ⇄ frames, over `shared::ami`'s parser),
//! [`connection`] (one framed socket and its banner), [`session`] (login, ActionID
//! correlation, event lists, keepalive, reconnect) and [`error`].
//!
//! Start with [`spawn_session`]; the slow-consumer policy is [`SlowConsumer`].

pub mod codec;
pub mod connection;
pub mod error;
pub mod session;

pub use codec::AmiCodec;
pub use connection::Connection;
pub use error::AmiError;
pub use session::{
    ActionResult, AmiConfig, AuthMethod, SessionEvent, SessionHandle, SlowConsumer, spawn_session,
};
