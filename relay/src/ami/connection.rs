//! One AMI connection: owns the framed socket, reads the banner, sends and receives messages.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use shared::ami::{Frame, Message};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_util::codec::Framed;

use super::codec::AmiCodec;
use super::error::AmiError;

/// Bytes asked of the socket per read: big enough that a busy server's events arrive
/// dozens per system call. Parsed messages share these chunks (zero copy), so one
/// retained event can keep up to this much memory alive.
const READ_CAPACITY: usize = 64 * 1024;

/// A framed AMI socket whose banner has been read.
#[derive(Debug)]
pub struct Connection<T> {
    framed: Framed<T, AmiCodec>,
    version: String,
}

impl Connection<TcpStream> {
    /// Dials `addr` and reads the `Asterisk Call Manager/x.y.z` banner, both within `timeout`.
    pub async fn connect(addr: &str, timeout: Duration, max_len: usize) -> Result<Self, AmiError> {
        let dial = async {
            let stream = TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
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
                Ok(Connection { framed, version })
            }
            Some(Ok(Frame::Invalid(error))) => Err(AmiError::NotAmi(error.to_string())),
            Some(Ok(Frame::Message(_))) => {
                Err(AmiError::NotAmi("a message instead of a banner".into()))
            }
            Some(Err(error)) => Err(error.into()),
            None => Err(AmiError::Closed),
        }
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

    /// Writes and flushes one message.
    pub async fn send(&mut self, message: &Message) -> Result<(), AmiError> {
        self.framed.send(message).await?;
        Ok(())
    }
}
