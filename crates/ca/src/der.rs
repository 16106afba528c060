//! A small DER *writer* for the structures this crate issues.
//!
//! Why not a library: what we emit is a handful of fixed shapes, issued on
//! every login and sandbox start; writing them from precomputed CA parts is
//! fast (one signature per certificate) and a writer of ~200 lines, pinned by
//! known-answer tests and checked by openssl and x509-parser, is easier to
//! audit than a general builder.
//!
//! Architecture invariant: this module only *writes*. Every untrusted byte
//! (CSRs, presented certificates) is parsed by `x509-parser`, never here.

use std::time::{SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;

/// Universal tags used below.
pub(crate) mod tag {
    pub const BOOLEAN: u8 = 0x01;
    pub const INTEGER: u8 = 0x02;
    pub const BIT_STRING: u8 = 0x03;
    pub const OCTET_STRING: u8 = 0x04;
    pub const OID: u8 = 0x06;
    pub const UTF8_STRING: u8 = 0x0c;
    pub const PRINTABLE_STRING: u8 = 0x13;
    pub const UTC_TIME: u8 = 0x17;
    pub const GENERALIZED_TIME: u8 = 0x18;
    pub const SEQUENCE: u8 = 0x30;
    pub const SET: u8 = 0x31;
}

/// A time that DER (RFC 5280 profile) cannot express: before 1950 or after 9999.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("time is outside the range an X.509 certificate can express (1950-9999)")]
pub struct TimeRangeError;

/// Appends DER encodings to a growing buffer.
///
/// Constructed values are written in place: the tag, a one-byte length
/// placeholder, the content, then the length is patched (and widened if
/// the content reached 128 bytes). This avoids one allocation per level.
#[derive(Debug, Default)]
pub(crate) struct Der {
    buf: Vec<u8>,
}

impl Der {
    /// An empty writer with room for a typical certificate.
    pub fn new() -> Self {
        Self {
            buf: Vec::with_capacity(1024),
        }
    }

    /// The bytes written so far.
    pub fn into_vec(self) -> Vec<u8> {
        self.buf
    }

    /// Writes a constructed value whose content `f` writes.
    pub fn constructed(&mut self, tag: u8, f: impl FnOnce(&mut Self)) {
        self.buf.push(tag);
        let len_at = self.buf.len();
        self.buf.push(0);
        f(self);
        let len = self.buf.len() - len_at - 1;
        let encoded = encode_len(len);
        self.buf
            .splice(len_at..=len_at, encoded.as_slice().iter().copied());
    }

    /// `SEQUENCE { f }`.
    pub fn sequence(&mut self, f: impl FnOnce(&mut Self)) {
        self.constructed(tag::SEQUENCE, f);
    }

    /// `SET { f }`. Callers write a single element, so no DER sorting is needed.
    pub fn set(&mut self, f: impl FnOnce(&mut Self)) {
        self.constructed(tag::SET, f);
    }

    /// `[n] EXPLICIT`: a context-specific constructed wrapper (e.g. version [0], extensions [3]).
    pub fn explicit(&mut self, n: u8, f: impl FnOnce(&mut Self)) {
        debug_assert!(n < 31);
        self.constructed(0xa0 | n, f);
    }

    /// `[n] IMPLICIT` over a primitive value (GeneralName choices, keyIdentifier).
    pub fn implicit(&mut self, n: u8, content: &[u8]) {
        debug_assert!(n < 31);
        self.primitive(0x80 | n, content);
    }

    /// A primitive value with the given tag and content octets.
    pub fn primitive(&mut self, tag: u8, content: &[u8]) {
        self.buf.push(tag);
        self.buf
            .extend_from_slice(encode_len(content.len()).as_slice());
        self.buf.extend_from_slice(content);
    }

    /// Already-encoded DER (a precomputed Name, SPKI, ...), copied verbatim.
    pub fn raw(&mut self, der: &[u8]) {
        self.buf.extend_from_slice(der);
    }

    /// A non-negative INTEGER from big-endian magnitude bytes, minimally encoded.
    pub fn unsigned_integer(&mut self, be: &[u8]) {
        let first_nonzero = be.iter().position(|&b| b != 0);
        let magnitude = first_nonzero.map_or(&[0u8][..], |i| &be[i..]);
        self.buf.push(tag::INTEGER);
        let pad = magnitude[0] & 0x80 != 0;
        self.buf
            .extend_from_slice(encode_len(magnitude.len() + usize::from(pad)).as_slice());
        if pad {
            self.buf.push(0);
        }
        self.buf.extend_from_slice(magnitude);
    }

    /// A small non-negative INTEGER (versions, pathLenConstraint).
    pub fn small_integer(&mut self, v: u64) {
        self.unsigned_integer(&v.to_be_bytes());
    }

    /// BOOLEAN (DER: TRUE is 0xff).
    pub fn boolean(&mut self, v: bool) {
        self.primitive(tag::BOOLEAN, &[if v { 0xff } else { 0x00 }]);
    }

    /// OBJECT IDENTIFIER from its content octets (see `oids`).
    pub fn oid(&mut self, content: &[u8]) {
        self.primitive(tag::OID, content);
    }

    /// UTF8String.
    pub fn utf8_string(&mut self, s: &str) {
        self.primitive(tag::UTF8_STRING, s.as_bytes());
    }

    /// PrintableString; `None` if `s` has a character the type does not allow.
    pub fn printable_string(&mut self, s: &str) -> Option<()> {
        s.bytes().all(is_printable).then(|| {
            self.primitive(tag::PRINTABLE_STRING, s.as_bytes());
        })
    }

    /// OCTET STRING with the given content.
    pub fn octet_string(&mut self, content: &[u8]) {
        self.primitive(tag::OCTET_STRING, content);
    }

    /// OCTET STRING wrapping DER that `f` writes (extension values).
    pub fn octet_string_with(&mut self, f: impl FnOnce(&mut Self)) {
        self.constructed(tag::OCTET_STRING, f);
    }

    /// BIT STRING of whole bytes (keys, signatures): zero unused bits.
    pub fn bit_string(&mut self, bytes: &[u8]) {
        self.bit_string_unused(0, bytes);
    }

    /// BIT STRING with `unused` trailing bits in the last byte.
    pub fn bit_string_unused(&mut self, unused: u8, bytes: &[u8]) {
        debug_assert!(unused < 8 && (unused == 0 || !bytes.is_empty()));
        self.buf.push(tag::BIT_STRING);
        self.buf
            .extend_from_slice(encode_len(bytes.len() + 1).as_slice());
        self.buf.push(unused);
        self.buf.extend_from_slice(bytes);
    }

    /// A named-bit BIT STRING (KeyUsage): bit 0 is the most significant bit of
    /// the first byte, trailing zero bits are dropped as DER requires.
    pub fn named_bits(&mut self, bits: &[u8]) {
        let mut bytes = [0u8; 2];
        for &bit in bits {
            debug_assert!(bit < 16, "KeyUsage has 9 named bits");
            bytes[usize::from(bit / 8)] |= 0x80 >> (bit % 8);
        }
        let len = if bytes[1] != 0 { 2 } else { 1 };
        let last = bytes[len - 1];
        let unused = if last == 0 {
            0
        } else {
            last.trailing_zeros() as u8
        };
        let content = if last == 0 {
            &bytes[..0]
        } else {
            &bytes[..len]
        };
        self.bit_string_unused(unused, content);
    }

    /// A `Time` (RFC 5280 4.1.2.5): UTCTime through 2049, GeneralizedTime from
    /// 2050, whole seconds, always `Z`.
    pub fn time(&mut self, t: SystemTime) -> Result<(), TimeRangeError> {
        let dt = to_datetime(t)?;
        let (y, mo, d) = (dt.year(), u8::from(dt.month()), dt.day());
        let (h, mi, s) = (dt.hour(), dt.minute(), dt.second());
        if (1950..2050).contains(&y) {
            let text = format!("{:02}{mo:02}{d:02}{h:02}{mi:02}{s:02}Z", y % 100);
            self.primitive(tag::UTC_TIME, text.as_bytes());
        } else {
            let text = format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}Z");
            self.primitive(tag::GENERALIZED_TIME, text.as_bytes());
        }
        Ok(())
    }
}

