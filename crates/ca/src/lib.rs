//! Airlock's certificate authority.
//!
//! - Key material: ECDSA P-256 everywhere ([`KeyPair`], [`PublicKey`]); the CA
//!   only ever sees public keys, taken from PKCS#10 requests whose
//!   self-signature it verifies.
//! - Issuance ([`CertificateAuthority`]): user certificates, SPIFFE
//!   X.509-SVIDs for sandboxes and workloads, TLS server certificates. Every
//!   leaf carries the subject's [`airlock_core::Claims`] in a private,
//!   non-critical extension (OID in [`airlock_core::oid`]).
//! - Verification ([`CertificateAuthority::verify`], [`TrustBundle::verify`]):
//!   one distinct [`VerifyError`] per cause, fast enough for every mTLS request.
//! - JWT-SVIDs ([`JwtSigner`]) with JWKS and OIDC discovery.
//!
//! Architecture invariants:
//! - Sans clock: everything that depends on time takes `now`.
//! - Untrusted bytes (CSRs, presented certificates) are parsed only by
//!   `x509-parser`; this crate's own DER code (module `der`) only writes.
//!   The entry points that take untrusted bytes ([`PublicKey::from_csr_der`],
//!   [`PublicKey::from_spki_der`], [`CertificateAuthority::verify`],
//!   [`TrustBundle::verify`], [`JwtSigner::verify`], [`validate_jwt_svid`])
//!   return errors, never panic, and are fuzzed (`crates/fuzz`).
//! - No IO except [`write_key_file`], the one place a secret touches disk.
#![forbid(unsafe_code)]

mod anchor;
mod bundle;
mod ca;
mod csr;
mod der;
mod error;
mod interception;
mod issue;
mod jwks;
mod jwt;
mod keyfile;
mod keys;
mod oids;
pub mod pem;
mod tls;
mod verify;
mod x509;

use std::time::Duration;

pub use anchor::TrustAnchor;
pub use bundle::TrustBundle;
pub use ca::{CertificateAuthority, format_fingerprint};
pub use der::TimeRangeError;
pub use error::{CaError, JwtError, VerifyError};
pub use issue::{IssuedCert, SVID_MAX_TTL};
pub use jwks::{ValidatedJwt, validate_jwt_svid};
pub use jwt::{
    Actor, AirlockContext, JWT_SVID_MAX_TTL, JwtSigner, JwtSvidClaims, openid_configuration,
};
pub use keyfile::write_key_file;
pub use keys::{KeyPair, PublicKey};
pub use tls::{ClientKey, certs_from_pem, private_key_from_pem};
pub use verify::VerifiedCert;

/// How far `notBefore` is set in the past, so a certificate is accepted
/// at once by peers whose clocks run slightly behind.
pub const BACKDATE: Duration = Duration::from_secs(60);
