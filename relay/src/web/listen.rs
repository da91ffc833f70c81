//! The panel's listeners, as axum sees them: TCP through the [`Gate`], and TLS over it.
//!
//! The gate and the certificate live below (`net`), free of axum; these adapters are
//! the only place where they meet `axum::serve`.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::net::access::{Admission, Gate};
use crate::net::tls::{ListenerCertificate, TlsError};

/// Handshakes the listener runs at once; past it, new connections wait in the kernel's
/// backlog, so clients that open sockets and never speak cannot make it hold more.
const MAX_HANDSHAKES: usize = 256;

/// How long a client gets to finish its handshake before its socket is closed.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The panel's listener: a TCP listener whose connections pass the [`Gate`] first.
/// A refused connection is closed without a word: an HTTP answer would cost more
/// than the refusal saves, and a denied network should learn nothing.
pub struct GatedListener {
    listener: TcpListener,
    gate: Arc<Gate>,
}

impl GatedListener {
    pub fn new(listener: TcpListener, gate: Arc<Gate>) -> GatedListener {
        GatedListener { listener, gate }
    }
}

impl Listener for GatedListener {
    type Io = Admitted<TcpStream>;
    type Addr = ClientAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (stream, peer) = Listener::accept(&mut self.listener).await;
            match self.gate.admit(peer.ip()) {
                Ok(admission) => {
                    // A delta is one small write per tick: with Nagle's algorithm on, one
                    // written while the browser still delays its ACK of the last (Linux
                    // waits up to 40 ms) is held back until that ACK, which the end-to-end
                    // benchmark saw as a p99 twice the tick.
                    if let Err(error) = stream.set_nodelay(true) {
                        tracing::debug!(%error, "cannot turn Nagle's algorithm off");
                    }
                    let io = Admitted {
                        io: stream,
                        _admission: admission,
                    };
                    return (io, ClientAddr(peer));
                }
                Err(refusal) => tracing::debug!(%refusal, "connection refused"),
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<ClientAddr> {
        self.listener.local_addr().map(ClientAddr)
    }
}

/// The peer of a connection the gate let in (axum's `ConnectInfo`).
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub SocketAddr);

impl Connected<IncomingStream<'_, GatedListener>> for ClientAddr {
    fn connect_info(stream: IncomingStream<'_, GatedListener>) -> Self {
        *stream.remote_addr()
    }
}

/// TLS over the gate: the same peer.
impl Connected<IncomingStream<'_, TlsListener<GatedListener>>> for ClientAddr {
    fn connect_info(stream: IncomingStream<'_, TlsListener<GatedListener>>) -> Self {
        *stream.remote_addr()
    }
}

/// A connection that holds its place at the gate for as long as it is open.
pub struct Admitted<Io> {
    io: Io,
    _admission: Admission,
}

impl<Io: AsyncRead + Unpin> AsyncRead for Admitted<Io> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<Io: AsyncWrite + Unpin> AsyncWrite for Admitted<Io> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// A listener whose connections are TLS, handshaken off the accept path: a slow client
/// delays only itself. Wraps any listener, so filters on the plain socket (who may
/// connect) run before a handshake costs anything.
pub struct TlsListener<L: Listener> {
    inner: L,
    acceptor: TlsAcceptor,
    /// Each ends with the connection, or `None` if its handshake failed.
    handshakes: JoinSet<Option<Handshaken<L>>>,
}

/// A connection whose handshake is done, with its peer's address.
type Handshaken<L> = (TlsStream<<L as Listener>::Io>, <L as Listener>::Addr);

impl<L: Listener> TlsListener<L>
where
    L::Addr: std::fmt::Debug + 'static,
{
    /// Serves `certificate` on the connections `inner` accepts.
    pub fn new(inner: L, certificate: &Arc<ListenerCertificate>) -> Result<Self, TlsError> {
        Ok(TlsListener {
            inner,
            acceptor: TlsAcceptor::from(certificate.server_config()?),
            handshakes: JoinSet::new(),
        })
    }
}

impl<L: Listener> Listener for TlsListener<L>
where
    L::Addr: std::fmt::Debug + 'static,
{
    type Io = TlsStream<L::Io>;
    type Addr = L::Addr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            tokio::select! {
                (io, peer) = self.inner.accept(), if self.handshakes.len() < MAX_HANDSHAKES => {
                    let acceptor = self.acceptor.clone();
                    self.handshakes.spawn(async move {
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(io)).await {
                            Ok(Ok(stream)) => Some((stream, peer)),
                            Ok(Err(error)) => {
                                tracing::debug!(?peer, %error, "TLS handshake failed");
                                None
                            }
                            Err(_) => {
                                tracing::debug!(?peer, "TLS handshake timed out");
                                None
                            }
                        }
                    });
                }
                Some(done) = self.handshakes.join_next(), if !self.handshakes.is_empty() => {
                    if let Ok(Some(connection)) = done {
                        return connection;
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::access::GateConfig;

    #[tokio::test]
    async fn accepted_connections_do_not_wait_for_acks() {
        let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = tcp.local_addr().expect("address");
        let mut listener = GatedListener::new(tcp, Gate::new(GateConfig::default()));
        let _client = TcpStream::connect(addr).await.expect("connect");
        let (accepted, _) = Listener::accept(&mut listener).await;
        assert!(accepted.io.nodelay().expect("TCP_NODELAY readable"));

        let plain = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let _client = TcpStream::connect(plain.local_addr().expect("address"))
            .await
            .expect("connect");
        let (accepted, _) = plain.accept().await.expect("accept");
        assert!(
            !accepted.nodelay().expect("TCP_NODELAY readable"),
            "the kernel's default is Nagle on"
        );
    }
}
