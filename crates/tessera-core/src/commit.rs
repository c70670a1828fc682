//! Partition commitments: a miner's signed Merkle root over the roots of every chunk of one
//! partition, the short paths that tie a challenged chunk to it, and the checks a validator makes
//! when the commitment changes.
//!
//! The chunk roots of a partition (its *leaves*) are cut into groups of [`GROUP`] consecutive
//! slots. A group's node is the Merkle root of its 64 leaves, and the partition root is the Merkle
//! root of the group nodes. A validator keeps the group nodes, 32 bytes for 64 chunks, so that a
//! challenged item needs only the six hashes from its chunk root to its group node, whatever the
//! partition's size, and an update shows only the groups it touches. docs/protocol.md has the
//! bytes and the reasons.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::merkle::{self, Hash};
use crate::{AccountId, Keypair, Signature};

/// Slots per group: the validator keeps one node per group.
pub const GROUP: u64 = 64;

/// Hashes from a leaf to its group node.
pub const GROUP_DEPTH: usize = GROUP.trailing_zeros() as usize;

/// The leaf of a slot that holds nothing (beyond the partition's end, or a released slot not yet
/// resealed): no chunk has this root.
pub const EMPTY: Hash = [0; 32];

/// The domain tag of a signed commitment.
pub const COMMITMENT_TAG: &[u8] = b"tessera/commitment/v1";

/// Inner nodes of the partition tree take their own prefix, neither a segment's (0) nor a chunk
/// tree node's (1): no node of one tree can pass for a node of the other.
const PARTITION_PREFIX: u8 = 2;

fn node(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([PARTITION_PREFIX]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The level above `level` (of even length).
fn up(level: &[Hash]) -> Vec<Hash> {
    level.chunks_exact(2).map(|p| node(&p[0], &p[1])).collect()
}

/// How many groups a partition of `n_chunks` has.
pub fn group_count(n_chunks: u64) -> u64 {
    n_chunks.div_ceil(GROUP)
}

/// How many slots of group `index` lie inside a partition of `n_chunks`.
pub fn group_len(n_chunks: u64, index: u64) -> usize {
    n_chunks.saturating_sub(index * GROUP).min(GROUP) as usize
}

/// The 64 leaves of a group from the ones given, the rest [`EMPTY`].
fn padded(leaves: &[Hash]) -> [Hash; GROUP as usize] {
    let mut all = [EMPTY; GROUP as usize];
    for (a, l) in all.iter_mut().zip(leaves) {
        *a = *l;
    }
    all
}

/// The node of a group from its leaves (at most 64; missing ones are [`EMPTY`]).
pub fn group_node(leaves: &[Hash]) -> Hash {
    let mut level = padded(leaves).to_vec();
    while level.len() > 1 {
        level = up(&level);
    }
    level[0]
}

/// The group nodes of a whole partition from all its leaves.
pub fn group_nodes(leaves: &[Hash]) -> Vec<Hash> {
    leaves.chunks(GROUP as usize).map(group_node).collect()
}

/// The [`GROUP_DEPTH`] sibling hashes from leaf `at` of a group (0 to 63) up to the group node.
pub fn group_path(leaves: &[Hash], at: usize) -> Vec<Hash> {
    let mut level = padded(leaves).to_vec();
    let mut at = at % GROUP as usize;
    let mut path = Vec::with_capacity(GROUP_DEPTH);
    while level.len() > 1 {
        path.push(level[at ^ 1]);
        level = up(&level);
        at /= 2;
    }
    path
}

/// The group node that `leaf`, at `slot`, and `path` hash up to; `None` for a path of the wrong
/// length, which is never reinterpreted.
pub fn fold_group(leaf: &Hash, slot: u64, path: &[Hash]) -> Option<Hash> {
    if path.len() != GROUP_DEPTH {
        return None;
    }
    Some(merkle::fold(*leaf, slot % GROUP, path, node))
}

/// The partition root over the group nodes, padded with [`EMPTY`] to a power of two; a single
/// group's node is the root, and a partition with no chunks has the root [`EMPTY`].
pub fn partition_root(groups: &[Hash]) -> Hash {
    if groups.is_empty() {
        return EMPTY;
    }
    let mut level = groups.to_vec();
    level.resize(groups.len().next_power_of_two(), EMPTY);
    while level.len() > 1 {
        level = up(&level);
    }
    level[0]
}

/// What a miner commits to for one partition, the one its validator `validator` checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commitment {
    pub miner: AccountId,
    pub validator: AccountId,
    pub chunk_size: u64,
    /// The seal's passes (seal v1): with the keys and chunk size, what a validator must run to
    /// derive a filler chunk's root itself.
    pub seal_passes: u32,
    pub n_chunks: u64,
    /// Rises with every change the miner makes to the partition's leaves.
    pub seq: u64,
    pub root: Hash,
}

impl Commitment {
    /// The bytes the miner signs: the tag, then every field in order (integers little-endian).
    pub fn message(&self) -> Vec<u8> {
        let mut m = Vec::with_capacity(4 + COMMITMENT_TAG.len() + 32 * 3 + 28);
        m.extend_from_slice(&(COMMITMENT_TAG.len() as u32).to_le_bytes());
        m.extend_from_slice(COMMITMENT_TAG);
        m.extend_from_slice(self.miner.as_bytes());
        m.extend_from_slice(self.validator.as_bytes());
        m.extend_from_slice(&self.chunk_size.to_le_bytes());
        m.extend_from_slice(&self.seal_passes.to_le_bytes());
        m.extend_from_slice(&self.n_chunks.to_le_bytes());
        m.extend_from_slice(&self.seq.to_le_bytes());
        m.extend_from_slice(&self.root);
        m
    }

    /// Signs the commitment with the miner's hotkey, which must be `self.miner`.
    pub fn sign(self, miner: &Keypair) -> SignedCommitment {
        let signature = miner.sign(&self.message());
        SignedCommitment {
            commitment: self,
            signature,
        }
    }
}

/// A commitment with the miner's signature over [`Commitment::message`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedCommitment {
    pub commitment: Commitment,
    pub signature: Signature,
}

