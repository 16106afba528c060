//! DER content octets of the object identifiers this crate writes or checks.
//! Kept as bytes so writing and comparing them costs nothing; a test checks
//! each against its dotted form.

/// id-ecPublicKey, 1.2.840.10045.2.1
pub(crate) const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// prime256v1 (P-256), 1.2.840.10045.3.1.7
pub(crate) const PRIME256V1: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// secp384r1 (P-384), 1.3.132.0.34
pub(crate) const SECP384R1: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
/// secp521r1 (P-521), 1.3.132.0.35
pub(crate) const SECP521R1: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];
/// rsaEncryption, 1.2.840.113549.1.1.1
pub(crate) const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// id-Ed25519, 1.3.101.112
pub(crate) const ED25519: &[u8] = &[0x2b, 0x65, 0x70];
/// ecdsa-with-SHA256, 1.2.840.10045.4.3.2
pub(crate) const ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
/// ecdsa-with-SHA384, 1.2.840.10045.4.3.3
pub(crate) const ECDSA_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
/// id-at-commonName, 2.5.4.3
pub(crate) const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
/// id-at-organizationName, 2.5.4.10
pub(crate) const ORGANIZATION: &[u8] = &[0x55, 0x04, 0x0a];
/// id-ce-subjectKeyIdentifier, 2.5.29.14
pub(crate) const SUBJECT_KEY_ID: &[u8] = &[0x55, 0x1d, 0x0e];
/// id-ce-keyUsage, 2.5.29.15
pub(crate) const KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x0f];
/// id-ce-subjectAltName, 2.5.29.17
pub(crate) const SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];
/// id-ce-basicConstraints, 2.5.29.19
pub(crate) const BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13];
/// id-ce-authorityKeyIdentifier, 2.5.29.35
pub(crate) const AUTHORITY_KEY_ID: &[u8] = &[0x55, 0x1d, 0x23];
/// id-ce-extKeyUsage, 2.5.29.37
pub(crate) const EXT_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x25];
/// id-kp-serverAuth, 1.3.6.1.5.5.7.3.1
pub(crate) const SERVER_AUTH: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01];
/// id-kp-clientAuth, 1.3.6.1.5.5.7.3.2
pub(crate) const CLIENT_AUTH: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02];
/// Airlock identity claims, 1.2.840.113556.1.8000.2554.45884.36531.44966.19488.46837.1266387.4194994.1
pub(crate) const IDENTITY_CLAIMS: &[u8] = airlock_core::oid::IDENTITY_EXT_OID_DER;

#[cfg(test)]
mod tests {
    use super::*;
    use airlock_core::oid::encode_oid;

    #[test]
    fn constants_match_dotted_forms() {
        let table: &[(&[u8], &str)] = &[
            (EC_PUBLIC_KEY, "1.2.840.10045.2.1"),
            (PRIME256V1, "1.2.840.10045.3.1.7"),
            (SECP384R1, "1.3.132.0.34"),
            (SECP521R1, "1.3.132.0.35"),
            (RSA_ENCRYPTION, "1.2.840.113549.1.1.1"),
            (ED25519, "1.3.101.112"),
            (ECDSA_SHA256, "1.2.840.10045.4.3.2"),
            (ECDSA_SHA384, "1.2.840.10045.4.3.3"),
            (COMMON_NAME, "2.5.4.3"),
            (ORGANIZATION, "2.5.4.10"),
            (SUBJECT_KEY_ID, "2.5.29.14"),
            (KEY_USAGE, "2.5.29.15"),
            (SUBJECT_ALT_NAME, "2.5.29.17"),
            (BASIC_CONSTRAINTS, "2.5.29.19"),
            (AUTHORITY_KEY_ID, "2.5.29.35"),
            (EXT_KEY_USAGE, "2.5.29.37"),
            (SERVER_AUTH, "1.3.6.1.5.5.7.3.1"),
            (CLIENT_AUTH, "1.3.6.1.5.5.7.3.2"),
            (IDENTITY_CLAIMS, airlock_core::oid::IDENTITY_EXT_OID),
        ];
        for (bytes, dotted) in table {
            assert_eq!(encode_oid(dotted).unwrap(), *bytes, "{dotted}");
        }
    }
}
