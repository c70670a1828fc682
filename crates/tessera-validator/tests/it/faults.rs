//! The nodes under the internet's conditions, through the testkit's fault-injecting proxy (the
//! metagraph lists each proxy as its miner's axon): honest miners pass at the default slack with
//! a continent's latency, jitter and lost segments, and large objects still move; a miner cut
//! off is marked failed while away and recovers once back.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use tessera_storage::StateDb;
use tessera_testkit::proxy::{Faults, Proxy};
use tessera_testkit::{Spec, account};

use crate::support::{Subnet, eventually, http};

const MINERS: [&str; 3] = ["Dave", "Ferdie", "Grace"];

/// Three miners, each behind a proxy with `faults`, and validator Alice at the default slack
/// with its HTTP face; returns once all three are trusted with pieces.
async fn subnet_behind_proxies(
    faults: Faults,
    capacity: &str,
) -> (Subnet, BTreeMap<String, Proxy>, SocketAddr) {
    subnet_of(
        &MINERS,
        faults,
        capacity,
        &["--data.k", "2", "--data.n", "3"],
    )
    .await
}

/// `subnet_behind_proxies` with `miners` and the validator's coding flags `coding`.
async fn subnet_of(
    miners: &[&str],
    faults: Faults,
    capacity: &str,
    coding: &[&str],
) -> (Subnet, BTreeMap<String, Proxy>, SocketAddr) {
    let mut specs = vec![Spec::validator("Alice", 100.0)];
    specs.extend(miners.iter().map(|m| Spec::miner(m)));
    let mut subnet = Subnet::new(specs);
    let mut proxies = BTreeMap::new();
    for &m in miners {
        subnet.start_miner(m, capacity, &[]).await;
        let proxy = Proxy::start(subnet.miners[m].addr, faults).await;
        subnet.published.insert(m.to_owned(), proxy.addr);
        proxies.insert(m.to_owned(), proxy);
    }
    subnet.publish_axons();
    let mut args = vec![
        // The defaults a new operator runs, not the tests' tighter ones.
        "--challenge.slack_ms",
        "250",
        "--challenge.items",
        "16",
        "--round_secs",
        "2",
        "--data.http",
        "127.0.0.1:0",
        "--metrics.addr",
        "127.0.0.1:0",
    ];
    args.extend_from_slice(coding);
    subnet.start_validator("Alice", &args).await;
    let addr = subnet.validators["Alice"]
        .early_addr("http on ")
        .expect("the validator reports its http address");
    eventually(Duration::from_secs(90), "every miner trusted", || async {
        let rows = subnet.rows("Alice").await;
        let ready = miners
            .iter()
            .filter(|m| {
                rows.get(**m)
                    .is_some_and(|r| r.proven_bytes > 0 && r.reputation >= 0.9)
            })
            .count();
        (ready == miners.len()).then_some(())
    })
    .await;
    (subnet, proxies, addr)
}

/// Every item Alice recorded for each miner of the subnet since `from` (items, passed), by name.
async fn items_since(
    subnet: &Subnet,
    from: &BTreeMap<String, (u64, u64)>,
) -> BTreeMap<String, (u64, u64)> {
    let db = StateDb::open(
        &subnet
            .net
            .node_dir("Alice")
            .join(tessera_validator::STATE_FILE),
        &account("Alice"),
    )
    .await
    .unwrap();
    let mut out = BTreeMap::new();
    for m in subnet.miners.keys() {
        let w = db.window(&account(m), 1_000_000).await.unwrap();
        let (items, passed) = (w.items, w.successes);
        let (i0, p0) = from.get(m).copied().unwrap_or_default();
        out.insert(m.clone(), (items - i0, passed - p0));
    }
    db.close().await;
    out
}

/// Runs until every miner has `n` more items than at `from`, then checks each passed 99% at
/// least and kept its reputation above the suspension line; returns the counts.
async fn passes(
    subnet: &Subnet,
    from: &BTreeMap<String, (u64, u64)>,
    n: u64,
    what: &str,
) -> BTreeMap<String, (u64, u64)> {
    let got = eventually(Duration::from_secs(240), what, || async {
        let got = items_since(subnet, from).await;
        got.values().all(|(items, _)| *items >= n).then_some(got)
    })
    .await;
    let rows = subnet.rows("Alice").await;
    for (m, (items, passed)) in &got {
        eprintln!("{what}: {m} passed {passed} of {items} items");
        assert!(
            *passed as f64 >= 0.99 * *items as f64,
            "{what}: {m} passed only {passed} of {items}\n{}",
            subnet.logs()
        );
        assert!(rows[m].reputation >= 0.9, "{what}: {m} {:?}", rows[m]);
    }
    got
}

