//! The validator keeps its history across kill -9 and stops in order on SIGTERM.

use std::time::Duration;

use tessera_testkit::Spec;

use crate::support::{Subnet, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_survives_kill_and_sigterm_exits_zero() {
    let mut subnet = Subnet::new(vec![Spec::validator("Alice", 100.0), Spec::miner("Dave")]);
    subnet.start_miner("Dave", "1MiB", &[]).await;
    subnet.publish_axons();
    subnet.start_validator("Alice", &[]).await;

    let before = eventually(Duration::from_secs(60), "two rounds recorded", || async {
        let rows = subnet.rows("Alice").await;
        rows.get("Dave")
            .filter(|r| r.challenges >= 16)
            .map(|r| r.challenges)
    })
    .await;
    subnet.validators.get_mut("Alice").unwrap().kill();

    // Everything recorded before the kill is still there, and the count only grows.
    let after_kill = subnet.rows("Alice").await["Dave"].challenges;
    assert!(after_kill >= before, "{after_kill} < {before}");
    let p = subnet.spawn_validator("Alice", &[]);
    tessera_testkit::wait_healthy(p.addr, Duration::from_secs(20)).await;
    subnet.validators.insert("Alice".into(), p);
    eventually(
        Duration::from_secs(60),
        "rounds after the restart",
        || async {
            let rows = subnet.rows("Alice").await;
            (rows["Dave"].challenges >= after_kill + 16).then_some(())
        },
    )
    .await;
    // Round numbers continue past those recorded before the kill.
    let state = tessera_storage::StateDb::open(
        &subnet
            .net
            .node_dir("Alice")
            .join(tessera_validator::STATE_FILE),
        &tessera_testkit::account("Alice"),
    )
    .await
    .unwrap();
    let rounds = state.last_round().await.unwrap();
    state.close().await;
    assert!(rounds >= 4, "{rounds} rounds");

    let status = subnet
        .validators
        .get_mut("Alice")
        .unwrap()
        .terminate(Duration::from_secs(10))
        .await
        .expect("exits within 10 s of SIGTERM");
    assert!(status.success(), "{status:?}: {}", subnet.logs());
    assert!(
        subnet.validators["Alice"]
            .log_text()
            .contains("validator stopped")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slots_released_before_a_restart_are_not_challenged_until_resealed() {
    use tessera_storage::StateDb;
    use tessera_testkit::account;

    use crate::support::http;

    // The miners take two minutes to reseal a released slot; the validator restarts in
    // between, and must still spare those slots: they hold nothing yet, honestly.
    const MINERS: [&str; 3] = ["Dave", "Ferdie", "Grace"];
    let mut specs = vec![Spec::validator("Alice", 100.0)];
    specs.extend(MINERS.map(Spec::miner));
    let mut subnet = Subnet::new(specs);
    for m in MINERS {
        subnet
            .start_miner_env(
                m,
                "2MiB",
                &[],
                &[("TESTHOOK_RESEAL_DELAY_MS", "120000".to_owned())],
            )
            .await;
    }
    subnet.publish_axons();
    let addr = subnet.start_http_validator().await;
    subnet.wait_proven(3, Duration::from_secs(60)).await;
    let path = "/v1/objects/0123456789abcdef0123456789abcdef";
    let data = vec![0x5a; 300_000];
    assert_eq!(http(addr, "PUT", path, &data).await.0, 201);
    assert_eq!(http(addr, "DELETE", path, b"").await.0, 204);

    let state_path = subnet
        .net
        .node_dir("Alice")
        .join(tessera_validator::STATE_FILE);
    let resealing = eventually(Duration::from_secs(30), "releases confirmed", || async {
        let db = StateDb::open(&state_path, &account("Alice")).await.unwrap();
        let rows = db.resealing(0).await.unwrap();
        db.close().await;
        (rows.len() >= 6).then_some(rows)
    })
    .await;
    // Every item recorded for each miner so far: (items, passed).
    let counts = || async {
        let db = StateDb::open(&state_path, &account("Alice")).await.unwrap();
        let mut out = Vec::new();
        for m in MINERS {
            let w = db.window(&account(m), 1_000_000).await.unwrap();
            out.push((w.items, w.successes));
        }
        db.close().await;
        out
    };
    subnet.validators.get_mut("Alice").unwrap().kill();
    let before = counts().await;
    let p = subnet.spawn_validator("Alice", &["--data.k", "2", "--data.n", "3"]);
    tessera_testkit::wait_healthy(p.addr, Duration::from_secs(20)).await;
    subnet.validators.insert("Alice".into(), p);

    // Ten rounds each: with 2 of 32 slots released per miner and 8 items a round, a validator
    // that forgot them challenges one almost surely.
    let after = eventually(
        Duration::from_secs(60),
        "ten rounds after the restart",
        || async {
            let now = counts().await;
            now.iter()
                .zip(&before)
                .all(|(n, b)| n.0 >= b.0 + 80)
                .then_some(now)
        },
    )
    .await;
    for ((m, a), b) in MINERS.iter().zip(&after).zip(&before) {
        assert_eq!(
            a.1 - b.1,
            a.0 - b.0,
            "{m} failed items after the restart ({} slots resealing: {resealing:?})\n{}",
            resealing.len(),
            subnet.logs()
        );
    }
}
