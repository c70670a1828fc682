//! Partition commitments: golden roots, honest updates of every kind accepted, and every way a
//! cheating miner could bend a commitment, an update or a path refused with its reason.

use std::collections::BTreeMap;

use proptest::prelude::*;
use sha2::{Digest, Sha256};
use tessera_core::Keypair;
use tessera_core::commit::{
    self, Commitment, EMPTY, Fault, GROUP, GroupUpdate, LeafChange, SignedCommitment,
};
use tessera_core::merkle::Hash;

const CHUNK: u64 = 1 << 20;
const PASSES: u32 = 384;

fn leaf(tag: u64) -> Hash {
    Sha256::digest(tag.to_le_bytes()).into()
}

fn keys() -> (Keypair, Keypair) {
    (
        Keypair::from_uri("//Milo").unwrap(),
        Keypair::from_uri("//Vera").unwrap(),
    )
}

/// A miner's partition as the miner sees it: every leaf, and the sequence number.
#[derive(Clone)]
struct Partition {
    leaves: Vec<Hash>,
    seq: u64,
}

impl Partition {
    fn new(n: u64) -> Self {
        Self {
            leaves: (0..n).map(leaf).collect(),
            seq: 1,
        }
    }

    fn commitment(&self) -> Commitment {
        let (m, v) = keys();
        Commitment {
            miner: m.account(),
            validator: v.account(),
            chunk_size: CHUNK,
            seal_passes: PASSES,
            n_chunks: self.leaves.len() as u64,
            seq: self.seq,
            root: commit::partition_root(&commit::group_nodes(&self.leaves)),
        }
    }

    fn signed(&self) -> SignedCommitment {
        self.commitment().sign(&keys().0)
    }

    /// The honest update from `before` to `self`: every group with a changed (or new) slot,
    /// with the old leaf of each changed slot.
    fn update_from(&self, before: &Partition) -> Vec<GroupUpdate> {
        let n_new = self.leaves.len() as u64;
        let n_old = before.leaves.len() as u64;
        let mut groups: BTreeMap<u64, Vec<(u64, Hash)>> = BTreeMap::new();
        for slot in 0..n_new.max(n_old) {
            let old = before.leaves.get(slot as usize).copied().unwrap_or(EMPTY);
            let new = self.leaves.get(slot as usize).copied().unwrap_or(EMPTY);
            if old != new && slot / GROUP < commit::group_count(n_new) {
                groups.entry(slot / GROUP).or_default().push((slot, old));
            }
        }
        // New groups are shown even where every slot is still EMPTY.
        for g in commit::group_count(n_old)..commit::group_count(n_new) {
            groups.entry(g).or_default();
        }
        groups
            .into_iter()
            .map(|(index, old)| {
                let from = (index * GROUP) as usize;
                let to = (from + GROUP as usize).min(self.leaves.len());
                GroupUpdate {
                    index,
                    leaves: self.leaves[from..to].to_vec(),
                    old,
                }
            })
            .collect()
    }
}

/// Applies the honest update from `before` to `after` as the validator would and checks that it
/// holds exactly `after`'s group nodes and saw exactly the leaves that changed.
fn check(before: &Partition, after: &Partition) {
    let (m, v) = keys();
    let held = before.signed();
    let next = after.signed();
    next.check(&m.account(), &v.account(), CHUNK, PASSES)
        .unwrap();
    let groups = commit::group_nodes(&before.leaves);
    commit::check_groups(&held.commitment, &groups).unwrap();
    let (got, changes) = commit::apply(
        &held.commitment,
        &groups,
        &next.commitment,
        &after.update_from(before),
    )
    .unwrap_or_else(|e| panic!("honest update refused: {e}"));
    assert_eq!(got, commit::group_nodes(&after.leaves));
    let n = after.leaves.len();
    let expected: Vec<LeafChange> = (0..n.max(before.leaves.len()))
        .filter(|&s| s < n)
        .filter_map(|s| {
            let old = before.leaves.get(s).copied().unwrap_or(EMPTY);
            let new = after.leaves[s];
            (old != new).then_some(LeafChange {
                slot: s as u64,
                old,
                new,
            })
        })
        .collect();
    assert_eq!(changes, expected);
    // Every slot of the new partition proves into what the validator now holds.
    for slot in (0..n).step_by(7) {
        let from = slot / GROUP as usize * GROUP as usize;
        let to = (from + GROUP as usize).min(n);
        let path = commit::group_path(&after.leaves[from..to], slot % GROUP as usize);
        commit::check_leaf(&got, n as u64, slot as u64, &after.leaves[slot], &path).unwrap();
    }
}

