//! Benchmarks of sealing one chunk per profile and of the Merkle root, against raw SHA-256.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sha2::{Digest, Sha256};
use tessera_core::{AccountId, merkle};
use tessera_partition::{SealKey, SealProfile};

const MIB: u64 = 1 << 20;

fn seal(c: &mut Criterion) {
    let mut group = c.benchmark_group("seal_1mib_chunk");
    group.throughput(Throughput::Bytes(MIB));
    for profile in [SealProfile::Dev, SealProfile::Production] {
        if profile == SealProfile::Production {
            // A production seal takes about a second; ten samples are plenty.
            group.sample_size(10);
        }
        let key = SealKey::new(
            AccountId([1; 32]),
            AccountId([2; 32]),
            MIB,
            profile.params(),
        )
        .expect("valid chunk size");
        let mut buf = vec![0u8; MIB as usize];
        group.bench_with_input(BenchmarkId::from_parameter(profile), &key, |b, key| {
            b.iter(|| key.seal_into(7, &mut buf))
        });
    }
    group.finish();

    // A batch, as the allocator seals: the same bytes, the chunks' hash chains advancing
    // together. Production chunks are 64 KiB here so that a batch of 16 stays quick; the work
    // per byte does not depend on the chunk size.
    let mut group = c.benchmark_group("seal_batch_of_16");
    group.sample_size(10);
    for (profile, size) in [(SealProfile::Dev, MIB), (SealProfile::Production, 64 << 10)] {
        group.throughput(Throughput::Bytes(16 * size));
        let key = SealKey::new(
            AccountId([1; 32]),
            AccountId([2; 32]),
            size,
            profile.params(),
        )
        .expect("valid chunk size");
        let mut bufs = vec![vec![0u8; size as usize]; 16];
        group.bench_with_input(BenchmarkId::new(profile.name(), "batch"), &key, |b, key| {
            b.iter(|| {
                let mut jobs: Vec<(u64, &mut [u8])> = bufs
                    .iter_mut()
                    .enumerate()
                    .map(|(i, b)| (i as u64, &mut b[..]))
                    .collect();
                key.seal_many_into(&mut jobs)
            })
        });
        group.bench_with_input(
            BenchmarkId::new(profile.name(), "one_by_one"),
            &key,
            |b, key| {
                b.iter(|| {
                    for (i, buf) in bufs.iter_mut().enumerate() {
                        key.seal_into(i as u64, buf)
                    }
                })
            },
        );
    }
    group.finish();
}

fn merkle_root(c: &mut Criterion) {
    let data: Vec<u8> = (0..MIB).map(|i| (i * 31 + i / 977) as u8).collect();
    let mut group = c.benchmark_group("hash_1mib");
    group.throughput(Throughput::Bytes(MIB));
    // Baseline: one flat SHA-256 over the same bytes, the least any integrity check can cost.
    group.bench_function("raw_sha256", |b| b.iter(|| Sha256::digest(&data)));
    group.bench_function("merkle_root", |b| b.iter(|| merkle::root(&data)));
    group.finish();
}

criterion_group!(benches, seal, merkle_root);
criterion_main!(benches);
