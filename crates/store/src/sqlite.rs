//! The embedded default store: one SQLite file, WAL mode, full sync.
//!
//! Control-plane writes are rare (users, locks, logins), so every write is
//! its own durable transaction; simplicity beats batching here.

use std::path::Path;
use std::sync::Mutex;

use airlock_core::{RoleName, SandboxId, SandboxName, SessionId, UserName};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params};
use time::OffsetDateTime;

use crate::{
    Lock, LockTarget, PolicyFile, ResourceRecord, Result, RoleRecord, SandboxRecord, SandboxState,
    SecretRecord, SessionRecord, Store, StoreError, UserRecord,
};

/// Schema migrations, applied in order; `PRAGMA user_version` records how
/// many have run. Append only: never edit a migration that has shipped.
const MIGRATIONS: &[&str] = &[
    r#"
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
"#,
    r#"
ALTER TABLE roles ADD COLUMN max_sandbox_ttl_secs INTEGER NOT NULL DEFAULT 28800;
CREATE TABLE sandboxes (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    owner TEXT NOT NULL,
    backend TEXT NOT NULL,
    image TEXT NOT NULL,
    profile TEXT,
    limits TEXT NOT NULL,
    state TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    ended_ms INTEGER
);
CREATE UNIQUE INDEX sandboxes_live_name ON sandboxes (owner, name)
    WHERE state IN ('creating', 'running');
CREATE INDEX sandboxes_live_expiry ON sandboxes (expires_ms)
    WHERE state IN ('creating', 'running');
CREATE INDEX sandboxes_by_owner ON sandboxes (owner, created_ms);
"#,
    r#"
CREATE TABLE policy_files (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    text TEXT NOT NULL
);
CREATE TABLE profiles (name TEXT PRIMARY KEY, text TEXT NOT NULL);
CREATE TABLE secrets (
    name TEXT PRIMARY KEY,
    nonce BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    updated INTEGER NOT NULL
);
CREATE TABLE resources (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    spec TEXT NOT NULL,
    created INTEGER NOT NULL
);
"#,
];

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

fn unix_ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

fn from_unix_ms(what: &'static str, ms: i64) -> Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|e| corrupt(what, e))
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
    let max_sandbox: i64 = r.get(4)?;
    Ok(RoleRecord {
        name: RoleName::new(name).map_err(|e| corrupt("role name", e))?,
        description: r.get(1)?,
        max_ttl_secs: u64::try_from(max).map_err(|e| corrupt("role max ttl", e))?,
        max_sandbox_ttl_secs: u64::try_from(max_sandbox)
            .map_err(|e| corrupt("role max sandbox ttl", e))?,
    })
}

const SANDBOX_COLUMNS: &str = "id, name, owner, backend, image, profile, limits, state, \
                               created_ms, expires_ms, ended_ms";

