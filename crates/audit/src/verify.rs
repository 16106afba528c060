//! Full verification of a stored log, sans IO: feed it the checkpoints and then
//! every entry in storage order, and it names the first index where anything
//! is wrong. The index of an entry is its place in storage, whatever it claims.
//!
//! What each check catches:
//! - the seq each entry is filed under equals its place: entries deleted (a
//!   gap that the following entries continue), or moved, swapped, inserted
//!   (anything else);
//! - the seq inside each body equals its place: bodies moved between entries;
//! - the stored leaf equals SHA-256(0x00 ‖ body): an edited body;
//! - the root at every checkpoint size equals the signed root: a body edited
//!   together with its leaf column (located between the last good checkpoint
//!   and this one: without the original hashes no one can say more);
//! - every checkpoint's signature, and that none is larger than the log
//!   (truncation);
//! - the storage's own checksum and framing: bytes altered outside the body,
//!   or storage that holds no readable entry where one should be.

use std::collections::VecDeque;
use std::fmt;

use serde::Serialize;

use crate::checkpoint::{Checkpoint, NoteVerifier};
use crate::event::body_seq;
use crate::merkle::{CompactRange, leaf_hash};
use crate::store::{Row, StoredCheckpoint};

/// What kind of damage a problem looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tampering {
    /// Rows are missing from the middle of the log.
    Deleted,
    /// A row holds another index's event: moved, swapped or inserted.
    Reordered,
    /// A body no longer matches its stored leaf hash.
    Edited,
    /// Bodies and leaf hashes were rewritten consistently, but the signed
    /// checkpoint exposes it.
    Rewritten,
    /// Entries a signed checkpoint covers are gone from the end.
    Truncated,
    /// A checkpoint's signature or content is invalid.
    BadCheckpoint,
    /// A row is not a canonical event at all.
    Malformed,
    /// Entries no signed checkpoint covers: nothing vouches for them. Normal
    /// only after a crash, until the server restarts and signs them; otherwise
    /// someone deleted checkpoints, possibly to rewrite what they covered.
    Unsigned,
}

/// The first problem found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Problem {
    /// The first index where the log is wrong.
    pub index: u64,
    /// What it looks like.
    pub kind: Tampering,
    /// For damage that can only be bounded (rewritten entries): the end of the
    /// range `[index, end)` that holds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<u64>,
    /// One line for the human.
    pub detail: String,
}

/// The outcome of a verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct VerifyReport {
    /// Entries examined.
    pub entries: u64,
    /// Hex root over the examined entries.
    pub root: String,
    /// Checkpoints whose signature and root were checked.
    pub checkpoints_verified: u64,
    /// Size of the largest verified checkpoint.
    pub latest_checkpoint: Option<u64>,
    /// Entries after the latest verified checkpoint.
    pub unsigned_tail: u64,
    /// The first problem, if any.
    pub problem: Option<Problem>,
}

impl VerifyReport {
    /// True when nothing is wrong.
    pub fn is_ok(&self) -> bool {
        self.problem.is_none()
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.problem {
            None => write!(
                f,
                "OK: {} events, root {}, {} signed checkpoints verified (latest at size {}), {} events not yet checkpointed",
                self.entries,
                self.root,
                self.checkpoints_verified,
                self.latest_checkpoint
                    .map_or("none".into(), |s| s.to_string()),
                self.unsigned_tail
            ),
            Some(p) => write!(
                f,
                "TAMPERED at index {} ({:?}): {}",
                p.index, p.kind, p.detail
            ),
        }
    }
}

/// The verification state machine.
#[derive(Debug)]
pub struct LogVerifier<'v> {
    verifier: &'v NoteVerifier,
    pending: VecDeque<StoredCheckpoint>,
    origin: Option<String>,
    range: CompactRange,
    last_good: u64,
    verified: u64,
    latest: Option<u64>,
    problem: Option<Problem>,
    /// An entry filed under a seq past its place, judged by the next one.
    ahead: Option<u64>,
}

impl<'v> LogVerifier<'v> {
    /// Starts a verification against `checkpoints` (any order).
    pub fn new(verifier: &'v NoteVerifier, mut checkpoints: Vec<StoredCheckpoint>) -> Self {
        checkpoints.sort_by_key(|c| c.size);
        let mut v = Self {
            verifier,
            pending: checkpoints.into(),
            origin: None,
            range: CompactRange::new(),
            last_good: 0,
            verified: 0,
            latest: None,
            problem: None,
            ahead: None,
        };
        v.check_due_checkpoints();
        v
    }

    /// Feeds the next row of a scan. Returns false once a problem is found (stop).
    pub fn row(&mut self, row: Row<'_>) -> bool {
        match row {
            Row::Entry {
                seq,
                body,
                leaf,
                intact,
            } => self.check(seq, body, leaf, intact),
            Row::Unreadable { detail } => {
                if self.problem.is_none() && self.ahead.is_some() {
                    return self.judge_ahead(u64::MAX);
                }
                let next = self.range.size();
                self.fail(next, Tampering::Malformed, None, detail)
            }
        }
    }

    /// Feeds the next stored entry. Returns false once a problem is found (stop).
    pub fn entry(&mut self, seq: u64, body: &[u8], leaf: &[u8]) -> bool {
        self.check(seq, body, leaf, true)
    }

