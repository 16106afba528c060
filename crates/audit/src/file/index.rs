//! The search index: a SQLite file derived from the log (`index.db`).
//!
//! It maps each seq to its place in the log and holds the searchable fields
//! (user, sandbox, action, decision, time, code), parsed from the bodies. A
//! thread of its own follows the durable tail: it parses new records into
//! memory at once (recent.rs) and writes them to SQLite in large
//! transactions, without syncing (WAL, `synchronous=OFF`: consistent after
//! the process dies, maybe behind; rebuilt when the machine stopped while it
//! was open, see unsynced.rs), so it never slows an append. On open the file is
//! checked against the log and caught up, or rebuilt from scratch. Nothing in
//! it is trusted: verification never reads it, and every row a search finds
//! is read back from the log and checked there.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, fence};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::error::StoreError;
use crate::event::Searchable;
use crate::file::format::RECORD_HEADER_LEN;
use crate::file::recent::{Chunk, IndexRow};
use crate::file::segments::{Core, Found, Pos};
use crate::file::sql::{Pooled, as_i64, meta_get, meta_put, write_rows};
use crate::file::unsynced;
use crate::query::Query;

/// Bumped when the schema changes: an index of another version is rebuilt.
const INDEX_VERSION: i64 = 3;
/// Rows parsed per pass at most.
const MAX_CHUNK: usize = 50_000;
/// How long the indexer lets appends accumulate before parsing them, unless
/// a reader is waiting.
const GATHER: Duration = Duration::from_millis(100);
/// Rows held in memory before they are written to SQLite...
const FLUSH_ROWS: usize = 100_000;
/// ...or after this long.
const FLUSH_EVERY: Duration = Duration::from_secs(30);
/// Rows held in memory at most, when writing them keeps failing.
const MAX_RECENT: usize = 4 * FLUSH_ROWS;
/// The longest an idle indexer sleeps before looking at the tail again
/// (an append's wake-up is skipped when the indexer holds its lock).
const IDLE_LOOK: Duration = Duration::from_secs(1);
/// CPU niceness of the indexer thread.
const NICE: i32 = 10;
/// Wait before retrying after an error.
const RETRY: Duration = Duration::from_secs(1);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS events (
    seq      INTEGER PRIMARY KEY,
    seg      INTEGER NOT NULL,
    off      INTEGER NOT NULL,
    user     TEXT,
    sandbox  TEXT,
    action   TEXT,
    decision TEXT,
    time     TEXT,
    code     TEXT
) STRICT;
CREATE TABLE IF NOT EXISTS postings (
    kind     INTEGER NOT NULL,
    key      TEXT NOT NULL,
    last_seq INTEGER NOT NULL,
    seqs     BLOB NOT NULL,
    PRIMARY KEY (kind, key, last_seq)
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS spans (
    end_seq    INTEGER PRIMARY KEY,
    first_seq  INTEGER NOT NULL,
    min_time   TEXT,
    max_time   TEXT,
    max_so_far TEXT
) STRICT;
CREATE INDEX IF NOT EXISTS spans_max_so_far ON spans(max_so_far);
";

#[derive(Debug)]
struct State {
    /// Records before this place are parsed: in `recent` or in SQLite.
    parsed: Pos,
    /// Rows below this seq are in SQLite.
    flushed: u64,
    /// Parsed rows from `flushed` on, in chunks, in seq order.
    recent: Vec<Arc<Chunk>>,
    recent_rows: usize,
    /// Readers waiting for the index to catch up.
    waiting: usize,
    stop: bool,
    error: Option<String>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    cv: Condvar,
    /// Rows offered and not yet taken (offers stop past [`MAX_CHUNK`]).
    offered: AtomicUsize,
    /// Rows taken from offers, and rows parsed from the log (for tests).
    taken: AtomicU64,
    scanned: AtomicU64,
    /// Set while the indexer has nothing to parse and sleeps (or is about
    /// to): only then does an append need to wake it. Outside the lock,
    /// because the appender must never wait for this low-priority thread
    /// (see [`Index::notify`]).
    idle: AtomicBool,
}

impl Shared {
    /// The state of an index whose rows end (parsed and written) at `done`.
    fn new(done: Pos) -> Self {
        Self {
            state: Mutex::new(State {
                parsed: done,
                flushed: done.index,
                recent: Vec::new(),
                recent_rows: 0,
                waiting: 0,
                stop: false,
                error: None,
            }),
            cv: Condvar::new(),
            offered: AtomicUsize::new(0),
            taken: AtomicU64::new(0),
            scanned: AtomicU64::new(0),
            idle: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("index lock")
    }
}

/// What a search sees of the index: SQLite below `flushed`, then `recent`,
/// then the log itself from `parsed` on.
#[derive(Debug)]
pub(crate) struct View {
    /// End of the parsed part.
    pub parsed: Pos,
    /// End of the part in SQLite.
    pub flushed: u64,
    /// Rows from `flushed` to `parsed`, in chunks.
    pub recent: Vec<Arc<Chunk>>,
}

impl View {
    /// No index: everything is read from the log.
    pub fn none() -> Self {
        Self {
            parsed: Pos::START,
            flushed: 0,
            recent: Vec::new(),
        }
    }
}

/// The derived index and the thread that keeps it up to date.
#[derive(Debug)]
pub(crate) struct Index {
    path: PathBuf,
    shared: Arc<Shared>,
    readers: Mutex<Vec<Connection>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Rows of new commits, handed over by the appender (see [`Index::offer`]).
    offers: mpsc::Sender<Offer>,
}

/// The entries of one commit, and where the log ends after it.
#[derive(Debug)]
struct Offer {
    entries: Vec<Placed>,
    end: Pos,
}

/// An entry of a commit: where its record is, and its search fields.
#[derive(Debug)]
pub(crate) struct Placed {
    pub seq: u64,
    /// Number of the segment.
    pub seg: u64,
    /// Offset of the record in it.
    pub off: u64,
    pub searchable: Searchable,
}

/// `DIR/index.db`.
pub(crate) fn index_path(dir: &Path) -> PathBuf {
    dir.join("index.db")
}

impl Index {
    /// Opens (or rebuilds) the index of the log in `core` and starts
    /// following it.
    pub fn open(core: Arc<Core>, log_id: [u8; 16]) -> Result<Self, StoreError> {
        let path = index_path(&core.dir);
        let (conn, done) = match open_checked(&path, &core, &log_id) {
            Ok(ok) => ok,
            Err(e) => {
                tracing::warn!(error = %e, "audit index unusable; rebuilding it from the log");
                for suffix in ["", "-wal", "-shm"] {
                    let mut p = path.clone().into_os_string();
                    p.push(suffix);
                    let _ = std::fs::remove_file(p);
                }
                open_checked(&path, &core, &log_id)?
            }
        };
        let behind = core.tail().index - done.index;
        if behind > 0 {
            tracing::info!(behind, "audit index catching up with the log");
        }
        let shared = Arc::new(Shared::new(done));
        let (offers, offered) = mpsc::channel();
        let thread = {
            let shared = shared.clone();
            let indexer = Indexer {
                core,
                shared,
                conn,
                offered,
            };
            std::thread::Builder::new()
                .name("audit-index".into())
                .spawn(move || indexer.run())
                .map_err(|e| StoreError::Other(format!("cannot start the audit indexer: {e}")))?
        };
        Ok(Self {
            path,
            shared,
            readers: Mutex::new(Vec::new()),
            thread: Mutex::new(Some(thread)),
            offers,
        })
    }

    /// Hands the indexer the rows of a commit, in commit order, with where
    /// the log ends after it: the indexer then need not read them back from
    /// the log and parse them (the CPU it spends is taken from the
    /// appenders). Never waits; rows it cannot take (too many waiting, or
    /// not where it is) it reads from the log instead.
    pub fn offer(&self, entries: Vec<Placed>, end: Pos) {
        let n = entries.len();
        if self.shared.offered.fetch_add(n, Ordering::Relaxed) + n > MAX_CHUNK {
            self.shared.offered.fetch_sub(n, Ordering::Relaxed);
            return;
        }
        if self.offers.send(Offer { entries, end }).is_err() {
            self.shared.offered.fetch_sub(n, Ordering::Relaxed);
        }
    }

    /// Rows taken from offers and rows parsed from the log so far.
    #[cfg(test)]
    fn sources(&self) -> (u64, u64) {
        (
            self.shared.taken.load(Ordering::Relaxed),
            self.shared.scanned.load(Ordering::Relaxed),
        )
    }

    /// Tells the indexer the log grew, without ever waiting for it: this
    /// runs on the commit path, and the indexer runs at low priority, so
    /// blocking on its lock while the scheduler has it off the CPU would
    /// stall every appender for milliseconds. When the lock is taken the
    /// indexer is awake (or about to look at the tail again), and at worst
    /// the next append, search or its periodic look picks the records up.
    pub fn notify(&self) {
        // Pairs with the fence in `wait_for_work`: either this sees the
        // indexer idle, or the indexer sees the tail the caller published.
        fence(Ordering::SeqCst);
        if !self.shared.idle.load(Ordering::SeqCst) {
            return;
        }
        if let Ok(_st) = self.shared.state.try_lock() {
            self.shared.idle.store(false, Ordering::SeqCst);
            self.shared.cv.notify_all();
        }
    }

    /// Waits (at most `timeout`) until everything before `size` is parsed;
    /// returns what a search sees.
    pub fn view(&self, size: u64, timeout: Duration) -> View {
        let deadline = Instant::now() + timeout;
        let mut st = self.shared.lock();
        st.waiting += 1;
        self.shared.cv.notify_all();
        while st.parsed.index < size && st.error.is_none() && !st.stop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            st = self.shared.cv.wait_timeout(st, left).expect("index lock").0;
        }
        st.waiting -= 1;
        View {
            parsed: st.parsed,
            flushed: st.flushed,
            recent: st.recent.clone(),
        }
    }

    /// Where the seq is in the log: `(segment number, offset)`.
    pub fn locate(&self, seq: u64) -> Result<Option<(u64, u64)>, StoreError> {
        let recent = {
            let st = self.shared.lock();
            (st.flushed <= seq).then(|| st.recent.clone())
        };
        if let Some(recent) = recent {
            // Chunks and the rows in them are in seq order.
            let i = recent.partition_point(|c| c.rows.last().is_some_and(|r| r.seq < seq));
            let row = recent.get(i).and_then(|c| {
                let j = c.rows.partition_point(|r| r.seq < seq);
                c.rows.get(j).filter(|r| r.seq == seq)
            });
            return Ok(row.map(|r| (r.seg, r.off)));
        }
        let conn = self.reader()?;
        let sql = "SELECT seg, off FROM events WHERE seq = ?1";
        let found = conn
            .conn()
            .prepare_cached(sql)?
            .query_row([as_i64(seq)], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
            })
            .optional()?;
        Ok(found.map(|(s, o)| (s as u64, o as u64)))
    }

    /// `(seq, segment number, offset)` of the SQLite rows below `upto`
    /// matching `q`, in its order.
    pub fn search(
        &self,
        q: &Query,
        upto: u64,
        limit: usize,
    ) -> Result<Vec<(u64, u64, u64)>, StoreError> {
        let conn = self.reader()?;
        crate::file::sql::search(conn.conn(), q, upto, limit)
    }

    fn reader(&self) -> Result<Pooled<'_>, StoreError> {
        let pooled = self.readers.lock().expect("pool lock").pop();
        let conn = match pooled {
            Some(c) => c,
            None => {
                let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
                let c = Connection::open_with_flags(&self.path, flags)?;
                c.busy_timeout(Duration::from_secs(10))?;
                c.pragma_update(None, "query_only", true)?;
                c
            }
        };
        Ok(Pooled {
            conn: Some(conn),
            pool: &self.readers,
        })
    }

    /// Stops the indexer once it has written what it holds and marked the
    /// file closed (a clean restart then parses nothing, and a reboot keeps
    /// the file). Searches go on, reading the log past what was indexed.
    pub fn close(&self) {
        self.shared.lock().stop = true;
        self.shared.cv.notify_all();
        if let Some(t) = self.thread.lock().expect("thread lock").take() {
            let _ = t.join();
        }
    }
}

