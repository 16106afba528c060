//! The file store: the log is a directory of append-only segment files, the
//! source of truth; search goes through a SQLite index derived from it.
//!
//! ```text
//! DIR/                   (e.g. DATA_DIR/audit)
//!   seg-00000000.log     records: seq, leaf hash, canonical body (format.rs)
//!   seg-00000001.log     the next segment, once one is full (128 MiB)
//!   checkpoints.log      signed checkpoints, appended
//!   index.db             derived search index (rebuilt when missing)
//!   lock                 held by the one process that writes
//! ```
//!
//! An append writes one batch after the durable tail and `fdatasync`s it
//! (see append.rs for why that sync is cheap); only then is it acknowledged.
//! A crash can leave a torn batch after the tail: its last record is missing
//! or fails its checksum, so on open the tail is found again (the end of the
//! last whole batch) and what follows is zeroed, unless a signed checkpoint
//! covers it, in which case the log is left as found for `verify` to report.
//! The index follows the log on a thread of its own; readers never wait for
//! the disk on its account and never trust it (see index.rs).

mod append;
mod checkpoints;
mod crc;
pub mod format;
mod index;
pub mod postings;
mod reader;
mod recent;
mod segments;
mod spans;
mod sql;
mod unsynced;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crate::error::StoreError;
use crate::file::append::{Appender, create_segment};
use crate::file::checkpoints::CheckpointFile;
use crate::file::format::{RECORD_HEADER_LEN, SEGMENT_HEADER_LEN, SegmentHeader};
use crate::file::index::{Index, Placed, View};
use crate::file::recent::{Fields, Filter, IndexRow};
use crate::file::segments::{Core, Found, Pos, Segment, find_end, list_segments};
use crate::query::{Order, Query};
use crate::store::{AuditStore, NewEntry, Row, RowVisitor, StoredCheckpoint, StoredEntry};

/// How long a search waits for the index to parse the newest records before
/// reading them from the log itself (slower: it decodes every one).
const INDEX_WAIT: Duration = Duration::from_secs(10);

/// Tunables of [`FileStore::open_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Size at which a segment is closed and the next one started.
    pub segment_bytes: u64,
    /// How far ahead of the tail a segment is written with zeros (at most an
    /// eighth of the free space).
    pub prewrite_bytes: u64,
    /// Appends are refused when less than this is free on the filesystem.
    pub min_free_bytes: u64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            segment_bytes: 128 << 20,
            prewrite_bytes: 8 << 20,
            min_free_bytes: 64 << 10,
        }
    }
}

/// The file implementation of [`AuditStore`].
#[derive(Debug)]
pub struct FileStore {
    core: Arc<Core>,
    appender: Mutex<Option<Appender>>,
    checkpoints: Mutex<CheckpointFile>,
    index: Option<Index>,
    /// Held for the store's lifetime by the one process that writes it.
    _lock: Option<File>,
}

/// Maps an IO error on `path` to a [`StoreError`] the user can act on.
pub(crate) fn io_error<'a>(
    what: &'a str,
    path: &'a Path,
) -> impl Fn(std::io::Error) -> StoreError + 'a {
    move |e| match e.kind() {
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => StoreError::Full,
        std::io::ErrorKind::ReadOnlyFilesystem | std::io::ErrorKind::PermissionDenied => {
            StoreError::ReadOnly
        }
        _ => StoreError::Other(format!("{what} {}: {e}", path.display())),
    }
}

/// Makes the directory entries in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error("cannot sync", dir))
}

