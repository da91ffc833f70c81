//! One AMI message: an ordered list of `Key: Value` headers over a single shared buffer.

use std::borrow::Cow;
use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

/// What a message is, judged by its first `Response`, `Event` or `Action` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// A reply to an action (`Response: Success`, `Error`, `Goodbye`, ...).
    Response,
    /// An unsolicited or list event (`Event: ...`).
    Event,
    /// A request from a client (`Action: ...`).
    Action,
    /// The legacy `Response: Follows` command output, its lines in `Output` headers.
    CommandOutput,
    /// None of the above headers is present.
    Unknown,
}

/// Marks a header whose key is the implied `Output` of a legacy command output line,
/// which has no key bytes in the buffer.
const IMPLIED_OUTPUT: u32 = u32::MAX;

/// Byte ranges of one header inside [`Message::buf`].
///
/// `u32` offsets keep a header at 16 bytes, which matters when millions of
/// events a second are parsed; the parser caps messages far below 4 GiB.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Span {
    pub(crate) key_start: u32,
    pub(crate) key_end: u32,
    pub(crate) value_start: u32,
    pub(crate) value_end: u32,
}

/// Bytes of one encoded [`Span`].
const SPAN_LEN: usize = 16;

/// Room reserved at a time in a span table, so that messages share allocations.
const SPAN_BLOCK: usize = 16 * 1024;

impl Span {
    fn encode(self) -> [u8; SPAN_LEN] {
        let mut out = [0; SPAN_LEN];
        out[0..4].copy_from_slice(&self.key_start.to_ne_bytes());
        out[4..8].copy_from_slice(&self.key_end.to_ne_bytes());
        out[8..12].copy_from_slice(&self.value_start.to_ne_bytes());
        out[12..16].copy_from_slice(&self.value_end.to_ne_bytes());
        out
    }

    fn decode(raw: &[u8; SPAN_LEN]) -> Self {
        Span {
            key_start: u32::from_ne_bytes([raw[0], raw[1], raw[2], raw[3]]),
            key_end: u32::from_ne_bytes([raw[4], raw[5], raw[6], raw[7]]),
            value_start: u32::from_ne_bytes([raw[8], raw[9], raw[10], raw[11]]),
            value_end: u32::from_ne_bytes([raw[12], raw[13], raw[14], raw[15]]),
        }
    }

    /// A `Key: Value` header; `None` if an offset does not fit (see [`offset`]).
    pub(crate) fn header(
        key_start: usize,
        key_end: usize,
        value_start: usize,
        value_end: usize,
    ) -> Option<Self> {
        Some(Span {
            key_start: offset(key_start)?,
            key_end: offset(key_end)?,
            value_start: offset(value_start)?,
            value_end: offset(value_end)?,
        })
    }

    /// A legacy command output line, whose value is `start..end` and whose key is
    /// `Output`; `None` if an offset does not fit.
    pub(crate) fn output(start: usize, end: usize) -> Option<Self> {
        Some(Span {
            key_start: IMPLIED_OUTPUT,
            key_end: IMPLIED_OUTPUT,
            value_start: offset(start)?,
            value_end: offset(end)?,
        })
    }
}

/// The header table of the message being parsed, packed [`Span`]s in a buffer that
/// successive messages split off and share, so a parsed message costs no allocation
/// of its own: one block serves about a thousand headers.
#[derive(Debug, Default)]
pub(crate) struct SpanTable {
    bytes: BytesMut,
}

impl SpanTable {
    pub(crate) fn push(&mut self, span: Span) {
        if self.bytes.capacity() - self.bytes.len() < SPAN_LEN {
            self.bytes.reserve(SPAN_BLOCK);
        }
        self.bytes.extend_from_slice(&span.encode());
    }

