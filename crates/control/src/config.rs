//! The optional `airlock.toml` in the data directory. Every field has a
//! default, so a fresh data directory needs no config file at all.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

/// Default API listen address: loopback, so a fresh install exposes nothing.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8443";

/// Server configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTPS API listens on.
    pub listen: SocketAddr,
    /// The URL clients use to reach this server (OIDC issuer, login hints).
    /// Derived from `listen` when absent.
    pub public_url: Option<String>,
    /// Extra DNS names for the server certificate.
    pub dns_names: Vec<String>,
    /// Failed-login throttling.
    pub login: LoginLimits,
    /// The sandbox node on this host.
    pub sandbox: SandboxSettings,
}

/// Sandbox node settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxSettings {
    /// Runtime directory for sockets and mounts (default
    /// `/run/airlock/<first 8 hex digits of the CA fingerprint>`).
    pub run_dir: Option<std::path::PathBuf>,
    /// The static `airlock-init` binary (default: next to `airlock`, or
    /// where `scripts/build-init.sh` puts it).
    pub init_binary: Option<std::path::PathBuf>,
}

/// Failed-login throttling settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginLimits {
    /// Failures allowed per user name within `window`.
    pub max_failures_per_user: usize,
    /// Failures allowed per source address within `window`.
    pub max_failures_per_source: usize,
    /// The sliding window, e.g. `"5m"`.
    pub window: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.parse().expect("valid default address"),
            public_url: None,
            dns_names: Vec::new(),
            login: LoginLimits::default(),
            sandbox: SandboxSettings::default(),
        }
    }
}

impl Default for LoginLimits {
    fn default() -> Self {
        Self {
            max_failures_per_user: 5,
            max_failures_per_source: 20,
            window: "5m".into(),
        }
    }
}

impl LoginLimits {
    /// The window as a duration.
    pub fn window(&self) -> Result<Duration, ConfigError> {
        airlock_core::parse_duration(&self.window).map_err(|e| ConfigError::Invalid(e.to_string()))
    }
}

/// A config file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file exists but cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("invalid config {path}: {message}")]
    Parse {
        /// The path.
        path: String,
        /// The TOML error, which names the line.
        message: String,
    },
    /// A value parses but makes no sense.
    #[error("invalid config: {0}")]
    Invalid(String),
}

impl Config {
    /// Loads `path` if it exists, else the defaults.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        let config: Self = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.display().to_string(),
            message: e.message().to_owned(),
        })?;
        config.login.window()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_gives_defaults() {
        let c = Config::load(Path::new("/nonexistent/airlock.toml")).unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.login.max_failures_per_user, 5);
    }

    #[test]
    fn unknown_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("airlock.toml");
        std::fs::write(&p, "listen = \"0.0.0.0:9000\"\nlisen = 1\n").unwrap();
        let err = Config::load(&p).unwrap_err().to_string();
        assert!(err.contains("lisen"), "{err}");
        std::fs::write(&p, "listen = \"0.0.0.0:9000\"\n[login]\nwindow = \"10m\"\n").unwrap();
        let c = Config::load(&p).unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.login.window().unwrap().as_secs(), 600);
    }
}
