//! A CA certificate we trust, without its key. Everything verification needs
//! from it (subject Name DER, key id, public point, trust domain) is taken
//! out once, when it is loaded, so verifying a leaf is a byte comparison and
//! one signature check.

use std::fmt;
use std::time::SystemTime;

use airlock_core::{SpiffeId, TrustDomain};
use ring::digest;
use ring::signature::{ECDSA_P256_SHA256_ASN1, UnparsedPublicKey};
use x509_parser::prelude::{FromDer, GeneralName, ParsedExtension, X509Certificate};

use crate::error::CaError;
use crate::keys::PublicKey;
use crate::verify::to_system_time;
use crate::{oids, pem};

/// A trusted CA certificate (a root of a [`crate::TrustBundle`]).
#[derive(Clone)]
pub struct TrustAnchor {
    cert_der: Vec<u8>,
    subject_der: Vec<u8>,
    key_id: Vec<u8>,
    public_key: PublicKey,
    trust_domain: TrustDomain,
    not_after: SystemTime,
    fingerprint: String,
}

impl TrustAnchor {
    /// Loads a self-signed Airlock CA certificate: cA=true, P-256 key, a
    /// valid self-signature and its trust domain as the URI SAN `spiffe://<td>`.
    pub fn from_der(der: &[u8]) -> Result<Self, CaError> {
        let bad = |why: &str| CaError::CaCert(why.to_owned());
        let (rest, cert) = X509Certificate::from_der(der)
            .map_err(|e| CaError::CaCert(format!("not an X.509 certificate: {e}")))?;
        if !rest.is_empty() {
            return Err(bad("trailing bytes after the certificate"));
        }
        if !cert.is_ca() {
            return Err(bad("basicConstraints does not say cA=true"));
        }
        let public_key = PublicKey::from_parsed_spki(cert.public_key())?;
        check_self_signed(&cert, &public_key)?;
        let trust_domain = trust_domain_of(&cert)?;
        let key_id = subject_key_id(&cert).unwrap_or_else(|| public_key.key_id().to_vec());
        Ok(Self {
            subject_der: cert.subject().as_raw().to_vec(),
            not_after: to_system_time(cert.validity().not_after.timestamp()),
            fingerprint: hex::encode(digest::digest(&digest::SHA256, der)),
            cert_der: der.to_vec(),
            key_id,
            public_key,
            trust_domain,
        })
    }

    /// Loads the first `CERTIFICATE` block of `text`.
    pub fn from_pem(text: &str) -> Result<Self, CaError> {
        Self::from_der(&pem::decode(pem::CERTIFICATE, text)?)
    }

    /// Loads every `CERTIFICATE` block of `text` (a bundle file).
    pub fn all_from_pem(text: &str) -> Result<Vec<Self>, CaError> {
        pem::decode_all(pem::CERTIFICATE, text)?
            .iter()
            .map(|der| Self::from_der(der))
            .collect()
    }

    /// The certificate, DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The certificate, PEM.
    pub fn cert_pem(&self) -> String {
        pem::encode(pem::CERTIFICATE, &self.cert_der)
    }

    /// SHA-256 of the certificate DER, lowercase hex.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The SPIFFE trust domain this CA issues for.
    pub fn trust_domain(&self) -> &TrustDomain {
        &self.trust_domain
    }

    /// The CA's public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    /// End of the CA certificate's validity.
    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }

    /// The subject Name DER: the issuer Name of everything this CA signs.
    pub(crate) fn subject_der(&self) -> &[u8] {
        &self.subject_der
    }

    /// The subjectKeyIdentifier: the AKI of everything this CA signs.
    pub(crate) fn key_id(&self) -> &[u8] {
        &self.key_id
    }
}

impl fmt::Debug for TrustAnchor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustAnchor")
            .field("trust_domain", &self.trust_domain)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

fn check_self_signed(cert: &X509Certificate<'_>, key: &PublicKey) -> Result<(), CaError> {
    if cert.issuer().as_raw() != cert.subject().as_raw()
        || cert.signature_algorithm.algorithm.as_bytes() != oids::ECDSA_SHA256
    {
        return Err(CaError::CaCert(
            "not a self-signed ECDSA-SHA256 root certificate".into(),
        ));
    }
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, key.point())
        .verify(cert.tbs_certificate.as_ref(), &cert.signature_value.data)
        .map_err(|_| CaError::CaCert("its self-signature does not verify (file corrupted?)".into()))
}

/// The trust domain from the CA's URI SAN `spiffe://<td>` (SPIFFE: a signing
/// certificate's SPIFFE ID has no path).
fn trust_domain_of(cert: &X509Certificate<'_>) -> Result<TrustDomain, CaError> {
    let san = cert
        .subject_alternative_name()
        .map_err(|e| CaError::CaCert(format!("bad subjectAltName: {e}")))?;
    let uri = san
        .into_iter()
        .flat_map(|ext| ext.value.general_names.iter())
        .find_map(|n| match n {
            GeneralName::URI(u) => Some(*u),
            _ => None,
        })
        .ok_or_else(|| CaError::CaCert("no spiffe:// trust domain in subjectAltName".into()))?;
    let id = SpiffeId::parse(uri)?;
    if !id.path().is_empty() {
        return Err(CaError::CaCert(format!(
            "its SPIFFE ID {id} has a path; a CA's must be spiffe://<trust-domain>"
        )));
    }
    Ok(TrustDomain::new(id.trust_domain())?)
}

fn subject_key_id(cert: &X509Certificate<'_>) -> Option<Vec<u8>> {
    cert.extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
            _ => None,
        })
}
