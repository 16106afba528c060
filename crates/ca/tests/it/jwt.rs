//! JWT-SVIDs, checked with an independent JWT library using only the JWKS.

use std::time::{Duration, SystemTime};

use airlock_ca::{JWT_SVID_MAX_TTL, JwtError, JwtSigner, openid_configuration};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use crate::util::*;

const ISSUER: &str = "https://airlock.test";

fn mint(signer: &JwtSigner, now: SystemTime, ttl: Duration) -> String {
    signer
        .mint(
            &workload_id(),
            "https://api.example.com",
            &workload(),
            ttl,
            now,
            ISSUER,
        )
        .unwrap()
}

/// Decodes with jsonwebtoken, built from the published JWKS JSON alone.
fn standard_decode(jwks: &Value, token: &str, aud: &str) -> jsonwebtoken::errors::Result<Value> {
    let jwk: Jwk = serde_json::from_value(jwks["keys"][0].clone()).unwrap();
    let key = DecodingKey::from_jwk(&jwk)?;
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&[aud]);
    validation.set_issuer(&[ISSUER]);
    validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    jsonwebtoken::decode::<Value>(token, &key, &validation).map(|d| d.claims)
}

#[test]
fn standard_library_verifies_with_the_jwks() {
    let signer = JwtSigner::generate().unwrap();
    let token = mint(&signer, SystemTime::now(), Duration::from_secs(300));
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.alg, Algorithm::ES256);
    assert_eq!(header.kid.as_deref(), Some(signer.kid()));
    assert_eq!(header.typ.as_deref(), Some("JWT"));

    let claims = standard_decode(&signer.jwks(), &token, "https://api.example.com").unwrap();
    assert_eq!(claims["sub"], workload_id().as_str());
    assert_eq!(claims["aud"], "https://api.example.com", "a single string");
    assert_eq!(claims["act"]["sub"], "user:alice");
    assert_eq!(claims["airlock"]["sandbox"], "sb-42");
    assert_eq!(claims["airlock"]["isolation"], "gvisor");
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        300
    );

    assert!(standard_decode(&signer.jwks(), &token, "https://other.example").is_err());
    let other = JwtSigner::generate().unwrap();
    assert!(standard_decode(&other.jwks(), &token, "https://api.example.com").is_err());
}

#[test]
fn standard_library_rejects_expired() {
    let signer = JwtSigner::generate().unwrap();
    let long_ago = SystemTime::now() - Duration::from_secs(3600);
    let token = mint(&signer, long_ago, Duration::from_secs(60));
    let err = standard_decode(&signer.jwks(), &token, "https://api.example.com").unwrap_err();
    assert!(
        matches!(
            err.kind(),
            jsonwebtoken::errors::ErrorKind::ExpiredSignature
        ),
        "{err:?}"
    );
}

#[test]
fn jwks_shape() {
    let signer = JwtSigner::generate().unwrap();
    let jwk = &signer.jwks()["keys"][0];
    for (k, v) in [
        ("kty", "EC"),
        ("crv", "P-256"),
        ("use", "sig"),
        ("alg", "ES256"),
    ] {
        assert_eq!(jwk[k], v, "{k}");
    }
    assert_eq!(jwk["kid"], signer.kid());
    assert_eq!(jwk["x"].as_str().unwrap().len(), 43);
    assert_eq!(jwk["y"].as_str().unwrap().len(), 43);
    // The kid is stable for a key.
    let again = JwtSigner::from_pkcs8_pem(&signer.key_pkcs8_pem()).unwrap();
    assert_eq!(again.kid(), signer.kid());
}

#[test]
fn own_verifier() {
    let signer = JwtSigner::generate().unwrap();
    let token = mint(&signer, t0(), Duration::from_secs(120));
    let c = signer
        .verify(&token, "https://api.example.com", t0())
        .unwrap();
    assert_eq!(c.sub, workload_id());
    assert_eq!(c.act.sub, "user:alice");
    assert_eq!(c.airlock.delegation.as_deref(), Some("read-only"));
    assert!(matches!(
        signer.verify(&token, "https://x", t0()),
        Err(JwtError::WrongAudience { .. })
    ));
    assert!(matches!(
        signer.verify(
            &token,
            "https://api.example.com",
            t0() + Duration::from_secs(120)
        ),
        Err(JwtError::Expired { .. })
    ));
    let mut tampered = token.clone().into_bytes();
    let mid = token.find('.').unwrap() + 5;
    tampered[mid] = if tampered[mid] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert!(
        signer
            .verify(&tampered, "https://api.example.com", t0())
            .is_err()
    );
    let other = JwtSigner::generate().unwrap();
    assert!(matches!(
        other.verify(&token, "https://api.example.com", t0()),
        Err(JwtError::UnknownKey(_))
    ));
    assert!(matches!(
        signer.verify("a.b", "x", t0()),
        Err(JwtError::Malformed(_))
    ));
}

#[test]
fn refusals() {
    let s = JwtSigner::generate().unwrap();
    let id = workload_id();
    let err = s
        .mint(
            &id,
            "aud",
            &workload(),
            JWT_SVID_MAX_TTL + Duration::from_secs(1),
            t0(),
            ISSUER,
        )
        .unwrap_err();
    assert!(matches!(err, JwtError::TtlTooLong { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "requested JWT-SVID lifetime 5m1s exceeds the 5m maximum"
    );
    for aud in ["", "  "] {
        let err = s
            .mint(&id, aud, &workload(), Duration::from_secs(60), t0(), ISSUER)
            .unwrap_err();
        assert_eq!(err, JwtError::EmptyAudience);
    }
    let err = s
        .mint(&id, "aud", &alice(), Duration::from_secs(60), t0(), ISSUER)
        .unwrap_err();
    assert!(matches!(err, JwtError::Claims(_)), "{err:?}");
    let sandbox_id = airlock_core::SpiffeId::sandbox(&td(), &sandbox());
    assert!(
        s.mint(
            &sandbox_id,
            "aud",
            &workload(),
            Duration::from_secs(60),
            t0(),
            ISSUER
        )
        .is_err()
    );
}

#[test]
fn discovery_points_at_the_jwks() {
    let doc = openid_configuration(ISSUER);
    assert_eq!(doc["issuer"], ISSUER);
    assert_eq!(doc["jwks_uri"], "https://airlock.test/v1/jwks");
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        serde_json::json!(["ES256"])
    );
    assert_eq!(
        doc["response_types_supported"],
        serde_json::json!(["id_token"])
    );
    assert!(doc["subject_types_supported"].is_array());
}