impl FileStore {
    /// Opens (creating if needed) the log in directory `dir` for writing.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with(dir, Options::default())
    }

    /// [`FileStore::open`] with tunables. Only one process may write a log
    /// (two would hand out the same seqs), so this takes an exclusive lock
    /// on `DIR/lock` first.
    pub fn open_with(dir: &Path, options: Options) -> Result<Self, StoreError> {
        if !dir.is_dir() {
            std::fs::create_dir_all(dir).map_err(io_error("cannot create", dir))?;
            // The directory entry must survive a crash as well as its files.
            let parent = dir.parent().filter(|p| !p.as_os_str().is_empty());
            sync_dir(parent.unwrap_or(Path::new(".")))?;
        }
        let lock = lock_writer(dir)?;
        remove_temporary_files(dir)?;
        let checkpoints = CheckpointFile::open(dir)?;
        let mut segments = list_segments(dir, true)?;
        if segments.is_empty() {
            let header = SegmentHeader {
                log_id: new_log_id()?,
                number: 0,
                first_seq: 0,
            };
            let seg = create_segment(dir, &header)?;
            segments.push(Arc::into_inner(seg).expect("just created"));
        }
        if let Some(bad) = segments.iter().find(|s| s.header.is_err()) {
            let why = bad.header.as_ref().err().cloned().unwrap_or_default();
            return Err(StoreError::Corrupt(format!(
                "{}: {why}",
                bad.path.display()
            )));
        }
        let last = segments.last().expect("at least one");
        let end = find_end(last)?;
        let size = last.first_seq() + end.records;
        let signed = checkpoints.latest_size().unwrap_or(0);
        if end.torn && signed <= size {
            cut_torn_tail(last, end.end)?;
        }
        let log_id = last.header.as_ref().expect("checked").log_id;
        let tail = Pos {
            seg: segments.len() - 1,
            offset: end.end,
            index: size,
        };
        let segments: Vec<Arc<Segment>> = segments.into_iter().map(Arc::new).collect();
        let appender = Appender::new(options, log_id, segments[tail.seg].clone(), tail)?;
        let core = Arc::new(Core {
            dir: dir.to_owned(),
            segments: RwLock::new(segments),
            tail: Mutex::new(tail),
        });
        let index = Index::open(core.clone(), log_id)
            .inspect_err(
                |e| tracing::warn!(error = %e, "no audit search index; searches read the log"),
            )
            .ok();
        Ok(Self {
            core,
            appender: Mutex::new(Some(appender)),
            checkpoints: Mutex::new(checkpoints),
            index,
            _lock: Some(lock),
        })
    }

    /// Opens an existing log for reading only (offline verification): never
    /// creates or changes a file, and ignores a torn tail instead of cutting it.
    pub fn open_read_only(dir: &Path) -> Result<Self, StoreError> {
        if !dir.is_dir() {
            return Err(StoreError::Missing(dir.display().to_string()));
        }
        let segments = list_segments(dir, false)?;
        let checkpoints = CheckpointFile::open_read_only(dir)?;
        if segments.is_empty() && checkpoints.latest_size().is_none() {
            return Err(StoreError::Missing(format!(
                "{} (no audit log segments)",
                dir.display()
            )));
        }
        let tail = match segments.last() {
            Some(last) if last.header.is_ok() => {
                let end = find_end(last)?;
                Pos {
                    seg: segments.len() - 1,
                    offset: end.end,
                    index: last.first_seq() + end.records,
                }
            }
            Some(_) => Pos {
                seg: segments.len() - 1,
                ..Pos::START
            },
            None => Pos::START,
        };
        Ok(Self {
            core: Arc::new(Core {
                dir: dir.to_owned(),
                segments: RwLock::new(segments.into_iter().map(Arc::new).collect()),
                tail: Mutex::new(tail),
            }),
            appender: Mutex::new(None),
            checkpoints: Mutex::new(checkpoints),
            index: None,
            _lock: None,
        })
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.core.dir
    }

    /// Entries from `from` on (not parsed by the index yet) that match
    /// `q`, in log order, read from the log itself.
    fn scan_unindexed(&self, from: Pos, q: &Query) -> Result<Vec<StoredEntry>, StoreError> {
        let filter = Filter::new(q);
        let mut found = Vec::new();
        self.core.scan(from, false, &mut |at, item| {
            if let Found::Record(r) = item
                && filter.matches(&IndexRow::new(at.index, 0, at.offset, r.body))
            {
                found.push(StoredEntry {
                    seq: at.index,
                    body: r.body.to_vec(),
                });
            }
            true
        })?;
        Ok(found)
    }

    /// Index hits `(seq, segment, offset)` among the rows in memory and then
    /// in SQLite, in the query's order, at most `limit`.
    fn index_hits(
        &self,
        view: &View,
        q: &Query,
        limit: usize,
    ) -> Result<Vec<(u64, u64, u64)>, StoreError> {
        let filter = Filter::new(q);
        let recent = view
            .recent
            .iter()
            .flat_map(|c| c.matching(&filter))
            .map(|r| (r.seq, r.seg, r.off));
        let sql = |n: usize| match (&self.index, n) {
            (Some(index), 1..) => index.search(q, view.flushed, n),
            _ => Ok(Vec::new()),
        };
        let mut hits: Vec<(u64, u64, u64)>;
        match q.order {
            Order::NewestFirst => {
                hits = recent.collect();
                hits.reverse();
                hits.truncate(limit);
                hits.extend(sql(limit - hits.len())?);
            }
            Order::OldestFirst => {
                hits = sql(limit)?;
                hits.extend(recent.take(limit - hits.len()));
            }
        }
        Ok(hits)
    }

    /// Reads back the rows the index found; rows that do not match the log
    /// are dropped (the index is only a hint).
    fn read_hits(&self, hits: Vec<(u64, u64, u64)>) -> Result<Vec<StoredEntry>, StoreError> {
        let mut out = Vec::with_capacity(hits.len());
        for (seq, seg, off) in hits {
            match self.core.read_one(seg, off, seq)? {
                Some(body) => out.push(StoredEntry { seq, body }),
                None => tracing::warn!(seq, "audit index row does not match the log; skipped"),
            }
        }
        Ok(out)
    }
}

