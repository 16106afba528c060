//! Local validation of JWT-SVIDs for `ValidateJWTSVID`: ES256 signature
//! against the trust domain's JWKS (fetched from the host), audience and
//! expiry. Returns the claims for the response.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
use serde_json::Value;

/// A token that passed every check.
#[derive(Debug, PartialEq)]
pub struct Validated {
    /// `sub`.
    pub spiffe_id: String,
    /// Every claim.
    pub claims: serde_json::Map<String, Value>,
}

/// Validates `token` for `audience` against `jwks` at `now_unix`.
pub fn validate(
    token: &str,
    audience: &str,
    jwks: &Value,
    now_unix: u64,
) -> Result<Validated, String> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("malformed token: expected three dot-separated parts".into());
    };
    let header = decode_json(h, "header")?;
    if header.get("alg").and_then(Value::as_str) != Some("ES256") {
        return Err("unsupported algorithm: only ES256 JWT-SVIDs are issued here".into());
    }
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .ok_or("token has no kid")?;
    let point = find_key(jwks, kid)?;
    let sig = B64.decode(s).map_err(|_| "malformed signature")?;
    let signed = &token[..h.len() + 1 + p.len()];
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point)
        .verify(signed.as_bytes(), &sig)
        .map_err(|_| "bad signature")?;
    let Value::Object(claims) = decode_json(p, "claims")? else {
        return Err("claims are not a JSON object".into());
    };
    check_claims(&claims, audience, now_unix)?;
    let spiffe_id = claims["sub"].as_str().unwrap_or_default().to_owned();
    Ok(Validated { spiffe_id, claims })
}

fn check_claims(
    claims: &serde_json::Map<String, Value>,
    audience: &str,
    now: u64,
) -> Result<(), String> {
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == audience,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(audience)),
        _ => false,
    };
    if !aud_ok {
        return Err(format!("token is not for audience {audience:?}"));
    }
    let exp = claims
        .get("exp")
        .and_then(Value::as_u64)
        .ok_or("token has no exp")?;
    if now >= exp {
        return Err("token has expired".into());
    }
    if !claims
        .get("sub")
        .and_then(Value::as_str)
        .is_some_and(|s| s.starts_with("spiffe://"))
    {
        return Err("token's sub is not a SPIFFE ID".into());
    }
    Ok(())
}

/// The uncompressed P-256 point of JWK `kid`.
fn find_key(jwks: &Value, kid: &str) -> Result<Vec<u8>, String> {
    let key = jwks
        .get("keys")
        .and_then(Value::as_array)
        .and_then(|keys| {
            keys.iter()
                .find(|k| k.get("kid").and_then(Value::as_str) == Some(kid))
        })
        .ok_or_else(|| format!("no key {kid:?} in the trust bundle"))?;
    let coord = |name: &str| -> Result<Vec<u8>, String> {
        let v = key
            .get(name)
            .and_then(Value::as_str)
            .ok_or("JWK lacks a coordinate")?;
        let bytes = B64.decode(v).map_err(|_| "malformed JWK coordinate")?;
        (bytes.len() == 32)
            .then_some(bytes)
            .ok_or_else(|| "JWK is not P-256".to_string())
    };
    let mut point = vec![0x04];
    point.extend(coord("x")?);
    point.extend(coord("y")?);
    Ok(point)
}

fn decode_json(part: &str, what: &str) -> Result<Value, String> {
    let bytes = B64.decode(part).map_err(|_| format!("malformed {what}"))?;
    serde_json::from_slice(&bytes).map_err(|_| format!("malformed {what}"))
}

/// JSON → `google.protobuf.Struct`.
pub fn to_struct(map: serde_json::Map<String, Value>) -> prost_types::Struct {
    prost_types::Struct {
        fields: map.into_iter().map(|(k, v)| (k, to_value(v))).collect(),
    }
}

fn to_value(v: Value) -> prost_types::Value {
    use prost_types::value::Kind;
    let kind = match v {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        Value::String(s) => Kind::StringValue(s),
        Value::Array(a) => Kind::ListValue(prost_types::ListValue {
            values: a.into_iter().map(to_value).collect(),
        }),
        Value::Object(o) => Kind::StructValue(to_struct(o)),
    };
    prost_types::Value { kind: Some(kind) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_refused_without_panicking() {
        let jwks = serde_json::json!({"keys": []});
        for bad in [
            "",
            "a.b",
            "a.b.c.d",
            "e30.e30.",
            "eyJhbGciOiJub25lIn0.e30.x",
        ] {
            assert!(validate(bad, "aud", &jwks, 0).is_err(), "{bad}");
        }
    }

    #[test]
    fn claim_checks() {
        let claims = |v: Value| v.as_object().unwrap().clone();
        let good = claims(serde_json::json!({"sub": "spiffe://td/x", "aud": "db", "exp": 100}));
        assert!(check_claims(&good, "db", 99).is_ok());
        assert!(
            check_claims(&good, "db", 100)
                .unwrap_err()
                .contains("expired")
        );
        assert!(
            check_claims(&good, "web", 1)
                .unwrap_err()
                .contains("audience")
        );
        let list =
            claims(serde_json::json!({"sub": "spiffe://td/x", "aud": ["a", "db"], "exp": 9}));
        assert!(check_claims(&list, "db", 1).is_ok());
    }
}
