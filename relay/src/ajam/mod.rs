//! Asterisk's AJAM endpoints (`/asterisk/manager`, `/rawman`, `/mxml`, `/httpstatus`,
//! `/static/`), answered byte for byte as Asterisk 22 answers them, from the relay's
//! own AMI sessions.
//!
//! - A `Login` goes through [`Service`], so an AJAM user and a panel user of one
//!   account share one AMI session; other actions run on it, with Asterisk's
//!   permissions and the relay's shell guards.
//! - `WaitEvent` is answered here, from the server's unfiltered raw feed (a session
//!   of its own while any AJAM session lives, see `live::RawFeed`), filtered by the
//!   account's read classes as Asterisk filters them, out of a bounded queue per HTTP
//!   session ([`sessions`]); `Ping` is answered here too: polling costs Asterisk nothing.
//! - [`render`] writes the three formats and the pages; [`http1`] is a listener that
//!   writes Asterisk's exact header lines (`Content-type`, in its order), which hyper
//!   cannot; the same answers are also mounted on the panel's own router.

pub mod http1;
pub mod render;
pub mod sessions;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::path::{Component, Path};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use shared::ami::{Classes, Message};
use shared::protocol::AuditVia;

use crate::service::{AmiOutcome, Caller, LoginError, Service};
use render::Format;
use sessions::{HttpSession, Sessions};

/// Asterisk's limit on a request body.
pub const MAX_BODY: usize = 40960;

/// The AJAM endpoints (`[legacy]`), as Asterisk's http.conf and manager.conf set them.
#[derive(Clone, Debug)]
pub struct AjamConfig {
    /// Serve them at all.
    pub enabled: bool,
    /// Asterisk's `prefix`, with its leading slash: `/asterisk`.
    pub prefix: String,
    /// Asterisk's `httptimeout`: a session ends this long after its last request.
    pub http_timeout: Duration,
    /// The `Server:` header and the name on the pages (Asterisk's `servername`).
    pub server_name: String,
    /// A listener of its own that writes Asterisk's exact header lines (as port 8088
    /// does); the panel's own listener serves the endpoints too.
    pub listen: Option<SocketAddr>,
    /// Asterisk's `enablestatic`: files served under `<prefix>/static/`.
    pub static_dir: Option<PathBuf>,
    /// Events one HTTP session may hold for WaitEvent; past it the oldest go.
    pub event_queue: usize,
    /// Logged-in AJAM sessions the relay keeps at once.
    pub max_sessions: usize,
    /// Connections the AJAM listener serves at once.
    pub max_connections: usize,
    /// The server an AJAM Login goes to when it names none (`Server:`): the first.
    pub server: Option<String>,
}

impl Default for AjamConfig {
    fn default() -> Self {
        AjamConfig {
            enabled: true,
            prefix: "/asterisk".into(),
            http_timeout: Duration::from_secs(60),
            server_name: concat!("AstPanel/", env!("CARGO_PKG_VERSION")).into(),
            listen: None,
            static_dir: None,
            event_queue: 10_000,
            max_sessions: 1_000,
            max_connections: 1_000,
            server: None,
        }
    }
}

/// The HTTP method, as far as AJAM cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Other,
}

impl Method {
    pub fn parse(name: &str) -> Method {
        match name.to_ascii_uppercase().as_str() {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            _ => Method::Other,
        }
    }
}

/// One HTTP request, as read by either listener.
pub struct Request {
    pub method: Method,
    /// The path, without the query string.
    pub path: String,
    pub query: Bytes,
    pub body: Bytes,
    /// The last `Cookie:` header, as Asterisk reads only that one.
    pub cookie: Option<String>,
    pub if_none_match: Option<String>,
    /// Whom the request came from, for the failed-login ledgers.
    pub client: std::net::IpAddr,
}

/// One answer, written by either listener. The header lines come after `Server`,
/// `Date`, `Connection` and `Cache-Control`, in this order.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub reason: &'static str,
    pub headers: Vec<(&'static str, String)>,
    /// `Cache-Control: no-cache, no-store`, left out for static files.
    pub no_cache: bool,
    /// Close the connection after this answer (`Connection: close`).
    pub close: bool,
    pub body: Bytes,
}

