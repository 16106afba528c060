//! Object identifiers of Airlock's private certificate extension.
//!
//! The arc is derived from a GUID (b33c8eb3-afa6-4c20-b6f5-1352d34002b2) under
//! Microsoft's documented prefix for GUID-based private OIDs,
//! `1.2.840.113556.1.8000.2554`, which needs no registration and cannot
//! collide with anyone else's. The GUID is split into seven small arcs (4, 4,
//! 4, 4, 4, 6 and 6 hex digits), so every component fits in 32 bits:
//!
//! ```text
//! 1.2.840.113556.1.8000.2554.45884.36531.44966.19488.46837.1266387.4194994     Airlock
//! 1.2.840.113556.1.8000.2554.45884.36531.44966.19488.46837.1266387.4194994.1   identity claims (v1, JSON)
//! ```
//!
//! Why not the shorter UUID form `2.25.<128-bit integer>` (ITU-T X.667)? A
//! 128-bit arc does not fit the parsers of GnuTLS (libtasn1) and others that
//! hold arcs in a machine word: they reject the whole certificate, which
//! breaks every client built on them (Debian's git, for one).
//!
//! The DER content octets (base-128, high bit = "more") are kept as a
//! constant, checked by a test against the dotted form.

/// The dotted decimal form of the identity-claims extension OID.
pub const IDENTITY_EXT_OID: &str =
    "1.2.840.113556.1.8000.2554.45884.36531.44966.19488.46837.1266387.4194994.1";

/// DER content octets (without tag and length) of [`IDENTITY_EXT_OID`].
pub const IDENTITY_EXT_OID_DER: &[u8] = &[
    0x2a, 0x86, 0x48, 0x86, 0xf7, 0x14, 0x01, 0xbe, 0x40, 0x93, 0x7a, 0x82, 0xe6, 0x3c, 0x82, 0x9d,
    0x33, 0x82, 0xdf, 0x26, 0x81, 0x98, 0x20, 0x82, 0xed, 0x75, 0xcd, 0xa5, 0x53, 0x82, 0x80, 0x85,
    0x32, 0x01,
];

/// Encodes a dotted OID (arbitrary-size arcs) into DER content octets.
/// Used by tests and tools; the hot path uses the precomputed constant.
pub fn encode_oid(dotted: &str) -> Option<Vec<u8>> {
    let arcs: Vec<u128> = dotted
        .split('.')
        .map(|a| a.parse().ok())
        .collect::<Option<_>>()?;
    if arcs.len() < 2 || arcs[0] > 2 {
        return None;
    }
    let mut out = Vec::new();
    push_base128(&mut out, arcs[0] * 40 + arcs[1]);
    for &arc in &arcs[2..] {
        push_base128(&mut out, arc);
    }
    Some(out)
}

fn push_base128(out: &mut Vec<u8>, mut v: u128) {
    let mut tmp = [0u8; 19];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            break;
        }
    }
    let last = tmp.len() - 1;
    for (j, b) in tmp.iter().enumerate().skip(i) {
        out.push(if j == last { *b } else { b | 0x80 });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_matches_dotted_form() {
        assert_eq!(encode_oid(IDENTITY_EXT_OID).unwrap(), IDENTITY_EXT_OID_DER);
    }

    #[test]
    fn small_oids() {
        // ecdsa-with-SHA256, 1.2.840.10045.4.3.2
        assert_eq!(
            encode_oid("1.2.840.10045.4.3.2").unwrap(),
            [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]
        );
    }
}
