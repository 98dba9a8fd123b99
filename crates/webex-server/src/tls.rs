//! HTTPS and WSS without a reverse proxy: a rustls listener for
//! `webex serve --tls-cert --tls-key`.
//!
//! Handshakes run in their own tasks with a deadline, so a client that
//! connects and says nothing (or speaks plain HTTP) never delays the others.
//! Behind a load balancer or with certificates that rotate, terminate TLS in
//! a reverse proxy instead (see RELIABILITY.md).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

use crate::connections::{Accepted, Gate};

/// Longest a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the certificate chain and private key are (PEM files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// PKCS#8, PKCS#1 or SEC1 private key.
    pub key: PathBuf,
}

/// Why TLS could not be set up. Retrying does not help until the files are
/// fixed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The certificate file is unreadable or holds no certificate.
    #[error("reading the TLS certificate chain {path}: {reason}")]
    Certificate {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The key file is unreadable or holds no private key.
    #[error("reading the TLS private key {path}: {reason}")]
    Key {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// rustls refused the pair (e.g. the key does not match).
    #[error("the TLS certificate and key do not form a usable pair: {0}")]
    Config(#[from] rustls::Error),
}

/// A rustls server configuration from `config`'s PEM files, offering
/// HTTP/1.1 only (websocket upgrades need it).
///
/// ```no_run
/// use webex_server::tls::{TlsConfig, server_config};
/// let config = server_config(&TlsConfig { cert: "cert.pem".into(), key: "key.pem".into() })?;
/// # Ok::<(), webex_server::tls::TlsError>(())
/// ```
pub fn server_config(config: &TlsConfig) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let certs = read_certs(&config.cert)?;
    let key = PrivateKeyDer::from_pem_file(&config.key).map_err(|e| TlsError::Key {
        path: config.key.clone(),
        reason: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(server))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let fail = |reason: String| TlsError::Certificate {
        path: path.to_owned(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| fail(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(e.to_string()))?;
    if certs.is_empty() {
        return Err(fail("no CERTIFICATE block".into()));
    }
    Ok(certs)
}

/// Accepts TCP connections on `tcp` until `cancel`, admits each through
/// `gate` before the handshake (refused ones are closed at once), handshakes
/// in its own task with a deadline and hands the TLS streams to `tx`.
pub(crate) fn spawn_acceptor(
    tcp: TcpListener,
    config: Arc<rustls::ServerConfig>,
    gate: Arc<Gate>,
    cancel: CancellationToken,
    tx: mpsc::Sender<Accepted<TlsStream<TcpStream>>>,
) {
    let acceptor = TlsAcceptor::from(config);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = cancel.cancelled() => return,
                accepted = tcp.accept() => accepted,
            };
            let (mut stream, peer) = match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off.
                    tracing::warn!(error = %e, "accepting a TCP connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let admission = match gate.admit(peer.ip()) {
                Ok(a) => a,
                Err(why) => {
                    crate::connections::refused(peer, why);
                    continue;
                }
            };
            crate::server::set_nodelay(&mut stream);
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => {
                        let _ = tx.send((tls, peer, admission)).await;
                    }
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                }
            });
        }
    });
}
