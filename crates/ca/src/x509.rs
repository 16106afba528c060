//! Building blocks of the X.509 structures this crate signs: Names,
//! TBSCertificate, extensions, and the signed envelope shared by
//! certificates and PKCS#10 requests. Profiles (what goes into a user cert,
//! an SVID, ...) live in `issue.rs`; this module only knows the shapes.

use std::net::IpAddr;
use std::time::SystemTime;

use crate::der::{Der, TimeRangeError};
use crate::error::CaError;
use crate::keys::KeyPair;
use crate::oids;

/// KeyUsage bit numbers (RFC 5280 4.2.1.3).
pub(crate) mod ku {
    pub const DIGITAL_SIGNATURE: u8 = 0;
    pub const KEY_CERT_SIGN: u8 = 5;
    pub const CRL_SIGN: u8 = 6;
}

/// One subjectAltName entry.
#[derive(Debug, Clone, Copy)]
pub(crate) enum San<'a> {
    /// dNSName [2]
    Dns(&'a str),
    /// uniformResourceIdentifier [6]
    Uri(&'a str),
    /// iPAddress [7]
    Ip(IpAddr),
}

/// A Name of at most an organization and a common name. The CN is a
/// UTF8String (RFC 5280 4.1.2.6; user names hold `@` and `_`, which
/// PrintableString cannot); the organization is a fixed ASCII word, written
/// as PrintableString like most CAs do. No attribute gives an empty Name.
pub(crate) fn name(org: Option<&str>, cn: Option<&str>) -> Vec<u8> {
    let mut d = Der::new();
    d.sequence(|d| {
        if let Some(org) = org {
            attribute(d, oids::ORGANIZATION, |d| {
                if d.printable_string(org).is_none() {
                    d.utf8_string(org);
                }
            });
        }
        if let Some(cn) = cn {
            attribute(d, oids::COMMON_NAME, |d| d.utf8_string(cn));
        }
    });
    d.into_vec()
}

/// One RelativeDistinguishedName with a single AttributeTypeAndValue.
fn attribute(d: &mut Der, oid: &[u8], value: impl FnOnce(&mut Der)) {
    d.set(|d| {
        d.sequence(|d| {
            d.oid(oid);
            value(d);
        })
    });
}

/// The fields of a TBSCertificate that vary per certificate.
#[derive(Debug)]
pub(crate) struct Tbs<'a> {
    /// Serial number magnitude (positive, minimal after encoding).
    pub serial: &'a [u8],
    /// Issuer Name DER (the CA's subject, precomputed).
    pub issuer: &'a [u8],
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity.
    pub not_after: SystemTime,
    /// Subject Name DER.
    pub subject: &'a [u8],
    /// SubjectPublicKeyInfo DER.
    pub spki: &'a [u8],
}

impl Tbs<'_> {
    /// Encodes a v3 TBSCertificate whose extensions `extensions` writes.
    pub fn encode(&self, extensions: impl FnOnce(&mut Der)) -> Result<Vec<u8>, TimeRangeError> {
        let mut d = Der::new();
        let mut time_result = Ok(());
        d.sequence(|d| {
            d.explicit(0, |d| d.small_integer(2)); // v3
            d.unsigned_integer(self.serial);
            signature_algorithm(d);
            d.raw(self.issuer);
            d.sequence(|d| {
                time_result = d
                    .time(self.not_before)
                    .and_then(|()| d.time(self.not_after));
            });
            d.raw(self.subject);
            d.raw(self.spki);
            d.explicit(3, |d| d.sequence(extensions));
        });
        time_result.map(|()| d.into_vec())
    }
}

/// `AlgorithmIdentifier { ecdsa-with-SHA256 }`: parameters absent (RFC 5758 3.2).
fn signature_algorithm(d: &mut Der) {
    d.sequence(|d| d.oid(oids::ECDSA_SHA256));
}