/// Takes the writer lock of the log in `dir`; the OS releases it when the
/// process ends, however it ends.
fn lock_writer(dir: &Path) -> Result<File, StoreError> {
    let path = dir.join("lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_error("cannot open", &path))?;
    file.try_lock().map_err(|_| {
        StoreError::Other(format!(
            "{} is already open for writing by another process (is another server running on this data directory?)",
            dir.display()
        ))
    })?;
    Ok(file)
}

/// Removes segment files left half-created by a crash.
fn remove_temporary_files(dir: &Path) -> Result<(), StoreError> {
    for entry in std::fs::read_dir(dir).map_err(io_error("cannot list", dir))? {
        let path = entry.map_err(io_error("cannot list", dir))?.path();
        if path.extension().is_some_and(|e| e == "tmp") {
            std::fs::remove_file(&path).map_err(io_error("cannot remove", &path))?;
        }
    }
    Ok(())
}

/// Zeroes what follows the last whole batch of the last segment.
fn cut_torn_tail(seg: &Segment, end: u64) -> Result<(), StoreError> {
    use std::os::unix::fs::FileExt;
    let io = io_error("cannot repair", &seg.path);
    let len = seg.file.metadata().map_err(&io)?.len();
    tracing::warn!(
        path = %seg.path.display(),
        bytes = len - end,
        "discarding a torn audit batch (written, never acknowledged)"
    );
    let zeros = vec![0u8; (len - end).min(1 << 20) as usize];
    let mut at = end;
    while at < len {
        let n = (len - at).min(zeros.len() as u64) as usize;
        seg.file.write_all_at(&zeros[..n], at).map_err(&io)?;
        at += n as u64;
    }
    seg.file.sync_data().map_err(&io)
}

fn new_log_id() -> Result<[u8; 16], StoreError> {
    use ring::rand::SecureRandom;
    let mut id = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut id)
        .map_err(|_| StoreError::Other("no randomness for a log id".into()))?;
    Ok(id)
}

#[cfg(test)]
impl FileStore {
    pub(crate) fn index_for_tests(&self) -> &Index {
        self.index.as_ref().expect("an index")
    }
}

impl AuditStore for FileStore {
    fn append(&self, entries: &[NewEntry]) -> Result<(), StoreError> {
        let mut guard = self.appender.lock().expect("appender lock");
        let appender = guard.as_mut().ok_or(StoreError::ReadOnly)?;
        let (seg, mut off) = appender.append(&self.core, entries)?;
        if let Some(index) = &self.index {
            // Handed over in commit order (this lock), so that the indexer
            // need not read them back from the log; it builds the rows.
            let placed = entries.iter().map(|e| {
                let at = Placed {
                    seq: e.seq,
                    seg,
                    off,
                    searchable: e.searchable.clone(),
                };
                off += (RECORD_HEADER_LEN + e.body.len()) as u64;
                at
            });
            index.offer(placed.collect(), appender.tail);
        }
        drop(guard);
        if let Some(index) = &self.index {
            index.notify();
        }
        Ok(())
    }

    fn put_checkpoint(&self, size: u64, note: &str) -> Result<(), StoreError> {
        if self.appender.lock().expect("appender lock").is_none() {
            return Err(StoreError::ReadOnly);
        }
        let mut cps = self.checkpoints.lock().expect("checkpoints lock");
        if cps.latest_size().is_some_and(|s| s >= size) {
            return Ok(());
        }
        cps.append(size, note)
    }

    fn size(&self) -> Result<u64, StoreError> {
        Ok(self.core.tail().index)
    }

    fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, StoreError> {
        self.checkpoints.lock().expect("checkpoints lock").all()
    }

