//! Merkle trees: RFC 9162 (Certificate Transparency v2) tree hashing with SM3
//! in place of SHA-256.
//!
//! - leaf hash: `SM3(0x00 || data)`;
//! - interior node: `SM3(0x01 || left || right)`;
//! - the empty tree's hash: `SM3("")`;
//! - a tree of `n > 1` leaves splits at `k`, the largest power of two smaller
//!   than `n` (RFC 9162 §2.1.1): the left subtree holds the first `k` leaves.
//!
//! Inclusion proofs follow RFC 9162 §2.1.3: the audit path lists sibling hashes
//! from the leaf up to the root, and [`verify_inclusion`] implements the
//! verification algorithm of §2.1.3.2.
//!
//! ```
//! use govchain_crypto::merkle::{MerkleTree, verify_inclusion};
//!
//! let tree = MerkleTree::new(&["tx0", "tx1", "tx2"]);
//! let proof = tree.proof(2).unwrap();
//! verify_inclusion(&tree.root(), b"tx2", &proof).unwrap();
//! ```

use serde::{Deserialize, Serialize};

use crate::error::{CryptoError, ProofFailure, Result};
use crate::hash::{Hash, sm3, sm3_parts};

/// Domain-separation prefix of leaf hashes.
const LEAF_PREFIX: u8 = 0x00;
/// Domain-separation prefix of interior-node hashes.
const NODE_PREFIX: u8 = 0x01;

/// The hash of a leaf holding `data`: `SM3(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    sm3_parts(&[&[LEAF_PREFIX], data])
}

/// The hash of an interior node: `SM3(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    sm3_parts(&[&[NODE_PREFIX], left, right])
}

/// The root hash of the tree over `leaves` (leaf *data*, not leaf hashes).
///
/// Equivalent to `MerkleTree::new(leaves).root()` without keeping the tree.
pub fn root<T: AsRef<[u8]>>(leaves: &[T]) -> Hash {
    let mut level: Vec<Hash> = leaves.iter().map(|l| leaf_hash(l.as_ref())).collect();
    if level.is_empty() {
        return sm3(b"");
    }
    while level.len() > 1 {
        let len = level.len();
        for i in 0..len / 2 {
            level[i] = node_hash(&level[2 * i], &level[2 * i + 1]);
        }
        if len % 2 == 1 {
            level[len / 2] = level[len - 1];
        }
        level.truncate(len.div_ceil(2));
    }
    level[0]
}

/// A Merkle tree built once from its leaf data, keeping every level so that
/// inclusion proofs are cheap.
///
/// Building hashes each of the `n` leaves and `n - 1` interior nodes exactly
/// once, and stores about `2n` hashes.
///
/// Levels are built by pairing adjacent nodes left to right and carrying an
/// unpaired last node up unchanged; this yields exactly the RFC 9162 tree
/// (which splits at the largest power of two smaller than `n`).
#[derive(Debug, Clone)]
pub struct MerkleTree {
    /// `levels[0]` are the leaf hashes; each further level is the one below
    /// paired up; the last level has a single entry, the root. Empty for an
    /// empty tree.
    levels: Vec<Vec<Hash>>,
}

impl MerkleTree {
    /// Build the tree over `leaves` (leaf data).
    pub fn new<T: AsRef<[u8]>>(leaves: &[T]) -> Self {
        let mut levels = Vec::new();
        let mut current: Vec<Hash> = leaves.iter().map(|l| leaf_hash(l.as_ref())).collect();
        while current.len() > 1 {
            let next: Vec<Hash> = current
                .chunks(2)
                .map(|pair| match pair {
                    [left, right] => node_hash(left, right),
                    [single] => *single,
                    _ => unreachable!("chunks(2) yields one or two items"),
                })
                .collect();
            levels.push(current);
            current = next;
        }
        if !current.is_empty() {
            levels.push(current);
        }
        Self { levels }
    }

    /// The root hash (`SM3("")` for an empty tree).
    pub fn root(&self) -> Hash {
        match self.levels.last() {
            Some(top) => top[0],
            None => sm3(b""),
        }
    }

    /// The number of leaves.
    pub fn len(&self) -> usize {
        self.levels.first().map_or(0, Vec::len)
    }

