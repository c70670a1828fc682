//! A validator's permit lapses and comes back: the partitions it placed pieces in outlive its
//! absence on every miner, and every object it stored reads back byte for byte.

use std::time::{Duration, Instant};

use tessera_testkit::Spec;

use crate::support::{Devnet, VALIDATOR, bytes};

/// Waits until every miner's log shows `what` at least `times` times.
async fn every_miner_logged(net: &Devnet, what: &str, times: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !net
        .miners
        .values()
        .all(|p| p.log_text().matches(what).count() >= times)
    {
        assert!(
            Instant::now() < deadline,
            "not every miner logged {what:?} {times} times\n{}",
            net.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn set_permit(net: &mut Devnet, name: &str, permit: bool) {
    for s in net.specs.iter_mut().filter(|s| s.name == name) {
        s.permit = permit;
    }
    net.publish_axons();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_outlive_their_validators_absence() {
    let realloc: &[&str] = &["--steps_per_reallocate", "2"];
    let mut net = Devnet::start_among(
        &[("Dave", realloc), ("Ferdie", realloc), ("Grace", realloc)],
        "8MiB",
        2,
        3,
        &[],
        &[Spec::validator("Bob", 1000.0)],
    )
    .await;
    let big = bytes(4 << 20, 1);
    let small = bytes(1000, 2);
    let objects = [(net.put("Eve", &big), big), (net.put("Eve", &small), small)];

    // Alice loses her permit for a while; Bob stays. Her partitions are kept in grace.
    set_permit(&mut net, VALIDATOR, false);
    every_miner_logged(&net, "keeping the partition of a validator that left", 3).await;

    // She comes back: the next reallocation plans her partitions again, pieces and all.
    set_permit(&mut net, VALIDATOR, true);
    let reallocated = |p: &tessera_testkit::Process| p.log_text().matches("reallocated").count();
    let before: Vec<usize> = net.miners.values().map(reallocated).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while net
        .miners
        .values()
        .zip(&before)
        .any(|(p, b)| reallocated(p) < b + 2)
    {
        assert!(Instant::now() < deadline, "no reallocation\n{}", net.logs());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for (id, data) in &objects {
        let got = net
            .get("Eve", id)
            .unwrap_or_else(|e| panic!("{id} lost: {e}\n{}", net.logs()));
        assert!(got == *data, "{id} came back different");
    }
    // Her miners pass again: the gateway has all three ready, and takes a new object.
    net.wait_ready(3).await;
    let after = bytes(100_000, 3);
    let id = net.put("Eve", &after);
    assert_eq!(net.get("Eve", &id).unwrap(), after);
}
