//! The RFC 6962 / RFC 9162 Merkle tree over the log's leaf hashes.
//!
//! Proof generation and checking come from `tlog_tiles` (a port of Go's
//! checksum-database `tlog`), whose storage layout we also use: every node of a
//! complete subtree is kept under its "stored hash index", so appending a leaf
//! writes on average two hashes and reads none (see [`Frontier`]), and proofs
//! read at most `2 log n` stored hashes.

use std::collections::HashMap;

use thiserror::Error;
pub use tlog_tiles::{
    EMPTY_HASH, Hash, HashReader, node_hash, split_stored_hash_index, stored_hash_index,
};

#[derive(Debug, Error, PartialEq, Eq)]
pub enum MerkleError {
    #[error("invalid proof")]
    InvalidProof,
    #[error("{0}")]
    BadInput(String),
    #[error("hash {0} missing from the stored tree")]
    Missing(u64),
}

/// Parses 64 lowercase hex digits. Upper case is refused so that a hash has one
/// spelling only (bundles must not verify after any byte changes).
pub fn parse_hash(text: &str) -> Result<Hash, MerkleError> {
    if text.len() != 64
        || !text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(MerkleError::BadInput(format!("not a hash: {text:?}")));
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out)
        .map_err(|_| MerkleError::BadInput(format!("not a hash: {text:?}")))?;
    Ok(Hash(out))
}

pub fn hash_hex(hash: &Hash) -> String {
    hex::encode(hash.0)
}

/// The right edge of a tree: the roots of its complete subtrees, largest (left)
/// first. Enough to append leaves and to compute the root, in O(log n) memory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Frontier {
    size: u64,
    roots: Vec<Hash>,
}

impl Frontier {
    pub fn new() -> Self {
        Self::default()
    }

    /// The frontier of a tree of `size` leaves from the hashes stored at
    /// [`Frontier::indexes`]`(size)`, in that order.
    pub fn from_stored(size: u64, roots: Vec<Hash>) -> Result<Self, MerkleError> {
        if roots.len() != size.count_ones() as usize {
            return Err(MerkleError::BadInput(format!(
                "a tree of {size} leaves has {} frontier hashes, not {}",
                size.count_ones(),
                roots.len()
            )));
        }
        Ok(Frontier { size, roots })
    }

    /// Stored hash indexes of the frontier of a tree of `size` leaves.
    pub fn indexes(size: u64) -> Vec<u64> {
        tlog_tiles::sub_tree_index(0, size, Vec::new())
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf; returns the hashes to store, as `(stored index, hash)`:
    /// the leaf and every subtree it completes (what `tlog_tiles::stored_hashes`
    /// returns, without reading anything back).
    pub fn push(&mut self, leaf: Hash) -> Vec<(u64, Hash)> {
        let n = self.size;
        let mut out = Vec::with_capacity(2);
        out.push((stored_hash_index(0, n), leaf));
        let mut h = leaf;
        let mut level = 0u8;
        while (n >> level) & 1 == 1 {
            // A trailing one bit: the subtree to the left is complete and merges.
            let left = self.roots.pop().unwrap_or(EMPTY_HASH);
            h = node_hash(left, h);
            level += 1;
            out.push((stored_hash_index(level, n >> level), h));
        }
        self.roots.push(h);
        self.size += 1;
        out
    }

    /// Appends a leaf without reporting the stored hashes (verification).
    pub fn push_only(&mut self, leaf: Hash) {
        let n = self.size;
        let mut h = leaf;
        let mut level = 0u32;
        while (n >> level) & 1 == 1 {
            let left = self.roots.pop().unwrap_or(EMPTY_HASH);
            h = node_hash(left, h);
            level += 1;
        }
        self.roots.push(h);
        self.size += 1;
    }

    /// The RFC 6962 root hash (the hash of the empty string for no leaves).
    pub fn root(&self) -> Hash {
        let mut iter = self.roots.iter().rev();
        let Some(last) = iter.next() else {
            return EMPTY_HASH;
        };
        iter.fold(*last, |acc, left| node_hash(*left, acc))
    }
}

/// A [`HashReader`] over hashes fetched beforehand.
pub struct MapReader(pub HashMap<u64, Hash>);

impl HashReader for MapReader {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|i| {
                self.0
                    .get(i)
                    .copied()
                    .ok_or(tlog_tiles::Error::IndexesNotInTree)
            })
            .collect()
    }
}

