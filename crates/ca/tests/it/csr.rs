//! CSRs: ours, openssl's, tampered ones and keys of the wrong type.

use airlock_ca::{CaError, KeyPair, PublicKey};

use crate::util::*;

fn openssl_csr(newkey: &[&str]) -> String {
    let ossl = Openssl::new();
    let mut args = vec![
        "req", "-new", "-nodes", "-subj", "/CN=x", "-keyout", "k.pem",
    ];
    args.extend_from_slice(newkey);
    args.extend(["-out", "csr.pem"]);
    ossl.ok(&args);
    ossl.read("csr.pem")
}

#[test]
fn our_csr_is_read_by_openssl() {
    let k = KeyPair::generate().unwrap();
    let ossl = Openssl::new();
    ossl.write("csr.pem", &k.csr_pem("alice").unwrap());
    let out = ossl.ok(&["req", "-in", "csr.pem", "-noout", "-verify", "-subject"]);
    assert!(
        out.contains("verify OK") || out.contains("Certificate request self-signature verify OK"),
        "{out}"
    );
    assert!(out.contains("subject=CN = alice"), "{out}");
}

#[test]
fn openssl_p256_csr_is_accepted() {
    let csr = openssl_csr(&["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]);
    let key = PublicKey::from_csr_pem(&csr).unwrap();
    let ca = ca();
    let issued = ca.issue_user(&key, &alice(), hours(1), t0()).unwrap();
    ca.verify(&issued.der, t0()).unwrap();
    assert_eq!(parse(&issued.der).public_key().raw, key.spki_der());
}

#[test]
fn csr_with_bad_signature_is_refused() {
    let k = KeyPair::generate().unwrap();
    let mut der = k.csr_der("alice").unwrap();
    let sig_last = der.len() - 1;
    der[sig_last] ^= 0x01;
    let err = PublicKey::from_csr_der(&der).unwrap_err();
    assert!(matches!(err, CaError::CsrSignature), "{err:?}");
    assert_eq!(
        err.to_string(),
        "certificate request signature does not verify: the request was altered or not signed by the key it carries"
    );
    // A request whose key was swapped for another one.
    let other = KeyPair::generate().unwrap().public_key();
    let mut swapped = k.csr_der("alice").unwrap();
    let mine = k.public_key();
    let at = swapped
        .windows(65)
        .position(|w| w == &mine.spki_der()[26..])
        .unwrap();
    swapped[at..at + 65].copy_from_slice(&other.spki_der()[26..]);
    assert!(matches!(
        PublicKey::from_csr_der(&swapped),
        Err(CaError::CsrSignature)
    ));
}

#[test]
fn non_p256_keys_are_refused() {
    let cases: [(&[&str], &str); 3] = [
        (&["-newkey", "rsa:2048"], "RSA"),
        (&["-newkey", "ed25519"], "Ed25519"),
        (
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
            "ECDSA P-384",
        ),
    ];
    for (args, name) in cases {
        let err = PublicKey::from_csr_pem(&openssl_csr(args)).unwrap_err();
        assert!(
            matches!(&err, CaError::UnsupportedKey { found } if found == name),
            "{name}: {err:?}"
        );
        assert!(err.to_string().contains("only ECDSA P-256"), "{err}");
    }
}

#[test]
fn malformed_csr_pem_is_refused() {
    assert!(matches!(
        PublicKey::from_csr_pem(
            "-----BEGIN CERTIFICATE REQUEST-----\nMAMCAQA=\n-----END CERTIFICATE REQUEST-----\n"
        ),
        Err(CaError::MalformedCsr(_))
    ));
    let err = PublicKey::from_csr_pem("hello").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("CERTIFICATE REQUEST is not valid PEM"),
        "{err}"
    );
}

#[test]
fn spki_from_openssl_is_accepted_and_canonical() {
    let ossl = Openssl::new();
    ossl.ok(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        "k.pem",
    ]);
    ossl.ok(&["pkey", "-in", "k.pem", "-pubout", "-out", "pub.pem"]);
    let from_spki = PublicKey::from_spki_pem(&ossl.read("pub.pem")).unwrap();
    // And the openssl private key loads as a KeyPair with the same public half.
    let pair = KeyPair::from_pkcs8_pem(&ossl.read("k.pem")).unwrap();
    assert_eq!(pair.public_key(), from_spki);
    ossl.ok(&["genpkey", "-algorithm", "ED25519", "-out", "ed.pem"]);
    ossl.ok(&["pkey", "-in", "ed.pem", "-pubout", "-out", "edpub.pem"]);
    let err = PublicKey::from_spki_pem(&ossl.read("edpub.pem")).unwrap_err();
    assert!(matches!(err, CaError::UnsupportedKey { .. }), "{err:?}");
    let err = KeyPair::from_pkcs8_pem(&ossl.read("ed.pem")).unwrap_err();
    assert!(matches!(err, CaError::PrivateKey(_)), "{err:?}");
}
