use super::*;

fn h(s: &str) -> Hash {
    hex::decode(s).unwrap().try_into().unwrap()
}

/// The leaves of the certificate-transparency reference tree.
fn ct_leaves() -> Vec<Hash> {
    [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
    .iter()
    .map(|e| leaf_hash(&hex::decode(e).unwrap()))
    .collect()
}

const CT_ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// MTH written exactly as RFC 6962 §2.1 defines it, as an independent oracle.
fn reference_root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = (1usize << (usize::BITS - 1 - (n - 1).leading_zeros())).min(n - 1);
            node_hash(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
        }
    }
}

/// A tiny deterministic generator so the property tests need no crate.
struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn hash(&mut self) -> Hash {
        let mut out = [0u8; 32];
        for chunk in out.chunks_mut(8) {
            chunk.copy_from_slice(&self.next().to_le_bytes());
        }
        out
    }
}

fn leaves(n: usize) -> Vec<Hash> {
    (0..n as u32).map(|i| leaf_hash(&i.to_be_bytes())).collect()
}

#[test]
fn ct_reference_roots() {
    let leaves = ct_leaves();
    for (n, want) in CT_ROOTS.iter().enumerate() {
        assert_eq!(
            hex::encode(root_from_leaves(&leaves[..n])),
            *want,
            "size {n}"
        );
    }
}

#[test]
fn ct_reference_inclusion_proofs() {
    let leaves = ct_leaves();
    let root = h(CT_ROOTS[8]);
    let cases: [(u64, [&str; 3]); 2] = [
        (
            0,
            [
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            [
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
    ];
    for (index, want) in cases {
        let want: Vec<Hash> = want.iter().map(|s| h(s)).collect();
        assert_eq!(inclusion_proof(&leaves, index).unwrap(), want);
        verify_inclusion(index, 8, &leaves[index as usize], &want, &root).unwrap();
    }
}

#[test]
fn ct_reference_consistency_proofs() {
    let leaves = ct_leaves();
    let cases: [(u64, u64, &[&str]); 3] = [
        (
            2,
            8,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];
    for (old, new, want) in cases {
        let want: Vec<Hash> = want.iter().map(|s| h(s)).collect();
        let got = consistency_proof(&leaves[..new as usize], old).unwrap();
        assert_eq!(got, want, "{old}->{new}");
        let (r1, r2) = (h(CT_ROOTS[old as usize]), h(CT_ROOTS[new as usize]));
        verify_consistency(old, new, &r1, &r2, &want).unwrap();
    }
}

#[test]
fn incremental_root_equals_scratch_root() {
    let all = leaves(300);
    let mut range = CompactRange::new();
    assert_eq!(range.root(), reference_root(&[]));
    for n in 1..=300 {
        range.append(all[n - 1]);
        assert_eq!(range.size(), n as u64);
        assert_eq!(range.root(), reference_root(&all[..n]), "size {n}");
    }
}

/// Flips one bit of one hash of the proof, in every position.
fn each_flip(proof: &[Hash]) -> impl Iterator<Item = Vec<Hash>> + '_ {
    (0..proof.len()).map(move |i| {
        let mut bad = proof.to_vec();
        bad[i][i % 32] ^= 1;
        bad
    })
}

#[test]
fn every_inclusion_proof_verifies_and_tampering_fails() {
    let all = leaves(70);
    for n in 1..=70u64 {
        let tree = &all[..n as usize];
        let root = root_from_leaves(tree);
        for i in 0..n {
            let proof = inclusion_proof(tree, i).unwrap();
            let leaf = &tree[i as usize];
            verify_inclusion(i, n, leaf, &proof, &root).unwrap();
            for bad in each_flip(&proof) {
                assert!(verify_inclusion(i, n, leaf, &bad, &root).is_err());
            }
            let mut other = *leaf;
            other[0] ^= 0x80;
            assert!(verify_inclusion(i, n, &other, &proof, &root).is_err());
            if n > 1 {
                assert!(verify_inclusion(i ^ 1, n, leaf, &proof, &root).is_err() || i ^ 1 >= n);
            }
        }
    }
}

#[test]
fn every_consistency_proof_verifies_and_tampering_fails() {
    let all = leaves(50);
    for new in 0..=50u64 {
        let tree = &all[..new as usize];
        let new_root = root_from_leaves(tree);
        for old in 0..=new {
            let old_root = root_from_leaves(&tree[..old as usize]);
            let proof = consistency_proof(tree, old).unwrap();
            verify_consistency(old, new, &old_root, &new_root, &proof).unwrap();
            for bad in each_flip(&proof) {
                assert!(verify_consistency(old, new, &old_root, &new_root, &bad).is_err());
            }
            if old > 0 {
                let mut wrong = old_root;
                wrong[31] ^= 1;
                assert!(verify_consistency(old, new, &wrong, &new_root, &proof).is_err());
            }
        }
    }
}

#[test]
fn verifiers_survive_random_input() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for _ in 0..20_000 {
        let len = (rng.next() % 70) as usize;
        let proof: Vec<Hash> = (0..len).map(|_| rng.hash()).collect();
        // Mix tiny, huge and boundary sizes.
        let pick = |r: &mut XorShift| match r.next() % 4 {
            0 => r.next() % 16,
            1 => u64::MAX - r.next() % 4,
            2 => 1 << (r.next() % 64),
            _ => r.next(),
        };
        let (a, b) = (pick(&mut rng), pick(&mut rng));
        let (x, y) = (rng.hash(), rng.hash());
        assert!(verify_inclusion(a, b, &x, &proof, &y).is_err());
        assert!(verify_consistency(a, b, &x, &y, &proof).is_err() || a == 0 || a == b);
    }
}

#[test]
fn bad_arguments_are_errors() {
    let all = leaves(4);
    assert!(inclusion_proof(&all, 4).is_err());
    assert!(consistency_proof(&all, 5).is_err());
    let root = root_from_leaves(&all);
    assert_eq!(
        verify_consistency(5, 4, &root, &root, &[]),
        Err(ProofError::SizesOutOfOrder { old: 5, new: 4 })
    );
    assert_eq!(
        verify_inclusion(0, 0, &all[0], &[], &root),
        Err(ProofError::IndexOutOfRange { index: 0, size: 0 })
    );
}