/// Records which hashes a proof needs, answering with zeroes; the caller then
/// fetches exactly those (storage is async, `HashReader` is not).
struct Recorder(std::cell::RefCell<Vec<u64>>);

impl HashReader for Recorder {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        self.0.borrow_mut().extend_from_slice(indexes);
        Ok(vec![Hash([0; 32]); indexes.len()])
    }
}

fn check_inclusion_input(index: u64, size: u64) -> Result<(), MerkleError> {
    if index >= size {
        return Err(MerkleError::BadInput(format!(
            "entry {index} is not in a tree of {size} entries"
        )));
    }
    Ok(())
}

fn check_consistency_input(old: u64, new: u64) -> Result<(), MerkleError> {
    if old > new {
        return Err(MerkleError::BadInput(format!(
            "a tree of {old} entries cannot be a prefix of one of {new}"
        )));
    }
    Ok(())
}

/// Stored hash indexes an inclusion proof of `index` in a tree of `size` reads.
pub fn inclusion_indexes(index: u64, size: u64) -> Result<Vec<u64>, MerkleError> {
    check_inclusion_input(index, size)?;
    let rec = Recorder(Default::default());
    tlog_tiles::prove_record(size, index, &rec)
        .map_err(|e| MerkleError::BadInput(e.to_string()))?;
    Ok(rec.0.into_inner())
}

/// The inclusion proof (audit path, leaf side first) of `index` in a tree of `size`.
pub fn prove_inclusion(
    index: u64,
    size: u64,
    r: &impl HashReader,
) -> Result<Vec<Hash>, MerkleError> {
    check_inclusion_input(index, size)?;
    tlog_tiles::prove_record(size, index, r).map_err(map_read_error)
}

/// Checks that `leaf` is entry `index` of the tree of `size` with root `root`.
pub fn check_inclusion(
    proof: &[Hash],
    index: u64,
    size: u64,
    leaf: Hash,
    root: Hash,
) -> Result<(), MerkleError> {
    check_inclusion_input(index, size)?;
    // A path is never longer than the tree is deep; refuse before recursing.
    if proof.len() > 64 {
        return Err(MerkleError::InvalidProof);
    }
    tlog_tiles::check_record(&proof.to_vec(), size, root, index, leaf)
        .map_err(|_| MerkleError::InvalidProof)
}

/// Stored hash indexes a consistency proof from `old` to `new` reads.
pub fn consistency_indexes(old: u64, new: u64) -> Result<Vec<u64>, MerkleError> {
    check_consistency_input(old, new)?;
    if old == 0 {
        return Ok(Vec::new());
    }
    let rec = Recorder(Default::default());
    tlog_tiles::prove_tree(new, old, &rec).map_err(|e| MerkleError::BadInput(e.to_string()))?;
    Ok(rec.0.into_inner())
}

/// The consistency proof that the tree of `old` leaves is a prefix of the tree of `new`.
pub fn prove_consistency(
    old: u64,
    new: u64,
    r: &impl HashReader,
) -> Result<Vec<Hash>, MerkleError> {
    check_consistency_input(old, new)?;
    if old == 0 {
        return Ok(Vec::new());
    }
    tlog_tiles::prove_tree(new, old, r).map_err(map_read_error)
}

/// Checks a consistency proof between two tree heads.
pub fn check_consistency(
    proof: &[Hash],
    old: u64,
    old_root: Hash,
    new: u64,
    new_root: Hash,
) -> Result<(), MerkleError> {
    check_consistency_input(old, new)?;
    if proof.len() > 128 {
        return Err(MerkleError::InvalidProof);
    }
    if old == 0 {
        // The empty tree is a prefix of every tree.
        return if proof.is_empty() && old_root == EMPTY_HASH {
            Ok(())
        } else {
            Err(MerkleError::InvalidProof)
        };
    }
    tlog_tiles::check_tree(&proof.to_vec(), new, new_root, old, old_root)
        .map_err(|_| MerkleError::InvalidProof)
}

fn map_read_error(e: tlog_tiles::Error) -> MerkleError {
    match e {
        tlog_tiles::Error::IndexesNotInTree => MerkleError::Missing(0),
        other => MerkleError::BadInput(other.to_string()),
    }
}

