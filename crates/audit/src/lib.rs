//! Airlock's audit layer: every operation, allowed or denied, becomes a typed
//! event in an append-only, tamper-evident log.
//!
//! - [`event`], [`code`]: the event model and the table of stable codes
//!   (docs/audit-events.md is generated from it).
//! - [`merkle`]: RFC 6962 hashing, roots, inclusion and consistency proofs (sans IO).
//! - [`checkpoint`]: C2SP signed notes carrying the log's size and root.
//! - [`AuditLog`]: the handle: group-committed durable appends, signed
//!   checkpoints every second, search, export, proofs, verification.
//! - [`store`], [`file`]: the storage seam and its implementation: append-only
//!   segment files (the truth) with a derived SQLite search index.
//! - [`verify`]: full verification, the same logic online and offline.
//! - [`recording`]: asciicast v2 session recordings and their replay.
//!
//! Architecture invariant: audit is its own typed stream, never log lines;
//! the bytes hashed are the bytes stored, and verification never re-encodes.
//! Verification reads the log only; nothing derived from it (the search
//! index) is trusted.
//!
//! The durable path, end to end: the caller's thread validates and encodes
//! the event and queues it; the writer thread takes everything queued (and
//! waits a fraction of a commit for callers that recent batches held), gives
//! the events their seqs, hashes them, writes them after the log's tail in one
//! `pwrite` and one `fdatasync` into space written ahead of time, and only
//! then answers every caller. Nothing else (index, checkpoints) is on it.
//!
//! ```no_run
//! use airlock_audit::{AuditEvent, AuditLog, EventCode, NoteSigner, QueryParams};
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let signer = NoteSigner::load("airlock.local/audit", "data/audit.key".as_ref())?;
//! let log = AuditLog::open("data/audit".as_ref(), signer, "airlock.local/audit")?;
//! let alice = airlock_core::UserName::new("alice")?;
//! // Returns once durable; on Err the operation must be refused.
//! let receipt = log.append(AuditEvent::new(EventCode::UserLogin).user(alice)).await?;
//! let params = QueryParams { user: Some("alice".into()), ..Default::default() };
//! let events = log.search(params.parse(time::OffsetDateTime::now_utc())?).await?;
//! let proof = log.prove(receipt.id).await?; // serde JSON for `audit prove`
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

pub mod checkpoint;
pub mod code;
pub mod error;
pub mod event;
pub mod export;
pub mod file;
mod log;
pub mod merkle;
pub mod ocsf;
pub mod proof;
pub mod query;
mod queue;
pub mod recording;
pub mod store;
pub mod timefmt;
mod validate;
pub mod verify;
mod writer;

use std::path::Path;

pub use checkpoint::{Checkpoint, NoteError, NoteSigner, NoteVerifier};
pub use code::EventCode;
pub use error::{AuditError, StoreError};
pub use event::{AuditEvent, EventError};
pub use log::{AuditLog, LogOptions, LogStats};
pub use proof::{InclusionProofBundle, verify_proof_bundle};
pub use query::{ActionFilter, Order, Query, QueryError, QueryParams};
pub use verify::{Problem, Tampering, VerifyReport};
pub use writer::{AppendReceipt, SignedCheckpoint};

/// Verifies the audit log in directory `dir` offline (server stopped, or a
/// copy of the data directory), against the published audit key. Returns a
/// report naming the first damaged index; Err only when the files cannot be
/// read. Reads the log only (never the search index) and changes nothing.
pub fn verify_store(dir: &Path, verifier: &NoteVerifier) -> Result<VerifyReport, AuditError> {
    verify_store_against(dir, verifier, &[])
}

/// [`verify_store`], also checking the log against signed checkpoint notes
/// the reviewer kept from earlier (`airlock audit verify --checkpoint FILE`):
/// deleting the store's own checkpoints then cannot hide a rewrite or a
/// truncation of what those notes covered. A note that does not verify with
/// `verifier` is an error.
pub fn verify_store_against(
    dir: &Path,
    verifier: &NoteVerifier,
    known_checkpoints: &[String],
) -> Result<VerifyReport, AuditError> {
    let store = file::FileStore::open_read_only(dir)?;
    log::verify_with_store(&store, verifier, None, known_checkpoints)
}
