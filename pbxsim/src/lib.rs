//! pbxsim: a simulated Asterisk 22 that speaks real AMI over TCP.
//!
//! It is the embedded PBX behind `astpanel --demo`, the peer of the relay's tests and the
//! load generator of its benchmarks. Its value is its fidelity to the recordings in
//! `../shared/fixtures/asterisk/`: same banner, same header order, same refusal texts, same
//! event sequences per scenario. It uses `shared::ami` for the message model and parser, and
//! never the relay's client code, so a bug there is not mirrored here.
//!
//! Code map:
//! - [`server`]: [`serve`], the accept loop, the traffic driver, the event fan-out.
//! - `state`: what the driver and the sessions share (the PBX behind one mutex, the fan-out).
//! - `session`: one client connection (banner, reads, writes, slow-client drop).
//! - `client`: what one session asked for (user, event mask, filters, the `Filter` rules of
//!   `shared::ami::filter`).
//! - `actions`: every AMI action, one module per family, privilege checks and Asterisk's texts.
//! - `listcommands`: the action table of `ListCommands` with privileges.
//! - [`pbx`]: the call model and the events each scenario emits, on a virtual clock
//!   (`scenario`, `chain`, `queue`, `park`, `control` inside).
//! - [`model`]: channels, bridges, queues, members, parked calls.
//! - [`directory`]: phones with hints, presence, mailboxes, agents and queues (recorded or call centre).
//! - [`traffic`]: the seeded call generator (demo pace up to load mode).
//! - [`load`]: the load-mode driver and its `UserEvent: LoadStamp` send-time stamps.
//! - [`config`]: [`SimConfig`], users and traffic profiles, `manager.conf`-style files.
//! - [`bench`]: load measurement with one local client (`pbxsim --load --measure N`).
//! - privilege classes (`read=`/`write=`) are `shared::ami::Classes`.
//! - [`fault`]: [`Faults`], switches for failure tests; [`stats`]: [`Stats`], counters tests read.
//! - `clock`: date formats of the recordings.
//! - [`tls`]: AMI over TLS (port 5039 in Asterisk) from PEM files.

mod actions;
pub mod bench;
mod client;
mod clock;
pub mod config;
pub mod directory;
pub mod fault;
mod listcommands;
pub mod load;
pub mod model;
pub mod pbx;
pub mod server;
mod session;
mod state;
pub mod stats;
pub mod tls;
pub mod traffic;

pub use config::{SimConfig, Traffic, User};
pub use directory::Directory;
pub use fault::Faults;
pub use pbx::VOICEMAIL_CONTEXT;
pub use server::{SimError, serve};
pub use stats::Stats;
