//! The AMI proxy: an AMI listener (`[ami_proxy]`), so that existing AMI applications
//! (a queue dashboard, a CRM connector, panoramisk scripts) connect to AstPanel
//! instead of Asterisk, unmodified, and share its sessions, TLS, accounts, guards and
//! audit log.
//!
//! It is one more way in, like [`crate::ajam`]: it speaks Asterisk's dialogue
//! ([`connection`]) and asks [`Service`] for every decision. Each client logs in through
//! [`Service::login_ami_proxy`] (or its MD5 form), holds that account's pooled AMI
//! session (Asterisk sees one connection per account however many clients connect),
//! runs its actions through [`Service::run_ami`] (limiter, shell guard, audit as `ami`)
//! and reads the server's raw events through [`Service::proxy_events`], narrowed further
//! by its own `Events` mask and `Filter` rules (`shared::ami::filter`, as pbxsim keeps them).

pub mod connection;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::net::access::{Accepted, Gate, accept};
use crate::net::tls::{ListenerCertificate, TlsError};
use crate::service::Service;

/// The version a banner shows before the relay has read Asterisk's own (Asterisk 22's,
/// as `ami-session.txt` recorded it).
pub const DEFAULT_VERSION: &str = "11.0.0";

/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// `[ami_proxy]`: off unless `listen` or `tls_listen` is set.
#[derive(Clone, Debug)]
pub struct ProxyConfig {
    /// Plain TCP, as Asterisk's port 5038.
    pub listen: Option<SocketAddr>,
    /// TLS with the panel's certificate (`[tls]`), as Asterisk's port 5039.
    pub tls_listen: Option<SocketAddr>,
    /// The server a `Login` without a `Server:` header logs in to; the first
    /// `[[server]]` when unset.
    pub server: Option<String>,
    /// Clients connected at once over both listeners (more wait in the backlog).
    pub max_connections: usize,
    /// Messages waiting to be written to one client; a client that lets more pile
    /// up gets a drop marker and is disconnected.
    pub queue: usize,
    /// How long one write to a client may take before it counts as gone.
    pub write_timeout: Duration,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            listen: None,
            tls_listen: None,
            server: None,
            max_connections: 1000,
            queue: 4096,
            write_timeout: Duration::from_secs(10),
        }
    }
}

/// What every connection of the proxy shares.
pub struct Proxy {
    pub config: ProxyConfig,
    service: Service,
    /// When the proxy started: the `Uptime` of the `FullyBooted` it sends after a login.
    started: tokio::time::Instant,
}

impl Proxy {
    pub fn new(config: ProxyConfig, service: Service) -> Arc<Proxy> {
        Arc::new(Proxy {
            config,
            service,
            started: tokio::time::Instant::now(),
        })
    }

    /// The server of a `Login` that names none.
    fn default_server(&self) -> Option<String> {
        self.config
            .server
            .clone()
            .or_else(|| self.service.servers().first().map(|s| s.name().to_owned()))
    }
}

/// Serves the proxy on `listener` until `closing` fires: each connection passes the
/// `gate` (network rules, counts per address) and, with a `certificate`, a TLS
/// handshake off the accept path.
pub async fn serve(
    listener: TcpListener,
    certificate: Option<Arc<ListenerCertificate>>,
    proxy: Arc<Proxy>,
    gate: Arc<Gate>,
    slots: Arc<Semaphore>,
    closing: CancellationToken,
) -> Result<(), TlsError> {
    let acceptor = match &certificate {
        Some(certificate) => Some(TlsAcceptor::from(certificate.server_config()?)),
        None => None,
    };
    tokio::spawn(async move {
        while let Some(accepted) = accept(&listener, &gate, &slots, &closing, "AMI proxy").await {
            let Accepted { stream, peer, held } = accepted;
            let _ = stream.set_nodelay(true);
            let (proxy, closing, acceptor) = (proxy.clone(), closing.clone(), acceptor.clone());
            tokio::spawn(async move {
                let _held = held;
                let client = peer.ip();
                match acceptor {
                    None => connection::run(stream, client, &proxy, &closing).await,
                    Some(acceptor) => {
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                        {
                            Ok(Ok(tls)) => connection::run(tls, client, &proxy, &closing).await,
                            Ok(Err(error)) => {
                                tracing::debug!(%peer, %error, "AMI proxy TLS handshake failed")
                            }
                            Err(_) => tracing::debug!(%peer, "AMI proxy TLS handshake timed out"),
                        }
                    }
                }
            });
        }
    });
    Ok(())
}
