//! Audits (challenges v2) against real processes: a miner that committed to junk for a share of
//! its slots is caught, barred at weight 0 with the evidence kept; an honest miner passes every
//! item; a validator restart keeps the commitments and the audit history, and a miner restart
//! keeps its tree.

use std::time::Duration;

use std::collections::BTreeMap;

use tessera_storage::{HeldCommitment, StateDb};
use tessera_testkit::{Spec, account};
use tessera_validator::status::MinerRow;

use crate::support::{Subnet, eventually};

async fn state(subnet: &Subnet) -> StateDb {
    StateDb::open(
        &subnet
            .net
            .node_dir("Alice")
            .join(tessera_validator::STATE_FILE),
        &account("Alice"),
    )
    .await
    .unwrap()
}

/// The commitment Alice holds for Dave's partition, if any.
async fn held_for_dave(subnet: &Subnet) -> Option<HeldCommitment> {
    let db = state(subnet).await;
    let held = db.commitment(&account("Dave")).await.unwrap();
    db.close().await;
    held
}

/// Alice's rows once Dave has had more than `from` challenges, `more` of them at least.
async fn dave_challenged(
    subnet: &Subnet,
    from: u64,
    more: u64,
    what: &str,
) -> BTreeMap<String, MinerRow> {
    eventually(Duration::from_secs(30), what, || async {
        let rows = subnet.rows("Alice").await;
        let enough = rows
            .get("Dave")
            .is_some_and(|r| r.challenges >= from + more.max(1));
        enough.then_some(rows)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_junk_committer_is_caught_and_barred_and_audits_survive_restarts() {
    let mut subnet = Subnet::new(vec![
        Spec::validator("Alice", 1000.0),
        Spec::miner("Dave"),
        Spec::miner("Eve"),
    ]);
    // 64 chunks each: the initial audit (64 by default) covers the whole partition.
    subnet.start_miner("Dave", "4MiB", &[]).await;
    subnet
        .start_miner_env(
            "Eve",
            "4MiB",
            &[],
            &[("TESTHOOK_JUNK_SHARE", "0.25".to_owned())],
        )
        .await;
    subnet.publish_axons();
    subnet.start_validator("Alice", &[]).await;

    // The honest miner's capacity counts once its initial audit is through; the cheat is caught.
    let rows = eventually(
        Duration::from_secs(90),
        "Dave audited and weighted, Eve caught",
        || async {
            let rows = subnet.rows("Alice").await;
            let dave = rows
                .get("Dave")
                .is_some_and(|r| r.proven_bytes > 0 && r.weight > 0.0);
            let eve = subnet.validators["Alice"]
                .log_text()
                .contains("caught lying");
            (dave && eve).then_some(rows)
        },
    )
    .await;
    assert_eq!(
        rows["Dave"].success_rate,
        1.0,
        "{:?}\n{}",
        rows["Dave"],
        subnet.logs()
    );
    assert_eq!(rows["Dave"].claimed_bytes, 4 << 20);

    let db = state(&subnet).await;
    let lies = db.lies(&account("Eve")).await.unwrap();
    assert_eq!(lies.len(), 1, "one lie, then barred: {lies:?}");
    let lie = &lies[0];
    assert_ne!(lie.committed_leaf, lie.sealed_root);
    // The evidence stands on its own: the commitment bytes carry Eve's signature, and they bind
    // the root the lying leaf folds into.
    account("Eve")
        .verify(
            &lie.commitment,
            &tessera_core::Signature(lie.commitment_signature),
        )
        .expect("Eve signed the commitment kept as evidence");
    assert!(lie.barred_until_ms >= lie.at_ms + 7 * 24 * 3600 * 1000 - 1);
    assert!(
        db.barred_until(&account("Eve"), lie.at_ms)
            .await
            .unwrap()
            .is_some()
    );
    // Dave's audits all passed; the commitment held is Dave's, fully audited.
    let (passed, failed) = db.audit_counts(&account("Dave")).await.unwrap();
    assert!(
        passed >= 64 && failed == 0,
        "{passed} passed, {failed} failed"
    );
    let held = db
        .commitment(&account("Dave"))
        .await
        .unwrap()
        .expect("held");
    assert!(held.audited >= 64);
    db.close().await;

    // Eve's weight is 0 from the next epoch on, and stays there.
    for _ in 0..2 {
        let set_at = subnet.weights("Alice").await.map(|(r, _)| r.set_at_ms);
        let weights = eventually(Duration::from_secs(30), "a new weight setting", || async {
            subnet
                .weights("Alice")
                .await
                .filter(|(r, _)| Some(r.set_at_ms) != set_at)
                .map(|(_, w)| w)
        })
        .await;
        assert_eq!(
            weights.get("Eve").copied().unwrap_or(0.0),
            0.0,
            "{weights:?}"
        );
        assert!(weights["Dave"] > 0.0, "{weights:?}");
    }

    // A validator restart keeps the commitment and the audit history: Dave's capacity counts in
    // the very first round, with no new initial audit, and Eve stays barred.
    let before = subnet.rows("Alice").await["Dave"].challenges;
    subnet.validators.get_mut("Alice").unwrap().kill();
    let p = subnet.spawn_validator("Alice", &[]);
    tessera_testkit::wait_healthy(p.addr, Duration::from_secs(20)).await;
    subnet.validators.insert("Alice".into(), p);
    let rows = dave_challenged(&subnet, before, 1, "a round after the restart").await;
    assert!(rows["Dave"].proven_bytes > 0, "{:?}", rows["Dave"]);
    assert_eq!(rows["Eve"].score, 0.0, "{:?}", rows["Eve"]);
    // `tessera-validator status` shows both.
    assert!(rows["Eve"].barred_until_ms.is_some(), "{:?}", rows["Eve"]);
    assert!(
        rows["Dave"].audited.is_some_and(|n| n >= 64),
        "{:?}",
        rows["Dave"]
    );
    assert!(
        !subnet.validators["Alice"]
            .log_text()
            .contains("initial audit passed"),
        "no second initial audit after a restart"
    );

    // A miner restart keeps its tree: the same commitment, taken up where it was.
    let held = held_for_dave(&subnet).await.expect("held");
    subnet.miners.get_mut("Dave").unwrap().kill();
    subnet.miners.remove("Dave");
    subnet.start_miner("Dave", "4MiB", &[]).await;
    subnet.publish_axons();
    let after = subnet.rows("Alice").await["Dave"].challenges;
    let rows = dave_challenged(&subnet, after, 16, "rounds after the miner's restart").await;
    let now = held_for_dave(&subnet).await.expect("held");
    assert_eq!((now.root, now.n_chunks), (held.root, held.n_chunks));
    assert!(
        now.audited >= held.audited,
        "the audit history carried over"
    );
    assert_eq!(
        rows["Dave"].success_rate,
        1.0,
        "{:?}\n{}",
        rows["Dave"],
        subnet.logs()
    );
}

/// The commitment held for Dave's partition, once it covers something other than `from` slots.
async fn held_size_changes(subnet: &Subnet, from: u64, what: &str) -> u64 {
    eventually(Duration::from_secs(90), what, || async {
        held_for_dave(subnet)
            .await
            .map(|h| h.n_chunks)
            .filter(|n| *n != from)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reallocation_keeps_an_honest_miner_passing() {
    let specs = |bob: f64| {
        vec![
            Spec::validator("Alice", 1000.0),
            Spec::validator("Bob", bob),
            Spec::miner("Dave"),
        ]
    };
    let mut subnet = Subnet::new(specs(1000.0));
    subnet
        .start_miner("Dave", "8MiB", &["--steps_per_reallocate", "2"])
        .await;
    subnet.publish_axons();
    subnet.start_validator("Alice", &[]).await;
    let first = eventually(Duration::from_secs(60), "Dave audited", || async {
        let rows = subnet.rows("Alice").await;
        rows.get("Dave")
            .filter(|r| r.proven_bytes > 0)
            .map(|r| r.claimed_bytes / (64 << 10))
    })
    .await;

    // Bob leaves: Alice's partition grows, through signed updates.
    subnet.specs = specs(0.0);
    subnet.publish_axons();
    let grown = held_size_changes(&subnet, first, "Alice's partition to grow").await;
    assert!(grown > first, "{grown} after {first}");
    // Bob comes back with more stake: Alice's partition shrinks.
    subnet.specs = specs(3000.0);
    subnet.publish_axons();
    let shrunk = held_size_changes(&subnet, grown, "Alice's partition to shrink").await;
    assert!(shrunk < grown, "{shrunk} after {grown}");
    let before = subnet.rows("Alice").await["Dave"].challenges;
    let rows = dave_challenged(&subnet, before, 16, "rounds after the shrink").await;
    // Every item of every round passed, through the growth and the shrink.
    let db = state(&subnet).await;
    let window = db.window(&account("Dave"), 100_000).await.unwrap();
    db.close().await;
    assert_eq!(
        window.successes,
        window.items,
        "{window:?}\n{}",
        subnet.logs()
    );
    assert!(rows["Dave"].proven_bytes > 0, "{:?}", rows["Dave"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tree_that_moves_on_after_the_answer_still_passes() {
    // Every answer's paths belong to a commitment the miner has already moved past by the time
    // the validator asks for the update (as when a store lands between the two): the validator
    // follows the update to exactly the commitment answered, and the honest miner passes.
    let mut subnet = Subnet::new(vec![Spec::validator("Alice", 1000.0), Spec::miner("Dave")]);
    subnet
        .start_miner_env("Dave", "4MiB", &[], &[("TESTHOOK_CHURN", "1".to_owned())])
        .await;
    subnet.publish_axons();
    subnet.start_validator("Alice", &[]).await;
    let rows = dave_challenged(&subnet, 0, 24, "Dave challenged in three rounds").await;
    let db = state(&subnet).await;
    let window = db.window(&account("Dave"), 100_000).await.unwrap();
    let held = db.commitment(&account("Dave")).await.unwrap();
    db.close().await;
    assert_eq!(
        window.successes,
        window.items,
        "{window:?}\n{}",
        subnet.logs()
    );
    assert!(rows["Dave"].success_rate == 1.0, "{:?}", rows["Dave"]);
    assert!(held.is_some(), "the commitment is still held");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_miner_that_shrinks_below_each_challenge_gains_nothing() {
    // Dave truncates its filler below the lowest slot of every challenge before answering, and
    // signs the smaller size: the race a reallocation's shrink runs with a challenge, turned into
    // a dodge. Its items are left out rather than failed, so an honest shrink costs nothing; but
    // no audit ever lands, so none of its capacity ever counts. Eve, honest, is proven meanwhile.
    let mut subnet = Subnet::new(vec![
        Spec::validator("Alice", 1000.0),
        Spec::miner("Dave"),
        Spec::miner("Eve"),
    ]);
    subnet
        .start_miner_env("Dave", "4MiB", &[], &[("TESTHOOK_SHRINK", "1".to_owned())])
        .await;
    subnet.start_miner("Eve", "4MiB", &[]).await;
    subnet.publish_axons();
    subnet.start_validator("Alice", &[]).await;
    let rows = eventually(
        Duration::from_secs(90),
        "Eve proven, Dave's items left out until its tree is empty",
        || async {
            let log = subnet.validators["Alice"].log_text();
            let rows = subnet.rows("Alice").await;
            (log.contains("items left out: the miner shrank")
                && log.contains("commits to an empty tree")
                && rows.get("Eve").is_some_and(|r| r.proven_bytes > 0))
            .then_some(rows)
        },
    )
    .await;
    assert_eq!(
        rows["Dave"].proven_bytes,
        0,
        "{:?}\n{}",
        rows["Dave"],
        subnet.logs()
    );
    assert_eq!(rows["Dave"].audited.unwrap_or(0), 0, "{:?}", rows["Dave"]);
    assert_eq!(rows["Eve"].success_rate, 1.0, "{:?}", rows["Eve"]);
    let held = held_for_dave(&subnet).await;
    assert!(
        held.as_ref().is_none_or(|h| h.n_chunks < 64),
        "the signed size fell: {held:?}"
    );
    assert!(
        !subnet.validators["Alice"]
            .log_text()
            .lines()
            .any(|l| l.contains("initial audit passed") && l.contains(&account("Dave").to_ss58())),
        "Dave's capacity never counted\n{}",
        subnet.logs()
    );
}
