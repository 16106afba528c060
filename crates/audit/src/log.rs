//! [`AuditLog`]: the handle the control plane and proxy hold.
//!
//! Cheap to clone, `Send + Sync`. Appends go through the group-commit writer
//! thread and return only once durable; reads go straight to the store on
//! the caller's thread (the `_blocking` methods) or on tokio's blocking pool
//! (the async ones).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;
use time::OffsetDateTime;
use tokio::sync::oneshot;

use crate::checkpoint::{Checkpoint, NoteSigner, NoteVerifier};
use crate::error::AuditError;
use crate::event::{AuditEvent, Searchable, parse_event_id};
use crate::file::FileStore;
use crate::merkle::CompactRange;
use crate::query::Query;
use crate::store::{AuditStore, Row, StoredCheckpoint};
use crate::validate::MAX_EVENT_BYTES;
use crate::verify::{LogVerifier, VerifyReport};
use crate::writer::{
    AppendReceipt, Prepared, Reply, Request, Shared, SignedCheckpoint, Stats, Writer,
};

/// Tunables of [`AuditLog::open_with`].
#[derive(Debug, Clone)]
pub struct LogOptions {
    /// Longest time events may stay unsigned while the log is busy (1 s).
    pub checkpoint_interval: Duration,
}

impl Default for LogOptions {
    fn default() -> Self {
        Self {
            checkpoint_interval: Duration::from_secs(1),
        }
    }
}

/// A snapshot of the writer's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LogStats {
    /// Transactions that committed events (one fsync each).
    pub commits: u64,
    /// Of those, commits a lone caller made on its own thread (no
    /// concurrent caller seen for a while), without the writer thread.
    #[serde(default)]
    pub inline_commits: u64,
    /// Events committed.
    pub events: u64,
    /// Checkpoints written.
    pub checkpoints: u64,
    /// Time spent in commits (write + sync), microseconds; divided by
    /// `commits` it is the commit latency every waiter pays.
    pub commit_micros: u64,
    /// Batches refused by the store.
    pub failed_commits: u64,
    /// Entries in the log.
    pub size: u64,
}

/// The audit log handle.
#[derive(Clone, Debug)]
pub struct AuditLog {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    pub(crate) store: Arc<dyn AuditStore>,
    pub(crate) verifier: NoteVerifier,
    origin: String,
    stats: Arc<Stats>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("origin", &self.origin)
            .field("size", &self.stats.size.load(Ordering::Relaxed))
            .finish()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the queue makes the writer finish it, write a final
        // checkpoint and exit; wait for it so shutdown leaves a signed log.
        self.shared.queue.close();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl AuditLog {
    /// Opens the file log in directory `path` (created if missing), checks
    /// it against its latest signed checkpoint, and starts the writer.
    pub fn open(path: &Path, signer: NoteSigner, origin: &str) -> Result<Self, AuditError> {
        let store = Arc::new(FileStore::open(path)?);
        Self::open_with(store, signer, origin, LogOptions::default())
    }

    /// Opens a log over any [`AuditStore`].
    pub fn open_with(
        store: Arc<dyn AuditStore>,
        signer: NoteSigner,
        origin: &str,
        options: LogOptions,
    ) -> Result<Self, AuditError> {
        let verifier = signer.verifier();
        let (range, last) = recover(store.as_ref(), &verifier, origin)?;
        let stats = Arc::new(Stats::default());
        stats.size.store(range.size(), Ordering::Release);
        tracing::info!(size = range.size(), origin, "audit log opened");
        let writer = Writer {
            store: store.clone(),
            signer,
            origin: origin.to_owned(),
            range,
            last_checkpoint: last,
            last_checkpoint_at: Instant::now(),
            interval: options.checkpoint_interval,
            stats: stats.clone(),
            tuner: Default::default(),
            appending: Default::default(),
        };
        let shared = Arc::new(Shared::new(writer));
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("audit-writer".into())
                .spawn(move || shared.run())?
        };
        Ok(Self {
            inner: Arc::new(Inner {
                shared,
                thread: Some(thread),
                store,
                verifier,
                origin: origin.to_owned(),
                stats,
            }),
        })
    }

    /// The key that verifies this log's checkpoints (publish it).
    pub fn verifier(&self) -> &NoteVerifier {
        &self.inner.verifier
    }

    /// The log's origin line.
    pub fn origin(&self) -> &str {
        &self.inner.origin
    }

    /// The storage behind the log.
    pub fn store(&self) -> &Arc<dyn AuditStore> {
        &self.inner.store
    }

