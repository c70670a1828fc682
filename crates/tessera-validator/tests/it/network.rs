//! Honest miners pass and are weighted by the capacity they prove; miners whose data is
//! corrupted, partly deleted or gone fail, and their weight falls to zero.

use std::time::Duration;

use sqlx::{Connection, SqliteConnection};
use tessera_testkit::{Spec, account};

use crate::support::{Subnet, eventually};

const MINUTE: Duration = Duration::from_secs(60);

fn specs() -> Vec<Spec> {
    vec![
        Spec::validator("Alice", 3000.0),
        Spec::miner("Dave"),
        Spec::miner("Eve"),
        Spec::miner("Ferdie"),
        Spec::miner("George"),
        Spec::miner("Harry"),
    ]
}

/// Runs `sql` on miner `name`'s partition for Alice, beside the running miner (WAL allows it).
async fn tamper(subnet: &Subnet, name: &str, sql: &str) {
    let path = subnet
        .net
        .node_dir(name)
        .join(tessera_storage::partition_file_name(&account("Alice")));
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("open partition");
    let done = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await
        .expect("tamper");
    assert!(done.rows_affected() > 0, "{sql} changed nothing");
    conn.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weights_follow_proven_capacity_and_fall_for_bad_miners() {
    let mut subnet = Subnet::new(specs());
    // Reallocation would reseal what the test deletes; keep it out of the way.
    let quiet = ["--steps_per_reallocate", "100000"];
    subnet.start_miner("Dave", "2MiB", &quiet).await;
    for name in ["Eve", "Ferdie", "George", "Harry"] {
        subnet.start_miner(name, "1MiB", &quiet).await;
    }
    subnet.publish_axons();
    // George lost every other chunk before the validator ever looked.
    tamper(&subnet, "George", "DELETE FROM chunks WHERE id % 2 = 1").await;
    subnet.start_validator("Alice", &[]).await;

    // Everyone but George earns weight at first.
    eventually(
        MINUTE,
        "first weights with Ferdie and Harry paid",
        || async {
            let (_, w) = subnet.weights("Alice").await?;
            (w.get("Ferdie").copied().unwrap_or(0.0) > 0.0
                && w.get("Harry").copied().unwrap_or(0.0) > 0.0)
                .then_some(())
        },
    )
    .await;

    // Then Ferdie's data rots and Harry vanishes.
    tamper(
        &subnet,
        "Ferdie",
        "UPDATE chunks SET data = zeroblob(length(data))",
    )
    .await;
    subnet.miners.get_mut("Harry").unwrap().kill();

    let (rows, weights) = eventually(MINUTE, "bad miners' weight to fall to zero", || async {
        let (_, w) = subnet.weights("Alice").await?;
        let rows = subnet.rows("Alice").await;
        let zero = |n: &str| w.get(n).copied().unwrap_or(0.0) == 0.0;
        // Weights fall on the first failures; the success rates only once the window of
        // recent challenges holds nothing from before the rot and the kill.
        let failed = |n: &str| rows[n].success_rate == 0.0;
        (zero("Ferdie") && zero("Harry") && zero("George") && failed("Ferdie") && failed("Harry"))
            .then_some((rows, w))
    })
    .await;

    let logs = subnet.logs();
    // Honest miners pass everything and share the weight in proportion to what they proved.
    for name in ["Dave", "Eve"] {
        assert_eq!(
            rows[name].success_rate, 1.0,
            "{name}: {:?}\n{logs}",
            rows[name]
        );
    }
    assert_eq!(rows["Dave"].claimed_bytes, 2 * rows["Eve"].claimed_bytes);
    let ratio = weights["Dave"] / weights["Eve"];
    assert!(
        (1.7..2.3).contains(&ratio),
        "Dave/Eve weight {ratio}: {weights:?}"
    );
    assert!((weights["Dave"] + weights["Eve"] - 1.0).abs() < 1e-6);
    // George fails about the half it lost; Harry is unreachable.
    let g = rows["George"].success_rate;
    assert!((0.15..=0.85).contains(&g), "George {g}");
    assert_eq!(rows["Harry"].success_rate, 0.0);
    assert!(rows["Harry"].challenges > 0);

    // Every miner that answers holds its commitment at the validator (challenges v2), George's
    // with the chunks it lost as empty leaves: its items fold into it and fail on the data.
    let path = subnet
        .net
        .node_dir("Alice")
        .join(tessera_validator::STATE_FILE);
    let state = tessera_storage::StateDb::open(&path, &account("Alice"))
        .await
        .unwrap();
    for name in ["Dave", "Eve", "Ferdie", "George"] {
        let held = state.commitment(&account(name)).await.unwrap();
        assert!(
            held.is_some_and(|h| h.n_chunks > 0),
            "{name} holds no commitment"
        );
    }
}
