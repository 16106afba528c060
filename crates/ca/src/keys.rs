//! ECDSA P-256 key material. Subjects generate their own [`KeyPair`]; the CA
//! only ever sees a [`PublicKey`], taken from a CSR or a SubjectPublicKeyInfo.

use std::fmt;

use ring::agreement;
use ring::digest;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use x509_parser::prelude::{FromDer, SubjectPublicKeyInfo};

use crate::der::Der;
use crate::error::CaError;
use crate::{oids, pem};

/// Length of an uncompressed P-256 point: `04 || x || y`.
const POINT_LEN: usize = 65;

/// A P-256 private key (PKCS#8) with its ring signer.
///
/// Signatures are ASN.1 DER (`ECDSA-Sig-Value`), as X.509 and PKCS#10 need.
pub struct KeyPair {
    pkcs8: Vec<u8>,
    signer: EcdsaKeyPair,
    public: PublicKey,
}

impl KeyPair {
    /// A fresh key from the OS random generator.
    pub fn generate() -> Result<Self, CaError> {
        let rng = SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
            .map_err(|_| CaError::Crypto("P-256 key generation"))?;
        Self::from_pkcs8_der(doc.as_ref())
    }

    /// Loads an unencrypted PKCS#8 DER P-256 key.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, CaError> {
        let rng = SystemRandom::new();
        let signer = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, der, &rng)
            .map_err(|e| CaError::PrivateKey(e.to_string()))?;
        let public = PublicKey::from_point(signer.public_key().as_ref())?;
        Ok(Self {
            pkcs8: der.to_vec(),
            signer,
            public,
        })
    }

    /// Loads a `PRIVATE KEY` PEM block.
    pub fn from_pkcs8_pem(text: &str) -> Result<Self, CaError> {
        Self::from_pkcs8_der(&pem::decode(pem::PRIVATE_KEY, text)?)
    }

    /// The key as `PRIVATE KEY` PEM. Secret: write it with [`crate::write_key_file`].
    pub fn to_pkcs8_pem(&self) -> String {
        pem::encode(pem::PRIVATE_KEY, &self.pkcs8)
    }

    /// The key as PKCS#8 DER. Secret.
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The key in the form rustls takes for a client or server identity.
    pub fn private_key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.pkcs8.clone()))
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        self.public.clone()
    }

    pub(crate) fn public_ref(&self) -> &PublicKey {
        &self.public
    }

    /// ECDSA P-256 SHA-256 signature over `msg`, ASN.1 DER encoded.
    pub(crate) fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, CaError> {
        let sig = self
            .signer
            .sign(&SystemRandom::new(), msg)
            .map_err(|_| CaError::Crypto("ECDSA signing"))?;
        Ok(sig.as_ref().to_vec())
    }
}

impl fmt::Debug for KeyPair {
    /// Never prints the secret: only the public key's fingerprint.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// A validated P-256 public key, kept as canonical SubjectPublicKeyInfo DER.
///
/// Certificates embed the canonical re-encoding, never the bytes presented,
/// so odd-but-parseable encodings cannot reach an issued certificate.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    spki: Vec<u8>,
    point: [u8; POINT_LEN],
}