#[test]
fn golden_partition_root() {
    // Leaves SHA-256(i as u64 LE) for i in 0..100, two groups; computed independently with
    // Python's hashlib (docs/reference/seal.py, `partition_root`).
    let p = Partition::new(100);
    assert_eq!(
        hex::encode(commit::partition_root(&commit::group_nodes(&p.leaves))),
        "2010a5c4ed6ae2dc22f3474755d574c49dba87bc16bf9d42248bd18855fd8d1b"
    );
}

#[test]
fn the_signed_bytes_are_the_documented_ones() {
    let p = Partition::new(3);
    let c = p.commitment();
    let m = c.message();
    assert_eq!(&m[..4], &21u32.to_le_bytes());
    assert_eq!(&m[4..25], b"tessera/commitment/v1");
    assert_eq!(&m[25..57], c.miner.as_bytes());
    assert_eq!(&m[57..89], c.validator.as_bytes());
    assert_eq!(&m[89..97], &CHUNK.to_le_bytes());
    assert_eq!(&m[97..101], &PASSES.to_le_bytes());
    assert_eq!(&m[101..109], &3u64.to_le_bytes());
    assert_eq!(&m[109..117], &1u64.to_le_bytes());
    assert_eq!(&m[117..], &c.root);
}

#[test]
fn store_release_reseal_grow_and_shrink_are_accepted() {
    let base = Partition::new(300);
    let step = |f: &dyn Fn(&mut Partition)| {
        let mut p = base.clone();
        f(&mut p);
        p.seq += 1;
        check(&base, &p);
    };
    step(&|p| p.leaves[70] = leaf(10_000)); // a store
    step(&|p| {
        // a release of three slots, two of them in one group
        for s in [5, 6, 299] {
            p.leaves[s] = EMPTY;
        }
    });
    step(&|p| p.leaves.resize(1000, EMPTY)); // growth, not yet sealed
    step(&|p| p.leaves.extend((300..1000).map(leaf))); // growth, sealed
    step(&|p| p.leaves.truncate(256)); // a shrink on a group boundary
    step(&|p| p.leaves.truncate(100)); // a shrink that cuts a group
    step(&|_| {}); // a new sequence number with nothing changed

    // A reseal: from a released (EMPTY) slot back to filler.
    let mut released = base.clone();
    released.leaves[5] = EMPTY;
    released.seq += 1;
    let mut resealed = released.clone();
    resealed.leaves[5] = leaf(5);
    resealed.seq += 1;
    check(&released, &resealed);
}

proptest! {
    #[test]
    fn any_honest_update_is_accepted(
        n in 0u64..400,
        edits in prop::collection::vec((0u64..500, 0u8..3), 0..20),
        resize in prop::option::of(0u64..500),
    ) {
        let before = Partition::new(n);
        let mut after = before.clone();
        after.seq += 1;
        if let Some(r) = resize {
            after.leaves.resize(r as usize, EMPTY);
        }
        for (slot, kind) in edits {
            if let Some(l) = after.leaves.get_mut(slot as usize) {
                *l = match kind { 0 => EMPTY, 1 => leaf(slot + 7_000), _ => leaf(slot) };
            }
        }
        check(&before, &after);
    }
}

/// What the validator says about the move from `before` to a cheating `after` with `updates`.
fn refused(before: &Partition, after: &Partition, updates: &[GroupUpdate]) -> Fault {
    commit::apply(
        &before.commitment(),
        &commit::group_nodes(&before.leaves),
        &after.commitment(),
        updates,
    )
    .expect_err("a cheating update was accepted")
}

#[test]
fn a_change_the_update_hides_is_refused() {
    let before = Partition::new(200);
    let mut after = before.clone();
    after.seq += 1;
    after.leaves[70] = leaf(9_000);
    after.leaves[71] = leaf(9_001);
    // Shows the group but not slot 71's old leaf: the group no longer hashes to what is held.
    let mut u = after.update_from(&before);
    u[0].old.retain(|(s, _)| *s != 71);
    assert!(matches!(
        refused(&before, &after, &u),
        Fault::Group { index: 1, .. }
    ));
    // Does not show the group at all: the new root cannot be reached.
    assert_eq!(refused(&before, &after, &[]), Fault::Root);
    // Lies about the old leaf.
    let mut u = after.update_from(&before);
    u[0].old[0].1 = leaf(1);
    assert!(matches!(
        refused(&before, &after, &u),
        Fault::Group { index: 1, .. }
    ));
}

