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
pub fn format(t: &OffsetDateTime) -> String {
    t.to_offset(UtcOffset::UTC)
        .format(FORMAT)
        .expect("years 0-9999 always format")
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
