//! SPIFFE X.509-SVID rules (X509-SVID.md sections 3.1, 4.1, 4.3, 4.4, 5.2).

use std::time::{Duration, SystemTime};

use airlock_ca::{CaError, SVID_MAX_TTL};
use airlock_core::{SpiffeId, TrustDomain};
use x509_parser::prelude::GeneralName;

use crate::util::*;

fn svid() -> airlock_ca::IssuedCert {
    ca().issue_svid(&key(), &workload_id(), &workload(), hours(1), t0())
        .unwrap()
}

/// Both kinds of X.509-SVID the CA issues (sandbox, workload) with their IDs:
/// every rule below holds for each.
fn both_svids() -> [(SpiffeId, airlock_ca::IssuedCert); 2] {
    let ca = ca();
    let sandbox_id = SpiffeId::sandbox(&td(), &sandbox());
    let sandbox_svid = ca
        .issue_svid(&key(), &sandbox_id, &sandbox_claims(), hours(1), t0())
        .unwrap();
    [(sandbox_id, sandbox_svid), (workload_id(), svid())]
}

#[test]
fn exactly_one_uri_san_equal_to_the_spiffe_id() {
    for (id, issued) in both_svids() {
        let cert = parse(&issued.der);
        let san = cert.subject_alternative_name().unwrap().unwrap();
        let names = &san.value.general_names;
        assert_eq!(names.len(), 1, "{id}");
        assert!(matches!(names[0], GeneralName::URI(u) if u == id.as_str()));
        // Empty subject: the SAN must then be critical (RFC 5280 4.2.1.6).
        assert!(cert.subject().as_raw() == [0x30, 0x00], "{id}");
        assert!(san.critical, "{id}");
    }
}

#[test]
fn leaf_constraints() {
    for (id, issued) in both_svids() {
        let cert = parse(&issued.der);
        let bc = cert.basic_constraints().unwrap().unwrap().value;
        assert!(!bc.ca && bc.path_len_constraint.is_none(), "{id}");
        let ku = cert.key_usage().unwrap().unwrap();
        assert!(ku.critical, "{id}: keyUsage must be critical");
        assert!(ku.value.digital_signature());
        assert_eq!(ku.value.flags, 1, "{id}: digitalSignature and nothing else");
        assert!(!ku.value.key_cert_sign() && !ku.value.crl_sign());
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth && eku.client_auth, "{id}");
        assert!(eku.other.is_empty() && !eku.any, "{id}");
    }
}

#[test]
fn sandbox_svid_and_claims() {
    let ca = ca();
    let id = SpiffeId::sandbox(&td(), &sandbox());
    let issued = ca
        .issue_svid(&key(), &id, &sandbox_claims(), hours(1), t0())
        .unwrap();
    let v = ca.verify(&issued.der, t0()).unwrap();
    assert_eq!(v.spiffe_id, Some(id));
    assert_eq!(v.claims, sandbox_claims());
    assert_eq!(v.common_name, None);
}

#[test]
fn workload_svid_names_its_user() {
    let ca = ca();
    let issued = ca
        .issue_svid(&key(), &workload_id(), &workload(), hours(1), t0())
        .unwrap();
    let v = ca.verify(&issued.der, t0()).unwrap();
    assert_eq!(v.spiffe_id.as_ref(), Some(&workload_id()));
    assert_eq!(v.claims.user.unwrap().as_str(), "alice");
    assert_eq!(v.claims.delegation.as_deref(), Some("read-only"));
    assert_eq!(
        v.claims.isolation,
        Some(airlock_core::IsolationClass::Gvisor)
    );
}

#[test]
fn ttl_over_one_hour_is_refused() {
    let ca = ca();
    let err = ca
        .issue_svid(
            &key(),
            &workload_id(),
            &workload(),
            SVID_MAX_TTL + Duration::from_secs(1),
            t0(),
        )
        .unwrap_err();
    assert!(matches!(err, CaError::TtlTooLong { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "requested lifetime 1h1s exceeds the 1h maximum for an X.509-SVID"
    );
    let ok = ca
        .issue_svid(&key(), &workload_id(), &workload(), SVID_MAX_TTL, t0())
        .unwrap();
    assert_eq!(ok.not_after, t0() + SVID_MAX_TTL);
}

#[test]
fn foreign_trust_domain_is_refused() {
    let other = TrustDomain::new("evil.example").unwrap();
    let id = SpiffeId::workload(&other, &sandbox());
    let err = ca()
        .issue_svid(&key(), &id, &workload(), hours(1), t0())
        .unwrap_err();
    assert!(matches!(err, CaError::ForeignTrustDomain { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("outside trust domain airlock.test")
    );
}

#[test]
fn spiffe_id_must_match_the_claims() {
    let ca = ca();
    // A workload SVID asking for the sandbox's own ID.
    let sandbox_id = SpiffeId::sandbox(&td(), &sandbox());
    let err = ca
        .issue_svid(&key(), &sandbox_id, &workload(), hours(1), t0())
        .unwrap_err();
    assert!(matches!(err, CaError::SpiffeIdMismatch { .. }), "{err:?}");
    // Another sandbox's ID.
    let other = SpiffeId::parse("spiffe://airlock.test/sandbox/sb-43/workload").unwrap();
    assert!(
        ca.issue_svid(&key(), &other, &workload(), hours(1), t0())
            .is_err()
    );
    // User claims cannot get an SVID.
    let err = ca
        .issue_svid(&key(), &workload_id(), &alice(), hours(1), t0())
        .unwrap_err();
    assert!(matches!(err, CaError::WrongKind { .. }), "{err:?}");
}

#[test]
fn openssl_accepts_it_for_both_tls_roles() {
    let now = SystemTime::now();
    let ca = ca_at(now);
    let issued = ca
        .issue_svid(&key(), &workload_id(), &workload(), hours(1), now)
        .unwrap();
    let ossl = Openssl::new();
    for purpose in ["sslserver", "sslclient"] {
        let (ok, out) = ossl.verify(&ca.cert_pem(), &issued.pem, Some(purpose));
        assert!(ok, "{purpose}: {out}");
    }
    let text = ossl.text(&issued.pem);
    assert!(
        text.contains("Subject: \n") || text.contains("Subject:\n"),
        "{text}"
    );
    assert_eq!(
        section(&text, "X509v3 Subject Alternative Name"),
        [
            "X509v3 Subject Alternative Name: critical",
            "URI:spiffe://airlock.test/sandbox/sb-42/workload"
        ]
    );
    assert_eq!(
        section(&text, "X509v3 Key Usage"),
        ["X509v3 Key Usage: critical", "Digital Signature"]
    );
    assert_eq!(
        section(&text, "X509v3 Extended Key Usage"),
        [
            "X509v3 Extended Key Usage:",
            "TLS Web Server Authentication, TLS Web Client Authentication"
        ]
    );
    assert_eq!(
        section(&text, "X509v3 Basic Constraints"),
        ["X509v3 Basic Constraints: critical", "CA:FALSE"]
    );
    let ext = section(&text, airlock_core::oid::IDENTITY_EXT_OID);
    assert_eq!(ext[0], format!("{}:", airlock_core::oid::IDENTITY_EXT_OID));
    assert!(ext[1].contains(r#""user":"alice""#), "{ext:?}");
}
