//! Verification of a presented leaf certificate, run by the control plane on
//! every mTLS request. The order of the checks decides which error the caller
//! sees, so it goes from "what is this" to "who is this":
//!
//! 1. parse (x509-parser) → `Malformed`
//! 2. issuer Name + AKI match a CA we hold → `UnknownIssuer`
//! 3. ECDSA signature with that CA's key → `BadSignature`
//! 4. validity window → `NotYetValid` / `Expired`
//! 5. leaf only, no unknown critical extension → `NotALeaf` / `Malformed`
//! 6. identity claims (and SPIFFE ID for SVIDs) → `MissingClaims` / `BadClaims`

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use airlock_core::{Claims, SpiffeId, SubjectKind};
use ring::signature::{ECDSA_P256_SHA256_ASN1, UnparsedPublicKey};
use x509_parser::der_parser::asn1_rs::Any;
use x509_parser::prelude::{FromDer, GeneralName, ParsedExtension, X509Certificate};

use crate::anchor::TrustAnchor;
use crate::error::VerifyError;
use crate::issue::expected_spiffe_id;
use crate::oids;

/// What a verified certificate says about its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCert {
    /// The Airlock identity claims.
    pub claims: Claims,
    /// The subject CN (user name for user certs; `None` for SVIDs).
    pub common_name: Option<String>,
    /// The SPIFFE ID of a sandbox or workload SVID.
    pub spiffe_id: Option<SpiffeId>,
    /// The serial number, lowercase hex (as in [`crate::IssuedCert`]).
    pub serial_hex: String,
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity.
    pub not_after: SystemTime,
}

impl TrustAnchor {
    /// Verifies a DER leaf certificate against this CA alone.
    pub fn verify(&self, cert_der: &[u8], now: SystemTime) -> Result<VerifiedCert, VerifyError> {
        let cert = parse(cert_der)?;
        if !self.issued(&cert) {
            return Err(unknown_issuer(&cert));
        }
        self.check(&cert, now)
    }

    /// Whether `cert` names this CA as issuer: same issuer Name and, when the
    /// certificate has an AKI, the same key id. The AKI tells apart two CAs
    /// of one cluster name (before and after a rotation).
    pub(crate) fn issued(&self, cert: &X509Certificate<'_>) -> bool {
        cert.issuer().as_raw() == self.subject_der()
            && authority_key_id(cert).is_none_or(|aki| aki == self.key_id())
    }

    /// Steps 3-6, once the issuer is known to be this CA.
    pub(crate) fn check(
        &self,
        cert: &X509Certificate<'_>,
        now: SystemTime,
    ) -> Result<VerifiedCert, VerifyError> {
        self.check_signature(cert)?;
        let (not_before, not_after) = check_validity(cert, now)?;
        check_leaf(cert)?;
        let claims = claims_of(cert)?;
        let common_name = common_name_of(cert);
        if claims.kind == SubjectKind::User
            && common_name.as_deref() != claims.user.as_ref().map(|u| u.as_str())
        {
            return Err(VerifyError::BadClaims(
                "subject CN differs from the user in the claims".into(),
            ));
        }
        Ok(VerifiedCert {
            spiffe_id: self.spiffe_id_of(cert, &claims)?,
            claims,
            common_name,
            serial_hex: hex::encode(cert.tbs_certificate.raw_serial()),
            not_before,
            not_after,
        })
    }

    fn check_signature(&self, cert: &X509Certificate<'_>) -> Result<(), VerifyError> {
        // Our CAs sign with ECDSA-SHA256 only; any other algorithm under our
        // name is a forgery, so it is a bad signature, not a parse error.
        if cert.signature_algorithm.algorithm.as_bytes() != oids::ECDSA_SHA256 {
            return Err(VerifyError::BadSignature);
        }
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, self.public_key().point())
            .verify(cert.tbs_certificate.as_ref(), &cert.signature_value.data)
            .map_err(|_| VerifyError::BadSignature)
    }

    /// The SVID's SPIFFE ID: exactly one URI SAN (X509-SVID 5.2), equal to the
    /// ID the claims imply in this CA's trust domain. `None` for other kinds.
    fn spiffe_id_of(
        &self,
        cert: &X509Certificate<'_>,
        claims: &Claims,
    ) -> Result<Option<SpiffeId>, VerifyError> {
        let Some(expected) = expected_spiffe_id(self.trust_domain(), claims) else {
            return Ok(None);
        };
        let uris = uri_sans(cert)?;
        let [uri] = uris.as_slice() else {
            return Err(VerifyError::BadClaims(format!(
                "an X.509-SVID must carry exactly one URI SAN, this one has {}",
                uris.len()
            )));
        };
        let id = SpiffeId::parse(uri).map_err(|e| VerifyError::BadClaims(e.to_string()))?;
        if id != expected {
            return Err(VerifyError::BadClaims(format!(
                "SPIFFE ID {id} does not match the claims (expected {expected})"
            )));
        }
        Ok(Some(id))
    }
}

