//! What the control plane plugs in to answer init's identity requests.
//!
//! The methods are synchronous (issuance is a signature, maybe a store
//! lookup for locks) and run on tokio's blocking pool. An `Err` string goes
//! back to init, inside the sandbox: never put host secrets in it.

use std::time::Duration;

use airlock_core::SandboxId;

/// An X.509-SVID issued for a CSR made inside the sandbox.
#[derive(Debug, Clone)]
pub struct IssuedSvid {
    /// The SPIFFE ID in the certificate (the workload's).
    pub spiffe_id: String,
    /// Leaf first, then any intermediates; DER.
    pub cert_chain_der: Vec<Vec<u8>>,
    /// Every CA certificate of the trust domain; DER.
    pub bundle_der: Vec<Vec<u8>>,
    /// The leaf's notAfter, seconds since the epoch.
    pub expires_unix: u64,
}

/// A JWT-SVID.
#[derive(Debug, Clone)]
pub struct IssuedJwt {
    /// `sub`.
    pub spiffe_id: String,
    /// Compact JWS.
    pub token: String,
}

/// The JWT signing keys.
#[derive(Debug, Clone)]
pub struct JwtBundle {
    /// The trust domain, e.g. `airlock.local`.
    pub trust_domain: String,
    /// JWK Set, JSON text.
    pub jwks: String,
}

/// Issues identity for the workload of a sandbox.
pub trait Issuer: Send + Sync + 'static {
    /// The workload X.509-SVID for the public key in `csr_der` (PKCS#10,
    /// untrusted: verify its signature). The key stays in the sandbox.
    fn issue_svid(&self, sandbox: &SandboxId, csr_der: &[u8]) -> Result<IssuedSvid, String>;

    /// A JWT-SVID for the workload, for one `audience`; `ttl` is what init
    /// asked for (clamp it).
    fn mint_jwt(
        &self,
        sandbox: &SandboxId,
        audience: &str,
        ttl: Option<Duration>,
    ) -> Result<IssuedJwt, String>;

    /// The keys that verify JWT-SVIDs.
    fn jwt_bundle(&self, sandbox: &SandboxId) -> Result<JwtBundle, String>;
}
