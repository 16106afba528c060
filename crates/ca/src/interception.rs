//! Leaves for the access proxy's TLS interception: a plain TLS server
//! certificate for one host, minted on demand when a sandbox opens a tunnel.
//!
//! Unlike [`CertificateAuthority::issue_server`], the leaf carries no
//! Airlock identity-claims extension: it names no Airlock subject (it
//! stands in for an outside host towards our own sandbox), so it should look
//! like any ordinary server certificate to the clients inside.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use airlock_core::NameError;

use crate::BACKDATE;
use crate::ca::{CertificateAuthority, random_serial};
use crate::der::{TimeRangeError, truncate_secs};
use crate::error::CaError;
use crate::issue::IssuedCert;
use crate::keys::PublicKey;
use crate::x509::{self, San, Tbs, ku};
use crate::{oids, pem};

impl CertificateAuthority {
    /// A TLS server leaf for `host` (a DNS name or an IP literal): CN and the
    /// only SAN are the host, EKU serverAuth, keyUsage digitalSignature,
    /// valid from `now` (backdated for skew) for `ttl`, never past the CA.
    pub fn issue_interception_leaf(
        &self,
        key: &PublicKey,
        host: &str,
        ttl: Duration,
        now: SystemTime,
    ) -> Result<IssuedCert, CaError> {
        let san = match host.parse::<IpAddr>() {
            Ok(ip) => San::Ip(ip),
            Err(_) => San::Dns(check_host(host)?),
        };
        let (not_before, not_after) = self.leaf_validity(ttl, now)?;
        let serial = random_serial()?;
        let tbs = Tbs {
            serial: &serial,
            issuer: self.anchor().subject_der(),
            not_before,
            not_after,
            subject: &x509::name(None, Some(host)),
            spki: key.spki_der(),
        }
        .encode(|d| {
            x509::basic_constraints(d, false, None);
            x509::key_usage(d, &[ku::DIGITAL_SIGNATURE]);
            x509::ext_key_usage(d, &[oids::SERVER_AUTH]);
            x509::subject_key_id(d, &key.key_id());
            x509::authority_key_id(d, self.anchor().key_id());
            x509::subject_alt_name(d, false, &[san]);
        })?;
        let der = x509::sign(self.key(), &tbs)?;
        Ok(IssuedCert {
            pem: pem::encode(pem::CERTIFICATE, &der),
            der,
            serial_hex: hex::encode(serial),
            not_before,
            not_after,
        })
    }

    fn leaf_validity(
        &self,
        ttl: Duration,
        now: SystemTime,
    ) -> Result<(SystemTime, SystemTime), CaError> {
        if ttl.as_secs() == 0 {
            return Err(CaError::ZeroTtl);
        }
        let now = truncate_secs(now)?;
        let ca_end = self.anchor().not_after();
        if now > ca_end {
            return Err(CaError::CaExpired { not_after: ca_end });
        }
        let wanted = truncate_secs(now.checked_add(ttl).ok_or(TimeRangeError)?)?;
        Ok((now.checked_sub(BACKDATE).unwrap_or(now), wanted.min(ca_end)))
    }
}

/// LDH labels, at most 253 bytes: what a TLS client can have sent as SNI.
fn check_host(host: &str) -> Result<&str, CaError> {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if host.len() <= 253 && host.split('.').all(label_ok) {
        return Ok(host);
    }
    Err(NameError {
        kind: "host name",
        value: host.chars().take(80).collect(),
        rule: "use letters, digits and '-' in dot-separated labels",
    }
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_core::TrustDomain;
    use x509_parser::prelude::{FromDer, X509Certificate};

    #[test]
    fn leaves_name_the_host_and_carry_no_claims() {
        let now = SystemTime::now();
        let td = TrustDomain::new("airlock.test").unwrap();
        let ca = CertificateAuthority::generate("t", td, Duration::from_secs(3600), now).unwrap();
        let key = crate::KeyPair::generate().unwrap().public_key();
        for host in ["api.example.com", "127.0.0.1", "::1"] {
            let cert = ca
                .issue_interception_leaf(&key, host, Duration::from_secs(60), now)
                .unwrap();
            let (_, x) = X509Certificate::from_der(&cert.der).unwrap();
            assert!(
                x.extensions()
                    .iter()
                    .all(|e| e.oid.to_id_string() != airlock_core::oid::IDENTITY_EXT_OID)
            );
            assert_eq!(
                x.subject_alternative_name()
                    .unwrap()
                    .unwrap()
                    .value
                    .general_names
                    .len(),
                1
            );
            assert!(
                ca.verify(&cert.der, now).is_err(),
                "no claims: not an Airlock identity"
            );
        }
        assert!(
            ca.issue_interception_leaf(&key, "bad_host", Duration::from_secs(60), now)
                .is_err()
        );
    }
}
