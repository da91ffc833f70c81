//! Everything the relay and the browser agree on, compiled for both.
//!
//! This crate does no I/O and cannot fail at run time: it holds data types and
//! pure functions only, so it builds for native targets and for
//! `wasm32-unknown-unknown` alike.
//!
//! - [`ami`]: the Asterisk Manager Interface message model, its parser and
//!   its serializer.
//! - [`model`]: the live model of one server and its reducer, run by the relay
//!   on AMI events and by the SPA on the changes it is sent.
//! - [`action`]: the call-control actions and their answers.
//! - [`protocol`]: the messages the relay and the SPA exchange over the
//!   WebSocket and the HTTP API (`PROTOCOL.md` shows each).
//! - [`pop`]: which calls the screen-pop posts to a CRM, over the model.

pub mod action;
pub mod ami;
pub mod model;
pub mod pop;
pub mod protocol;
