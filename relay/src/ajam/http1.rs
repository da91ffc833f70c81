//! A small HTTP/1.1 listener for the AJAM endpoints alone, so that the header lines are
//! Asterisk's own (`Content-type` spelled so, `Server` then `Date` first): hyper writes
//! its own casing and order, and some AJAM clients compare header text.
//!
//! Requests are parsed by `httparse`. The limits are Asterisk's: 4096 bytes a line,
//! 100 headers, 40960 bytes of body; a malformed `Content-Length` is a 400 and closes
//! the connection, as in Asterisk, and so does every wait that runs out.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::{Legacy, MAX_BODY, Method, Reply, Request};
use crate::net::access::{Accepted, Gate, accept};

/// Asterisk's line buffer: a line, its LF included, must fit in one byte less.
const MAX_LINE: usize = 4096;
/// Asterisk's most headers in a request.
const MAX_HEADERS: usize = 100;
/// How long the first request may take to arrive, and a kept-alive connection may idle.
const FIRST_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a client may take to send its body or read the answer.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves AJAM on `listener` until `closing` fires; `max_connections` at once (more
/// wait in the kernel's backlog).
pub async fn serve(
    listener: TcpListener,
    legacy: Arc<Legacy>,
    gate: Arc<Gate>,
    max_connections: usize,
    closing: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(max_connections.max(1)));
    while let Some(accepted) = accept(&listener, &gate, &slots, &closing, "AJAM").await {
        let Accepted { stream, peer, held } = accepted;
        let legacy = legacy.clone();
        let closing = closing.clone();
        tokio::spawn(async move {
            let _held = held;
            tokio::select! {
                () = connection(stream, peer.ip(), &legacy) => {}
                () = closing.cancelled() => {}
            }
        });
    }
}

/// What reading one request gave.
enum Read {
    Request(Request, bool),
    /// The client went away or idled out between requests: nothing to answer.
    Gone,
    /// A request that cannot be served: answer this and close.
    Refuse(Reply),
}

async fn connection(mut stream: TcpStream, client: IpAddr, legacy: &Legacy) {
    let mut buffer = BytesMut::with_capacity(4096);
    let mut first = true;
    loop {
        let wait = if first {
            FIRST_REQUEST_TIMEOUT
        } else {
            KEEP_ALIVE_TIMEOUT
        };
        first = false;
        let (reply, head) = match read_request(&mut stream, &mut buffer, wait, legacy, client).await
        {
            Read::Gone => return,
            Read::Refuse(reply) => (reply, false),
            Read::Request(request, close) => {
                let head = request.method == Method::Head;
                let mut reply = legacy.handle(request).await;
                reply.close |= close;
                (reply, head)
            }
        };
        let bytes = encode(&reply, &legacy.config.server_name, head);
        let written = tokio::time::timeout(TRANSFER_TIMEOUT, stream.write_all(&bytes)).await;
        if !matches!(written, Ok(Ok(()))) || reply.close {
            let _ = stream.shutdown().await;
            return;
        }
    }
}

