//! The embedded default store: one SQLite file, WAL mode, full sync.
//!
//! Control-plane writes are rare (users, locks, logins), so every write is
//! its own durable transaction; simplicity beats batching here.

use std::path::Path;
use std::sync::Mutex;

use airlock_core::{RoleName, SessionId, UserName};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params};
use time::OffsetDateTime;

use crate::{Lock, LockTarget, Result, RoleRecord, SessionRecord, Store, StoreError, UserRecord};

/// Schema migrations, applied in order; `PRAGMA user_version` records how
/// many have run. Append only: never edit a migration that has shipped.
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE users (
    name TEXT PRIMARY KEY,
    roles TEXT NOT NULL,
    traits TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created INTEGER NOT NULL
);
CREATE TABLE roles (
    name TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    max_ttl_secs INTEGER NOT NULL,
    allow TEXT NOT NULL
);
CREATE TABLE locks (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    reason TEXT,
    created_by TEXT NOT NULL,
    created INTEGER NOT NULL,
    expires INTEGER
);
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    source TEXT NOT NULL,
    created INTEGER NOT NULL,
    expires INTEGER NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user, created);
"#];

/// The SQLite-backed [`Store`].
#[derive(Debug)]
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

impl SqliteStore {
    /// Creates a new database at `path` (which must not exist yet) and
    /// applies the schema.
    pub fn create(path: &Path) -> Result<Self> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE;
        Self::from_conn(Connection::open_with_flags(path, flags)?)
    }

    /// Opens an existing database, migrating it forward if needed. Fails if
    /// the file does not exist, so an uninitialized data directory is never
    /// mistaken for an empty cluster.
    pub fn open(path: &Path) -> Result<Self> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE;
        Self::from_conn(Connection::open_with_flags(path, flags)?)
    }

    /// An in-memory store, for tests.
    pub fn in_memory() -> Result<Self> {
        Self::from_conn(Connection::open_in_memory()?)
    }

    fn from_conn(conn: Connection) -> Result<Self> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrate(&conn)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        // A poisoned lock means a panic mid-call; the connection itself is
        // still consistent (SQLite rolled back), so keep serving.
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&conn)
    }
}

fn migrate(conn: &Connection) -> Result<()> {
    let done: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(done) {
        conn.execute_batch(&format!(
            "BEGIN; {sql}; PRAGMA user_version = {}; COMMIT;",
            i + 1
        ))?;
        tracing::info!(version = i + 1, "state database migrated");
    }
    Ok(())
}

fn unix(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

fn from_unix(what: &'static str, secs: i64) -> Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(secs).map_err(|e| corrupt(what, e))
}

fn corrupt(what: &'static str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        what,
        detail: e.to_string(),
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("plain data always serializes")
}

fn from_json<T: serde::de::DeserializeOwned>(what: &'static str, s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| corrupt(what, e))
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
    )
}

/// Runs an insert, turning a primary-key collision into `AlreadyExists`.
fn insert(
    conn: &Connection,
    kind: &'static str,
    name: &str,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<()> {
    match conn.execute(sql, params) {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(StoreError::AlreadyExists {
            kind,
            name: name.to_owned(),
        }),
        Err(e) => Err(e.into()),
    }
}

fn require_changed(changed: usize, kind: &'static str, name: &str) -> Result<()> {
    if changed == 0 {
        return Err(StoreError::NotFound {
            kind,
            name: name.to_owned(),
        });
    }
    Ok(())
}

fn user_from_row(r: &Row<'_>) -> Result<UserRecord> {
    let name: String = r.get(0)?;
    Ok(UserRecord {
        name: UserName::new(name).map_err(|e| corrupt("user name", e))?,
        roles: from_json("user roles", &r.get::<_, String>(1)?)?,
        traits: from_json("user traits", &r.get::<_, String>(2)?)?,
        password_hash: r.get(3)?,
        created: from_unix("user created", r.get(4)?)?,
    })
}

fn role_from_row(r: &Row<'_>) -> Result<RoleRecord> {
    let name: String = r.get(0)?;
    let max: i64 = r.get(2)?;
    Ok(RoleRecord {
        name: RoleName::new(name).map_err(|e| corrupt("role name", e))?,
        description: r.get(1)?,
        max_ttl_secs: u64::try_from(max).map_err(|e| corrupt("role max ttl", e))?,
        allow: from_json("role allow", &r.get::<_, String>(3)?)?,
    })
}

fn lock_from_row(r: &Row<'_>) -> Result<Lock> {
    let kind: String = r.get(1)?;
    let name: String = r.get(2)?;
    let expires: Option<i64> = r.get(6)?;
    Ok(Lock {
        id: r.get(0)?,
        target: LockTarget::from_parts(&kind, &name).map_err(|e| corrupt("lock target", e))?,
        reason: r.get(3)?,
        created_by: r.get(4)?,
        created: from_unix("lock created", r.get(5)?)?,
        expires: expires.map(|e| from_unix("lock expires", e)).transpose()?,
    })
}

fn session_from_row(r: &Row<'_>) -> Result<SessionRecord> {
    let id: String = r.get(0)?;
    let user: String = r.get(1)?;
    Ok(SessionRecord {
        id: SessionId::new(id).map_err(|e| corrupt("session id", e))?,
        user: UserName::new(user).map_err(|e| corrupt("session user", e))?,
        source: r.get(2)?,
        created: from_unix("session created", r.get(3)?)?,
        expires: from_unix("session expires", r.get(4)?)?,
    })
}

/// Runs a query and maps every row, collecting typed errors.
fn query_all<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    map: fn(&Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(map(row)?);
    }
    Ok(out)
}

