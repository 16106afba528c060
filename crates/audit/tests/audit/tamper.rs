//! An attacker with the data directory edits the log's files directly;
//! verification must catch each edit and name the first damaged index.

use airlock_audit::merkle::leaf_hash;
use airlock_audit::{AuditError, Tampering, VerifyReport, verify_store};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::util::{Attacker, TestLog, filled, verifier};

fn verify(t: &TestLog) -> VerifyReport {
    verify_store(&t.path, &verifier()).unwrap()
}

fn assert_problem(t: &TestLog, index: u64, kind: Tampering) -> VerifyReport {
    let report = verify(t);
    let p = report
        .problem
        .clone()
        .unwrap_or_else(|| panic!("not detected: {report}"));
    assert_eq!((p.index, p.kind), (index, kind), "{report}");
    report
}

/// 50 events, a signed checkpoint every 10.
fn log50() -> TestLog {
    let t = filled(50, 10);
    let report = verify(&t);
    assert!(report.is_ok(), "{report}");
    assert_eq!(report.entries, 50);
    assert_eq!(report.latest_checkpoint, Some(50));
    t
}

/// Changes the first letter of the action of the event at `seq` (keeping
/// the JSON valid, as a careful attacker would); returns the new body. With
/// `stale_checksum` the record's checksum is left as it was.
fn edit_one_byte(a: &Attacker, seq: u64, stale_checksum: bool) -> Vec<u8> {
    let flip = |b: &mut [u8]| {
        let at = find(b, b"\"action\":\"") + 10;
        b[at] = if b[at] == b'x' { b'y' } else { b'x' };
    };
    if stale_checksum {
        a.edit_in_place(seq, flip);
    } else {
        a.rewrite(|r| flip(&mut r[seq as usize].body));
    }
    a.body(seq)
}

fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).position(|w| w == needle).unwrap()
}

#[test]
fn edited_body_is_caught_at_its_index() {
    for stale_checksum in [true, false] {
        let t = log50();
        edit_one_byte(&t.attacker(), 23, stale_checksum);
        let r = assert_problem(&t, 23, Tampering::Edited);
        assert!(r.to_string().contains("TAMPERED at index 23"), "{r}");
    }
}

#[test]
fn an_edit_outside_the_body_is_caught_by_the_checksum() {
    let t = log50();
    let path = airlock_audit::file::first_segment_path(&t.path);
    let mut bytes = std::fs::read(&path).unwrap();
    // The reserved bytes of the first record's header.
    bytes[airlock_audit::file::HEADER_LEN + 20] = 1;
    std::fs::write(&path, bytes).unwrap();
    assert_problem(&t, 0, Tampering::Malformed);
}

#[test]
fn deleted_record_is_caught_at_its_index() {
    let t = log50();
    t.attacker().rewrite(|r| {
        r.remove(17);
    });
    assert_problem(&t, 17, Tampering::Deleted);
}

#[test]
fn swapped_records_are_caught_at_the_first() {
    let t = log50();
    t.attacker().rewrite(|r| r.swap(12, 31));
    assert_problem(&t, 12, Tampering::Reordered);
    let t = log50();
    t.attacker().rewrite(|r| r.swap(12, 13));
    assert_problem(&t, 12, Tampering::Reordered);
}

#[test]
fn swapped_bodies_are_caught_at_the_first() {
    // Records stay filed under their seqs; only bodies and leaves move.
    let t = log50();
    t.attacker().rewrite(|r| {
        let (a, b) = (r[12].clone(), r[31].clone());
        (r[12].body, r[12].leaf) = (b.body, b.leaf);
        (r[31].body, r[31].leaf) = (a.body, a.leaf);
    });
    assert_problem(&t, 12, Tampering::Reordered);
}

#[test]
fn zeroed_record_in_the_middle_is_caught() {
    let t = log50();
    let path = airlock_audit::file::first_segment_path(&t.path);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = airlock_audit::file::HEADER_LEN;
    let len = airlock_audit::file::format::RECORD_HEADER_LEN + t.attacker().body(0).len();
    bytes[at..at + len].fill(0);
    std::fs::write(&path, bytes).unwrap();
    assert_problem(&t, 0, Tampering::Truncated);
}

#[test]
fn truncated_tail_is_caught() {
    let t = log50();
    t.attacker().truncate(45);
    let r = assert_problem(&t, 45, Tampering::Truncated);
    assert_eq!(r.problem.unwrap().end, Some(50));
    // The server refuses to append on top of a truncated log.
    let err = TestLog::open_err(&t);
    assert!(matches!(err, AuditError::Damaged(_)), "{err}");
}

#[test]
fn replaced_checkpoint_signature_is_caught() {
    let t = log50();
    t.attacker().rewrite_checkpoints(|cps| {
        let note = &mut cps.iter_mut().find(|c| c.0 == 30).unwrap().1;
        let (text, sig_line) = note.rsplit_once("\n\n").unwrap();
        let (prefix, b64) = sig_line.trim_end().rsplit_once(' ').unwrap();
        let mut blob = B64.decode(b64).unwrap();
        blob[10] ^= 0xff; // keep the key id, break the signature
        *note = format!("{text}\n\n{prefix} {}\n", B64.encode(blob));
    });
    let r = assert_problem(&t, 30, Tampering::BadCheckpoint);
    assert!(r.problem.unwrap().detail.contains("does not verify"));
}

