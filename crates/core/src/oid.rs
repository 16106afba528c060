//! Object identifiers of Airlock's private certificate extension.
//!
//! The arc is a UUID-derived OID under `2.25` (ITU-T X.667), which needs no
//! registration and cannot collide with anyone else's:
//!
//! ```text
//! 2.25.238246243395377757406133311976213840562        Airlock
//! 2.25.238246243395377757406133311976213840562.1      identity claims (v1, JSON)
//! ```
//!
//! The last component is larger than 64 bits, so it is kept here as its DER
//! content octets (base-128, high bit = "more"), computed once and checked by
//! a test against the decimal form.

/// The dotted decimal form of the identity-claims extension OID.
pub const IDENTITY_EXT_OID: &str = "2.25.238246243395377757406133311976213840562.1";

/// DER content octets (without tag and length) of [`IDENTITY_EXT_OID`].
pub const IDENTITY_EXT_OID_DER: &[u8] = &[
    0x69, 0x82, 0xe6, 0xbc, 0xc7, 0xac, 0xf5, 0xfa, 0xb2, 0xb0, 0xc1, 0xb6, 0xfa, 0xc4, 0xea, 0xad,
    0x9a, 0x80, 0x85, 0x32, 0x01,
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
