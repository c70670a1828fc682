//! A partition's tree for its commitment: every write moves it to a new sequence number, and the
//! update served from any earlier one is accepted by the validator's check and lands it on
//! exactly the miner's group nodes; the tree survives a reopen.

use sha2::{Digest, Sha256};
use tessera_core::Keypair;
use tessera_core::commit::{self, Commitment, EMPTY};
use tessera_core::merkle::Hash;
use tessera_storage::{Chunk, Meta, PartitionDb, TreeState};

const CHUNK: u64 = 1024;

fn keys() -> (Keypair, Keypair) {
    (
        Keypair::from_uri("//Milo").unwrap(),
        Keypair::from_uri("//Vera").unwrap(),
    )
}

fn meta() -> Meta {
    let (m, v) = keys();
    Meta {
        miner: m.account(),
        validator: v.account(),
        chunk_size: CHUNK,
        seal_profile: "test".to_owned(),
        seal_passes: 2,
    }
}

fn root(tag: u64) -> Hash {
    Sha256::digest(tag.to_le_bytes()).into()
}

fn chunk(id: u64, tag: u64) -> Chunk {
    Chunk {
        id,
        data: vec![id as u8; CHUNK as usize],
        root: root(tag),
    }
}

fn commitment(t: &TreeState) -> Commitment {
    let (m, v) = keys();
    Commitment {
        miner: m.account(),
        validator: v.account(),
        chunk_size: CHUNK,
        seal_passes: 2,
        n_chunks: t.n_chunks,
        seq: t.seq,
        root: t.root,
    }
}

/// The validator's side: from the tree it holds, the update the miner serves must be accepted and
/// land exactly on the miner's tree now; returns the leaves that changed.
async fn check(db: &PartitionDb, held: &TreeState) -> Vec<commit::LeafChange> {
    let update = db
        .update_since(held.seq, held.n_chunks, None)
        .await
        .unwrap()
        .expect("the log reaches back");
    let now = db.tree().await.unwrap();
    assert_eq!(update.state, now);
    let (groups, changes) = commit::apply(
        &commitment(held),
        &held.groups,
        &commitment(&now),
        &update.groups,
    )
    .unwrap_or_else(|e| panic!("update refused: {e}"));
    assert_eq!(groups, now.groups);
    // The miner's own leaves agree with the root it commits to.
    let leaves = db.leaves(0..now.n_chunks).await.unwrap();
    assert_eq!(commit::group_nodes(&leaves), now.groups);
    changes
}

