//! AMI over TLS, as Asterisk's `tlsenable` serves it on port 5039: the certificate from PEM files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A certificate or key the simulator cannot serve.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file is missing, unreadable or not PEM: fix the path or the file.
    #[error("{path}: {problem}")]
    Pem {
        /// The file named by `--tls-cert` or `--tls-key`.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// rustls refused the pair (a key of another certificate, say).
    #[error("TLS certificate and key: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The TLS configuration serving the chain in `cert` with the key in `key`.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(unusable(cert))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(unusable(cert))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(unusable(key))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    Ok(Arc::new(config))
}

/// Turns a PEM error into one that names the file.
fn unusable(path: &Path) -> impl Fn(rustls::pki_types::pem::Error) -> TlsError + '_ {
    move |error| TlsError::Pem {
        path: path.to_owned(),
        problem: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_is_named() {
        let refused = server_config(Path::new("/nonexistent/pbx.pem"), Path::new("pbx.key"));
        let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.starts_with("/nonexistent/pbx.pem: "), "{message}");
    }
}
