//! A soak: eight clients at once put, read back and delete objects of random sizes up to 8 MiB
//! through the HTTP face for `SOAK_SECS` (120 in CI; `SOAK_SECS=600` is the ten-minute form),
//! while a miner is killed and restarted every `SOAK_KILL_SECS` (half the run by default). Every
//! object stored must read back byte for byte until deleted: the result is counted as
//! operations, errors and objects lost, and lost must be 0. Errors are puts refused for space
//! (a deleted object's slots come back at the next round's reclaim) or while a miner is away.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tessera_testkit::Spec;

use crate::support::{Subnet, http};

const MINERS: [&str; 4] = ["Dave", "Ferdie", "Grace", "Heidi"];

fn secs(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Default)]
struct Counts {
    puts: AtomicU64,
    gets: AtomicU64,
    deletes: AtomicU64,
    /// Operations refused (a put while a miner is away may find too few to take its pieces).
    errors: AtomicU64,
    /// Objects stored that did not come back whole.
    lost: AtomicU64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_clients_through_miner_restarts() {
    let _cpu = crate::support::cpu_heavy().await;
    let duration = Duration::from_secs(secs("SOAK_SECS", 120));
    let kill_every = Duration::from_secs(secs("SOAK_KILL_SECS", duration.as_secs() / 2));
    let mut specs = vec![Spec::validator("Alice", 100.0)];
    specs.extend(MINERS.map(Spec::miner));
    let mut subnet = Subnet::new(specs);
    for m in MINERS {
        subnet.start_miner(m, "96MiB", &[]).await;
    }
    subnet.publish_axons();
    let addr = subnet.start_http_validator().await;
    subnet.wait_proven(4, Duration::from_secs(90)).await;

    let counts = Arc::new(Counts::default());
    let started = Instant::now();
    let mut clients = tokio::task::JoinSet::new();
    for client in 0..8u64 {
        let counts = counts.clone();
        clients.spawn(async move {
            let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ client;
            let mut n = 0u64;
            while started.elapsed() < duration {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Mostly small, sometimes up to 8 MiB.
                let len = if x.is_multiple_of(4) {
                    (x >> 8) as usize % (8 << 20)
                } else {
                    (x >> 8) as usize % (256 << 10)
                };
                let data: Vec<u8> = (0..len).map(|i| (i as u64 ^ x) as u8).collect();
                let id = format!("{:016x}{:016x}", client, n);
                n += 1;
                let path = format!("/v1/objects/{id}");
                let (status, _, body) = http(addr, "PUT", &path, &data).await;
                counts.puts.fetch_add(1, Ordering::Relaxed);
                if status != 201 {
                    if counts.errors.fetch_add(1, Ordering::Relaxed) % 100 == 0 {
                        eprintln!(
                            "put {id} ({len} bytes): {status} {}",
                            String::from_utf8_lossy(&body).trim()
                        );
                    }
                    // A refused put is retried after a pause, as a client would.
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
                let (status, head, body) = http(addr, "GET", &path, b"").await;
                counts.gets.fetch_add(1, Ordering::Relaxed);
                if status != 200 || body != data {
                    // A read can fail midway (a miner killed under it): an error, unless the
                    // object does not come back whole once things settle, which is a loss.
                    counts.errors.fetch_add(1, Ordering::Relaxed);
                    eprintln!(
                        "get {id} ({len} bytes): status {status}, {} bytes back: {}",
                        body.len(),
                        head.lines().next().unwrap_or_default()
                    );
                    tokio::time::sleep(Duration::from_secs(10)).await;
                    let (status, _, body) = http(addr, "GET", &path, b"").await;
                    counts.gets.fetch_add(1, Ordering::Relaxed);
                    if status != 200 || body != data {
                        eprintln!("lost {id} ({len} bytes): status {status}");
                        counts.lost.fetch_add(1, Ordering::Relaxed);
                    }
                }
                let (status, _, _) = http(addr, "DELETE", &path, b"").await;
                counts.deletes.fetch_add(1, Ordering::Relaxed);
                if status != 204 {
                    counts.errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    // A miner killed and restarted every `kill_every`, in turn.
    let mut next_kill = kill_every;
    let mut victim = 0;
    while started.elapsed() < duration {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if !kill_every.is_zero() && started.elapsed() >= next_kill {
            let name = MINERS[victim % MINERS.len()];
            victim += 1;
            next_kill += kill_every;
            subnet.miners.get_mut(name).unwrap().kill();
            tokio::time::sleep(Duration::from_secs(5)).await;
            subnet.start_miner(name, "96MiB", &[]).await;
            subnet.publish_axons();
        }
    }
    while clients.join_next().await.is_some() {}
    let (alive, _, _) = http(addr, "GET", "/v1/objects", b"").await;
    assert_eq!(
        alive,
        200,
        "the validator stopped answering\n{}",
        subnet.logs()
    );
    let c = &counts;
    let (puts, gets, deletes, errors, lost) = (
        c.puts.load(Ordering::Relaxed),
        c.gets.load(Ordering::Relaxed),
        c.deletes.load(Ordering::Relaxed),
        c.errors.load(Ordering::Relaxed),
        c.lost.load(Ordering::Relaxed),
    );
    eprintln!(
        "soak over {} s, {victim} miner restarts: {} operations ({puts} puts, {gets} gets, {deletes} deletes), {errors} errors, {lost} objects lost",
        duration.as_secs(),
        puts + gets + deletes
    );
    let db = tessera_storage::StateDb::open(
        &subnet
            .net
            .node_dir("Alice")
            .join(tessera_validator::STATE_FILE),
        &tessera_testkit::account("Alice"),
    )
    .await
    .unwrap();
    let rows = subnet.rows("Alice").await;
    for m in MINERS {
        let used = db
            .used_slots(&tessera_testkit::account(m))
            .await
            .unwrap()
            .len();
        eprintln!(
            "{m}: {used} slots in use at the end, claims {} bytes",
            rows[m].claimed_bytes
        );
    }
    db.close().await;
    let log = subnet.validators["Alice"].log_text();
    eprintln!(
        "validator: {} objects reclaimed, {} releases failed, {} repairs",
        log.matches("object reclaimed").count(),
        log.matches("release failed").count(),
        log.matches("piece repaired").count()
    );
    assert_eq!(lost, 0, "{}", subnet.logs());
    assert!(puts > 0 && gets > 0);
}
