//! The file store itself: torn tails after a crash, segments, the derived
//! search index.

use std::path::Path;
use std::sync::Arc;

use airlock_audit::file::format::{self, COMMIT, Record};
use airlock_audit::file::{FileStore, Options};
use airlock_audit::merkle::leaf_hash;
use airlock_audit::{AuditError, AuditLog, LogOptions, Query, Tampering, verify_store};

use crate::util::{ORIGIN, TestLog, append_range, event, filled, signer, user, verifier};

/// Appends `records` (encoded) right after the last record of the first
/// segment, as a crash in the middle of a commit can leave them.
fn leave_after_tail(dir: &Path, bytes: &[u8]) {
    let path = airlock_audit::file::first_segment_path(dir);
    let mut seg = std::fs::read(&path).unwrap();
    let records = format::parse_segment(&seg).unwrap().1;
    let tail = airlock_audit::file::HEADER_LEN
        + records
            .iter()
            .map(|r| format::RECORD_HEADER_LEN + r.body.len())
            .sum::<usize>();
    if seg.len() < tail + bytes.len() {
        seg.resize(tail + bytes.len(), 0);
    }
    seg[tail..tail + bytes.len()].copy_from_slice(bytes);
    std::fs::write(&path, seg).unwrap();
}

fn record(seq: u64, flags: u8) -> Vec<u8> {
    let body = format!("{{\"seq\":{seq},\"id\":\"ev-{seq}\"}}").into_bytes();
    let mut out = Vec::new();
    Record {
        seq,
        flags,
        leaf: leaf_hash(&body),
        body,
    }
    .encode(&mut out);
    out
}

#[test]
fn a_torn_batch_after_a_crash_is_ignored_then_cut_on_open() {
    let t = filled(20, 10);
    // A batch of two whose last record never made it whole, and before it a
    // whole batch-less record: neither was acknowledged.
    let mut torn = record(20, 0);
    let last = record(21, COMMIT);
    torn.extend_from_slice(&last[..last.len() - 5]);
    leave_after_tail(&t.path, &torn);
    let r = verify_store(&t.path, &verifier()).unwrap();
    assert!(r.is_ok() && r.entries == 20, "{r}");
    let log = t.open();
    assert_eq!(log.stats().size, 20);
    assert_eq!(log.append_blocking(event(20)).unwrap().seq, 20);
    drop(log);
    let r = verify_store(&t.path, &verifier()).unwrap();
    assert!(r.is_ok() && r.entries == 21, "{r}");
}

#[test]
fn whole_records_without_their_commit_mark_are_not_part_of_the_log() {
    let t = filled(20, 10);
    let mut unfinished = record(20, 0);
    unfinished.extend_from_slice(&record(21, 0));
    leave_after_tail(&t.path, &unfinished);
    let log = t.open();
    assert_eq!(log.stats().size, 20);
    // The space is zeroed: what is appended next is the only thing there.
    append_range(&log, 20, 21);
    drop(log);
    let r = verify_store(&t.path, &verifier()).unwrap();
    assert!(r.is_ok() && r.entries == 21, "{r}");
}

#[test]
fn a_signed_entry_is_never_cut_as_a_torn_tail() {
    let t = filled(50, 10);
    // Break the checksum of the last record, which a checkpoint covers.
    t.attacker().edit_in_place(49, |b| b[3] ^= 1);
    let path = airlock_audit::file::first_segment_path(&t.path);
    let before = std::fs::read(&path).unwrap();
    let err = t.open_err();
    assert!(matches!(err, AuditError::Damaged(_)), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before, "nothing was changed");
    let r = verify_store(&t.path, &verifier()).unwrap();
    assert_eq!(r.problem.map(|p| p.kind), Some(Tampering::Truncated));
}

#[test]
fn a_torn_checkpoint_is_cut_on_open() {
    let t = filled(10, 10);
    let path = airlock_audit::file::checkpoint_path(&t.path);
    let mut bytes = std::fs::read(&path).unwrap();
    let whole = bytes.len();
    format::encode_checkpoint(&mut bytes, 11, b"half a note");
    bytes.truncate(bytes.len() - 4);
    std::fs::write(&path, &bytes).unwrap();
    assert!(verify_store(&t.path, &verifier()).unwrap().is_ok());
    drop(t.open());
    assert_eq!(std::fs::read(&path).unwrap().len(), whole);
}

fn small_segments() -> Options {
    Options {
        segment_bytes: 8 << 10,
        prewrite_bytes: 4 << 10,
        min_free_bytes: 0,
    }
}

fn open_small(t: &TestLog) -> AuditLog {
    let store = Arc::new(FileStore::open_with(&t.path, small_segments()).unwrap());
    AuditLog::open_with(store, signer(), ORIGIN, LogOptions::default()).unwrap()
}

#[test]
fn the_log_rolls_over_segments_and_reads_across_them() {
    let t = TestLog::new();
    let log = open_small(&t);
    for i in 0..150 {
        log.append_blocking(event(i)).unwrap();
    }
    // One batch larger than a segment gets a segment of its own size.
    append_range(&log, 150, 250);
    drop(log);
    let segments = airlock_audit::file::segment_paths(&t.path).unwrap();
    assert!(segments.len() > 5, "{} segments", segments.len());
    let r = verify_store(&t.path, &verifier()).unwrap();
    assert!(r.is_ok() && r.entries == 250, "{r}");
    let log = open_small(&t);
    append_range(&log, 250, 260);
    for seq in [0, 37, 149, 150, 249, 259] {
        assert_eq!(log.get_blocking(&format!("ev-{seq}")).unwrap().seq, seq);
    }
    let q = Query {
        user: Some(user(3)),
        limit: 1000,
        ..Query::default()
    };
    let found: Vec<u64> = log
        .search_blocking(&q)
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    let want: Vec<u64> = (0..260u64)
        .rev()
        .filter(|&i| i % 5 != 4 && i % 7 == 3)
        .collect();
    assert_eq!(found, want);
    assert!(log.verify_blocking().unwrap().is_ok());
}

