//! The single writer thread: group commit and checkpointing.
//!
//! Callers send prepared events over a channel and wait. The writer takes
//! everything queued, assigns consecutive seqs, writes the whole batch in one
//! transaction (one fsync), and only then answers every waiter: concurrent
//! writers share the sync, and nobody is told "done" before the disk says so.
//! The in-memory frontier advances only after a successful commit, so a failed
//! batch leaves neither rows nor hashes behind.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::oneshot;

use crate::checkpoint::{Checkpoint, NoteSigner};
use crate::error::{AuditError, StoreError};
use crate::event::{event_id, splice};
use crate::merkle::{CompactRange, Hash, leaf_hash};
use crate::store::{AuditStore, NewEntry};

/// Most events written in one transaction; bounds latency and memory.
const MAX_BATCH: usize = 8192;

/// What an append returns once the event is durable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppendReceipt {
    /// Index in the log.
    pub seq: u64,
    /// The event id (`ev-<seq>`).
    pub id: String,
    /// The RFC 6962 leaf hash of the stored bytes.
    #[serde(serialize_with = "crate::proof::ser_hash")]
    pub leaf_hash: Hash,
}

/// A signed checkpoint as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignedCheckpoint {
    /// Entries covered.
    pub size: u64,
    /// The signed note.
    pub note: String,
}

/// Counters for tests, metrics and the benchmark.
#[derive(Debug, Default)]
pub struct Stats {
    /// Committed transactions holding events.
    pub commits: AtomicU64,
    /// Events committed.
    pub events: AtomicU64,
    /// Checkpoints written.
    pub checkpoints: AtomicU64,
    /// Batches that failed to commit.
    pub failed_commits: AtomicU64,
    /// Current log size.
    pub size: AtomicU64,
}

type AppendReply = oneshot::Sender<Result<Vec<AppendReceipt>, AuditError>>;

/// A request to the writer.
pub(crate) enum Request {
    /// Append pre-encoded event tails (see `AuditEvent::encode_tail`).
    Append {
        tails: Vec<Vec<u8>>,
        reply: AppendReply,
    },
    /// Write a checkpoint now (if the tree grew) and return the latest.
    Checkpoint {
        reply: oneshot::Sender<Result<SignedCheckpoint, AuditError>>,
    },
}

/// The writer's state; lives on its own thread.
pub(crate) struct Writer {
    pub store: Arc<dyn AuditStore>,
    pub signer: NoteSigner,
    pub origin: String,
    pub range: CompactRange,
    pub last_checkpoint: Option<SignedCheckpoint>,
    pub interval: Duration,
    pub stats: Arc<Stats>,
}

