//! The storage seam: what the audit log needs from a database. SQLite
//! ([`crate::sqlite::SqliteStore`]) implements it today; a PostgreSQL backend
//! can follow without touching the log, the writer or verification.
//!
//! Rows are `(seq, body, leaf)`: the canonical event bytes and their RFC 6962
//! leaf hash. Search fields must be derived from `body` by the backend (never
//! stored twice), so there is no second copy an attacker could edit apart.

use crate::error::StoreError;
use crate::merkle::Hash;
use crate::query::Query;

/// One entry to append.
#[derive(Debug, Clone)]
pub struct NewEntry {
    /// Index in the log.
    pub seq: u64,
    /// Canonical event bytes (UTF-8 JSON).
    pub body: Vec<u8>,
    /// `leaf_hash(body)`.
    pub leaf: Hash,
}

/// One stored entry, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    /// Index in the log (the row key).
    pub seq: u64,
    /// The stored body bytes.
    pub body: Vec<u8>,
}

/// One stored signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// Tree size the note claims (the row key).
    pub size: u64,
    /// The signed note.
    pub note: String,
}

/// Visitor of stored rows: `(seq, body, leaf)`; returns false to stop.
pub type RowVisitor<'a> = dyn FnMut(u64, &[u8], &[u8]) -> bool + 'a;

/// What the audit log needs from storage. Methods are blocking; the log calls
/// the write methods from its single writer thread only.
pub trait AuditStore: Send + Sync + 'static {
    /// Writes `entries` (consecutive seqs) in one durable transaction: when
    /// this returns Ok they survive power loss; on Err none of them was written.
    fn append(&self, entries: &[NewEntry]) -> Result<(), StoreError>;

    /// Durably stores a signed checkpoint for `size` entries.
    fn put_checkpoint(&self, size: u64, note: &str) -> Result<(), StoreError>;

    /// Number of entries: the highest seq plus one (0 when empty).
    fn size(&self) -> Result<u64, StoreError>;

    /// All checkpoints, smallest size first.
    fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, StoreError>;

    /// The smallest checkpoint whose size is greater than `seq` (the first
    /// that covers the entry), if any.
    fn checkpoint_covering(&self, seq: u64) -> Result<Option<StoredCheckpoint>, StoreError>;

    /// Visits `(seq, leaf column)` for seq in `from..to`, in seq order, as
    /// stored (a leaf of the wrong length is passed as is). The visitor returns
    /// false to stop.
    fn scan_leaves(
        &self,
        from: u64,
        to: u64,
        visit: &mut dyn FnMut(u64, &[u8]) -> bool,
    ) -> Result<(), StoreError>;

    /// Visits `(seq, body, leaf)` of every entry from `from` on, in seq order.
    /// Callers read [`AuditStore::checkpoints`] first: the log only grows, so
    /// every checkpoint read before the scan is covered by it.
    fn scan(&self, from: u64, visit: &mut RowVisitor<'_>) -> Result<(), StoreError>;

    /// The entry at `seq`.
    fn get(&self, seq: u64) -> Result<Option<StoredEntry>, StoreError>;

    /// Entries matching `query`, in its order, at most `query.limit`.
    fn search(&self, query: &Query) -> Result<Vec<StoredEntry>, StoreError>;

    /// Visits every entry whose time is at or after `since` (all when None),
    /// in seq order. The visitor returns false to stop.
    fn scan_since(
        &self,
        since: Option<&str>,
        visit: &mut dyn FnMut(&StoredEntry) -> bool,
    ) -> Result<(), StoreError>;
}
