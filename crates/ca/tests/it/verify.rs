//! Verification errors: each cause gets its own variant and message.

use std::time::{Duration, SystemTime};

use airlock_ca::{CertificateAuthority, VerifyError};

use crate::util::*;

fn user_cert(ca: &CertificateAuthority) -> Vec<u8> {
    ca.issue_user(&key(), &alice(), hours(8), t0()).unwrap().der
}

#[test]
fn valid_certificate_yields_identity() {
    let ca = ca();
    let issued = ca.issue_user(&key(), &alice(), hours(8), t0()).unwrap();
    let v = ca.verify(&issued.der, t0() + hours(1)).unwrap();
    assert_eq!(v.claims, alice());
    assert_eq!(v.common_name.as_deref(), Some("alice@example.com"));
    assert_eq!(v.spiffe_id, None);
    assert_eq!(v.serial_hex, issued.serial_hex);
    assert_eq!(
        (v.not_before, v.not_after),
        (issued.not_before, issued.not_after)
    );
}

#[test]
fn expired() {
    let ca = ca();
    let der = user_cert(&ca);
    let end = t0() + hours(8);
    assert!(
        ca.verify(&der, end).is_ok(),
        "valid through notAfter inclusive"
    );
    let err = ca.verify(&der, end + Duration::from_secs(1)).unwrap_err();
    assert_eq!(err, VerifyError::Expired { not_after: end });
    assert_eq!(
        err.to_string(),
        "certificate expired at 2026-06-01T08:00:00Z; run `airlock login` again"
    );
}

#[test]
fn not_yet_valid() {
    let ca = ca();
    let der = user_cert(&ca);
    let err = ca.verify(&der, t0() - Duration::from_secs(61)).unwrap_err();
    assert!(matches!(err, VerifyError::NotYetValid { .. }), "{err:?}");
    assert!(err.to_string().contains("check this machine's clock"));
    // Within the 60 s backdate, a slow clock is fine.
    assert!(ca.verify(&der, t0() - Duration::from_secs(59)).is_ok());
}

#[test]
fn another_ca_is_unknown_issuer() {
    let ours = ca();
    // Same cluster name, so the issuer Name matches: the AKI tells them apart.
    let twin = ca();
    let err = ours.verify(&user_cert(&twin), t0()).unwrap_err();
    assert!(matches!(err, VerifyError::UnknownIssuer { .. }), "{err:?}");
    let stranger = CertificateAuthority::generate("elsewhere", td(), hours(100), t0()).unwrap();
    let err = ours.verify(&user_cert(&stranger), t0()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "certificate was issued by \"O=Airlock, CN=Airlock CA elsewhere\", which is not this cluster's CA; run `airlock login` against this cluster"
    );
}

#[test]
fn tampered_tbs_is_bad_signature() {
    let ca = ca();
    let der = user_cert(&ca);
    // Rename the subject: still a well-formed certificate from our issuer.
    let mut renamed = der.clone();
    let at = renamed
        .windows(5)
        .position(|w| w == b"alice")
        .expect("CN present");
    renamed[at] = b'm';
    assert_eq!(
        ca.verify(&renamed, t0()).unwrap_err(),
        VerifyError::BadSignature
    );
    // Flip a bit of the serial number.
    let mut reserial = der.clone();
    reserial[15] ^= 0x01;
    assert_eq!(
        ca.verify(&reserial, t0()).unwrap_err(),
        VerifyError::BadSignature
    );
    // Escalate the claims' role.
    let mut escalated = der;
    let at = escalated
        .windows(9)
        .position(|w| w == b"developer")
        .unwrap();
    escalated[at..at + 5].copy_from_slice(b"admin");
    escalated[at + 5..at + 9].copy_from_slice(b"xxxx");
    assert_eq!(
        ca.verify(&escalated, t0()).unwrap_err(),
        VerifyError::BadSignature
    );
}

#[test]
fn garbage_is_malformed() {
    let ca = ca();
    for bytes in [&b""[..], b"hello", b"\x30\x03\x02\x01\x01"] {
        let err = ca.verify(bytes, t0()).unwrap_err();
        assert!(
            matches!(err, VerifyError::Malformed(_)),
            "{bytes:?}: {err:?}"
        );
    }
    let der = user_cert(&ca);
    let err = ca.verify(&der[..der.len() - 10], t0()).unwrap_err();
    assert!(matches!(err, VerifyError::Malformed(_)), "{err:?}");
    let mut trailing = der;
    trailing.push(0);
    assert!(matches!(
        ca.verify(&trailing, t0()),
        Err(VerifyError::Malformed(_))
    ));
}

