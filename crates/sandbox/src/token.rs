//! The one-time token init presents on the channel, so that only the init
//! this node started (which got the token through its environment, never
//! through the sandbox's files) can open the channel.

use std::fmt;

use rand::RngCore;

/// 32 random bytes, hex-encoded into init's environment.
#[derive(Clone, PartialEq, Eq)]
pub struct InitToken(String);

impl InitToken {
    /// A fresh token from the OS random source.
    pub fn generate() -> Self {
        let mut b = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut b);
        Self(hex::encode(b))
    }

    /// A token read back from a sandbox's bundle (after a host restart):
    /// 64 lowercase hex digits, or `None`.
    pub fn from_hex(s: &str) -> Option<Self> {
        let ok = s.len() == 64
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        ok.then(|| Self(s.to_owned()))
    }

    /// The hex form, as put into `AIRLOCK_INIT_TOKEN`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Compares with what a peer presented, in time independent of where
    /// they first differ.
    pub fn matches(&self, presented: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), presented.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl fmt::Debug for InitToken {
    // Never print the secret, not even in debug logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InitToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_fresh_hex_and_redacted() {
        let (a, b) = (InitToken::generate(), InitToken::generate());
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 64);
        assert!(a.matches(a.as_str()));
        assert!(!a.matches(b.as_str()));
        assert!(!a.matches(""));
        assert!(!format!("{a:?}").contains(a.as_str()));
    }
}
