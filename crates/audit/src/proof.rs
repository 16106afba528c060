//! Inclusion-proof bundles: everything needed to show, offline, that one event
//! is in the log a signed checkpoint commits to.

use serde::{Deserialize, Serialize};

use crate::checkpoint::{Checkpoint, NoteVerifier};
use crate::error::AuditError;
use crate::event::{AuditEvent, body_seq, event_id, parse_event_id};
use crate::log::AuditLog;
use crate::merkle::{Hash, consistency_proof, inclusion_proof, leaf_hash, verify_inclusion};

/// The bundle format tag; bump when the shape changes.
pub const BUNDLE_FORMAT: &str = "airlock-inclusion-proof/v1";

/// A self-contained inclusion proof (what `airlock audit prove` prints).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionProofBundle {
    /// [`BUNDLE_FORMAT`].
    pub format: String,
    /// The event id.
    pub id: String,
    /// The event's index.
    pub seq: u64,
    /// The exact stored bytes of the event (its canonical JSON, as a string).
    pub body: String,
    /// Hex leaf hash of `body`.
    pub leaf_hash: String,
    /// Size of the tree the proof is for (that of `checkpoint`).
    pub tree_size: u64,
    /// Hex audit path, leaf upwards (RFC 6962 §2.1.1).
    pub proof: Vec<String>,
    /// The signed checkpoint note the proof leads to.
    pub checkpoint: String,
}

/// Serializes a hash as lowercase hex.
pub(crate) fn ser_hash<S: serde::Serializer>(h: &Hash, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(h))
}

fn unhex(what: &str, s: &str) -> Result<Hash, AuditError> {
    hex::decode(s)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| AuditError::BadProof(format!("{what} is not a hex SHA-256 hash")))
}

impl AuditLog {
    /// Builds the inclusion proof of event `id` against the first signed
    /// checkpoint that covers it. Reads every leaf up to that checkpoint.
    /// Blocking; if no checkpoint covers the event yet, one is signed first.
    pub fn prove_blocking(&self, id: &str) -> Result<InclusionProofBundle, AuditError> {
        let not_found = || AuditError::NotFound(id.chars().take(40).collect());
        let seq = parse_event_id(id).ok_or_else(not_found)?;
        let store = self.store();
        let entry = store.get(seq)?.ok_or_else(not_found)?;
        let cp = match store.checkpoint_covering(seq)? {
            Some(cp) => cp,
            None => {
                self.checkpoint_now_blocking()?;
                store.checkpoint_covering(seq)?.ok_or_else(not_found)?
            }
        };
        let mut leaves = Vec::with_capacity(cp.size as usize);
        store.scan_leaves(0, cp.size, &mut |_, leaf| {
            leaves.push(<[u8; 32]>::try_from(leaf).unwrap_or([0; 32]));
            true
        })?;
        if leaves.len() as u64 != cp.size {
            return Err(AuditError::Damaged(format!(
                "entries below {} are missing",
                cp.size
            )));
        }
        let path =
            inclusion_proof(&leaves, seq).map_err(|e| AuditError::BadProof(e.to_string()))?;
        let body = String::from_utf8(entry.body)
            .map_err(|_| AuditError::Damaged(format!("event {seq} is not UTF-8")))?;
        Ok(InclusionProofBundle {
            format: BUNDLE_FORMAT.to_owned(),
            id: event_id(seq),
            seq,
            leaf_hash: hex::encode(leaf_hash(body.as_bytes())),
            tree_size: cp.size,
            proof: path.iter().map(hex::encode).collect(),
            body,
            checkpoint: cp.note,
        })
    }
}

impl AuditLog {
    /// The RFC 6962 consistency proof between two tree sizes of this log
    /// (for witnesses, or a reviewer holding an older checkpoint).
    pub fn consistency_proof_blocking(
        &self,
        old_size: u64,
        new_size: u64,
    ) -> Result<Vec<Hash>, AuditError> {
        let mut leaves = Vec::with_capacity(new_size.min(1 << 24) as usize);
        self.store().scan_leaves(0, new_size, &mut |_, leaf| {
            leaves.push(<[u8; 32]>::try_from(leaf).unwrap_or([0; 32]));
            true
        })?;
        if (leaves.len() as u64) < new_size {
            return Err(AuditError::NotFound(format!("tree size {new_size}")));
        }
        consistency_proof(&leaves, old_size).map_err(|e| AuditError::BadProof(e.to_string()))
    }
}

/// Verifies a bundle offline against the published audit key and returns the
/// event it proves.
pub fn verify_proof_bundle(
    bundle: &InclusionProofBundle,
    verifier: &NoteVerifier,
) -> Result<AuditEvent, AuditError> {
    let bad = |m: &str| AuditError::BadProof(m.to_owned());
    if bundle.format != BUNDLE_FORMAT {
        return Err(bad("unknown bundle format"));
    }
    let cp = Checkpoint::open(&bundle.checkpoint, verifier)?;
    if cp.size != bundle.tree_size {
        return Err(bad("tree size differs from the checkpoint's"));
    }
    let leaf = leaf_hash(bundle.body.as_bytes());
    if leaf != unhex("leaf_hash", &bundle.leaf_hash)? {
        return Err(bad("leaf hash does not match the event body"));
    }
    if body_seq(bundle.body.as_bytes()) != Some(bundle.seq) || bundle.id != event_id(bundle.seq) {
        return Err(bad("the event body is not the event at this index"));
    }
    if bundle.proof.len() > 64 {
        return Err(bad("proof is too long"));
    }
    let path = bundle
        .proof
        .iter()
        .map(|h| unhex("proof hash", h))
        .collect::<Result<Vec<_>, _>>()?;
    verify_inclusion(bundle.seq, cp.size, &leaf, &path, &cp.root)
        .map_err(|e| AuditError::BadProof(e.to_string()))?;
    Ok(AuditEvent::decode(bundle.body.as_bytes())?)
}
