//! SPIFFE IDs as the SPIFFE ID specification defines them:
//! `spiffe://<trust-domain>/<path>`, trust domain of lowercase letters, digits,
//! `.`, `-`, `_`; path segments of letters, digits, `.`, `-`, `_`, never empty,
//! never `.` or `..`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::names::{NameError, SandboxId};

const SCHEME: &str = "spiffe://";

fn err(kind: &'static str, value: &str, rule: &'static str) -> NameError {
    NameError {
        kind,
        value: value.chars().take(120).collect(),
        rule,
    }
}

/// A SPIFFE trust domain, e.g. `airlock.local`.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TrustDomain(String);

impl TrustDomain {
    /// Parses a trust domain name.
    pub fn new(s: impl Into<String>) -> Result<Self, NameError> {
        let s = s.into();
        let valid_char =
            |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_');
        if s.is_empty() || s.len() > 255 || !s.chars().all(valid_char) {
            return Err(err(
                "trust domain",
                &s,
                "use lowercase letters, digits, '.', '-', '_' (at most 255)",
            ));
        }
        Ok(Self(s))
    }

    /// The trust domain as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TrustDomain {
    type Error = NameError;
    fn try_from(s: String) -> Result<Self, NameError> {
        Self::new(s)
    }
}

impl From<TrustDomain> for String {
    fn from(t: TrustDomain) -> String {
        t.0
    }
}

impl fmt::Display for TrustDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TrustDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// A SPIFFE ID: the identity a sandbox or workload proves with its SVID.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SpiffeId {
    uri: String,
    path_start: usize,
}

impl SpiffeId {
    /// Parses `spiffe://<trust-domain>/<path>`.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let rest = s
            .strip_prefix(SCHEME)
            .ok_or_else(|| err("SPIFFE ID", s, "must start with spiffe://"))?;
        let (td, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        TrustDomain::new(td)?;
        validate_path(s, path)?;
        Ok(Self {
            uri: s.to_owned(),
            path_start: SCHEME.len() + td.len(),
        })
    }

    /// Builds a SPIFFE ID from a trust domain and path segments.
    pub fn from_segments(td: &TrustDomain, segments: &[&str]) -> Result<Self, NameError> {
        let mut uri = format!("{SCHEME}{td}");
        for seg in segments {
            uri.push('/');
            uri.push_str(seg);
        }
        Self::parse(&uri)
    }

    /// `spiffe://<td>/sandbox/<id>`: the execution environment itself.
    pub fn sandbox(td: &TrustDomain, id: &SandboxId) -> Self {
        Self::from_segments(td, &["sandbox", id.as_str()])
            .expect("sandbox ids are valid path segments")
    }

    /// `spiffe://<td>/sandbox/<id>/workload`: the agent acting inside a sandbox.
    pub fn workload(td: &TrustDomain, id: &SandboxId) -> Self {
        Self::from_segments(td, &["sandbox", id.as_str(), "workload"])
            .expect("sandbox ids are valid path segments")
    }

    /// The trust domain part.
    pub fn trust_domain(&self) -> &str {
        &self.uri[SCHEME.len()..self.path_start]
    }

    /// The path part, starting with `/` (empty for the trust domain's own ID).
    pub fn path(&self) -> &str {
        &self.uri[self.path_start..]
    }

    /// The whole URI.
    pub fn as_str(&self) -> &str {
        &self.uri
    }
}

fn validate_path(whole: &str, path: &str) -> Result<(), NameError> {
    if path.is_empty() {
        return Ok(());
    }
    let seg_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
    for seg in path[1..].split('/') {
        if seg.is_empty() || seg == "." || seg == ".." || !seg.chars().all(seg_char) {
            return Err(err(
                "SPIFFE ID",
                whole,
                "path segments must be non-empty letters, digits, '.', '-', '_' and not '.' or '..'",
            ));
        }
    }
    Ok(())
}

impl TryFrom<String> for SpiffeId {
    type Error = NameError;
    fn try_from(s: String) -> Result<Self, NameError> {
        Self::parse(&s)
    }
}

impl From<SpiffeId> for String {
    fn from(id: SpiffeId) -> String {
        id.uri
    }
}

impl fmt::Display for SpiffeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.uri)
    }
}

impl fmt::Debug for SpiffeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.uri, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valid_ids() {
        let id = SpiffeId::parse("spiffe://airlock.local/sandbox/sb-1/workload").unwrap();
        assert_eq!(id.trust_domain(), "airlock.local");
        assert_eq!(id.path(), "/sandbox/sb-1/workload");
        let td_only = SpiffeId::parse("spiffe://example.org").unwrap();
        assert_eq!(td_only.path(), "");
    }

    #[test]
    fn rejects_invalid_ids() {
        for bad in [
            "http://x/y",
            "spiffe://",
            "spiffe://UPPER/x",
            "spiffe://td/",
            "spiffe://td//x",
            "spiffe://td/a/../b",
            "spiffe://td/a/./b",
            "spiffe://td/a b",
            "spiffe://td/a?q",
        ] {
            assert!(SpiffeId::parse(bad).is_err(), "{bad} should be invalid");
        }
    }

    #[test]
    fn sandbox_and_workload_ids() {
        let td = TrustDomain::new("airlock.local").unwrap();
        let sb = SandboxId::new("sb-42").unwrap();
        assert_eq!(
            SpiffeId::sandbox(&td, &sb).as_str(),
            "spiffe://airlock.local/sandbox/sb-42"
        );
        assert_eq!(
            SpiffeId::workload(&td, &sb).as_str(),
            "spiffe://airlock.local/sandbox/sb-42/workload"
        );
    }
}
