//! Everything the relay and the browser agree on, compiled for both.
//!
//! This crate does no I/O and cannot fail at run time: it holds data types and
//! pure functions only, so it builds for native targets and for
//! `wasm32-unknown-unknown` alike.
//!
//! - [`ami`]: the Asterisk Manager Interface message model, its parser and
//!   its serializer.
//! - [`protocol`]: the messages the relay and the SPA exchange over the
//!   WebSocket.
//! - [`state`]: the panel's state and the reducer that applies relay messages to it.

pub mod ami;
pub mod protocol;
pub mod state;
