//! The one error type of this crate. Each message is one line that says what
//! went wrong and, where the caller can act, what to do.

use std::path::PathBuf;

use airlock_core::IsolationClass;

/// Everything that can go wrong on a node.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// A backend name that does not exist.
    #[error("unknown backend {0:?}: use auto, microvm, gvisor or runc")]
    UnknownBackend(String),
    /// A backend that exists but cannot run here.
    #[error("backend {class} is not usable on this host: {reason} (run `airlock doctor`)")]
    BackendUnusable {
        /// The backend asked for.
        class: IsolationClass,
        /// Why it cannot run.
        reason: String,
    },
    /// `auto` found nothing usable.
    #[error(
        "no sandbox backend is usable on this host: install runc or runsc (run `airlock doctor`)"
    )]
    NoBackend,
    /// An image name that is not in the store.
    #[error(
        "unknown image {0:?}: list images with `airlock image ls`, or build it with `airlock image build`"
    )]
    UnknownImage(String),
    /// An image name that is not a valid name.
    #[error("invalid image name {0:?}: use 1-63 lowercase letters, digits and '-'")]
    BadImageName(String),
    /// An image that sandboxes still use.
    #[error("image {image:?} is used by {users} sandbox(es): remove them first")]
    ImageInUse {
        /// The image.
        image: String,
        /// How many sandboxes use it.
        users: usize,
    },
    /// An image build that failed.
    #[error("image build failed: {0}")]
    ImageBuild(String),
    /// A limit that does not parse or is out of range.
    #[error("invalid limit: {0}")]
    BadLimit(String),
    /// Environment the caller may not set.
    #[error(
        "invalid environment variable {0:?}: names must be non-empty, without '=' or NUL, and AIRLOCK_* is reserved"
    )]
    BadEnv(String),
    /// A hostname that is not a DNS label.
    #[error("invalid hostname {0:?}: use 1-63 lowercase letters, digits and '-'")]
    BadHostname(String),
    /// A sandbox with this id is already on this node.
    #[error("sandbox {0} already exists on this node: choose another id or remove it first")]
    AlreadyExists(String),
    /// No sandbox with this id exists on this node.
    #[error("sandbox {0} does not exist on this node")]
    NotFound(String),
    /// A path that would not fit in a unix socket address.
    #[error("socket path {0} is too long for a unix socket (max 107 bytes): use a shorter run_dir")]
    PathTooLong(PathBuf),
    /// The OCI runtime refused or failed.
    #[error("{runtime} {action} failed: {detail}")]
    Runtime {
        /// `runc` or `runsc`.
        runtime: &'static str,
        /// What we asked it (`run`, `delete`, ...).
        action: &'static str,
        /// Its stderr, trimmed to the last lines.
        detail: String,
    },
    /// A host kernel feature this node needs is missing.
    #[error("host kernel is missing {0}")]
    Kernel(String),
    /// A filesystem or syscall error, with what we were doing.
    #[error("{what}: {source}")]
    Io {
        /// What we were doing, naming the path.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl SandboxError {
    /// Wraps an IO error with what we were doing.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |source| Self::Io { what, source }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = SandboxError> = std::result::Result<T, E>;