#[test]
fn ca_certificate_is_not_a_leaf() {
    let ca = ca();
    assert_eq!(
        ca.verify(ca.cert_der(), t0()).unwrap_err(),
        VerifyError::NotALeaf
    );
}

/// Signs a CSR with our CA key through openssl, with an optional extension
/// section: a certificate from our issuer that our code did not write.
fn openssl_signed(ca: &CertificateAuthority, ext: Option<&str>) -> Vec<u8> {
    let ossl = Openssl::new();
    ossl.write("ca.pem", &ca.cert_pem());
    ossl.write("ca.key", &ca.key_pkcs8_pem());
    let k = airlock_ca::KeyPair::generate().unwrap();
    ossl.write("req.pem", &k.csr_pem("mallory").unwrap());
    let mut args = vec![
        "x509",
        "-req",
        "-in",
        "req.pem",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-outform",
        "DER",
        "-out",
        "leaf.der",
    ];
    if let Some(ext) = ext {
        ossl.write("ext.cnf", &format!("[x]\n{ext}\n"));
        args.extend(["-extfile", "ext.cnf", "-extensions", "x"]);
    }
    ossl.ok(&args);
    std::fs::read(ossl.path("leaf.der")).unwrap()
}

#[test]
fn missing_and_bad_claims() {
    let ca = ca();
    // openssl stamps notBefore with the signing second and no backdate:
    // check a little later so a second boundary cannot make it "not yet valid".
    let now = || SystemTime::now() + Duration::from_secs(5);
    let plain = openssl_signed(&ca, Some("basicConstraints=CA:FALSE"));
    assert_eq!(
        ca.verify(&plain, now()).unwrap_err(),
        VerifyError::MissingClaims
    );

    let oid = airlock_core::oid::IDENTITY_EXT_OID;
    let cases = [
        (format!("{oid}=ASN1:UTF8String:not json"), "malformed"),
        // openssl's config parser eats bare quotes: escape them.
        (
            format!(r#"{oid}=ASN1:UTF8String:{{\"v\":2,\"kind\":\"user\"}}"#),
            "version 2",
        ),
        (format!("{oid}=ASN1:INTEGER:5"), "not a UTF8String"),
        (
            format!(
                r#"{oid}=ASN1:UTF8String:{{\"v\":1,\"kind\":\"user\",\"user\":\"bob\",\"session\":\"ab\"}}"#
            ),
            "subject CN differs",
        ),
    ];
    for (ext, expect) in cases {
        let der = openssl_signed(&ca, Some(&ext));
        match ca.verify(&der, now()) {
            Err(VerifyError::BadClaims(why)) => assert!(why.contains(expect), "{ext}: {why}"),
            other => panic!("{ext}: {other:?}"),
        }
    }
}

#[test]
fn unknown_critical_extension_is_refused() {
    let ca = ca();
    let der = openssl_signed(&ca, Some("1.2.3.4=critical,ASN1:NULL"));
    let err = ca
        .verify(&der, SystemTime::now() + Duration::from_secs(5))
        .unwrap_err();
    assert!(
        matches!(&err, VerifyError::Malformed(m) if m.contains("1.2.3.4")),
        "{err:?}"
    );
}

/// A cheap stand-in for fuzzing: random byte flips and truncations of a valid
/// certificate and CSR must produce errors, never panics, and a flipped
/// certificate must never verify with different content.
#[test]
fn random_mutations_never_panic() {
    let ca = ca();
    let k = airlock_ca::KeyPair::generate().unwrap();
    let cert = ca
        .issue_user(&k.public_key(), &alice(), hours(8), t0())
        .unwrap()
        .der;
    let csr = k.csr_der("alice").unwrap();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..3000 {
        let mut c = cert.clone();
        let at = (next() % c.len() as u64) as usize;
        c[at] ^= (next() % 255 + 1) as u8;
        if let Ok(v) = ca.verify(&c, t0()) {
            // Only bytes outside the signed TBS (e.g. the signature's DER
            // padding) may change without breaking it; the identity may not.
            assert_eq!(v.claims, alice());
        }
        let cut = (next() % cert.len() as u64) as usize;
        assert!(ca.verify(&cert[..cut], t0()).is_err());
        let mut r = csr.clone();
        let at = (next() % r.len() as u64) as usize;
        r[at] ^= (next() % 255 + 1) as u8;
        if let Ok(pk) = airlock_ca::PublicKey::from_csr_der(&r) {
            assert_eq!(pk, k.public_key());
        }
    }
}
