//! Several CAs at once, for rotation: the current CA signs, and certificates
//! from any CA still in the bundle keep verifying until they expire.

use std::time::SystemTime;

use crate::anchor::TrustAnchor;
use crate::ca::CertificateAuthority;
use crate::error::{CaError, VerifyError};
use crate::verify::{VerifiedCert, parse, unknown_issuer};

/// The signing CA plus every CA certificate still trusted.
#[derive(Debug)]
pub struct TrustBundle {
    current: CertificateAuthority,
    /// All trusted roots, the current one first.
    cas: Vec<TrustAnchor>,
}

impl TrustBundle {
    /// A bundle holding only `current`.
    pub fn new(current: CertificateAuthority) -> Self {
        let cas = vec![current.anchor().clone()];
        Self { current, cas }
    }

    /// Also trusts `anchor` (e.g. the previous CA after a rotation). It must
    /// serve the same trust domain; adding one already present does nothing.
    pub fn add(&mut self, anchor: TrustAnchor) -> Result<(), CaError> {
        self.check_trust_domain(&anchor)?;
        if !self.contains(anchor.fingerprint()) {
            self.cas.push(anchor);
        }
        Ok(())
    }

    /// Makes `next` the signing CA, keeping the old one trusted so the
    /// certificates it issued stay valid until they expire.
    pub fn rotate(&mut self, next: CertificateAuthority) -> Result<(), CaError> {
        self.check_trust_domain(next.anchor())?;
        let anchor = next.anchor().clone();
        let previous = std::mem::replace(&mut self.current, next);
        self.cas.retain(|a| a.fingerprint() != anchor.fingerprint());
        self.cas.insert(0, anchor);
        if !self.contains(previous.fingerprint()) {
            self.cas.push(previous.anchor().clone());
        }
        tracing::info!(
            current = self.current.fingerprint(),
            previous = previous.fingerprint(),
            "rotated CA"
        );
        Ok(())
    }

    /// Drops CAs whose own certificate has expired at `now` (never the current one).
    pub fn prune(&mut self, now: SystemTime) {
        let current = self.current.fingerprint().to_owned();
        self.cas
            .retain(|a| a.fingerprint() == current || a.not_after() >= now);
    }

    /// The CA that signs new certificates.
    pub fn current(&self) -> &CertificateAuthority {
        &self.current
    }

    /// Every trusted CA certificate, the current one first.
    pub fn cas(&self) -> &[TrustAnchor] {
        &self.cas
    }

    /// All CA certificates as one PEM file, for clients' trust stores.
    pub fn to_pem(&self) -> String {
        self.cas.iter().map(TrustAnchor::cert_pem).collect()
    }

    /// Verifies a leaf against whichever trusted CA issued it.
    pub fn verify(&self, cert_der: &[u8], now: SystemTime) -> Result<VerifiedCert, VerifyError> {
        let cert = parse(cert_der)?;
        let issuer = self
            .cas
            .iter()
            .find(|a| a.issued(&cert))
            .ok_or_else(|| unknown_issuer(&cert))?;
        issuer.check(&cert, now)
    }

    /// One bundle, one trust domain: federation is a different feature.
    fn check_trust_domain(&self, anchor: &TrustAnchor) -> Result<(), CaError> {
        if anchor.trust_domain() == self.current.trust_domain() {
            return Ok(());
        }
        Err(CaError::CaCert(format!(
            "it serves trust domain {}, but this bundle serves {}",
            anchor.trust_domain(),
            self.current.trust_domain()
        )))
    }

    fn contains(&self, fingerprint: &str) -> bool {
        self.cas.iter().any(|a| a.fingerprint() == fingerprint)
    }
}
