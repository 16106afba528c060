//! The writer: group commit and checkpointing.
//!
//! Callers send prepared events over a channel and wait. The writer thread
//! takes everything queued, assigns consecutive seqs, writes the whole batch
//! in one transaction (one fsync), and only then answers every waiter:
//! concurrent writers share the sync, and nobody is told "done" before the
//! disk says so. The in-memory frontier advances only after a successful
//! commit, so a failed batch leaves neither rows nor hashes behind.
//!
//! A lone caller commits on its own thread instead ([`Shared::try_inline`]):
//! when nobody else has appended concurrently for a while, handing the event
//! to the writer thread and back costs two thread wake-ups, which in a VM
//! cost about as much as the sync itself. The writer's state sits behind one
//! mutex, so the thread and an inline caller never commit at the same time.
//!
//! For the same reason, when the callers are threads neither side sleeps
//! through a group commit: the writer yields while a group gathers, and the
//! callers yield while they wait for their acknowledgement
//! ([`Shared::wait`]). Both waits are bounded by a commit or two, and
//! yielding gives the CPU to any thread that has work, so only otherwise
//! idle time is spent. Async callers' runtime workers need that CPU, so for
//! them the writer sleeps as before.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::oneshot;

use crate::checkpoint::{Checkpoint, NoteSigner};
use crate::error::{AuditError, StoreError};
use crate::event::{Searchable, event_id, splice};
use crate::merkle::{CompactRange, Hash, leaf_hash};
use crate::queue::{Gather, Queue, Taken};
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
    /// Of those, the ones a lone caller committed on its own thread.
    pub inline_commits: AtomicU64,
    /// Events committed.
    pub events: AtomicU64,
    /// Checkpoints written.
    pub checkpoints: AtomicU64,
    /// Time spent committing (write + sync), in microseconds.
    pub commit_micros: AtomicU64,
    /// A typical commit of late (moving average), in microseconds.
    pub recent_commit_micros: AtomicU64,
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

/// What an append of several events returns.
pub(crate) type AppendResult = Result<Vec<AppendReceipt>, AuditError>;
type AppendReply = Reply<AppendResult>;
type CheckpointReply = Reply<Result<SignedCheckpoint, AuditError>>;

/// An event ready to append: its encoded tail (see
/// `AuditEvent::encode_tail`) and its search fields.
pub(crate) struct Prepared {
    pub tail: Vec<u8>,
    pub searchable: Searchable,
}

/// A request to the writer.
pub(crate) enum Request {
    /// Append prepared events.
    Append {
        prepared: Vec<Prepared>,
        reply: AppendReply,
    },
    /// Write a checkpoint now (if the tree grew) and return the latest.
    Checkpoint { reply: CheckpointReply },
}

/// The requests taken for one commit.
#[derive(Default)]
struct Batch {
    appends: Vec<(Vec<Prepared>, AppendReply)>,
    checkpoints: Vec<CheckpointReply>,
}

impl Batch {
    fn push(&mut self, req: Request) {
        match req {
            Request::Append { prepared, reply } => self.appends.push((prepared, reply)),
            Request::Checkpoint { reply } => self.checkpoints.push(reply),
        }
    }
}

/// Remembers recent batch sizes and commit times to size the group-commit wait.
#[derive(Debug)]
pub(crate) struct Tuner {
    recent: std::collections::VecDeque<usize>,
    commit_time: Duration,
    /// Whether the last batch held a blocked thread's append.
    threads: bool,
}

impl Default for Tuner {
    fn default() -> Self {
        Self {
            recent: std::collections::VecDeque::with_capacity(TUNER_WINDOW),
            commit_time: Duration::ZERO,
            threads: false,
        }
    }
}

/// Commits remembered by the tuner: a caller that stops appending stops
/// being waited for after this many commits.
const TUNER_WINDOW: usize = 64;
/// The most a single commit weighs in the moving average of commit time,
/// in typical commits.
const OUTLIER_COMMITS: u32 = 4;
/// The longest group-commit wait, whatever the disk.
const MAX_COMMIT_DELAY: Duration = Duration::from_millis(1);

impl Tuner {
    /// How to gather the next batch: wait for as many callers as the most
    /// seen in one recent batch, for at most half a typical commit (waiting
    /// longer would cost more than it saves), yielding while the last batch's
    /// callers were threads (see [`Gather::yielding`]).
    fn gather(&self) -> Gather {
        Gather {
            target: self.recent.iter().copied().max().unwrap_or(1),
            wait: (self.commit_time / 2).min(MAX_COMMIT_DELAY),
            yielding: self.threads,
        }
    }

