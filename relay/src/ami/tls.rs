//! AMI over TLS (Asterisk's `tlsenable`, port 5039): whom to trust and which name to expect.
//!
//! The certificate is verified by default, against the `tls_ca` file or, without one, the
//! system's roots: the manager secret and every call go over this link. Turning that off
//! (`tls_verify = false`) is possible for a lab PBX with a self-signed certificate, and is
//! logged as a warning each time the relay starts.

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use std::path::PathBuf;

use crate::net::tls::{TlsError, certificates, provider};

/// AMI over TLS to one server (`tls = true`), as Asterisk's `tlsenable` serves it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerTls {
    /// PEM file of the CAs to trust; the system's roots when `None`.
    pub ca: Option<PathBuf>,
    /// Verify the certificate (the default); off only by an explicit `tls_verify = false`.
    pub verify: bool,
    /// The name the certificate must carry, when not the host's.
    pub server_name: Option<String>,
}

/// How to wrap one server's AMI connections: cheap to clone, built once at startup.
#[derive(Clone)]
pub struct AmiTls {
    connector: TlsConnector,
    server_name: ServerName<'static>,
}

impl AmiTls {
    /// Reads the CA file (or the system's roots) of `settings`; the certificate must name
    /// `settings.server_name`, or else `host`.
    pub fn new(settings: &ServerTls, host: &str) -> Result<Self, TlsError> {
        let name = settings.server_name.as_deref().unwrap_or(host);
        // `[::1]` in an address is the IP `::1` in a certificate.
        let bare = name.trim_start_matches('[').trim_end_matches(']');
        let server_name = ServerName::try_from(bare.to_owned())
            .map_err(|_| TlsError::ServerName(name.to_owned()))?;
        let provider = provider();
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?;
        let config = if settings.verify {
            builder
                .with_root_certificates(roots(settings)?)
                .with_no_client_auth()
        } else {
            tracing::warn!(
                server = %name,
                "AMI TLS certificate verification is off (tls_verify = false): anyone on the \
                 path can pose as this Asterisk and read the manager secret"
            );
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
                .with_no_client_auth()
        };
        Ok(AmiTls {
            connector: TlsConnector::from(Arc::new(config)),
            server_name,
        })
    }

    /// The TLS handshake on a connected socket.
    pub async fn wrap(&self, stream: TcpStream) -> std::io::Result<TlsStream<TcpStream>> {
        self.connector
            .connect(self.server_name.clone(), stream)
            .await
    }
}

impl fmt::Debug for AmiTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmiTls")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

/// The CA file's certificates, or the system's trusted roots.
fn roots(settings: &ServerTls) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    match &settings.ca {
        Some(path) => {
            for cert in certificates(path)? {
                store.add(cert).map_err(|error| TlsError::Pem {
                    path: path.clone(),
                    problem: format!("not a usable CA certificate: {error}"),
                })?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for error in &found.errors {
                tracing::debug!(%error, "skipped a system root certificate store");
            }
            let (added, _ignored) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                let why = found
                    .errors
                    .first()
                    .map_or_else(|| "the store is empty".to_owned(), ToString::to_string);
                return Err(TlsError::NoSystemRoots(why));
            }
        }
    }
    Ok(store)
}

/// Accepts any certificate (`tls_verify = false`) but still checks that the server holds
/// the key of the one it showed, so the handshake itself stays sound.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
