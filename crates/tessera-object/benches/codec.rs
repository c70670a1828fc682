//! Throughput of the client-data codec per MiB of plaintext: sealing (ChaCha20-Poly1305),
//! spreading into pieces (Reed-Solomon 4 of 8) and gathering from recovery pieces only, against
//! a plain copy of the same bytes measured in the same run.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tessera_object::{Codec, ObjectId, ObjectKey, Params, gather, spread};

const PIECE: u64 = 1 << 20;

fn codec(c: &mut Criterion) {
    let params = Params::new(4, 8, PIECE).expect("parameters");
    let codec = Codec::new(params, ObjectId([1; 16]), &ObjectKey([2; 32]));
    let plaintext: Vec<u8> = (0..params.segment_capacity())
        .map(|i| (i * 31) as u8)
        .collect();
    let ciphertext = codec.seal(0, true, &plaintext).expect("seal");
    let pieces = spread(&params, 0, &ciphertext).expect("spread");

    let mut group = c.benchmark_group("segment_4_of_8_1mib_pieces");
    group.throughput(Throughput::Bytes(plaintext.len() as u64));
    group.sample_size(20);
    group.bench_function("baseline_copy", |b| b.iter(|| plaintext.clone()));
    group.bench_function("seal", |b| {
        b.iter(|| codec.seal(0, true, &plaintext).unwrap())
    });
    group.bench_function("spread", |b| {
        b.iter(|| spread(&params, 0, &ciphertext).unwrap())
    });
    // The worst case for a download: every original piece lost, all four from recovery.
    let recovery: Vec<(usize, &[u8])> = (4..8).map(|i| (i, &pieces[i][..])).collect();
    group.bench_function("gather_from_recovery", |b| {
        b.iter(|| gather(&params, 0, &recovery).unwrap())
    });
    group.bench_function("open", |b| {
        b.iter(|| codec.open(0, true, ciphertext.clone()).unwrap())
    });
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