    fn record(&mut self, requests: usize, threads: bool, took: Duration) {
        self.threads = threads;
        if self.recent.len() == TUNER_WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(requests);
        // Exponential moving average, weight 1/8 on the newest commit. A
        // rare slow commit (one that also grows the segment: milliseconds)
        // counts as at most a few typical ones, so that one outlier does not
        // push the average past MAX_YIELDING_COMMIT_MICROS and send every
        // waiting caller to sleep for the commits after it.
        let took = match self.commit_time.is_zero() {
            true => took,
            false => took.min(self.commit_time * OUTLIER_COMMITS),
        };
        self.commit_time = (self.commit_time * 7 + took) / 8;
    }
}

/// The writer thread's time slice (the kernel's shortest). Every durable
/// append waits for this thread, and most of its time is spent asleep in
/// `fdatasync`; with the default slice (0.75 ms and up, more with more CPUs)
/// it wakes from the sync and then queues behind whichever thread has the
/// CPU, while every caller of the batch waits too. A short slice gives it an
/// early deadline, so it runs as soon as its sync returns; its share of the
/// CPU stays the same. Under a proxy load of 64 connections on two CPUs this
/// halved the time the CPUs sat idle waiting on the log and raised the
/// durable rate by about 9 % (docs/benchmarks.md, access proxy).
const WRITER_SLICE: Duration = Duration::from_micros(100);

/// Callers waiting on a disk whose commits take longer than this sleep
/// instead of yielding (see [`Shared::wait`]).
const MAX_YIELDING_COMMIT_MICROS: u64 = 500;

/// Whole microseconds, saturating.
fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Commits after the last one that saw concurrent callers before a caller
/// may commit inline again.
const INLINE_AFTER_QUIET_COMMITS: u64 = TUNER_WINDOW as u64;

/// The writer's state, behind the mutex the writer thread and inline
/// callers share.
pub(crate) struct Writer {
    pub store: Arc<dyn AuditStore>,
    pub signer: NoteSigner,
    pub origin: String,
    pub range: CompactRange,
    pub last_checkpoint: Option<SignedCheckpoint>,
    pub last_checkpoint_at: Instant,
    pub interval: Duration,
    pub stats: Arc<Stats>,
    pub tuner: Tuner,
    /// Set while a batch is being written and synced (not while its waiters
    /// are answered): a caller who finds the lock taken then has company.
    pub appending: Arc<AtomicBool>,
}

/// What the writer thread and inline callers share.
pub(crate) struct Shared {
    pub writer: Mutex<Writer>,
    pub queue: Queue,
    /// The writer's counters, readable without its lock.
    stats: Arc<Stats>,
    /// Inline commits are allowed once `stats.commits` reaches this: any
    /// sign of a concurrent caller pushes it [`INLINE_AFTER_QUIET_COMMITS`]
    /// ahead, so concurrent callers go back to sharing syncs.
    inline_from: AtomicU64,
    /// [`Writer::appending`], readable without the lock.
    appending: Arc<AtomicBool>,
}

impl Shared {
    pub fn new(writer: Writer) -> Self {
        Self {
            stats: writer.stats.clone(),
            appending: writer.appending.clone(),
            writer: Mutex::new(writer),
            queue: Queue::default(),
            inline_from: AtomicU64::new(0),
        }
    }

