//! The Asterisk Manager Interface (AMI) wire format: message model, parser, serializer.
//!
//! - [`message`]: [`Message`], an ordered list of `Key: Value` headers over one
//!   shared buffer, its [`MessageKind`], and its serializer ([`Message::write_to`]).
//! - [`event`]: [`Event`], the typed events the live model uses, read from a
//!   [`Message`] without copying its text.
//! - [`parse`]: [`Parser`], the incremental, bounded parser that the relay's tokio
//!   codec and pbxsim's reader both wrap.
//!
//! Every file named below is a recording of a real Asterisk 22.10.1 in
//! `../shared/fixtures/asterisk/` (relative to the repository root), and a test replays
//! each of them (`shared/tests/fixtures.rs`, `relay/tests/ami_*.rs`).
//!
//! # The wire format
//!
//! AMI is a line protocol over TCP (port 5038). On connect the server writes one
//! greeting line, `Asterisk Call Manager/11.0.0\r\n`, with **no** blank line after it
//! (first line of `ami-session.recv.raw`); [`Parser::expecting_banner`] returns it as a
//! [`Frame::Banner`]. After that both sides exchange messages: header lines
//! `Key: Value\r\n`, closed by an empty line `\r\n`. There are no lengths, no escaping
//! and no continuation lines: a message ends at its first blank line. The client writes
//! actions (`Action: Ping`); the server writes responses (`Response: Success`) and,
//! interleaved anywhere, events (`Event: Newchannel`).
//!
//! `ActionID`, if an action has one, is copied into its response (right after
//! `Response:`) and into every event of a list it started; an action without one gets
//! a response without one (`ami-session.txt`, the two Pings at the start).
//! List actions answer `EventList: start`, then the items, then a `...Complete` event
//! with `EventList: Complete` and `ListItems: N` (`ami-session.txt`, `QueueStatus`,
//! `CoreShowChannels`). An `Async: true` Originate is answered `Originate successfully
//! queued` at once and its `OriginateResponse` event comes later with the same
//! ActionID, sent to **every** session that may read `call` (`ami-events-stream-viewer.txt`
//! holds all 37 of them). A failed Login answers `Authentication failed` after 1 s and
//! the server hangs up; an action before Login gets `Permission denied`
//! (`ami-badlogin.txt`, `ami-permissions.txt`). These are the relay session's business
//! (`relay::ami`); this module only frames and models the messages.
//!
//! # Quirks this parser handles, and where they can be seen
//!
//! - **Bare LF.** The `Park` response is `Message: Park successful\n\r\n\r\n`: one
//!   header line ends in a bare LF, and an extra blank line follows the message
//!   (`ami-session.recv.raw`, ActionID `park-28a`). Any line may end in `\n` or
//!   `\r\n`, and blank lines between messages are skipped.
//! - **`: ` inside values.** Only the first colon splits: `Message: Unable to add
//!   interface: Already there` (the second QueueAdd) and `RequestType: Action:
//!   NoSuchAction` (the `RequestBadFormat` event), both in `ami-session.txt`.
//! - **Significant spaces.** Exactly one space after the colon belongs to the
//!   separator; more belong to the value. `Command` output keeps the CLI's indentation
//!   and column padding: `Output:    Members: ` (`queue show support` in `ami-session.txt`).
//! - **Empty values.** `AccountCode: \r\n` (a trailing space, then nothing) is in
//!   almost every channel event (`ami-events-stream.txt`); `Key:\r\n` is empty too.
//! - **Repeated keys.** One `Output` per CLI line (`ami-session.txt`, `core show
//!   channels`); one `Variable` per channel variable in `Status` with `Variables:` or
//!   `AllVariables: true` (`ami-session-2.txt`). All are kept, in order:
//!   [`Message::get_all`].
//! - **Case.** Asterisk matches keys without regard to case, so every lookup here
//!   ignores ASCII case; values keep theirs (`Events: off` is answered by
//!   `Events: Off`, `ami-session.txt`).
//! - **Non-UTF-8 bytes.** Values are bytes: caller ID names come from phones and trunks
//!   in whatever encoding they use. None of the recordings happens to contain such a
//!   byte, so the tests build one; [`Message::get_str`] decodes lossily, for display only.
//! - **Legacy command output.** Asterisks before 13 answered `Command` with
//!   `Response: Follows`, `Privilege: Command`, `ActionID`, then the raw CLI text
//!   (blank lines and colons included) and `--END COMMAND--\r\n\r\n`. The parser turns
//!   each raw line into an `Output` header, which is what Asterisk 22 sends natively
//!   (`Response: Success`, `Message: Command output follows`, one `Output:` per line; no
//!   `--END COMMAND--` anywhere in the recordings), so callers see one shape. Such a
//!   message has [`MessageKind::CommandOutput`], and [`Message::write_to`] writes it
//!   back in the old form.
//! - **Limits.** Asterisk itself refuses a 10240-byte header line with `Failed to parse
//!   message: line too long`, a response without ActionID (`ami-session-2.txt`). Here a
//!   whole message is bounded (default 1 MiB, [`DEFAULT_MAX_MESSAGE_LEN`]). An
//!   oversized message, or a line without a colon, comes out as [`Frame::Invalid`] with
//!   a [`ParseError`] giving the stream offset; parsing resumes after the next blank
//!   line, so the messages after it are not lost, and the dropped bytes are never
//!   buffered. A message built with [`Message::push`] stops at [`MAX_BUILT_LEN`]
//!   (4 GiB, its offsets are `u32`): a header past it is left out, and
//!   [`Message::try_push`] reports it as [`MessageTooLarge`]; nothing here panics.
//! - **Split and batched reads.** A message may arrive cut at any byte and many may
//!   arrive in one read; the parser keeps its place between calls and never rescans a
//!   complete line.
//!
//! # Speed
//!
//! A parsed [`Message`] is the frame's bytes (split off the read buffer without a copy)
//! plus a table of `u32` offsets that neighbouring messages share, so parsing allocates
//! nothing per message; lines are found eight bytes at a time. `cargo bench -p shared
//! --bench parse` measures it on `ami-events-stream.txt`.

pub mod class;
pub mod event;
pub mod filter;
pub mod message;
pub mod parse;
pub mod value;

pub use class::Classes;
pub use event::{Event, EventError};
pub use message::{MAX_BUILT_LEN, Message, MessageBuilder, MessageKind, MessageTooLarge};
pub use parse::{Banner, DEFAULT_MAX_MESSAGE_LEN, Frame, ParseError, Parser};
pub use value::{is_true, md5_key};
