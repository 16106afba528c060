//! The SQLite audit store: one file (e.g. `DATA_DIR/audit.db`) in WAL mode;
//! a commit returns only once it is on disk (see [`crate::walsync`]).
//!
//! Search columns are VIRTUAL generated columns computed from the body with
//! `json_extract`, indexed: the searchable values exist only inside the hashed
//! body, so editing one means editing the body, which `verify` catches.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params, params_from_iter};

use crate::error::StoreError;
use crate::query::{ActionFilter, Order, Query};
use crate::store::{AuditStore, NewEntry, RowVisitor, StoredCheckpoint, StoredEntry};
use crate::walsync::WalSync;

/// Page cache of the writer connection, in KiB when negative (SQLite's rule).
const WRITER_CACHE_KIB: i64 = -65_536;

/// Schema version written to `PRAGMA user_version`.
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    seq      INTEGER PRIMARY KEY,
    body     TEXT NOT NULL,
    leaf     BLOB NOT NULL,
    user     TEXT GENERATED ALWAYS AS (json_extract(body, '$.user')) VIRTUAL,
    sandbox  TEXT GENERATED ALWAYS AS (json_extract(body, '$.sandbox')) VIRTUAL,
    action   TEXT GENERATED ALWAYS AS (json_extract(body, '$.action')) VIRTUAL,
    decision TEXT GENERATED ALWAYS AS (json_extract(body, '$.decision')) VIRTUAL,
    time     TEXT GENERATED ALWAYS AS (json_extract(body, '$.time')) VIRTUAL,
    code     TEXT GENERATED ALWAYS AS (json_extract(body, '$.code')) VIRTUAL
) STRICT;
CREATE INDEX IF NOT EXISTS events_user ON events(user);
CREATE INDEX IF NOT EXISTS events_sandbox ON events(sandbox);
CREATE INDEX IF NOT EXISTS events_action ON events(action);
CREATE INDEX IF NOT EXISTS events_time ON events(time);
CREATE TABLE IF NOT EXISTS checkpoints (
    size INTEGER PRIMARY KEY,
    note TEXT NOT NULL
) STRICT;
";

/// The SQLite implementation of [`AuditStore`].
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    writer: Mutex<Option<Writer>>,
    readers: Mutex<Vec<Connection>>,
    /// Held for the store's lifetime by the one process that writes it.
    _lock: Option<std::fs::File>,
}

impl SqliteStore {
    /// Opens (creating if needed) the store at `path` for reading and writing.
    /// Only one process may write a log (two writers would hand out the same
    /// seqs), so this takes an exclusive lock on `<path>-lock` first.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let lock = lock_writer(path)?;
        let conn = Connection::open(path)?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        // In WAL mode each commit is made durable by WalSync (see there);
        // elsewhere (a filesystem without shared memory) SQLite syncs itself.
        let wal = (mode == "wal").then(|| WalSync::new(path));
        let sync = if wal.is_some() { "NORMAL" } else { "FULL" };
        conn.pragma_update(None, "synchronous", sync)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        // Keep the index pages of a large log in memory: inserts touch four
        // indexes at random places, and rereading pages dominated the profile.
        conn.pragma_update(None, "cache_size", WRITER_CACHE_KIB)?;
        conn.pragma_update(None, "wal_autocheckpoint", 10_000)?;
        conn.execute_batch(SCHEMA)?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        Ok(Self {
            path: path.to_owned(),
            writer: Mutex::new(Some(Writer { conn, wal })),
            readers: Mutex::new(Vec::new()),
            _lock: Some(lock),
        })
    }

    /// Opens an existing store for reading only (offline verification): never
    /// creates a file, never changes the schema.
    pub fn open_read_only(path: &Path) -> Result<Self, StoreError> {
        if !path.is_file() {
            return Err(StoreError::Missing(path.display().to_string()));
        }
        let store = Self {
            path: path.to_owned(),
            writer: Mutex::new(None),
            readers: Mutex::new(Vec::new()),
            _lock: None,
        };
        let has_events: bool = store.reader()?.conn().query_row(
            "SELECT COUNT(*) = 1 FROM sqlite_master WHERE type = 'table' AND name = 'events'",
            [],
            |r| r.get(0),
        )?;
        if !has_events {
            return Err(StoreError::Corrupt(format!(
                "{} has no audit events table",
                path.display()
            )));
        }
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn reader(&self) -> Result<Pooled<'_>, StoreError> {
        let pooled = self.readers.lock().expect("pool lock").pop();
        let conn = match pooled {
            Some(c) => c,
            None => {
                // Reads never create or change anything; query_only makes a
                // bug that tries fail instead of writing.
                let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
                let c = Connection::open_with_flags(&self.path, flags)?;
                c.busy_timeout(std::time::Duration::from_secs(10))?;
                c.pragma_update(None, "query_only", true)?;
                c
            }
        };
        Ok(Pooled {
            conn: Some(conn),
            pool: &self.readers,
        })
    }

    /// Runs a write on the writer connection, then makes it durable.
    fn with_writer(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut guard = self.writer.lock().expect("writer lock");
        let w = guard.as_mut().ok_or(StoreError::ReadOnly)?;
        f(&mut w.conn)?;
        match &mut w.wal {
            Some(wal) => wal.sync().map_err(sync_error),
            None => Ok(()),
        }
    }
}

