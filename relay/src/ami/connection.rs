//! One AMI connection: owns the framed socket, reads the banner, sends and receives messages.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use shared::ami::{Frame, Message};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;
use tokio_util::either::Either;

use super::codec::AmiCodec;
use super::error::AmiError;
use super::tls::AmiTls;

/// The socket under an AMI connection: plain TCP (port 5038) or TLS (5039).
pub type AmiStream = Either<TcpStream, tokio_rustls::client::TlsStream<TcpStream>>;

/// Bytes asked of the socket per read: big enough that a busy server's events arrive
/// dozens per system call. Parsed messages share these chunks (zero copy), so one
/// retained event can keep up to this much memory alive.
const READ_CAPACITY: usize = 64 * 1024;

/// How long one write may wait for the server to take our bytes, unless set with
/// [`Connection::with_write_timeout`].
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// A framed AMI socket whose banner has been read.
#[derive(Debug)]
pub struct Connection<T> {
    framed: Framed<T, AmiCodec>,
    version: String,
    write_timeout: Duration,
}

impl Connection<AmiStream> {
    /// Dials `addr`, makes the TLS handshake if `tls` says so, and reads the `Asterisk
    /// Call Manager/x.y.z` banner, all within `timeout`.
    pub async fn connect(
        addr: &str,
        tls: Option<&AmiTls>,
        timeout: Duration,
        max_len: usize,
    ) -> Result<Self, AmiError> {
        let dial = async {
            let stream = TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            let stream = match tls {
                None => Either::Left(stream),
                Some(tls) => {
                    Either::Right(tls.wrap(stream).await.map_err(|source| AmiError::Tls {
                        addr: addr.to_owned(),
                        hint: tls_hint(&source),
                        source,
                    })?)
                }
            };
            Connection::handshake(stream, max_len).await
        };
        tokio::time::timeout(timeout, dial)
            .await
            .map_err(|_| AmiError::ConnectTimeout {
                addr: addr.to_owned(),
                after: timeout,
            })?
    }
}

/// What to check when the certificate was refused for one of the two usual reasons.
fn tls_hint(error: &std::io::Error) -> &'static str {
    use rustls::{CertificateError, Error};
    match error.get_ref().and_then(|e| e.downcast_ref::<Error>()) {
        Some(Error::InvalidCertificate(CertificateError::UnknownIssuer)) => {
            " (no CA in tls_ca, or in the system's roots without it, signed this certificate)"
        }
        Some(Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        )) => " (set tls_server_name to a name the certificate carries)",
        _ => "",
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> Connection<T> {
    /// Reads the banner from an already open stream.
    pub async fn handshake(io: T, max_len: usize) -> Result<Self, AmiError> {
        let mut framed = Framed::with_capacity(io, AmiCodec::client(max_len), READ_CAPACITY);
        match framed.next().await {
            Some(Ok(Frame::Banner(banner))) => {
                let line = String::from_utf8_lossy(banner.line());
                if !line.contains("Call Manager") {
                    return Err(AmiError::NotAmi(line.into_owned()));
                }
                let version = banner.version().unwrap_or_default().to_owned();
                Ok(Connection {
                    framed,
                    version,
                    write_timeout: DEFAULT_WRITE_TIMEOUT,
                })
            }
            Some(Ok(Frame::Invalid(error))) => Err(AmiError::BadBanner(error)),
            Some(Ok(Frame::Message(_))) => {
                Err(AmiError::NotAmi("a message instead of a banner".into()))
            }
            Some(Err(error)) => Err(error.into()),
            None => Err(AmiError::Closed),
        }
    }

    /// Bounds each [`Connection::send`]: a server that stops reading would otherwise
    /// block the writer for ever once the socket buffers are full.
    #[must_use]
    pub fn with_write_timeout(mut self, limit: Duration) -> Self {
        self.write_timeout = limit;
        self
    }

    /// The AMI protocol version from the banner (`11.0.0` for Asterisk 22).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The next complete message. Malformed messages are logged and skipped, as the
    /// parser has already resynchronised past them.
    pub async fn read(&mut self) -> Result<Message, AmiError> {
        loop {
            match self.framed.next().await {
                Some(Ok(Frame::Message(message))) => return Ok(message),
                Some(Ok(Frame::Invalid(error))) => {
                    tracing::warn!(%error, "skipped a malformed AMI message")
                }
                Some(Ok(Frame::Banner(_))) => tracing::warn!("ignored a second AMI banner"),
                Some(Err(error)) => return Err(error.into()),
                None => return Err(AmiError::Closed),
            }
        }
    }

    /// Writes and flushes one message, failing with [`AmiError::WriteTimeout`] if the
    /// server has not taken it within the write timeout. The connection is unusable
    /// after that (part of the message may have gone out): drop it.
    pub async fn send(&mut self, message: &Message) -> Result<(), AmiError> {
        let limit = self.write_timeout;
        tokio::time::timeout(limit, self.framed.send(message))
            .await
            .map_err(|_| AmiError::WriteTimeout(limit))??;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::ami::ParseError;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn a_server_that_stops_reading_fails_the_write_in_time() {
        let (client, mut server) = tokio::io::duplex(64);
        server
            .write_all(b"Asterisk Call Manager/11.0.0\r\n")
            .await
            .map_err(|e| e.to_string())
            .unwrap();
        let limit = Duration::from_millis(50);
        let mut conn = Connection::handshake(client, 1024)
            .await
            .map_err(|e| e.to_string())
            .unwrap()
            .with_write_timeout(limit);
        // The server never reads: 64 bytes of pipe cannot take this.
        let big = Message::new()
            .with("Action", "Command")
            .with("Command", vec![b'x'; 4096]);
        let sent = tokio::time::timeout(Duration::from_secs(10), conn.send(&big)).await;
        assert!(
            matches!(sent, Ok(Err(AmiError::WriteTimeout(t))) if t == limit),
            "{sent:?}"
        );
        drop(server);
    }

    #[tokio::test]
    async fn an_unreadable_banner_keeps_the_parse_error() {
        let (client, mut server) = tokio::io::duplex(1024);
        server
            .write_all(&[b'A'; 64])
            .await
            .map_err(|e| e.to_string())
            .unwrap();
        let refused = Connection::handshake(client, 32).await;
        assert!(
            matches!(
                refused,
                Err(AmiError::BadBanner(ParseError::TooLong { max: 32, .. }))
            ),
            "{refused:?}"
        );
    }
}