impl Store for SqliteStore {
    fn meta(&self, key: &str) -> Result<Option<String>> {
        self.with(|c| {
            let v = c
                .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional()?;
            Ok(v)
        })
    }

    fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [key, value],
            )?;
            Ok(())
        })
    }

    fn add_user(&self, u: &UserRecord) -> Result<()> {
        self.with(|c| {
            insert(
                c,
                "user",
                u.name.as_str(),
                "INSERT INTO users (name, roles, traits, password_hash, created)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    u.name.as_str(),
                    to_json(&u.roles),
                    to_json(&u.traits),
                    u.password_hash,
                    unix(u.created)
                ],
            )
        })
    }

    fn user(&self, name: &UserName) -> Result<Option<UserRecord>> {
        self.with(|c| {
            let sql =
                "SELECT name, roles, traits, password_hash, created FROM users WHERE name = ?1";
            Ok(query_all(c, sql, [name.as_str()], user_from_row)?.pop())
        })
    }

    fn users(&self) -> Result<Vec<UserRecord>> {
        self.with(|c| {
            let sql = "SELECT name, roles, traits, password_hash, created FROM users ORDER BY name";
            query_all(c, sql, [], user_from_row)
        })
    }

    fn remove_user(&self, name: &UserName) -> Result<()> {
        self.with(|c| {
            let n = c.execute("DELETE FROM users WHERE name = ?1", [name.as_str()])?;
            require_changed(n, "user", name.as_str())
        })
    }

    fn put_role(&self, r: &RoleRecord) -> Result<()> {
        let max = i64::try_from(r.max_ttl_secs).map_err(|e| corrupt("role max ttl", e))?;
        self.with(|c| {
            c.execute(
                "INSERT INTO roles (name, description, max_ttl_secs, allow) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (name) DO UPDATE SET description = excluded.description,
                   max_ttl_secs = excluded.max_ttl_secs, allow = excluded.allow",
                params![r.name.as_str(), r.description, max, to_json(&r.allow)],
            )?;
            Ok(())
        })
    }

    fn role(&self, name: &RoleName) -> Result<Option<RoleRecord>> {
        self.with(|c| {
            let sql = "SELECT name, description, max_ttl_secs, allow FROM roles WHERE name = ?1";
            Ok(query_all(c, sql, [name.as_str()], role_from_row)?.pop())
        })
    }

    fn roles(&self) -> Result<Vec<RoleRecord>> {
        self.with(|c| {
            let sql = "SELECT name, description, max_ttl_secs, allow FROM roles ORDER BY name";
            query_all(c, sql, [], role_from_row)
        })
    }

    fn add_lock(&self, l: &Lock) -> Result<()> {
        self.with(|c| {
            insert(
                c,
                "lock",
                &l.id,
                "INSERT INTO locks (id, kind, name, reason, created_by, created, expires)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    l.id,
                    l.target.kind(),
                    l.target.name(),
                    l.reason,
                    l.created_by,
                    unix(l.created),
                    l.expires.map(unix)
                ],
            )
        })
    }

    fn locks(&self) -> Result<Vec<Lock>> {
        self.with(|c| {
            let sql = "SELECT id, kind, name, reason, created_by, created, expires
                       FROM locks ORDER BY created, id";
            query_all(c, sql, [], lock_from_row)
        })
    }

    fn remove_lock(&self, id: &str) -> Result<()> {
        self.with(|c| {
            let n = c.execute("DELETE FROM locks WHERE id = ?1", [id])?;
            require_changed(n, "lock", id)
        })
    }

    fn add_session(&self, s: &SessionRecord) -> Result<()> {
        self.with(|c| {
            insert(
                c,
                "session",
                s.id.as_str(),
                "INSERT INTO sessions (id, user, source, created, expires) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    s.id.as_str(),
                    s.user.as_str(),
                    s.source,
                    unix(s.created),
                    unix(s.expires)
                ],
            )
        })
    }

    fn sessions(&self, user: &UserName) -> Result<Vec<SessionRecord>> {
        self.with(|c| {
            let sql = "SELECT id, user, source, created, expires FROM sessions
                       WHERE user = ?1 ORDER BY created DESC";
            query_all(c, sql, [user.as_str()], session_from_row)
        })
    }
}