/// Puts `len` bytes through the HTTP face and reads them back.
async fn round_trip(addr: SocketAddr, id: &str, len: usize, seed: u8) {
    let data: Vec<u8> = (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect();
    let path = format!("/v1/objects/{id}");
    let (status, _, body) = http(addr, "PUT", &path, &data).await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let (status, _, body) = http(addr, "GET", &path, b"").await;
    assert_eq!(status, 200);
    assert!(body == data, "{id} came back different");
}

fn totals(counts: &BTreeMap<String, (u64, u64)>) -> (u64, u64) {
    counts
        .values()
        .fold((0, 0), |(i, p), (items, passed)| (i + items, p + passed))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honest_miners_pass_across_a_wan_and_between_continents() {
    let _cpu = crate::support::cpu_heavy().await;
    // 50 ms ± 20 ms each way, and 0.5% of transfers stalled 200 ms more, as a lost segment is.
    let (subnet, proxies, addr) =
        subnet_behind_proxies(Faults::wan(50, 20, 0.005, 200), "48MiB").await;
    let start = items_since(&subnet, &BTreeMap::new()).await;
    let wan = passes(&subnet, &start, 60, "50±20 ms").await;
    round_trip(addr, "00000000000000000000000000000064", 64 << 20, 1).await;

    // Between continents: 150 ms ± 50 ms each way.
    for p in proxies.values() {
        p.set_faults(Faults::wan(150, 50, 0.005, 200));
    }
    // A round that pinged before the switch and challenges after it holds a miner to the old,
    // shorter round trip: the rounds under way when the network changed are not counted.
    let switched = items_since(&subnet, &BTreeMap::new()).await;
    eventually(
        Duration::from_secs(60),
        "a round past the switch",
        || async {
            let got = items_since(&subnet, &switched).await;
            got.values().all(|(items, _)| *items > 0).then_some(())
        },
    )
    .await;
    let now = items_since(&subnet, &BTreeMap::new()).await;
    let far = passes(&subnet, &now, 60, "150±50 ms").await;
    round_trip(addr, "00000000000000000000000000000016", 16 << 20, 2).await;
    let stalled: u64 = proxies.values().map(|p| p.counts().1).sum();
    let ((wi, wp), (fi, fp)) = (totals(&wan), totals(&far));
    eprintln!(
        "figures: 50±20 ms passed {wp} of {wi}; 150±50 ms passed {fp} of {fi}; {stalled} transfers stalled"
    );
    assert!(
        stalled > 0,
        "the proxies stalled nothing: the test tests no loss"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_miner_cut_off_fails_while_away_and_recovers() {
    let (subnet, proxies, _addr) = subnet_behind_proxies(Faults::NONE, "4MiB").await;
    let cut = "Ferdie";
    proxies[cut].cut();
    let before = items_since(&subnet, &BTreeMap::new()).await;
    // Away: its items fail.
    eventually(Duration::from_secs(30), "Ferdie failing", || async {
        let now = items_since(&subnet, &before).await;
        let (items, passed) = now[cut];
        (items >= 16 && passed == 0).then_some(())
    })
    .await;
    // Back: it passes again, and its reputation climbs back over the line.
    proxies[cut].heal();
    let back = items_since(&subnet, &BTreeMap::new()).await;
    eventually(Duration::from_secs(60), "Ferdie passing again", || async {
        let now = items_since(&subnet, &back).await;
        let (items, passed) = now[cut];
        (items >= 32 && passed == items).then_some(())
    })
    .await;
}

/// The object's weakest segment's healthy pieces, from `HEAD` (`x-tessera-health: 3/4`).
async fn health(addr: SocketAddr, id: &str) -> u16 {
    let (status, head, _) = http(addr, "HEAD", &format!("/v1/objects/{id}"), b"").await;
    assert_eq!(status, 200, "{head}");
    head.lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("x-tessera-health: ")
                .map(str::to_owned)
        })
        .and_then(|h| h.split('/').next()?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no x-tessera-health in {head}"))
}

async fn repaired(subnet: &Subnet) -> f64 {
    let metrics = subnet.validators["Alice"]
        .metrics_addr()
        .expect("metrics address");
    let text = tessera_node::scrape(metrics).await.unwrap();
    tessera_node::total(&text, "tessera_validator_repaired_pieces_total")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_miner_is_repaired_only_at_the_threshold() {
    // Coding 2 of 4, repaired at 2 healthy pieces: one miner away leaves 3, which is no reason
    // to move anything; a second away reaches the threshold.
    const FIVE: [&str; 5] = ["Dave", "Ferdie", "Grace", "Heidi", "Ivan"];
    let coding = [
        "--data.k",
        "2",
        "--data.n",
        "4",
        "--data.repair_threshold",
        "2",
    ];
    let (subnet, proxies, addr) = subnet_of(&FIVE, Faults::NONE, "4MiB", &coding).await;
    let id = format!("{:032x}", 0xa11);
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let path = format!("/v1/objects/{id}");
    let (status, _, body) = http(addr, "PUT", &path, &data).await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    assert_eq!(health(addr, &id).await, 4);

    // Dave is cut off for 30 s: marked failed while away, his pieces counted out, none moved.
    let cut = "Dave";
    proxies[cut].cut();
    let started = std::time::Instant::now();
    let before = items_since(&subnet, &BTreeMap::new()).await;
    eventually(
        Duration::from_secs(30),
        "Dave failing, his pieces counted out",
        || async {
            let (items, passed) = items_since(&subnet, &before).await[cut];
            (items >= 16 && passed == 0 && health(addr, &id).await == 3).then_some(())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(30).saturating_sub(started.elapsed())).await;
    assert_eq!(health(addr, &id).await, 3, "{}", subnet.logs());
    assert_eq!(
        repaired(&subnet).await,
        0.0,
        "repaired above the threshold\n{}",
        subnet.logs()
    );

    // Back: he passes again and his pieces count again; still nothing was moved.
    proxies[cut].heal();
    let back = items_since(&subnet, &BTreeMap::new()).await;
    eventually(
        Duration::from_secs(60),
        "Dave passing and healthy again",
        || async {
            let (items, passed) = items_since(&subnet, &back).await[cut];
            (items >= 32 && passed == items && health(addr, &id).await == 4).then_some(())
        },
    )
    .await;
    assert_eq!(repaired(&subnet).await, 0.0, "{}", subnet.logs());

    // Two away reach the threshold: the segments are rebuilt onto the miners still there.
    proxies["Dave"].cut();
    proxies["Ferdie"].cut();
    eventually(Duration::from_secs(90), "pieces repaired", || async {
        (repaired(&subnet).await > 0.0 && health(addr, &id).await >= 3).then_some(())
    })
    .await;
    let (status, _, body) = http(addr, "GET", &path, b"").await;
    assert_eq!(status, 200);
    assert!(body == data, "the object came back different");
}

/// A small tmpfs mounted at `dir` for the life of the guard (the test runs as root, as CI does).
struct Mounted(std::path::PathBuf);

impl Mounted {
    fn tmpfs(dir: &std::path::Path, size: &str) -> Mounted {
        std::fs::create_dir_all(dir).unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .expect("run mount (the test needs root and util-linux's mount)");
        assert!(
            out.status.success(),
            "mount a tmpfs at {}: {} (the test needs root)",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        Mounted(dir.to_owned())
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_stores_and_keeps_serving() {
    use sqlx::{Connection, SqliteConnection};
    use tessera_proto::miner::v1::miner_client::MinerClient;
    use tessera_proto::tonic::Code;

    let mut specs = vec![Spec::validator("Alice", 100.0)];
    specs.extend(["Dave", "Ferdie", "Grace", "Heidi"].map(Spec::miner));
    let mut subnet = Subnet::new(specs);
    // Heidi's folder is a file system of its own, room for her partition and a WAL as large.
    let _mount = Mounted::tmpfs(&subnet.net.node_dir("Heidi"), "32m");
    for m in ["Dave", "Ferdie", "Grace", "Heidi"] {
        subnet.start_miner(m, "4MiB", &[]).await;
    }
    subnet.publish_axons();
    let addr = subnet.start_http_validator().await;
    subnet.wait_proven(4, Duration::from_secs(60)).await;

    // Her disk fills: the WAL is emptied into the file, then ballast takes every byte left.
    let dir = subnet.net.node_dir("Heidi");
    let partition = dir.join(tessera_storage::partition_file_name(&account("Alice")));
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", partition.display()))
        .await
        .unwrap();
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let ballast = dir.join("ballast");
    let _ = std::process::Command::new("dd")
        .args(["if=/dev/zero", "bs=64k"])
        .arg(format!("of={}", ballast.display()))
        .output();
    let before = items_since(&subnet, &BTreeMap::new()).await;

    // A store to her is refused for the disk, with the right code.
    let channel = tessera_testkit::channel(subnet.miners["Heidi"].addr).await;
    let (req, _) = tessera_testkit::store_request(
        1,
        vec![7; 64 << 10],
        &tessera_testkit::keypair("Alice"),
        &account("Heidi"),
    );
    let status = MinerClient::new(channel).store(req).await.unwrap_err();
    assert_eq!(
        status.code(),
        Code::ResourceExhausted,
        "{}",
        status.message()
    );
    assert!(
        status.message().contains("disk is full"),
        "{}",
        status.message()
    );

    // Objects are still stored, on the others where she cannot take a piece.
    for i in 0..4u8 {
        round_trip(addr, &format!("{:032x}", 0xf00 + u32::from(i)), 300_000, i).await;
    }
    // She keeps serving challenges all along.
    let after = eventually(
        Duration::from_secs(30),
        "Heidi challenged while full",
        || async {
            let got = items_since(&subnet, &before).await;
            (got["Heidi"].0 >= 16).then_some(got)
        },
    )
    .await;
    assert_eq!(after["Heidi"].0, after["Heidi"].1, "{}", subnet.logs());

    // And nothing is corrupt once there is room again.
    std::fs::remove_file(&ballast).unwrap();
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", partition.display()))
        .await
        .unwrap();
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    assert_eq!(check, "ok");
}
