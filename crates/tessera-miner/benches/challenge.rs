//! Benchmarks a challenge on both sides: proof bytes per item, a validator's verifications per
//! second on one core against a raw SHA-256 baseline, and the real miner's latency percentiles
//! with one and with several validators challenging it at once.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use sha2::{Digest, Sha256};
use tessera_core::constants::SEGMENT_SIZE;
use tessera_core::{AccountId, Keypair, merkle};
use tessera_proto::miner::v1::miner_client::MinerClient;
use tessera_proto::miner::v1::{
    ChallengeItem, ChallengeRequest, ChallengeResponse, InfoRequest, SegmentProof, methods,
};
use tessera_proto::prost::Message;
use tessera_proto::tonic::transport::Channel;
use tessera_proto::tonic::{self, Response};
use tessera_rpc::{Caller, sign_response, signed, verify_response};
use tessera_testkit::{Net, Process, Spec, keypair};
use tokio::sync::Barrier;

const MIB: u64 = 1 << 20;
/// Items per challenge request: the batch the figures are quoted for.
const ITEMS: usize = 8;
/// The per-item budget for proof bytes that the issue sets.
const TARGET_BYTES_PER_ITEM: f64 = 1536.0;
/// Challenge requests timed per concurrency level, shared out among the validators.
const REQUESTS: usize = 400;
/// Untimed requests per validator first, so connections and SQLite's page cache are warm.
const WARMUP: usize = 10;
/// The validators of the latency run, in the order they join, with their stakes. The stakes are
/// close enough that every partition of the 64 MiB holds several chunks.
const VALIDATORS: [(&str, f64); 4] = [
    ("Alice", 4000.0),
    ("Bob", 3000.0),
    ("Charlie", 2000.0),
    ("Eve", 1000.0),
];

/// True under `cargo bench`; false under `cargo test --benches`, where every part runs once in
/// miniature so that the bench stays a working smoke test. Criterion decides its own mode the
/// same way.
fn benchmarking() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test")
}

/// `cargo bench -- --list` asks only for names: nothing of ours may run then.
fn listing() -> bool {
    std::env::args().any(|a| a == "--list")
}

/// A 1 MiB chunk of random bytes and its root: what a validator holds after sealing it.
fn chunk() -> (Vec<u8>, merkle::Hash) {
    let mut data = vec![0u8; MIB as usize];
    rand::fill(&mut data[..]);
    let root = merkle::root(&data).expect("1 MiB is a power of two of segments");
    (data, root)
}

/// The proof the miner sends for `segment` of `chunk_id`, built the way the service builds it.
fn segment_proof(data: &[u8], chunk_id: u64, segment: u32) -> SegmentProof {
    let proof = merkle::prove(data, u64::from(segment)).expect("segment in range");
    SegmentProof {
        chunk_id,
        segment,
        data: data[segment as usize * SEGMENT_SIZE..][..SEGMENT_SIZE].to_vec(),
        path: proof.path.iter().map(|h| h.to_vec()).collect(),
        group_path: Vec::new(),
    }
}

/// A whole signed answer of `ITEMS` proofs from `miner` to `validator`'s request with `nonce`.
/// Chunk ids near 2^20 make the varints as long as in a 1 TiB partition of 1 MiB chunks, and
/// segment ids near 1024 as long as they get, so the sizes below are not flattered.
fn signed_response(
    data: &[u8],
    miner: &Keypair,
    validator: &AccountId,
    nonce: [u8; 16],
) -> Response<ChallengeResponse> {
    let proofs = (0..ITEMS)
        .map(|i| {
            segment_proof(
                data,
                (1 << 20) - 1 - i as u64,
                rand::random_range(512..1024),
            )
        })
        .collect();
    let mut response = Response::new(ChallengeResponse { proofs, seq: 0 });
    let caller = Caller {
        hotkey: *validator,
        nonce,
    };
    sign_response(&mut response, miner, &caller, methods::CHALLENGE);
    response
}

/// A proof's `repeated bytes path` in the form `merkle::verify` takes: 32-byte sibling hashes.
fn path_of(proof: &SegmentProof) -> merkle::Proof {
    merkle::Proof {
        index: u64::from(proof.segment),
        path: proof
            .path
            .iter()
            .map(|h| <[u8; 32]>::try_from(h.as_slice()).expect("32-byte hashes"))
            .collect(),
    }
}