/// Why a commitment, an update or an answered item is refused. Each is a reason to show, never a
/// panic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Fault {
    #[error("commitment is not signed by the miner {0}")]
    Signature(String),
    #[error("commitment is for miner {got}, expected {expected}")]
    Miner { got: String, expected: String },
    #[error("commitment is for validator {got}, expected {expected}")]
    Validator { got: String, expected: String },
    #[error(
        "commitment is for chunk size {chunk_size} and {passes} seal passes, not the required {want_size} and {want_passes}"
    )]
    Seal {
        chunk_size: u64,
        passes: u32,
        want_size: u64,
        want_passes: u32,
    },
    #[error("commitment sequence went backwards: {got} after {held}")]
    Backwards { held: u64, got: u64 },
    #[error("commitment {seq} was already held with another root: the miner signed two")]
    Equivocation { seq: u64 },
    #[error("{got} group nodes do not match {n_chunks} chunks ({want} groups)")]
    GroupCount {
        got: usize,
        n_chunks: u64,
        want: u64,
    },
    #[error("group nodes do not hash to the committed root")]
    Root,
    #[error("group {index}: {reason}")]
    Group { index: u64, reason: String },
    #[error("group {index} changed but the update does not show it")]
    MissingGroup { index: u64 },
    #[error("slot {slot} is outside the committed {n_chunks} chunks")]
    Slot { slot: u64, n_chunks: u64 },
    #[error("path to group {index} is {got} hashes, not {GROUP_DEPTH}")]
    PathLength { index: u64, got: usize },
    #[error("slot {slot} does not prove into its committed group")]
    NotInGroup { slot: u64 },
}