#[test]
fn a_cut_group_must_be_shown_and_slots_beyond_the_end_held_nothing() {
    let before = Partition::new(200);
    let mut after = before.clone();
    after.seq += 1;
    after.leaves.truncate(100);
    let u: Vec<GroupUpdate> = after
        .update_from(&before)
        .into_iter()
        .filter(|g| g.index != 1)
        .collect();
    assert_eq!(
        refused(&before, &after, &u),
        Fault::MissingGroup { index: 1 }
    );

    // Growth that claims a slot beyond the old end held a chunk.
    let mut grown = before.clone();
    grown.seq += 1;
    grown.leaves.extend((200..260).map(leaf));
    let mut u = grown.update_from(&before);
    let g3 = u.iter_mut().find(|g| g.index == 3).unwrap();
    g3.old[0].1 = leaf(1);
    assert!(matches!(
        refused(&before, &grown, &u),
        Fault::Group { index: 3, .. }
    ));
}

#[test]
fn sequence_numbers_never_go_back_and_one_number_has_one_root() {
    let mut before = Partition::new(64);
    before.seq = 5;
    let mut back = before.clone();
    back.seq = 4;
    assert_eq!(
        refused(&before, &back, &[]),
        Fault::Backwards { held: 5, got: 4 }
    );
    let mut twin = before.clone();
    twin.leaves[3] = leaf(77);
    let u = twin.update_from(&before);
    assert_eq!(refused(&before, &twin, &u), Fault::Equivocation { seq: 5 });
    // The same commitment again is no change.
    let (g, c) = commit::apply(
        &before.commitment(),
        &commit::group_nodes(&before.leaves),
        &before.commitment(),
        &[],
    )
    .unwrap();
    assert_eq!(g, commit::group_nodes(&before.leaves));
    assert!(c.is_empty());
}

#[test]
fn a_commitment_signed_by_another_key_or_for_another_partition_is_refused() {
    let (m, v) = keys();
    let p = Partition::new(10);
    let forged = p.commitment().sign(&v);
    assert_eq!(
        forged.check(&m.account(), &v.account(), CHUNK, PASSES),
        Err(Fault::Signature(m.account().to_ss58()))
    );
    let mut other = p.commitment();
    other.validator = Keypair::from_uri("//Other").unwrap().account();
    let other = other.sign(&m);
    assert!(matches!(
        other.check(&m.account(), &v.account(), CHUNK, PASSES),
        Err(Fault::Validator { .. })
    ));
    assert!(matches!(
        p.signed().check(&m.account(), &v.account(), CHUNK, 0),
        Err(Fault::Seal { .. })
    ));
    // A signature over one commitment does not cover a changed one.
    let mut changed = p.signed();
    changed.commitment.n_chunks += 1;
    assert!(matches!(
        changed.check(&m.account(), &v.account(), CHUNK, PASSES),
        Err(Fault::Signature(_))
    ));
    p.signed()
        .check(&m.account(), &v.account(), CHUNK, PASSES)
        .unwrap();
}

#[test]
fn group_lists_and_paths_that_do_not_fit_are_refused() {
    let p = Partition::new(130);
    let groups = commit::group_nodes(&p.leaves);
    let c = p.commitment();
    commit::check_groups(&c, &groups).unwrap();
    assert!(matches!(
        commit::check_groups(&c, &groups[..2]),
        Err(Fault::GroupCount { .. })
    ));
    let mut bent = groups.clone();
    bent[2][0] ^= 1;
    assert_eq!(commit::check_groups(&c, &bent), Err(Fault::Root));

    let path = commit::group_path(&p.leaves[64..128], 3);
    commit::check_leaf(&groups, 130, 67, &p.leaves[67], &path).unwrap();
    // A path into a different root: another partition's group.
    let other = Partition::new(200);
    let other_groups: Vec<Hash> = commit::group_nodes(&other.leaves)
        .into_iter()
        .map(|mut g| {
            g[1] ^= 1;
            g
        })
        .collect();
    assert_eq!(
        commit::check_leaf(&other_groups, 130, 67, &p.leaves[67], &path),
        Err(Fault::NotInGroup { slot: 67 })
    );
    // The right path for another slot, or for another leaf.
    assert_eq!(
        commit::check_leaf(&groups, 130, 66, &p.leaves[67], &path),
        Err(Fault::NotInGroup { slot: 66 })
    );
    assert_eq!(
        commit::check_leaf(&groups, 130, 67, &leaf(1), &path),
        Err(Fault::NotInGroup { slot: 67 })
    );
    assert_eq!(
        commit::check_leaf(&groups, 130, 67, &p.leaves[67], &path[..5]),
        Err(Fault::PathLength { index: 1, got: 5 })
    );
    assert_eq!(
        commit::check_leaf(&groups, 130, 130, &EMPTY, &path),
        Err(Fault::Slot {
            slot: 130,
            n_chunks: 130
        })
    );
}