/// Part 1: bytes on the wire per challenge item. These are sizes, not timings, so they are
/// printed rather than handed to criterion.
fn proof_bytes() {
    if listing() {
        return;
    }
    let (data, _) = chunk();
    let miner = keypair("Dave");
    let validator = keypair("Alice").account();
    let response = signed_response(&data, &miner, &validator, rand::random());
    let one = response.get_ref().proofs[0].encoded_len();
    let body = response.get_ref().encoded_len();
    // What else a validator receives per answer: the gRPC message frame (a flag and a length,
    // 5 bytes) and the miner's signature metadata, before HTTP/2 header compression.
    let metadata: usize = response
        .metadata()
        .iter()
        .map(|kv| match kv {
            tonic::metadata::KeyAndValueRef::Ascii(k, v) => {
                k.as_str().len() + v.as_encoded_bytes().len()
            }
            tonic::metadata::KeyAndValueRef::Binary(k, v) => {
                k.as_str().len() + v.as_encoded_bytes().len()
            }
        })
        .sum();
    let per_item = body as f64 / ITEMS as f64;
    let signed_per_item = (body + 5 + metadata) as f64 / ITEMS as f64;
    println!(
        "proof bytes, one SegmentProof of a 1 MiB chunk ({SEGMENT_SIZE} B segment + {} x 32 B path): {one} B",
        response.get_ref().proofs[0].path.len()
    );
    println!(
        "proof bytes, ChallengeResponse of {ITEMS} items: {body} B, {per_item:.1} B per item \
         ({}; target <= {TARGET_BYTES_PER_ITEM} B)",
        if per_item <= TARGET_BYTES_PER_ITEM {
            "within target"
        } else {
            "OVER target"
        }
    );
    println!(
        "proof bytes, the same with gRPC frame and signature metadata ({metadata} B): {} B, \
         {signed_per_item:.1} B per item",
        body + 5 + metadata
    );
}

/// Part 2: what a validator spends per item on one thread, against a raw SHA-256 of one segment
/// in the same run. The root is known here; deriving it (hash database or sealing) is not timed.
fn validator_verifications() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let (data, root) = chunk();
    let miner = keypair("Dave");
    let validator = keypair("Alice").account();
    let nonce = rand::random();
    let response = signed_response(&data, &miner, &validator, nonce);
    let proofs: Vec<(SegmentProof, merkle::Proof)> = response
        .get_ref()
        .proofs
        .iter()
        .map(|p| (p.clone(), path_of(p)))
        .collect();
    let dave = miner.account();
    // Timing a check that fails would time the wrong path.
    assert!(
        proofs
            .iter()
            .all(|(p, path)| merkle::verify(&root, MIB, &p.data, path))
    );
    verify_response(
        &response,
        methods::CHALLENGE,
        &dave,
        &validator,
        &nonce,
        "bench",
    )
    .expect("a correctly signed response");

    let mut group = c.benchmark_group("validator_one_core");
    group.throughput(Throughput::Elements(1));
    let segment = &proofs[0].0.data;
    group.bench_function("baseline_sha256_1kib", |b| {
        b.iter(|| Sha256::digest(std::hint::black_box(segment)))
    });
    let (first, path) = &proofs[0];
    group.bench_function("merkle_verify_segment_1mib_chunk", |b| {
        b.iter(|| {
            merkle::verify(
                std::hint::black_box(&root),
                MIB,
                std::hint::black_box(&first.data),
                std::hint::black_box(path),
            )
        })
    });
    // One signature covers a whole answer: elements are the answer's items, so elements/s is
    // items/s and answers/s is that divided by ITEMS.
    group.throughput(Throughput::Elements(ITEMS as u64));
    group.bench_function("verify_response_sr25519_8_items", |b| {
        b.iter(|| {
            verify_response(
                std::hint::black_box(&response),
                methods::CHALLENGE,
                &dave,
                &validator,
                &nonce,
                "bench",
            )
        })
    });
    // Everything a validator does with an answer once it has the roots: the signature, then
    // every item's path.
    group.bench_function("whole_answer_signature_and_8_paths", |b| {
        b.iter(|| {
            let signed = verify_response(
                std::hint::black_box(&response),
                methods::CHALLENGE,
                &dave,
                &validator,
                &nonce,
                "bench",
            )
            .is_ok();
            signed
                && proofs
                    .iter()
                    .all(|(p, path)| merkle::verify(&root, MIB, &p.data, path))
        })
    });
    group.finish();
    c.final_summary();
}

/// One validator challenging the miner over its own connection: `warmup` untimed requests, a
/// wait for the others at `start`, then `requests` timed ones whose latencies it returns in the
/// order sent. Each answer is checked after the clock stops: a fast wrong answer would make the
/// latency meaningless.
async fn validator_run(
    addr: SocketAddr,
    name: &'static str,
    warmup: usize,
    requests: usize,
    start: Arc<Barrier>,
) -> Vec<Duration> {
    let me = keypair(name);
    let dave = keypair("Dave").account();
    let mut client = MinerClient::new(tessera_testkit::channel(addr).await);
    let (req, _) = signed(InfoRequest::default(), &me, &dave, methods::INFO);
    let partition = client
        .info(req)
        .await
        .expect("info")
        .into_inner()
        .partition
        .unwrap_or_else(|| panic!("no partition for {name}"));
    assert_eq!(partition.chunk_size, MIB);
    assert!(partition.n_chunks > 0, "{name} has an empty partition");
    let segments = (partition.chunk_size / SEGMENT_SIZE as u64) as u32;

    for _ in 0..warmup {
        challenge(&mut client, &me, &dave, partition.n_chunks, segments).await;
    }
    start.wait().await;
    let mut latencies = Vec::with_capacity(requests);
    for _ in 0..requests {
        latencies.push(challenge(&mut client, &me, &dave, partition.n_chunks, segments).await);
    }
    latencies
}