/// An encoded length: at most 9 bytes, so it lives on the stack.
struct Len {
    bytes: [u8; 9],
    n: usize,
}

impl Len {
    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.n]
    }
}

/// Definite-length encoding: short form below 128, long form above.
fn encode_len(len: usize) -> Len {
    let mut bytes = [0u8; 9];
    if len < 0x80 {
        bytes[0] = len as u8;
        return Len { bytes, n: 1 };
    }
    let be = (len as u64).to_be_bytes();
    let skip = be.iter().take_while(|&&b| b == 0).count();
    let n = be.len() - skip;
    bytes[0] = 0x80 | n as u8;
    bytes[1..=n].copy_from_slice(&be[skip..]);
    Len { bytes, n: n + 1 }
}

fn is_printable(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&b)
}

/// Whole seconds since the epoch, refusing times before 1970.
pub(crate) fn unix_secs(t: SystemTime) -> Result<u64, TimeRangeError> {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .map_err(|_| TimeRangeError)
}

/// `t` truncated to whole seconds: what a certificate actually records.
pub(crate) fn truncate_secs(t: SystemTime) -> Result<SystemTime, TimeRangeError> {
    Ok(UNIX_EPOCH + std::time::Duration::from_secs(unix_secs(t)?))
}

fn to_datetime(t: SystemTime) -> Result<OffsetDateTime, TimeRangeError> {
    let secs = i64::try_from(unix_secs(t)?).map_err(|_| TimeRangeError)?;
    let dt = OffsetDateTime::from_unix_timestamp(secs).map_err(|_| TimeRangeError)?;
    if dt.year() > 9999 {
        return Err(TimeRangeError);
    }
    Ok(dt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn enc(f: impl FnOnce(&mut Der)) -> String {
        let mut d = Der::new();
        f(&mut d);
        hex::encode(d.into_vec())
    }

    fn at(unix: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(unix)
    }

    #[test]
    fn integers_are_minimal_and_positive() {
        assert_eq!(enc(|d| d.small_integer(0)), "020100");
        assert_eq!(enc(|d| d.small_integer(2)), "020102");
        assert_eq!(enc(|d| d.small_integer(127)), "02017f");
        assert_eq!(enc(|d| d.small_integer(128)), "02020080");
        assert_eq!(enc(|d| d.small_integer(256)), "02020100");
        assert_eq!(enc(|d| d.unsigned_integer(&[0, 0, 0x80])), "02020080");
        assert_eq!(enc(|d| d.unsigned_integer(&[])), "020100");
    }

    #[test]
    fn lengths_short_and_long_form() {
        let hdr = |n: usize| enc(|d| d.octet_string(&vec![0; n]))[..8].to_owned();
        assert!(hdr(127).starts_with("047f"));
        assert_eq!(hdr(128), "04818000");
        assert_eq!(hdr(255), "0481ff00");
        assert_eq!(hdr(256), "04820100");
        assert!(hdr(70_000).starts_with("0483"));
    }

    #[test]
    fn constructed_lengths_are_patched() {
        assert_eq!(enc(|d| d.sequence(|_| {})), "3000");
        assert_eq!(enc(|d| d.set(|d| d.utf8_string("x"))), "31030c0178");
        // 200-byte content: both levels need the long form, the outer one
        // shifts bytes already written.
        let out = enc(|d| d.sequence(|d| d.octet_string(&[0xaa; 200])));
        assert!(out.starts_with("3081cb0481c8aaaa"), "{}", &out[..16]);
        assert_eq!(out.len(), (3 + 3 + 200) * 2);
        let long = enc(|d| d.sequence(|d| d.octet_string(&[1; 300])));
        assert!(long.starts_with("308201300482012c"), "{}", &long[..16]);
    }

    #[test]
    fn tagged_values() {
        assert_eq!(enc(|d| d.explicit(0, |d| d.small_integer(2))), "a003020102");
        assert_eq!(enc(|d| d.explicit(3, |d| d.sequence(|_| {}))), "a3023000");
        assert_eq!(enc(|d| d.implicit(2, b"a.b")), "8203612e62");
        assert_eq!(enc(|d| d.implicit(7, &[127, 0, 0, 1])), "87047f000001");
    }

    #[test]
    fn primitives() {
        assert_eq!(enc(|d| d.boolean(true)), "0101ff");
        assert_eq!(enc(|d| d.boolean(false)), "010100");
        assert_eq!(
            enc(|d| d.oid(&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02])),
            "06082a8648ce3d040302"
        );
        assert_eq!(enc(|d| d.utf8_string("hé")), "0c0368c3a9");
        assert_eq!(enc(|d| d.octet_string(&[1, 2])), "04020102");
        assert_eq!(
            enc(|d| d.octet_string_with(|d| d.boolean(true))),
            "04030101ff"
        );
        assert_eq!(enc(|d| d.bit_string(&[0x04, 0x01])), "0303000401");
        assert_eq!(
            enc(|d| d.raw(&[0x05, 0x00])),
            "0500",
            "raw is copied verbatim"
        );
    }

    #[test]
    fn printable_string_refuses_outside_its_alphabet() {
        assert_eq!(
            enc(|d| d.printable_string("Air lock").unwrap()),
            "1308416972206c6f636b"
        );
        let mut d = Der::new();
        assert!(d.printable_string("a@b").is_none());
        assert!(d.printable_string("a_b").is_none());
        assert!(d.into_vec().is_empty(), "nothing written on refusal");
    }

    #[test]
    fn key_usage_named_bits() {
        // digitalSignature
        assert_eq!(enc(|d| d.named_bits(&[0])), "03020780");
        // keyCertSign + cRLSign
        assert_eq!(enc(|d| d.named_bits(&[5, 6])), "03020106");
        // digitalSignature + keyEncipherment
        assert_eq!(enc(|d| d.named_bits(&[0, 2])), "030205a0");
        // decipherOnly (bit 8) spills into a second byte
        assert_eq!(enc(|d| d.named_bits(&[0, 8])), "0303078080");
        assert_eq!(enc(|d| d.named_bits(&[])), "030100");
    }

    #[test]
    fn times_follow_rfc5280() {
        // 2026-11-25T18:00:00Z
        assert_eq!(
            enc(|d| d.time(at(1_795_629_600)).unwrap()),
            format!("170d{}", hex::encode("261125180000Z"))
        );
        // 2049-12-31T23:59:59Z: last second of UTCTime
        assert_eq!(
            enc(|d| d.time(at(2_524_607_999)).unwrap()),
            format!("170d{}", hex::encode("491231235959Z"))
        );
        // 2050-01-01T00:00:00Z: GeneralizedTime from here on
        assert_eq!(
            enc(|d| d.time(at(2_524_608_000)).unwrap()),
            format!("180f{}", hex::encode("20500101000000Z"))
        );
        assert_eq!(
            enc(|d| d.time(at(0)).unwrap()),
            format!("170d{}", hex::encode("700101000000Z"))
        );
    }

    #[test]
    fn times_out_of_range_are_refused() {
        let mut d = Der::new();
        let before_epoch = UNIX_EPOCH - Duration::from_secs(1);
        assert_eq!(d.time(before_epoch), Err(TimeRangeError));
        assert_eq!(d.time(at(253_402_300_800)), Err(TimeRangeError)); // year 10000
    }

    #[test]
    fn truncation_drops_subseconds() {
        let t = at(10) + Duration::from_millis(999);
        assert_eq!(truncate_secs(t).unwrap(), at(10));
    }
}
