//! TLS for the broker's listeners (rustls, the `ring` provider): a server configuration from a
//! PEM certificate chain and private key (read by the command line before the node starts: the
//! seam has no notion of arbitrary files), and the handshake on an accepted connection.
//!
//! Not in simulation builds, where the network is madsim's and no test needs TLS.

use std::sync::Arc;
use std::time::Duration;

use keel_rt::net::TcpStream;
use keel_rt::time;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use super::TlsFiles;

/// How long a client has to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The acceptor for `files`; why not, for a chain or key that does not parse or match.
pub fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&files.cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("the TLS certificate file: {e}"))?;
    if certs.is_empty() {
        return Err("the TLS certificate file holds no certificate".into());
    }
    let key = PrivateKeyDer::from_pem_slice(&files.key_pem).map_err(|e| format!("the TLS key file: {e}"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("the TLS certificate and key: {e}"))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The TLS handshake on an accepted connection (bounded in time); `None` if it failed.
pub async fn accept(acceptor: &TlsAcceptor, stream: TcpStream, peer: &str) -> Option<TlsStream<TcpStream>> {
    match time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(s)) => Some(s),
        Ok(Err(e)) => {
            tracing::debug!(peer, error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!(peer, "TLS handshake timed out");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CERT: &[u8] = include_bytes!("../../tests/data/test-cert.pem");
    const KEY: &[u8] = include_bytes!("../../tests/data/test-key.pem");

    #[test]
    fn a_pem_chain_and_key_make_an_acceptor() {
        assert!(acceptor(&TlsFiles { cert_pem: CERT.to_vec(), key_pem: KEY.to_vec() }).is_ok());
    }

    #[test]
    fn bad_files_are_refused_with_a_reason() {
        let e = acceptor(&TlsFiles { cert_pem: b"not pem".to_vec(), key_pem: KEY.to_vec() }).err().unwrap();
        assert!(e.contains("certificate"), "{e}");
        let e = acceptor(&TlsFiles { cert_pem: CERT.to_vec(), key_pem: b"".to_vec() }).err().unwrap();
        assert!(e.contains("key"), "{e}");
    }
}