/// Takes the writer lock of the store at `db`; the OS releases it when the
/// process ends, however it ends.
fn lock_writer(db: &Path) -> Result<std::fs::File, StoreError> {
    let mut name = db.as_os_str().to_owned();
    name.push("-lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&name)
        .map_err(|e| StoreError::Other(format!("cannot open {}: {e}", db.display())))?;
    file.try_lock().map_err(|_| {
        StoreError::Other(format!(
            "{} is already open for writing by another process (is another server running on this data directory?)",
            db.display()
        ))
    })?;
    Ok(file)
}

/// The writer connection and what makes its commits durable.
#[derive(Debug)]
struct Writer {
    conn: Connection,
    wal: Option<WalSync>,
}

fn sync_error(e: std::io::Error) -> StoreError {
    match e.kind() {
        std::io::ErrorKind::StorageFull => StoreError::Full,
        std::io::ErrorKind::ReadOnlyFilesystem => StoreError::ReadOnly,
        _ => StoreError::Other(format!("syncing the audit WAL failed: {e}")),
    }
}

/// A reader connection that goes back to the pool when dropped.
struct Pooled<'a> {
    conn: Option<Connection>,
    pool: &'a Mutex<Vec<Connection>>,
}

impl Pooled<'_> {
    fn conn(&self) -> &Connection {
        self.conn.as_ref().expect("present until drop")
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let (Some(c), Ok(mut pool)) = (self.conn.take(), self.pool.lock())
            && pool.len() < 8
        {
            pool.push(c);
        }
    }
}

