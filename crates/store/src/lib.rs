//! Persistent control-plane state: users, roles, locks, login sessions and
//! cluster metadata.
//!
//! The control plane talks to a [`Store`] and never to SQL. The embedded
//! default is [`SqliteStore`] (one file in the data directory); a PostgreSQL
//! implementation can follow behind the same trait.
//!
//! Architecture invariant: the store holds state, not rules. It never decides
//! whether an operation is allowed, never reads a clock (timestamps come in
//! as arguments) and never sees a private key or a plaintext password.
#![forbid(unsafe_code)]

mod cached;
mod model;
mod sqlite;

pub use cached::CachedStore;
pub use model::{
    Lock, LockTarget, PolicyFile, ResourceRecord, RoleRecord, SandboxLimits, SandboxRecord,
    SandboxState, SecretRecord, SessionRecord, UserRecord,
};
pub use sqlite::SqliteStore;

use airlock_core::{RoleName, SandboxId, SandboxName, UserName};
use time::OffsetDateTime;

/// Errors from a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An insert collided with an existing record.
    #[error("{kind} {name:?} already exists")]
    AlreadyExists {
        /// What kind of record ("user", "role", ...).
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// A record that was named does not exist.
    #[error("{kind} {name:?} does not exist")]
    NotFound {
        /// What kind of record.
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// A stored value no longer parses (a bug or an edited database).
    #[error("stored {what} is corrupt: {detail}")]
    Corrupt {
        /// Which value.
        what: &'static str,
        /// Why it does not parse.
        detail: String,
    },
    /// The database itself failed (disk full, locked, unreadable).
    #[error("state database error: {0}")]
    Db(#[from] rusqlite::Error),
}

/// Result alias for store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Control-plane state. Implementations are internally synchronized; every
/// method is a short, blocking call (async callers use `spawn_blocking`).
pub trait Store: Send + Sync + 'static {
    /// Reads a metadata value (cluster name, trust domain, ...).
    fn meta(&self, key: &str) -> Result<Option<String>>;
    /// Writes a metadata value.
    fn set_meta(&self, key: &str, value: &str) -> Result<()>;

    /// Adds a user; fails with [`StoreError::AlreadyExists`] on a duplicate.
    fn add_user(&self, user: &UserRecord) -> Result<()>;
    /// Looks a user up.
    fn user(&self, name: &UserName) -> Result<Option<UserRecord>>;
    /// All users, sorted by name.
    fn users(&self) -> Result<Vec<UserRecord>>;
    /// Removes a user; fails with [`StoreError::NotFound`] if absent.
    fn remove_user(&self, name: &UserName) -> Result<()>;

    /// Adds or replaces a role.
    fn put_role(&self, role: &RoleRecord) -> Result<()>;
    /// Looks a role up.
    fn role(&self, name: &RoleName) -> Result<Option<RoleRecord>>;
    /// All roles, sorted by name.
    fn roles(&self) -> Result<Vec<RoleRecord>>;

    /// Adds a lock; fails with [`StoreError::AlreadyExists`] if the id is taken.
    fn add_lock(&self, lock: &Lock) -> Result<()>;
    /// All locks, expired ones included (callers filter by time).
    fn locks(&self) -> Result<Vec<Lock>>;
    /// Removes a lock by id.
    fn remove_lock(&self, id: &str) -> Result<()>;

    /// Records a login session.
    fn add_session(&self, session: &SessionRecord) -> Result<()>;
    /// Login sessions of one user, newest first.
    fn sessions(&self, user: &UserName) -> Result<Vec<SessionRecord>>;

    /// Adds a sandbox; fails with [`StoreError::AlreadyExists`] if the owner
    /// already has a live sandbox of that name (or the id is taken).
    fn add_sandbox(&self, sandbox: &SandboxRecord) -> Result<()>;
    /// Looks a sandbox up by id.
    fn sandbox(&self, id: &SandboxId) -> Result<Option<SandboxRecord>>;
    /// The owner's live sandbox of this name.
    fn live_sandbox_named(
        &self,
        owner: &UserName,
        name: &SandboxName,
    ) -> Result<Option<SandboxRecord>>;
    /// Sandboxes, newest first: of one owner or everyone's, live only or all.
    fn sandboxes(&self, owner: Option<&UserName>, live_only: bool) -> Result<Vec<SandboxRecord>>;
    /// Moves a sandbox to `state`, recording when it ended if it did.
    fn set_sandbox_state(
        &self,
        id: &SandboxId,
        state: SandboxState,
        at: OffsetDateTime,
    ) -> Result<()>;
    /// The earliest expiry among live sandboxes.
    fn next_expiry(&self) -> Result<Option<OffsetDateTime>>;

    /// The cluster's policy files (empty: the starter set applies).
    fn policy_files(&self) -> Result<Vec<PolicyFile>>;
    /// Replaces the whole policy set atomically.
    fn replace_policy_files(&self, files: &[PolicyFile]) -> Result<()>;
    /// Delegation profiles: (name, Cedar text).
    fn profiles(&self) -> Result<Vec<(String, String)>>;
    /// Adds or replaces a profile.
    fn put_profile(&self, name: &str, text: &str) -> Result<()>;
    /// Removes a profile.
    fn remove_profile(&self, name: &str) -> Result<()>;
    /// Adds or replaces an (encrypted) secret.
    fn put_secret(&self, secret: &SecretRecord) -> Result<()>;
    /// All (encrypted) secrets.
    fn secrets(&self) -> Result<Vec<SecretRecord>>;
    /// Removes a secret.
    fn remove_secret(&self, name: &str) -> Result<()>;
    /// Registers a resource; refuses a duplicate name.
    fn add_resource(&self, resource: &ResourceRecord) -> Result<()>;
    /// All resources.
    fn resources(&self) -> Result<Vec<ResourceRecord>>;
    /// Removes a resource.
    fn remove_resource(&self, name: &str) -> Result<()>;
}

impl std::fmt::Debug for dyn Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Store")
    }
}
