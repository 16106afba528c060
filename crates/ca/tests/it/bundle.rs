//! Trust bundles: rotation keeps old certificates valid.

use airlock_ca::{TrustAnchor, TrustBundle, VerifyError};
use airlock_core::TrustDomain;

use crate::util::*;

#[test]
fn rotation_keeps_old_certs_valid_and_signs_with_the_new_ca() {
    let old = ca();
    let old_cert = old.issue_user(&key(), &alice(), hours(8), t0()).unwrap();
    let mut bundle = TrustBundle::new(old);
    bundle.rotate(ca()).unwrap();
    let new_cert = bundle
        .current()
        .issue_user(&key(), &alice(), hours(8), t0())
        .unwrap();
    assert!(bundle.verify(&old_cert.der, t0()).is_ok());
    assert!(bundle.verify(&new_cert.der, t0()).is_ok());
    assert_eq!(bundle.cas().len(), 2);
    assert_eq!(
        bundle.cas()[0].fingerprint(),
        bundle.current().fingerprint()
    );
    assert_eq!(
        TrustAnchor::all_from_pem(&bundle.to_pem()).unwrap().len(),
        2
    );
    // The new CA alone does not know the old certificate.
    assert!(matches!(
        bundle.current().verify(&old_cert.der, t0()),
        Err(VerifyError::UnknownIssuer { .. })
    ));
}

#[test]
fn strangers_and_other_trust_domains() {
    let mut bundle = TrustBundle::new(ca());
    let stranger = ca();
    let cert = stranger
        .issue_user(&key(), &alice(), hours(1), t0())
        .unwrap();
    assert!(matches!(
        bundle.verify(&cert.der, t0()),
        Err(VerifyError::UnknownIssuer { .. })
    ));
    bundle.add(stranger.anchor().clone()).unwrap();
    bundle.add(stranger.anchor().clone()).unwrap();
    assert_eq!(bundle.cas().len(), 2, "adding twice is a no-op");
    assert!(bundle.verify(&cert.der, t0()).is_ok());
    let foreign = airlock_ca::CertificateAuthority::generate(
        "f",
        TrustDomain::new("other.test").unwrap(),
        hours(10),
        t0(),
    )
    .unwrap();
    assert!(bundle.add(foreign.anchor().clone()).is_err());
}

#[test]
fn prune_drops_expired_cas_but_never_the_current_one() {
    let short = airlock_ca::CertificateAuthority::generate("s", td(), hours(1), t0()).unwrap();
    let mut bundle = TrustBundle::new(ca());
    bundle.add(short.anchor().clone()).unwrap();
    bundle.prune(t0() + hours(2));
    assert_eq!(bundle.cas().len(), 1);
    assert_eq!(
        bundle.cas()[0].fingerprint(),
        bundle.current().fingerprint()
    );
}
