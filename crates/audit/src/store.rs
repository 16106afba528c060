//! The storage seam: what the audit log needs from storage. Append-only
//! files ([`crate::file::FileStore`]) implement it today; a PostgreSQL
//! backend can follow without touching the log, the writer or verification.
//!
//! Entries are `(seq, body, leaf)`: the canonical event bytes and their RFC
//! 6962 leaf hash, with the event's search fields alongside (taken from the
//! event, so a backend need not parse the body back). Any copy of them (an
//! index) is a hint: the log re-checks every search result against its body,
//! and verification reads only the entries.

use crate::error::StoreError;
use crate::event::Searchable;
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
    /// The body's search fields, for a backend that indexes them.
    pub searchable: Searchable,
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

/// What a full scan finds, in storage order.
#[derive(Debug)]
pub enum Row<'a> {
    /// An entry, as stored (an attacker may have stored anything: nothing
    /// here has been checked).
    Entry {
        /// The seq the storage files it under.
        seq: u64,
        /// The body bytes.
        body: &'a [u8],
        /// The leaf hash bytes.
        leaf: &'a [u8],
        /// False when the storage's own checksum of the entry fails.
        intact: bool,
    },
    /// Storage that should hold entries but cannot be read as any.
    Unreadable {
        /// Where and what, for the human.
        detail: String,
    },
}

/// Visitor of a full scan; returns false to stop.
pub type RowVisitor<'a> = dyn FnMut(Row<'_>) -> bool + 'a;

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

    /// Visits every entry from `from` on, in storage order, and anything
    /// unreadable in between. Callers read [`AuditStore::checkpoints`]
    /// first: the log only grows, so every checkpoint read before the scan is
    /// covered by it.
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

    /// Writes out and closes what the store derives from the log (a search
    /// index), as on shutdown; the log itself stays usable.
    fn close_derived(&self) {}
}
