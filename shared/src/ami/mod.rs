//! The Asterisk Manager Interface (AMI) wire format: message model, parser, serializer.
//!
//! - [`message`]: [`Message`], an ordered list of `Key: Value` headers over one
//!   shared buffer, its [`MessageKind`], and its serializer ([`Message::write_to`]).
//! - [`parse`]: [`Parser`], the incremental, bounded parser that the relay's tokio
//!   codec and pbxsim's reader both wrap.
//!
//! # The wire format
//!
//! AMI is a line protocol over TCP (port 5038). On connect the server writes one
//! greeting line, `Asterisk Call Manager/11.0.0\r\n`, with **no** blank line after it
//! (first line of `ami-session.recv.raw`; in `../shared/fixtures/asterisk/`, like all
//! files named below). After that both sides exchange messages: header lines
//! `Key: Value\r\n`, closed by an empty line `\r\n`. There are no lengths and no
//! escaping; a message ends at its first blank line. The client writes actions
//! (`Action: Ping`), the server answers with responses (`Response: Success`) and,
//! interleaved at any point, events (`Event: Newchannel`). `ActionID`, if the action
//! had one, is copied into its response and into every event of a list it started;
//! an action without `ActionID` gets a response without it (`ami-session.txt`, the
//! two Pings).
//!
//! # Quirks this parser handles, and where they can be seen
//!
//! - **Bare LF.** The `Park` response is `Message: Park successful\n\r\n\r\n`: one
//!   header line ends in a bare LF and an extra blank line follows the message
//!   (`ami-session.recv.raw`, ActionID `park-28a`). Any line may end in `\n` or
//!   `\r\n`, and blank lines between messages are skipped.
//! - **`: ` inside values.** Only the first colon splits, and only one space after it
//!   is the separator: `AppData: Local/201@test,,` and the `Output:` lines of
//!   `Command`, whose CLI columns start with spaces (`ami-session.txt`,
//!   `core show channels`).
//! - **Empty values.** `AccountCode: \r\n` (trailing space, empty value) is common in
//!   events (`ami-events-stream.txt`); `Key:\r\n` gives an empty value too.
//! - **Repeated keys.** `Output` per CLI line (`ami-listcommands.txt`,
//!   `ami-session.txt`), `ChanVariable` and `Variable` in `Status` and
//!   `Originate` (`ami-session-2.txt`); all are kept, in order.
//! - **Non-UTF-8 bytes.** Values are raw bytes; [`Message::get_str`] decodes lossily
//!   for display only.
//! - **Keys are case-insensitive** for Asterisk (`Events: off` is answered by
//!   `Events: Off`, `ami-session.txt`), so every lookup ignores ASCII case.
//! - **Legacy command output.** Asterisks before 13 answered `Command` with
//!   `Response: Follows`, `Privilege: Command`, `ActionID`, then the raw CLI text
//!   (which may hold blank lines and colons) and `--END COMMAND--\r\n\r\n`. The parser
//!   turns each raw line into an `Output` header, which is what Asterisk 22 sends
//!   natively (`Response: Success`, `Message: Command output follows`, one `Output:`
//!   per line; no `--END COMMAND--` in any recording here), so callers see one
//!   shape. Such a message has [`MessageKind::CommandOutput`].
//! - **Limits.** Asterisk itself refuses a 10240-byte header line with
//!   `Failed to parse message: line too long` (`ami-session-2.txt`); we bound a whole
//!   message (default 1 MiB, [`DEFAULT_MAX_MESSAGE_LEN`]). An oversized message or a
//!   line without a colon comes out as [`Frame::Invalid`] with a [`ParseError`] giving
//!   the stream offset, and parsing resumes after the next blank line, so the
//!   messages after it are not lost.
//! - **Split and batched reads.** A message may arrive cut at any byte and several
//!   may arrive in one read; the parser keeps its place between calls.

pub mod message;
pub mod parse;

pub use message::{Message, MessageKind};
pub use parse::{Banner, DEFAULT_MAX_MESSAGE_LEN, Frame, ParseError, Parser};
