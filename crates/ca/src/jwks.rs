//! Validating a JWT-SVID against a JWKS, as a relying party does with the
//! trust bundle it fetched; init answers the Workload API's
//! `ValidateJWTSVID` with it. The token is untrusted (a workload sends it),
//! so every malformation is an error, never a panic.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Map, Value};

use crate::error::JwtError;
use crate::jwt::{from_b64_json, verify_es256};

/// A token that passed every check.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidatedJwt {
    /// `sub`: the SPIFFE ID of the workload or sandbox.
    pub spiffe_id: String,
    /// Every claim, as signed.
    pub claims: Map<String, Value>,
}

/// Validates `token` for `audience` against `jwks` (a JWK Set of P-256 keys)
/// at `now_unix`: ES256 signature by the key its `kid` names, the audience
/// (a string, or a list holding it), expiry, and a SPIFFE ID as `sub`.
pub fn validate_jwt_svid(
    token: &str,
    audience: &str,
    jwks: &Value,
    now_unix: u64,
) -> Result<ValidatedJwt, JwtError> {
    let payload = verify_es256(token, |kid| find_key(jwks, kid))?;
    let Value::Object(claims) = from_b64_json::<Value>(payload)? else {
        return Err(JwtError::Malformed("claims are not a JSON object".into()));
    };
    let spiffe_id = check_claims(&claims, audience, now_unix)?.to_owned();
    Ok(ValidatedJwt { spiffe_id, claims })
}

/// Checks audience, expiry and subject; returns the subject.
fn check_claims<'c>(
    claims: &'c Map<String, Value>,
    audience: &str,
    now: u64,
) -> Result<&'c str, JwtError> {
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == audience,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(audience)),
        _ => false,
    };
    if !aud_ok {
        return Err(JwtError::WrongAudience {
            expected: audience.to_owned(),
            found: claims.get("aud").map(Value::to_string).unwrap_or_default(),
        });
    }
    let exp = claims
        .get("exp")
        .and_then(Value::as_u64)
        .ok_or_else(|| JwtError::Malformed("no exp claim".into()))?;
    if now >= exp {
        return Err(JwtError::Expired { exp });
    }
    claims
        .get("sub")
        .and_then(Value::as_str)
        .filter(|s| s.starts_with("spiffe://"))
        .ok_or_else(|| JwtError::Malformed("sub is not a SPIFFE ID".into()))
}

/// The uncompressed P-256 point of the JWK named `kid`.
fn find_key(jwks: &Value, kid: Option<&str>) -> Result<Vec<u8>, JwtError> {
    let kid = kid.ok_or_else(|| JwtError::Malformed("no kid in the header".into()))?;
    let key = jwks
        .get("keys")
        .and_then(Value::as_array)
        .and_then(|keys| {
            keys.iter()
                .find(|k| k.get("kid").and_then(Value::as_str) == Some(kid))
        })
        .ok_or_else(|| JwtError::UnknownKey(kid.to_owned()))?;
    let coord = |name: &str| -> Result<Vec<u8>, JwtError> {
        let bad = |what: &str| JwtError::Malformed(format!("JWK {kid:?}: {what} {name}"));
        let text = key
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| bad("no coordinate"))?;
        let bytes = B64.decode(text).map_err(|_| bad("malformed coordinate"))?;
        (bytes.len() == 32)
            .then_some(bytes)
            .ok_or_else(|| bad("not a P-256 coordinate"))
    };
    let mut point = vec![0x04];
    point.extend(coord("x")?);
    point.extend(coord("y")?);
    Ok(point)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use airlock_core::{Claims, IsolationClass, SandboxId, SpiffeId, TrustDomain, UserName};
    use serde_json::json;

    use super::*;
    use crate::JwtSigner;

    const NOW: u64 = 1_790_000_000;

    fn minted(signer: &JwtSigner, aud: &str) -> String {
        let td = TrustDomain::new("example.test").unwrap();
        let sandbox = SandboxId::new("sb-1").unwrap();
        let claims = Claims::workload(
            UserName::new("alice").unwrap(),
            sandbox.clone(),
            IsolationClass::Runc,
            None,
        );
        let now = UNIX_EPOCH + Duration::from_secs(NOW);
        signer
            .mint(
                &SpiffeId::workload(&td, &sandbox),
                aud,
                &claims,
                Duration::from_secs(300),
                now,
                "https://airlock.example.test",
            )
            .unwrap()
    }

    #[test]
    fn a_minted_token_validates_against_the_signers_jwks() {
        let signer = JwtSigner::generate().unwrap();
        let token = minted(&signer, "db");
        let valid = validate_jwt_svid(&token, "db", &signer.jwks(), NOW).unwrap();
        assert_eq!(
            valid.spiffe_id,
            "spiffe://example.test/sandbox/sb-1/workload"
        );
        assert_eq!(valid.claims["act"]["sub"], "user:alice");
        let later = signer
            .verify(
                &token,
                "db",
                SystemTime::UNIX_EPOCH + Duration::from_secs(NOW),
            )
            .unwrap();
        assert_eq!(later.sub.as_str(), valid.spiffe_id);
    }

    #[test]
    fn each_check_refuses() {
        let signer = JwtSigner::generate().unwrap();
        let other = JwtSigner::generate().unwrap();
        let token = minted(&signer, "db");
        let jwks = signer.jwks();
        let err = |t: &str, aud: &str, jwks: &Value, now: u64| {
            validate_jwt_svid(t, aud, jwks, now).unwrap_err()
        };
        assert!(matches!(
            err(&token, "web", &jwks, NOW),
            JwtError::WrongAudience { .. }
        ));
        assert!(matches!(
            err(&token, "db", &jwks, NOW + 300),
            JwtError::Expired { .. }
        ));
        assert!(matches!(
            err(&token, "db", &other.jwks(), NOW),
            JwtError::UnknownKey(_)
        ));
        let (head, rest) = token.split_once('.').unwrap();
        let (_, sig) = rest.split_once('.').unwrap();
        let forged_claims = B64.encode(br#"{"sub":"spiffe://x/y","aud":"db","exp":9999999999}"#);
        let forged = format!("{head}.{forged_claims}.{sig}");
        assert!(matches!(
            err(&forged, "db", &jwks, NOW),
            JwtError::BadSignature
        ));
    }

    #[test]
    fn garbage_is_refused_without_panicking() {
        let jwks = json!({"keys": []});
        for bad in [
            "",
            "a.b",
            "a.b.c.d",
            "e30.e30.",
            "eyJhbGciOiJub25lIn0.e30.x",
        ] {
            assert!(validate_jwt_svid(bad, "aud", &jwks, 0).is_err(), "{bad}");
        }
    }

    #[test]
    fn claim_checks() {
        let claims = |v: Value| v.as_object().unwrap().clone();
        let good = claims(json!({"sub": "spiffe://td/x", "aud": "db", "exp": 100}));
        assert_eq!(check_claims(&good, "db", 99).unwrap(), "spiffe://td/x");
        assert!(matches!(
            check_claims(&good, "db", 100),
            Err(JwtError::Expired { exp: 100 })
        ));
        assert!(matches!(
            check_claims(&good, "web", 1),
            Err(JwtError::WrongAudience { .. })
        ));
        let list = claims(json!({"sub": "spiffe://td/x", "aud": ["a", "db"], "exp": 9}));
        assert!(check_claims(&list, "db", 1).is_ok());
        let not_spiffe = claims(json!({"sub": "alice", "aud": "db", "exp": 9}));
        assert!(check_claims(&not_spiffe, "db", 1).is_err());
    }
}
