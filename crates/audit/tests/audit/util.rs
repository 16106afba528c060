//! Shared fixtures: a fixed audit key, event generators, an attacker's
//! direct connection to the database.

use std::path::{Path, PathBuf};

use airlock_audit::{AuditEvent, AuditLog, EventCode, NoteSigner, NoteVerifier};
use airlock_core::{SandboxId, SpiffeId, TrustDomain, UserName};
use time::OffsetDateTime;
use time::macros::datetime;

pub const ORIGIN: &str = "airlock.test/audit";

pub fn signer() -> NoteSigner {
    NoteSigner::from_seed(ORIGIN, &[7u8; 32]).unwrap()
}

pub fn verifier() -> NoteVerifier {
    signer().verifier()
}

pub struct TestLog {
    /// Kept so the directory lives as long as the test.
    pub _dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl TestLog {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.db");
        Self { _dir: dir, path }
    }

    pub fn open(&self) -> AuditLog {
        AuditLog::open(&self.path, signer(), ORIGIN).unwrap()
    }

    /// A direct connection, as an attacker with the data directory has.
    pub fn attacker(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(&self.path).unwrap()
    }
}

pub fn user(i: usize) -> UserName {
    UserName::new(format!("user{}", i % 7)).unwrap()
}

pub fn sandbox(i: usize) -> SandboxId {
    SandboxId::new(format!("sb-{}", i % 3)).unwrap()
}

pub fn workload(i: usize) -> SpiffeId {
    SpiffeId::workload(&TrustDomain::new("airlock.test").unwrap(), &sandbox(i))
}

pub const T0: OffsetDateTime = datetime!(2025-01-01 00:00:00 UTC);

/// The i-th event of a varied, deterministic stream.
pub fn event(i: usize) -> AuditEvent {
    let at = T0 + time::Duration::seconds(i as i64);
    let ev = match i % 5 {
        0 => AuditEvent::new(EventCode::UserLogin)
            .user(user(i))
            .source("10.1.2.3:5555"),
        1 => {
            let ev = AuditEvent::new(EventCode::HttpRequest)
                .user(user(i))
                .workload(workload(i))
                .sandbox(sandbox(i))
                .resource("api.github.com")
                .detail("method", if i.is_multiple_of(2) { "GET" } else { "POST" })
                .detail("host", "api.github.com")
                .detail("path", "/repos");
            if i.is_multiple_of(3) {
                ev.deny("POST is not allowed")
            } else {
                ev
            }
        }
        2 => AuditEvent::new(EventCode::SandboxCreated)
            .user(user(i))
            .sandbox(sandbox(i)),
        3 => AuditEvent::new(EventCode::SandboxExec)
            .user(user(i))
            .sandbox(sandbox(i))
            .deny("exec is not allowed for this role"),
        _ => AuditEvent::new(EventCode::ApiRefused)
            .action("admin.user.add")
            .deny("not an admin"),
    };
    ev.at(at)
}

/// Appends events `from..to` in one batch.
pub fn append_range(log: &AuditLog, from: usize, to: usize) {
    let evs = (from..to).map(event).collect();
    let receipts = log.append_many_blocking(evs).unwrap();
    assert_eq!(receipts.first().map(|r| r.seq), Some(from as u64));
}

/// A log of `n` events with a checkpoint every `every` events.
pub fn filled(n: usize, every: usize) -> TestLog {
    let t = TestLog::new();
    let log = t.open();
    for start in (0..n).step_by(every) {
        append_range(&log, start, (start + every).min(n));
        log.checkpoint_now_blocking().unwrap();
    }
    drop(log);
    t
}

pub fn body(conn: &rusqlite::Connection, seq: u64) -> Vec<u8> {
    conn.query_row(
        "SELECT body FROM events WHERE seq = ?1",
        [seq as i64],
        |r| r.get::<_, String>(0),
    )
    .unwrap()
    .into_bytes()
}

pub fn exists(p: &Path) -> bool {
    p.exists()
}

impl TestLog {
    /// The error `AuditLog::open` gives on this (damaged) store.
    pub fn open_err(&self) -> airlock_audit::AuditError {
        AuditLog::open(&self.path, signer(), ORIGIN).unwrap_err()
    }
}