/// Signs `tbs` and wraps it as `SEQUENCE { tbs, algorithm, BIT STRING sig }`,
/// the envelope of both Certificate and CertificationRequest.
pub(crate) fn sign(key: &KeyPair, tbs: &[u8]) -> Result<Vec<u8>, CaError> {
    let sig = key.sign(tbs)?;
    let mut d = Der::new();
    d.sequence(|d| {
        d.raw(tbs);
        signature_algorithm(d);
        d.bit_string(&sig);
    });
    Ok(d.into_vec())
}

/// `Extension ::= SEQUENCE { extnID, critical DEFAULT FALSE, extnValue }`;
/// `value` writes the DER that the extnValue OCTET STRING wraps.
pub(crate) fn extension(d: &mut Der, oid: &[u8], critical: bool, value: impl FnOnce(&mut Der)) {
    d.sequence(|d| {
        d.oid(oid);
        if critical {
            // DER omits a BOOLEAN equal to its DEFAULT, so FALSE is never written.
            d.boolean(true);
        }
        d.octet_string_with(value);
    });
}

/// basicConstraints, critical. `cA` FALSE is the DEFAULT, so a leaf's value
/// is an empty SEQUENCE.
pub(crate) fn basic_constraints(d: &mut Der, ca: bool, path_len: Option<u8>) {
    extension(d, oids::BASIC_CONSTRAINTS, true, |d| {
        d.sequence(|d| {
            if ca {
                d.boolean(true);
            }
            if let Some(n) = path_len {
                d.small_integer(u64::from(n));
            }
        })
    });
}

/// keyUsage, critical (RFC 5280 and SPIFFE both require it).
pub(crate) fn key_usage(d: &mut Der, bits: &[u8]) {
    extension(d, oids::KEY_USAGE, true, |d| d.named_bits(bits));
}

/// extKeyUsage, non-critical.
pub(crate) fn ext_key_usage(d: &mut Der, purposes: &[&[u8]]) {
    extension(d, oids::EXT_KEY_USAGE, false, |d| {
        d.sequence(|d| purposes.iter().for_each(|p| d.oid(p)))
    });
}

/// subjectKeyIdentifier.
pub(crate) fn subject_key_id(d: &mut Der, id: &[u8]) {
    extension(d, oids::SUBJECT_KEY_ID, false, |d| d.octet_string(id));
}

/// authorityKeyIdentifier with only keyIdentifier [0].
pub(crate) fn authority_key_id(d: &mut Der, id: &[u8]) {
    extension(d, oids::AUTHORITY_KEY_ID, false, |d| {
        d.sequence(|d| d.implicit(0, id))
    });
}

/// subjectAltName. Critical exactly when the subject is empty (RFC 5280 4.2.1.6).
pub(crate) fn subject_alt_name(d: &mut Der, critical: bool, names: &[San<'_>]) {
    extension(d, oids::SUBJECT_ALT_NAME, critical, |d| {
        d.sequence(|d| names.iter().for_each(|n| general_name(d, n)))
    });
}

fn general_name(d: &mut Der, name: &San<'_>) {
    match name {
        San::Dns(s) => d.implicit(2, s.as_bytes()),
        San::Uri(s) => d.implicit(6, s.as_bytes()),
        San::Ip(IpAddr::V4(ip)) => d.implicit(7, &ip.octets()),
        San::Ip(IpAddr::V6(ip)) => d.implicit(7, &ip.octets()),
    }
}

/// Airlock's identity claims, non-critical: other verifiers (OpenSSL,
/// rustls, Go) must accept the certificate without knowing the extension.
/// extnValue wraps a UTF8String holding the claims JSON.
pub(crate) fn identity_claims(d: &mut Der, json: &[u8]) {
    extension(d, oids::IDENTITY_CLAIMS, false, |d| {
        d.primitive(crate::der::tag::UTF8_STRING, json)
    });
}
