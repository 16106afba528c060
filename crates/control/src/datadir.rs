//! The data directory: everything a server owns, in one place.
//!
//! ```text
//! DIR/
//!   airlock.toml        optional config
//!   state.db            control-plane state (users, roles, locks, ...)
//!   audit/              the audit log: segments, checkpoints, search index
//!   ca/ca.crt           cluster CA certificate (public)
//!   ca/ca.key           cluster CA private key (0600)
//!   ca/jwt.key          JWT-SVID signing key (0600)
//!   ca/audit.key        audit checkpoint signing key (0600)
//!   ca/proxy-ca.{crt,key} the access proxy's interception CA (key 0600)
//!   ca/secrets.key      encrypts secrets at rest (0600)
//!   recordings/         session recordings (asciicast v2, 0600)
//!   node/               the sandbox node: images, sandbox records
//! ```
//!
//! `state.db` is the "initialized" marker: it is the last thing `init`
//! moves into place, so a directory with it is complete.

use std::path::{Path, PathBuf};

/// Paths inside a data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// A data directory rooted at `root` (not checked).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Control-plane state database.
    pub fn state_db(&self) -> PathBuf {
        self.root.join("state.db")
    }

    /// Audit log directory (see `airlock_audit::file` for what is inside).
    pub fn audit_dir(&self) -> PathBuf {
        self.root.join("audit")
    }

    /// Optional config file.
    pub fn config_file(&self) -> PathBuf {
        self.root.join("airlock.toml")
    }

    /// Directory of key material.
    pub fn ca_dir(&self) -> PathBuf {
        self.root.join("ca")
    }

    /// CA certificate.
    pub fn ca_cert(&self) -> PathBuf {
        self.ca_dir().join("ca.crt")
    }

    /// CA private key.
    pub fn ca_key(&self) -> PathBuf {
        self.ca_dir().join("ca.key")
    }

    /// JWT-SVID signing key.
    pub fn jwt_key(&self) -> PathBuf {
        self.ca_dir().join("jwt.key")
    }

    /// Audit checkpoint signing key.
    pub fn audit_key(&self) -> PathBuf {
        self.ca_dir().join("audit.key")
    }

    /// The access proxy's interception CA certificate.
    pub fn proxy_ca_cert(&self) -> PathBuf {
        self.ca_dir().join("proxy-ca.crt")
    }

    /// The access proxy's interception CA key (0600).
    pub fn proxy_ca_key(&self) -> PathBuf {
        self.ca_dir().join("proxy-ca.key")
    }

    /// The key that encrypts secrets at rest (0600).
    pub fn secrets_key(&self) -> PathBuf {
        self.ca_dir().join("secrets.key")
    }

    /// Session recordings (asciicast v2).
    pub fn recordings(&self) -> PathBuf {
        self.root.join("recordings")
    }

    /// The node's persistent state (images, sandbox records).
    pub fn node_dir(&self) -> PathBuf {
        self.root.join("node")
    }

    /// Whether `init` completed here.
    pub fn is_initialized(&self) -> bool {
        self.state_db().exists()
    }

    /// Whether anything of a cluster is here (complete or not), which makes
    /// the directory unsafe to initialize over.
    pub fn has_cluster_files(&self) -> bool {
        [self.state_db(), self.audit_dir(), self.ca_dir()]
            .iter()
            .any(|p| p.exists())
    }
}
