//! Issuance profiles: what a user certificate, an X.509-SVID and a server
//! certificate contain. Every profile shares the leaf skeleton in
//! [`CertificateAuthority::issue`]; a profile only picks subject, SANs and EKU.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use airlock_core::{Claims, NameError, SpiffeId, SubjectKind, TrustDomain};
use rustls_pki_types::CertificateDer;

use crate::BACKDATE;
use crate::ca::{CertificateAuthority, random_serial};
use crate::der::{TimeRangeError, truncate_secs};
use crate::error::CaError;
use crate::keys::PublicKey;
use crate::x509::{self, San, Tbs, ku};
use crate::{oids, pem};

/// Longest lifetime of an X.509-SVID (brief: TTL ≤ 1 h, rotated before expiry).
pub const SVID_MAX_TTL: Duration = Duration::from_secs(3600);

/// A certificate just issued. `not_before`/`not_after` are exactly what the
/// certificate says (whole seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCert {
    /// The certificate, DER.
    pub der: Vec<u8>,
    /// The certificate, PEM.
    pub pem: String,
    /// The serial number, lowercase hex of its DER content octets.
    pub serial_hex: String,
    /// Start of validity (backdated 60 s for clock skew).
    pub not_before: SystemTime,
    /// End of validity.
    pub not_after: SystemTime,
}

impl IssuedCert {
    /// The certificate in the form rustls takes.
    pub fn cert_der(&self) -> CertificateDer<'static> {
        CertificateDer::from(self.der.clone())
    }
}

/// What varies between profiles.
struct Profile<'a> {
    name: &'static str,
    subject: Vec<u8>,
    sans: Vec<San<'a>>,
    /// RFC 5280 4.2.1.6: with an empty subject the SAN is the only name and
    /// must be critical.
    san_critical: bool,
    eku: &'static [&'static [u8]],
    claims: &'a Claims,
}

const CLIENT_ONLY: &[&[u8]] = &[oids::CLIENT_AUTH];
const SERVER_AND_CLIENT: &[&[u8]] = &[oids::SERVER_AUTH, oids::CLIENT_AUTH];

impl CertificateAuthority {
    /// A user certificate: CN = user name, EKU clientAuth, the claims in the
    /// private extension. `ttl` is used as given: the caller clamps it to the
    /// role's maximum.
    pub fn issue_user(
        &self,
        key: &PublicKey,
        claims: &Claims,
        ttl: Duration,
        now: SystemTime,
    ) -> Result<IssuedCert, CaError> {
        expect_kind(claims, "user", &[SubjectKind::User])?;
        let user = claims.user.as_ref().map(|u| u.as_str());
        let profile = Profile {
            name: "user",
            subject: x509::name(None, user),
            sans: Vec::new(),
            san_critical: false,
            eku: CLIENT_ONLY,
            claims,
        };
        self.issue(key, profile, ttl, now)
    }

    /// A SPIFFE X.509-SVID for a sandbox or its workload: exactly one URI SAN
    /// (the SPIFFE ID, which must be the one the claims imply, in this CA's
    /// trust domain), empty subject with the SAN critical (X509-SVID 3.1,
    /// RFC 5280 4.2.1.6), cA=false, keyUsage digitalSignature only
    /// (critical), EKU serverAuth+clientAuth, TTL at most one hour.
    pub fn issue_svid(
        &self,
        key: &PublicKey,
        id: &SpiffeId,
        claims: &Claims,
        ttl: Duration,
        now: SystemTime,
    ) -> Result<IssuedCert, CaError> {
        expect_kind(
            claims,
            "X.509-SVID",
            &[SubjectKind::Sandbox, SubjectKind::Workload],
        )?;
        if ttl > SVID_MAX_TTL {
            return Err(CaError::TtlTooLong {
                what: "an X.509-SVID",
                ttl,
                max: SVID_MAX_TTL,
            });
        }
        check_spiffe_id(self.trust_domain(), id, claims)?;
        let profile = Profile {
            name: "svid",
            subject: x509::name(None, None),
            sans: vec![San::Uri(id.as_str())],
            san_critical: true,
            eku: SERVER_AND_CLIENT,
            claims,
        };
        self.issue(key, profile, ttl, now)
    }

    /// A TLS server certificate (control plane, proxy): SANs from `dns_names`
    /// and `ips`, CN = the first of them, EKU serverAuth+clientAuth (servers
    /// also dial each other).
    pub fn issue_server(
        &self,
        key: &PublicKey,
        dns_names: &[String],
        ips: &[IpAddr],
        claims: &Claims,
        ttl: Duration,
        now: SystemTime,
    ) -> Result<IssuedCert, CaError> {
        expect_kind(claims, "server", &[SubjectKind::Server])?;
        dns_names.iter().try_for_each(|n| check_dns_name(n))?;
        let ip_strings: Vec<String> = ips.iter().map(IpAddr::to_string).collect();
        let cn = dns_names
            .first()
            .or(ip_strings.first())
            .ok_or(CaError::NoServerNames)?;
        let mut sans: Vec<San<'_>> = dns_names.iter().map(|n| San::Dns(n)).collect();
        sans.extend(ips.iter().map(|ip| San::Ip(*ip)));
        let profile = Profile {
            name: "server",
            subject: x509::name(None, Some(cn)),
            sans,
            san_critical: false,
            eku: SERVER_AND_CLIENT,
            claims,
        };
        self.issue(key, profile, ttl, now)
    }