/// RFC 6962 leaf hash of arbitrary data: SHA-256(0x00 ‖ data).
pub fn leaf_hash(data: &[u8]) -> Hash {
    tlog_tiles::record_hash(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The leaves of the RFC 6962 reference test vectors (certificate-transparency).
    fn rfc_leaves() -> Vec<Vec<u8>> {
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
        .map(|h| hex::decode(h).unwrap())
        .collect()
    }

    const RFC_ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn build(leaves: &[Hash]) -> (Frontier, MapReader) {
        let mut f = Frontier::new();
        let mut map = HashMap::new();
        for leaf in leaves {
            map.extend(f.push(*leaf));
        }
        (f, MapReader(map))
    }

    struct VecReader(Vec<Hash>);

    impl HashReader for VecReader {
        fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
            Ok(indexes.iter().map(|i| self.0[*i as usize]).collect())
        }
    }

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    #[test]
    fn empty_tree_root_is_sha256_of_nothing() {
        assert_eq!(
            hash_hex(&Frontier::new().root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn rfc6962_reference_roots() {
        let hashes: Vec<Hash> = rfc_leaves().iter().map(|d| leaf_hash(d)).collect();
        let mut f = Frontier::new();
        for (i, h) in hashes.iter().enumerate() {
            f.push_only(*h);
            assert_eq!(hash_hex(&f.root()), RFC_ROOTS[i], "size {}", i + 1);
        }
        // And the stored layout agrees with tlog_tiles' own tree hash.
        let (_, reader) = build(&hashes);
        for n in 1..=8u64 {
            let root = tlog_tiles::tree_hash(n, &reader).unwrap();
            assert_eq!(hash_hex(&root), RFC_ROOTS[n as usize - 1]);
        }
    }

    #[test]
    fn rfc6962_reference_proofs_verify() {
        let hashes: Vec<Hash> = rfc_leaves().iter().map(|d| leaf_hash(d)).collect();
        let (_, reader) = build(&hashes);
        let root8 = parse_hash(RFC_ROOTS[7]).unwrap();
        for (i, h) in hashes.iter().enumerate() {
            let p = prove_inclusion(i as u64, 8, &reader).unwrap();
            assert_eq!(p.len(), 3);
            check_inclusion(&p, i as u64, 8, *h, root8).unwrap();
        }
        for old in 1..=8u64 {
            let p = prove_consistency(old, 8, &reader).unwrap();
            let old_root = parse_hash(RFC_ROOTS[old as usize - 1]).unwrap();
            check_consistency(&p, old, old_root, 8, root8).unwrap();
        }
    }

    /// RFC 9162 §2.1.1: MTH, computed by its recursive definition.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => EMPTY_HASH,
            1 => leaves[0],
            n => {
                let k = (n as u64).next_power_of_two() as usize / 2;
                let k = if k == n { n / 2 } else { k };
                node_hash(mth(&leaves[..k]), mth(&leaves[k..]))
            }
        }
    }

    /// RFC 9162 §2.1.3.1 PATH(m, D[n]), by definition.
    fn path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
        let n = leaves.len();
        if n <= 1 {
            return vec![];
        }
        let k = largest_pow2_below(n);
        if m < k {
            let mut p = path(m, &leaves[..k]);
            p.push(mth(&leaves[k..]));
            p
        } else {
            let mut p = path(m - k, &leaves[k..]);
            p.push(mth(&leaves[..k]));
            p
        }
    }

    /// RFC 9162 §2.1.4.1 SUBPROOF(m, D[n], b).
    fn subproof(m: usize, leaves: &[Hash], b: bool) -> Vec<Hash> {
        let n = leaves.len();
        if m == n {
            return if b { vec![] } else { vec![mth(leaves)] };
        }
        let k = largest_pow2_below(n);
        if m <= k {
            let mut p = subproof(m, &leaves[..k], b);
            p.push(mth(&leaves[k..]));
            p
        } else {
            let mut p = subproof(m - k, &leaves[k..], false);
            p.push(mth(&leaves[..k]));
            p
        }
    }

    fn largest_pow2_below(n: usize) -> usize {
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        k
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// The frontier stores exactly what tlog_tiles' `stored_hashes` would.
        #[test]
        fn frontier_matches_tlog_stored_hashes(n in 1u64..300) {
            let ls = leaves(n);
            let mut f = Frontier::new();
            let mut stored = VecReader(Vec::new());
            for (i, leaf) in ls.iter().enumerate() {
                let ours = f.push(*leaf);
                let theirs = tlog_tiles::stored_hashes_for_record_hash(i as u64, *leaf, &stored).unwrap();
                prop_assert_eq!(ours[0].0, stored.0.len() as u64);
                prop_assert_eq!(ours.iter().map(|(_, h)| *h).collect::<Vec<_>>(), theirs.clone());
                stored.0.extend(theirs);
            }
            prop_assert_eq!(f.root(), mth(&ls));
            prop_assert_eq!(tlog_tiles::tree_hash(n, &stored).unwrap(), mth(&ls));
        }

        /// Inclusion proofs equal RFC 9162's PATH, verify, and fail for a wrong
        /// leaf, index or root.
        #[test]
        fn inclusion_proofs(n in 1u64..200, pick in any::<prop::sample::Index>(), flip in 0usize..32) {
            let ls = leaves(n);
            let (f, reader) = build(&ls);
            let root = f.root();
            let i = pick.index(n as usize) as u64;
            let p = prove_inclusion(i, n, &reader).unwrap();
            prop_assert_eq!(&p, &path(i as usize, &ls));
            let need = inclusion_indexes(i, n).unwrap();
            prop_assert!(need.len() <= 2 * 64);
            prop_assert!(check_inclusion(&p, i, n, ls[i as usize], root).is_ok());
            let mut wrong = ls[i as usize];
            wrong.0[flip] ^= 1;
            prop_assert!(check_inclusion(&p, i, n, wrong, root).is_err());
            let mut bad_root = root;
            bad_root.0[flip] ^= 0x80;
            prop_assert!(check_inclusion(&p, i, n, ls[i as usize], bad_root).is_err());
            if n > 1 {
                let other = (i + 1) % n;
                prop_assert!(check_inclusion(&p, other, n, ls[i as usize], root).is_err());
            }
        }

        /// Consistency proofs equal RFC 9162's PROOF, verify, and fail for a
        /// wrong root on either side.
        #[test]
        fn consistency_proofs(new in 1u64..200, pick in any::<prop::sample::Index>(), flip in 0usize..32) {
            let ls = leaves(new);
            let (f, reader) = build(&ls);
            let old = pick.index(new as usize) as u64 + 1;
            let old_root = mth(&ls[..old as usize]);
            let p = prove_consistency(old, new, &reader).unwrap();
            prop_assert_eq!(&p, &subproof(old as usize, &ls, true));
            prop_assert_eq!(consistency_indexes(old, new).unwrap().len() <= 128, true);
            prop_assert!(check_consistency(&p, old, old_root, new, f.root()).is_ok());
            let mut bad = old_root;
            bad.0[flip] ^= 1;
            prop_assert!(check_consistency(&p, old, bad, new, f.root()).is_err());
            let mut bad_new = f.root();
            bad_new.0[flip] ^= 1;
            prop_assert!(check_consistency(&p, old, old_root, new, bad_new).is_err());
        }

        #[test]
        fn frontier_round_trips_through_storage(n in 0u64..500) {
            let ls = leaves(n);
            let (f, reader) = build(&ls);
            let idx = Frontier::indexes(n);
            let roots = reader.read_hashes(&idx).unwrap();
            let g = Frontier::from_stored(n, roots).unwrap();
            prop_assert_eq!(g.root(), f.root());
            prop_assert_eq!(g, f);
        }
    }

    #[test]
    fn bad_inputs_are_errors_not_panics() {
        let (_, reader) = build(&leaves(4));
        assert!(prove_inclusion(4, 4, &reader).is_err());
        assert!(prove_consistency(5, 4, &reader).is_err());
        assert!(check_inclusion(&[], 9, 3, EMPTY_HASH, EMPTY_HASH).is_err());
        assert!(check_consistency(&[], 0, EMPTY_HASH, 3, EMPTY_HASH).is_ok());
        assert!(check_consistency(&[EMPTY_HASH], 0, EMPTY_HASH, 3, EMPTY_HASH).is_err());
        assert!(parse_hash(&"A".repeat(64)).is_err());
        assert!(parse_hash(&"a".repeat(64)).is_ok());
    }
}