    fn check(&mut self, seq: u64, body: &[u8], leaf: &[u8], intact: bool) -> bool {
        if self.problem.is_some() {
            return false;
        }
        if self.ahead.is_some() {
            return self.judge_ahead(seq);
        }
        let next = self.range.size();
        if seq > next {
            // Deleted entries, or one moved here from further on: the next
            // entry tells which.
            self.ahead = Some(seq);
            return true;
        }
        if seq < next {
            let d = format!("index {seq} appears again at index {next}");
            return self.fail(next, Tampering::Reordered, None, d);
        }
        match body_seq(body) {
            None => {
                let d = "the stored body is not a canonical audit event".to_owned();
                return self.fail(seq, Tampering::Malformed, None, d);
            }
            Some(claimed) if claimed != seq => {
                let d = format!(
                    "the entry at index {seq} is the event of index {claimed}: entries were moved, swapped or inserted"
                );
                return self.fail(seq, Tampering::Reordered, None, d);
            }
            Some(_) => {}
        }
        let computed = leaf_hash(body);
        if leaf != computed {
            let d = "the event body does not match its stored leaf hash: the body was edited";
            return self.fail(seq, Tampering::Edited, None, d.to_owned());
        }
        if !intact {
            let d = "the entry's checksum does not match: its stored bytes were altered";
            return self.fail(seq, Tampering::Malformed, None, d.to_owned());
        }
        self.range.append(computed);
        self.check_due_checkpoints();
        self.problem.is_none()
    }

    /// The entry at index `next` claimed seq `ahead`; the one after it claims
    /// `then`. Entries that keep counting up from `ahead` mean the ones in
    /// between were deleted; anything else means entries were moved.
    fn judge_ahead(&mut self, then: u64) -> bool {
        let ahead = self.ahead.take().expect("set by the caller");
        let next = self.range.size();
        if then > ahead {
            let d = format!("entries {next}..{} are missing from the log", ahead - 1);
            self.fail(next, Tampering::Deleted, None, d)
        } else {
            let d = format!(
                "the entry at index {next} is filed as index {ahead}: entries were moved, swapped or inserted"
            );
            self.fail(next, Tampering::Reordered, None, d)
        }
    }

    /// Ends the verification.
    pub fn finish(mut self) -> VerifyReport {
        if self.problem.is_none() && self.ahead.is_some() {
            self.judge_ahead(u64::MAX);
        }
        let size = self.range.size();
        if self.problem.is_none()
            && let Some(cp) = self.pending.pop_front()
        {
            self.truncated(&cp, size);
        }
        let signed = self.latest.unwrap_or(0).min(size);
        if self.problem.is_none() && signed < size {
            let d = format!(
                "entries {signed}..{} are covered by no signed checkpoint (normal only after a crash, until the server restarts and signs them)",
                size - 1
            );
            self.fail(signed, Tampering::Unsigned, Some(size), d);
        }
        VerifyReport {
            entries: size,
            root: hex::encode(self.range.root()),
            checkpoints_verified: self.verified,
            latest_checkpoint: self.latest,
            unsigned_tail: size - signed,
            problem: self.problem,
        }
    }

    fn truncated(&mut self, cp: &StoredCheckpoint, size: u64) {
        if self.open(cp).is_some() {
            let d = format!(
                "a signed checkpoint covers {} entries but the log holds only {size}: entries were removed from the end",
                cp.size
            );
            self.fail(size, Tampering::Truncated, Some(cp.size), d);
        }
    }

    fn fail(&mut self, index: u64, kind: Tampering, end: Option<u64>, detail: String) -> bool {
        if self.problem.is_none() {
            self.problem = Some(Problem {
                index,
                kind,
                end,
                detail,
            });
        }
        false
    }

    /// Checks every checkpoint whose size the tree has just reached.
    fn check_due_checkpoints(&mut self) {
        let size = self.range.size();
        while self.problem.is_none() && self.pending.front().is_some_and(|c| c.size == size) {
            let cp = self.pending.pop_front().expect("front checked");
            let Some(parsed) = self.open(&cp) else { return };
            if parsed.root != self.range.root() {
                let d = format!(
                    "the root over entries 0..{size} differs from the signed checkpoint: an entry in [{}, {size}) was rewritten along with its leaf hash",
                    self.last_good
                );
                self.fail(self.last_good, Tampering::Rewritten, Some(size), d);
                return;
            }
            self.last_good = size;
            self.verified += 1;
            self.latest = Some(size);
        }
    }

    /// Verifies a checkpoint's signature, size and origin; records a problem
    /// and returns None when it is bad.
    fn open(&mut self, cp: &StoredCheckpoint) -> Option<Checkpoint> {
        let bad = match Checkpoint::open(&cp.note, self.verifier) {
            Err(e) => Some(format!("checkpoint at size {}: {e}", cp.size)),
            Ok(c) if c.size != cp.size => Some(format!(
                "checkpoint stored at size {} claims size {}",
                cp.size, c.size
            )),
            Ok(c) if self.origin.as_ref().is_some_and(|o| *o != c.origin) => Some(format!(
                "checkpoint at size {} names another log ({:?})",
                cp.size, c.origin
            )),
            Ok(c) => {
                self.origin.get_or_insert_with(|| c.origin.clone());
                return Some(c);
            }
        };
        let detail = bad.expect("set on every error arm");
        self.fail(cp.size, Tampering::BadCheckpoint, None, detail);
        None
    }
}
