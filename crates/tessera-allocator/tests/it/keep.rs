//! What an allocation never throws away: the capacity an operator chose survives a run without
//! the flag, a smaller one says how much filler goes first, and a partition holding client data
//! outlives its validator's absence for the grace period.

use crate::support::{Node, account, chunk_ids, chunks, store_piece};

const MIB: u64 = 1 << 20;

#[test]
fn a_forgotten_capacity_flag_loses_no_chunk() {
    let node = Node::new();
    node.allocate(&[]);
    assert_eq!(node.partition_file().capacity, Some(8 * MIB));
    let before = (
        chunk_ids(&node.data_file("Bob")),
        chunk_ids(&node.data_file("Charlie")),
    );
    assert_eq!(before.0.len() + before.1.len(), 128);

    // Without --capacity, and a threshold that would give almost nothing of this disk: the
    // recorded capacity stands.
    let run = node.allocate(&["!--capacity", "--threshold=0.000000001"]);
    assert_eq!(run.sealed_now(), 0, "{run}");
    let after = (
        chunk_ids(&node.data_file("Bob")),
        chunk_ids(&node.data_file("Charlie")),
    );
    assert_eq!(after, before, "{run}");
    assert_eq!(node.partition_file().capacity, Some(8 * MIB));

    // A smaller capacity, asked for: said first, then only filler goes.
    store_piece(&node.data_file("Bob"), 90, 7);
    let run = node.allocate(&["--capacity=4MiB"]);
    assert!(
        run.stderr.contains(
            "this plan deletes 63 sealed chunks of filler (3.9 MiB); client data is kept"
        ),
        "{run}"
    );
    assert_eq!(node.partition_file().capacity, Some(4 * MIB));
    let bob = chunks(&node.data_file("Bob"));
    assert_eq!(bob.len(), 48 + 1, "48 planned, and the piece in slot 90");
    assert!(bob.iter().any(|(id, data, _)| *id == 90 && data[0] == 7));
}

#[test]
fn a_departed_validators_data_is_kept_for_its_grace() {
    let node = Node::new();
    node.allocate(&[]);
    store_piece(&node.data_file("Charlie"), 5, 9);

    // Bob and Charlie lose their permits, Dave gains one: Bob's filler goes at once, Charlie's
    // partition holds a piece and stays, in grace, outside the plan.
    node.write_metagraph(&[
        ("Alice", 0.0, false),
        ("Bob", 3000.0, false),
        ("Charlie", 1000.0, false),
        ("Dave", 1000.0, true),
    ]);
    let run = node.allocate(&[]);
    assert!(!node.data_file("Bob").exists(), "{run}");
    assert!(node.data_file("Charlie").exists(), "{run}");
    assert_eq!(chunk_ids(&node.data_file("Dave")).len(), 128, "{run}");
    let file = node.partition_file();
    let charlie = file
        .partitions
        .iter()
        .find(|e| e.validator == account("Charlie"))
        .expect("Charlie's partition still listed");
    let until = charlie.grace_until_ms.expect("in grace");
    let week_ms = 7 * 24 * 3600 * 1000;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(
        until > now + week_ms - 60_000 && until <= now + week_ms,
        "{until}"
    );
    // The grace starts once: another run keeps the same expiry.
    node.allocate(&[]);
    let again = node.partition_file();
    assert_eq!(
        again
            .partitions
            .iter()
            .find(|e| e.validator == account("Charlie"))
            .and_then(|e| e.grace_until_ms),
        Some(until)
    );

    // Charlie comes back: the partition is planned again, with its piece.
    node.write_metagraph(&[
        ("Alice", 0.0, false),
        ("Charlie", 1000.0, true),
        ("Dave", 1000.0, true),
    ]);
    node.allocate(&[]);
    let back = node.partition_file();
    assert!(back.partitions.iter().all(|e| e.grace_until_ms.is_none()));
    let rows = chunks(&node.data_file("Charlie"));
    assert!(rows.iter().any(|(id, data, _)| *id == 5 && data[0] == 9));
    assert_eq!(rows.len(), 64);

    // Gone again, with no grace left: the partition goes, data and all.
    node.write_metagraph(&[("Alice", 0.0, false), ("Dave", 1000.0, true)]);
    let run = node.allocate(&["--partition_grace_secs=0"]);
    assert!(!node.data_file("Charlie").exists(), "{run}");
    assert!(
        run.stderr.contains("grace period over"),
        "the operator is told: {run}"
    );
}
