//! PKCS#10 certificate requests: the client side (`airlock login`, the
//! in-sandbox init) makes them, the CA reads the public key out of them after
//! checking the request's self-signature (proof of possession).

use ring::signature::{ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA384_ASN1, UnparsedPublicKey};
use x509_parser::prelude::{FromDer, X509CertificationRequest};

use crate::der::Der;
use crate::error::CaError;
use crate::keys::{KeyPair, PublicKey};
use crate::{oids, pem, x509};

impl KeyPair {
    /// A PKCS#10 request for this key, subject `CN=<common_name>` (an empty
    /// name gives an empty subject). The CA ignores the requested subject and
    /// writes the authenticated identity, so this is informational.
    pub fn csr_der(&self, common_name: &str) -> Result<Vec<u8>, CaError> {
        let subject = x509::name(None, (!common_name.is_empty()).then_some(common_name));
        let mut d = Der::new();
        d.sequence(|d| {
            d.small_integer(0); // version v1
            d.raw(&subject);
            d.raw(self.public_ref().spki_der());
            d.explicit(0, |_| {}); // attributes: an empty SET, [0] IMPLICIT
        });
        x509::sign(self, &d.into_vec())
    }

    /// [`KeyPair::csr_der`] as `CERTIFICATE REQUEST` PEM.
    pub fn csr_pem(&self, common_name: &str) -> Result<String, CaError> {
        Ok(pem::encode(
            pem::CERTIFICATE_REQUEST,
            &self.csr_der(common_name)?,
        ))
    }
}

impl PublicKey {
    /// The public key of a PKCS#10 request, after verifying the request's
    /// signature with that key. Parsing goes through `x509-parser`.
    pub fn from_csr_der(der: &[u8]) -> Result<Self, CaError> {
        let (rest, req) = X509CertificationRequest::from_der(der)
            .map_err(|e| CaError::MalformedCsr(e.to_string()))?;
        if !rest.is_empty() {
            return Err(CaError::MalformedCsr(
                "trailing bytes after the request".into(),
            ));
        }
        let info = &req.certification_request_info;
        let key = Self::from_parsed_spki(&info.subject_pki)?;
        let alg = req.signature_algorithm.algorithm.as_bytes();
        let verifier = if alg == oids::ECDSA_SHA256 {
            &ECDSA_P256_SHA256_ASN1
        } else if alg == oids::ECDSA_SHA384 {
            &ECDSA_P256_SHA384_ASN1
        } else {
            return Err(CaError::MalformedCsr(format!(
                "signature algorithm {} is not ECDSA with SHA-256 or SHA-384",
                req.signature_algorithm.algorithm
            )));
        };
        UnparsedPublicKey::new(verifier, key.point())
            .verify(info.raw, &req.signature_value.data)
            .map_err(|_| CaError::CsrSignature)?;
        Ok(key)
    }

    /// [`PublicKey::from_csr_der`] from `CERTIFICATE REQUEST` PEM.
    pub fn from_csr_pem(text: &str) -> Result<Self, CaError> {
        Self::from_csr_der(&pem::decode(pem::CERTIFICATE_REQUEST, text)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_csr_round_trips() {
        let k = KeyPair::generate().unwrap();
        let csr = k.csr_pem("alice@example.com").unwrap();
        assert_eq!(PublicKey::from_csr_pem(&csr).unwrap(), k.public_key());
        let anonymous = k.csr_der("").unwrap();
        assert_eq!(PublicKey::from_csr_der(&anonymous).unwrap(), k.public_key());
    }

    #[test]
    fn altered_csr_is_refused() {
        let k = KeyPair::generate().unwrap();
        let mut der = k.csr_der("alice").unwrap();
        // The CN's last byte sits inside the signed info; flipping it keeps
        // the structure valid but breaks the signature.
        let at = der.windows(5).position(|w| w == b"alice").unwrap() + 4;
        der[at] = b'x';
        assert!(matches!(
            PublicKey::from_csr_der(&der),
            Err(CaError::CsrSignature)
        ));
    }

    #[test]
    fn garbage_is_malformed() {
        assert!(matches!(
            PublicKey::from_csr_der(b"\x30\x03\x02\x01"),
            Err(CaError::MalformedCsr(_))
        ));
    }
}