impl Reply {
    fn page(status: u16, reason: &'static str, text: &str, server_name: &str) -> Reply {
        Reply {
            status,
            reason,
            headers: vec![("Content-type", "text/html".into())],
            no_cache: true,
            close: false,
            body: render::error_page(status, reason, text, server_name).into(),
        }
    }

    /// Asterisk's answer to a method a resource does not take.
    fn not_implemented(server_name: &str) -> Reply {
        Reply::page(
            501,
            "Not Implemented",
            "Attempt to use unimplemented / unsupported method",
            server_name,
        )
    }

    /// Asterisk's 404 page.
    pub fn not_found(server_name: &str) -> Reply {
        Reply::page(
            404,
            "Not Found",
            "The requested URL was not found on this server.",
            server_name,
        )
    }

    /// An error page that also closes the connection: the request could not be read.
    pub fn refused(status: u16, reason: &'static str, text: &str, server_name: &str) -> Reply {
        Reply {
            close: true,
            ..Reply::page(status, reason, text, server_name)
        }
    }
}

/// The AJAM service: settings, the accounts it logs in through, its HTTP sessions.
pub struct Legacy {
    pub config: AjamConfig,
    service: Service,
    sessions: Arc<Sessions>,
    /// What `/httpstatus` names as the bind address.
    bind_address: String,
}

