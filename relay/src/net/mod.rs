//! The network edge below every way in: who may connect (`access`), and the TLS
//! certificate files (`tls`). Free of axum: the web layer adapts them to its listener.

pub mod access;
pub mod tls;