impl Drop for Index {
    fn drop(&mut self) {
        self.close();
    }
}

/// Opens the index and finds where it ends in the log; Err when it does not
/// belong to this log or does not match it (the caller rebuilds it).
fn open_checked(
    path: &Path,
    core: &Core,
    log_id: &[u8; 16],
) -> Result<(Connection, Pos), StoreError> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))?;
    conn.pragma_update(None, "cache_size", -131_072)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version != 0 && version != INDEX_VERSION {
        return Err(StoreError::Corrupt(format!("index version {version}")));
    }
    conn.execute_batch(SCHEMA)?;
    conn.pragma_update(None, "user_version", INDEX_VERSION)?;
    unsynced::open(&conn, unsynced::boot_id().as_deref())?;
    match meta_get(&conn, "log_id")? {
        Some(id) if id != log_id => {
            return Err(StoreError::Corrupt("index of another log".into()));
        }
        Some(_) => {}
        None => {
            conn.execute("DELETE FROM events", [])?;
            conn.execute("DELETE FROM postings", [])?;
            conn.execute("DELETE FROM spans", [])?;
            meta_put(&conn, "log_id", log_id)?;
        }
    }
    // Rows past the log's end mean the log lost entries the index saw
    // (damage, or a restored backup; the log is checked against its
    // checkpoints separately): rebuild rather than leave posting lists that
    // name entries now gone or different. The last row must point at its
    // record.
    let tail = core.tail();
    let past_end = "SELECT EXISTS (SELECT 1 FROM events WHERE seq >= ?1)";
    if conn.query_row(past_end, [as_i64(tail.index)], |r| r.get::<_, bool>(0))? {
        return Err(StoreError::Corrupt(
            "the index holds entries the log does not".into(),
        ));
    }
    let sql = "SELECT seq, seg, off FROM events ORDER BY seq DESC LIMIT 1";
    let last = conn
        .query_row(sql, [], |r| {
            let get = |i| r.get::<_, i64>(i).map(|v| v as u64);
            Ok((get(0)?, get(1)?, get(2)?))
        })
        .optional()?;
    let Some((seq, seg, off)) = last else {
        return Ok((conn, Pos::START));
    };
    let body = core.read_one(seg, off, seq)?;
    let idx = {
        let segs = core.segments.read().expect("segments lock");
        segs.binary_search_by_key(&seg, |s| s.number).ok()
    };
    match (body, idx) {
        (Some(body), Some(idx)) => {
            let offset = off + (RECORD_HEADER_LEN + body.len()) as u64;
            let pos = Pos {
                seg: idx,
                offset,
                index: seq + 1,
            };
            Ok((conn, pos))
        }
        _ => Err(StoreError::Corrupt(format!(
            "index row {seq} does not match the log"
        ))),
    }
}

