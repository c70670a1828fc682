//! The gateway's index in the validator's state database: a put is invisible until committed,
//! a dead put is reclaimable, only the owner deletes, deletes release every slot, and the
//! migration from a version 1 state file keeps what it held.

use tessera_core::AccountId;
use tessera_storage::{NewObject, SegmentRecord, StateDb};

fn account(n: u8) -> AccountId {
    AccountId([n; 32])
}

fn object(id: u8, owner: u8, segments: u64) -> NewObject {
    NewObject {
        id: [id; 16],
        owner: account(owner),
        size: 10 * segments,
        digest: [id; 32],
        k: 2,
        n: 3,
        piece_size: 1024,
        segments,
        created_ms: 1_000,
        expires_ms: 100_000,
    }
}

/// Segment `index` of object `id` with three pieces on miners 10, 11 and 12, slots made unique
/// per object.
fn segment(id: u8, index: u64) -> SegmentRecord {
    SegmentRecord {
        index,
        size: 10,
        pieces: (0..3u16)
            .map(|p| {
                let slot = u64::from(id) * 100 + index * 10 + u64::from(p);
                (p, [p as u8; 32], vec![(account(10 + p as u8), slot)])
            })
            .collect(),
    }
}

async fn open(dir: &tempfile::TempDir) -> StateDb {
    StateDb::open(&dir.path().join("validator.sqlite"), &account(1))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_put_is_visible_only_once_committed() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir).await;
    db.begin_object(&object(5, 2, 2)).await.unwrap();
    assert!(
        db.begin_object(&object(5, 2, 2)).await.is_err(),
        "ids are unique"
    );
    db.record_segment(&[5; 16], &segment(5, 0), 2_000)
        .await
        .unwrap();
    assert!(
        !db.commit_object(&[5; 16], &[0; 32]).await.unwrap(),
        "a segment is missing"
    );
    assert!(db.objects_of(&account(2)).await.unwrap().is_empty());
    // A piece still being put proves into nothing yet.
    assert_eq!(
        db.data_slots(&account(12)).await.unwrap(),
        vec![(502, None)]
    );
    // A segment recorded twice is refused whole: its pieces are not doubled.
    assert!(
        db.record_segment(&[5; 16], &segment(5, 0), 2_000)
            .await
            .is_err()
    );
    db.record_segment(&[5; 16], &segment(5, 1), 2_000)
        .await
        .unwrap();
    assert!(db.commit_object(&[5; 16], &[5; 32]).await.unwrap());
    let listed = db.objects_of(&account(2)).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].complete);
    assert_eq!(listed[0].object, object(5, 2, 2));
    let placed = db.placements(&[5; 16]).await.unwrap();
    assert_eq!(placed.len(), 6);
    assert_eq!(placed[4].segment, 1);
    assert_eq!(placed[4].piece, 1);
    assert_eq!(placed[4].miner, account(11));
    assert_eq!(placed[4].slot, 511);
    assert_eq!(
        db.data_slots(&account(12)).await.unwrap(),
        vec![(502, Some([2; 32])), (512, Some([2; 32]))]
    );
    assert_eq!(db.used_slots(&account(12)).await.unwrap(), vec![502, 512]);
    db.close().await;

    // Reopened, everything is still there.
    let db = open(&dir).await;
    assert_eq!(db.objects_of(&account(2)).await.unwrap().len(), 1);
    db.close().await;
}

#[tokio::test]
async fn slots_hold_one_piece_and_only_owners_delete() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir).await;
    db.begin_object(&object(5, 2, 1)).await.unwrap();
    db.record_segment(&[5; 16], &segment(5, 0), 2_000)
        .await
        .unwrap();
    db.commit_object(&[5; 16], &[0; 32]).await.unwrap();
    // Another object claiming a slot already taken on the same miner is refused.
    db.begin_object(&object(6, 2, 1)).await.unwrap();
    let mut clash = segment(6, 0);
    clash.pieces[0].2 = vec![(account(10), 500)];
    assert!(db.record_segment(&[6; 16], &clash, 2_000).await.is_err());

    assert_eq!(
        db.delete_object(&[5; 16], &account(3)).await.unwrap(),
        None,
        "not the owner"
    );
    assert_eq!(
        db.delete_object(&[9; 16], &account(2)).await.unwrap(),
        None,
        "no such object"
    );
    let released = db
        .delete_object(&[5; 16], &account(2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        released,
        vec![(account(10), 500), (account(11), 501), (account(12), 502)]
    );
    assert!(db.object(&[5; 16]).await.unwrap().is_none());
    assert!(
        db.data_slots(&account(10)).await.unwrap().is_empty(),
        "cascaded"
    );
    db.close().await;
}