    /// The leaf skeleton shared by every profile.
    fn issue(
        &self,
        key: &PublicKey,
        p: Profile<'_>,
        ttl: Duration,
        now: SystemTime,
    ) -> Result<IssuedCert, CaError> {
        let (not_before, not_after) = self.validity(ttl, now)?;
        let serial = random_serial()?;
        let claims_json = p.claims.encode();
        let key_id = key.key_id();
        let tbs = Tbs {
            serial: &serial,
            issuer: self.anchor().subject_der(),
            not_before,
            not_after,
            subject: &p.subject,
            spki: key.spki_der(),
        }
        .encode(|d| {
            x509::basic_constraints(d, false, None);
            x509::key_usage(d, &[ku::DIGITAL_SIGNATURE]);
            x509::ext_key_usage(d, p.eku);
            x509::subject_key_id(d, &key_id);
            x509::authority_key_id(d, self.anchor().key_id());
            if !p.sans.is_empty() {
                x509::subject_alt_name(d, p.san_critical, &p.sans);
            }
            x509::identity_claims(d, &claims_json);
        })?;
        let der = x509::sign(self.key(), &tbs)?;
        let serial_hex = hex::encode(serial);
        tracing::debug!(profile = p.name, serial = %serial_hex, kind = %p.claims.kind, "issued certificate");
        Ok(IssuedCert {
            pem: pem::encode(pem::CERTIFICATE, &der),
            der,
            serial_hex,
            not_before,
            not_after,
        })
    }

    /// notBefore backdated for clock skew; notAfter = now + ttl, but never
    /// past the CA's own expiry (a leaf cannot outlive its issuer).
    fn validity(
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
        if wanted > ca_end {
            tracing::warn!("certificate lifetime cut to the CA's expiry; rotate the CA soon");
        }
        let not_before = now.checked_sub(BACKDATE).unwrap_or(now);
        Ok((not_before, wanted.min(ca_end)))
    }
}

fn expect_kind(
    claims: &Claims,
    profile: &'static str,
    allowed: &[SubjectKind],
) -> Result<(), CaError> {
    claims.validate()?;
    if !allowed.contains(&claims.kind) {
        return Err(CaError::WrongKind {
            profile,
            kind: claims.kind,
        });
    }
    Ok(())
}

/// The SPIFFE ID a sandbox or workload claim set implies in trust domain
/// `td`; `None` for other kinds. Issuance and verification both hold the
/// certificate to it, so the URI SAN and the claims can never disagree.
pub(crate) fn expected_spiffe_id(td: &TrustDomain, claims: &Claims) -> Option<SpiffeId> {
    let sandbox = claims.sandbox.as_ref()?;
    match claims.kind {
        SubjectKind::Sandbox => Some(SpiffeId::sandbox(td, sandbox)),
        SubjectKind::Workload => Some(SpiffeId::workload(td, sandbox)),
        SubjectKind::User | SubjectKind::Server => None,
    }
}

fn check_spiffe_id(td: &TrustDomain, id: &SpiffeId, claims: &Claims) -> Result<(), CaError> {
    if id.trust_domain() != td.as_str() {
        return Err(CaError::ForeignTrustDomain {
            id: id.to_string(),
            expected: td.to_string(),
        });
    }
    match expected_spiffe_id(td, claims) {
        Some(expected) if expected == *id => Ok(()),
        expected => Err(CaError::SpiffeIdMismatch {
            id: id.to_string(),
            expected: expected.map_or_else(|| "none".into(), |e| e.to_string()),
        }),
    }
}

/// A DNS SAN: LDH labels (a leading `*.` wildcard allowed), at most 253 bytes.
fn check_dns_name(name: &str) -> Result<(), CaError> {
    let host = name.strip_prefix("*.").unwrap_or(name);
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if name.len() <= 253 && host.split('.').all(label_ok) {
        return Ok(());
    }
    Err(NameError {
        kind: "DNS name",
        value: name.chars().take(80).collect(),
        rule: "use letters, digits and '-' in dot-separated labels (a leading '*.' is allowed)",
    }
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_names() {
        for ok in ["localhost", "airlock.example.com", "*.proxy.local", "a-1"] {
            assert!(check_dns_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a..b", "-a", "a b", "*", "a.*.b", "é.com", "x.", "a_b"] {
            assert!(check_dns_name(bad).is_err(), "{bad:?}");
        }
    }
}
