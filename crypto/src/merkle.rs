//! RFC 6962 / RFC 9162 Merkle tree hashing: leaf and node hashes, an O(log n) accumulator for
//! the root of a growing list, and inclusion and consistency proof verification.
//!
//! Format v1 uses it for the chunk root of each payload (leaf `k` = the `k`-th encrypted chunk,
//! tag included), so a recipient can check any chunk it fetches against the sender's seal.

use sha2::{Digest, Sha256};

/// A 32-byte SHA-256 tree hash.
pub type Hash = [u8; 32];

/// `SHA-256(0x00 ‖ data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0u8]);
    hasher.update(data);
    hasher.finalize().into()
}

/// `SHA-256(0x01 ‖ left ‖ right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([1u8]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The root of the empty tree, `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Accumulates leaf hashes left to right and yields the RFC 6962 root, in O(log n) memory: a
/// stack of the roots of the perfect subtrees that make up the list so far.
#[derive(Clone, Debug, Default)]
pub struct RootBuilder {
    size: u64,
    /// Perfect-subtree roots, largest (leftmost) first.
    stack: Vec<Hash>,
}

impl RootBuilder {
    /// An empty accumulator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut hash = leaf;
        // Each trailing one bit of the old size is a subtree of equal height to merge with.
        let mut size = self.size;
        while size & 1 == 1 {
            let left = self.stack.pop().expect("one stack entry per set bit");
            hash = node_hash(&left, &hash);
            size >>= 1;
        }
        self.stack.push(hash);
        self.size += 1;
    }

    /// Number of leaves pushed.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The RFC 6962 Merkle Tree Hash of the leaves so far.
    pub fn root(&self) -> Hash {
        let mut iter = self.stack.iter().rev();
        let Some(mut acc) = iter.next().copied() else {
            return empty_root();
        };
        for left in iter {
            acc = node_hash(left, &acc);
        }
        acc
    }
}

/// The root of a list of leaf hashes.
pub fn root_of(leaves: &[Hash]) -> Hash {
    let mut builder = RootBuilder::new();
    leaves.iter().for_each(|leaf| builder.push(*leaf));
    builder.root()
}

/// RFC 9162 §2.1.3.2: does `proof` show `leaf` at `index` in a tree of `size` with `root`?
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && r == *root
}

/// RFC 9162 §2.1.4.2: does `proof` show the tree of `size1` with `root1` to be a prefix of the
/// tree of `size2` with `root2`? Requires `0 < size1 ≤ size2`.
pub fn verify_consistency(size1: u64, size2: u64, root1: &Hash, root2: &Hash, proof: &[Hash]) -> bool {
    if size1 == 0 || size1 > size2 {
        // RFC 9162 defines consistency proofs only from a non-empty tree; accepting size1 = 0
        // would "verify" a root1 that nothing checks (transparency-dev/merkle refuses it too).
        return false;
    }
    if size1 == size2 {
        return proof.is_empty() && root1 == root2;
    }
    if proof.is_empty() {
        return false;
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if size1.is_power_of_two() {
        path.push(*root1);
    }
    path.extend_from_slice(proof);
    let (mut fn_, mut sn) = (size1 - 1, size2 - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    fr == *root1 && sr == *root2 && sn == 0
}

/// The inclusion proof for `index` among `leaves` (RFC 9162 §2.1.3.1), computed from all leaf
/// hashes. For payload chunks, where the verifier has every leaf or the server computes proofs.
pub fn inclusion_proof(leaves: &[Hash], index: usize) -> Vec<Hash> {
    fn path(leaves: &[Hash], index: usize, out: &mut Vec<Hash>) {
        if leaves.len() <= 1 {
            return;
        }
        let k = split_point(leaves.len());
        if index < k {
            path(&leaves[..k], index, out);
            out.push(root_of(&leaves[k..]));
        } else {
            path(&leaves[k..], index - k, out);
            out.push(root_of(&leaves[..k]));
        }
    }
    let mut out = Vec::new();
    if index < leaves.len() {
        path(leaves, index, &mut out);
    }
    out
}

/// The largest power of two strictly smaller than `n` (n ≥ 2).
fn split_point(n: usize) -> usize {
    debug_assert!(n >= 2);
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_root(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split_point(n);
                node_hash(&naive_root(&leaves[..k]), &naive_root(&leaves[k..]))
            }
        }
    }

    #[test]
    fn builder_matches_the_recursive_definition_and_proofs_verify() {
        let leaves: Vec<Hash> = (0u32..40).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        for n in 0..=leaves.len() {
            let root = root_of(&leaves[..n]);
            assert_eq!(root, naive_root(&leaves[..n]), "size {n}");
            for i in 0..n {
                let proof = inclusion_proof(&leaves[..n], i);
                assert!(verify_inclusion(&leaves[i], i as u64, n as u64, &proof, &root));
                if n > 1 {
                    assert!(!verify_inclusion(
                        &leaves[(i + 1) % n],
                        i as u64,
                        n as u64,
                        &proof,
                        &root
                    ));
                }
            }
        }
    }
}