#[tokio::test]
async fn expired_and_abandoned_objects_are_reclaimable() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir).await;
    let mut old = object(1, 2, 1);
    old.expires_ms = 5_000;
    db.begin_object(&old).await.unwrap();
    db.record_segment(&[1; 16], &segment(1, 0), 2_000)
        .await
        .unwrap();
    db.commit_object(&[1; 16], &[0; 32]).await.unwrap();
    db.begin_object(&object(2, 2, 3)).await.unwrap(); // a put that died midway
    db.begin_object(&object(3, 2, 1)).await.unwrap();
    db.record_segment(&[3; 16], &segment(3, 0), 2_000)
        .await
        .unwrap();
    db.commit_object(&[3; 16], &[0; 32]).await.unwrap();

    let due = db.to_reclaim(6_000, 1_500).await.unwrap();
    assert_eq!(due, vec![([1; 16], account(2)), ([2; 16], account(2))]);
    assert!(db.to_reclaim(4_000, 500).await.unwrap().is_empty());
    db.close().await;
}

/// The repair sweep's walk: pages of complete, unexpired objects in id order, each with the
/// same placements as `placements` gives; pending and expired objects in between are skipped,
/// whatever the page size.
#[tokio::test]
async fn live_objects_come_in_pages_with_their_placements() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir).await;
    // Ids 1..=9: 4 stays pending, 6 expires at 5 000; the rest are complete, two segments each.
    for id in 1..=9u8 {
        let mut o = object(id, 2, 2);
        if id == 6 {
            o.expires_ms = 5_000;
        }
        db.begin_object(&o).await.unwrap();
        for index in 0..2 {
            db.record_segment(&[id; 16], &segment(id, index), 2_000)
                .await
                .unwrap();
        }
        if id != 4 {
            db.commit_object(&[id; 16], &[0; 32]).await.unwrap();
        }
    }
    // One failed placement, so that the flag is seen to come through.
    assert!(
        db.mark_failed(&account(11), 5 * 100 + 10 + 1, 3_000)
            .await
            .unwrap()
    );
    let live = [1u8, 2, 3, 5, 7, 8, 9];
    for limit in [1, 2, 3, 100] {
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = db.live_objects(after.as_ref(), 6_000, limit).await.unwrap();
            assert!(page.len() <= limit as usize, "page of {limit}");
            let Some((last, _)) = page.last() else { break };
            after = Some(last.object.id);
            for (o, placements) in page {
                assert!(o.complete);
                assert_eq!(placements, db.placements(&o.object.id).await.unwrap());
                assert_eq!(placements.len(), 6, "two segments of three pieces");
                seen.push(o.object.id[0]);
            }
        }
        assert_eq!(seen, live, "pages of {limit}");
    }
    // Before 6 expires, it is live too.
    let all = db.live_objects(None, 4_000, 100).await.unwrap();
    assert_eq!(all.len(), live.len() + 1);
    db.close().await;
}

/// A state file written before the index existed (schema version 1) is migrated on open, and
/// keeps its history.
#[tokio::test]
async fn version_one_state_files_migrate() {
    use sqlx::{Connection, SqliteConnection};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("validator.sqlite");
    let db = StateDb::open(&path, &account(1)).await.unwrap();
    db.blacklist_add(&account(9), "kept", 1).await.unwrap();
    db.close().await;
    // Undo every migration after the first by hand, as a file from the first release would be:
    // that release counted its steps in `user_version` alone, without sqlx's table.
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    for sql in [
        "DROP TABLE s3_upload_parts",
        "DROP TABLE s3_uploads",
        "DROP TABLE s3_entry_parts",
        "DROP TABLE s3_entries",
        "DROP TABLE s3_buckets",
        "DROP TABLE s3_keys",
        "DROP TABLE resealing",
        "DROP TABLE releases",
        "DROP TABLE lies",
        "DROP TABLE audits",
        "DROP TABLE commitments",
        "DROP TABLE weight_commits",
        "DROP TABLE placements",
        "DROP TABLE pieces",
        "DROP TABLE segments",
        "DROP TABLE objects",
        "DROP TABLE owners",
        "DROP TABLE _sqlx_migrations",
        "PRAGMA user_version = 1",
    ] {
        sqlx::query(sql).execute(&mut conn).await.unwrap();
    }
    conn.close().await.unwrap();

    let db = StateDb::open(&path, &account(1)).await.unwrap();
    assert!(db.is_blacklisted(&account(9)).await.unwrap());
    db.begin_object(&object(5, 2, 1)).await.unwrap();
    db.close().await;
}

