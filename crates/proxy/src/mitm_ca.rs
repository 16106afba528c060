//! The interception CA: a P-256 root every sandbox trusts, and the leaf
//! certificates it mints per host on demand so the proxy can terminate the
//! sandbox's TLS and apply L7 rules and credential injection inside.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use airlock_ca::{CertificateAuthority, KeyPair};
use airlock_core::TrustDomain;
use rustls::ServerConfig;
use rustls_pki_types::CertificateDer;

use crate::error::ProxyError;

/// How long a minted leaf is valid. Short, because it is minted on demand
/// and only ever presented to our own sandboxes.
const LEAF_TTL: Duration = Duration::from_secs(24 * 3600);
/// A cached leaf is re-minted once it is this old.
const LEAF_RENEW: Duration = Duration::from_secs(12 * 3600);
/// Most hosts cached; past it the cache starts over (a sandbox enumerating
/// hosts cannot grow it without bound).
const CACHE_MAX: usize = 4096;

/// The proxy CA and its cache of per-host TLS server configurations.
pub struct ProxyCa {
    ca: CertificateAuthority,
    leaves: Mutex<HashMap<String, Leaf>>,
}

struct Leaf {
    config: Arc<ServerConfig>,
    renew_at: SystemTime,
}

impl ProxyCa {
    /// Creates a new interception CA (store it with [`Self::cert_pem`] and
    /// [`Self::key_pkcs8_pem`]; the key file must be mode 0600).
    pub fn generate(
        cluster_name: &str,
        td: TrustDomain,
        validity: Duration,
    ) -> Result<Self, ProxyError> {
        let name = format!("{cluster_name} proxy");
        let ca = CertificateAuthority::generate(&name, td, validity, SystemTime::now())?;
        Ok(Self::from_ca(ca))
    }

    /// Loads a stored interception CA.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, ProxyError> {
        Ok(Self::from_ca(CertificateAuthority::from_pem(
            cert_pem, key_pem,
        )?))
    }

    /// Wraps an already loaded CA.
    pub fn from_ca(ca: CertificateAuthority) -> Self {
        Self {
            ca,
            leaves: Mutex::new(HashMap::new()),
        }
    }

    /// The CA certificate sandboxes must trust (system store, `SSL_CERT_FILE`,
    /// `NODE_EXTRA_CA_CERTS`, `REQUESTS_CA_BUNDLE`, `GIT_SSL_CAINFO`).
    pub fn cert_pem(&self) -> String {
        self.ca.cert_pem()
    }

    /// The CA key, PKCS#8 PEM. Secret.
    pub fn key_pkcs8_pem(&self) -> String {
        self.ca.key_pkcs8_pem()
    }

    /// The TLS server configuration presenting a leaf for `host`, minted on
    /// first use and cached. ALPN offers h2 and http/1.1.
    pub(crate) fn server_config(&self, host: &str) -> Result<Arc<ServerConfig>, ProxyError> {
        let now = SystemTime::now();
        if let Some(leaf) = self.lock().get(host)
            && leaf.renew_at > now
        {
            return Ok(leaf.config.clone());
        }
        // Minted outside the lock: two racing handshakes may both mint, which
        // costs a signature, while holding the lock would serialize them all.
        let config = Arc::new(self.mint(host, now)?);
        let mut leaves = self.lock();
        if leaves.len() >= CACHE_MAX {
            leaves.clear();
        }
        let renew_at = now + LEAF_RENEW;
        leaves.insert(
            host.to_owned(),
            Leaf {
                config: config.clone(),
                renew_at,
            },
        );
        Ok(config)
    }

    fn mint(&self, host: &str, now: SystemTime) -> Result<ServerConfig, ProxyError> {
        let key = KeyPair::generate()?;
        let cert = self
            .ca
            .issue_interception_leaf(&key.public_key(), host, LEAF_TTL, now)?;
        tracing::debug!(host, serial = %cert.serial_hex, "minted interception leaf");
        let chain = vec![CertificateDer::from(cert.der)];
        let mut config = ServerConfig::builder_with_provider(crate::tls::provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| ProxyError::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain, key.private_key_der())
            .map_err(|e| ProxyError::Tls(e.to_string()))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Leaf>> {
        // A panic while holding the lock leaves a plain map behind: still usable.
        self.leaves.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl std::fmt::Debug for ProxyCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyCa")
            .field("ca", &self.ca)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_are_cached_per_host() {
        let ca = ProxyCa::generate(
            "t",
            TrustDomain::new("airlock.test").unwrap(),
            Duration::from_secs(3600),
        )
        .unwrap();
        let a = ca.server_config("api.example.com").unwrap();
        let b = ca.server_config("api.example.com").unwrap();
        let c = ca.server_config("10.0.0.1").unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(a.alpn_protocols, [b"h2".to_vec(), b"http/1.1".to_vec()]);
        assert!(ca.server_config("not a host").is_err());
    }
}