fn sandbox_from_row(r: &Row<'_>) -> Result<SandboxRecord> {
    let text = |i| -> Result<String> { Ok(r.get::<_, String>(i)?) };
    let ended: Option<i64> = r.get(10)?;
    Ok(SandboxRecord {
        id: SandboxId::new(text(0)?).map_err(|e| corrupt("sandbox id", e))?,
        name: SandboxName::new(text(1)?).map_err(|e| corrupt("sandbox name", e))?,
        owner: UserName::new(text(2)?).map_err(|e| corrupt("sandbox owner", e))?,
        backend: text(3)?
            .parse()
            .map_err(|e| corrupt("sandbox backend", e))?,
        image: text(4)?,
        profile: r.get(5)?,
        limits: from_json("sandbox limits", &text(6)?)?,
        state: SandboxState::parse(&text(7)?).map_err(|e| corrupt("sandbox state", e))?,
        created: from_unix_ms("sandbox created", r.get(8)?)?,
        expires: from_unix_ms("sandbox expires", r.get(9)?)?,
        ended: ended
            .map(|e| from_unix_ms("sandbox ended", e))
            .transpose()?,
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
        let max_sandbox = i64::try_from(r.max_sandbox_ttl_secs)
            .map_err(|e| corrupt("role max sandbox ttl", e))?;
        self.with(|c| {
            c.execute(
                "INSERT INTO roles (name, description, max_ttl_secs, allow, max_sandbox_ttl_secs)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (name) DO UPDATE SET description = excluded.description,
                   max_ttl_secs = excluded.max_ttl_secs,
                   max_sandbox_ttl_secs = excluded.max_sandbox_ttl_secs",
                params![
                    r.name.as_str(),
                    r.description,
                    max,
                    "[]", // `allow` predates policy; unused, kept for the schema
                    max_sandbox
                ],
            )?;
            Ok(())
        })
    }

    fn role(&self, name: &RoleName) -> Result<Option<RoleRecord>> {
        self.with(|c| {
            let sql = "SELECT name, description, max_ttl_secs, allow, max_sandbox_ttl_secs
                       FROM roles WHERE name = ?1";
            Ok(query_all(c, sql, [name.as_str()], role_from_row)?.pop())
        })
    }

    fn roles(&self) -> Result<Vec<RoleRecord>> {
        self.with(|c| {
            let sql = "SELECT name, description, max_ttl_secs, allow, max_sandbox_ttl_secs
                       FROM roles ORDER BY name";
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

    fn add_sandbox(&self, sb: &SandboxRecord) -> Result<()> {
        self.with(|c| {
            let sql = format!(
                "INSERT INTO sandboxes ({SANDBOX_COLUMNS})
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
            );
            insert(
                c,
                "sandbox",
                sb.name.as_str(),
                &sql,
                params![
                    sb.id.as_str(),
                    sb.name.as_str(),
                    sb.owner.as_str(),
                    sb.backend.as_str(),
                    sb.image,
                    sb.profile,
                    to_json(&sb.limits),
                    sb.state.as_str(),
                    unix_ms(sb.created),
                    unix_ms(sb.expires),
                    sb.ended.map(unix_ms)
                ],
            )
        })
    }

    fn sandbox(&self, id: &SandboxId) -> Result<Option<SandboxRecord>> {
        self.with(|c| {
            let sql = format!("SELECT {SANDBOX_COLUMNS} FROM sandboxes WHERE id = ?1");
            Ok(query_all(c, &sql, [id.as_str()], sandbox_from_row)?.pop())
        })
    }

    fn live_sandbox_named(
        &self,
        owner: &UserName,
        name: &SandboxName,
    ) -> Result<Option<SandboxRecord>> {
        self.with(|c| {
            let sql = format!(
                "SELECT {SANDBOX_COLUMNS} FROM sandboxes
                 WHERE owner = ?1 AND name = ?2 AND state IN ('creating', 'running')"
            );
            Ok(query_all(c, &sql, [owner.as_str(), name.as_str()], sandbox_from_row)?.pop())
        })
    }

    fn sandboxes(&self, owner: Option<&UserName>, live_only: bool) -> Result<Vec<SandboxRecord>> {
        self.with(|c| {
            let live = if live_only {
                "AND state IN ('creating', 'running')"
            } else {
                ""
            };
            let sql = format!(
                "SELECT {SANDBOX_COLUMNS} FROM sandboxes
                 WHERE (?1 IS NULL OR owner = ?1) {live} ORDER BY created_ms DESC, id"
            );
            query_all(c, &sql, [owner.map(UserName::as_str)], sandbox_from_row)
        })
    }

    fn set_sandbox_state(
        &self,
        id: &SandboxId,
        state: SandboxState,
        at: OffsetDateTime,
    ) -> Result<()> {
        self.with(|c| {
            let ended = (!state.is_live()).then(|| unix_ms(at));
            let n = c.execute(
                "UPDATE sandboxes SET state = ?2, ended_ms = COALESCE(?3, ended_ms) WHERE id = ?1",
                params![id.as_str(), state.as_str(), ended],
            )?;
            require_changed(n, "sandbox", id.as_str())
        })
    }

    fn next_expiry(&self) -> Result<Option<OffsetDateTime>> {
        self.with(|c| {
            let ms: Option<i64> = c.query_row(
                "SELECT MIN(expires_ms) FROM sandboxes WHERE state IN ('creating', 'running')",
                [],
                |r| r.get(0),
            )?;
            ms.map(|m| from_unix_ms("sandbox expires", m)).transpose()
        })
    }

    fn policy_files(&self) -> Result<Vec<PolicyFile>> {
        self.with(|c| {
            query_all(
                c,
                "SELECT name, kind, text FROM policy_files ORDER BY kind, name",
                [],
                |r| {
                    Ok(PolicyFile {
                        name: r.get(0)?,
                        kind: r.get(1)?,
                        text: r.get(2)?,
                    })
                },
            )
        })
    }

    fn replace_policy_files(&self, files: &[PolicyFile]) -> Result<()> {
        self.with(|c| {
            let tx = c.unchecked_transaction()?;
            tx.execute("DELETE FROM policy_files", [])?;
            for f in files {
                tx.execute(
                    "INSERT INTO policy_files (name, kind, text) VALUES (?1, ?2, ?3)",
                    params![f.name, f.kind, f.text],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn profiles(&self) -> Result<Vec<(String, String)>> {
        self.with(|c| {
            query_all(
                c,
                "SELECT name, text FROM profiles ORDER BY name",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
        })
    }

    fn put_profile(&self, name: &str, text: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO profiles (name, text) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET text = excluded.text",
                [name, text],
            )?;
            Ok(())
        })
    }

    fn remove_profile(&self, name: &str) -> Result<()> {
        self.with(|c| {
            let n = c.execute("DELETE FROM profiles WHERE name = ?1", [name])?;
            require_changed(n, "profile", name)
        })
    }

    fn put_secret(&self, s: &SecretRecord) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO secrets (name, nonce, ciphertext, updated) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (name) DO UPDATE SET nonce = excluded.nonce,
                   ciphertext = excluded.ciphertext, updated = excluded.updated",
                params![s.name, s.nonce, s.ciphertext, unix(s.updated)],
            )?;
            Ok(())
        })
    }

    fn secrets(&self) -> Result<Vec<SecretRecord>> {
        self.with(|c| {
            query_all(
                c,
                "SELECT name, nonce, ciphertext, updated FROM secrets ORDER BY name",
                [],
                |r| {
                    Ok(SecretRecord {
                        name: r.get(0)?,
                        nonce: r.get(1)?,
                        ciphertext: r.get(2)?,
                        updated: from_unix("secret updated", r.get(3)?)?,
                    })
                },
            )
        })
    }

    fn remove_secret(&self, name: &str) -> Result<()> {
        self.with(|c| {
            let n = c.execute("DELETE FROM secrets WHERE name = ?1", [name])?;
            require_changed(n, "secret", name)
        })
    }

    fn add_resource(&self, r: &ResourceRecord) -> Result<()> {
        self.with(|c| {
            insert(
                c,
                "resource",
                &r.name,
                "INSERT INTO resources (name, kind, spec, created) VALUES (?1, ?2, ?3, ?4)",
                params![r.name, r.kind, to_json(&r.spec), unix(r.created)],
            )
        })
    }

    fn resources(&self) -> Result<Vec<ResourceRecord>> {
        self.with(|c| {
            query_all(
                c,
                "SELECT name, kind, spec, created FROM resources ORDER BY name",
                [],
                |r| {
                    Ok(ResourceRecord {
                        name: r.get(0)?,
                        kind: r.get(1)?,
                        spec: from_json("resource spec", &r.get::<_, String>(2)?)?,
                        created: from_unix("resource created", r.get(3)?)?,
                    })
                },
            )
        })
    }

    fn remove_resource(&self, name: &str) -> Result<()> {
        self.with(|c| {
            let n = c.execute("DELETE FROM resources WHERE name = ?1", [name])?;
            require_changed(n, "resource", name)
        })
    }
}
