//! PEM (RFC 7468) text armour around DER. Only the armour is handled here;
//! the DER inside is parsed by `x509-parser` or `ring`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::error::CaError;

/// `CERTIFICATE`
pub const CERTIFICATE: &str = "CERTIFICATE";
/// `PRIVATE KEY` (PKCS#8)
pub const PRIVATE_KEY: &str = "PRIVATE KEY";
/// `PUBLIC KEY` (SubjectPublicKeyInfo)
pub const PUBLIC_KEY: &str = "PUBLIC KEY";
/// `CERTIFICATE REQUEST` (PKCS#10)
pub const CERTIFICATE_REQUEST: &str = "CERTIFICATE REQUEST";

/// Wraps DER in PEM armour with 64-character lines.
pub fn encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 2 * label.len() + 40);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        // Base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

/// The DER of the first block labelled `label`; text around blocks is ignored.
pub fn decode(label: &'static str, text: &str) -> Result<Vec<u8>, CaError> {
    decode_all(label, text)?
        .into_iter()
        .next()
        .ok_or_else(|| missing(label, text))
}

/// The DER of every block labelled `label`, in order (e.g. a CA bundle).
pub fn decode_all(label: &'static str, text: &str) -> Result<Vec<Vec<u8>>, CaError> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(&begin) {
        let body_start = start + begin.len();
        let len = rest[body_start..]
            .find(&end)
            .ok_or_else(|| bad(label, format!("no `{end}` line")))?;
        let body: String = rest[body_start..body_start + len]
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        let der = STANDARD
            .decode(body)
            .map_err(|e| bad(label, format!("base64: {e}")))?;
        out.push(der);
        rest = &rest[body_start + len + end.len()..];
    }
    if out.is_empty() {
        return Err(missing(label, text));
    }
    Ok(out)
}

fn bad(what: &'static str, reason: String) -> CaError {
    CaError::Pem { what, reason }
}

fn missing(label: &'static str, text: &str) -> CaError {
    let found = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("-----BEGIN "))
        .map(|l| l.trim_end_matches('-'));
    let reason = match found {
        Some(other) => format!("found a `{other}` block instead"),
        None => "no `-----BEGIN` line found".to_owned(),
    };
    bad(label, reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_line_length() {
        let der: Vec<u8> = (0..=255).collect();
        let pem = encode(CERTIFICATE, &der);
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert!(pem.lines().all(|l| l.len() <= 64));
        assert_eq!(decode(CERTIFICATE, &pem).unwrap(), der);
    }

    #[test]
    fn several_blocks_and_surrounding_text() {
        let text = format!(
            "comment\n{}between\n{}",
            encode(CERTIFICATE, b"one"),
            encode(CERTIFICATE, b"two")
        );
        let all = decode_all(CERTIFICATE, &text).unwrap();
        assert_eq!(all, vec![b"one".to_vec(), b"two".to_vec()]);
    }

    #[test]
    fn wrong_label_is_named() {
        let err = decode(CERTIFICATE, &encode(PRIVATE_KEY, b"k")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "CERTIFICATE is not valid PEM: found a `PRIVATE KEY` block instead"
        );
        assert!(decode(PRIVATE_KEY, "garbage").is_err());
        assert!(decode(PRIVATE_KEY, "-----BEGIN PRIVATE KEY-----\n!!\n").is_err());
    }
}
