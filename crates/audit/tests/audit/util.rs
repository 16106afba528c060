//! Shared fixtures: a fixed audit key, event generators, an attacker's
//! direct access to the log's files.

use std::path::{Path, PathBuf};

use airlock_audit::file::format::{self, COMMIT, Record};
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
        let path = dir.path().join("audit");
        Self { _dir: dir, path }
    }

    pub fn open(&self) -> AuditLog {
        AuditLog::open(&self.path, signer(), ORIGIN).unwrap()
    }

    /// Direct access to the files, as an attacker with the data directory has.
    pub fn attacker(&self) -> Attacker {
        Attacker {
            dir: self.path.clone(),
        }
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

/// `writers` threads each append `each` events one at a time, waiting for
/// each; event numbers start at `first`.
pub fn append_concurrently(log: &AuditLog, writers: usize, each: usize, first: usize) {
    // All start together: threads spawned one by one on a loaded machine
    // would otherwise append alone for a while, which is not concurrency.
    let start = std::sync::Barrier::new(writers);
    std::thread::scope(|s| {
        for w in 0..writers {
            let log = log.clone();
            let start = &start;
            s.spawn(move || {
                start.wait();
                for i in 0..each {
                    log.append_blocking(event(first + w * each + i)).unwrap();
                }
            });
        }
    });
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

/// Someone with write access to the log directory, who knows the format
/// (it is documented) and recomputes checksums unless told not to.
pub struct Attacker {
    pub dir: PathBuf,
}

impl Attacker {
    fn segment(&self) -> PathBuf {
        airlock_audit::file::first_segment_path(&self.dir)
    }

    /// The records of the (first) segment.
    pub fn records(&self) -> Vec<Record> {
        format::parse_segment(&std::fs::read(self.segment()).unwrap())
            .unwrap()
            .1
    }

    /// The body stored at `seq`.
    pub fn body(&self, seq: u64) -> Vec<u8> {
        self.records()[seq as usize].body.clone()
    }

    /// Rewrites the segment's records, keeping its header and length.
    pub fn rewrite(&self, f: impl FnOnce(&mut Vec<Record>)) {
        let path = self.segment();
        let bytes = std::fs::read(&path).unwrap();
        let (_, mut records) = format::parse_segment(&bytes).unwrap();
        f(&mut records);
        let mut out = bytes[..airlock_audit::file::HEADER_LEN].to_vec();
        for r in &records {
            r.encode(&mut out);
        }
        out.resize(out.len().max(bytes.len()), 0);
        std::fs::write(&path, out).unwrap();
    }

    /// Changes body bytes of `seq` in place, leaving the checksum stale.
    pub fn edit_in_place(&self, seq: u64, f: impl FnOnce(&mut [u8])) {
        let path = self.segment();
        let mut bytes = std::fs::read(&path).unwrap();
        let records = format::parse_segment(&bytes).unwrap().1;
        let at = airlock_audit::file::HEADER_LEN
            + records[..seq as usize]
                .iter()
                .map(|r| format::RECORD_HEADER_LEN + r.body.len())
                .sum::<usize>()
            + format::RECORD_HEADER_LEN;
        f(&mut bytes[at..at + records[seq as usize].body.len()]);
        std::fs::write(&path, bytes).unwrap();
    }

    /// Drops every record from `seq` on, marking the new last one as the end
    /// of a commit so the log looks whole.
    pub fn truncate(&self, seq: u64) {
        self.rewrite(|r| {
            r.truncate(seq as usize);
            if let Some(last) = r.last_mut() {
                last.flags |= COMMIT;
            }
        });
    }

    /// The stored checkpoints: `(size, note)`.
    pub fn checkpoints(&self) -> Vec<(u64, String)> {
        let bytes = std::fs::read(airlock_audit::file::checkpoint_path(&self.dir)).unwrap();
        let (entries, _) = format::parse_checkpoints(&bytes).unwrap();
        entries
            .into_iter()
            .map(|e| (e.size, String::from_utf8(e.note).unwrap()))
            .collect()
    }

    /// Rewrites the checkpoint file.
    pub fn rewrite_checkpoints(&self, f: impl FnOnce(&mut Vec<(u64, String)>)) {
        let mut cps = self.checkpoints();
        f(&mut cps);
        let mut out = format::checkpoint_file_header().to_vec();
        for (size, note) in &cps {
            format::encode_checkpoint(&mut out, *size, note.as_bytes());
        }
        std::fs::write(airlock_audit::file::checkpoint_path(&self.dir), out).unwrap();
    }
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
