//! Typed errors. Each message is one line that says what is wrong and, where
//! the reader can act, what to do.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use airlock_core::claims::ClaimsError;
use airlock_core::{NameError, SubjectKind, format_duration};

use crate::der::TimeRangeError;

/// Errors of key handling, CA loading and certificate issuance.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaError {
    /// PEM text without the expected block.
    #[error("{what} is not valid PEM: {reason}")]
    Pem {
        /// The PEM label that was expected.
        what: &'static str,
        /// What was found instead.
        reason: String,
    },
    /// A private key that ring cannot load as a P-256 PKCS#8 key.
    #[error(
        "invalid private key ({0}): expected an unencrypted PKCS#8 ECDSA P-256 key; convert with `openssl pkcs8 -topk8 -nocrypt`"
    )]
    PrivateKey(String),
    /// A public key that is not a well-formed P-256 point.
    #[error("invalid public key: {0}")]
    PublicKey(String),
    /// A key of another algorithm or curve.
    #[error(
        "unsupported key type {found}: Airlock accepts only ECDSA P-256 keys (e.g. `openssl ecparam -name prime256v1 -genkey`)"
    )]
    UnsupportedKey {
        /// A human name of the key type that was presented.
        found: String,
    },
    /// A certificate request that does not parse.
    #[error("certificate request is malformed: {0}")]
    MalformedCsr(String),
    /// A certificate request whose self-signature does not verify.
    #[error(
        "certificate request signature does not verify: the request was altered or not signed by the key it carries"
    )]
    CsrSignature,
    /// Claims of the wrong kind for the requested certificate profile.
    #[error("cannot issue a {profile} certificate for {kind} claims")]
    WrongKind {
        /// The profile asked for (user, svid, server).
        profile: &'static str,
        /// The kind the claims name.
        kind: SubjectKind,
    },
    /// Claims that do not validate.
    #[error("identity claims are invalid: {0}")]
    Claims(#[from] ClaimsError),
    /// A name (cluster name, DNS name) that cannot go into a certificate.
    #[error(transparent)]
    Name(#[from] NameError),
    /// A SPIFFE ID of another trust domain.
    #[error("SPIFFE ID {id} is outside trust domain {expected}, the only one this CA issues for")]
    ForeignTrustDomain {
        /// The SPIFFE ID requested.
        id: String,
        /// This CA's trust domain.
        expected: String,
    },
    /// A SPIFFE ID that does not name the sandbox the claims name.
    #[error("SPIFFE ID {id} does not match the claims: expected {expected}")]
    SpiffeIdMismatch {
        /// The SPIFFE ID requested.
        id: String,
        /// The ID the claims imply.
        expected: String,
    },
    /// A TTL above the profile's maximum.
    #[error("requested lifetime {} exceeds the {} maximum for {what}", fmt_dur(*.ttl), fmt_dur(*.max))]
    TtlTooLong {
        /// What was being issued.
        what: &'static str,
        /// The TTL asked for.
        ttl: Duration,
        /// The maximum allowed.
        max: Duration,
    },
    /// A TTL shorter than one second.
    #[error("requested lifetime is zero: ask for at least one second")]
    ZeroTtl,
    /// A server certificate without names.
    #[error("a server certificate needs at least one DNS name or IP address")]
    NoServerNames,
    /// The CA itself is past its validity.
    #[error("the CA certificate expired at {}; rotate the CA before issuing", rfc3339(*.not_after))]
    CaExpired {
        /// The CA's notAfter.
        not_after: SystemTime,
    },
    /// A CA certificate that cannot serve as one.
    #[error("CA certificate is unusable: {0}")]
    CaCert(String),
    /// A private key that belongs to another certificate.
    #[error(
        "the private key does not match the certificate; use the key file written together with that certificate"
    )]
    KeyMismatch,
    /// A time outside what a certificate can hold.
    #[error(transparent)]
    Time(#[from] TimeRangeError),
    /// ring refused an operation (key generation, signing, randomness).
    #[error("cryptographic operation failed: {0}")]
    Crypto(&'static str),
    /// A file could not be written.
    #[error("cannot write {}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Why a presented certificate was refused. The control plane and proxy map
/// these to responses, so each variant is a distinct cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// Not a DER X.509 certificate this crate can read.
    #[error("not a valid X.509 certificate ({0}); present the certificate Airlock issued")]
    Malformed(String),
    /// Signed by a CA this cluster does not hold.
    #[error(
        "certificate was issued by {issuer:?}, which is not this cluster's CA; run `airlock login` against this cluster"
    )]
    UnknownIssuer {
        /// The issuer name the certificate claims.
        issuer: String,
    },
    /// Names our CA as issuer, but the signature does not verify.
    #[error(
        "certificate signature does not verify: it was altered after issuance or forged; discard it and run `airlock login` again"
    )]
    BadSignature,
    /// Past its notAfter.
    #[error("certificate expired at {}; run `airlock login` again", rfc3339(*.not_after))]
    Expired {
        /// When it expired.
        not_after: SystemTime,
    },
    /// Before its notBefore.
    #[error("certificate is not valid before {}; check this machine's clock", rfc3339(*.not_before))]
    NotYetValid {
        /// When it becomes valid.
        not_before: SystemTime,
    },
    /// A CA certificate presented as a client or workload identity.
    #[error(
        "a CA certificate cannot authenticate anyone; present a user, workload or server certificate"
    )]
    NotALeaf,
    /// No Airlock identity extension.
    #[error(
        "certificate carries no Airlock identity claims; use a certificate issued by `airlock login`"
    )]
    MissingClaims,
    /// An Airlock identity extension that does not decode or contradicts the certificate.
    #[error("certificate's Airlock identity claims are invalid: {0}")]
    BadClaims(String),
}

