//! The process-wide TLS crypto provider: rustls needs exactly one, and ring
//! is the one linked. Both outbound paths (`upstream` and the object store of
//! `blobs/s3.rs`) install it before building a client.

/// Install ring as the process's rustls provider (a no-op if one is set).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
