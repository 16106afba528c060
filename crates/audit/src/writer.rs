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
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::oneshot;

use crate::checkpoint::{Checkpoint, NoteSigner};
use crate::error::{AuditError, StoreError};
use crate::event::{event_id, splice};
use crate::merkle::{CompactRange, Hash, leaf_hash};
use crate::queue::{Queue, Taken};
use crate::store::{AuditStore, NewEntry};

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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
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
    /// Time spent committing (write + sync), in microseconds.
    pub commit_micros: AtomicU64,
    /// Batches that failed to commit.
    pub failed_commits: AtomicU64,
    /// Current log size.
    pub size: AtomicU64,
}

/// Where the writer's answer goes: a future's channel, or a blocked
/// thread's. A thread blocked on std's channel is woken with one futex call,
/// half of what tokio's blocking receive costs; it matters to a thread that
/// waits for every commit.
pub(crate) enum Reply<T> {
    /// An async caller.
    Async(oneshot::Sender<T>),
    /// A thread outside the runtime, blocked until the answer comes.
    Blocking(std::sync::mpsc::SyncSender<T>),
}

impl<T> Reply<T> {
    /// Answers; a caller that gave up is not an error.
    pub fn send(self, answer: T) {
        match self {
            Self::Async(tx) => drop(tx.send(answer)),
            Self::Blocking(tx) => drop(tx.send(answer)),
        }
    }
}

type AppendReply = Reply<Result<Vec<AppendReceipt>, AuditError>>;
type CheckpointReply = Reply<Result<SignedCheckpoint, AuditError>>;

/// A request to the writer.
pub(crate) enum Request {
    /// Append pre-encoded event tails (see `AuditEvent::encode_tail`).
    Append {
        tails: Vec<Vec<u8>>,
        reply: AppendReply,
    },
    /// Write a checkpoint now (if the tree grew) and return the latest.
    Checkpoint { reply: CheckpointReply },
}

/// The requests taken for one commit.
#[derive(Default)]
struct Batch {
    appends: Vec<(Vec<Vec<u8>>, AppendReply)>,
    checkpoints: Vec<CheckpointReply>,
}

impl Batch {
    fn push(&mut self, req: Request) {
        match req {
            Request::Append { tails, reply } => self.appends.push((tails, reply)),
            Request::Checkpoint { reply } => self.checkpoints.push(reply),
        }
    }
}

/// Remembers recent batch sizes and commit times to size the group-commit wait.
#[derive(Debug)]
pub(crate) struct Tuner {
    recent: std::collections::VecDeque<usize>,
    commit_time: Duration,
}

impl Default for Tuner {
    fn default() -> Self {
        Self {
            recent: std::collections::VecDeque::with_capacity(TUNER_WINDOW),
            commit_time: Duration::ZERO,
        }
    }
}

/// Commits remembered by the tuner: a caller that stops appending stops
/// being waited for after this many commits.
const TUNER_WINDOW: usize = 64;
/// The longest group-commit wait, whatever the disk.
const MAX_COMMIT_DELAY: Duration = Duration::from_millis(1);

impl Tuner {
    /// Callers to wait for: the most seen in one recent batch.
    fn target(&self) -> usize {
        self.recent.iter().copied().max().unwrap_or(1)
    }

    /// Half a typical commit: waiting longer would cost more than it saves.
    fn max_wait(&self) -> Duration {
        (self.commit_time / 2).min(MAX_COMMIT_DELAY)
    }

    fn record(&mut self, requests: usize, took: Duration) {
        if self.recent.len() == TUNER_WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(requests);
        // Exponential moving average, weight 1/8 on the newest commit.
        self.commit_time = (self.commit_time * 7 + took) / 8;
    }
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
    pub tuner: Tuner,
}

impl Writer {
    /// Runs until the queue is closed and empty, then writes a final checkpoint.
    pub fn run(mut self, queue: &Queue) {
        let mut last_cp_at = Instant::now();
        // A log reopened after a crash may hold events no checkpoint signs yet.
        self.checkpoint_if_grown(&mut last_cp_at);
        loop {
            let idle = if self.dirty() {
                self.interval.saturating_sub(last_cp_at.elapsed())
            } else {
                Duration::from_secs(3600)
            };
            // Group commit's delay: when recent batches held more callers
            // than are queued now, the others are most likely just being woken
            // by their last ack; waiting a fraction of a commit for them
            // doubles the events per sync. A lone caller never waits (its
            // target is 1).
            match queue.take(idle, self.tuner.target(), self.tuner.max_wait()) {
                Taken::Timeout => self.checkpoint_if_grown(&mut last_cp_at),
                Taken::Closed => break,
                Taken::Batch(reqs) => {
                    self.handle_batch(reqs, &mut last_cp_at);
                    if last_cp_at.elapsed() >= self.interval {
                        self.checkpoint_if_grown(&mut last_cp_at);
                    }
                }
            }
        }
        self.checkpoint_if_grown(&mut last_cp_at);
        tracing::debug!(size = self.range.size(), "audit writer stopped");
    }

    fn dirty(&self) -> bool {
        self.last_checkpoint.as_ref().map(|c| c.size) != Some(self.range.size())
    }

    /// Commits one batch and answers its waiters.
    fn handle_batch(&mut self, reqs: Vec<Request>, last_cp_at: &mut Instant) {
        let mut batch = Batch::default();
        for req in reqs {
            batch.push(req);
        }
        if !batch.appends.is_empty() {
            let started = Instant::now();
            let requests = batch.appends.len();
            self.commit(std::mem::take(&mut batch.appends));
            let took = started.elapsed();
            self.tuner.record(requests, took);
            let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
            self.stats
                .commit_micros
                .fetch_add(micros, Ordering::Relaxed);
        }
        for reply in batch.checkpoints {
            reply.send(self.checkpoint_now(last_cp_at));
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
            reply.send(Ok(mine));
        }
    }

    fn failed(&mut self, appends: Vec<(Vec<Vec<u8>>, AppendReply)>, e: StoreError) {
        self.stats.failed_commits.fetch_add(1, Ordering::Relaxed);
        tracing::error!(error = %e, "audit batch could not be committed; refusing the operations");
        for (_, reply) in appends {
            reply.send(Err(AuditError::NotDurable(e.clone())));
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
