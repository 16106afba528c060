//! User certificates: CN, EKU, KU, claims, TTL.

use std::time::SystemTime;

use airlock_ca::{BACKDATE, CaError};
use airlock_core::Claims;
use airlock_core::oid::{IDENTITY_EXT_OID, IDENTITY_EXT_OID_DER};
use x509_parser::der_parser::asn1_rs::Any;
use x509_parser::prelude::{FromDer, ParsedExtension};

use crate::util::*;

#[test]
fn fields_as_x509_parser_reads_them() {
    let ca = ca();
    let issued = ca.issue_user(&key(), &alice(), hours(8), t0()).unwrap();
    let cert = parse(&issued.der);
    let cn: Vec<_> = cert.subject().iter_common_name().collect();
    assert_eq!(cn.len(), 1);
    assert_eq!(cn[0].as_str().unwrap(), "alice@example.com");
    assert_eq!(
        cert.issuer().as_raw(),
        parse(ca.cert_der()).subject().as_raw()
    );
    assert!(!cert.is_ca());
    let bc = cert.basic_constraints().unwrap().unwrap();
    assert!(bc.critical && !bc.value.ca);
    let ku = cert.key_usage().unwrap().unwrap();
    assert!(ku.critical);
    assert_eq!(ku.value.flags, 1, "digitalSignature only");
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.client_auth && !eku.server_auth);
    assert!(cert.subject_alternative_name().unwrap().is_none());
    let has = |f: fn(&ParsedExtension<'_>) -> bool| {
        cert.extensions().iter().any(|e| f(e.parsed_extension()))
    };
    assert!(has(|e| matches!(
        e,
        ParsedExtension::SubjectKeyIdentifier(_)
    )));
    assert!(has(|e| matches!(
        e,
        ParsedExtension::AuthorityKeyIdentifier(_)
    )));
    assert_eq!(cert.version().0, 2, "X.509 v3");
}

#[test]
fn claims_round_trip_through_the_private_extension() {
    let ca = ca();
    let issued = ca.issue_user(&key(), &alice(), hours(8), t0()).unwrap();
    let cert = parse(&issued.der);
    let ext = cert
        .extensions()
        .iter()
        .find(|e| e.oid.as_bytes() == IDENTITY_EXT_OID_DER)
        .expect("identity extension present");
    assert!(!ext.critical);
    // extnValue = UTF8String(JSON)
    let (rest, any) = Any::from_der(ext.value).unwrap();
    assert!(rest.is_empty());
    let json = any.as_str().expect("a UTF8String");
    assert_eq!(Claims::decode(json.as_bytes()).unwrap(), alice());
    // And through our own verifier.
    assert_eq!(ca.verify(&issued.der, t0()).unwrap().claims, alice());
}

#[test]
fn ttl_as_given_and_backdated() {
    let ca = ca();
    let now = t0();
    let issued = ca.issue_user(&key(), &alice(), hours(8), now).unwrap();
    assert_eq!(issued.not_before, now - BACKDATE);
    assert_eq!(issued.not_after, now + hours(8));
    let cert = parse(&issued.der);
    let secs = |t: SystemTime| t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert_eq!(
        cert.validity().not_before.timestamp(),
        secs(issued.not_before)
    );
    assert_eq!(
        cert.validity().not_after.timestamp(),
        secs(issued.not_after)
    );
    assert_eq!(
        hex::encode(cert.tbs_certificate.raw_serial()),
        issued.serial_hex
    );
    assert_eq!(issued.serial_hex.len(), 32);
}

#[test]
fn lifetime_is_cut_at_the_ca_expiry() {
    let ca = airlock_ca::CertificateAuthority::generate("short", td(), hours(2), t0()).unwrap();
    let issued = ca.issue_user(&key(), &alice(), hours(8), t0()).unwrap();
    assert_eq!(issued.not_after, t0() + hours(2));
    let err = ca.issue_user(&key(), &alice(), hours(1), t0() + hours(3));
    assert!(matches!(err, Err(CaError::CaExpired { .. })), "{err:?}");
}

#[test]
fn wrong_kind_and_zero_ttl_are_refused() {
    let ca = ca();
    let err = ca
        .issue_user(&key(), &workload(), hours(1), t0())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot issue a user certificate for workload claims"
    );
    let mut no_session = alice();
    no_session.session = None;
    let err = ca
        .issue_user(&key(), &no_session, hours(1), t0())
        .unwrap_err();
    assert!(err.to_string().contains("missing its session"), "{err}");
    let err = ca
        .issue_user(&key(), &alice(), std::time::Duration::ZERO, t0())
        .unwrap_err();
    assert!(matches!(err, CaError::ZeroTtl));
}

#[test]
fn openssl_verifies_and_reads_it() {
    let now = SystemTime::now();
    let ca = ca_at(now);
    let issued = ca.issue_user(&key(), &alice(), hours(8), now).unwrap();
    let ossl = Openssl::new();
    let (ok, out) = ossl.verify(&ca.cert_pem(), &issued.pem, Some("sslclient"));
    assert!(ok, "{out}");
    let text = ossl.text(&issued.pem);
    assert!(text.contains("Subject: CN = alice@example.com"), "{text}");
    assert!(text.contains("Signature Algorithm: ecdsa-with-SHA256"));
    assert!(text.contains("NIST CURVE: P-256"));
    assert_eq!(
        section(&text, "X509v3 Key Usage"),
        ["X509v3 Key Usage: critical", "Digital Signature"]
    );
    assert_eq!(
        section(&text, "X509v3 Extended Key Usage"),
        [
            "X509v3 Extended Key Usage:",
            "TLS Web Client Authentication"
        ]
    );
    assert_eq!(
        section(&text, "X509v3 Basic Constraints"),
        ["X509v3 Basic Constraints: critical", "CA:FALSE"]
    );
    let ext = section(&text, IDENTITY_EXT_OID);
    assert_eq!(
        ext[0],
        format!("{IDENTITY_EXT_OID}:"),
        "non-critical: {ext:?}"
    );
    assert!(ext[1].contains(r#""kind":"user""#), "{ext:?}");
}
