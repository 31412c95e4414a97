//! RFC 9162 (Certificate Transparency v2) Merkle tree over leaf hashes:
//! tree hash, inclusion proofs and consistency proofs, with their
//! verification algorithms (RFC 9162 §2.1.3.2 and §2.1.4.2).
//!
//! Node hash: `SHA-256(0x01 || left || right)`; the empty tree hashes to
//! `SHA-256("")`. Leaf index = seq - 1.

use super::canonical::{digest_hash, Hash};

/// `SHA-256(0x01 || l || r)`.
pub fn node_hash(l: &Hash, r: &Hash) -> Hash {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(&[1]);
    ctx.update(l);
    ctx.update(r);
    digest_hash(ctx.finish())
}

/// Hash of the empty tree.
pub fn empty_root() -> Hash {
    digest_hash(ring::digest::digest(&ring::digest::SHA256, b""))
}

/// Largest power of two strictly smaller than `n` (n >= 2).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// MTH(D[n]) of the leaf hashes.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// Incremental tree: push leaves in order, read the root at any size in
/// O(log n). Verifying many signed heads over one pass of the log uses this.
#[derive(Clone, Debug, Default)]
pub struct Frontier {
    /// Complete subtrees, left to right, sizes strictly decreasing.
    stack: Vec<(u64, Hash)>,
    size: u64,
}

impl Frontier {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of leaves pushed.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        self.stack.push((1, leaf));
        self.size += 1;
        while self.stack.len() >= 2 {
            let n = self.stack.len();
            if self.stack[n - 1].0 != self.stack[n - 2].0 {
                break;
            }
            let (size, right) = self.stack.pop().unwrap_or_default();
            let (_, left) = self.stack.pop().unwrap_or_default();
            self.stack.push((size * 2, node_hash(&left, &right)));
        }
    }

    /// The tree hash of the leaves pushed so far.
    pub fn root(&self) -> Hash {
        let mut iter = self.stack.iter().rev();
        let Some((_, last)) = iter.next() else {
            return empty_root();
        };
        let mut acc = *last;
        for (_, h) in iter {
            acc = node_hash(h, &acc);
        }
        acc
    }
}

/// A whole tree kept level by level (a trailing odd node is promoted, which
/// is exactly RFC 9162's shape), so each inclusion proof costs O(log n).
#[derive(Clone, Debug)]
pub struct Tree {
    levels: Vec<Vec<Hash>>,
}

impl Tree {
    /// Builds the tree over the leaf hashes.
    pub fn new(leaves: Vec<Hash>) -> Self {
        let mut levels = vec![leaves];
        while levels.last().is_some_and(|l| l.len() > 1) {
            let below = levels.last().map(Vec::as_slice).unwrap_or(&[]);
            let above: Vec<Hash> = below
                .chunks(2)
                .map(|pair| {
                    if pair.len() == 2 {
                        node_hash(&pair[0], &pair[1])
                    } else {
                        pair[0]
                    }
                })
                .collect();
            levels.push(above);
        }
        Self { levels }
    }

    /// Number of leaves.
    pub fn size(&self) -> usize {
        self.levels[0].len()
    }

    /// The leaves.
    pub fn leaves(&self) -> &[Hash] {
        &self.levels[0]
    }

    /// The tree hash.
    pub fn root(&self) -> Hash {
        match self.levels.last() {
            Some(top) if top.len() == 1 => top[0],
            _ => empty_root(),
        }
    }

    /// The audit path of leaf `index` (same as `inclusion_proof`).
    pub fn inclusion_proof(&self, index: usize) -> Vec<Hash> {
        let mut out = Vec::new();
        let mut i = index;
        for level in &self.levels[..self.levels.len().saturating_sub(1)] {
            let sibling = i ^ 1;
            if sibling < level.len() {
                out.push(level[sibling]);
            }
            i >>= 1;
        }
        out
    }
}

/// PATH(m, D[n]): the audit path of leaf `index` in the tree of `leaves`.
pub fn inclusion_proof(index: usize, leaves: &[Hash]) -> Vec<Hash> {
    let mut out = Vec::new();
    path(index, leaves, &mut out);
    out
}

fn path(m: usize, d: &[Hash], out: &mut Vec<Hash>) {
    let n = d.len();
    if n <= 1 {
        return;
    }
    let k = split(n);
    if m < k {
        path(m, &d[..k], out);
        out.push(root(&d[k..]));
    } else {
        path(m - k, &d[k..], out);
        out.push(root(&d[..k]));
    }
}

