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