    fn checkpoint_covering(&self, seq: u64) -> Result<Option<StoredCheckpoint>, StoreError> {
        self.checkpoints
            .lock()
            .expect("checkpoints lock")
            .covering(seq)
    }

    fn scan_leaves(
        &self,
        from: u64,
        to: u64,
        visit: &mut dyn FnMut(u64, &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        let start = self.core.start_for(from);
        self.core.scan(start, false, &mut |at, item| match item {
            Found::Record(_) if at.index < from => true,
            Found::Record(r) => at.index < to && visit(r.seq, &r.leaf),
            Found::Unreadable(_) => false,
        })
    }

    fn scan(&self, from: u64, visit: &mut RowVisitor<'_>) -> Result<(), StoreError> {
        let start = if from == 0 {
            Pos::START
        } else {
            self.core.start_for(from)
        };
        self.core.scan(start, true, &mut |at, item| match item {
            Found::Record(_) if at.index < from => true,
            Found::Record(r) => visit(Row::Entry {
                seq: r.seq,
                body: r.body,
                leaf: &r.leaf,
                intact: r.intact,
            }),
            Found::Unreadable(detail) => visit(Row::Unreadable { detail }),
        })
    }

    fn get(&self, seq: u64) -> Result<Option<StoredEntry>, StoreError> {
        if seq >= self.core.tail().index {
            return Ok(None);
        }
        if let Some(index) = &self.index
            && let Some((seg, off)) = index.locate(seq)?
            && let Some(body) = self.core.read_one(seg, off, seq)?
        {
            return Ok(Some(StoredEntry { seq, body }));
        }
        // Not indexed yet (or the index is off): find it in the log.
        let mut found = None;
        self.core
            .scan(self.core.start_for(seq), false, &mut |at, item| {
                if let Found::Record(r) = item
                    && at.index == seq
                {
                    found = (r.seq == seq).then(|| r.body.to_vec());
                }
                at.index < seq
            })?;
        Ok(found.map(|body| StoredEntry { seq, body }))
    }

    fn search(&self, query: &Query) -> Result<Vec<StoredEntry>, StoreError> {
        let tail = self.core.tail();
        let view = match &self.index {
            Some(index) => index.view(tail.index, INDEX_WAIT),
            None => View::none(),
        };
        let limit = query.limit as usize;
        match query.order {
            Order::NewestFirst => {
                let mut out = self.scan_unindexed(view.parsed, query)?;
                out.reverse();
                out.truncate(limit);
                let hits = self.index_hits(&view, query, limit - out.len())?;
                out.extend(self.read_hits(hits)?);
                Ok(out)
            }
            Order::OldestFirst => {
                let mut out = self.read_hits(self.index_hits(&view, query, limit)?)?;
                if out.len() < limit {
                    let more = self.scan_unindexed(view.parsed, query)?;
                    out.extend(more.into_iter().take(limit - out.len()));
                }
                Ok(out)
            }
        }
    }

    fn scan_since(
        &self,
        since: Option<&str>,
        visit: &mut dyn FnMut(&StoredEntry) -> bool,
    ) -> Result<(), StoreError> {
        self.core
            .scan(Pos::START, false, &mut |at, item| match item {
                Found::Record(r) => {
                    let recent =
                        since.is_none_or(|s| Fields::of(r.body).time.is_some_and(|t| &*t >= s));
                    !recent
                        || visit(&StoredEntry {
                            seq: at.index,
                            body: r.body.to_vec(),
                        })
                }
                Found::Unreadable(_) => false,
            })
    }

    fn close_derived(&self) {
        if let Some(index) = &self.index {
            index.close();
        }
    }
}

/// The path of the search index of the log in `dir` (it may be deleted at
/// any time while the server is stopped; it is rebuilt on the next open).
pub fn index_path(dir: &Path) -> PathBuf {
    index::index_path(dir)
}

/// The path of the first segment of the log in `dir`.
pub fn first_segment_path(dir: &Path) -> PathBuf {
    segments::segment_path(dir, 0)
}

/// The path of the checkpoint file of the log in `dir`.
pub fn checkpoint_path(dir: &Path) -> PathBuf {
    checkpoints::checkpoint_path(dir)
}

/// The segment files of the log in `dir`, in order.
pub fn segment_paths(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    Ok(list_segments(dir, false)?
        .into_iter()
        .map(|s| s.path)
        .collect())
}

/// Length of a segment header, for tools that rewrite segments.
pub const HEADER_LEN: usize = SEGMENT_HEADER_LEN;
