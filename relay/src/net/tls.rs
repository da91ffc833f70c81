//! TLS with rustls (ring): PEM files and the panel's reloadable certificate (its axum listener is `web::listen`).
//!
//! The listener side serves the panel from `[tls] cert` and `key`. The certificate is
//! read again on SIGHUP ([`ListenerCertificate::reload`], from `lib.rs`): handshakes after that present the new one,
//! while established connections keep the keys they agreed, so no browser is dropped. A
//! file that cannot be used is refused with its path, at startup and at a reload (which
//! then keeps the old certificate). The AMI side (`tls = true` on a `[[server]]`) is
//! [`crate::ami::tls`], on the same PEM readers and provider.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{Error as PemError, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// The panel's certificate (`[tls]`), read at startup and again on SIGHUP.
#[derive(Clone, Debug)]
pub struct ListenerTls {
    /// PEM: the server certificate first, then its intermediates.
    pub cert: PathBuf,
    /// PEM: its private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// A TLS setting the relay cannot use.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file is missing, unreadable or holds no usable item: fix the file or the path.
    #[error("{path}: {problem}")]
    Pem { path: PathBuf, problem: String },
    /// rustls refused the certificate, the key or the pair (a key of another
    /// certificate, say): check that the two files belong together.
    #[error("{cert} with {key}: {source}")]
    Certificate {
        cert: PathBuf,
        key: PathBuf,
        source: rustls::Error,
    },
    /// No trusted roots could be read from the system: install its CA bundle or set `tls_ca`.
    #[error("no trusted root certificates found on this system ({0}); set tls_ca")]
    NoSystemRoots(String),
    /// The name a server's certificate must carry is neither a DNS name nor an IP
    /// address: set `tls_server_name`.
    #[error("TLS server name {0:?} is not a DNS name or an IP address")]
    ServerName(String),
    /// rustls refused the configuration itself (no protocol version in common).
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// The one crypto provider, named in every configuration rather than installed process-wide.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Every certificate in a PEM file, in order; none is an error.
pub(crate) fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem_error = |error: PemError| TlsError::Pem {
        path: path.to_owned(),
        problem: pem_problem(error),
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(pem_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_error)?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            path: path.to_owned(),
            problem: "no CERTIFICATE block found".into(),
        });
    }
    Ok(certs)
}

/// The private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|error| TlsError::Pem {
        path: path.to_owned(),
        problem: match error {
            PemError::NoItemsFound => "no PRIVATE KEY block found".into(),
            other => pem_problem(other),
        },
    })
}

/// The parser's complaint in words: its own text shows an end marker as bytes.
fn pem_problem(error: PemError) -> String {
    match error {
        PemError::MissingSectionEnd { end_marker } => format!(
            "no \"-----END {}-----\" line: the PEM block is cut short",
            String::from_utf8_lossy(&end_marker)
        ),
        other => other.to_string(),
    }
}

/// The panel's certificate, as rustls asks for it at each handshake, replaceable while
/// serving.
#[derive(Debug)]
pub struct ListenerCertificate {
    files: ListenerTls,
    provider: Arc<CryptoProvider>,
    /// A std lock: nothing awaits under it, and a handshake only clones the `Arc`.
    current: RwLock<Arc<CertifiedKey>>,
}

impl ListenerCertificate {
    /// Reads the certificate chain and key named in `[tls]`.
    pub fn load(files: &ListenerTls) -> Result<Arc<Self>, TlsError> {
        let provider = provider();
        let current = RwLock::new(Arc::new(read_pair(files, &provider)?));
        Ok(Arc::new(ListenerCertificate {
            files: files.clone(),
            provider,
            current,
        }))
    }

    /// Reads the files again; the next handshakes use what they hold now. On an error
    /// the certificate in use stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = Arc::new(read_pair(&self.files, &self.provider)?);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = fresh;
        Ok(())
    }

    /// The rustls configuration of the listener, answering with this certificate.
    pub(crate) fn server_config(self: &Arc<Self>) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let mut config = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

impl ResolvesServerCert for ListenerCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        )
    }
}

fn read_pair(files: &ListenerTls, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    let chain = certificates(&files.cert)?;
    let key = private_key(&files.key)?;
    CertifiedKey::from_der(chain, key, provider).map_err(|source| TlsError::Certificate {
        cert: files.cert.clone(),
        key: files.key.clone(),
        source,
    })
}
