//! The records the store keeps. Plain data; validation of names happened
//! when the typed names were built.

use std::collections::BTreeMap;
use std::fmt;

use airlock_core::{IsolationClass, RoleName, SandboxId, SandboxName, SessionId, UserName};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A human user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// Login name.
    pub name: UserName,
    /// Roles granted.
    pub roles: Vec<RoleName>,
    /// Traits for policy (team, logins, ...).
    pub traits: BTreeMap<String, Vec<String>>,
    /// argon2id hash in PHC string form. Never leaves the control plane.
    #[serde(skip_serializing)]
    pub password_hash: String,
    /// When the user was added.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
}

/// A role: a name policies grant permissions to (`principal in
/// Airlock::Role::"NAME"`), with the limits it imposes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleRecord {
    /// Role name.
    pub name: RoleName,
    /// One line for `role ls`.
    pub description: String,
    /// Longest user certificate this role allows, in seconds.
    pub max_ttl_secs: u64,
    /// Longest sandbox lifetime this role allows, in seconds.
    pub max_sandbox_ttl_secs: u64,
}

/// What a lock refuses.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "name", rename_all = "lowercase")]
pub enum LockTarget {
    /// Every certificate of this user, and every workload acting for them.
    User(UserName),
    /// One sandbox and its workload.
    Sandbox(SandboxId),
    /// Every certificate issued from one login.
    Session(SessionId),
}

impl LockTarget {
    /// `"user"`, `"sandbox"` or `"session"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::User(_) => "user",
            Self::Sandbox(_) => "sandbox",
            Self::Session(_) => "session",
        }
    }

    /// The locked subject's name.
    pub fn name(&self) -> &str {
        match self {
            Self::User(n) => n.as_str(),
            Self::Sandbox(n) => n.as_str(),
            Self::Session(n) => n.as_str(),
        }
    }

    /// Rebuilds a target from its stored kind and name.
    pub fn from_parts(kind: &str, name: &str) -> Result<Self, String> {
        let bad = |e: airlock_core::NameError| e.to_string();
        match kind {
            "user" => UserName::new(name).map(Self::User).map_err(bad),
            "sandbox" => SandboxId::new(name).map(Self::Sandbox).map_err(bad),
            "session" => SessionId::new(name).map(Self::Session).map_err(bad),
            other => Err(format!("unknown lock kind {other:?}")),
        }
    }
}

impl fmt::Display for LockTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind(), self.name())
    }
}

/// An admin's order to refuse a subject, whatever certificates it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lock {
    /// Lock id (for `lock rm`).
    pub id: String,
    /// What is locked.
    pub target: LockTarget,
    /// Why, as the admin wrote it.
    pub reason: Option<String>,
    /// The admin who placed it.
    pub created_by: String,
    /// When it was placed.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// When it lapses by itself (`None` = until removed).
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires: Option<OffsetDateTime>,
}

impl Lock {
    /// Whether the lock is in force at `now`.
    pub fn is_active(&self, now: OffsetDateTime) -> bool {
        self.expires.is_none_or(|e| now < e)
    }
}

/// One successful login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Session id (carried in every certificate of the login).
    pub id: SessionId,
    /// Who logged in.
    pub user: UserName,
    /// From where.
    pub source: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// When the login certificate expires.
    #[serde(with = "time::serde::rfc3339")]
    pub expires: OffsetDateTime,
}

/// Where a sandbox is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SandboxState {
    /// Being created (runtime starting, init not yet connected).
    Creating,
    /// Running.
    Running,
    /// Removed by a user.
    Removed,
    /// Destroyed at its expiry.
    Expired,
    /// Creation failed; nothing of it remains.
    Failed,
}

impl SandboxState {
    /// `"creating"`, `"running"`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "creating",
            Self::Running => "running",
            Self::Removed => "removed",
            Self::Expired => "expired",
            Self::Failed => "failed",
        }
    }

    /// Whether the sandbox may still exist on a node.
    pub fn is_live(self) -> bool {
        matches!(self, Self::Creating | Self::Running)
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Result<Self, String> {
        Ok(match s {
            "creating" => Self::Creating,
            "running" => Self::Running,
            "removed" => Self::Removed,
            "expired" => Self::Expired,
            "failed" => Self::Failed,
            other => return Err(format!("unknown sandbox state {other:?}")),
        })
    }
}

/// Resource limits of a sandbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SandboxLimits {
    /// CPUs (may be fractional).
    pub cpus: f64,
    /// Memory in bytes.
    pub memory: u64,
    /// Writable-layer size in bytes.
    pub disk: u64,
    /// Maximum number of processes.
    pub pids: u64,
}

/// A sandbox as the control plane knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SandboxRecord {
    /// Cluster-unique id (in its SPIFFE ID).
    pub id: SandboxId,
    /// Name, unique among the owner's live sandboxes.
    pub name: SandboxName,
    /// The user who created it.
    pub owner: UserName,
    /// Isolation backend.
    pub backend: IsolationClass,
    /// Image name.
    pub image: String,
    /// Delegation profile, if any.
    pub profile: Option<String>,
    /// Limits.
    pub limits: SandboxLimits,
    /// Lifecycle state.
    pub state: SandboxState,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// When it is destroyed at the latest.
    #[serde(with = "time::serde::rfc3339")]
    pub expires: OffsetDateTime,
    /// When it ended (removed, expired or failed).
    #[serde(with = "time::serde::rfc3339::option")]
    pub ended: Option<OffsetDateTime>,
}

/// One file of the cluster's policy set, as an admin loaded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyFile {
    /// File name (`teams.cedar`, `teams.examples.toml`).
    pub name: String,
    /// `policy` (Cedar) or `examples` (TOML/JSON examples checked at load).
    pub kind: String,
    /// The text.
    pub text: String,
}

/// A secret, encrypted by the control plane (the store never sees plaintext).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretRecord {
    /// Name, as `${secret:NAME}` refers to it.
    pub name: String,
    /// AEAD nonce.
    pub nonce: Vec<u8>,
    /// AEAD ciphertext with tag.
    pub ciphertext: Vec<u8>,
    /// When it was last set.
    pub updated: OffsetDateTime,
}

impl fmt::Debug for SecretRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretRecord")
            .field("name", &self.name)
            .field("updated", &self.updated)
            .finish_non_exhaustive()
    }
}

/// A registered resource (HTTP service, inference endpoint, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceRecord {
    /// Name policy refers to.
    pub name: String,
    /// `http` or `inference`.
    pub kind: String,
    /// Kind-specific settings (secrets by reference only).
    pub spec: serde_json::Value,
    /// When it was registered.
    pub created: OffsetDateTime,
}
