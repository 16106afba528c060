//! Event time as RFC 3339 in UTC with exactly nine fractional digits.
//!
//! A fixed width makes the strings sort in time order, which the search
//! index relies on (its spans and `since`/`until` compare strings).

use std::borrow::Borrow;

use serde::{Deserialize, Deserializer, Serializer};
use time::format_description::BorrowedFormatItem;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

const FORMAT: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:9]Z");

/// Formats `t` as `2025-01-02T03:04:05.123456789Z`.
///
/// Every audit event's time goes through here twice (its body and its index
/// row), so the digits are written directly; `time`'s formatter, which
/// interprets the description each call, is kept for years outside 0-9999
/// and as the reference the tests compare against.
pub fn format(t: &OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    let Ok(year) = u32::try_from(t.year()) else {
        return format_slow(&t);
    };
    if year > 9999 {
        return format_slow(&t);
    }
    let mut out = [0u8; 30];
    let fields: [(u32, usize, usize); 7] = [
        (year, 0, 4),
        (u32::from(u8::from(t.month())), 5, 2),
        (u32::from(t.day()), 8, 2),
        (u32::from(t.hour()), 11, 2),
        (u32::from(t.minute()), 14, 2),
        (u32::from(t.second()), 17, 2),
        (t.nanosecond(), 20, 9),
    ];
    for (value, at, width) in fields {
        digits(&mut out[at..at + width], value);
    }
    for (at, sep) in [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
        (29, b'Z'),
    ] {
        out[at] = sep;
    }
    std::str::from_utf8(&out)
        .expect("digits and separators are ASCII")
        .to_owned()
}

/// Writes `value` into `out` as zero-padded decimal, its last digits if it
/// is wider.
fn digits(out: &mut [u8], mut value: u32) {
    for slot in out.iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

fn format_slow(t: &OffsetDateTime) -> String {
    t.format(FORMAT).expect("years 0-9999 always format")
}

/// Parses any RFC 3339 timestamp.
pub fn parse(s: &str) -> Result<OffsetDateTime, time::error::Parse> {
    OffsetDateTime::parse(s, &Rfc3339)
}

/// serde `serialize_with`.
pub fn serialize<S: Serializer, T: Borrow<OffsetDateTime>>(t: &T, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(t.borrow()))
}

/// serde `deserialize_with`.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
    let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
    parse(&s).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_format_matches_the_description() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut times = vec![
            OffsetDateTime::UNIX_EPOCH,
            time::macros::datetime!(0000-01-01 00:00:00 UTC),
            time::macros::datetime!(9999-12-31 23:59:59.999_999_999 UTC),
            time::macros::datetime!(2024-02-29 12:00:00.000_000_001 +05:30),
        ];
        for _ in 0..10_000 {
            // xorshift: spread over years 0-9999 at nanosecond resolution.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let secs = (x % 315_537_897_600) as i64 - 62_167_219_200;
            let t = OffsetDateTime::from_unix_timestamp(secs).unwrap();
            times.push(t.replace_nanosecond((x % 1_000_000_000) as u32).unwrap());
        }
        for t in times {
            let slow = format_slow(&t.to_offset(UtcOffset::UTC));
            assert_eq!(format(&t), slow);
            assert_eq!(parse(&slow).unwrap(), t);
        }
    }
}