    /// The writer's state; `None` once a panic mid-commit poisoned it (its
    /// frontier may then disagree with the store, so nothing more is
    /// written: the log fails closed).
    fn lock(&self) -> Option<MutexGuard<'_, Writer>> {
        self.writer.lock().ok()
    }

    /// Refuses everything queued and everything after: every waiter gets
    /// [`AuditError::Closed`].
    fn fail_closed(&self) {
        tracing::error!("the audit writer's state is poisoned; refusing every append");
        self.queue.close();
        while let Taken::Batch(reqs) = self.queue.take(Duration::ZERO, Gather::NONE) {
            drop(reqs);
        }
    }

    /// Runs the writer thread until the queue is closed and empty, then
    /// writes a final checkpoint.
    pub fn run(&self) {
        if let Err(e) = airlock_sys::sched::set_current_thread_slice(WRITER_SLICE) {
            tracing::debug!(error = %e, "cannot shorten the audit writer's time slice");
        }
        if self.serve().is_none() {
            self.fail_closed();
        }
    }

    /// The writer thread's loop; `None` when the state was poisoned.
    fn serve(&self) -> Option<()> {
        // A log reopened after a crash may hold events no checkpoint signs yet.
        self.lock()?.checkpoint_if_grown();
        loop {
            let (idle, gather) = {
                let w = self.lock()?;
                // Inline commits may dirty the log while this thread sleeps,
                // so it never sleeps past one checkpoint interval.
                let idle = if w.dirty() {
                    w.interval.saturating_sub(w.last_checkpoint_at.elapsed())
                } else {
                    w.interval
                };
                (idle, w.tuner.gather())
            };
            // Group commit's delay: when recent batches held more callers
            // than are queued now, the others are most likely just being woken
            // by their last ack; waiting a fraction of a commit for them
            // doubles the events per sync. A lone caller never waits (its
            // target is 1).
            match self.queue.take(idle, gather) {
                Taken::Timeout => self.lock()?.checkpoint_if_grown(),
                Taken::Closed => break,
                Taken::Batch(reqs) => {
                    if count_appends(&reqs) > 1 {
                        self.saw_concurrency();
                    }
                    self.lock()?.handle_batch(reqs);
                }
            }
        }
        let mut w = self.lock()?;
        w.checkpoint_if_grown();
        tracing::debug!(size = w.range.size(), "audit writer stopped");
        Some(())
    }

    /// Commits `prepared` on the caller's thread when it is alone: nothing
    /// queued, no commit running, and no concurrent caller seen for a while.
    /// Gives `prepared` back when the caller should queue them instead.
    pub fn try_inline(&self, prepared: Vec<Prepared>) -> Result<AppendResult, Vec<Prepared>> {
        if self.commits() < self.inline_from.load(Ordering::Relaxed) {
            return Err(prepared);
        }
        let mut w = match self.writer.try_lock() {
            Ok(w) => w,
            // Held while a batch is written and synced: someone else is
            // appending, so share their next sync instead.
            Err(TryLockError::WouldBlock) if self.appending.load(Ordering::Relaxed) => {
                self.saw_concurrency();
                return Err(prepared);
            }
            // Held for a checkpoint or for answering waiters (this caller's
            // own previous append, often): no company, wait for it.
            Err(TryLockError::WouldBlock) => match self.writer.lock() {
                Ok(w) => w,
                Err(_) => return Err(prepared),
            },
            Err(TryLockError::Poisoned(_)) => return Err(prepared),
        };
        if !self.queue.is_empty() {
            drop(w);
            self.saw_concurrency();
            return Err(prepared);
        }
        let (reply, rx) = std::sync::mpsc::sync_channel(1);
        w.handle_batch(vec![Request::Append {
            prepared,
            reply: Reply::Blocking(reply),
        }]);
        drop(w);
        let result = rx.try_recv().unwrap_or(Err(AuditError::Closed));
        if result.is_ok() {
            self.stats.inline_commits.fetch_add(1, Ordering::Relaxed);
        }
        Ok(result)
    }

    /// Waits for a blocking caller's answer. The caller yields the CPU
    /// instead of sleeping for about two commits (its event may go into the
    /// one after the commit in flight): in a VM, waking a sleeping thread
    /// costs a good part of a sync, and a batch's callers would pay it one
    /// after the other. Where syncs are slow, a wake-up is cheap beside them,
    /// and the caller sleeps at once.
    pub fn wait<T>(&self, rx: &std::sync::mpsc::Receiver<T>) -> Option<T> {
        let commit = self.stats.recent_commit_micros.load(Ordering::Relaxed);
        if commit <= MAX_YIELDING_COMMIT_MICROS {
            let until = Instant::now() + Duration::from_micros(2 * commit);
            loop {
                match rx.try_recv() {
                    Ok(answer) => return Some(answer),
                    Err(std::sync::mpsc::TryRecvError::Disconnected) => return None,
                    Err(std::sync::mpsc::TryRecvError::Empty) if Instant::now() < until => {
                        std::thread::yield_now();
                    }
                    Err(std::sync::mpsc::TryRecvError::Empty) => break,
                }
            }
        }
        rx.recv().ok()
    }

    fn commits(&self) -> u64 {
        self.stats.commits.load(Ordering::Relaxed)
    }

    fn saw_concurrency(&self) {
        let now = self.commits();
        self.inline_from
            .fetch_max(now + INLINE_AFTER_QUIET_COMMITS, Ordering::Relaxed);
    }
}