    pub(crate) fn len(&self) -> usize {
        self.bytes.len() / SPAN_LEN
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub(crate) fn clear(&mut self) {
        self.bytes.clear();
    }

    /// Hands the headers pushed so far to a message and starts an empty table.
    pub(crate) fn take(&mut self) -> Bytes {
        self.bytes.split().freeze()
    }
}

/// The largest message [`Message::try_push`] builds: offsets are `u32`, and
/// `u32::MAX` marks an implied `Output` key.
pub const MAX_BUILT_LEN: usize = IMPLIED_OUTPUT as usize - 1;

/// Narrows a buffer offset; `None` past [`MAX_BUILT_LEN`].
fn offset(at: usize) -> Option<u32> {
    u32::try_from(at).ok().filter(|&at| at < IMPLIED_OUTPUT)
}

/// A header did not fit: the message would have grown past [`MAX_BUILT_LEN`] bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("AMI message would grow to {len} bytes, past the {MAX_BUILT_LEN}-byte limit")]
pub struct MessageTooLarge {
    /// The size the message would have had with the header.
    pub len: usize,
}

/// One AMI message: ordered `Key: Value` headers; keys compared ASCII-case-insensitively;
/// repeated keys kept in order (`Variable`, `ChanVariable`, `Output`); values are raw bytes
/// (may be non-UTF-8).
///
/// A parsed message keeps the frame it came from as one [`Bytes`] and its headers as
/// offsets into it, themselves in a [`Bytes`] shared with neighbouring messages: parsing
/// allocates nothing per message or per header, and cloning is two reference counts.
/// The flip side: a message kept for long keeps its read buffer (up to 64 KiB in the
/// relay) alive; copy out the fields you keep.
#[derive(Clone, Default)]
pub struct Message {
    buf: Bytes,
    /// Packed [`Span`]s, `SPAN_LEN` bytes each.
    spans: Bytes,
}

impl Message {
    /// An empty message, to be filled with [`Message::with`] or [`Message::push`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Wraps a frame the parser has already split into headers.
    pub(crate) fn from_parts(buf: Bytes, spans: Bytes) -> Self {
        Message { buf, spans }
    }

    fn spans(&self) -> impl Iterator<Item = Span> + '_ {
        self.spans
            .as_chunks::<SPAN_LEN>()
            .0
            .iter()
            .map(Span::decode)
    }

    /// Appends a header, builder style.
    #[must_use]
    pub fn with(mut self, key: &str, value: impl AsRef<[u8]>) -> Self {
        self.push(key, value);
        self
    }

    /// Appends a header.
    ///
    /// A CR or LF in the key or value would end the line early and let a caller inject
    /// headers (or a whole action) into the stream, so each is written as a space; a `:`
    /// in the key would move the split point, so it is written as `_`.
    ///
    /// A header that would take the message past [`MAX_BUILT_LEN`] (4 GiB) is left out,
    /// the message unchanged; [`Message::try_push`] says so instead.
    pub fn push(&mut self, key: &str, value: impl AsRef<[u8]>) {
        // Leaving it out is the documented behaviour; no AMI peer would take 4 GiB anyway.
        let _ = self.try_push(key, value);
    }

    /// [`Message::push`], refusing a header that would take the message past
    /// [`MAX_BUILT_LEN`] bytes; the message is unchanged then.
    ///
    /// Each push turns the shared buffers back into growable ones and freezes them
    /// again, which costs allocations: build a message of many headers with a
    /// [`MessageBuilder`] instead.
    pub fn try_push(&mut self, key: &str, value: impl AsRef<[u8]>) -> Result<(), MessageTooLarge> {
        let mut builder = MessageBuilder::from(std::mem::take(self));
        let pushed = builder.try_push(key, value);
        *self = builder.build();
        pushed
    }

    fn key_of(&self, span: Span) -> &[u8] {
        if span.key_start == IMPLIED_OUTPUT {
            b"Output"
        } else {
            &self.buf[span.key_start as usize..span.key_end as usize]
        }
    }

    fn value_of(&self, span: Span) -> &[u8] {
        &self.buf[span.value_start as usize..span.value_end as usize]
    }

    /// The value of the first header named `key` (ASCII case-insensitive).
    pub fn get(&self, key: &str) -> Option<&[u8]> {
        let key = key.as_bytes();
        self.spans()
            .find(|&span| self.key_of(span).eq_ignore_ascii_case(key))
            .map(|span| self.value_of(span))
    }