impl Writer {
    /// Runs until every sender is gone, then writes a final checkpoint.
    pub fn run(mut self, rx: Receiver<Request>) {
        let mut last_cp_at = Instant::now();
        // A log reopened after a crash may hold events no checkpoint signs yet.
        self.checkpoint_if_grown(&mut last_cp_at);
        loop {
            let wait = if self.dirty() {
                self.interval.saturating_sub(last_cp_at.elapsed())
            } else {
                Duration::from_secs(3600)
            };
            let first = match rx.recv_timeout(wait) {
                Ok(r) => r,
                Err(RecvTimeoutError::Timeout) => {
                    self.checkpoint_if_grown(&mut last_cp_at);
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            };
            self.handle_batch(first, &rx, &mut last_cp_at);
            if last_cp_at.elapsed() >= self.interval {
                self.checkpoint_if_grown(&mut last_cp_at);
            }
        }
        self.checkpoint_if_grown(&mut last_cp_at);
        tracing::debug!(size = self.range.size(), "audit writer stopped");
    }

    fn dirty(&self) -> bool {
        self.last_checkpoint.as_ref().map(|c| c.size) != Some(self.range.size())
    }

    /// Drains the queue into one batch, commits it, answers the waiters.
    fn handle_batch(&mut self, first: Request, rx: &Receiver<Request>, last_cp_at: &mut Instant) {
        let mut appends: Vec<(Vec<Vec<u8>>, AppendReply)> = Vec::new();
        let mut checkpoints = Vec::new();
        let mut count = 0;
        let mut next = Some(first);
        while let Some(req) = next.take() {
            match req {
                Request::Append { tails, reply } => {
                    count += tails.len();
                    appends.push((tails, reply));
                }
                Request::Checkpoint { reply } => checkpoints.push(reply),
            }
            if count < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        if !appends.is_empty() {
            self.commit(appends);
        }
        for reply in checkpoints {
            let _ = reply.send(self.checkpoint_now(last_cp_at));
        }
    }

    fn commit(&mut self, appends: Vec<(Vec<Vec<u8>>, AppendReply)>) {
        let mut seq = self.range.size();
        let mut entries = Vec::new();
        for (tails, _) in &appends {
            for tail in tails {
                let body = splice(seq, tail);
                let leaf = leaf_hash(&body);
                entries.push(NewEntry { seq, body, leaf });
                seq += 1;
            }
        }
        match self.store.append(&entries) {
            Ok(()) => self.committed(appends, &entries),
            Err(e) => self.failed(appends, e),
        }
    }

    fn committed(&mut self, appends: Vec<(Vec<Vec<u8>>, AppendReply)>, entries: &[NewEntry]) {
        for e in entries {
            self.range.append(e.leaf);
        }
        self.stats.commits.fetch_add(1, Ordering::Relaxed);
        self.stats
            .events
            .fetch_add(entries.len() as u64, Ordering::Relaxed);
        self.stats.size.store(self.range.size(), Ordering::Release);
        let mut receipts = entries.iter().map(|e| AppendReceipt {
            seq: e.seq,
            id: event_id(e.seq),
            leaf_hash: e.leaf,
        });
        for (tails, reply) in appends {
            let mine: Vec<AppendReceipt> = receipts.by_ref().take(tails.len()).collect();
            // A waiter that gave up (dropped its future) still has its event
            // durably logged; nothing to undo.
            let _ = reply.send(Ok(mine));
        }
    }

    fn failed(&mut self, appends: Vec<(Vec<Vec<u8>>, AppendReply)>, e: StoreError) {
        self.stats.failed_commits.fetch_add(1, Ordering::Relaxed);
        tracing::error!(error = %e, "audit batch could not be committed; refusing the operations");
        for (_, reply) in appends {
            let _ = reply.send(Err(AuditError::NotDurable(e.clone())));
        }
        self.resync();
    }

    /// After a failed commit, make sure memory matches the store: if the
    /// commit in fact reached the disk (an fsync error after the write), the
    /// store is the truth and the frontier is rebuilt from it.
    fn resync(&mut self) {
        match self.store.size() {
            Ok(n) if n == self.range.size() => {}
            Ok(n) => {
                tracing::warn!(
                    stored = n,
                    memory = self.range.size(),
                    "rebuilding audit frontier"
                );
                let mut range = CompactRange::new();
                let mut ok = true;
                let res = self.store.scan_leaves(0, n, &mut |_, leaf| {
                    ok = leaf.len() == 32;
                    if ok {
                        let mut h = [0u8; 32];
                        h.copy_from_slice(leaf);
                        range.append(h);
                    }
                    ok
                });
                if res.is_ok() && ok && range.size() == n {
                    self.range = range;
                    self.stats.size.store(n, Ordering::Release);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the audit store back after a failed commit")
            }
        }
    }

    fn checkpoint_if_grown(&mut self, last_cp_at: &mut Instant) {
        if self.dirty()
            && let Err(e) = self.write_checkpoint(last_cp_at)
        {
            tracing::warn!(error = %e, "could not write an audit checkpoint; will retry");
        }
    }

    fn checkpoint_now(&mut self, last_cp_at: &mut Instant) -> Result<SignedCheckpoint, AuditError> {
        if self.dirty() {
            self.write_checkpoint(last_cp_at)?;
        }
        self.last_checkpoint.clone().ok_or(AuditError::Closed)
    }

    fn write_checkpoint(&mut self, last_cp_at: &mut Instant) -> Result<(), AuditError> {
        let cp = Checkpoint {
            origin: self.origin.clone(),
            size: self.range.size(),
            root: self.range.root(),
        };
        let note = cp.sign(&self.signer)?;
        self.store.put_checkpoint(cp.size, &note)?;
        self.stats.checkpoints.fetch_add(1, Ordering::Relaxed);
        self.last_checkpoint = Some(SignedCheckpoint {
            size: cp.size,
            note,
        });
        *last_cp_at = Instant::now();
        Ok(())
    }
}
