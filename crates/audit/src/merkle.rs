//! RFC 6962 / RFC 9162 Merkle tree math, sans IO.
//!
//! Leaves are `SHA-256(0x00 ‖ entry)`, interior nodes `SHA-256(0x01 ‖ left ‖ right)`,
//! and a tree of `n` leaves splits at the largest power of two below `n`
//! (RFC 6962 §2.1), so the roots, proofs and checkpoints this module produces
//! verify with any other transparency-log implementation.
//!
//! Everything here takes hashes and sizes as plain data; the verifiers accept
//! arbitrary (hostile) input and answer with an error, never a panic.

use sha2::{Digest, Sha256};

/// A SHA-256 output: a leaf hash, node hash or root.
pub type Hash = [u8; 32];

/// Longest proof a tree of at most 2^64 leaves can need (inclusion: 64 hashes,
/// consistency: 64 plus the prepended old root). Anything longer is refused
/// before any hashing.
const MAX_PROOF_LEN: usize = 65;

/// Why a proof does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The index is not inside the tree.
    #[error("leaf index {index} is outside a tree of size {size}")]
    IndexOutOfRange {
        /// The claimed leaf index.
        index: u64,
        /// The claimed tree size.
        size: u64,
    },
    /// The old size is larger than the new one.
    #[error("tree size {old} cannot be a prefix of the smaller tree size {new}")]
    SizesOutOfOrder {
        /// The claimed earlier size.
        old: u64,
        /// The claimed later size.
        new: u64,
    },
    /// The proof has the wrong number of hashes for the sizes given.
    #[error("proof has the wrong number of hashes for this tree")]
    WrongLength,
    /// The recomputed root is not the expected one.
    #[error("proof does not lead to the expected root hash")]
    RootMismatch,
}

/// The hash of one log entry.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    h.finalize().into()
}

/// The hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree: SHA-256 of the empty string.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two strictly below `n` (`n` ≥ 2): RFC 6962's split point.
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// MTH(D[n]): the root of a list of leaf hashes, computed from scratch.
pub fn root_from_leaves(leaves: &[Hash]) -> Hash {
    let mut range = CompactRange::new();
    for leaf in leaves {
        range.append(*leaf);
    }
    range.root()
}

/// The frontier of a tree: the roots of its maximal perfect subtrees, left to
/// right, one per set bit of the size. Appending is O(log n) amortised O(1)
/// hashes, the root is O(log n), and it is all a writer needs to keep in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactRange {
    size: u64,
    hashes: Vec<Hash>,
}

impl CompactRange {
    /// The frontier of the empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of leaves appended so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends one leaf hash, merging equal-height subtrees as a binary
    /// counter carries.
    pub fn append(&mut self, leaf: Hash) {
        let mut node = leaf;
        let mut carry = self.size;
        while carry & 1 == 1 {
            let left = self.hashes.pop().expect("one hash per set bit of size");
            node = node_hash(&left, &node);
            carry >>= 1;
        }
        self.hashes.push(node);
        self.size += 1;
    }

    /// The root hash of the current tree (MTH of all leaves appended).
    pub fn root(&self) -> Hash {
        let mut iter = self.hashes.iter().rev();
        let Some(last) = iter.next() else {
            return empty_root();
        };
        iter.fold(*last, |acc, left| node_hash(left, &acc))
    }
}

/// PATH(m, D[n]) from RFC 6962 §2.1.1: the audit path of leaf `index` in the
/// tree made of `leaves`. Needs every leaf of the tree; the hashes are listed
/// from the leaf upwards.
pub fn inclusion_proof(leaves: &[Hash], index: u64) -> Result<Vec<Hash>, ProofError> {
    let size = leaves.len() as u64;
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let mut proof = Vec::new();
    path(index, leaves, &mut proof);
    Ok(proof)
}

fn path(m: u64, leaves: &[Hash], out: &mut Vec<Hash>) {
    let n = leaves.len() as u64;
    if n <= 1 {
        return;
    }
    let k = split(n);
    let (left, right) = leaves.split_at(k as usize);
    if m < k {
        path(m, left, out);
        out.push(root_from_leaves(right));
    } else {
        path(m - k, right, out);
        out.push(root_from_leaves(left));
    }
}

/// PROOF(m, D[n]) from RFC 6962 §2.1.2: proves that the tree of the first
/// `old_size` leaves is a prefix of the tree made of `leaves`.
pub fn consistency_proof(leaves: &[Hash], old_size: u64) -> Result<Vec<Hash>, ProofError> {
    let new = leaves.len() as u64;
    if old_size > new {
        return Err(ProofError::SizesOutOfOrder { old: old_size, new });
    }
    let mut proof = Vec::new();
    if old_size > 0 && old_size < new {
        subproof(old_size, leaves, true, &mut proof);
    }
    Ok(proof)
}

fn subproof(m: u64, leaves: &[Hash], complete: bool, out: &mut Vec<Hash>) {
    let n = leaves.len() as u64;
    if m == n {
        if !complete {
            out.push(root_from_leaves(leaves));
        }
        return;
    }
    let k = split(n);
    let (left, right) = leaves.split_at(k as usize);
    if m <= k {
        subproof(m, left, complete, out);
        out.push(root_from_leaves(right));
    } else {
        subproof(m - k, right, false, out);
        out.push(root_from_leaves(left));
    }
}

/// Verifies an inclusion proof (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    if proof.len() > MAX_PROOF_LEN {
        return Err(ProofError::WrongLength);
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return Err(ProofError::WrongLength);
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(ProofError::WrongLength);
    }
    if &r != root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Verifies a consistency proof between two tree heads (RFC 9162 §2.1.4.2).
/// Equal sizes need an empty proof and equal roots; an empty old tree is a
/// prefix of everything.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old_size > new_size {
        return Err(ProofError::SizesOutOfOrder {
            old: old_size,
            new: new_size,
        });
    }
    if old_size == new_size || old_size == 0 {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength);
        }
        if old_size == new_size && old_root != new_root {
            return Err(ProofError::RootMismatch);
        }
        return Ok(());
    }
    if proof.is_empty() || proof.len() > MAX_PROOF_LEN {
        return Err(ProofError::WrongLength);
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let (fr, sr, snode) = walk_consistency(old_size, new_size, &path)?;
    if snode != 0 {
        return Err(ProofError::WrongLength);
    }
    if &fr != old_root || &sr != new_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Steps 3-6 of RFC 9162 §2.1.4.2; returns (old root, new root, remaining sn).
fn walk_consistency(old: u64, new: u64, path: &[Hash]) -> Result<(Hash, Hash, u64), ProofError> {
    let (mut fnode, mut snode) = (old - 1, new - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (first, rest) = path.split_first().ok_or(ProofError::WrongLength)?;
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if snode == 0 {
            return Err(ProofError::WrongLength);
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    Ok((fr, sr, snode))
}

#[cfg(test)]
mod tests;
