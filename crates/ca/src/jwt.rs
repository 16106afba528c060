//! JWT-SVIDs (SPIFFE JWT-SVID profile): ES256, one audience, at most five
//! minutes, plus a JWKS and an OIDC discovery document so outside services
//! can verify them with any standard JWT library. The `act` claim (RFC 8693)
//! names the human behind the workload.

use std::fmt;
use std::time::{Duration, SystemTime};

use airlock_core::{Claims, IsolationClass, SandboxId, SpiffeId, SubjectKind, TrustDomain};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::digest;
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, UnparsedPublicKey,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::der::unix_secs;
use crate::error::{CaError, JwtError};
use crate::issue::expected_spiffe_id;
use crate::keys::KeyPair;

/// Longest lifetime of a JWT-SVID.
pub const JWT_SVID_MAX_TTL: Duration = Duration::from_secs(300);

/// The JOSE header we write and accept.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    typ: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kid: Option<String>,
}

/// The payload of a JWT-SVID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwtSvidClaims {
    /// The workload's (or sandbox's) SPIFFE ID.
    pub sub: SpiffeId,
    /// The single audience.
    pub aud: String,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Issued-at, seconds since the epoch.
    pub iat: u64,
    /// The issuer URL (the control plane's OIDC issuer).
    pub iss: String,
    /// The human the workload acts for (RFC 8693 4.1).
    pub act: Actor,
    /// Airlock context: which sandbox, how isolated, under which delegation.
    pub airlock: AirlockContext,
}

/// RFC 8693 actor claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// `user:<name>`.
    pub sub: String,
}

/// Airlock-specific claims of a JWT-SVID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AirlockContext {
    /// Sandbox or workload.
    pub kind: SubjectKind,
    /// The sandbox.
    pub sandbox: SandboxId,
    /// Its isolation class.
    pub isolation: IsolationClass,
    /// The delegation profile, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegation: Option<String>,
}

/// Mints and verifies JWT-SVIDs with its own P-256 key.
pub struct JwtSigner {
    key: KeyPair,
    /// Same key, loaded for JOSE's fixed-length `r || s` signatures.
    fixed: EcdsaKeyPair,
    kid: String,
    x: String,
    y: String,
}

impl JwtSigner {
    /// A signer with a fresh key.
    pub fn generate() -> Result<Self, CaError> {
        Self::new(KeyPair::generate()?)
    }

    /// A signer over an existing key; `kid` is its RFC 7638 thumbprint.
    pub fn new(key: KeyPair) -> Result<Self, CaError> {
        let fixed = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            key.pkcs8_der(),
            &SystemRandom::new(),
        )
        .map_err(|e| CaError::PrivateKey(e.to_string()))?;
        let point = key.public_ref().point();
        let (x, y) = (B64.encode(&point[1..33]), B64.encode(&point[33..]));
        let kid = thumbprint(&x, &y);
        Ok(Self {
            key,
            fixed,
            kid,
            x,
            y,
        })
    }

    /// Loads the signing key from `PRIVATE KEY` PEM.
    pub fn from_pkcs8_pem(text: &str) -> Result<Self, CaError> {
        Self::new(KeyPair::from_pkcs8_pem(text)?)
    }

    /// The signing key as PKCS#8 PEM. Secret.
    pub fn key_pkcs8_pem(&self) -> String {
        self.key.to_pkcs8_pem()
    }

    /// The key id (RFC 7638 JWK thumbprint, base64url).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK.
    pub fn jwk(&self) -> Value {
        json!({
            "kty": "EC", "crv": "P-256", "x": self.x, "y": self.y,
            "kid": self.kid, "use": "sig", "alg": "ES256",
        })
    }

    /// A JWK Set holding this key (serve it at `<issuer>/v1/jwks`).
    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.jwk()] })
    }

    /// Mints a JWT-SVID for `sub`, whose sandbox/workload `claims` name the
    /// user (`act`), sandbox and isolation. One audience; `ttl` ≤ 5 minutes.
    pub fn mint(
        &self,
        sub: &SpiffeId,
        aud: &str,
        claims: &Claims,
        ttl: Duration,
        now: SystemTime,
        issuer_url: &str,
    ) -> Result<String, JwtError> {
        check_ttl(ttl)?;
        if aud.trim().is_empty() {
            return Err(JwtError::EmptyAudience);
        }
        let (act, airlock) = context(sub, claims)?;
        let iat = unix_secs(now).map_err(|e| JwtError::Claims(e.to_string()))?;
        let payload = JwtSvidClaims {
            sub: sub.clone(),
            aud: aud.to_owned(),
            exp: iat + ttl.as_secs(),
            iat,
            iss: issuer_url.to_owned(),
            act,
            airlock,
        };
        let header = Header {
            alg: "ES256".into(),
            typ: Some("JWT".into()),
            kid: Some(self.kid.clone()),
        };
        let mut token = format!("{}.{}", b64_json(&header)?, b64_json(&payload)?);
        let sig = self
            .fixed
            .sign(&SystemRandom::new(), token.as_bytes())
            .map_err(|_| JwtError::Crypto("ES256 signing"))?;
        token.push('.');
        token.push_str(&B64.encode(sig.as_ref()));
        tracing::debug!(sub = %sub, aud, "minted JWT-SVID");
        Ok(token)
    }

    /// Verifies a token this signer minted, for audience `expected_aud`.
    pub fn verify(
        &self,
        token: &str,
        expected_aud: &str,
        now: SystemTime,
    ) -> Result<JwtSvidClaims, JwtError> {
        let payload = verify_es256(token, |kid| {
            if kid == Some(self.kid.as_str()) {
                Ok(self.key.public_ref().point().to_vec())
            } else {
                Err(JwtError::UnknownKey(kid.unwrap_or_default().to_owned()))
            }
        })?;
        let claims: JwtSvidClaims = from_b64_json(payload)?;
        if claims.aud != expected_aud {
            return Err(JwtError::WrongAudience {
                expected: expected_aud.to_owned(),
                found: claims.aud,
            });
        }
        let now = unix_secs(now).map_err(|e| JwtError::Malformed(e.to_string()))?;
        if now >= claims.exp {
            return Err(JwtError::Expired { exp: claims.exp });
        }
        Ok(claims)
    }
}