/// Errors of minting and verifying JWT-SVIDs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtError {
    /// No audience (or a blank one).
    #[error("a JWT-SVID needs exactly one audience; name the service that will verify it")]
    EmptyAudience,
    /// A TTL above five minutes.
    #[error("requested JWT-SVID lifetime {} exceeds the {} maximum", fmt_dur(*.ttl), fmt_dur(*.max))]
    TtlTooLong {
        /// The TTL asked for.
        ttl: Duration,
        /// The maximum allowed.
        max: Duration,
    },
    /// A TTL shorter than one second.
    #[error("requested JWT-SVID lifetime is zero: ask for at least one second")]
    ZeroTtl,
    /// Claims that cannot back a JWT-SVID.
    #[error("cannot mint a JWT-SVID: {0}")]
    Claims(String),
    /// Not a compact JWS this crate minted.
    #[error("JWT is malformed: {0}")]
    Malformed(String),
    /// Signed with another algorithm.
    #[error("JWT algorithm {0:?} is not accepted; JWT-SVIDs use ES256")]
    Algorithm(String),
    /// Signed by a key we do not hold.
    #[error("JWT key id {0:?} is unknown; fetch the current JWKS")]
    UnknownKey(String),
    /// Signature does not verify.
    #[error("JWT signature does not verify: the token was altered or forged")]
    BadSignature,
    /// Past `exp`.
    #[error("JWT expired at {}; request a new JWT-SVID", rfc3339(UNIX_EPOCH + Duration::from_secs(*.exp)))]
    Expired {
        /// `exp`, seconds since the epoch.
        exp: u64,
    },
    /// Audience differs from the one expected.
    #[error("JWT audience {found:?} is not {expected:?}: the token was minted for another service")]
    WrongAudience {
        /// The audience the verifier expects.
        expected: String,
        /// The audience in the token.
        found: String,
    },
    /// ring refused an operation.
    #[error("cryptographic operation failed: {0}")]
    Crypto(&'static str),
}

/// `2026-11-25T18:00:00Z`, for messages.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let secs = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    };
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|dt| {
            dt.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("{secs} seconds after the epoch"))
}

fn fmt_dur(d: Duration) -> String {
    format_duration(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_actionable_line() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_629_600);
        assert_eq!(
            VerifyError::Expired { not_after: t }.to_string(),
            "certificate expired at 2026-11-25T18:00:00Z; run `airlock login` again"
        );
        let e = CaError::TtlTooLong {
            what: "an X.509-SVID",
            ttl: Duration::from_secs(7200),
            max: Duration::from_secs(3600),
        };
        assert_eq!(
            e.to_string(),
            "requested lifetime 2h exceeds the 1h maximum for an X.509-SVID"
        );
        assert_eq!(
            JwtError::Expired { exp: 1_795_629_600 }.to_string(),
            "JWT expired at 2026-11-25T18:00:00Z; request a new JWT-SVID"
        );
    }
}
