//! Human durations as the CLI and config files write them: `90s`, `15m`,
//! `2h`, `1h30m`, `7d`.

use std::time::Duration;

/// A duration string that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {0:?}: write a number and a unit, e.g. 90s, 15m, 2h, 1h30m or 7d")]
pub struct DurationError(pub String);

/// Parses a duration made of `<number><unit>` groups, units `s`, `m`, `h`, `d`.
/// Zero and overflowing durations are refused: a zero TTL is never what was meant.
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    let bad = || DurationError(s.chars().take(40).collect());
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in s.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit: u64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            _ => return Err(bad()),
        };
        let n: u64 = digits.parse().map_err(|_| bad())?;
        digits.clear();
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
    }
    if !digits.is_empty() || total == 0 {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

/// Formats a duration the way [`parse_duration`] reads it, largest units first
/// (`1h30m`, `45s`, `2d`). Sub-second parts are dropped.
pub fn format_duration(d: Duration) -> String {
    let mut secs = d.as_secs();
    if secs == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, name) in [(86400, 'd'), (3600, 'h'), (60, 'm'), (1, 's')] {
        if secs >= unit {
            out.push_str(&(secs / unit).to_string());
            out.push(name);
            secs %= unit;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, secs: u64) {
        assert_eq!(parse_duration(input).unwrap().as_secs(), secs, "{input}");
    }

    #[test]
    fn parses() {
        check("90s", 90);
        check("15m", 900);
        check("2h", 7200);
        check("1h30m", 5400);
        check("7d", 604_800);
        check(" 8h ", 28_800);
    }

    #[test]
    fn refuses() {
        for bad in [
            "",
            "0s",
            "10",
            "h",
            "1x",
            "-1h",
            "1.5h",
            "99999999999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn formats_round_trip() {
        for s in ["1h30m", "45s", "2d", "8h", "1d1h1m1s"] {
            assert_eq!(format_duration(parse_duration(s).unwrap()), s);
        }
    }
}