impl PublicKey {
    /// Parses a SubjectPublicKeyInfo and checks that it is a point on P-256.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, CaError> {
        let (rest, spki) = SubjectPublicKeyInfo::from_der(der)
            .map_err(|e| CaError::PublicKey(format!("not a SubjectPublicKeyInfo: {e}")))?;
        if !rest.is_empty() {
            return Err(CaError::PublicKey("trailing bytes after the key".into()));
        }
        let key = Self::from_parsed_spki(&spki)?;
        key.check_on_curve()?;
        Ok(key)
    }

    /// Parses a `PUBLIC KEY` PEM block.
    pub fn from_spki_pem(text: &str) -> Result<Self, CaError> {
        Self::from_spki_der(&pem::decode(pem::PUBLIC_KEY, text)?)
    }

    /// Checks algorithm and curve of a parsed SPKI, without the on-curve test
    /// (a verified CSR signature already proves the point is valid).
    pub(crate) fn from_parsed_spki(spki: &SubjectPublicKeyInfo<'_>) -> Result<Self, CaError> {
        let alg = spki.algorithm.algorithm.as_bytes();
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok());
        let curve = curve.as_ref().map(|o| o.as_bytes());
        if alg != oids::EC_PUBLIC_KEY || curve != Some(oids::PRIME256V1) {
            return Err(CaError::UnsupportedKey {
                found: describe_key_type(alg, curve),
            });
        }
        Self::from_point(&spki.subject_public_key.data)
    }

    /// Builds the canonical SPKI from an uncompressed point.
    pub(crate) fn from_point(bytes: &[u8]) -> Result<Self, CaError> {
        let point: [u8; POINT_LEN] = bytes
            .try_into()
            .ok()
            .filter(|p: &[u8; POINT_LEN]| p[0] == 0x04)
            .ok_or_else(|| {
                CaError::PublicKey(
                    "expected an uncompressed P-256 point (65 bytes starting with 04)".into(),
                )
            })?;
        let mut d = Der::new();
        d.sequence(|d| {
            d.sequence(|d| {
                d.oid(oids::EC_PUBLIC_KEY);
                d.oid(oids::PRIME256V1);
            });
            d.bit_string(&point);
        });
        Ok(Self {
            spki: d.into_vec(),
            point,
        })
    }

    /// Rejects points not on the curve. ring has no direct check, but an
    /// ECDH agreement validates the peer point fully (SP 800-56A), so one
    /// throwaway agreement is the test. Costs one scalar multiplication.
    fn check_on_curve(&self) -> Result<(), CaError> {
        let rng = SystemRandom::new();
        let ephemeral = agreement::EphemeralPrivateKey::generate(&agreement::ECDH_P256, &rng)
            .map_err(|_| CaError::Crypto("ephemeral key generation"))?;
        let peer = agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, &self.point);
        agreement::agree_ephemeral(ephemeral, &peer, |_| ())
            .map_err(|_| CaError::PublicKey("the point is not on the P-256 curve".into()))
    }

    /// Canonical SubjectPublicKeyInfo DER.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// `PUBLIC KEY` PEM.
    pub fn to_spki_pem(&self) -> String {
        pem::encode(pem::PUBLIC_KEY, &self.spki)
    }

    /// SHA-256 of the SPKI DER, lowercase hex: a stable key identity for logs.
    pub fn fingerprint(&self) -> String {
        hex::encode(digest::digest(&digest::SHA256, &self.spki))
    }

    /// The uncompressed point, as ring's verifiers take it.
    pub(crate) fn point(&self) -> &[u8; POINT_LEN] {
        &self.point
    }

    /// Key identifier for SKI/AKI: RFC 7093 method 1, the leftmost 160 bits
    /// of SHA-256 over the subjectPublicKey bits (avoids SHA-1).
    pub(crate) fn key_id(&self) -> [u8; 20] {
        let hash = digest::digest(&digest::SHA256, &self.point);
        let mut id = [0u8; 20];
        id.copy_from_slice(&hash.as_ref()[..20]);
        id
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey(P-256, sha256:{})", &self.fingerprint()[..16])
    }
}

/// A readable name for a key type we refuse, for the error message.
fn describe_key_type(alg: &[u8], curve: Option<&[u8]>) -> String {
    match (alg, curve) {
        (a, _) if a == oids::RSA_ENCRYPTION => "RSA".into(),
        (a, _) if a == oids::ED25519 => "Ed25519".into(),
        (a, Some(c)) if a == oids::EC_PUBLIC_KEY && c == oids::SECP384R1 => "ECDSA P-384".into(),
        (a, Some(c)) if a == oids::EC_PUBLIC_KEY && c == oids::SECP521R1 => "ECDSA P-521".into(),
        (a, _) if a == oids::EC_PUBLIC_KEY => "ECDSA on an unsupported curve".into(),
        _ => "with an unknown algorithm".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkcs8_pem_round_trip() {
        let k = KeyPair::generate().unwrap();
        let again = KeyPair::from_pkcs8_pem(&k.to_pkcs8_pem()).unwrap();
        assert_eq!(k.public_key(), again.public_key());
        assert!(!format!("{k:?}").contains(&hex::encode(k.pkcs8_der())));
    }

    #[test]
    fn spki_round_trip_is_canonical() {
        let k = KeyPair::generate().unwrap().public_key();
        let parsed = PublicKey::from_spki_pem(&k.to_spki_pem()).unwrap();
        assert_eq!(parsed, k);
        assert_eq!(k.spki_der().len(), 91);
    }

    #[test]
    fn off_curve_point_is_refused() {
        let mut point = *KeyPair::generate().unwrap().public_key().point();
        point[64] ^= 1;
        let bogus = PublicKey::from_point(&point).unwrap();
        let err = PublicKey::from_spki_der(bogus.spki_der()).unwrap_err();
        assert!(err.to_string().contains("not on the P-256 curve"), "{err}");
    }

    #[test]
    fn compressed_point_is_refused() {
        let err = PublicKey::from_point(&[0x02; 33]).unwrap_err();
        assert!(err.to_string().contains("uncompressed"), "{err}");
    }

    #[test]
    fn garbage_private_key_says_what_to_do() {
        let err = KeyPair::from_pkcs8_der(b"nope").unwrap_err();
        assert!(err.to_string().contains("openssl pkcs8 -topk8"), "{err}");
    }
}