/// Verifies an inclusion proof (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    index: u64,
    tree_size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> bool {
    if index >= tree_size {
        return false;
    }
    let (mut fnode, mut snode) = (index, tree_size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && r == *root
}

/// PROOF(m, D[n]): consistency of the first `m` leaves with all of `leaves`.
/// Empty when `m` is 0 or equals the tree size.
pub fn consistency_proof(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    let mut out = Vec::new();
    if m > 0 && m < leaves.len() {
        subproof(m, leaves, true, &mut out);
    }
    out
}

fn subproof(m: usize, d: &[Hash], b: bool, out: &mut Vec<Hash>) {
    let n = d.len();
    if m == n {
        if !b {
            out.push(root(d));
        }
        return;
    }
    let k = split(n);
    if m <= k {
        subproof(m, &d[..k], b, out);
        out.push(root(&d[k..]));
    } else {
        subproof(m - k, &d[k..], false, out);
        out.push(root(&d[..k]));
    }
}

/// Verifies a consistency proof (RFC 9162 §2.1.4.2).
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_root: &Hash,
    second_root: &Hash,
    proof: &[Hash],
) -> bool {
    if first > second {
        return false;
    }
    if first == second {
        return proof.is_empty() && first_root == second_root;
    }
    if first == 0 {
        // Every tree extends the empty tree.
        return proof.is_empty();
    }
    if proof.is_empty() {
        return false;
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if first.is_power_of_two() {
        path.push(*first_root);
    }
    path.extend_from_slice(proof);
    let (mut fnode, mut snode) = (first - 1, second - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    fr == *first_root && sr == *second_root && snode == 0
}

#[cfg(test)]
mod tests {
    use super::super::canonical::leaf_hash_of;
    use super::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash_of(format!("leaf {i}").as_bytes()))
            .collect()
    }

    #[test]
    fn rfc6962_test_vector() {
        // The 8-leaf vector of RFC 6962 / certificate-transparency-go.
        let data: Vec<Vec<u8>> = vec![
            vec![],
            vec![0x00],
            vec![0x10],
            vec![0x20, 0x21],
            vec![0x30, 0x31],
            vec![0x40, 0x41, 0x42, 0x43],
            vec![0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
            vec![
                0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d,
                0x6e, 0x6f,
            ],
        ];
        let l: Vec<Hash> = data.iter().map(|d| leaf_hash_of(d)).collect();
        assert_eq!(
            data_encoding::HEXLOWER.encode(&root(&l)),
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
        );
        assert_eq!(
            data_encoding::HEXLOWER.encode(&root(&l[..1])),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        assert_eq!(
            data_encoding::HEXLOWER.encode(&empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn frontier_matches_recursive_root() {
        let l = leaves(70);
        let mut f = Frontier::new();
        assert_eq!(f.root(), root(&[]));
        for (i, h) in l.iter().enumerate() {
            f.push(*h);
            assert_eq!(f.root(), root(&l[..=i]), "size {}", i + 1);
        }
    }

    #[test]
    fn inclusion_proofs_verify_and_fail_when_wrong() {
        for n in 1..=33usize {
            let l = leaves(n);
            let r = root(&l);
            for i in 0..n {
                let p = inclusion_proof(i, &l);
                assert_eq!(Tree::new(l.clone()).inclusion_proof(i), p, "n={n} i={i}");
                assert_eq!(Tree::new(l.clone()).root(), r);
                assert!(
                    verify_inclusion(i as u64, n as u64, &l[i], &p, &r),
                    "n={n} i={i}"
                );
                let other = leaf_hash_of(b"other");
                assert!(!verify_inclusion(i as u64, n as u64, &other, &p, &r));
                if n > 1 {
                    assert!(
                        !verify_inclusion(((i + 1) % n) as u64, n as u64, &l[i], &p, &r)
                            || l[i] == l[(i + 1) % n]
                    );
                }
            }
        }
    }

    #[test]
    fn consistency_proofs_verify_and_fail_when_wrong() {
        let l = leaves(40);
        for n in 1..=40usize {
            for m in 1..=n {
                let p = consistency_proof(m, &l[..n]);
                assert!(
                    verify_consistency(m as u64, n as u64, &root(&l[..m]), &root(&l[..n]), &p),
                    "m={m} n={n}"
                );
                if m < n {
                    let mut forged = l[..n].to_vec();
                    forged[m - 1] = leaf_hash_of(b"forged");
                    assert!(!verify_consistency(
                        m as u64,
                        n as u64,
                        &root(&forged[..m]),
                        &root(&l[..n]),
                        &p
                    ));
                }
            }
        }
    }
}