impl Legacy {
    pub fn new(config: AjamConfig, service: Service, bind_address: String) -> Arc<Legacy> {
        let sessions = Arc::new(Sessions::new(config.event_queue, config.max_sessions));
        Arc::new(Legacy {
            config,
            service,
            sessions,
            bind_address,
        })
    }

    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    /// Feeds events to the sessions and forgets expired ones, until the relay stops.
    pub async fn run(self: Arc<Self>, closing: tokio_util::sync::CancellationToken) {
        let mut feeds = tokio::task::JoinSet::new();
        for server in self.service.servers() {
            let events = self.service.server_events(server);
            feeds.spawn(sessions::follow(
                server.name().to_owned(),
                events,
                self.sessions.clone(),
            ));
        }
        let mut reaper = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = reaper.tick() => self.sessions.reap(),
                () = closing.cancelled() => return,
            }
        }
    }

    /// Answers one request under the prefix (or anywhere: others get the 404 page).
    pub async fn handle(&self, request: Request) -> Reply {
        let name = &self.config.server_name;
        let Some(rest) = request
            .path
            .strip_prefix(self.config.prefix.as_str())
            .and_then(|rest| rest.strip_prefix('/'))
        else {
            return Reply::not_found(name);
        };
        match rest {
            "manager" => self.manager(Format::Html, request).await,
            "mxml" => self.manager(Format::Xml, request).await,
            "rawman" => self.manager(Format::Raw, request).await,
            "httpstatus" => self.status_page(&request),
            _ => match rest.strip_prefix("static/") {
                Some(file) if self.config.static_dir.is_some() => {
                    let file = file.to_owned();
                    self.static_file(&file, &request).await
                }
                _ => Reply::not_found(name),
            },
        }
    }

    async fn manager(&self, format: Format, request: Request) -> Reply {
        if request.method == Method::Other {
            return Reply::not_implemented(&self.config.server_name);
        }
        // Asterisk reads a POST's body only, a GET's query only.
        let source = if request.method == Method::Post {
            &request.body
        } else {
            &request.query
        };
        let params = parse_form(source);
        let mut action = Message::new();
        for (name, value) in &params {
            action.push(&String::from_utf8_lossy(name), value);
        }
        let session = cookie_id(request.cookie.as_deref())
            .and_then(|id| self.sessions.touch(id, self.config.http_timeout));
        let mut cookie = session
            .as_ref()
            .map_or_else(|| self.sessions.new_id(), |s| s.id);
        let text = self
            .answer(&action, session.as_ref(), &mut cookie, request.client)
            .await;
        let param = |name: &str| {
            params
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
                .map(|(_, v)| v.as_slice())
        };
        let body = render::manager_body(format, &text, param("ajaxdest"), param("ajaxobjtype"));
        Reply {
            status: 200,
            reason: "OK",
            headers: vec![
                ("Content-type", format.content_type().into()),
                (
                    "Set-Cookie",
                    format!(
                        "mansession_id=\"{cookie:08x}\"; Version=1; Max-Age={}",
                        self.config.http_timeout.as_secs()
                    ),
                ),
                ("Pragma", "SuppressEvents".into()),
            ],
            no_cache: true,
            close: false,
            body: body.into(),
        }
    }

    /// The AMI text of the answer to `action`. `cookie` becomes the new session's id
    /// after a Login.
    async fn answer(
        &self,
        action: &Message,
        session: Option<&Arc<HttpSession>>,
        cookie: &mut u32,
        client: IpAddr,
    ) -> Vec<u8> {
        let id = action.action_id().filter(|id| !id.is_empty());
        let name = action
            .get_all("Action")
            .find(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase());
        let Some(name) = name else {
            return response("Error", id, "Missing action in request");
        };
        match (name.as_str(), session) {
            ("login", Some(_)) => response("Success", id, "Already authenticated"),
            ("login", None) => self.login(action, id, cookie, client).await,
            ("logoff", _) => {
                if let Some(session) = session {
                    self.sessions.remove(session.id);
                }
                response("Goodbye", id, "Thanks for all the fish.")
            }
            (_, None) => response("Error", id, "Permission denied"),
            ("ping", Some(_)) => ping(id),
            ("waitevent", Some(session)) => self.wait_event(action, id, session).await,
            ("events", Some(session)) => events_mask(action, id, session),
            (_, Some(session)) => {
                let caller = Caller {
                    client,
                    via: AuditVia::Ajam,
                };
                run_action(&self.service, action, id, session, caller).await
            }
        }
    }

    async fn login(
        &self,
        action: &Message,
        id: Option<&[u8]>,
        cookie: &mut u32,
        client: IpAddr,
    ) -> Vec<u8> {
        let text = |key: &str| action.get_str(key).unwrap_or_default().into_owned();
        let caller = Caller {
            client,
            via: AuditVia::Ajam,
        };
        let server = match action.get_str("Server") {
            Some(server) => server.into_owned(),
            None => self.config.server.clone().unwrap_or_else(|| {
                self.service
                    .servers()
                    .first()
                    .map(|s| s.name().to_owned())
                    .unwrap_or_default()
            }),
        };
        let username = text("Username");
        // The service answers a failure no sooner than Asterisk's second after it.
        let login = match self
            .service
            .login_raw_ami(&server, &username, &text("Secret"), caller)
            .await
        {
            Ok(login) => login,
            Err(LoginError::Refused(_)) => return response("Error", id, "Authentication failed"),
            Err(other) => {
                tracing::info!(%server, user = %username, error = %other, "AJAM login failed");
                return response("Error", id, &other.to_string());
            }
        };
        let send_events = event_mask(action.get_str("Events").as_deref(), login.read());
        let feed = self.service.raw_demand(&login).await;
        let Some(session) = self.sessions.insert(
            *cookie,
            (login, feed),
            send_events,
            self.config.http_timeout,
        ) else {
            return response("Error", id, "Too many AJAM sessions are open on this relay");
        };
        tracing::info!(id = %format!("{:08x}", session.id), %server, user = %username, "AJAM session logged in");
        response("Success", id, "Authentication accepted")
    }

    async fn wait_event(
        &self,
        action: &Message,
        id: Option<&[u8]>,
        session: &HttpSession,
    ) -> Vec<u8> {
        // As Asterisk: a number (anything else means none), -1 or none for as long as
        // the session allows, and never past ten seconds before it expires.
        let asked = action
            .get_str("Timeout")
            .and_then(|t| leading_int(&t))
            .unwrap_or(-1);
        let most = session.remaining().saturating_sub(Duration::from_secs(10));
        let limit = u64::try_from(asked)
            .map(Duration::from_secs)
            .map_or(most, |asked| asked.min(most));
        let Some(taken) = session.wait_events(Some(limit)).await else {
            return Vec::new();
        };
        let mut out = response("Success", id, "Waiting for Event completed.");
        if taken.dropped > 0 {
            out.extend_from_slice(
                format!(
                    "Event: AstPanelEventsDropped\r\nCount: {}\r\n\r\n",
                    taken.dropped
                )
                .as_bytes(),
            );
        }
        for event in &taken.events {
            out.extend_from_slice(event);
        }
        out.extend_from_slice(b"Event: WaitEventComplete\r\n");
        push_action_id(&mut out, id);
        out.extend_from_slice(b"\r\n");
        out
    }

    fn status_page(&self, request: &Request) -> Reply {
        if !matches!(request.method, Method::Get | Method::Head) {
            return Reply::not_implemented(&self.config.server_name);
        }
        let lossy = |pairs: Vec<(Vec<u8>, Vec<u8>)>| -> Vec<(String, String)> {
            pairs
                .into_iter()
                .map(|(n, v)| {
                    (
                        String::from_utf8_lossy(&n).into_owned(),
                        String::from_utf8_lossy(&v).into_owned(),
                    )
                })
                .collect()
        };
        let query = lossy(parse_form(&request.query));
        let cookies = parse_cookies(request.cookie.as_deref().unwrap_or_default());
        let page = render::StatusPage {
            server_name: &self.config.server_name,
            prefix: &self.config.prefix,
            bind_address: &self.bind_address,
            query: &query,
            cookies: &cookies,
        };
        Reply {
            status: 200,
            reason: "OK",
            headers: Vec::new(),
            no_cache: true,
            close: false,
            body: page.render().into(),
        }
    }

    /// A file from the configured directory, with Asterisk's checks on the name.
    async fn static_file(&self, file: &str, request: &Request) -> Reply {
        let name = &self.config.server_name;
        let forbidden = || {
            Reply::refused(
                403,
                "Access Denied",
                "You do not have permission to access the requested URL.",
                name,
            )
        };
        if !matches!(request.method, Method::Get | Method::Head) {
            return Reply::not_implemented(name);
        }
        let Some(dir) = &self.config.static_dir else {
            return Reply::not_found(name);
        };
        if !is_plain_static_name(file) {
            return forbidden();
        }
        // Asterisk looks for `/private/` in the whole path, the directory included.
        if format!("/{file}").contains("/private/") {
            let authed = cookie_id(request.cookie.as_deref())
                .and_then(|id| self.sessions.touch(id, self.config.http_timeout));
            if authed.is_none() {
                return forbidden();
            }
        }
        let path = dir.join(file);
        let Ok(meta) = tokio::fs::metadata(&path).await else {
            return Reply::not_found(name);
        };
        if meta.is_dir() {
            return Reply::not_found(name);
        }
        let Ok(body) = tokio::fs::read(&path).await else {
            return forbidden();
        };
        let mtime = meta.modified().unwrap_or(UNIX_EPOCH);
        let etag = format!(
            "\"{}\"",
            mtime.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
        );
        let not_modified = request
            .if_none_match
            .as_deref()
            .is_some_and(|tag| tag.eq_ignore_ascii_case(&etag));
        let (status, reason, body) = if not_modified {
            (304, "Not Modified", Bytes::new())
        } else {
            (200, "OK", Bytes::from(body))
        };
        Reply {
            status,
            reason,
            headers: vec![
                ("Content-type", mime_type(file)),
                ("ETag", etag),
                ("Last-Modified", httpdate::fmt_http_date(mtime)),
            ],
            no_cache: false,
            close: false,
            body,
        }
    }
}

