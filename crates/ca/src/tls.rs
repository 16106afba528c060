//! PEM in, rustls-pki-types out: what a TLS client or server needs to present
//! an Airlock certificate and trust the cluster's CAs.

use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::error::CaError;
use crate::keys::{KeyPair, PublicKey};
use crate::pem;

/// A certificate chain and its private key, ready for rustls.
#[derive(Debug)]
pub struct ClientKey {
    /// Leaf first.
    pub cert_chain: Vec<CertificateDer<'static>>,
    /// The leaf's private key (PKCS#8).
    pub key: PrivateKeyDer<'static>,
}

impl ClientKey {
    /// Loads `CERTIFICATE` block(s) and a `PRIVATE KEY` block, checking that
    /// the key belongs to the first (leaf) certificate, so a mismatched pair
    /// fails here with a clear message instead of as a TLS handshake error.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, CaError> {
        let cert_chain = certs_from_pem(cert_pem)?;
        let key = KeyPair::from_pkcs8_pem(key_pem)?;
        let (_, leaf) = X509Certificate::from_der(&cert_chain[0])
            .map_err(|e| CaError::CaCert(format!("leaf certificate does not parse: {e}")))?;
        let leaf_key = PublicKey::from_parsed_spki(leaf.public_key())?;
        if leaf_key != key.public_key() {
            return Err(CaError::KeyMismatch);
        }
        Ok(Self {
            cert_chain,
            key: key.private_key_der(),
        })
    }
}

/// Every `CERTIFICATE` block of `text` (a chain or a CA bundle).
pub fn certs_from_pem(text: &str) -> Result<Vec<CertificateDer<'static>>, CaError> {
    Ok(pem::decode_all(pem::CERTIFICATE, text)?
        .into_iter()
        .map(CertificateDer::from)
        .collect())
}

/// A `PRIVATE KEY` (PKCS#8) block, checked to be a P-256 key.
pub fn private_key_from_pem(text: &str) -> Result<PrivateKeyDer<'static>, CaError> {
    Ok(KeyPair::from_pkcs8_pem(text)?.private_key_der())
}