/// Rewrites the body at `seq` and fixes its leaf hash (and checksum) too.
fn rewrite_with_leaf(t: &TestLog, seq: u64) {
    let a = t.attacker();
    let b = edit_one_byte(&a, seq, false);
    a.rewrite(|r| r[seq as usize].leaf = leaf_hash(&b));
}

#[test]
fn body_and_leaf_rewrite_is_caught_by_the_signed_root() {
    // A checkpoint after every event pins the rewrite to one index.
    let t = filled(40, 1);
    rewrite_with_leaf(&t, 25);
    let r = assert_problem(&t, 25, Tampering::Rewritten);
    assert_eq!(r.problem.unwrap().end, Some(26));
}

#[test]
fn body_and_leaf_rewrite_is_bounded_by_checkpoints() {
    // With a checkpoint every 10 events, the report names the range
    // [20, 30) that holds the rewritten entry 25.
    let t = log50();
    rewrite_with_leaf(&t, 25);
    let r = assert_problem(&t, 20, Tampering::Rewritten);
    assert_eq!(r.problem.unwrap().end, Some(30));
    // Reopening for writing checks the leaves against the latest checkpoint.
    let err = TestLog::open_err(&t);
    assert!(matches!(err, AuditError::Damaged(_)), "{err}");
}

#[test]
fn live_verify_sees_tampering_too() {
    let t = log50();
    let log = t.open();
    assert!(log.verify_blocking().unwrap().is_ok());
    t.attacker().rewrite(|r| {
        r.remove(3);
    });
    let r = log.verify_blocking().unwrap();
    assert_eq!(
        r.problem.map(|p| (p.index, p.kind)),
        Some((3, Tampering::Deleted))
    );
}

#[test]
fn verify_of_a_missing_directory_is_an_error_not_a_new_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope");
    assert!(verify_store(&path, &verifier()).is_err());
    assert!(!crate::util::exists(&path));
    // An empty directory is no log either.
    assert!(verify_store(dir.path(), &verifier()).is_err());
}

#[test]
fn deleting_every_checkpoint_leaves_the_log_unsigned() {
    let t = log50();
    t.attacker().rewrite_checkpoints(Vec::clear);
    let r = assert_problem(&t, 0, Tampering::Unsigned);
    assert_eq!(r.unsigned_tail, 50);
    std::fs::remove_file(airlock_audit::file::checkpoint_path(&t.path)).unwrap();
    assert_problem(&t, 0, Tampering::Unsigned);
}

#[test]
fn a_kept_checkpoint_exposes_a_rewrite_hidden_by_deleting_checkpoints() {
    let t = log50();
    let kept = t
        .attacker()
        .checkpoints()
        .into_iter()
        .find(|c| c.0 == 40)
        .unwrap()
        .1;
    // The attacker rewrites entry 35 with its leaf hash and deletes the
    // checkpoints from 40 on, which would expose it.
    rewrite_with_leaf(&t, 35);
    t.attacker()
        .rewrite_checkpoints(|cps| cps.retain(|c| c.0 < 40));
    assert_problem(&t, 30, Tampering::Unsigned);
    let r = airlock_audit::verify_store_against(&t.path, &verifier(), &[kept]).unwrap();
    let p = r.problem.unwrap();
    assert_eq!(
        (p.index, p.kind, p.end),
        (30, Tampering::Rewritten, Some(40))
    );
}

#[test]
fn reports_travel_as_json() {
    let t = log50();
    t.attacker().rewrite(|r| {
        r.remove(9);
    });
    let report = verify(&t);
    let json = serde_json::to_string(&report).unwrap();
    assert!(json.contains("\"kind\":\"deleted\""), "{json}");
    let back: VerifyReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, report);
}

#[test]
fn an_inserted_copy_is_caught_at_its_index() {
    // A second copy of event 20 put in after it, checksums recomputed.
    let t = log50();
    t.attacker().rewrite(|r| {
        let copy = r[20].clone();
        r.insert(21, copy);
    });
    assert_problem(&t, 21, Tampering::Reordered);
}

#[test]
fn an_inserted_forgery_with_renumbered_rows_is_caught() {
    // The careful attacker: a forged event at 21, every later row
    // renumbered (its body's seq and id too), leaf hashes recomputed so each
    // row is self-consistent. Only the signed checkpoints can tell.
    let t = log50();
    let a = t.attacker();
    let mut forged = a.body(20);
    let at = find(&forged, b"\"action\":\"") + 10;
    forged[at] = if forged[at] == b'x' { b'y' } else { b'x' };
    a.rewrite(|r| {
        let mut row = r[20].clone();
        row.leaf = leaf_hash(&forged);
        row.body = forged;
        r.insert(21, row);
        for (seq, row) in r.iter_mut().enumerate().skip(21) {
            let mut ev = airlock_audit::AuditEvent::decode(&row.body).unwrap();
            ev.seq = seq as u64;
            row.body = ev.canonical();
            row.leaf = leaf_hash(&row.body);
            row.seq = seq as u64;
        }
    });
    // The checkpoint covering [20, 30) no longer matches.
    let r = assert_problem(&t, 20, Tampering::Rewritten);
    assert_eq!(r.problem.unwrap().end, Some(30));
}
