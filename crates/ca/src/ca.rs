//! The cluster's certificate authority: a self-signed P-256 root and its key.
//! Issuance profiles are in `issue.rs`, verification in `verify.rs`.

use std::fmt;
use std::time::{Duration, SystemTime};

use airlock_core::{NameError, TrustDomain};
use ring::rand::{SecureRandom, SystemRandom};

use crate::BACKDATE;
use crate::anchor::TrustAnchor;
use crate::der::truncate_secs;
use crate::error::{CaError, VerifyError};
use crate::keys::KeyPair;
use crate::verify::VerifiedCert;
use crate::x509::{self, San, Tbs, ku};

/// The CA: its certificate (as a [`TrustAnchor`]) and its signing key.
///
/// The issuer Name DER and key identifier every leaf needs are computed once
/// at load, so issuing is: build TBS bytes, sign once.
pub struct CertificateAuthority {
    anchor: TrustAnchor,
    key: KeyPair,
}

impl CertificateAuthority {
    /// Creates a new self-signed root: cA=true with pathLen 0 (it signs leaves
    /// only), keyUsage keyCertSign+cRLSign (critical), SKI, and the trust
    /// domain as URI SAN `spiffe://<td>` so that [`Self::from_pem`] recovers it.
    pub fn generate(
        cluster_name: &str,
        trust_domain: TrustDomain,
        validity: Duration,
        now: SystemTime,
    ) -> Result<Self, CaError> {
        check_cluster_name(cluster_name)?;
        if validity.as_secs() == 0 {
            return Err(CaError::ZeroTtl);
        }
        let key = KeyPair::generate()?;
        let public = key.public_ref();
        let subject = x509::name(Some("Airlock"), Some(&format!("Airlock CA {cluster_name}")));
        let now = truncate_secs(now)?;
        let not_after = now
            .checked_add(validity)
            .ok_or(crate::der::TimeRangeError)?;
        let td_uri = format!("spiffe://{trust_domain}");
        let tbs = Tbs {
            serial: &random_serial()?,
            issuer: &subject,
            not_before: now.checked_sub(BACKDATE).unwrap_or(now),
            not_after: truncate_secs(not_after)?,
            subject: &subject,
            spki: public.spki_der(),
        }
        .encode(|d| {
            x509::basic_constraints(d, true, Some(0));
            x509::key_usage(d, &[ku::KEY_CERT_SIGN, ku::CRL_SIGN]);
            x509::subject_key_id(d, &public.key_id());
            x509::subject_alt_name(d, false, &[San::Uri(&td_uri)]);
        })?;
        let der = x509::sign(&key, &tbs)?;
        // Re-reading our own output through x509-parser checks it parses and
        // yields exactly what verification will use.
        let anchor = TrustAnchor::from_der(&der)?;
        tracing::info!(%trust_domain, fingerprint = anchor.fingerprint(), "generated CA");
        Ok(Self { anchor, key })
    }

    /// Loads a CA from its certificate and PKCS#8 key, checking they match.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, CaError> {
        Self::from_parts(
            TrustAnchor::from_pem(cert_pem)?,
            KeyPair::from_pkcs8_pem(key_pem)?,
        )
    }

    /// Joins a loaded certificate and key, checking they match.
    pub fn from_parts(anchor: TrustAnchor, key: KeyPair) -> Result<Self, CaError> {
        if anchor.public_key() != key.public_ref() {
            return Err(CaError::KeyMismatch);
        }
        Ok(Self { anchor, key })
    }

    /// The CA certificate, DER.
    pub fn cert_der(&self) -> &[u8] {
        self.anchor.cert_der()
    }

    /// The CA certificate, PEM (what clients put in their trust store).
    pub fn cert_pem(&self) -> String {
        self.anchor.cert_pem()
    }

    /// The CA key as PKCS#8 PEM. Secret: write it with [`crate::write_key_file`].
    pub fn key_pkcs8_pem(&self) -> String {
        self.key.to_pkcs8_pem()
    }

    /// SHA-256 of the CA certificate DER, lowercase hex (see [`format_fingerprint`]).
    pub fn fingerprint(&self) -> &str {
        self.anchor.fingerprint()
    }

    /// The SPIFFE trust domain this CA issues for.
    pub fn trust_domain(&self) -> &TrustDomain {
        self.anchor.trust_domain()
    }

    /// The CA certificate without the key.
    pub fn anchor(&self) -> &TrustAnchor {
        &self.anchor
    }

    /// Verifies a certificate against this CA alone (see [`crate::TrustBundle`]
    /// for several).
    pub fn verify(&self, cert_der: &[u8], now: SystemTime) -> Result<VerifiedCert, VerifyError> {
        self.anchor.verify(cert_der, now)
    }

    pub(crate) fn key(&self) -> &KeyPair {
        &self.key
    }
}

impl fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("anchor", &self.anchor)
            .finish_non_exhaustive()
    }
}

/// `SHA256:ab:cd:...` from a lowercase hex fingerprint, for display and for
/// users comparing it by eye (as `airlock login` asks them to).
pub fn format_fingerprint(hex: &str) -> String {
    let pairs: Vec<&str> = hex
        .as_bytes()
        .chunks(2)
        .map(|c| std::str::from_utf8(c).unwrap_or("??"))
        .collect();
    format!("SHA256:{}", pairs.join(":"))
}

/// A serial number: 16 random bytes, positive (high bit clear) and with a
/// non-zero first byte, so every serial encodes to exactly 16 octets
/// (RFC 5280 allows up to 20) with 126+ bits of entropy.
pub(crate) fn random_serial() -> Result<[u8; 16], CaError> {
    let mut serial = [0u8; 16];
    SystemRandom::new()
        .fill(&mut serial)
        .map_err(|_| CaError::Crypto("random serial"))?;
    serial[0] &= 0x7f;
    if serial[0] == 0 {
        serial[0] = 0x40;
    }
    Ok(serial)
}

fn check_cluster_name(name: &str) -> Result<(), CaError> {
    let ok = !name.trim().is_empty()
        && name.chars().count() <= 48
        && !name.chars().any(char::is_control);
    if ok {
        return Ok(());
    }
    Err(NameError {
        kind: "cluster name",
        value: name.chars().take(80).collect(),
        rule: "use 1-48 printable characters",
    }
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_display() {
        assert_eq!(format_fingerprint("ab01ff"), "SHA256:ab:01:ff");
    }

    #[test]
    fn serials_are_positive_and_full_length() {
        for _ in 0..200 {
            let s = random_serial().unwrap();
            assert!(s[0] != 0 && s[0] & 0x80 == 0);
        }
    }

    #[test]
    fn cluster_name_rules() {
        assert!(check_cluster_name("prod eu-1").is_ok());
        for bad in ["", "  ", "a\nb", &"x".repeat(49)] {
            assert!(check_cluster_name(bad).is_err(), "{bad:?}");
        }
    }
}
