//! The CA certificate itself, loading it back, and its fingerprint.

use std::time::SystemTime;

use airlock_ca::{CaError, CertificateAuthority, TrustAnchor, format_fingerprint};

use crate::util::*;

#[test]
fn root_fields() {
    let ca = ca();
    let cert = parse(ca.cert_der());
    assert_eq!(
        cert.issuer().as_raw(),
        cert.subject().as_raw(),
        "self-signed"
    );
    let bc = cert.basic_constraints().unwrap().unwrap();
    assert!(bc.critical && bc.value.ca);
    assert_eq!(bc.value.path_len_constraint, Some(0));
    let ku = cert.key_usage().unwrap().unwrap();
    assert!(ku.critical && ku.value.key_cert_sign() && ku.value.crl_sign());
    assert!(!ku.value.digital_signature());
    assert_eq!(cert.subject().to_string(), "O=Airlock, CN=Airlock CA test");
    assert_eq!(ca.trust_domain().as_str(), "airlock.test");
    cert.verify_signature(None)
        .expect("x509-parser checks the self-signature");
}

#[test]
fn openssl_reads_the_root() {
    let now = SystemTime::now();
    let ca = ca_at(now);
    let ossl = Openssl::new();
    let text = ossl.text(&ca.cert_pem());
    assert_eq!(
        section(&text, "X509v3 Basic Constraints"),
        ["X509v3 Basic Constraints: critical", "CA:TRUE, pathlen:0"]
    );
    assert_eq!(
        section(&text, "X509v3 Key Usage"),
        ["X509v3 Key Usage: critical", "Certificate Sign, CRL Sign"]
    );
    assert_eq!(
        section(&text, "X509v3 Subject Alternative Name"),
        [
            "X509v3 Subject Alternative Name:",
            "URI:spiffe://airlock.test"
        ]
    );
    assert!(text.contains("X509v3 Subject Key Identifier"));
    let (ok, out) = ossl.verify(&ca.cert_pem(), &ca.cert_pem(), None);
    assert!(ok, "{out}");
    // Same fingerprint as openssl computes.
    let out = ossl.ok(&[
        "x509",
        "-noout",
        "-fingerprint",
        "-sha256",
        "-in",
        "show.pem",
    ]);
    let theirs = out
        .trim()
        .rsplit('=')
        .next()
        .unwrap()
        .replace(':', "")
        .to_lowercase();
    assert_eq!(ca.fingerprint(), theirs);
}

#[test]
fn pem_round_trip_keeps_identity() {
    let ca = ca();
    let again = CertificateAuthority::from_pem(&ca.cert_pem(), &ca.key_pkcs8_pem()).unwrap();
    assert_eq!(again.fingerprint(), ca.fingerprint());
    assert_eq!(again.trust_domain(), ca.trust_domain());
    // The reloaded CA issues certificates the original verifies.
    let issued = again.issue_user(&key(), &alice(), hours(1), t0()).unwrap();
    assert!(ca.verify(&issued.der, t0()).is_ok());
}

#[test]
fn mismatched_key_is_refused() {
    let ca = ca();
    let other = crate::util::ca();
    let err = CertificateAuthority::from_pem(&ca.cert_pem(), &other.key_pkcs8_pem()).unwrap_err();
    assert!(matches!(err, CaError::KeyMismatch), "{err:?}");
}

#[test]
fn leaf_is_not_a_ca() {
    let ca = ca();
    let issued = ca.issue_user(&key(), &alice(), hours(1), t0()).unwrap();
    let err = TrustAnchor::from_pem(&issued.pem).unwrap_err();
    assert!(err.to_string().contains("cA=true"), "{err}");
}

#[test]
fn fingerprint_format() {
    let ca = ca();
    let fp = ca.fingerprint();
    assert_eq!(fp.len(), 64);
    assert!(
        fp.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    let shown = format_fingerprint(fp);
    assert!(shown.starts_with("SHA256:"));
    assert_eq!(shown.len(), 7 + 64 + 31);
}

#[test]
fn bad_inputs() {
    assert!(CertificateAuthority::generate("", td(), hours(1), t0()).is_err());
    assert!(matches!(
        CertificateAuthority::generate("x", td(), std::time::Duration::ZERO, t0()),
        Err(CaError::ZeroTtl)
    ));
}

#[test]
fn client_key_pairs_cert_and_key() {
    let ca = ca();
    let k = airlock_ca::KeyPair::generate().unwrap();
    let issued = ca
        .issue_user(&k.public_key(), &alice(), hours(1), t0())
        .unwrap();
    let pem = format!("{}{}", issued.pem, ca.cert_pem());
    let ck = airlock_ca::ClientKey::from_pem(&pem, &k.to_pkcs8_pem()).unwrap();
    assert_eq!(ck.cert_chain.len(), 2);
    assert_eq!(ck.cert_chain[0].as_ref(), issued.der.as_slice());
    let other = airlock_ca::KeyPair::generate().unwrap();
    let err = airlock_ca::ClientKey::from_pem(&pem, &other.to_pkcs8_pem()).unwrap_err();
    assert!(matches!(err, CaError::KeyMismatch));
}