    /// Whether the tree has no leaves.
    pub fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }

    /// The inclusion proof of leaf `index`, or `None` if `index >= len()`.
    pub fn proof(&self, index: usize) -> Option<InclusionProof> {
        if index >= self.len() {
            return None;
        }
        let mut path = Vec::with_capacity(self.levels.len().saturating_sub(1));
        let mut i = index;
        // The top level is the root itself and contributes no sibling.
        for level in &self.levels[..self.levels.len() - 1] {
            let sibling = i ^ 1;
            // An unpaired last node has no sibling at this level: it is carried
            // up unchanged.
            if sibling < level.len() {
                path.push(level[sibling]);
            }
            i /= 2;
        }
        Some(InclusionProof {
            leaf_index: to_u64(index),
            tree_size: to_u64(self.len()),
            path,
        })
    }
}

fn to_u64(n: usize) -> u64 {
    u64::try_from(n).expect("usize fits in u64")
}

/// A proof that a leaf is part of a tree of a given size (RFC 9162 §2.1.3).
///
/// Serializes `path` as a list of lowercase hex strings, e.g. in JSON:
/// `{"leaf_index":2,"tree_size":3,"path":["2c53..."]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionProof {
    /// Zero-based index of the leaf.
    pub leaf_index: u64,
    /// Number of leaves in the tree.
    pub tree_size: u64,
    /// Sibling hashes from the leaf level up to just below the root.
    #[serde(with = "hex_path")]
    pub path: Vec<Hash>,
}

