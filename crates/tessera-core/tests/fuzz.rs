//! Fuzzing on stable Rust: arbitrary bytes through every check a stranger's input reaches in
//! this crate (Merkle paths, commitment paths and updates, signed-request messages, addresses).
//! None may panic or allocate by a number it was sent. `cargo xtask fuzz` runs these with many
//! more cases (`PROPTEST_CASES`); CI runs proptest's default.

use std::str::FromStr;

use proptest::prelude::*;
use tessera_core::commit::{self, Commitment, GroupUpdate};
use tessera_core::merkle::{self, Hash, Proof};
use tessera_core::{AccountId, Keypair, Signature};

fn hash() -> impl Strategy<Value = Hash> {
    prop_oneof![Just([0u8; 32]), any::<Hash>()]
}

fn commitment(n_chunks: u64, seq: u64, root: Hash) -> Commitment {
    Commitment {
        miner: AccountId([1; 32]),
        validator: AccountId([2; 32]),
        chunk_size: 1 << 20,
        seal_passes: 1,
        n_chunks,
        seq,
        root,
    }
}

/// Sizes that matter: small, at group edges, and absurd.
fn n_chunks() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..200, Just(63), Just(64), Just(65), any::<u64>()]
}

proptest! {
    #[test]
    fn fuzz_merkle_paths(
        chunk_size in prop_oneof![any::<u64>(), Just(1u64 << 20), Just(1024)],
        segment in proptest::collection::vec(any::<u8>(), 0..1100),
        index in any::<u64>(),
        path in proptest::collection::vec(hash(), 0..24),
        root in hash(),
    ) {
        let proof = Proof { index, path };
        let got = merkle::root_of(chunk_size, &segment, &proof);
        // Random bytes never prove into a root chosen apart from them.
        prop_assert!(!merkle::verify(&root, chunk_size, &segment, &proof));
        prop_assert!(got != Some(root));
    }

    #[test]
    fn fuzz_commitment_paths(
        groups in proptest::collection::vec(hash(), 0..8),
        n_chunks in n_chunks(),
        slot in any::<u64>(),
        leaf in hash(),
        path in proptest::collection::vec(hash(), 0..10),
    ) {
        let _ = commit::check_leaf(&groups, n_chunks, slot, &leaf, &path);
        let _ = commit::check_groups(&commitment(n_chunks, 1, leaf), &groups);
    }

    #[test]
    fn fuzz_commitment_updates(
        held_n in 0u64..300,
        next_n in n_chunks(),
        seq in (0u64..3, 0u64..3),
        root in hash(),
        updates in proptest::collection::vec(
            (
                prop_oneof![0u64..6, any::<u64>()],
                proptest::collection::vec(hash(), 0..70),
                proptest::collection::vec((any::<u64>(), hash()), 0..4),
            ),
            0..4,
        ),
    ) {
        let leaves = vec![[7u8; 32]; held_n as usize];
        let groups = commit::group_nodes(&leaves);
        let held = commitment(held_n, seq.0, commit::partition_root(&groups));
        let next = commitment(next_n, seq.1, root);
        let updates: Vec<GroupUpdate> = updates
            .into_iter()
            .map(|(index, leaves, old)| GroupUpdate { index, leaves, old })
            .collect();
        if let Ok((out, _)) = commit::apply(&held, &groups, &next, &updates) {
            // Accepted only if it lands exactly on the root signed.
            prop_assert_eq!(commit::partition_root(&out), root);
        }
    }

    #[test]
    fn fuzz_addresses_and_signatures(
        text in ".{0,80}",
        message in proptest::collection::vec(any::<u8>(), 0..200),
        signature in proptest::collection::vec(any::<u8>(), 64..=64),
    ) {
        let _ = AccountId::from_str(&text);
        let key = Keypair::from_uri("//Alice").unwrap().account();
        let mut sig = [0u8; 64];
        sig.copy_from_slice(&signature);
        prop_assert!(key.verify(&message, &Signature(sig)).is_err());
    }
}