#[tokio::test]
async fn every_write_is_an_update_the_validator_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data-v");
    let db = PartitionDb::open(&path, &meta()).await.unwrap();
    let empty = db.tree().await.unwrap();
    assert_eq!((empty.n_chunks, empty.root), (0, EMPTY));

    // Allocation: the size first, then the chunks in batches.
    let sized = db.set_size(200).await.unwrap();
    assert!(sized.seq > empty.seq);
    let batch: Vec<Chunk> = (0..100).map(|i| chunk(i, i)).collect();
    db.insert(&batch).await.unwrap();
    let batch: Vec<Chunk> = (100..200).map(|i| chunk(i, i)).collect();
    db.insert(&batch).await.unwrap();
    let changes = check(&db, &sized).await;
    assert_eq!(changes.len(), 200);
    let full = db.tree().await.unwrap();

    // A store, a release and the reseal, seen in one update: they net out, slot 70 is filler
    // again.
    db.store_data(70, &[7; CHUNK as usize], &root(7_000))
        .await
        .unwrap();
    assert_eq!(db.release_data(&[70, 71]).await.unwrap(), vec![70]);
    db.insert(&[chunk(70, 70)]).await.unwrap();
    assert!(check(&db, &full).await.is_empty());

    // The same, one update at a time.
    let full = db.tree().await.unwrap();
    db.store_data(70, &[7; CHUNK as usize], &root(7_000))
        .await
        .unwrap();
    let changes = check(&db, &full).await;
    assert_eq!(
        changes,
        vec![commit::LeafChange {
            slot: 70,
            old: root(70),
            new: root(7_000)
        }]
    );
    let stored = db.tree().await.unwrap();
    assert_eq!(db.release_data(&[70, 71]).await.unwrap(), vec![70]);
    assert_eq!(check(&db, &stored).await[0].new, EMPTY);
    let released = db.tree().await.unwrap();
    db.insert(&[chunk(70, 70)]).await.unwrap();
    let changes = check(&db, &released).await;
    assert_eq!(
        changes,
        vec![commit::LeafChange {
            slot: 70,
            old: EMPTY,
            new: root(70)
        }]
    );

    // A shrink that cuts a group, then growth.
    let before_shrink = db.tree().await.unwrap();
    db.set_size(100).await.unwrap();
    db.truncate(100).await.unwrap();
    check(&db, &before_shrink).await;
    let shrunk = db.tree().await.unwrap();
    assert_eq!(shrunk.groups.len(), 2);
    db.set_size(300).await.unwrap();
    let grown: Vec<Chunk> = (100..300).map(|i| chunk(i, i + 1)).collect();
    db.insert(&grown).await.unwrap();
    let changes = check(&db, &shrunk).await;
    assert_eq!(changes.len(), 200);

    // A restart keeps the tree, and updates from before it.
    let now = db.tree().await.unwrap();
    db.close().await;
    let db = PartitionDb::open(&path, &meta()).await.unwrap();
    assert_eq!(db.tree().await.unwrap(), now);
    check(&db, &shrunk).await;
}

#[tokio::test]
async fn an_update_to_an_earlier_commitment_lands_on_the_tree_as_it_was() {
    // A challenge answered with the paths of `mid` while another store landed: the validator
    // must be able to move to exactly `mid`, and from there to the current tree.
    let dir = tempfile::tempdir().unwrap();
    let db = PartitionDb::open(&dir.path().join("data-v"), &meta())
        .await
        .unwrap();
    db.set_size(130).await.unwrap();
    let batch: Vec<Chunk> = (0..130).map(|i| chunk(i, i)).collect();
    db.insert(&batch).await.unwrap();
    let held = db.tree().await.unwrap();
    db.store_data(3, &[3; CHUNK as usize], &root(3_000))
        .await
        .unwrap();
    let mid = db.tree().await.unwrap();
    // Later writes touch the slot changed before `mid`, another of its group, and another group.
    db.store_data(3, &[4; CHUNK as usize], &root(4_000))
        .await
        .unwrap();
    db.store_data(5, &[5; CHUNK as usize], &root(5_000))
        .await
        .unwrap();
    db.store_data(100, &[1; CHUNK as usize], &root(1_000))
        .await
        .unwrap();
    let update = db
        .update_since(held.seq, held.n_chunks, Some(mid.seq))
        .await
        .unwrap()
        .expect("the log reaches back");
    assert_eq!(update.state, mid);
    let (groups, changes) = commit::apply(
        &commitment(&held),
        &held.groups,
        &commitment(&mid),
        &update.groups,
    )
    .unwrap_or_else(|e| panic!("update refused: {e}"));
    assert_eq!(groups, mid.groups);
    assert_eq!(
        changes,
        vec![commit::LeafChange {
            slot: 3,
            old: root(3),
            new: root(3_000)
        }]
    );
    // From `mid` on, the ordinary update reaches the current tree.
    let mid = TreeState { groups, ..mid };
    assert_eq!(check(&db, &mid).await.len(), 3);

    // Not served: a target before the start, in the future, or before a change of size.
    let now = db.tree().await.unwrap();
    assert!(
        db.update_since(now.seq, 130, Some(now.seq - 1))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        db.update_since(now.seq, 130, Some(now.seq + 1))
            .await
            .unwrap()
            .is_none()
    );
    db.set_size(140).await.unwrap();
    db.insert(&[chunk(130, 130)]).await.unwrap();
    let last = db.tree().await.unwrap();
    // The size changed at `last.seq - 1`: the tree before it is not served, the one after is.
    let sized_at = last.seq - 1;
    for (to, served) in [
        (now.seq, false),
        (sized_at - 1, false),
        (sized_at, true),
        (last.seq, true),
    ] {
        let update = db.update_since(now.seq, 130, Some(to)).await.unwrap();
        assert_eq!(update.is_some(), served, "to {to}");
    }
}