    /// [`Message::get`] decoded lossily, for display and logs; the bytes stay untouched.
    pub fn get_str(&self, key: &str) -> Option<Cow<'_, str>> {
        self.get(key).map(String::from_utf8_lossy)
    }

    /// Every value of the headers named `key`, in wire order.
    pub fn get_all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        let key = key.as_bytes();
        self.spans()
            .filter(move |&span| self.key_of(span).eq_ignore_ascii_case(key))
            .map(|span| self.value_of(span))
    }

    /// All `(key, value)` pairs in wire order.
    pub fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.spans()
            .map(|span| (self.key_of(span), self.value_of(span)))
    }

    /// A copy without the headers named `key` (ASCII case-insensitive), the others in
    /// order: a relay hides the `ActionID` it added from a client that sent none.
    #[must_use]
    pub fn without(&self, key: &str) -> Message {
        let mut out = Message::new();
        for (name, value) in self.headers() {
            if !name.eq_ignore_ascii_case(key.as_bytes()) {
                out.push(&String::from_utf8_lossy(name), value);
            }
        }
        out
    }

    /// The number of headers.
    pub fn len(&self) -> usize {
        self.spans.len() / SPAN_LEN
    }

    /// True when the message has no header at all.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Classifies by the first `Response`, `Event` or `Action` header, so a builder that
    /// puts `ActionID` first still yields an action.
    pub fn kind(&self) -> MessageKind {
        for (key, value) in self.headers() {
            if key.eq_ignore_ascii_case(b"Response") {
                return if value.eq_ignore_ascii_case(b"Follows") {
                    MessageKind::CommandOutput
                } else {
                    MessageKind::Response
                };
            }
            if key.eq_ignore_ascii_case(b"Event") {
                return MessageKind::Event;
            }
            if key.eq_ignore_ascii_case(b"Action") {
                return MessageKind::Action;
            }
        }
        MessageKind::Unknown
    }

    /// The `ActionID` header, which ties responses and list events to their action.
    pub fn action_id(&self) -> Option<&[u8]> {
        self.get("ActionID")
    }

    /// The value of `Event:`.
    pub fn event_name(&self) -> Option<&[u8]> {
        self.get("Event")
    }

    /// Writes the wire form: `Key: Value\r\n` per header, then `\r\n`.
    ///
    /// A [`MessageKind::CommandOutput`] message is written the way old Asterisks wrote
    /// it (headers, raw `Output` lines, `--END COMMAND--`), so that parsing it back gives
    /// the same message.
    pub fn write_to(&self, out: &mut impl BufMut) {
        let legacy = self.kind() == MessageKind::CommandOutput;
        for (key, value) in self.headers() {
            if legacy && key.eq_ignore_ascii_case(b"Output") {
                continue;
            }
            out.put_slice(key);
            out.put_slice(b": ");
            out.put_slice(value);
            out.put_slice(b"\r\n");
        }
        if legacy {
            for line in self.get_all("Output") {
                out.put_slice(line);
                out.put_slice(b"\n");
            }
            out.put_slice(b"--END COMMAND--\r\n");
        }
        out.put_slice(b"\r\n");
    }

    /// The wire form as one buffer (see [`Message::write_to`]).
    pub fn to_bytes(&self) -> Bytes {
        let size: usize = self
            .spans()
            .map(|span| (span.value_end - span.value_start) as usize + 16)
            .sum();
        let mut out = BytesMut::with_capacity(size + 2);
        self.write_to(&mut out);
        out.freeze()
    }
}

/// Builds a [`Message`] header by header in growable buffers, frozen once by
/// [`MessageBuilder::build`]: what a load generator making hundreds of thousands of
/// events a second needs, as [`Message::push`] pays a few allocations per header.
#[derive(Debug, Default)]
pub struct MessageBuilder {
    buf: BytesMut,
    /// Packed [`Span`]s, `SPAN_LEN` bytes each.
    spans: BytesMut,
}