/// Runs an action through the service (limits, guards, audit) and writes Asterisk's
/// answer as AJAM shows it.
async fn run_action(
    service: &Service,
    action: &Message,
    id: Option<&[u8]>,
    session: &HttpSession,
    caller: Caller,
) -> Vec<u8> {
    // Whatever ActionID the relay adds must not show when the client sent none.
    let shown = |message: &Message| match id {
        Some(_) => message.to_bytes(),
        None => message.without("ActionID").to_bytes(),
    };
    match service.run_ami(&session.login, action, caller).await {
        AmiOutcome::Answered {
            response, events, ..
        } => {
            let mut out = shown(&response).to_vec();
            for event in &events {
                out.extend_from_slice(&shown(event));
            }
            out
        }
        AmiOutcome::Refused(message) => self::response("Error", id, &message),
    }
}

/// Asterisk's `Ping`, answered by the relay.
fn ping(id: Option<&[u8]>) -> Vec<u8> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mut out = b"Response: Success\r\n".to_vec();
    push_action_id(&mut out, id);
    out.extend_from_slice(
        format!(
            "Ping: Pong\r\nTimestamp: {}.{:06}\r\n\r\n",
            now.as_secs(),
            now.subsec_micros()
        )
        .as_bytes(),
    );
    out
}

