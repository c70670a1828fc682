//! Seals chunks with plain threads and nothing else: the reference `cargo xtask bench-workers`
//! holds the allocator's worker scaling against. It prints the seconds the sealing took, for
//! running it by hand; the xtask times the whole process, as it does the allocator.
//!
//! Usage: `seal_threads THREADS CHUNKS CHUNK_SIZE`, production profile. Thread `t` seals every
//! `THREADS`-th batch of as many chunks as the CPU hashes at once, starting with batch `t`.

use std::time::Instant;

use tessera_core::{AccountId, sha256};
use tessera_partition::{SealKey, SealProfile};

fn main() -> std::process::ExitCode {
    let args: Vec<Option<u64>> = std::env::args().skip(1).map(|a| a.parse().ok()).collect();
    let [Some(threads @ 1..), Some(chunks), Some(chunk_size)] = args[..] else {
        eprintln!("usage: seal_threads THREADS CHUNKS CHUNK_SIZE (numbers, THREADS at least 1)");
        return std::process::ExitCode::FAILURE;
    };
    let lanes = sha256::preferred_lanes() as u64;
    let key = match SealKey::new(
        AccountId([1; 32]),
        AccountId([2; 32]),
        chunk_size,
        SealProfile::Production.params(),
    ) {
        Ok(key) => key,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let started = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let key = &key;
            s.spawn(move || {
                let mut bufs = vec![vec![0u8; chunk_size as usize]; lanes as usize];
                for first in (t * lanes..chunks).step_by((lanes * threads) as usize) {
                    let n = (chunks - first).min(lanes) as usize;
                    let mut jobs: Vec<(u64, &mut [u8])> = bufs[..n]
                        .iter_mut()
                        .zip(first..)
                        .map(|(b, id)| (id, &mut b[..]))
                        .collect();
                    key.seal_many_into(&mut jobs);
                }
            });
        }
    });
    println!("{:.6}", started.elapsed().as_secs_f64());
    std::process::ExitCode::SUCCESS
}
