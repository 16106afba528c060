//! rustls set-up shared by both sides: the ring provider, and the client
//! configurations that verify upstreams.

use std::sync::{Arc, OnceLock};

use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, RootCertStore};

use crate::error::ProxyError;

/// The ring provider, built once. Passed explicitly instead of installing a
/// process default, so embedding the proxy never fights another crate over
/// rustls' global provider.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// A client configuration trusting `roots`, speaking HTTP/1.1 upstream.
pub(crate) fn client_config(roots: RootCertStore) -> Result<Arc<ClientConfig>, ProxyError> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| ProxyError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The host's system trust store plus `extra_pem` (each `CERTIFICATE` block).
pub(crate) fn system_roots(extra_pem: Option<&str>) -> Result<RootCertStore, ProxyError> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for err in &native.errors {
        tracing::warn!(%err, "skipping unreadable system CA certificate");
    }
    let (added, ignored) = roots.add_parsable_certificates(native.certs);
    tracing::debug!(added, ignored, "loaded system CA certificates");
    if let Some(pem) = extra_pem {
        add_pem(&mut roots, pem)?;
    }
    Ok(roots)
}

/// Only the CA(s) in `pem`: a registered service's own CA.
pub(crate) fn pem_roots(pem: &str) -> Result<RootCertStore, ProxyError> {
    let mut roots = RootCertStore::empty();
    add_pem(&mut roots, pem)?;
    Ok(roots)
}

fn add_pem(roots: &mut RootCertStore, pem: &str) -> Result<(), ProxyError> {
    for cert in airlock_ca::certs_from_pem(pem)? {
        roots
            .add(cert)
            .map_err(|e| ProxyError::Tls(format!("bad upstream CA certificate: {e}")))?;
    }
    Ok(())
}