/// `Action: Events`: changes what this HTTP session's WaitEvent gets.
fn events_mask(action: &Message, id: Option<&[u8]>, session: &HttpSession) -> Vec<u8> {
    let Some(mask) = action.get_str("EventMask") else {
        return response("Error", id, "Invalid event mask");
    };
    let classes = event_mask(Some(&mask), session.login.read());
    session.set_send_events(classes);
    let mut out = b"Response: Success\r\n".to_vec();
    push_action_id(&mut out, id);
    out.extend_from_slice(if classes.is_empty() {
        b"Events: Off\r\n\r\n"
    } else {
        b"Events: On\r\n\r\n"
    });
    out
}

/// What a Login's `Events:` (or an `EventMask:`) lets through of the `read` classes.
fn event_mask(mask: Option<&str>, read: Classes) -> Classes {
    let Some(mask) = mask.map(str::trim).filter(|m| !m.is_empty()) else {
        return read;
    };
    match mask.to_ascii_lowercase().as_str() {
        "on" | "yes" | "true" | "all" => read,
        "off" | "no" | "false" | "0" => Classes::NONE,
        list => Classes::parse(list).and_not(Classes::ALL.and_not(read)),
    }
}

/// `Response: <kind>`, the ActionID if the client gave one, `Message: <message>`.
fn response(kind: &str, id: Option<&[u8]>, message: &str) -> Vec<u8> {
    let mut out = format!("Response: {kind}\r\n").into_bytes();
    push_action_id(&mut out, id);
    out.extend_from_slice(format!("Message: {message}\r\n\r\n").as_bytes());
    out
}

