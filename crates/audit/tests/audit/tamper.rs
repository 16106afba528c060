//! An attacker with the data directory edits the SQLite file directly;
//! verification must catch each edit and name the first damaged index.

use airlock_audit::merkle::leaf_hash;
use airlock_audit::{AuditError, Tampering, VerifyReport, verify_store};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::util::{TestLog, body, filled, verifier};

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

/// Changes the first letter of the action of the event at `seq`
/// (keeping the JSON valid, as a careful attacker would).
fn edit_one_byte(conn: &rusqlite::Connection, seq: u64) -> Vec<u8> {
    let mut b = body(conn, seq);
    let at = find(&b, b"\"action\":\"") + 10;
    b[at] = if b[at] == b'x' { b'y' } else { b'x' };
    let s = String::from_utf8(b.clone()).unwrap();
    conn.execute(
        "UPDATE events SET body = ?1 WHERE seq = ?2",
        rusqlite::params![s, seq as i64],
    )
    .unwrap();
    b
}

fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).position(|w| w == needle).unwrap()
}

#[test]
fn edited_body_is_caught_at_its_index() {
    let t = log50();
    edit_one_byte(&t.attacker(), 23);
    let r = assert_problem(&t, 23, Tampering::Edited);
    assert!(r.to_string().contains("TAMPERED at index 23"), "{r}");
}

#[test]
fn deleted_row_is_caught_at_its_index() {
    let t = log50();
    t.attacker()
        .execute("DELETE FROM events WHERE seq = 17", [])
        .unwrap();
    assert_problem(&t, 17, Tampering::Deleted);
}

#[test]
fn swapped_rows_are_caught_at_the_first() {
    let t = log50();
    let c = t.attacker();
    let (a, b) = (body(&c, 12), body(&c, 31));
    let set = "UPDATE events SET body = ?1, leaf = ?2 WHERE seq = ?3";
    for (seq, bytes) in [(12i64, &b), (31, &a)] {
        let s = std::str::from_utf8(bytes).unwrap();
        c.execute(set, rusqlite::params![s, &leaf_hash(bytes)[..], seq])
            .unwrap();
    }
    assert_problem(&t, 12, Tampering::Reordered);
}

#[test]
fn truncated_tail_is_caught() {
    let t = log50();
    t.attacker()
        .execute("DELETE FROM events WHERE seq >= 45", [])
        .unwrap();
    let r = assert_problem(&t, 45, Tampering::Truncated);
    assert_eq!(r.problem.unwrap().end, Some(50));
    // The server refuses to append on top of a truncated log.
    let err = TestLog::open_err(&t);
    assert!(matches!(err, AuditError::Damaged(_)), "{err}");
}

#[test]
fn replaced_checkpoint_signature_is_caught() {
    let t = log50();
    let c = t.attacker();
    let note: String = c
        .query_row("SELECT note FROM checkpoints WHERE size = 30", [], |r| {
            r.get(0)
        })
        .unwrap();
    let (text, sig_line) = note.rsplit_once("\n\n").unwrap();
    let (prefix, b64) = sig_line.trim_end().rsplit_once(' ').unwrap();
    let mut blob = B64.decode(b64).unwrap();
    blob[10] ^= 0xff; // keep the key id, break the signature
    let forged = format!("{text}\n\n{prefix} {}\n", B64.encode(blob));
    c.execute("UPDATE checkpoints SET note = ?1 WHERE size = 30", [forged])
        .unwrap();
    let r = assert_problem(&t, 30, Tampering::BadCheckpoint);
    assert!(r.problem.unwrap().detail.contains("does not verify"));
}

/// Rewrites the body at `seq` and fixes its leaf column too.
fn rewrite_with_leaf(t: &TestLog, seq: u64) {
    let c = t.attacker();
    let b = edit_one_byte(&c, seq);
    c.execute(
        "UPDATE events SET leaf = ?1 WHERE seq = ?2",
        rusqlite::params![&leaf_hash(&b)[..], seq as i64],
    )
    .unwrap();
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
}

#[test]
fn live_verify_sees_tampering_too() {
    let t = log50();
    let log = t.open();
    assert!(log.verify_blocking().unwrap().is_ok());
    t.attacker()
        .execute("DELETE FROM events WHERE seq = 3", [])
        .unwrap();
    let r = log.verify_blocking().unwrap();
    assert_eq!(
        r.problem.map(|p| (p.index, p.kind)),
        Some((3, Tampering::Deleted))
    );
}

#[test]
fn verify_of_a_missing_file_is_an_error_not_a_new_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.db");
    assert!(verify_store(&path, &verifier()).is_err());
    assert!(!crate::util::exists(&path));
}

#[test]
fn deleting_every_checkpoint_leaves_the_log_unsigned() {
    let t = log50();
    t.attacker().execute("DELETE FROM checkpoints", []).unwrap();
    let r = assert_problem(&t, 0, Tampering::Unsigned);
    assert_eq!(r.unsigned_tail, 50);
}

#[test]
fn a_kept_checkpoint_exposes_a_rewrite_hidden_by_deleting_checkpoints() {
    let t = log50();
    let kept: String = t
        .attacker()
        .query_row("SELECT note FROM checkpoints WHERE size = 40", [], |r| {
            r.get(0)
        })
        .unwrap();
    // The attacker rewrites entry 35 with its leaf hash and deletes the
    // checkpoints from 40 on, which would expose it.
    rewrite_with_leaf(&t, 35);
    t.attacker()
        .execute("DELETE FROM checkpoints WHERE size >= 40", [])
        .unwrap();
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
    t.attacker()
        .execute("DELETE FROM events WHERE seq = 9", [])
        .unwrap();
    let report = verify(&t);
    let json = serde_json::to_string(&report).unwrap();
    assert!(json.contains("\"kind\":\"deleted\""), "{json}");
    let back: VerifyReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, report);
}