#[test]
fn a_deleted_segment_file_is_caught() {
    let t = TestLog::new();
    let log = open_small(&t);
    for start in (0..200).step_by(20) {
        append_range(&log, start, start + 20);
        log.checkpoint_now_blocking().unwrap();
    }
    drop(log);
    let segments = airlock_audit::file::segment_paths(&t.path).unwrap();
    let victim = &segments[2];
    let first = format::parse_segment(&std::fs::read(victim).unwrap())
        .unwrap()
        .0
        .first_seq;
    std::fs::remove_file(victim).unwrap();
    let r = verify_store(&t.path, &verifier()).unwrap();
    let p = r.problem.unwrap();
    assert_eq!(
        (p.index, p.kind),
        (first, Tampering::Deleted),
        "{}",
        p.detail
    );
}

fn remove_index(dir: &Path) {
    let index = airlock_audit::file::index_path(dir);
    for suffix in ["", "-wal", "-shm"] {
        let mut p = index.clone().into_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
}

fn user3(log: &AuditLog) -> Vec<u64> {
    let q = Query {
        user: Some(user(3)),
        limit: 1000,
        ..Query::default()
    };
    log.search_blocking(&q)
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect()
}

fn user3_expected(n: u64) -> Vec<u64> {
    (0..n).rev().filter(|&i| i % 5 != 4 && i % 7 == 3).collect()
}

#[test]
fn search_spans_the_written_index_the_rows_in_memory_and_the_log() {
    let t = filled(200, 200);
    // Closed once: the index file holds everything; now add more on top.
    let log = t.open();
    assert_eq!(user3(&log), user3_expected(200));
    append_range(&log, 200, 300);
    assert_eq!(user3(&log), user3_expected(300));
    let oldest = Query {
        user: Some(user(3)),
        limit: 1000,
        order: airlock_audit::Order::OldestFirst,
        ..Query::default()
    };
    let mut want = user3_expected(300);
    want.reverse();
    let got: Vec<u64> = log
        .search_blocking(&oldest)
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(got, want);
}

#[test]
fn a_missing_index_is_rebuilt_from_the_log() {
    let t = filled(200, 50);
    remove_index(&t.path);
    let log = t.open();
    assert_eq!(user3(&log), user3_expected(200));
    assert_eq!(log.get_blocking("ev-123").unwrap().seq, 123);
}

#[test]
fn an_index_of_another_log_is_rebuilt() {
    let a = filled(30, 30);
    let b = filled(200, 50);
    std::fs::copy(
        airlock_audit::file::index_path(&a.path),
        airlock_audit::file::index_path(&b.path),
    )
    .unwrap();
    let log = b.open();
    assert_eq!(user3(&log), user3_expected(200));
}

#[test]
fn an_edited_index_cannot_put_words_in_the_log() {
    let t = filled(200, 50);
    // Index rows now claim user3 for events of other users.
    let conn = rusqlite::Connection::open(airlock_audit::file::index_path(&t.path)).unwrap();
    conn.execute("UPDATE events SET user = 'user3' WHERE seq < 100", [])
        .unwrap();
    drop(conn);
    let log = t.open();
    assert_eq!(
        user3(&log),
        user3_expected(200),
        "results are checked against the log"
    );
    assert!(verify_store(&t.path, &verifier()).unwrap().is_ok());
}

/// The index's meta value for `key`, read while the log may be open.
fn index_meta(dir: &Path, key: &str) -> Option<Vec<u8>> {
    let conn = rusqlite::Connection::open(airlock_audit::file::index_path(dir)).unwrap();
    let sql = "SELECT value FROM meta WHERE key = ?1";
    let mut stmt = conn.prepare(sql).unwrap();
    let mut rows = stmt.query([key]).unwrap();
    rows.next().unwrap().map(|r| r.get(0).unwrap())
}

/// Makes the index look as if it was last opened in another boot, `closed`
/// or not, and plants a row that only a rebuild removes.
fn as_if_from_another_boot(dir: &Path, closed: &str) {
    let conn = rusqlite::Connection::open(airlock_audit::file::index_path(dir)).unwrap();
    let put = "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, CAST(?2 AS BLOB))";
    conn.execute(put, ["boot", "an-earlier-boot"]).unwrap();
    conn.execute(put, ["closed", closed]).unwrap();
    conn.execute(put, ["planted", "1"]).unwrap();
}

#[test]
fn an_index_left_open_when_the_machine_stopped_is_rebuilt() {
    let t = filled(200, 50);
    as_if_from_another_boot(&t.path, "0");
    let log = t.open();
    assert_eq!(index_meta(&t.path, "planted"), None, "rebuilt");
    assert_eq!(user3(&log), user3_expected(200));
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    assert_eq!(index_meta(&t.path, "boot").unwrap(), boot.trim().as_bytes());
    assert_eq!(index_meta(&t.path, "closed").unwrap(), b"0", "open now");
    drop(log);
    assert_eq!(index_meta(&t.path, "closed").unwrap(), b"1", "closed");
}

#[test]
fn an_index_closed_before_the_machine_stopped_is_kept() {
    let t = filled(200, 50);
    as_if_from_another_boot(&t.path, "1");
    let log = t.open();
    assert_eq!(index_meta(&t.path, "planted").unwrap(), b"1", "not rebuilt");
    assert_eq!(user3(&log), user3_expected(200));
}
