//! The process-wide TLS crypto provider: rustls needs exactly one, and ring
//! is the one linked. Both outbound paths (`upstream` and the object store of
//! `blobs/s3.rs`) install it before building a client.

/// Install ring as the process's rustls provider (a no-op if one is set).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// How often the certificate and key files are checked for a change.
pub const RELOAD_CHECK: Duration = Duration::from_secs(2);

/// The certificate chain and key in these PEM files, ready to serve.
pub fn load_certified_key(cert: &Path, key: &Path) -> Result<CertifiedKey, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("reading {}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("reading {}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("{} holds no certificate", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("reading {}: {e}", key.display()))?;
    let provider = rustls::crypto::ring::default_provider();
    let signing = provider.key_provider.load_private_key(key).map_err(|e| format!("the private key: {e}"))?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(|e| format!("the key does not match the certificate: {e}"))?;
    Ok(certified)
}

/// The server's certificate, swapped in place when its files change.
#[derive(Debug)]
pub struct ServerCert {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<(Arc<CertifiedKey>, Option<SystemTime>)>,
}

impl ServerCert {
    pub fn load(cert: &Path, key: &Path) -> anyhow::Result<Arc<ServerCert>> {
        let certified = load_certified_key(cert, key).map_err(anyhow::Error::msg)?;
        Ok(Arc::new(ServerCert {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            current: RwLock::new((Arc::new(certified), modified(cert, key))),
        }))
    }

    /// Read the files again; a broken pair keeps the current certificate.
    pub fn reload(&self) {
        match load_certified_key(&self.cert, &self.key) {
            Ok(certified) => {
                if let Ok(mut current) = self.current.write() {
                    *current = (Arc::new(certified), modified(&self.cert, &self.key));
                }
                tracing::info!(cert = %self.cert.display(), "TLS certificate loaded");
            }
            Err(e) => tracing::error!(error = %e, "TLS certificate not reloaded; keeping the current one"),
        }
    }

    /// Reload when the files changed since they were last read.
    pub fn reload_if_changed(&self) {
        let seen = self.current.read().ok().and_then(|c| c.1);
        if modified(&self.cert, &self.key) != seen {
            self.reload();
        }
    }

    /// A rustls server configuration serving this certificate (HTTP/2 and
    /// HTTP/1.1 offered by ALPN).
    pub fn server_config(self: &Arc<Self>) -> anyhow::Result<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(self) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }
}

impl ResolvesServerCert for ServerCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|c| Arc::clone(&c.0))
    }
}

/// The later modification time of the two files.
fn modified(cert: &Path, key: &Path) -> Option<SystemTime> {
    let m = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    m(cert).max(m(key))
}