/// Verify that `leaf_data` is leaf `proof.leaf_index` of the tree of
/// `proof.tree_size` leaves whose root is `root`, using the algorithm of RFC
/// 9162 §2.1.3.2.
///
/// The root commits to the leaves but not, on its own, to the tree size: a
/// proof may also verify under another `tree_size` that places the leaf at the
/// same position in the tree. Take `root` and `tree_size` together from a
/// trusted source (for example a signed block header).
///
/// # Errors
/// [`CryptoError::InvalidProof`] with the failed check as its
/// [`ProofFailure`] reason.
pub fn verify_inclusion(root: &Hash, leaf_data: &[u8], proof: &InclusionProof) -> Result<()> {
    let fail = |reason| Err(CryptoError::InvalidProof { reason });
    if proof.leaf_index >= proof.tree_size {
        return fail(ProofFailure::IndexOutOfRange {
            leaf_index: proof.leaf_index,
            tree_size: proof.tree_size,
        });
    }
    let mut fn_ = proof.leaf_index;
    let mut sn = proof.tree_size - 1;
    let mut r = leaf_hash(leaf_data);
    for p in &proof.path {
        if sn == 0 {
            return fail(ProofFailure::PathTooLong);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return fail(ProofFailure::PathTooShort);
    }
    if r != *root {
        return fail(ProofFailure::RootMismatch);
    }
    Ok(())
}

/// Serde adapter: `Vec<Hash>` as a list of lowercase hex strings.
mod hex_path {
    use serde::de::Error as _;
    use serde::ser::SerializeSeq;
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::hash::Hash;

    pub(super) fn serialize<S: Serializer>(
        path: &[Hash],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(path.len()))?;
        for h in path {
            seq.serialize_element(&hex::encode(h))?;
        }
        seq.end()
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<Hash>, D::Error> {
        let strings = Vec::<String>::deserialize(deserializer)?;
        strings
            .iter()
            .map(|s| {
                let mut h = [0u8; 32];
                hex::decode_to_slice(s, &mut h).map_err(|e| {
                    D::Error::custom(format!(
                        "invalid path hash {s:?}: {e} (expected 64 hex digits)"
                    ))
                })?;
                Ok(h)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Hash {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).unwrap();
        out
    }

    /// RFC 9162 §2.1.1 MTH, written recursively straight from the text.
    fn reference_mth(d: &[Vec<u8>]) -> Hash {
        match d.len() {
            0 => sm3(b""),
            1 => sm3(&[&[0u8][..], &d[0]].concat()),
            n => {
                let k = largest_pow2_below(n);
                let l = reference_mth(&d[..k]);
                let r = reference_mth(&d[k..]);
                sm3(&[&[1u8][..], &l, &r].concat())
            }
        }
    }

    /// RFC 9162 §2.1.3.1 PATH(m, D[n]), recursively.
    fn reference_path(m: usize, d: &[Vec<u8>]) -> Vec<Hash> {
        let n = d.len();
        if n == 1 {
            return Vec::new();
        }
        let k = largest_pow2_below(n);
        if m < k {
            let mut p = reference_path(m, &d[..k]);
            p.push(reference_mth(&d[k..]));
            p
        } else {
            let mut p = reference_path(m - k, &d[k..]);
            p.push(reference_mth(&d[..k]));
            p
        }
    }

    /// For leaf `m` of a tree of `n` leaves, whether each audit-path sibling
    /// (bottom-up) lies to the left, following the recursion of PATH.
    fn reference_turns(m: usize, n: usize) -> Vec<bool> {
        if n == 1 {
            return Vec::new();
        }
        let k = largest_pow2_below(n);
        let mut turns = if m < k {
            reference_turns(m, k)
        } else {
            reference_turns(m - k, n - k)
        };
        turns.push(m >= k);
        turns
    }

    fn largest_pow2_below(n: usize) -> usize {
        assert!(n > 1);
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        k
    }

    fn data(n: usize) -> Vec<Vec<u8>> {
        (0..n).map(|i| format!("leaf-{i}").into_bytes()).collect()
    }

    #[test]
    fn hand_computed_small_roots() {
        // Computed independently with `openssl dgst -sm3` over the byte
        // strings "" / 00||"a" / 01||L(a)||L(b) / 01||N(a,b)||L(c).
        let empty: [&str; 0] = [];
        assert_eq!(
            root(&empty),
            h("1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b")
        );
        assert_eq!(
            root(&["a"]),
            h("c688f41bcd570f9651ccb215058a545f66f52ab4eac2968896e1637af9443d8c")
        );
        assert_eq!(
            root(&["a", "b"]),
            h("2c537e31416ae684fd8a1552a3bcd5a452274e02a45d67c856405b3a1108ee90")
        );
        assert_eq!(
            root(&["a", "b", "c"]),
            h("2706e4e4d41c1ed9c3fe7f7822bf360a67abcc052cc2c00022c1313ec3ded965")
        );
        // Structure, spelled out with the primitives.
        let (la, lb, lc) = (leaf_hash(b"a"), leaf_hash(b"b"), leaf_hash(b"c"));
        assert_eq!(la, sm3(b"\x00a"));
        assert_eq!(root(&["a", "b", "c"]), node_hash(&node_hash(&la, &lb), &lc));
        for leaves in [&["a"][..], &["a", "b"], &["a", "b", "c"]] {
            assert_eq!(MerkleTree::new(leaves).root(), root(leaves));
        }
        let tree = MerkleTree::new(&empty);
        assert!(tree.is_empty());
        assert_eq!(tree.len(), 0);
        assert_eq!(tree.root(), sm3(b""));
        assert_eq!(tree.proof(0), None);
    }

    #[test]
    fn roots_and_paths_match_recursive_reference() {
        for n in 0..=70 {
            let d = data(n);
            let tree = MerkleTree::new(&d);
            assert_eq!(tree.len(), n);
            assert_eq!(tree.root(), reference_mth(&d), "root, n = {n}");
            assert_eq!(root(&d), reference_mth(&d), "free root, n = {n}");
            for m in 0..n {
                let proof = tree.proof(m).unwrap();
                assert_eq!(proof.path, reference_path(m, &d), "path, n = {n}, m = {m}");
            }
            assert_eq!(tree.proof(n), None);
        }
    }

    #[test]
    fn every_proof_verifies_and_tampering_fails() {
        for n in 1..=33usize {
            let d = data(n);
            let tree = MerkleTree::new(&d);
            let root = tree.root();
            for (i, leaf) in d.iter().enumerate() {
                let proof = tree.proof(i).unwrap();
                assert_eq!(proof.leaf_index, i as u64);
                assert_eq!(proof.tree_size, n as u64);
                verify_inclusion(&root, leaf, &proof).unwrap();

                // Wrong leaf data.
                assert_eq!(
                    verify_inclusion(&root, b"not a leaf", &proof),
                    Err(CryptoError::InvalidProof {
                        reason: ProofFailure::RootMismatch
                    })
                );
                // Wrong root.
                let mut other_root = root;
                other_root[31] ^= 1;
                assert!(verify_inclusion(&other_root, leaf, &proof).is_err());

                // A flipped byte anywhere in the path.
                for j in 0..proof.path.len() {
                    for byte in [0, 17, 31] {
                        let mut bad = proof.clone();
                        bad.path[j][byte] ^= 0x40;
                        assert!(
                            verify_inclusion(&root, leaf, &bad).is_err(),
                            "n={n} i={i} path[{j}][{byte}]"
                        );
                    }
                }

                // Every other index (in range or not) fails.
                for wrong in 0..n as u64 + 2 {
                    if wrong == i as u64 {
                        continue;
                    }
                    let bad = InclusionProof {
                        leaf_index: wrong,
                        ..proof.clone()
                    };
                    assert!(
                        verify_inclusion(&root, leaf, &bad).is_err(),
                        "n={n} i={i} wrong index {wrong}"
                    );
                }

                // Another tree size fails unless it puts leaf `i` at the very
                // same position (same left/right turns from leaf to root), in
                // which case the hash computation is identical: the root alone
                // does not pin down the size (see `verify_inclusion` docs).
                let turns = reference_turns(i, n);
                let mut rejected = 0;
                for size in 0..=2 * n {
                    if size == n {
                        continue;
                    }
                    let bad = InclusionProof {
                        tree_size: size as u64,
                        ..proof.clone()
                    };
                    let same_position = i < size && reference_turns(i, size) == turns;
                    assert_eq!(
                        verify_inclusion(&root, leaf, &bad).is_ok(),
                        same_position,
                        "n={n} i={i} claimed size {size}"
                    );
                    rejected += usize::from(!same_position);
                }
                assert!(rejected >= n, "n={n} i={i}: too few sizes rejected");

                // A path with an extra or a missing hash fails.
                let mut longer = proof.clone();
                longer.path.push([0u8; 32]);
                assert!(verify_inclusion(&root, leaf, &longer).is_err());
                if !proof.path.is_empty() {
                    let mut shorter = proof.clone();
                    shorter.path.pop();
                    assert!(verify_inclusion(&root, leaf, &shorter).is_err());
                }
            }
        }
    }

    #[test]
    fn failure_reasons() {
        let d = data(5);
        let tree = MerkleTree::new(&d);
        let proof = tree.proof(4).unwrap();
        let reason = |p: &InclusionProof| match verify_inclusion(&tree.root(), &d[4], p) {
            Err(CryptoError::InvalidProof { reason }) => reason,
            other => panic!("expected InvalidProof, got {other:?}"),
        };
        let out_of_range = InclusionProof {
            leaf_index: 5,
            ..proof.clone()
        };
        assert_eq!(
            reason(&out_of_range),
            ProofFailure::IndexOutOfRange {
                leaf_index: 5,
                tree_size: 5
            }
        );
        let mut longer = proof.clone();
        longer.path.push([0u8; 32]);
        assert_eq!(reason(&longer), ProofFailure::PathTooLong);
        let mut shorter = proof.clone();
        shorter.path.pop();
        assert_eq!(reason(&shorter), ProofFailure::PathTooShort);
    }

    #[test]
    fn proof_serializes_path_as_lowercase_hex() {
        let tree = MerkleTree::new(&["a", "b", "c"]);
        let proof = tree.proof(2).unwrap();
        let json = serde_json::to_string(&proof).unwrap();
        let expected_path = hex::encode(node_hash(&leaf_hash(b"a"), &leaf_hash(b"b")));
        assert_eq!(
            json,
            format!(r#"{{"leaf_index":2,"tree_size":3,"path":["{expected_path}"]}}"#)
        );
        let back: InclusionProof = serde_json::from_str(&json).unwrap();
        assert_eq!(back, proof);

        // Uppercase is accepted on input; bad hex and wrong lengths are not.
        let upper = json.replace(&expected_path, &expected_path.to_uppercase());
        assert_eq!(
            serde_json::from_str::<InclusionProof>(&upper).unwrap(),
            proof
        );
        for bad in ["zz", "abcd", &"0".repeat(66)] {
            let j = json.replace(&expected_path, bad);
            assert!(serde_json::from_str::<InclusionProof>(&j).is_err(), "{bad}");
        }
    }
}
