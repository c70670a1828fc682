//! Objects of awkward sizes round-trip through the `tessera` binary: put, ls, get, stat, rm.

use std::time::{Duration, Instant};

use tessera_testkit::account;

use crate::support::{CHUNK, Devnet, VALIDATOR, bytes, text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_of_every_awkward_size_round_trip() {
    let net = Devnet::start(&["Dave", "Ferdie", "Grace"], "4MiB", 2, 3, &[]).await;
    // 0 B, 1 B, a piece minus one and plus one, and several segments.
    let sizes = [0, 1, CHUNK - 1, CHUNK + 1, 3 * (2 * CHUNK) + 17];
    let mut ids = Vec::new();
    for (i, size) in sizes.iter().enumerate() {
        let data = bytes(*size, i as u8);
        let id = net.put("Eve", &data);
        ids.push((id, data));
    }
    let ls = net.tessera("Eve", &["ls"]);
    assert!(ls.status.success(), "{}", text(&ls.stderr));
    for (id, data) in &ids {
        assert!(text(&ls.stdout).contains(id.as_str()), "ls lacks {id}");
        let got = net
            .get("Eve", id)
            .unwrap_or_else(|e| panic!("get {id}: {e}\n{}", net.logs()));
        assert_eq!(got.len(), data.len());
        assert!(got == *data, "object {id} came back different");
    }
    let stat = net.tessera("Eve", &["stat", &ids[4].0]);
    assert!(
        text(&stat.stdout).contains("health:    3/3"),
        "{}",
        text(&stat.stdout)
    );

    // Deleted objects are gone for their owner.
    let rm = net.tessera("Eve", &["rm", &ids[0].0]);
    assert!(rm.status.success(), "{}", text(&rm.stderr));
    let err = net.get("Eve", &ids[0].0).unwrap_err();
    assert!(err.contains("not found"), "{err}");

    // Stores, and the release and reseal that follow a delete, change the miners' commitments
    // while the validator challenges them: every item it recorded passed throughout.
    let rm = net.tessera("Eve", &["rm", &ids[4].0]);
    assert!(rm.status.success(), "{}", text(&rm.stderr));
    let validator = net.validator.as_ref().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !validator.log_text().contains("object reclaimed") {
        assert!(
            Instant::now() < deadline,
            "nothing reclaimed\n{}",
            net.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A few rounds after the reseal.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let state = tessera_storage::StateDb::open(
        &net.net.node_dir(VALIDATOR).join("validator.sqlite"),
        &account(VALIDATOR),
    )
    .await
    .unwrap();
    for miner in ["Dave", "Ferdie", "Grace"] {
        let w = state.window(&account(miner), u32::MAX).await.unwrap();
        assert!(w.items > 0, "{miner} never challenged");
        assert_eq!(w.successes, w.items, "{miner}: {w:?}\n{}", net.logs());
    }
    state.close().await;
}

/// The large case: 100 MiB through the CLI, 800 segments of three pieces on three miners,
/// streamed both ways (about 6 s here, so it runs by default).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mib_object_round_trips() {
    let mib: usize = 100;
    let net = Devnet::start(&["Dave", "Ferdie", "Grace"], "84MiB", 2, 3, &[]).await;
    let data = bytes(mib << 20, 42);
    let id = net.put("Eve", &data);
    let got = net
        .get("Eve", &id)
        .unwrap_or_else(|e| panic!("get {id}: {e}\n{}", net.logs()));
    assert_eq!(got.len(), data.len());
    assert!(got == data, "the 100 MiB object came back different");
}

/// A put's TTL: the gateway's default without `--ttl`, the one asked for with it, none longer
/// than the gateway allows; an expired object is gone and its slots go back to filler.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_live_for_their_ttl() {
    let net = Devnet::start(
        &["Dave", "Ferdie", "Grace"],
        "2MiB",
        2,
        3,
        &[
            "--data.default_ttl_secs",
            "3600",
            "--data.max_ttl_secs",
            "7200",
        ],
    )
    .await;
    let path = net.file("short", &bytes(1000, 5));
    let too_long = net.tessera("Eve", &["put", path.to_str().unwrap(), "--ttl", "3h"]);
    assert_eq!(too_long.status.code(), Some(1));
    let err = text(&too_long.stderr);
    assert!(
        err.contains("longer than this gateway's maximum of 7200 s"),
        "{err}"
    );

    let out = net.tessera("Eve", &["put", path.to_str().unwrap(), "--ttl", "2s"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let short = text(&out.stdout).trim().to_owned();
    let long = net.put("Eve", &bytes(1000, 6));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let ls = text(&net.tessera("Eve", &["ls"]).stdout);
        if !ls.contains(&short) {
            assert!(ls.contains(&long), "the default TTL is an hour: {ls}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the 2 s object never expired"
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let err = net.get("Eve", &short).unwrap_err();
    assert!(err.contains("not found"), "{err}");
    let log = net.validator.as_ref().unwrap().log_text();
    let reclaimed = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !net
        .validator
        .as_ref()
        .unwrap()
        .log_text()
        .contains("object reclaimed")
    {
        assert!(
            std::time::Instant::now() < reclaimed,
            "never reclaimed\n{log}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
}
