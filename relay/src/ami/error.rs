//! What can go wrong talking to Asterisk, as one typed enum.

use std::time::Duration;

use shared::ami::{Message, ParseError};

/// An AMI failure, as seen by a caller of [`crate::ami::SessionHandle::send`] or by the
/// session loop. Variants built from an Asterisk response carry its `Message:` text.
#[derive(Debug, thiserror::Error)]
pub enum AmiError {
    /// The socket failed; the session reconnects by itself, retry the action later.
    #[error("AMI I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// Connecting to the server took too long; the session retries with backoff.
    #[error("connecting to {addr} timed out after {after:?}")]
    ConnectTimeout {
        /// The address being dialled.
        addr: String,
        /// The configured connect timeout.
        after: Duration,
    },
    /// The TLS handshake failed: the certificate is not trusted (`tls_ca`), does not name
    /// the server (`tls_server_name`), or the port does not speak TLS. Retried with backoff.
    #[error("TLS handshake with {addr} failed: {source}{hint}")]
    Tls {
        /// The address being dialled.
        addr: String,
        /// rustls's reason, inside the I/O error the handshake returns.
        source: std::io::Error,
        /// Which setting to look at, for the usual reasons; empty otherwise.
        hint: &'static str,
    },
    /// The server's first line was not an AMI greeting; check the address and port.
    #[error("not an AMI server: first line was {0:?}")]
    NotAmi(String),
    /// The server's first bytes could not be read as a greeting line (too long, say).
    #[error("unreadable AMI banner: {0}")]
    BadBanner(#[source] ParseError),
    /// The server took no bytes for this long (it stopped reading); the session reconnects.
    #[error("AMI write timed out after {0:?}: the server stopped reading")]
    WriteTimeout(Duration),
    /// The server closed the connection; the session reconnects by itself.
    #[error("the AMI server closed the connection")]
    Closed,
    /// Login was refused (wrong user or secret); fix the configuration. Actions sent
    /// while the session waits to retry such a login get this too.
    #[error("AMI login refused: {message}")]
    AuthenticationFailed {
        /// Asterisk's text, `Authentication failed`.
        message: String,
    },
    /// The user may not run this action (or is not logged in); grant the class in manager.conf.
    #[error("AMI permission denied: {message}")]
    PermissionDenied {
        /// Asterisk's text, `Permission denied`.
        message: String,
    },
    /// Asterisk does not know the action; check its name or load the module that provides it.
    #[error("unknown AMI action: {message}")]
    UnknownAction {
        /// Asterisk's text, `Invalid/unknown command: <name>. Use Action: ListCommands ...`.
        message: String,
    },
    /// Asterisk refused the action for another reason (missing header, no such channel ...).
    #[error("AMI action failed: {message}")]
    ActionFailed {
        /// Asterisk's `Message:` text.
        message: String,
        /// The whole error response, for callers that need more headers.
        response: Box<Message>,
    },
    /// No complete answer arrived in time; the action may still have run on the server.
    #[error("AMI action timed out after {0:?}")]
    Timeout(Duration),
    /// The link went down before the answer arrived; the action may or may not have run.
    #[error("the AMI link went down before the answer arrived")]
    Disconnected,
    /// The session is between connections; retry once it reports `Connected`.
    #[error("not connected to the AMI server")]
    NotConnected,
    /// The session task has stopped; make a new session.
    #[error("the AMI session has stopped")]
    SessionStopped,
    /// An action with this ActionID is still waiting for its answer; use another id.
    #[error("ActionID {0:?} is already in use by a pending action")]
    DuplicateActionId(String),
    /// Too many actions are waiting for answers; slow down or raise the limit.
    #[error("too many AMI actions in flight (limit {0})")]
    TooManyPending(usize),
    /// No Ping answer (or any other traffic) arrived in time; the session reconnects.
    #[error("AMI link dead: nothing received for {0:?} after a Ping")]
    LinkDead(Duration),
    /// A list action's answer ran past `max_list_items`; the rest of it is dropped.
    /// Narrow the query (one queue, one channel) or raise the limit.
    #[error("AMI event list longer than {0} items")]
    ListTooLong(usize),
    /// The event consumer fell behind under the `Resync` policy; the session reconnects.
    #[error("event consumer too slow: {0} events buffered")]
    ConsumerTooSlow(usize),
}

impl AmiError {
    /// Turns an error response into the matching typed error.
    pub(crate) fn from_response(response: Message) -> Self {
        let message = response.get_str("Message").unwrap_or_default().into_owned();
        if message.eq_ignore_ascii_case("Authentication failed") {
            AmiError::AuthenticationFailed { message }
        } else if message.eq_ignore_ascii_case("Permission denied") {
            AmiError::PermissionDenied { message }
        } else if message.starts_with("Invalid/unknown command") {
            AmiError::UnknownAction { message }
        } else {
            AmiError::ActionFailed {
                message,
                response: Box::new(response),
            }
        }
    }
}