async fn read_request(
    stream: &mut TcpStream,
    buffer: &mut BytesMut,
    wait: Duration,
    legacy: &Legacy,
    client: IpAddr,
) -> Read {
    let name = &legacy.config.server_name;
    let bad = |text: &str| Read::Refuse(Reply::refused(400, "Bad Request", text, name));
    let deadline = tokio::time::Instant::now() + wait;
    // The head: read until httparse has all of it, within the line limits.
    let head = loop {
        match parse_head(buffer, name) {
            Parsed::Head(head) => break head,
            Parsed::Refuse(reply) => return Read::Refuse(reply),
            Parsed::Partial => {}
        }
        let had = buffer.len();
        match tokio::time::timeout_at(deadline, stream.read_buf(buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Read::Gone,
            Ok(Ok(_)) => {}
            // Nothing at all of a next request: a kept-alive connection just idled out.
            Err(_) if had == 0 => return Read::Gone,
            Err(_) => return bad("Timeout"),
        }
    };
    let Head {
        method,
        path,
        query,
        cookie,
        if_none_match,
        close,
        head_len,
        body_len,
    } = head;
    if body_len > MAX_BODY {
        return Read::Refuse(Reply::refused(
            413,
            "Request Entity Too Large",
            "Body too large",
            name,
        ));
    }
    let _ = buffer.split_to(head_len);
    let deadline = tokio::time::Instant::now() + TRANSFER_TIMEOUT;
    while buffer.len() < body_len {
        match tokio::time::timeout_at(deadline, stream.read_buf(buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Read::Gone,
            Ok(Ok(_)) => {}
            Err(_) => return bad("Timeout"),
        }
    }
    let body = buffer.split_to(body_len).freeze();
    Read::Request(
        Request {
            method,
            path,
            query,
            body,
            cookie,
            if_none_match,
            client,
        },
        close,
    )
}

/// A request head as far as AJAM needs it.
#[derive(Debug)]
pub struct Head {
    pub method: Method,
    pub path: String,
    pub query: Bytes,
    pub cookie: Option<String>,
    pub if_none_match: Option<String>,
    /// The client asked to close after this answer (or spoke HTTP/1.0).
    pub close: bool,
    /// Bytes of the head, its blank line included.
    pub head_len: usize,
    /// `Content-Length`, not yet checked against the body limit.
    pub body_len: usize,
}

/// What the bytes read so far make of a request head.
#[derive(Debug)]
pub enum Parsed {
    Head(Head),
    /// More bytes are needed.
    Partial,
    /// Answer this and close.
    Refuse(Reply),
}

/// Parses the head at the start of `buffer` (the fuzz target's way in, too): every
/// malformed or oversized head is a refusal with Asterisk's words, never a panic.
pub fn parse_head(buffer: &[u8], server_name: &str) -> Parsed {
    let bad = |text: &str| Parsed::Refuse(Reply::refused(400, "Bad Request", text, server_name));
    if let Some(problem) = overlong_line(buffer) {
        return bad(problem);
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    match parsed.parse(buffer) {
        Ok(httparse::Status::Complete(head_len)) => {
            let target = parsed.path.unwrap_or("/");
            let (path, query) = target.split_once('?').unwrap_or((target, ""));
            let header = |key: &str| {
                parsed
                    .headers
                    .iter()
                    .rev()
                    .find(|h| h.name.eq_ignore_ascii_case(key))
                    .map(|h| String::from_utf8_lossy(h.value).trim().to_owned())
            };
            let encoding = header("Transfer-Encoding");
            if encoding.is_some_and(|e| !e.eq_ignore_ascii_case("identity")) {
                return Parsed::Refuse(Reply::refused(
                    501,
                    "Unimplemented",
                    "Unsupported Transfer-Encoding.",
                    server_name,
                ));
            }
            let lengths: Vec<&[u8]> = parsed
                .headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case("Content-Length"))
                .map(|h| h.value)
                .collect();
            let Some(body_len) = content_length(&lengths) else {
                return bad("Invalid Content-Length in request!");
            };
            let close = header("Connection").is_some_and(|c| c.eq_ignore_ascii_case("close"))
                || parsed.version == Some(0);
            Parsed::Head(Head {
                method: Method::parse(parsed.method.unwrap_or("")),
                path: path.to_owned(),
                query: Bytes::copy_from_slice(query.as_bytes()),
                cookie: header("Cookie"),
                if_none_match: header("If-None-Match"),
                close,
                head_len,
                body_len,
            })
        }
        Ok(httparse::Status::Partial) => Parsed::Partial,
        Err(httparse::Error::TooManyHeaders) => Parsed::Refuse(Reply::refused(
            413,
            "Request Entity Too Large",
            "Too many headers",
            server_name,
        )),
        Err(_) => bad("Invalid Request"),
    }
}

/// `Some(why)` when a line of the head read so far is past Asterisk's limit.
fn overlong_line(buffer: &[u8]) -> Option<&'static str> {
    let head_end = buffer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(buffer.len(), |p| p + 2);
    let mut lines = buffer[..head_end].split(|&b| b == b'\n');
    // `line` is without its LF.
    let too_long = |line: &[u8]| line.len() + 1 >= MAX_LINE;
    if lines.next().is_some_and(too_long) {
        return Some("Request line too long");
    }
    lines.any(too_long).then_some("Header line too long")
}

/// The body length: none means 0; several must agree; anything but digits is refused.
fn content_length(values: &[&[u8]]) -> Option<usize> {
    let mut length = None;
    for value in values {
        let text = std::str::from_utf8(value).ok()?.trim();
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: usize = text.parse().ok()?;
        if length.is_some_and(|l| l != n) {
            return None;
        }
        length = Some(n);
    }
    Some(length.unwrap_or(0))
}

/// The bytes of an answer, laid out as Asterisk's `ast_http_send` lays them out.
pub fn encode(reply: &Reply, server_name: &str, head: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(reply.body.len() + 256);
    out.extend_from_slice(format!("HTTP/1.1 {} {}\r\n", reply.status, reply.reason).as_bytes());
    if !server_name.is_empty() {
        out.extend_from_slice(format!("Server: {server_name}\r\n").as_bytes());
    }
    out.extend_from_slice(
        format!("Date: {}\r\n", httpdate::fmt_http_date(SystemTime::now())).as_bytes(),
    );
    if reply.close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    if reply.no_cache {
        out.extend_from_slice(b"Cache-Control: no-cache, no-store\r\n");
    }
    for (name, value) in &reply.headers {
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", reply.body.len()).as_bytes());
    // A HEAD gets the length but no body, except on errors (as Asterisk does).
    if !head || reply.status >= 400 {
        out.extend_from_slice(&reply.body);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_must_be_digits_and_agree() {
        assert_eq!(content_length(&[]), Some(0));
        assert_eq!(content_length(&[b"12"]), Some(12));
        assert_eq!(content_length(&[b" 12 "]), Some(12));
        assert_eq!(content_length(&[b"12", b"12"]), Some(12));
        for bad in [
            &b"-1"[..],
            b"+5",
            b"1e3",
            b"",
            b"0x10",
            b"99999999999999999999999",
        ] {
            assert_eq!(
                content_length(&[bad]),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(content_length(&[b"12", b"13"]), None);
    }

    #[test]
    fn lines_at_the_limit_pass_and_past_it_are_refused() {
        let line = |n: usize| {
            let mut request = b"GET /".to_vec();
            request.resize(n - 2, b'a');
            request.extend_from_slice(b"\r\n\r\n");
            request
        };
        // line(n) is n bytes with its CRLF.
        assert_eq!(overlong_line(&line(MAX_LINE - 2)), None);
        assert_eq!(overlong_line(&line(MAX_LINE - 1)), None);
        assert_eq!(
            overlong_line(&line(MAX_LINE)),
            Some("Request line too long")
        );
        let mut header = b"GET / HTTP/1.1\r\nX: ".to_vec();
        header.resize(16 + MAX_LINE, b'b');
        assert_eq!(overlong_line(&header), Some("Header line too long"));
    }
}
