//! Errors of the audit log and its storage.

use crate::checkpoint::NoteError;
use crate::event::EventError;
use crate::query::QueryError;

/// A storage failure, classified so callers can tell the user what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// No space left on the device holding the store.
    #[error("the audit store's disk is full")]
    Full,
    /// The store or its directory cannot be written.
    #[error("the audit store is read-only")]
    ReadOnly,
    /// There is no store at the path.
    #[error("no audit store at {0}")]
    Missing(String),
    /// The file is not a usable audit store.
    #[error("the audit store is unusable: {0}")]
    Corrupt(String),
    /// Anything else the backend reported.
    #[error("audit store error: {0}")]
    Other(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode as C;
        match e.sqlite_error_code() {
            Some(C::DiskFull) => Self::Full,
            Some(C::ReadOnly) => Self::ReadOnly,
            Some(C::NotADatabase | C::DatabaseCorrupt) => Self::Corrupt(e.to_string()),
            _ => Self::Other(e.to_string()),
        }
    }
}

/// Everything the audit log can refuse or fail at.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The event breaks its code's rules (a bug in the emitter).
    #[error("audit event refused: {0}")]
    Invalid(#[from] EventError),
    /// The encoded event exceeds the size limit.
    #[error("audit event is {0} bytes; the limit is 64 KiB (trim details)")]
    TooLarge(usize),
    /// The event could not be made durable: the operation that needed it
    /// must be refused ("no audit, no action").
    #[error("the audit event could not be made durable ({0}); the operation is refused")]
    NotDurable(StoreError),
    /// Reading the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The writer has stopped (shutdown, or the log was closed).
    #[error("the audit log is closed; the operation is refused")]
    Closed,
    /// Signing or reading a checkpoint failed.
    #[error("checkpoint: {0}")]
    Note(#[from] NoteError),
    /// No event has this id.
    #[error("no audit event {0}")]
    NotFound(String),
    /// Search parameters are malformed.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// On open, the stored log disagrees with its own signed checkpoint.
    #[error("the audit log is damaged: {0}; run `airlock audit verify` to locate it")]
    Damaged(String),
    /// Writing an export failed.
    #[error("export failed: {0}")]
    Io(#[from] std::io::Error),
    /// A proof bundle does not verify.
    #[error("proof does not verify: {0}")]
    BadProof(String),
}
