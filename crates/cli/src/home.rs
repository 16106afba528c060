//! The client's state under `$AIRLOCK_HOME` (default `~/.airlock`):
//!
//! ```text
//! profile.json        current login: server, user, cluster, expiry
//! key.pem             the login's private key (0600; never sent anywhere)
//! cert.pem            the login's certificate (0600)
//! ca.pem              the pinned cluster CA bundle
//! known_clusters.json server URL -> pinned CA fingerprint (like known_hosts)
//! ```

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::exit::{CliError, Exit};

/// The current login.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Profile {
    /// Server URL.
    pub server: String,
    /// User name.
    pub user: String,
    /// Cluster name.
    pub cluster: String,
    /// Login session id.
    pub session: String,
    /// Certificate expiry (RFC 3339).
    pub expires: String,
    /// Pinned CA fingerprint (hex).
    pub ca_fingerprint: String,
}

/// The client state directory.
#[derive(Debug, Clone)]
pub struct Home {
    dir: PathBuf,
}

impl Home {
    /// `$AIRLOCK_HOME`, else `~/.airlock`.
    pub fn from_env() -> anyhow::Result<Self> {
        if let Some(dir) = std::env::var_os("AIRLOCK_HOME").filter(|d| !d.is_empty()) {
            return Ok(Self { dir: dir.into() });
        }
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .context("neither AIRLOCK_HOME nor HOME is set; set AIRLOCK_HOME to a directory for Airlock's client files")?;
        Ok(Self {
            dir: PathBuf::from(home).join(".airlock"),
        })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Path of the private key.
    pub fn key_path(&self) -> PathBuf {
        self.path("key.pem")
    }

    /// Path of the certificate.
    pub fn cert_path(&self) -> PathBuf {
        self.path("cert.pem")
    }

    /// Path of the pinned CA bundle.
    pub fn ca_path(&self) -> PathBuf {
        self.path("ca.pem")
    }

    /// The current login, if any.
    pub fn profile(&self) -> anyhow::Result<Option<Profile>> {
        let path = self.path("profile.json");
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes).with_context(|| {
                format!(
                    "{} is corrupt; run `airlock logout` and log in again",
                    path.display()
                )
            })?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// The current login, or a "log in first" error.
    pub fn require_profile(&self) -> anyhow::Result<Profile> {
        self.profile()?.ok_or_else(|| {
            CliError::new(
                Exit::Auth,
                "not logged in: run `airlock login --server URL --user NAME` first",
            )
            .into()
        })
    }

    /// Stores a new login (all files 0600, written atomically).
    pub fn save_login(
        &self,
        profile: &Profile,
        key_pem: &str,
        cert_pem: &str,
        ca_pem: &str,
    ) -> anyhow::Result<()> {
        self.ensure_dir()?;
        write_private(&self.key_path(), key_pem.as_bytes())?;
        write_private(&self.cert_path(), cert_pem.as_bytes())?;
        write_private(&self.ca_path(), ca_pem.as_bytes())?;
        write_private(
            &self.path("profile.json"),
            serde_json::to_string_pretty(profile)?.as_bytes(),
        )
    }

    /// Removes the current login's files; returns whether there was one.
    pub fn clear_login(&self) -> anyhow::Result<bool> {
        let mut had = false;
        for name in ["profile.json", "key.pem", "cert.pem", "ca.pem"] {
            match std::fs::remove_file(self.path(name)) {
                Ok(()) => had = true,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).with_context(|| format!("cannot remove {name}")),
            }
        }
        Ok(had)
    }

    fn known(&self) -> anyhow::Result<BTreeMap<String, String>> {
        match std::fs::read(self.path("known_clusters.json")) {
            Ok(b) => Ok(serde_json::from_slice(&b).context("known_clusters.json is corrupt")?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(e).context("cannot read known_clusters.json"),
        }
    }

    /// The CA fingerprint pinned for `server`, if any.
    pub fn pinned_ca(&self, server: &str) -> anyhow::Result<Option<String>> {
        Ok(self.known()?.get(server).cloned())
    }

    /// Pins `fingerprint` for `server`.
    pub fn pin_ca(&self, server: &str, fingerprint: &str) -> anyhow::Result<()> {
        self.ensure_dir()?;
        let mut known = self.known()?;
        known.insert(server.to_owned(), fingerprint.to_owned());
        write_private(
            &self.path("known_clusters.json"),
            serde_json::to_string_pretty(&known)?.as_bytes(),
        )
    }

    /// Forgets the pin for `server`.
    pub fn unpin_ca(&self, server: &str) -> anyhow::Result<bool> {
        let mut known = self.known()?;
        let had = known.remove(server).is_some();
        if had {
            write_private(
                &self.path("known_clusters.json"),
                serde_json::to_string_pretty(&known)?.as_bytes(),
            )?;
        }
        Ok(had)
    }

    fn ensure_dir(&self) -> anyhow::Result<()> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .with_context(|| format!("cannot create {}", self.dir.display()))
    }
}

/// Writes a file readable by its owner only: temp file created 0600, then
/// renamed over the target, so no reader ever sees a partial file.
pub fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}