/// Append requests in a batch.
fn count_appends(reqs: &[Request]) -> usize {
    reqs.iter()
        .filter(|r| matches!(r, Request::Append { .. }))
        .count()
}

impl Writer {
    fn dirty(&self) -> bool {
        self.last_checkpoint.as_ref().map(|c| c.size) != Some(self.range.size())
    }

    /// Commits one batch and answers its waiters.
    fn handle_batch(&mut self, reqs: Vec<Request>) {
        let mut batch = Batch::default();
        for req in reqs {
            batch.push(req);
        }
        if !batch.appends.is_empty() {
            let started = Instant::now();
            let requests = batch.appends.len();
            let threads = batch
                .appends
                .iter()
                .any(|(_, reply)| matches!(reply, Reply::Blocking(_)));
            self.commit(std::mem::take(&mut batch.appends));
            let took = started.elapsed();
            self.tuner.record(requests, threads, took);
            self.stats
                .commit_micros
                .fetch_add(micros(took), Ordering::Relaxed);
            self.stats
                .recent_commit_micros
                .store(micros(self.tuner.commit_time), Ordering::Relaxed);
        }
        for reply in batch.checkpoints {
            reply.send(self.checkpoint_now());
        }
        if self.last_checkpoint_at.elapsed() >= self.interval {
            self.checkpoint_if_grown();
        }
    }

    fn commit(&mut self, appends: Vec<(Vec<Prepared>, AppendReply)>) {
        let mut seq = self.range.size();
        let mut entries = Vec::new();
        let mut waiters = Vec::with_capacity(appends.len());
        for (prepared, reply) in appends {
            waiters.push((prepared.len(), reply));
            for p in prepared {
                let body = splice(seq, &p.tail);
                let leaf = leaf_hash(&body);
                entries.push(NewEntry {
                    seq,
                    body,
                    leaf,
                    searchable: p.searchable,
                });
                seq += 1;
            }
        }
        self.appending.store(true, Ordering::Relaxed);
        let written = self.store.append(&entries);
        self.appending.store(false, Ordering::Relaxed);
        match written {
            Ok(()) => self.committed(waiters, &entries),
            Err(e) => self.failed(waiters, e),
        }
    }

    /// `waiters`: each caller's reply and how many of the entries are its.
    fn committed(&mut self, waiters: Vec<(usize, AppendReply)>, entries: &[NewEntry]) {
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
        for (n, reply) in waiters {
            let mine: Vec<AppendReceipt> = receipts.by_ref().take(n).collect();
            // A waiter that gave up (dropped its future) still has its event
            // durably logged; nothing to undo.
            reply.send(Ok(mine));
        }
    }

    fn failed(&mut self, waiters: Vec<(usize, AppendReply)>, e: StoreError) {
        self.stats.failed_commits.fetch_add(1, Ordering::Relaxed);
        tracing::error!(error = %e, "audit batch could not be committed; refusing the operations");
        for (_, reply) in waiters {
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

    fn checkpoint_if_grown(&mut self) {
        if self.dirty()
            && let Err(e) = self.write_checkpoint()
        {
            tracing::warn!(error = %e, "could not write an audit checkpoint; will retry");
        }
    }

    fn checkpoint_now(&mut self) -> Result<SignedCheckpoint, AuditError> {
        if self.dirty() {
            self.write_checkpoint()?;
        }
        self.last_checkpoint.clone().ok_or(AuditError::Closed)
    }

    fn write_checkpoint(&mut self) -> Result<(), AuditError> {
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
        self.last_checkpoint_at = Instant::now();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuned(commits: &[u64]) -> Tuner {
        let mut t = Tuner::default();
        for &us in commits {
            t.record(8, true, Duration::from_micros(us));
        }
        t
    }

    #[test]
    fn one_slow_commit_does_not_make_callers_sleep() {
        let mut commits = vec![100; 50];
        commits.push(5_000); // a commit that also grew the segment
        let t = tuned(&commits);
        assert!(micros(t.commit_time) <= MAX_YIELDING_COMMIT_MICROS, "{t:?}");
    }

    #[test]
    fn a_slow_disk_is_learned_within_a_few_commits() {
        let mut commits = vec![100; 50];
        commits.extend([5_000; 24]);
        let t = tuned(&commits);
        assert!(micros(t.commit_time) > MAX_YIELDING_COMMIT_MICROS, "{t:?}");
        // The first commit is taken whole, with nothing to compare it to.
        assert_eq!(micros(tuned(&[3_000]).commit_time), 3_000 / 8);
    }
}
