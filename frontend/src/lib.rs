//! AstPanel's single-page app.
//!
//! The page holds one [`shared::state::PanelState`] in a signal; the relay's
//! WebSocket ([`socket`]) feeds it through the shared reducer, and the
//! components ([`components`]) only read it.
//!
//! - [`socket`]: the WebSocket to the relay, with reconnect and backoff.
//! - [`components`]: the views.

pub mod components;
pub mod socket;

pub use components::App;