fn push_action_id(out: &mut Vec<u8>, id: Option<&[u8]>) {
    if let Some(id) = id {
        out.extend_from_slice(b"ActionID: ");
        // A CR or LF would end the line early: the client must not add headers.
        out.extend(
            id.iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
        out.extend_from_slice(b"\r\n");
    }
}

/// `a=1&b=x+y%21`: names and values decoded (`+` is a space), raw bytes kept, repeats
/// kept in order, pairs without a name skipped.
pub fn parse_form(input: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    input
        .split(|&b| b == b'&')
        .filter_map(|pair| {
            let (name, value) = match pair.iter().position(|&b| b == b'=') {
                Some(eq) => (&pair[..eq], &pair[eq + 1..]),
                None => (pair, &b""[..]),
            };
            let name = decode(name);
            (!name.is_empty()).then(|| (name, decode(value)))
        })
        .collect()
}

fn decode(part: &[u8]) -> Vec<u8> {
    let spaced: Vec<u8> = part
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    percent_encoding::percent_decode(&spaced).collect()
}

/// Whether a name under `static/` may be served: Asterisk's refusals of a first byte
/// and of `/..`, and then only plain components, so that no name leaves the directory
/// whatever the platform makes of the rest.
pub fn is_plain_static_name(file: &str) -> bool {
    let first = file.bytes().next().unwrap_or(b' ');
    if first < 33 || b"./|~@#$%^&*() \t".contains(&first) || file.contains("/..") {
        return false;
    }
    Path::new(file)
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
}

/// The cookies of a `Cookie:` header, as Asterisk splits them (quotes stripped).
pub fn parse_cookies(header: &str) -> Vec<(String, String)> {
    let mut cookies: Vec<(String, String)> = header
        .split(';')
        .filter_map(|part| {
            let (name, value) = part.split_once('=')?;
            let name = name.trim();
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            (!name.is_empty() && !value.is_empty()).then(|| (name.to_owned(), value.to_owned()))
        })
        .collect();
    // Asterisk lists them last first.
    cookies.reverse();
    cookies
}

/// The session id of a `mansession_id` cookie (hex, quoted as Asterisk sets it).
pub fn cookie_id(header: Option<&str>) -> Option<u32> {
    let cookies = parse_cookies(header?);
    let (_, value) = cookies.iter().find(|(name, _)| name == "mansession_id")?;
    let hex: String = value.chars().take_while(char::is_ascii_hexdigit).collect();
    u32::from_str_radix(&hex, 16).ok().filter(|&id| id != 0)
}

/// The number at the start of `text`, as C's `sscanf("%i")` reads a decimal one.
fn leading_int(text: &str) -> Option<i64> {
    let text = text.trim_start();
    let digits = text
        .char_indices()
        .take_while(|&(i, c)| c.is_ascii_digit() || (i == 0 && (c == '-' || c == '+')))
        .map(|(i, c)| i + c.len_utf8())
        .last()?;
    text[..digits].parse().ok().map(|n: i64| n.max(-1))
}

/// Asterisk's short list of file types; anything else is `text/<extension>`.
fn mime_type(file: &str) -> String {
    let extension = file.rsplit_once('.').map(|(_, e)| e);
    let known = match extension {
        Some("png") => "image/png",
        Some("xml") => "text/xml",
        Some("jpg") => "image/jpeg",
        Some("js") => "application/x-javascript",
        Some("wav") => "audio/x-wav",
        Some("mp3") => "audio/mpeg",
        Some("svg" | "svgz") => "image/svg+xml",
        Some("gif") => "image/gif",
        Some("html" | "htm") => "text/html",
        Some("css") => "text/css",
        Some("cnf" | "cfg") => "text/plain",
        Some("bin" | "sbn" | "ld") => "application/octet-stream",
        other => return format!("text/{}", other.unwrap_or("plain")),
    };
    known.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_parameters_are_decoded_and_repeats_kept() {
        let pairs = parse_form(b"action=originate&callerid=%22HTTP%20Caller%22+%3C6001%3E&Variable=A%3D1&variable=B&&=x&raw=%FF");
        let text: Vec<(String, Vec<u8>)> = pairs
            .into_iter()
            .map(|(n, v)| (String::from_utf8(n).unwrap(), v))
            .collect();
        assert_eq!(
            text,
            vec![
                ("action".into(), b"originate".to_vec()),
                ("callerid".into(), b"\"HTTP Caller\" <6001>".to_vec()),
                ("Variable".into(), b"A=1".to_vec()),
                ("variable".into(), b"B".to_vec()),
                ("raw".into(), vec![0xff]),
            ]
        );
    }

    #[test]
    fn the_session_cookie_as_asterisk_sets_it_and_as_browsers_send_it() {
        assert_eq!(
            cookie_id(Some("mansession_id=\"709f6f7a\"")),
            Some(0x709f6f7a)
        );
        assert_eq!(cookie_id(Some("a=b; mansession_id=0000002a")), Some(42));
        assert_eq!(cookie_id(Some("mansession_id=\"zz\"")), None);
        assert_eq!(cookie_id(Some("mansession_id=00000000")), None);
        assert_eq!(cookie_id(None), None);
    }

    #[test]
    fn timeouts_read_like_sscanf() {
        assert_eq!(leading_int("5"), Some(5));
        assert_eq!(leading_int(" 30s"), Some(30));
        assert_eq!(leading_int("-7"), Some(-1));
        assert_eq!(leading_int("x"), None);
    }

    #[test]
    fn an_event_mask_never_widens_the_read_classes() {
        let read = Classes::CALL.or(Classes::AGENT);
        assert_eq!(event_mask(None, read), read);
        assert_eq!(event_mask(Some("off"), read), Classes::NONE);
        assert_eq!(event_mask(Some("call,system"), read), Classes::CALL);
    }

    #[test]
    fn a_client_action_id_cannot_add_lines() {
        let out = response("Error", Some(b"a\r\nEvent: X"), "m");
        assert_eq!(
            out,
            b"Response: Error\r\nActionID: a  Event: X\r\nMessage: m\r\n\r\n"
        );
    }
}