impl MessageBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty builder with room for `bytes` of keys and values in `headers` headers,
    /// so that building a message of about that size never grows a buffer.
    pub fn with_capacity(bytes: usize, headers: usize) -> Self {
        MessageBuilder {
            buf: BytesMut::with_capacity(bytes),
            spans: BytesMut::with_capacity(headers.saturating_mul(SPAN_LEN)),
        }
    }

    /// Appends a header, builder style; see [`Message::push`].
    #[must_use]
    pub fn with(mut self, key: &str, value: impl AsRef<[u8]>) -> Self {
        self.push(key, value);
        self
    }

    /// Appends a header, as [`Message::push`] does: CR and LF are written as spaces, a
    /// `:` in the key as `_`, and a header past [`MAX_BUILT_LEN`] is left out.
    pub fn push(&mut self, key: &str, value: impl AsRef<[u8]>) {
        // Leaving it out is the documented behaviour; no AMI peer would take 4 GiB anyway.
        let _ = self.try_push(key, value);
    }

    /// [`MessageBuilder::push`], refusing a header that would take the message past
    /// [`MAX_BUILT_LEN`] bytes; the builder is unchanged then.
    pub fn try_push(&mut self, key: &str, value: impl AsRef<[u8]>) -> Result<(), MessageTooLarge> {
        let value = value.as_ref();
        let key_start = self.buf.len();
        let key_end = key_start.saturating_add(key.len());
        let value_end = key_end.saturating_add(value.len());
        let span = Span::header(key_start, key_end, key_end, value_end)
            .ok_or(MessageTooLarge { len: value_end })?;
        self.buf.reserve(key.len() + value.len());
        // Almost every key and value is clean: copy those whole.
        if memchr::memchr3(b'\r', b'\n', b':', key.as_bytes()).is_none() {
            self.buf.extend_from_slice(key.as_bytes());
        } else {
            self.buf.extend(key.bytes().map(|b| match b {
                b'\r' | b'\n' => b' ',
                b':' => b'_',
                other => other,
            }));
        }
        if memchr::memchr2(b'\r', b'\n', value).is_none() {
            self.buf.extend_from_slice(value);
        } else {
            self.buf.extend(value.iter().map(|&b| match b {
                b'\r' | b'\n' => b' ',
                other => other,
            }));
        }
        self.spans.extend_from_slice(&span.encode());
        Ok(())
    }

    /// The message, its buffers frozen as they are.
    pub fn build(self) -> Message {
        Message::from_parts(self.buf.freeze(), self.spans.freeze())
    }
}

/// Goes on building a message: its buffers are taken over when nothing else holds them
/// (a message just built), copied otherwise (a parsed one, or one with clones).
impl From<Message> for MessageBuilder {
    fn from(message: Message) -> Self {
        let unique = |bytes: Bytes| match bytes.try_into_mut() {
            Ok(unique) => unique,
            Err(shared) => BytesMut::from(&shared[..]),
        };
        MessageBuilder {
            buf: unique(message.buf),
            spans: unique(message.spans),
        }
    }
}

/// Equal when the headers are equal in order, byte for byte; how the bytes were laid
/// out (parsed with CRLF or bare LF, or built) does not matter.
impl PartialEq for Message {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.headers().eq(other.headers())
    }
}