impl SignedCommitment {
    /// Checks the signature and that the commitment is the one `validator` asked `miner` for,
    /// sealed as required.
    pub fn check(
        &self,
        miner: &AccountId,
        validator: &AccountId,
        chunk_size: u64,
        seal_passes: u32,
    ) -> Result<(), Fault> {
        let c = &self.commitment;
        if &c.miner != miner {
            return Err(Fault::Miner {
                got: c.miner.to_ss58(),
                expected: miner.to_ss58(),
            });
        }
        if &c.validator != validator {
            return Err(Fault::Validator {
                got: c.validator.to_ss58(),
                expected: validator.to_ss58(),
            });
        }
        if c.chunk_size != chunk_size || c.seal_passes != seal_passes {
            return Err(Fault::Seal {
                chunk_size: c.chunk_size,
                passes: c.seal_passes,
                want_size: chunk_size,
                want_passes: seal_passes,
            });
        }
        miner
            .verify(&c.message(), &self.signature)
            .map_err(|_| Fault::Signature(miner.to_ss58()))
    }
}

/// Checks a full list of group nodes against a commitment, as a validator does when it first
/// takes a commitment (or takes one afresh).
pub fn check_groups(c: &Commitment, groups: &[Hash]) -> Result<(), Fault> {
    let want = group_count(c.n_chunks);
    if groups.len() as u64 != want {
        return Err(Fault::GroupCount {
            got: groups.len(),
            n_chunks: c.n_chunks,
            want,
        });
    }
    if partition_root(groups) != c.root {
        return Err(Fault::Root);
    }
    Ok(())
}

/// Checks that `leaf` sits at `slot` of the committed partition: `path` hashes it up to the group
/// node the validator holds.
pub fn check_leaf(
    groups: &[Hash],
    n_chunks: u64,
    slot: u64,
    leaf: &Hash,
    path: &[Hash],
) -> Result<(), Fault> {
    if slot >= n_chunks {
        return Err(Fault::Slot { slot, n_chunks });
    }
    let index = slot / GROUP;
    let Some(group) = groups.get(index as usize) else {
        return Err(Fault::Slot { slot, n_chunks });
    };
    match fold_group(leaf, slot, path) {
        None => Err(Fault::PathLength {
            index,
            got: path.len(),
        }),
        Some(g) if &g == group => Ok(()),
        Some(_) => Err(Fault::NotInGroup { slot }),
    }
}

/// One group as an update shows it: its leaves now, and the leaf each changed slot held under the
/// commitment the validator has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupUpdate {
    pub index: u64,
    /// The group's leaves under the new commitment: exactly [`group_len`] of them.
    pub leaves: Vec<Hash>,
    /// `(slot, old leaf)` for every slot of the group whose leaf changed.
    pub old: Vec<(u64, Hash)>,
}

/// A leaf that an update changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeafChange {
    pub slot: u64,
    pub old: Hash,
    pub new: Hash,
}