/// What the indexer wakes up for.
enum Work {
    /// Records from here on are waiting to be parsed.
    Parse(Pos),
    /// Recent rows have waited long enough to be written.
    Flush,
    /// The store is closing.
    Stop,
}

/// The indexer thread's state.
struct Indexer {
    core: Arc<Core>,
    shared: Arc<Shared>,
    conn: Connection,
    offered: mpsc::Receiver<Offer>,
}

impl Indexer {
    fn run(mut self) {
        let mut flushed_at = Instant::now();
        let mut niced = false;
        loop {
            if !niced && self.shared.lock().parsed.index >= self.core.tail().index {
                // Caught up with what the log held when it was opened (at
                // full speed: searches wait for it). From now on indexing
                // follows appends: on a busy machine it should yield the CPU
                // to the threads appending and waiting for acknowledgements.
                let me = rustix::thread::gettid();
                if let Err(e) = rustix::process::setpriority_process(Some(me), NICE) {
                    tracing::debug!(error = %e, "cannot lower the audit indexer's priority");
                }
                niced = true;
            }
            match self.wait_for_work(flushed_at) {
                Work::Stop => {
                    self.finish();
                    return;
                }
                Work::Flush if self.flush() => flushed_at = Instant::now(),
                Work::Parse(from) if self.parse(from).is_ok() => {}
                Work::Flush | Work::Parse(_) => self.backoff(),
            }
        }
    }