/// Parses untrusted bytes; x509-parser is the only parser involved.
pub(crate) fn parse(der: &[u8]) -> Result<X509Certificate<'_>, VerifyError> {
    let (rest, cert) =
        X509Certificate::from_der(der).map_err(|e| VerifyError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(VerifyError::Malformed(
            "trailing bytes after the certificate".into(),
        ));
    }
    Ok(cert)
}

pub(crate) fn unknown_issuer(cert: &X509Certificate<'_>) -> VerifyError {
    VerifyError::UnknownIssuer {
        issuer: cert.issuer().to_string(),
    }
}

/// Seconds since the epoch (possibly negative) as a `SystemTime`.
pub(crate) fn to_system_time(unix: i64) -> SystemTime {
    let magnitude = Duration::from_secs(unix.unsigned_abs());
    if unix >= 0 {
        UNIX_EPOCH + magnitude
    } else {
        UNIX_EPOCH - magnitude
    }
}

fn authority_key_id<'a>(cert: &'a X509Certificate<'_>) -> Option<&'a [u8]> {
    cert.extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(aki) => aki.key_identifier.as_ref(),
            _ => None,
        })
        .map(|k| k.0)
}

fn check_validity(
    cert: &X509Certificate<'_>,
    now: SystemTime,
) -> Result<(SystemTime, SystemTime), VerifyError> {
    let validity = cert.validity();
    let not_before = to_system_time(validity.not_before.timestamp());
    let not_after = to_system_time(validity.not_after.timestamp());
    if now < not_before {
        return Err(VerifyError::NotYetValid { not_before });
    }
    if now > not_after {
        return Err(VerifyError::Expired { not_after });
    }
    Ok((not_before, not_after))
}

/// A CA certificate must not authenticate (X509-SVID 5.2), and a critical
/// extension we do not understand must be refused (RFC 5280 4.2).
fn check_leaf(cert: &X509Certificate<'_>) -> Result<(), VerifyError> {
    if cert.is_ca() {
        return Err(VerifyError::NotALeaf);
    }
    let unknown_critical = cert.extensions().iter().find(|e| {
        e.critical
            && matches!(
                e.parsed_extension(),
                ParsedExtension::UnsupportedExtension { .. } | ParsedExtension::ParseError { .. }
            )
    });
    match unknown_critical {
        Some(e) => Err(VerifyError::Malformed(format!(
            "critical extension {} is not understood",
            e.oid
        ))),
        None => Ok(()),
    }
}

/// Decodes the identity extension: extnValue holds a UTF8String of JSON.
fn claims_of(cert: &X509Certificate<'_>) -> Result<Claims, VerifyError> {
    let mut found = cert
        .extensions()
        .iter()
        .filter(|e| e.oid.as_bytes() == oids::IDENTITY_CLAIMS);
    let ext = found.next().ok_or(VerifyError::MissingClaims)?;
    if found.next().is_some() {
        return Err(VerifyError::BadClaims(
            "the identity extension appears twice".into(),
        ));
    }
    let bad = |why: String| VerifyError::BadClaims(why);
    let (rest, any) = Any::from_der(ext.value).map_err(|e| bad(format!("not DER: {e}")))?;
    if !rest.is_empty() {
        return Err(bad("trailing bytes in the identity extension".into()));
    }
    let json = any
        .as_str()
        .map_err(|_| bad("the identity extension is not a UTF8String".into()))?;
    Claims::decode(json.as_bytes()).map_err(|e| bad(e.to_string()))
}

fn common_name_of(cert: &X509Certificate<'_>) -> Option<String> {
    cert.subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned)
}

fn uri_sans<'a>(cert: &'a X509Certificate<'_>) -> Result<Vec<&'a str>, VerifyError> {
    let san = cert
        .subject_alternative_name()
        .map_err(|e| VerifyError::Malformed(format!("subjectAltName: {e}")))?;
    Ok(san
        .into_iter()
        .flat_map(|ext| ext.value.general_names.iter())
        .filter_map(|n| match n {
            GeneralName::URI(u) => Some(*u),
            _ => None,
        })
        .collect())
}