#[tokio::test]
async fn an_update_from_before_the_last_sync_or_from_the_future_is_not_served() {
    let dir = tempfile::tempdir().unwrap();
    let db = PartitionDb::open(&dir.path().join("data-v"), &meta())
        .await
        .unwrap();
    db.set_size(10).await.unwrap();
    let old = db.tree().await.unwrap();
    db.insert(&[chunk(1, 1)]).await.unwrap();
    let mid = db.tree().await.unwrap();
    db.insert(&[chunk(2, 2)]).await.unwrap();
    // The validator synced to `mid`: what came before is forgotten.
    check(&db, &mid).await;
    assert!(
        db.update_since(old.seq, old.n_chunks, None)
            .await
            .unwrap()
            .is_none()
    );
    let now = db.tree().await.unwrap();
    assert!(
        db.update_since(now.seq + 1, 10, None)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        db.update_since(now.seq, 10, None)
            .await
            .unwrap()
            .unwrap()
            .groups
            .is_empty()
    );
}

#[tokio::test]
async fn another_writer_is_seen_and_paths_match_the_commitment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data-v");
    // The allocator and the miner each open the file: writes through one must show in the other.
    let writer = PartitionDb::open(&path, &meta()).await.unwrap();
    writer.set_size(130).await.unwrap();
    let batch: Vec<Chunk> = (0..130).map(|i| chunk(i, i)).collect();
    writer.insert(&batch).await.unwrap();
    let reader = PartitionDb::open(&path, &meta()).await.unwrap();
    let before = reader.tree().await.unwrap();
    assert_eq!(before, writer.tree().await.unwrap());

    writer
        .store_data(5, &[5; CHUNK as usize], &root(5_000))
        .await
        .unwrap();
    writer.insert(&[]).await.unwrap();
    let after = reader.tree().await.unwrap();
    assert!(after.seq > before.seq);
    let leaves = reader.leaves(0..130).await.unwrap();
    assert_eq!(after.groups, commit::group_nodes(&leaves));
    assert_eq!(after, writer.tree().await.unwrap());

    let (seq, paths) = reader.group_paths(&[5, 64, 129, 130]).await.unwrap();
    assert_eq!(seq, after.seq);
    commit::check_leaf(&after.groups, 130, 5, &root(5_000), &paths[0]).unwrap();
    commit::check_leaf(&after.groups, 130, 64, &root(64), &paths[1]).unwrap();
    commit::check_leaf(&after.groups, 130, 129, &root(129), &paths[2]).unwrap();
    assert!(paths[3].is_empty(), "slot 130 is beyond the partition");
}

#[tokio::test]
async fn a_change_made_by_hand_is_logged_too() {
    use sqlx::{Connection, SqliteConnection};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data-v");
    let db = PartitionDb::open(&path, &meta()).await.unwrap();
    db.set_size(100).await.unwrap();
    let batch: Vec<Chunk> = (0..100).map(|i| chunk(i, i)).collect();
    db.insert(&batch).await.unwrap();
    let held = db.tree().await.unwrap();
    // A miner that drops chunks behind its own software's back: triggers log it anyway.
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::query("DELETE FROM chunks WHERE id % 2 = 1")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let changes = check(&db, &held).await;
    assert_eq!(changes.len(), 50);
    assert!(changes.iter().all(|c| c.slot % 2 == 1 && c.new == EMPTY));
}