/// Repair's moves: a failed placement is marked once, and a piece moves to a new slot in one
/// step, freeing the old one.
#[tokio::test]
async fn failed_pieces_are_marked_and_moved() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir).await;
    db.begin_object(&object(5, 2, 1)).await.unwrap();
    db.record_segment(&[5; 16], &segment(5, 0), 2_000)
        .await
        .unwrap();
    db.commit_object(&[5; 16], &[7; 32]).await.unwrap();
    assert_eq!(
        db.object(&[5; 16]).await.unwrap().unwrap().object.digest,
        [7; 32]
    );
    assert!(db.mark_failed(&account(11), 501, 3_000).await.unwrap());
    assert!(
        !db.mark_failed(&account(11), 501, 3_001).await.unwrap(),
        "already marked"
    );
    assert!(
        !db.mark_failed(&account(11), 999, 3_001).await.unwrap(),
        "no such slot"
    );
    let failed: Vec<bool> = db
        .placements(&[5; 16])
        .await
        .unwrap()
        .iter()
        .map(|p| p.failed)
        .collect();
    assert_eq!(failed, vec![false, true, false]);

    db.move_piece(&[5; 16], 0, 1, &[account(11)], (&account(13), 77), 4_000)
        .await
        .unwrap();
    // The old slot waits for its release, recorded with the move: taken, and unsettled (so
    // challenged against nothing) until the miner confirms.
    assert_eq!(db.used_slots(&account(11)).await.unwrap(), vec![501]);
    assert_eq!(
        db.data_slots(&account(11)).await.unwrap(),
        vec![(501, None)]
    );
    assert_eq!(
        db.pending_releases().await.unwrap(),
        vec![(account(11), vec![501])]
    );
    db.releases_done(&account(11), &[501], Some(9_000))
        .await
        .unwrap();
    assert!(db.used_slots(&account(11)).await.unwrap().is_empty());
    assert!(db.pending_releases().await.unwrap().is_empty());
    // Confirmed, it is remembered as resealing until the miner shows it full, or it is old.
    assert_eq!(
        db.resealing(8_000).await.unwrap(),
        vec![(account(11), 501, 9_000)]
    );
    db.resealed(&account(11), &[501]).await.unwrap();
    assert!(db.resealing(0).await.unwrap().is_empty());
    db.releases_done(&account(11), &[502, 503], Some(9_000))
        .await
        .unwrap();
    assert!(db.resealing(9_001).await.unwrap().is_empty(), "too old");
    db.prune_resealing(9_001).await.unwrap();
    db.releases_done(&account(11), &[504], None).await.unwrap();
    assert!(db.resealing(0).await.unwrap().is_empty(), "a miner gone");
    db.queue_release(&account(14), 3, 5_000).await.unwrap();
    assert_eq!(db.used_slots(&account(14)).await.unwrap(), vec![3]);
    assert_eq!(db.used_slots(&account(13)).await.unwrap(), vec![77]);
    let moved = &db.placements(&[5; 16]).await.unwrap()[1];
    assert_eq!(
        (moved.miner, moved.slot, moved.failed),
        (account(13), 77, false)
    );
    // Moving onto a slot already holding a piece is refused and changes nothing.
    assert!(
        db.move_piece(&[5; 16], 0, 1, &[account(13)], (&account(10), 500), 4_000)
            .await
            .is_err()
    );
    assert_eq!(db.used_slots(&account(13)).await.unwrap(), vec![77]);

    // Expiring is the owner's alone, and makes the object due for reclaiming.
    assert!(
        !db.expire_object(&[5; 16], &account(3), 5_000)
            .await
            .unwrap()
    );
    assert!(
        db.expire_object(&[5; 16], &account(2), 5_000)
            .await
            .unwrap()
    );
    let due = db.to_reclaim(5_000, 0).await.unwrap();
    assert_eq!(due, vec![([5; 16], account(2))]);
    db.close().await;
}
