//! Inclusion proofs: `prove EVENT_ID`, then verify offline.

use airlock_audit::{AuditError, InclusionProofBundle, NoteSigner, verify_proof_bundle};

use crate::util::{ORIGIN, TestLog, append_range, verifier};

#[test]
fn every_event_proves_and_verifies_offline() {
    let t = TestLog::new();
    let log = t.open();
    append_range(&log, 0, 37);
    log.checkpoint_now_blocking().unwrap();
    append_range(&log, 37, 50); // not yet checkpointed: prove signs one first
    for seq in [0u64, 1, 20, 36, 37, 49] {
        let bundle = log.prove_blocking(&format!("ev-{seq}")).unwrap();
        assert_eq!(bundle.tree_size, if seq < 37 { 37 } else { 50 });
        let json = serde_json::to_string_pretty(&bundle).unwrap();
        let back: InclusionProofBundle = serde_json::from_str(&json).unwrap();
        let ev = verify_proof_bundle(&back, &verifier()).unwrap();
        assert_eq!(ev.seq, seq);
    }
    assert!(matches!(
        log.prove_blocking("ev-50"),
        Err(AuditError::NotFound(_))
    ));
}

#[test]
fn altered_bundles_do_not_verify() {
    let t = TestLog::new();
    let log = t.open();
    append_range(&log, 0, 20);
    let good = log.prove_blocking("ev-9").unwrap();
    let v = verifier();
    let mut b = good.clone();
    b.body = b.body.replacen("user", "usex", 1);
    assert!(verify_proof_bundle(&b, &v).is_err(), "edited event");
    let mut b = good.clone();
    b.proof[0] = "00".repeat(32);
    assert!(verify_proof_bundle(&b, &v).is_err(), "edited path");
    let mut b = good.clone();
    b.seq = 8;
    assert!(verify_proof_bundle(&b, &v).is_err(), "wrong index");
    let mut b = good.clone();
    b.proof.push("zz".into());
    assert!(verify_proof_bundle(&b, &v).is_err(), "malformed hash");
    let other = NoteSigner::from_seed(ORIGIN, &[1u8; 32]).unwrap();
    let body = good.checkpoint.split("\n\n").next().unwrap().to_owned() + "\n";
    let mut b = good.clone();
    b.checkpoint = other.sign(&body).unwrap();
    assert!(
        verify_proof_bundle(&b, &v).is_err(),
        "checkpoint signed by another key"
    );
    verify_proof_bundle(&good, &v).unwrap();
}

#[tokio::test]
async fn async_prove_signs_a_checkpoint_when_needed() {
    let t = TestLog::new();
    let log = t.open();
    for i in 0..3 {
        log.append(crate::util::event(i)).await.unwrap();
    }
    let bundle = log.prove("ev-2".into()).await.unwrap();
    assert_eq!(bundle.tree_size, 3);
    verify_proof_bundle(&bundle, &verifier()).unwrap();
}