    /// The writer's counters.
    pub fn stats(&self) -> LogStats {
        let s = &self.inner.stats;
        LogStats {
            commits: s.commits.load(Ordering::Relaxed),
            inline_commits: s.inline_commits.load(Ordering::Relaxed),
            events: s.events.load(Ordering::Relaxed),
            checkpoints: s.checkpoints.load(Ordering::Relaxed),
            commit_micros: s.commit_micros.load(Ordering::Relaxed),
            failed_commits: s.failed_commits.load(Ordering::Relaxed),
            size: s.size.load(Ordering::Acquire),
        }
    }

    /// Validates and appends one event; resolves once it is durable.
    /// On error the operation that needed the event must be refused.
    pub async fn append(&self, event: AuditEvent) -> Result<AppendReceipt, AuditError> {
        first(self.append_many(vec![event]).await)
    }

    /// [`AuditLog::append`] for threads outside an async runtime.
    pub fn append_blocking(&self, event: AuditEvent) -> Result<AppendReceipt, AuditError> {
        first(self.append_many_blocking(vec![event]))
    }

    /// [`AuditLog::append`] with the event's details given apart, as any
    /// serializable struct (its fields in the order they should appear):
    /// for emitters of many events, which then build no map of JSON values
    /// per event. The event itself must hold no details, and `details` must
    /// serialize as a JSON object with at least one field. What is stored is what `append` would
    /// store for the event holding the same details as a map, keys in the
    /// struct's order. (serde_json keeps a map's insertion order when any
    /// crate in the build asks for it, as Cedar does, and sorts it
    /// otherwise: a struct whose fields come in the order of their names
    /// encodes the same either way.)
    pub async fn append_with<D: Serialize + ?Sized>(
        &self,
        event: AuditEvent,
        details: &D,
    ) -> Result<AppendReceipt, AuditError> {
        let prepared = vec![prepare(&event, event.encode_tail_with(details)?)?];
        first(self.append_prepared(prepared).await)
    }

    /// Appends several events atomically (all durable, or none), in order.
    pub async fn append_many(
        &self,
        events: Vec<AuditEvent>,
    ) -> Result<Vec<AppendReceipt>, AuditError> {
        self.append_prepared(encode(&events)?).await
    }

    async fn append_prepared(
        &self,
        mut prepared: Vec<Prepared>,
    ) -> Result<Vec<AppendReceipt>, AuditError> {
        // A lone caller's commit blocks this worker thread for one sync
        // (~0.13 ms here); the hand-off to the writer thread it replaces
        // costs as much again in wake-ups. Concurrent callers never take
        // this path, so a busy runtime does not block on the disk. That
        // needs a second worker: on a runtime with one, the tasks waiting
        // behind an inline commit never append during it, so every append
        // would look alone and the runtime would run one sync at a time.
        if runtime_has_other_workers() {
            prepared = match self.inner.shared.try_inline(prepared) {
                Ok(done) => return done,
                Err(prepared) => prepared,
            };
        }
        let (reply, rx) = oneshot::channel();
        self.send(Request::Append {
            prepared,
            reply: Reply::Async(reply),
        })?;
        rx.await.map_err(|_| AuditError::Closed)?
    }

    /// [`AuditLog::append_many`] for threads outside an async runtime.
    pub fn append_many_blocking(
        &self,
        events: Vec<AuditEvent>,
    ) -> Result<Vec<AppendReceipt>, AuditError> {
        let prepared = match self.inner.shared.try_inline(encode(&events)?) {
            Ok(done) => return done,
            Err(prepared) => prepared,
        };
        let (reply, rx) = std::sync::mpsc::sync_channel(1);
        self.send(Request::Append {
            prepared,
            reply: Reply::Blocking(reply),
        })?;
        self.inner.shared.wait(&rx).ok_or(AuditError::Closed)?
    }

    fn send(&self, req: Request) -> Result<(), AuditError> {
        self.inner.shared.queue.push(req)
    }

    /// Signs a checkpoint over everything appended so far (if anything was
    /// appended since the last one) and returns the latest checkpoint.
    pub async fn checkpoint_now(&self) -> Result<SignedCheckpoint, AuditError> {
        let (reply, rx) = oneshot::channel();
        self.send(Request::Checkpoint {
            reply: Reply::Async(reply),
        })?;
        rx.await.map_err(|_| AuditError::Closed)?
    }

    /// [`AuditLog::checkpoint_now`] for threads outside an async runtime.
    pub fn checkpoint_now_blocking(&self) -> Result<SignedCheckpoint, AuditError> {
        let (reply, rx) = std::sync::mpsc::sync_channel(1);
        self.send(Request::Checkpoint {
            reply: Reply::Blocking(reply),
        })?;
        rx.recv().map_err(|_| AuditError::Closed)?
    }

