use super::*;

/// The example key of Go's golang.org/x/mod/sumdb/note documentation.
const GO_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const GO_SKEY_B64: &str = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                       then you don't know what your problem is.\n";
const GO_NOTE_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

fn go_signer() -> NoteSigner {
    let raw = B64.decode(GO_SKEY_B64).unwrap();
    assert_eq!(raw[0], ALG_ED25519);
    NoteSigner::from_seed("PeterNeumann", raw[1..].try_into().unwrap()).unwrap()
}

fn test_signer() -> NoteSigner {
    NoteSigner::from_seed("airlock.test/audit", &[7u8; 32]).unwrap()
}

#[test]
fn signs_exactly_like_go_sumdb_note() {
    let signer = go_signer();
    assert_eq!(signer.verifier().to_vkey(), GO_VKEY);
    let note = signer.sign(GO_TEXT).unwrap();
    assert_eq!(note, format!("{GO_TEXT}\n{GO_NOTE_SIG}"));
    let verifier = NoteVerifier::from_vkey(GO_VKEY).unwrap();
    assert_eq!(verifier.open(&note).unwrap(), GO_TEXT);
}

#[test]
fn checkpoint_format_is_pinned() {
    let cp = Checkpoint {
        origin: "airlock.test/audit".into(),
        size: 8,
        root: [0xab; 32],
    };
    let note = cp.sign(&test_signer()).unwrap();
    let want_body = "airlock.test/audit\n8\nq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\n";
    assert!(note.starts_with(&format!("{want_body}\n\u{2014} airlock.test/audit ")));
    assert_eq!(note, PINNED_NOTE, "the signed-note bytes changed");
    let v = test_signer().verifier();
    assert_eq!(Checkpoint::open(&note, &v).unwrap(), cp);
}

const PINNED_NOTE: &str = include_str!("pinned_note.txt");

#[test]
fn vkey_round_trips_and_rejects_manglings() {
    let v = test_signer().verifier();
    let s = v.to_vkey();
    assert_eq!(NoteVerifier::from_vkey(&s).unwrap(), v);
    for bad in [
        "",
        "name",
        "name+1234",
        "na me+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+Ahpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10",
        "PeterNeumann+c74f20a3+!!!",
    ] {
        assert!(NoteVerifier::from_vkey(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn tampered_or_foreign_notes_fail() {
    let signer = test_signer();
    let v = signer.verifier();
    let note = signer.sign("hello\n").unwrap();
    let edited = note.replacen("hello", "hellO", 1);
    assert!(matches!(v.open(&edited), Err(NoteError::BadSignature(_))));
    let other = NoteSigner::from_seed("airlock.test/audit", &[8u8; 32]).unwrap();
    let foreign = other.sign("hello\n").unwrap();
    assert!(matches!(v.open(&foreign), Err(NoteError::NotSigned(_))));
    // A second, unknown signature is ignored; ours still verifies.
    let both = format!("{note}{}", foreign.rsplit_once("\n\n").unwrap().1);
    assert_eq!(v.open(&both).unwrap(), "hello\n");
    for bad in [
        "",
        "hello\n",
        "hello\n\n",
        "hello\n\nnot a sig\n",
        "a\u{7}\n\n\u{2014} k AAAA\n",
    ] {
        assert!(v.open(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn open_survives_random_notes() {
    let v = test_signer().verifier();
    let mut x: u64 = 0x1234_5678;
    let alphabet = "ab+/=\n \u{2014}AQ0";
    let chars: Vec<char> = alphabet.chars().collect();
    for _ in 0..5000 {
        let mut s = String::new();
        for _ in 0..(x % 120) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            s.push(chars[(x % chars.len() as u64) as usize]);
        }
        let _ = v.open(&s);
        let _ = Checkpoint::parse_body(&s);
    }
}

#[test]
fn checkpoint_body_rules() {
    assert!(Checkpoint::parse_body("o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n").is_ok());
    for bad in [
        "",
        "\n1\nAAAA\n",
        "o\n01\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
        "o\n-1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
        "o\n+1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
        "o\n1\nAAAA\n",
        "o\n1\n",
    ] {
        assert!(Checkpoint::parse_body(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn pem_round_trip_and_key_file_mode() {
    use std::os::unix::fs::PermissionsExt;
    let signer = NoteSigner::generate("airlock.test/audit").unwrap();
    let pem = signer.to_pkcs8_pem();
    let again = NoteSigner::from_pkcs8_pem("airlock.test/audit", &pem).unwrap();
    assert_eq!(again.verifier(), signer.verifier());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.key");
    signer.save(&path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let loaded = NoteSigner::load("airlock.test/audit", &path).unwrap();
    assert_eq!(loaded.verifier(), signer.verifier());
    assert!(NoteSigner::from_pkcs8_pem("x", "garbage").is_err());
    assert!(NoteSigner::generate("bad name").is_err());
    let seeded = test_signer().to_pkcs8_pem();
    assert!(NoteSigner::from_pkcs8_pem("airlock.test/audit", &seeded).is_ok());
}