/// Sends one signed challenge of `ITEMS` random items and returns how long the miner took to
/// answer, from sending the signed request to holding the decoded answer.
async fn challenge(
    client: &mut MinerClient<Channel>,
    me: &Keypair,
    dave: &AccountId,
    n_chunks: u64,
    segments: u32,
) -> Duration {
    let items = (0..ITEMS)
        .map(|_| ChallengeItem {
            chunk_id: rand::random_range(0..n_chunks),
            segment: rand::random_range(0..segments),
        })
        .collect();
    // Signing is the validator's work before it sends; it stays outside the clock.
    let (req, nonce) = signed(ChallengeRequest { items }, me, dave, methods::CHALLENGE);
    let sent = Instant::now();
    let response = client.challenge(req).await.expect("challenge answered");
    let took = sent.elapsed();
    verify_response(
        &response,
        methods::CHALLENGE,
        dave,
        &me.account(),
        &nonce,
        "miner",
    )
    .expect("signed by the miner");
    let proofs = &response.get_ref().proofs;
    assert_eq!(proofs.len(), ITEMS);
    assert!(
        proofs.iter().all(|p| p.data.len() == SEGMENT_SIZE),
        "the miner failed an item of its own partition"
    );
    took
}

/// The `p`-quantile of sorted `values` by the nearest-rank method: the smallest value with at
/// least `p` of the values at or below it.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Part 3: the real miner binary, 64 MiB of 1 MiB chunks, challenged by one validator and then by
/// four at once, each over its own connection. Criterion gives no percentiles, so the latencies
/// are collected and ranked here.
fn miner_latency() {
    if listing() {
        return;
    }
    let (warmup, requests) = if benchmarking() {
        (WARMUP, REQUESTS)
    } else {
        (1, VALIDATORS.len())
    };
    let net = Net::new();
    let mut neurons = vec![Spec::miner("Dave")];
    neurons.extend(VALIDATORS.iter().map(|&(n, s)| Spec::validator(n, s)));
    net.write_metagraph(&neurons);
    let mut args = net.node_args("Dave");
    args.extend(
        [
            "--seal",
            "dev",
            "--chunk_size",
            "1MiB",
            "--capacity",
            "64MiB",
            "--axon.ip",
            "127.0.0.1",
            "--axon.port",
            "0",
        ]
        .map(String::from),
    );
    let started = Instant::now();
    // The miner allocates before it listens, so the wait covers sealing 64 MiB.
    let mut miner = Process::spawn(
        Path::new(env!("CARGO_BIN_EXE_tessera-miner")),
        &args,
        &net.root.join("miner.log"),
        Duration::from_secs(120),
    );
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(tessera_testkit::wait_healthy(
        miner.addr,
        Duration::from_secs(30),
    ));
    println!(
        "miner allocated 64 MiB (dev seal, 1 MiB chunks, {} partitions) and serves after {:.2} s",
        VALIDATORS.len(),
        started.elapsed().as_secs_f64()
    );

    for concurrency in [1, VALIDATORS.len()] {
        let per_validator = requests / concurrency;
        let start = Arc::new(Barrier::new(concurrency + 1));
        let tasks: Vec<_> = VALIDATORS[..concurrency]
            .iter()
            .map(|&(name, _)| {
                rt.spawn(validator_run(
                    miner.addr,
                    name,
                    warmup,
                    per_validator,
                    start.clone(),
                ))
            })
            .collect();
        let (mut latencies, wall) = rt.block_on(async {
            // The clock for throughput starts once every validator is warm and released.
            start.wait().await;
            let began = Instant::now();
            let mut all = Vec::new();
            for task in tasks {
                all.extend(task.await.expect("validator task"));
            }
            (all, began.elapsed())
        });
        latencies.sort_unstable();
        let n = latencies.len();
        let mean = latencies.iter().sum::<Duration>() / n as u32;
        let who = if concurrency == 1 {
            "1 validator".to_owned()
        } else {
            format!("{concurrency} validators concurrently")
        };
        println!(
            "challenge latency, {who}, {ITEMS} items of 1 MiB chunks: p50 {:.2} ms, p99 {:.2} ms \
             (mean {:.2} ms, max {:.2} ms; {n} requests, {:.0} requests/s, {:.0} items/s)",
            ms(percentile(&latencies, 0.50)),
            ms(percentile(&latencies, 0.99)),
            ms(mean),
            ms(latencies[n - 1]),
            n as f64 / wall.as_secs_f64(),
            (n * ITEMS) as f64 / wall.as_secs_f64(),
        );
    }

    let stopped = rt.block_on(miner.terminate(Duration::from_secs(10)));
    assert!(
        stopped.is_some_and(|s| s.success()),
        "the miner did not stop in order: {stopped:?}\n{}",
        miner.log_text()
    );
}

criterion::criterion_main!(proof_bytes, validator_verifications, miner_latency);
