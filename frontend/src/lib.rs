//! AstPanel's single-page app.
//!
//! The page holds one [`store::Live`] in a signal: the relay's WebSocket
//! ([`socket`]) feeds it, applying deltas with the shared model's own
//! `apply_change`, and the views only read it and send actions.
//!
//! Modules in layers; each imports only the layers below it, never one above, so no
//! two modules import each other:
//!
//! 1. [`i18n`] (the words in the person's language: catalogues and the language
//!    signal), [`selection`] (the extension and call picked for the keyboard
//!    shortcuts), [`format`] (how things are written for people), [`route`] (paths and the tiny
//!    router), [`api`] (the relay's HTTP API), [`windowing`] (long lists drawn only
//!    where they are scrolled to), [`store`] (what the relay sent), [`events`] (the
//!    event log's raw events).
//! 2. [`socket`]: the WebSocket, its reconnect, and its end.
//! 3. [`context`]: `Ctx`, the typed handle every view reads, which starts the socket
//!    and the clock and stops them when its owner goes.
//! 4. [`parts`]: what several views draw (queue cards, the extension grid, the call list),
//!    and the keyboard shortcuts.
//! 5. [`views`]: one per route; a view never imports another view.
//! 6. [`app`]: the frame on top: login, top bar, routes.

pub mod api;
pub mod app;
pub mod context;
pub mod events;
pub mod format;
pub mod i18n;
pub mod parts;
pub mod route;
pub mod selection;
pub mod socket;
pub mod store;
pub mod views;
pub mod windowing;

pub use app::App;
