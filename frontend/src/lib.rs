//! AstPanel's single-page app.
//!
//! The page holds one [`store::Live`] in a signal: the relay's WebSocket
//! ([`socket`]) feeds it, applying deltas with the shared model's own
//! `apply_change`, and the views only read it and send actions.
//!
//! - [`api`]: the relay's HTTP API (login, who am I, the screen-pop's token exchange).
//! - [`socket`]: the WebSocket, with reconnect and backoff.
//! - [`store`]: the page's state and how relay messages change it.
//! - [`components`]: the frame: login, top bar, routes, shared helpers.
//! - [`windowing`]: long lists drawn only where they are scrolled to.
//! - [`agent`], [`supervisor`] (with [`extensions`] and [`calls`]), [`wallboard`],
//!   [`event_log`], [`console`], [`audit`], [`pop`]: the views.

pub mod agent;
pub mod api;
pub mod audit;
pub mod calls;
pub mod components;
pub mod console;
pub mod event_log;
pub mod extensions;
pub mod pop;
pub mod socket;
pub mod store;
pub mod supervisor;
pub mod wallboard;
pub mod windowing;

pub use components::App;