impl Eq for Message {}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(
                self.headers()
                    .map(|(k, v)| (String::from_utf8_lossy(k), String::from_utf8_lossy(v))),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_ignore_case_and_keep_repeats_in_order() {
        let msg = Message::new()
            .with("Event", "VarSet")
            .with("Variable", "A=1")
            .with("variable", "B=2");
        assert_eq!(msg.get("EVENT"), Some(&b"VarSet"[..]));
        assert_eq!(
            msg.get_all("Variable").collect::<Vec<_>>(),
            [b"A=1", b"B=2"]
        );
        assert_eq!(msg.event_name(), Some(&b"VarSet"[..]));
        assert_eq!(msg.action_id(), None);
        assert_eq!(msg.len(), 3);
        assert!(!msg.is_empty());
    }

    #[test]
    fn kind_follows_the_first_type_header() {
        let kind = |m: Message| m.kind();
        assert_eq!(
            kind(Message::new().with("Response", "Success")),
            MessageKind::Response
        );
        assert_eq!(
            kind(Message::new().with("Response", "follows")),
            MessageKind::CommandOutput
        );
        assert_eq!(
            kind(Message::new().with("Event", "Hangup")),
            MessageKind::Event
        );
        assert_eq!(
            kind(Message::new().with("ActionID", "1").with("Action", "Ping")),
            MessageKind::Action
        );
        assert_eq!(
            kind(Message::new().with("Foo", "bar")),
            MessageKind::Unknown
        );
    }

    #[test]
    fn serializes_with_crlf_and_a_blank_line() {
        let msg = Message::new().with("Action", "Ping").with("ActionID", "");
        assert_eq!(&msg.to_bytes()[..], b"Action: Ping\r\nActionID: \r\n\r\n");
    }

    #[test]
    fn line_breaks_cannot_inject_headers() {
        let msg = Message::new().with("Call:er\r\n", "x\r\nAction: Hangup");
        assert_eq!(&msg.to_bytes()[..], b"Call_er  : x  Action: Hangup\r\n\r\n");
    }

    #[test]
    fn non_utf8_values_keep_their_bytes() {
        let msg = Message::new().with("CallerIDName", [0xff, b'a']);
        assert_eq!(msg.get("callerIDname"), Some(&[0xff, b'a'][..]));
        assert_eq!(msg.get_str("CallerIDName").as_deref(), Some("\u{fffd}a"));
    }

    #[test]
    fn legacy_command_output_is_written_the_old_way() {
        let msg = Message::new()
            .with("Response", "Follows")
            .with("Privilege", "Command")
            .with("Output", "line one")
            .with("Output", "");
        assert_eq!(
            &msg.to_bytes()[..],
            b"Response: Follows\r\nPrivilege: Command\r\nline one\n\n--END COMMAND--\r\n\r\n"
        );
    }

    // On 32-bit targets (wasm32) no offset can pass u32, and `top + 2` would not even compile.
    #[cfg(target_pointer_width = "64")]
    #[test]
    fn offsets_past_u32_are_refused_not_panicked_on() {
        let top = MAX_BUILT_LEN;
        assert!(Span::header(0, 1, 1, top).is_some());
        assert!(
            Span::header(0, 1, 1, top + 1).is_none(),
            "u32::MAX is reserved"
        );
        assert!(Span::header(0, 1, 1, usize::MAX).is_none());
        assert!(Span::output(top, top + 2).is_none());
    }

    // A 4 GiB zeroed vector is only reserved address space; the refused push never touches it.
    #[cfg(target_pointer_width = "64")]
    #[test]
    fn a_header_past_4_gib_is_refused_and_the_message_kept() {
        let huge = vec![0_u8; MAX_BUILT_LEN];
        let mut msg = Message::new().with("Action", "Ping");
        assert_eq!(
            msg.try_push("Data", &huge),
            Err(MessageTooLarge {
                len: "ActionPing".len() + "Data".len() + MAX_BUILT_LEN
            })
        );
        msg.push("Data", &huge);
        assert_eq!(msg, Message::new().with("Action", "Ping"));
        assert!(msg.try_push("ActionID", "1").is_ok());
        assert_eq!(msg.len(), 2);
    }

    #[test]
    fn a_builder_makes_the_message_pushes_make() {
        let headers = [
            ("Event", &b"Newchannel"[..]),
            ("Call:er\r\n", b"x\r\nAction: Hangup"),
            ("CallerIDName", &[0xff, b'a']),
            ("Empty", b""),
        ];
        let mut pushed = Message::new();
        let mut builder = MessageBuilder::new();
        for (key, value) in headers {
            pushed.push(key, value);
            builder.push(key, value);
        }
        let built = builder.build();
        assert_eq!(built, pushed);
        assert_eq!(built.to_bytes(), pushed.to_bytes());
        // Going on from a message that is shared copies it, leaving the other alone.
        let more = MessageBuilder::from(built.clone())
            .with("More", "1")
            .build();
        assert_eq!((built.len(), more.len()), (4, 5));
        assert_eq!(more.get("more"), Some(&b"1"[..]));
    }

    #[test]
    fn clones_share_the_buffer_and_pushes_do_not_leak_into_clones() {
        let a = Message::new().with("Event", "X");
        let mut b = a.clone();
        b.push("Extra", "1");
        assert_eq!(a.len(), 1);
        assert_eq!(b.get("extra"), Some(&b"1"[..]));
    }
}