/// Checks that a compact JWS is ES256 and signed by the key `key_for`
/// returns for its `kid` (an uncompressed P-256 point); returns the
/// payload part, still base64url.
pub(crate) fn verify_es256(
    token: &str,
    key_for: impl FnOnce(Option<&str>) -> Result<Vec<u8>, JwtError>,
) -> Result<&str, JwtError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed(
            "expected three dot-separated parts".into(),
        ));
    };
    let header: Header = from_b64_json(h)?;
    if header.alg != "ES256" {
        return Err(JwtError::Algorithm(header.alg));
    }
    let point = key_for(header.kid.as_deref())?;
    let sig = B64
        .decode(s)
        .map_err(|e| JwtError::Malformed(format!("signature: {e}")))?;
    let signing_input = &token[..h.len() + 1 + p.len()];
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point)
        .verify(signing_input.as_bytes(), &sig)
        .map_err(|_| JwtError::BadSignature)?;
    Ok(p)
}

impl fmt::Debug for JwtSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtSigner")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// The OIDC discovery document (`/.well-known/openid-configuration`) that
/// lets standard verifiers find the JWKS.
pub fn openid_configuration(issuer_url: &str) -> Value {
    let issuer = issuer_url.trim_end_matches('/');
    json!({
        "issuer": issuer_url,
        "jwks_uri": format!("{issuer}/v1/jwks"),
        "id_token_signing_alg_values_supported": ["ES256"],
        "subject_types_supported": ["public"],
        "response_types_supported": ["id_token"],
    })
}

fn check_ttl(ttl: Duration) -> Result<(), JwtError> {
    if ttl.as_secs() == 0 {
        return Err(JwtError::ZeroTtl);
    }
    if ttl > JWT_SVID_MAX_TTL {
        return Err(JwtError::TtlTooLong {
            ttl,
            max: JWT_SVID_MAX_TTL,
        });
    }
    Ok(())
}

/// The `act` and `airlock` claims, after checking that `sub` is the SPIFFE
/// ID these sandbox/workload claims imply (as X.509-SVIDs are held to).
fn context(sub: &SpiffeId, claims: &Claims) -> Result<(Actor, AirlockContext), JwtError> {
    claims
        .validate()
        .map_err(|e| JwtError::Claims(e.to_string()))?;
    let td = TrustDomain::new(sub.trust_domain()).map_err(|e| JwtError::Claims(e.to_string()))?;
    let (Some(user), Some(sandbox), Some(isolation)) =
        (&claims.user, &claims.sandbox, claims.isolation)
    else {
        return Err(JwtError::Claims(format!(
            "JWT-SVIDs are for sandboxes and workloads, not {} identities",
            claims.kind
        )));
    };
    if expected_spiffe_id(&td, claims).as_ref() != Some(sub) {
        return Err(JwtError::Claims(format!(
            "subject {sub} does not match the {} claims for sandbox {sandbox}",
            claims.kind
        )));
    }
    let act = Actor {
        sub: format!("user:{user}"),
    };
    let airlock = AirlockContext {
        kind: claims.kind,
        sandbox: sandbox.clone(),
        isolation,
        delegation: claims.delegation.clone(),
    };
    Ok((act, airlock))
}

/// RFC 7638: SHA-256 over the required members in lexicographic order.
fn thumbprint(x: &str, y: &str) -> String {
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    B64.encode(digest::digest(&digest::SHA256, canonical.as_bytes()))
}

fn b64_json(v: &impl Serialize) -> Result<String, JwtError> {
    let bytes = serde_json::to_vec(v).map_err(|e| JwtError::Malformed(e.to_string()))?;
    Ok(B64.encode(bytes))
}

pub(crate) fn from_b64_json<T: for<'de> Deserialize<'de>>(part: &str) -> Result<T, JwtError> {
    let bytes = B64
        .decode(part)
        .map_err(|e| JwtError::Malformed(format!("base64url: {e}")))?;
    serde_json::from_slice(&bytes).map_err(|e| JwtError::Malformed(format!("JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprint_matches_rfc7638_example_shape() {
        // RFC 7638 3.1 uses an RSA key; check our EC canonical form instead:
        // member order and no whitespace are what make thumbprints portable.
        let t = thumbprint("AAAA", "BBBB");
        let expected = B64.encode(digest::digest(
            &digest::SHA256,
            br#"{"crv":"P-256","kty":"EC","x":"AAAA","y":"BBBB"}"#,
        ));
        assert_eq!(t, expected);
        assert_eq!(t.len(), 43);
    }

    #[test]
    fn discovery_document() {
        let doc = openid_configuration("https://airlock.example.com/");
        assert_eq!(doc["jwks_uri"], "https://airlock.example.com/v1/jwks");
        assert_eq!(doc["id_token_signing_alg_values_supported"][0], "ES256");
    }
}