    /// Sleeps until there is something to do.
    fn wait_for_work(&self, flushed_at: Instant) -> Work {
        let mut st = self.shared.lock();
        loop {
            if st.stop {
                return Work::Stop;
            }
            // Idle until shown otherwise; the fence pairs with `notify`'s.
            self.shared.idle.store(true, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            let backlog = self.core.tail().index.saturating_sub(st.parsed.index);
            let full = st.recent_rows >= MAX_RECENT;
            let stale = st.recent_rows > 0 && flushed_at.elapsed() >= FLUSH_EVERY;
            // Readers wait for parsing, not for writing: write first only
            // when nobody waits, or when memory is full.
            if (st.recent_rows >= FLUSH_ROWS || stale) && (st.waiting == 0 || full) {
                self.shared.idle.store(false, Ordering::SeqCst);
                return Work::Flush;
            }
            if backlog > 0 && !full {
                self.shared.idle.store(false, Ordering::SeqCst);
                // Let appends accumulate, unless a reader is waiting or
                // there is a backlog to catch up with anyway.
                if st.waiting == 0 && backlog < MAX_CHUNK as u64 {
                    let gather = self.shared.cv.wait_timeout(st, GATHER);
                    st = gather.expect("index lock").0;
                }
                return Work::Parse(st.parsed);
            }
            // Never less than a moment: a flush may be waiting for a reader
            // to leave. Never more than IDLE_LOOK: a notify can be skipped.
            let left = if st.recent_rows == 0 {
                IDLE_LOOK
            } else {
                FLUSH_EVERY.saturating_sub(flushed_at.elapsed())
            };
            let left = left.clamp(Duration::from_millis(10), IDLE_LOOK);
            st = self.shared.cv.wait_timeout(st, left).expect("index lock").0;
        }
    }

    /// On close: catches up when that is quick, and writes what it holds,
    /// so that a clean restart has little or nothing to parse.
    fn finish(&mut self) {
        loop {
            let parsed = self.shared.lock().parsed;
            let backlog = self.core.tail().index.saturating_sub(parsed.index);
            if backlog == 0 || backlog > FLUSH_ROWS as u64 || self.parse(parsed).is_err() {
                break;
            }
        }
        self.flush();
        if let Err(e) = unsynced::close(&self.conn) {
            tracing::warn!(error = %e, "audit index not marked closed; it is rebuilt if the machine restarts first");
        }
    }

    fn backoff(&self) {
        let st = self.shared.lock();
        if !st.stop {
            let _ = self.shared.cv.wait_timeout(st, RETRY).expect("index lock");
        }
    }

    /// Parses records from `from` into a new chunk of recent rows.
    fn parse(&self, from: Pos) -> Result<(), ()> {
        let (mut rows, scan_from) = self.take_offered(from);
        let mut parsed = scan_from;
        let mut damaged = None;
        let segs = self.core.segments.read().expect("segments lock").clone();
        let mut scanned = 0;
        let res = self
            .core
            .scan(scan_from, false, &mut |at, found| match found {
                Found::Record(r) => {
                    // Segments only grow in number: one scanned and missing from
                    // the list taken before the scan cannot be; stop there.
                    let Some(seg) = segs.get(at.seg) else {
                        return false;
                    };
                    rows.push(IndexRow::new(at.index, seg.number, at.offset, r.body));
                    scanned += 1;
                    parsed = Pos {
                        seg: at.seg,
                        offset: r.end,
                        index: at.index + 1,
                    };
                    rows.len() < MAX_CHUNK
                }
                Found::Unreadable(d) => {
                    damaged = Some(d);
                    false
                }
            });
        self.shared.scanned.fetch_add(scanned, Ordering::Relaxed);
        // Built before taking the lock: readers wait on it.
        let chunk = (!rows.is_empty()).then(|| Arc::new(Chunk::new(rows)));
        let mut st = self.shared.lock();
        if let Some(chunk) = chunk {
            st.recent_rows += chunk.rows.len();
            st.recent.push(chunk);
        }
        st.parsed = parsed;
        let error = match (res, damaged) {
            (Err(e), _) => Some(e.to_string()),
            (Ok(()), Some(d)) if parsed == scan_from => Some(d),
            _ => None,
        };
        if let Some(e) = &error {
            tracing::warn!(error = %e, "audit index cannot read the log further");
        }
        let failed = error.is_some();
        st.error = error;
        self.shared.cv.notify_all();
        if failed { Err(()) } else { Ok(()) }
    }

    /// The offered rows that continue from `from`, and where they end.
    /// Offers already parsed from the log are dropped; so is an offer after
    /// a gap (the log is read from `from` instead, and later offers line up
    /// again).
    fn take_offered(&self, from: Pos) -> (Vec<IndexRow>, Pos) {
        let mut rows = Vec::new();
        let mut end = from;
        while rows.len() < MAX_CHUNK {
            let Ok(offer) = self.offered.try_recv() else {
                break;
            };
            let n = offer.entries.len();
            self.shared.offered.fetch_sub(n, Ordering::Relaxed);
            if offer.entries.first().is_some_and(|e| e.seq == end.index) {
                self.shared.taken.fetch_add(n as u64, Ordering::Relaxed);
                end = offer.end;
                rows.extend(
                    offer
                        .entries
                        .into_iter()
                        .map(|e| IndexRow::from_fields(e.seq, e.seg, e.off, e.searchable.fields())),
                );
            }
        }
        (rows, end)
    }

    /// Writes the recent rows to SQLite in one transaction; false on error.
    fn flush(&mut self) -> bool {
        let (chunks, upto) = {
            let st = self.shared.lock();
            (st.recent.clone(), st.parsed.index)
        };
        if chunks.is_empty() {
            return true;
        }
        if let Err(e) = write_rows(&mut self.conn, &chunks) {
            tracing::warn!(error = %e, "cannot write the audit index; will retry");
            return false;
        }
        let mut st = self.shared.lock();
        st.flushed = upto;
        st.recent.drain(..chunks.len());
        st.recent_rows -= chunks.iter().map(|c| c.rows.len()).sum::<usize>();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index_without_thread() -> Index {
        Index {
            path: PathBuf::new(),
            shared: Arc::new(Shared::new(Pos::START)),
            readers: Mutex::new(Vec::new()),
            thread: Mutex::new(None),
            offers: mpsc::channel().0,
        }
    }

    /// The commit path calls `notify`; the indexer runs at low priority and
    /// may sit off the CPU holding its lock. Waiting for it there would
    /// stall every appender, so `notify` must return while the lock is held.
    #[test]
    fn notify_never_waits_for_the_indexer_lock() {
        let index = Arc::new(index_without_thread());
        index.shared.idle.store(true, Ordering::SeqCst);
        let held = index.shared.lock();
        let (done_tx, done_rx) = mpsc::channel();
        let notifier = {
            let index = index.clone();
            std::thread::spawn(move || {
                index.notify();
                done_tx.send(()).unwrap();
            })
        };
        let returned = done_rx.recv_timeout(Duration::from_secs(5));
        drop(held);
        notifier.join().unwrap();
        assert!(returned.is_ok(), "notify blocked on the indexer's lock");
    }

    #[test]
    fn notify_wakes_an_idle_indexer_and_leaves_a_busy_one_alone() {
        let index = index_without_thread();
        index.shared.idle.store(true, Ordering::SeqCst);
        index.notify();
        assert!(!index.shared.idle.load(Ordering::SeqCst), "woken");
        // Busy (not idle): nothing to do, and nothing changes.
        index.notify();
        assert!(!index.shared.idle.load(Ordering::SeqCst));
    }

    fn events() -> Vec<crate::AuditEvent> {
        use crate::{AuditEvent, EventCode};
        use airlock_core::{SandboxId, SpiffeId, TrustDomain, UserName};
        let td = TrustDomain::new("example.test").unwrap();
        let sb = SandboxId::new("sb-0a1b").unwrap();
        let odd =
            time::OffsetDateTime::from_unix_timestamp_nanos(1_790_000_000_000_000_001).unwrap();
        vec![
            AuditEvent::new(EventCode::UserLogin),
            AuditEvent::new(EventCode::HttpRequest)
                .user(UserName::new("alice").unwrap())
                .workload(SpiffeId::workload(&td, &sb))
                .sandbox(sb.clone())
                .resource("api.example.com")
                .detail("path", "/v1/\"quoted\"")
                .deny("GET is not allowed"),
            AuditEvent::new(EventCode::HttpRequest)
                .at(odd)
                .action("http.request \"quoted\" \\ caf\u{e9} \u{1F600}")
                .sandbox(sb)
                .allow(),
        ]
    }

    /// The fields handed to the indexer are what parsing the stored body
    /// gives, so rows taken from offers and rows read from the log agree.
    #[test]
    fn offered_fields_are_what_the_body_holds() {
        for (seq, ev) in events().iter().enumerate() {
            let body = crate::event::splice(seq as u64, &ev.encode_tail());
            let parsed = IndexRow::new(seq as u64, 0, 0, &body);
            let offered = Searchable::of(ev).fields();
            assert_eq!(parsed.fields, offered, "{}", String::from_utf8_lossy(&body));
        }
    }

    /// Steady state: the indexer takes each commit's rows from the appender
    /// and reads nothing back from the log; searches see them.
    #[test]
    fn the_indexer_takes_rows_from_commits_instead_of_reading_the_log() {
        use crate::store::{AuditStore, NewEntry};
        let dir = tempfile::tempdir().unwrap();
        let store = crate::file::FileStore::open(&dir.path().join("audit")).unwrap();
        let alice = airlock_core::UserName::new("alice").unwrap();
        let mut seq = 0;
        for _ in 0..20 {
            let batch: Vec<NewEntry> = (0..5)
                .map(|_| {
                    let ev =
                        crate::AuditEvent::new(crate::EventCode::UserLogin).user(alice.clone());
                    let body = crate::event::splice(seq, &ev.encode_tail());
                    let leaf = crate::merkle::leaf_hash(&body);
                    let searchable = Searchable::of(&ev);
                    seq += 1;
                    NewEntry {
                        seq: seq - 1,
                        body,
                        leaf,
                        searchable,
                    }
                })
                .collect();
            store.append(&batch).unwrap();
        }
        let q = Query {
            user: Some(alice),
            limit: 1000,
            ..Query::default()
        };
        let found = store.search(&q).unwrap();
        assert_eq!(found.len(), 100);
        assert!(
            found.windows(2).all(|w| w[0].seq == w[1].seq + 1),
            "newest first, all of them"
        );
        // A commit whose offer the indexer missed by a hair (it woke between
        // the tail moving and the offer) is read from the log: at most one.
        let (taken, scanned) = store.index_for_tests().sources();
        assert_eq!(taken + scanned, 100);
        assert!(scanned <= 5, "{taken} rows taken, {scanned} read back");
    }
}
