//! Checks on what the caller asks for, before anything touches the host.

use crate::config::SandboxSpec;
use crate::error::{Result, SandboxError};

/// Refuses a spec with reserved or malformed environment, a bad hostname,
/// or limits too small to start.
pub fn spec(s: &SandboxSpec) -> Result<()> {
    s.limits.check()?;
    for (k, v) in &s.env {
        env(k, v)?;
    }
    hostname(&s.hostname)?;
    if let Some(cmd) = &s.command
        && (cmd.is_empty() || cmd.iter().any(|a| a.contains('\0')))
    {
        return Err(SandboxError::BadEnv("command".into()));
    }
    Ok(())
}

/// `AIRLOCK_*` is init's configuration, set only by the node: letting a
/// caller set it could redirect init's channel or identity sockets.
fn env(k: &str, v: &str) -> Result<()> {
    let bad = k.is_empty()
        || k.contains('=')
        || k.contains('\0')
        || v.contains('\0')
        || k.to_ascii_uppercase().starts_with("AIRLOCK_");
    if bad {
        return Err(SandboxError::BadEnv(k.chars().take(64).collect()));
    }
    Ok(())
}

fn hostname(h: &str) -> Result<()> {
    let ok = !h.is_empty()
        && h.len() <= 63
        && !h.starts_with('-')
        && h.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(SandboxError::BadHostname(h.chars().take(64).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names() {
        env("HTTPS_PROXY", "http://127.0.0.1:3128").unwrap();
        for bad in ["", "A=B", "AIRLOCK_INIT_TOKEN", "airlock_x"] {
            assert!(env(bad, "v").is_err(), "{bad}");
        }
        assert!(env("X", "a\0b").is_err());
    }

    #[test]
    fn hostnames() {
        hostname("sb-1").unwrap();
        for bad in ["", "-a", "A", "a.b", &"a".repeat(64)] {
            assert!(hostname(bad).is_err(), "{bad}");
        }
    }
}
