//! Validated names. A name that exists as one of these types has been checked,
//! so code further in never re-validates and never sees path separators,
//! control characters or empty strings.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a string is not a valid name of some kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {value:?}: {rule}")]
pub struct NameError {
    /// What was being parsed ("user name", "sandbox id", ...).
    pub kind: &'static str,
    /// The offending input, truncated to a readable length.
    pub value: String,
    /// The rule it broke, phrased so the user knows what to type instead.
    pub rule: &'static str,
}

/// Checks `s` against a simple grammar: length bounds, an allowed first
/// character class and an allowed rest class.
fn check(
    kind: &'static str,
    s: &str,
    max: usize,
    first: fn(char) -> bool,
    rest: fn(char) -> bool,
    rule: &'static str,
) -> Result<(), NameError> {
    let ok = !s.is_empty()
        && s.len() <= max
        && s.chars().next().is_some_and(first)
        && s.chars().all(rest);
    if ok {
        Ok(())
    } else {
        Err(NameError {
            kind,
            value: s.chars().take(80).collect(),
            rule,
        })
    }
}

fn lower_alnum(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $max:expr, $first:expr, $rest:expr, $rule:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses and validates a name.
            pub fn new(s: impl Into<String>) -> Result<Self, NameError> {
                let s = s.into();
                check($kind, &s, $max, $first, $rest, $rule)?;
                Ok(Self(s))
            }

            /// The name as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = NameError;
            fn try_from(s: String) -> Result<Self, NameError> {
                Self::new(s)
            }
        }

        impl std::str::FromStr for $name {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, NameError> {
                Self::new(s)
            }
        }

        impl From<$name> for String {
            fn from(n: $name) -> String {
                n.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }
    };
}

name_type!(
    /// A human user's login name, e.g. `alice` or `alice@example.com`.
    UserName,
    "user name",
    64,
    lower_alnum,
    |c| lower_alnum(c) || matches!(c, '.' | '_' | '-' | '@'),
    "use 1-64 characters: lowercase letters, digits, '.', '_', '-', '@', starting with a letter or digit"
);

name_type!(
    /// A role name, e.g. `admin`, `developer`.
    RoleName,
    "role name",
    64,
    lower_alnum,
    |c| lower_alnum(c) || matches!(c, '_' | '-'),
    "use 1-64 characters: lowercase letters, digits, '_', '-', starting with a letter or digit"
);

name_type!(
    /// The name a user gives a sandbox; unique per owner, DNS-label shaped.
    SandboxName,
    "sandbox name",
    63,
    lower_alnum,
    |c| lower_alnum(c) || c == '-',
    "use 1-63 characters: lowercase letters, digits and '-', starting with a letter or digit"
);

name_type!(
    /// The cluster-unique id of a sandbox; appears in its SPIFFE ID.
    SandboxId,
    "sandbox id",
    64,
    lower_alnum,
    |c| lower_alnum(c) || c == '-',
    "use 1-64 characters: lowercase letters, digits and '-'"
);

name_type!(
    /// A login session id: every certificate from one login carries it, so
    /// one lock can refuse them all.
    SessionId,
    "session id",
    64,
    |c: char| c.is_ascii_hexdigit() && !c.is_ascii_uppercase(),
    |c: char| (c.is_ascii_hexdigit() && !c.is_ascii_uppercase()) || c == '-',
    "use lowercase hex digits and '-' (at most 64)"
);

impl SessionId {
    /// Makes a session id from 16 random bytes supplied by the caller
    /// (this crate does no IO, so it cannot draw them itself).
    pub fn from_random(bytes: [u8; 16]) -> Self {
        let mut s = String::with_capacity(32);
        for b in bytes {
            s.push_str(&format!("{b:02x}"));
        }
        Self(s)
    }
}

impl SandboxId {
    /// Makes a sandbox id from random bytes supplied by the caller.
    pub fn from_random(bytes: [u8; 8]) -> Self {
        let mut s = String::from("sb-");
        for b in bytes {
            s.push_str(&format!("{b:02x}"));
        }
        Self(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user_ok(s: &str) -> bool {
        UserName::new(s).is_ok()
    }

    #[test]
    fn user_names() {
        for good in [
            "alice",
            "a",
            "bob.smith",
            "carol@example.com",
            "x_1-2",
            "0day",
        ] {
            assert!(user_ok(good), "{good} should be valid");
        }
        let too_long = "a".repeat(65);
        for bad in [
            "",
            "Alice",
            "-bob",
            "a/b",
            "a b",
            "../x",
            "é",
            too_long.as_str(),
        ] {
            assert!(!user_ok(bad), "{bad:?} should be invalid");
        }
    }

    #[test]
    fn error_names_the_rule() {
        let err = UserName::new("A/B").unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("invalid user name \"A/B\""), "{msg}");
        assert!(msg.contains("lowercase letters"), "{msg}");
    }

    #[test]
    fn serde_validates() {
        let ok: UserName = serde_json::from_str("\"alice\"").unwrap();
        assert_eq!(ok.as_str(), "alice");
        assert!(serde_json::from_str::<UserName>("\"../etc\"").is_err());
    }

    #[test]
    fn random_ids_are_valid() {
        let s = SessionId::from_random([0xab; 16]);
        assert_eq!(s.as_str().len(), 32);
        assert!(SessionId::new(s.as_str()).is_ok());
        let sb = SandboxId::from_random([1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(sb.as_str(), "sb-0102030405060708");
        assert!(SandboxId::new(sb.as_str()).is_ok());
    }
}