fn as_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The bytes of a text or blob value; anything else (an attacker may store a
/// number) reads as empty, which verification then reports.
fn raw(v: rusqlite::types::ValueRef<'_>) -> &[u8] {
    match v {
        rusqlite::types::ValueRef::Text(b) | rusqlite::types::ValueRef::Blob(b) => b,
        _ => &[],
    }
}

fn entry_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredEntry> {
    let seq: i64 = r.get(0)?;
    let body = raw(r.get_ref(1)?).to_vec();
    Ok(StoredEntry {
        seq: seq as u64,
        body,
    })
}

impl AuditStore for SqliteStore {
    fn append(&self, entries: &[NewEntry]) -> Result<(), StoreError> {
        self.with_writer(|conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            {
                let mut stmt =
                    tx.prepare_cached("INSERT INTO events (seq, body, leaf) VALUES (?1, ?2, ?3)")?;
                for e in entries {
                    let body = std::str::from_utf8(&e.body)
                        .map_err(|_| StoreError::Other("event body is not UTF-8".into()))?;
                    stmt.execute(params![as_i64(e.seq), body, &e.leaf[..]])?;
                }
            }
            // Dropping an uncommitted transaction rolls it back, so an error
            // anywhere above leaves nothing behind.
            tx.commit()?;
            Ok(())
        })
    }

    fn put_checkpoint(&self, size: u64, note: &str) -> Result<(), StoreError> {
        self.with_writer(|conn| {
            conn.prepare_cached("INSERT OR IGNORE INTO checkpoints (size, note) VALUES (?1, ?2)")?
                .execute(params![as_i64(size), note])?;
            Ok(())
        })
    }

    fn size(&self) -> Result<u64, StoreError> {
        let r = self.reader()?;
        let n: i64 =
            r.conn()
                .query_row("SELECT COALESCE(MAX(seq) + 1, 0) FROM events", [], |r| {
                    r.get(0)
                })?;
        Ok(n as u64)
    }

    fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, StoreError> {
        let r = self.reader()?;
        let mut stmt = r
            .conn()
            .prepare_cached("SELECT size, note FROM checkpoints ORDER BY size")?;
        let rows = stmt.query_map([], |r| {
            Ok(StoredCheckpoint {
                size: r.get::<_, i64>(0)? as u64,
                note: r.get(1)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn checkpoint_covering(&self, seq: u64) -> Result<Option<StoredCheckpoint>, StoreError> {
        let r = self.reader()?;
        let sql = "SELECT size, note FROM checkpoints WHERE size > ?1 ORDER BY size LIMIT 1";
        let cp = r
            .conn()
            .query_row(sql, [as_i64(seq)], |r| {
                Ok(StoredCheckpoint {
                    size: r.get::<_, i64>(0)? as u64,
                    note: r.get(1)?,
                })
            })
            .optional()?;
        Ok(cp)
    }

    fn scan_leaves(
        &self,
        from: u64,
        to: u64,
        visit: &mut dyn FnMut(u64, &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        let r = self.reader()?;
        let sql = "SELECT seq, leaf FROM events WHERE seq >= ?1 AND seq < ?2 ORDER BY seq";
        let mut stmt = r.conn().prepare_cached(sql)?;
        let mut rows = stmt.query([as_i64(from), as_i64(to)])?;
        while let Some(row) = rows.next()? {
            let seq: i64 = row.get(0)?;
            if !visit(seq as u64, raw(row.get_ref(1)?)) {
                break;
            }
        }
        Ok(())
    }

    fn scan(&self, from: u64, visit: &mut RowVisitor<'_>) -> Result<(), StoreError> {
        let r = self.reader()?;
        let sql = "SELECT seq, body, leaf FROM events WHERE seq >= ?1 ORDER BY seq";
        let mut stmt = r.conn().prepare_cached(sql)?;
        let mut rows = stmt.query([as_i64(from)])?;
        while let Some(row) = rows.next()? {
            let seq: i64 = row.get(0)?;
            // An attacker may have stored anything; pass raw bytes, never fail here.
            let (body, leaf) = (raw(row.get_ref(1)?), raw(row.get_ref(2)?));
            if !visit(seq as u64, body, leaf) {
                break;
            }
        }
        Ok(())
    }

    fn get(&self, seq: u64) -> Result<Option<StoredEntry>, StoreError> {
        let r = self.reader()?;
        let mut stmt = r
            .conn()
            .prepare_cached("SELECT seq, body FROM events WHERE seq = ?1")?;
        Ok(stmt.query_row([as_i64(seq)], entry_from_row).optional()?)
    }

    fn search(&self, query: &Query) -> Result<Vec<StoredEntry>, StoreError> {
        let (sql, args) = search_sql(query);
        let r = self.reader()?;
        let mut stmt = r.conn().prepare_cached(&sql)?;
        let rows = stmt.query_map(params_from_iter(args.iter()), entry_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn scan_since(
        &self,
        since: Option<&str>,
        visit: &mut dyn FnMut(&StoredEntry) -> bool,
    ) -> Result<(), StoreError> {
        let r = self.reader()?;
        let sql = "SELECT seq, body FROM events WHERE ?1 IS NULL OR time >= ?1 ORDER BY seq";
        let mut stmt = r.conn().prepare_cached(sql)?;
        let mut rows = stmt.query([since])?;
        while let Some(row) = rows.next()? {
            if !visit(&entry_from_row(row)?) {
                break;
            }
        }
        Ok(())
    }
}

/// Builds the search statement; values always travel as parameters.
fn search_sql(q: &Query) -> (String, Vec<rusqlite::types::Value>) {
    use rusqlite::types::Value as V;
    let mut sql = String::from("SELECT seq, body FROM events WHERE 1 = 1");
    let mut args: Vec<V> = Vec::new();
    let mut cond = |clause: &str, v: V| {
        sql.push_str(clause);
        args.push(v);
    };
    if let Some(u) = &q.user {
        cond(" AND user = ?", V::Text(u.to_string()));
    }
    if let Some(s) = &q.sandbox {
        cond(" AND sandbox = ?", V::Text(s.to_string()));
    }
    match &q.action {
        Some(ActionFilter::Exact(a)) => cond(" AND action = ?", V::Text(a.clone())),
        Some(ActionFilter::Prefix(p)) => {
            // A range on the index instead of LIKE (which SQLite would not
            // index case-sensitively): [p, p with its last byte incremented).
            let mut end = p.clone().into_bytes();
            if let Some(last) = end.last_mut() {
                *last += 1;
            }
            cond(" AND action >= ?", V::Text(p.clone()));
            cond(
                " AND action < ?",
                V::Text(String::from_utf8_lossy(&end).into_owned()),
            );
        }
        None => {}
    }
    if let Some(d) = q.decision {
        cond(" AND decision = ?", V::Text(d.as_str().to_owned()));
    }
    if let Some(t) = &q.since {
        cond(" AND time >= ?", V::Text(crate::timefmt::format(t)));
    }
    if let Some(t) = &q.until {
        cond(" AND time < ?", V::Text(crate::timefmt::format(t)));
    }
    if let Some(s) = q.after_seq {
        cond(" AND seq > ?", V::Integer(as_i64(s)));
    }
    if let Some(s) = q.before_seq {
        cond(" AND seq < ?", V::Integer(as_i64(s)));
    }
    let order = match q.order {
        Order::NewestFirst => "DESC",
        Order::OldestFirst => "ASC",
    };
    sql.push_str(&format!(" ORDER BY seq {order} LIMIT ?"));
    args.push(V::Integer(i64::from(q.limit)));
    (sql, args)
}