/// Checks the move from the commitment `held`, whose group nodes are `groups`, to `next` through
/// `updates`, and gives the new group nodes and every leaf that changed.
///
/// Each shown group's old leaves (its leaves now, with the changed slots put back) must hash to
/// the group node held, so the miner cannot rewrite a slot without showing it; the new group
/// nodes must hash to the new root, so nothing else changed. Both commitments must already have
/// passed [`SignedCommitment::check`].
pub fn apply(
    held: &Commitment,
    groups: &[Hash],
    next: &Commitment,
    updates: &[GroupUpdate],
) -> Result<(Vec<Hash>, Vec<LeafChange>), Fault> {
    if groups.len() as u64 != group_count(held.n_chunks) {
        return Err(Fault::GroupCount {
            got: groups.len(),
            n_chunks: held.n_chunks,
            want: group_count(held.n_chunks),
        });
    }
    if next.seq < held.seq {
        return Err(Fault::Backwards {
            held: held.seq,
            got: next.seq,
        });
    }
    if next.seq == held.seq {
        return if next.root == held.root && next.n_chunks == held.n_chunks && updates.is_empty() {
            Ok((groups.to_vec(), Vec::new()))
        } else {
            Err(Fault::Equivocation { seq: next.seq })
        };
    }
    let fault = |index: u64, reason: String| Fault::Group { index, reason };
    let old_count = group_count(held.n_chunks);
    let new_count = group_count(next.n_chunks);
    // Every group beyond the old end must be shown, so a size the updates cannot cover is
    // refused before anything is allocated for it (a forged size of 2^64 slots would otherwise
    // ask for more memory than any machine has).
    if new_count > old_count.saturating_add(updates.len() as u64) {
        return Err(Fault::MissingGroup {
            index: old_count.saturating_add(updates.len() as u64),
        });
    }
    let mut shown: BTreeMap<u64, Hash> = BTreeMap::new();
    let mut changes = Vec::new();
    for u in updates {
        let i = u.index;
        if i >= new_count {
            return Err(fault(i, format!("beyond the {new_count} groups committed")));
        }
        let want = group_len(next.n_chunks, i);
        if u.leaves.len() != want {
            return Err(fault(
                i,
                format!("{} leaves shown, the group has {want}", u.leaves.len()),
            ));
        }
        let new = padded(&u.leaves);
        let mut old = new;
        let mut seen = [false; GROUP as usize];
        for &(slot, leaf) in &u.old {
            if slot / GROUP != i {
                return Err(fault(i, format!("slot {slot} is not in this group")));
            }
            let at = (slot % GROUP) as usize;
            if std::mem::replace(&mut seen[at], true) {
                return Err(fault(i, format!("slot {slot} is shown twice")));
            }
            old[at] = leaf;
        }
        // A slot beyond the old end held nothing.
        for (at, leaf) in old.iter().enumerate() {
            let slot = i * GROUP + at as u64;
            if slot >= held.n_chunks && leaf != &EMPTY {
                return Err(fault(
                    i,
                    format!("slot {slot} was beyond the partition but is shown holding a chunk"),
                ));
            }
        }
        if i < old_count && group_node(&old) != groups[i as usize] {
            return Err(fault(
                i,
                "its old leaves do not hash to the group held".into(),
            ));
        }
        if shown.insert(i, group_node(&new)).is_some() {
            return Err(fault(i, "shown twice".into()));
        }
        // Slots past the new end are dropped, not changed: the caller sees the new size.
        for (at, (o, n)) in old.iter().zip(&new).enumerate().take(want) {
            if o != n {
                changes.push(LeafChange {
                    slot: i * GROUP + at as u64,
                    old: *o,
                    new: *n,
                });
            }
        }
    }
    let mut out = Vec::with_capacity(new_count as usize);
    for i in 0..new_count {
        match shown.get(&i) {
            Some(g) => out.push(*g),
            None if i < old_count => {
                // A shrink that cuts a group changes it: slots past the end become EMPTY.
                let cut = next.n_chunks < held.n_chunks && i == new_count - 1;
                if cut && !next.n_chunks.is_multiple_of(GROUP) {
                    return Err(Fault::MissingGroup { index: i });
                }
                out.push(groups[i as usize]);
            }
            None => return Err(Fault::MissingGroup { index: i }),
        }
    }
    if partition_root(&out) != next.root {
        return Err(Fault::Root);
    }
    changes.sort_by_key(|c| c.slot);
    Ok((out, changes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(i: u64) -> Hash {
        Sha256::digest(i.to_le_bytes()).into()
    }

    #[test]
    fn paths_fold_to_their_group_and_nowhere_else() {
        let leaves: Vec<Hash> = (0..GROUP).map(leaf).collect();
        let g = group_node(&leaves);
        for at in 0..GROUP as usize {
            let path = group_path(&leaves, at);
            assert_eq!(path.len(), GROUP_DEPTH);
            assert_eq!(fold_group(&leaves[at], at as u64, &path), Some(g));
            assert_ne!(fold_group(&leaves[at], at as u64 ^ 1, &path), Some(g));
            assert_eq!(fold_group(&leaves[at], at as u64, &path[1..]), None);
        }
    }

    #[test]
    fn a_short_group_is_padded_with_empty_leaves() {
        let leaves: Vec<Hash> = (0..5).map(leaf).collect();
        let mut full = leaves.clone();
        full.resize(GROUP as usize, EMPTY);
        assert_eq!(group_node(&leaves), group_node(&full));
        assert_eq!(partition_root(&[]), EMPTY);
        assert_eq!(partition_root(&[leaf(1)]), leaf(1));
        assert_eq!(
            partition_root(&[leaf(1), leaf(2), leaf(3)]),
            partition_root(&[leaf(1), leaf(2), leaf(3), EMPTY])
        );
    }
}
