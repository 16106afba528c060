//! Byte sizes as the CLI writes them: `512M`, `2G`, `1GiB`, `4096`.

/// A size string that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid size {0:?}: write a whole number with an optional unit K, M, G or T (powers of 1024), e.g. 512M or 2G"
)]
pub struct SizeError(pub String);

/// Parses a byte size. Units are binary (`K` = 1024); `KiB`/`KB`-style
/// suffixes are accepted as the same unit. Zero is refused.
pub fn parse_size(s: &str) -> Result<u64, SizeError> {
    let bad = || SizeError(s.chars().take(40).collect());
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let shift = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        _ => return Err(bad()),
    };
    let bytes = n.checked_mul(1u64 << shift).ok_or_else(bad)?;
    if bytes == 0 {
        return Err(bad());
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("512M").unwrap(), 512 << 20);
        assert_eq!(parse_size("2G").unwrap(), 2 << 30);
        assert_eq!(parse_size("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_size("64k").unwrap(), 64 << 10);
    }

    #[test]
    fn refuses() {
        for bad in ["", "0", "M", "1.5G", "12Q", "-1G", "99999999999T"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
    }
}
