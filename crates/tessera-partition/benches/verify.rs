//! What a validator pays per challenged item of a 1 MiB production chunk: with challenges v2,
//! the hashes from the segment to the chunk root and on to the committed group node; with v1, a
//! seal of the chunk to know its root (the baseline, measured in the same run), plus the same
//! segment check.

use criterion::{Criterion, criterion_group, criterion_main};
use tessera_core::AccountId;
use tessera_core::commit;
use tessera_core::constants::SEGMENT_SIZE;
use tessera_core::merkle::{self, Hash};
use tessera_partition::{SealKey, SealProfile};

const MIB: u64 = 1 << 20;

fn verify(c: &mut Criterion) {
    let key = SealKey::new(
        AccountId([1; 32]),
        AccountId([2; 32]),
        MIB,
        SealProfile::Production.params(),
    )
    .expect("valid chunk size");
    // One sealed chunk, and a group of 64 leaves with it at slot 7.
    let chunk = key.seal(7);
    let leaf = merkle::root(&chunk).unwrap();
    let mut leaves: Vec<Hash> = (0..64u8).map(|i| [i; 32]).collect();
    leaves[7] = leaf;
    let groups = vec![commit::group_node(&leaves)];
    let group_path = commit::group_path(&leaves, 7);
    let segment = 300u64;
    let proof = merkle::prove(&chunk, segment).unwrap();
    let data = chunk[segment as usize * SEGMENT_SIZE..][..SEGMENT_SIZE].to_vec();

    let mut group = c.benchmark_group("verify_item_1mib_production");
    group.bench_function("v2_hashes_only", |b| {
        b.iter(|| {
            let root = merkle::root_of(MIB, &data, &proof).expect("fits");
            commit::check_leaf(&groups, 64, 7, &root, &group_path).expect("folds");
        })
    });
    group.sample_size(10);
    group.bench_function("v1_seal_then_check_baseline", |b| {
        b.iter(|| {
            let root = key.expected_root(7);
            assert!(merkle::verify(&root, MIB, &data, &proof));
        })
    });
    group.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);