    /// Writes out and closes the search index, as on shutdown (blocking: up
    /// to one index write). Appends and searches go on working; searches
    /// then read the log past what was indexed.
    pub fn close_search_index_blocking(&self) {
        self.inner.store.close_derived();
    }

    /// Events matching `query` (see [`crate::query::QueryParams`] to parse
    /// user input). Blocking.
    pub fn search_blocking(&self, query: &Query) -> Result<Vec<AuditEvent>, AuditError> {
        query.validate()?;
        let rows = self.inner.store.search(query)?;
        let mut events = Vec::with_capacity(rows.len());
        for row in rows {
            let ev = decode(&row.body)?;
            // The store's index is only a hint: what it found must match.
            if ev.seq == row.seq && query.matches(&ev) {
                events.push(ev);
            }
        }
        Ok(events)
    }

    /// Events after `after_seq` (all from the start when None), oldest
    /// first: `audit tail -f` polls this with the last seq it printed.
    pub fn tail_blocking(
        &self,
        after_seq: Option<u64>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, AuditError> {
        self.search_blocking(&Query::tail(after_seq, limit))
    }

    /// The event with this id (`ev-42` or `42`).
    pub fn get_blocking(&self, id: &str) -> Result<AuditEvent, AuditError> {
        let not_found = || AuditError::NotFound(id.chars().take(40).collect());
        let seq = parse_event_id(id).ok_or_else(not_found)?;
        let entry = self.inner.store.get(seq)?.ok_or_else(not_found)?;
        decode(&entry.body)
    }

    /// Verifies the log through this handle, with the same checks as
    /// [`crate::verify_store`]: signs a checkpoint first, then verifies every
    /// entry it covers (events appended meanwhile wait for the next run).
    pub fn verify_blocking(&self) -> Result<VerifyReport, AuditError> {
        let cp = self.checkpoint_now_blocking()?;
        verify_with_store(
            self.inner.store.as_ref(),
            &self.inner.verifier,
            Some(cp.size),
            &[],
        )
    }

    /// Async [`AuditLog::search_blocking`].
    pub async fn search(&self, query: Query) -> Result<Vec<AuditEvent>, AuditError> {
        self.blocking(move |log| log.search_blocking(&query)).await
    }

    /// Async [`AuditLog::tail_blocking`].
    pub async fn tail(
        &self,
        after: Option<u64>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, AuditError> {
        self.blocking(move |log| log.tail_blocking(after, limit))
            .await
    }

    /// Async [`AuditLog::get_blocking`].
    pub async fn get(&self, id: String) -> Result<AuditEvent, AuditError> {
        self.blocking(move |log| log.get_blocking(&id)).await
    }

    /// Async [`AuditLog::verify_blocking`].
    pub async fn verify(&self) -> Result<VerifyReport, AuditError> {
        self.blocking(|log| log.verify_blocking()).await
    }

    /// Async [`AuditLog::prove_blocking`].
    pub async fn prove(
        &self,
        id: String,
    ) -> Result<crate::proof::InclusionProofBundle, AuditError> {
        // Signing a checkpoint may be needed first; do it without blocking.
        let seq = parse_event_id(&id).ok_or_else(|| AuditError::NotFound(id.clone()))?;
        if self.stats().size > seq && self.inner.store.checkpoint_covering(seq)?.is_none() {
            self.checkpoint_now().await?;
        }
        self.blocking(move |log| log.prove_blocking(&id)).await
    }

    /// Runs a blocking read on tokio's blocking pool.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(AuditLog) -> Result<T, AuditError> + Send + 'static,
    ) -> Result<T, AuditError> {
        let log = self.clone();
        tokio::task::spawn_blocking(move || f(log))
            .await
            .map_err(|_| AuditError::Closed)?
    }

    /// Writes every event at or after `since` as JSON lines (the canonical
    /// bytes, one per line). Returns the number written.
    pub fn export_jsonl(
        &self,
        out: &mut dyn std::io::Write,
        since: Option<OffsetDateTime>,
    ) -> Result<u64, AuditError> {
        crate::export::export(
            self.inner.store.as_ref(),
            out,
            since,
            crate::export::Format::JsonLines,
        )
    }

    /// Writes every event at or after `since` as OCSF JSON lines.
    pub fn export_ocsf(
        &self,
        out: &mut dyn std::io::Write,
        since: Option<OffsetDateTime>,
    ) -> Result<u64, AuditError> {
        crate::export::export(
            self.inner.store.as_ref(),
            out,
            since,
            crate::export::Format::Ocsf,
        )
    }
}

fn decode(body: &[u8]) -> Result<AuditEvent, AuditError> {
    Ok(AuditEvent::decode(body)?)
}

/// Validates and encodes on the caller's thread, so that the single writer
/// only splices, hashes and writes.
fn encode(events: &[AuditEvent]) -> Result<Vec<Prepared>, AuditError> {
    events
        .iter()
        .map(|ev| prepare(ev, ev.encode_tail()))
        .collect()
}

/// `ev`, validated, with its encoded `tail`.
fn prepare(ev: &AuditEvent, tail: Vec<u8>) -> Result<Prepared, AuditError> {
    ev.validate()?;
    if tail.len() > MAX_EVENT_BYTES {
        return Err(AuditError::TooLarge(tail.len()));
    }
    Ok(Prepared {
        tail,
        searchable: Searchable::of(ev),
    })
}

/// Whether the current tokio runtime has more than one worker thread.
fn runtime_has_other_workers() -> bool {
    tokio::runtime::Handle::try_current().is_ok_and(|h| h.metrics().num_workers() > 1)
}

fn first(r: Result<Vec<AppendReceipt>, AuditError>) -> Result<AppendReceipt, AuditError> {
    r?.into_iter().next().ok_or(AuditError::Closed)
}

/// Runs the full verification against any store: its own checkpoints plus
/// `known` ones (notes a reviewer kept), over the entries below `limit`.
pub(crate) fn verify_with_store(
    store: &dyn AuditStore,
    verifier: &NoteVerifier,
    limit: Option<u64>,
    known: &[String],
) -> Result<VerifyReport, AuditError> {
    let mut checkpoints = store.checkpoints()?;
    for note in known {
        let size = Checkpoint::open(note, verifier)?.size;
        checkpoints.push(StoredCheckpoint {
            size,
            note: note.clone(),
        });
    }
    let limit = limit.unwrap_or(u64::MAX);
    checkpoints.retain(|c| c.size <= limit);
    let mut v = LogVerifier::new(verifier, checkpoints);
    let mut seen = 0u64;
    store.scan(0, &mut |row| {
        if matches!(row, Row::Entry { .. }) {
            if seen >= limit {
                return false;
            }
            seen += 1;
        }
        v.row(row)
    })?;
    Ok(v.finish())
}

/// Rebuilds the frontier from the stored leaf hashes and checks it against
/// the latest signed checkpoint. Bodies are not rehashed here (that is
/// `verify`'s job); this catches a log truncated, rewritten or swapped while
/// the server was down, before anything is appended on top of it.
fn recover(
    store: &dyn AuditStore,
    verifier: &NoteVerifier,
    origin: &str,
) -> Result<(CompactRange, Option<SignedCheckpoint>), AuditError> {
    let latest: Option<StoredCheckpoint> = store.checkpoints()?.pop();
    let n = store.size()?;
    let mut range = CompactRange::new();
    let mut root_at_cp = None;
    let mut gap = None;
    let cp_size = latest.as_ref().map(|c| c.size);
    if cp_size == Some(0) {
        root_at_cp = Some(range.root());
    }
    store.scan_leaves(0, n, &mut |seq, leaf| {
        let Ok(h) = <[u8; 32]>::try_from(leaf) else {
            gap = Some(seq);
            return false;
        };
        if seq != range.size() {
            gap = Some(range.size());
            return false;
        }
        range.append(h);
        if Some(range.size()) == cp_size {
            root_at_cp = Some(range.root());
        }
        true
    })?;
    if let Some(at) = gap {
        return Err(AuditError::Damaged(format!(
            "entry {at} is missing or malformed"
        )));
    }
    if range.size() != n {
        return Err(AuditError::Damaged(format!(
            "entry {} is missing or unreadable",
            range.size()
        )));
    }
    let Some(cp) = latest else {
        return Ok((range, None));
    };
    let parsed = Checkpoint::open(&cp.note, verifier)
        .map_err(|e| AuditError::Damaged(format!("latest checkpoint: {e}")))?;
    if parsed.origin != origin {
        return Err(AuditError::Damaged(format!(
            "the log's checkpoints name origin {:?}, not {origin:?}",
            parsed.origin
        )));
    }
    match root_at_cp {
        None => Err(AuditError::Damaged(format!(
            "the latest checkpoint covers {} entries but the log holds {n}",
            cp.size
        ))),
        Some(root) if root != parsed.root || parsed.size != cp.size => {
            Err(AuditError::Damaged(format!(
                "the root at size {} differs from its signed checkpoint",
                cp.size
            )))
        }
        Some(_) => Ok((
            range,
            Some(SignedCheckpoint {
                size: cp.size,
                note: cp.note,
            }),
        )),
    }
}
