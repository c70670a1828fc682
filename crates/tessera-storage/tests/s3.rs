//! The S3 face's records on real state files: bucket names are per owner, a bucket with anything
//! in it stays, replacing, deleting, completing and aborting end the lives of exactly the objects
//! nothing holds any more, listings are in S3's order with literal prefixes, only the owner
//! revokes a key, what S3 refuses is refused before anything is written, and what holds an
//! object for S3 is named.

use tessera_core::AccountId;
use tessera_storage::{
    BucketDeleted, EntryPart, Error, NewObject, S3Entry, S3Headers, StateDb, Upload, UploadPart,
};

/// When every object of these tests ends unless something ends it sooner.
const LATER: u64 = 1_000_000;

fn account(n: u8) -> AccountId {
    AccountId([n; 32])
}

async fn open(dir: &tempfile::TempDir) -> StateDb {
    StateDb::open(&dir.path().join("validator.sqlite"), &account(1))
        .await
        .unwrap()
}

/// Indexes Tessera objects `ids` of `owner`, each ending at `LATER`.
async fn objects(db: &StateDb, owner: u8, ids: &[u8]) {
    for &id in ids {
        db.begin_object(&NewObject {
            id: [id; 16],
            owner: account(owner),
            size: 10,
            digest: [id; 32],
            k: 2,
            n: 3,
            piece_size: 1024,
            segments: 1,
            created_ms: 1_000,
            expires_ms: LATER,
        })
        .await
        .unwrap();
    }
}

/// When object `id` ends, as the index says.
async fn expiry(db: &StateDb, id: u8) -> u64 {
    db.object(&[id; 16])
        .await
        .unwrap()
        .unwrap()
        .object
        .expires_ms
}

/// An entry of `owner` at `bucket`/`key` held in objects `parts`, 10 bytes each.
fn entry(owner: u8, bucket: &str, key: &str, parts: &[u8]) -> S3Entry {
    S3Entry {
        owner: account(owner),
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        size: 10 * parts.len() as u64,
        etag: format!("\"{key}\""),
        modified_ms: 2_000,
        expires_ms: LATER,
        headers: S3Headers {
            content_type: Some("text/plain".to_owned()),
            content_disposition: None,
            cache_control: Some("no-cache".to_owned()),
            user_meta: r#"{"colour":"blue"}"#.to_owned(),
        },
        parts: parts
            .iter()
            .map(|&p| EntryPart {
                object: [p; 16],
                size: 10,
                // Some parts keep a tail here, of a length the store must give back as it was.
                tail: vec![p; usize::from(p % 3)],
            })
            .collect(),
    }
}

fn upload(id: &str, owner: u8, bucket: &str, key: &str, created_ms: u64) -> Upload {
    Upload {
        upload_id: id.to_owned(),
        owner: account(owner),
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        created_ms,
        headers: S3Headers::default(),
        ttl_secs: 3_600,
    }
}

/// Part `number` of an upload, 10 bytes in object `[object; 16]`, put at `at_ms`.
fn part(number: u32, object: u8, tail: Vec<u8>, etag: &str, at_ms: u64) -> UploadPart {
    UploadPart {
        part_number: number,
        object: [object; 16],
        size: 10,
        tail,
        etag: etag.to_owned(),
        modified_ms: at_ms,
    }
}

/// The object ids of an entry's parts, as the one-byte names the tests give them.
fn part_names(e: &S3Entry) -> Vec<u8> {
    e.parts.iter().map(|p| p.object[0]).collect()
}

fn names(ids: &[[u8; 16]]) -> Vec<u8> {
    ids.iter().map(|id| id[0]).collect()
}

/// An S3 refusal of `what`, with a lower-case message that names the file.
fn assert_refused(err: Error, want: &str, db: &StateDb) {
    let text = err.to_string();
    assert!(
        matches!(&err, Error::S3Input { what, .. } if *what == want),
        "{err:?}"
    );
    assert!(text.contains(&db.path().display().to_string()), "{text}");
    let own = text.rsplit_once(": s3 ").unwrap().1;
    assert_eq!(own, own.to_lowercase(), "{text}");
}

#[tokio::test]
async fn two_owners_with_the_same_bucket_name_are_separate() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir).await;
    objects(&db, 2, &[1]).await;
    assert!(
        db.create_bucket(&account(2), "photos", 60, 1_000)
            .await
            .unwrap()
    );
    assert!(
        db.create_bucket(&account(3), "photos", 90, 1_100)
            .await
            .unwrap()
    );
    assert!(
        !db.create_bucket(&account(2), "photos", 5, 1_200)
            .await
            .unwrap(),
        "a name is its owner's once"
    );
    let theirs = db.bucket(&account(3), "photos").await.unwrap().unwrap();
    assert_eq!((theirs.default_ttl_secs, theirs.created_ms), (90, 1_100));
    assert!(
        db.create_bucket(&account(2), "docs", 60, 1_300)
            .await
            .unwrap()
    );
    let listed: Vec<String> = db
        .buckets_of(&account(2))
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(listed, ["docs", "photos"]);
    assert_eq!(
        db.bucket(&account(2), "photos")
            .await
            .unwrap()
            .unwrap()
            .default_ttl_secs,
        60
    );

    db.put_entry(&entry(2, "photos", "cat.jpg", &[1]), 2_000)
        .await
        .unwrap();
    assert!(
        db.entry(&account(2), "photos", "cat.jpg")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        db.entry(&account(3), "photos", "cat.jpg")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        db.list_entries(&account(3), "photos", "", None, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        !db.delete_entry(&account(3), "photos", "cat.jpg", 2_500)
            .await
            .unwrap()
    );
    assert_eq!(
        expiry(&db, 1).await,
        LATER,
        "another owner's delete ends nothing"
    );
    assert_eq!(
        db.delete_bucket(&account(3), "photos").await.unwrap(),
        BucketDeleted::Deleted
    );
    assert_eq!(
        db.delete_bucket(&account(2), "photos").await.unwrap(),
        BucketDeleted::NotEmpty
    );
    assert!(db.bucket(&account(3), "photos").await.unwrap().is_none());
    assert!(db.bucket(&account(2), "photos").await.unwrap().is_some());
    // An entry needs its bucket: the foreign key refuses one in a bucket its owner lacks.
    assert!(
        db.put_entry(&entry(3, "photos", "cat.jpg", &[1]), 3_000)
            .await
            .is_err()
    );
    db.close().await;
}

#[tokio::test]
async fn a_bucket_with_an_entry_or_an_open_upload_is_not_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir).await;
    let owner = account(2);
    assert_eq!(
        db.delete_bucket(&owner, "none").await.unwrap(),
        BucketDeleted::NoSuchBucket
    );

    db.create_bucket(&owner, "with-entry", 60, 1_000)
        .await
        .unwrap();
    db.put_entry(&entry(2, "with-entry", "k", &[]), 1_000)
        .await
        .unwrap();
    assert_eq!(
        db.delete_bucket(&owner, "with-entry").await.unwrap(),
        BucketDeleted::NotEmpty
    );
    assert!(
        db.delete_entry(&owner, "with-entry", "k", 1_500)
            .await
            .unwrap()
    );
    assert_eq!(
        db.delete_bucket(&owner, "with-entry").await.unwrap(),
        BucketDeleted::Deleted
    );

    db.create_bucket(&owner, "with-upload", 60, 1_000)
        .await
        .unwrap();
    db.begin_upload(&upload("u1", 2, "with-upload", "k", 1_000))
        .await
        .unwrap();
    assert_eq!(
        db.delete_bucket(&owner, "with-upload").await.unwrap(),
        BucketDeleted::NotEmpty
    );
    assert!(db.bucket(&owner, "with-upload").await.unwrap().is_some());
    assert!(db.abort_upload("u1", 2_000).await.unwrap());
    assert_eq!(
        db.delete_bucket(&owner, "with-upload").await.unwrap(),
        BucketDeleted::Deleted
    );
    // An upload needs its bucket too.
    assert!(
        db.begin_upload(&upload("u2", 2, "with-upload", "k", 3_000))
            .await
            .is_err()
    );
    db.close().await;
}

#[tokio::test]
async fn replacing_an_entry_expires_exactly_the_old_objects() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("validator.sqlite");
    let db = open(&dir).await;
    objects(&db, 2, &[1, 2, 3, 4, 5]).await;
    db.create_bucket(&account(2), "b", 60, 1_000).await.unwrap();

    let replaced = db
        .put_entry(&entry(2, "b", "k", &[1, 2]), 2_000)
        .await
        .unwrap();
    assert!(replaced.is_empty(), "nothing was there");
    let replaced = db
        .put_entry(&entry(2, "b", "k", &[2, 3]), 5_000)
        .await
        .unwrap();
    assert_eq!(
        names(&replaced),
        [1],
        "object 2 is still held, by the new entry"
    );
    let ends = [
        expiry(&db, 1).await,
        expiry(&db, 2).await,
        expiry(&db, 3).await,
        expiry(&db, 4).await,
    ];
    assert_eq!(ends, [5_000, LATER, LATER, LATER]);
    let stored = db.entry(&account(2), "b", "k").await.unwrap().unwrap();
    assert_eq!(stored, entry(2, "b", "k", &[2, 3]));

    // The same objects under new headers (a copy in place) end nothing.
    let mut recopied = entry(2, "b", "k", &[2, 3]);
    recopied.headers.content_type = Some("image/png".to_owned());
    assert!(db.put_entry(&recopied, 6_000).await.unwrap().is_empty());
    assert_eq!((expiry(&db, 2).await, expiry(&db, 3).await), (LATER, LATER));
    assert_eq!(
        db.entry(&account(2), "b", "k")
            .await
            .unwrap()
            .unwrap()
            .headers
            .content_type
            .as_deref(),
        Some("image/png")
    );

    // An object shared by two entries lives while either holds it.
    db.put_entry(&entry(2, "b", "copy", &[3, 4]), 6_000)
        .await
        .unwrap();
    assert!(db.delete_entry(&account(2), "b", "k", 7_000).await.unwrap());
    assert_eq!(expiry(&db, 2).await, 7_000);
    assert_eq!(expiry(&db, 3).await, LATER, "the copy holds it");
    assert!(!db.delete_entry(&account(2), "b", "k", 7_500).await.unwrap());

    // An object that ended already is not given longer.
    db.put_entry(&entry(2, "b", "early", &[5]), 7_000)
        .await
        .unwrap();
    db.expire_object(&[5; 16], &account(2), 6_500)
        .await
        .unwrap();
    db.put_entry(&entry(2, "b", "early", &[]), 8_000)
        .await
        .unwrap();
    assert_eq!(expiry(&db, 5).await, 6_500);

    // Kept across a reopen, parts in order.
    db.close().await;
    let db = StateDb::open(&path, &account(1)).await.unwrap();
    let copy = db.entry(&account(2), "b", "copy").await.unwrap().unwrap();
    assert_eq!(part_names(&copy), [3, 4]);
    assert_eq!(copy.headers.user_meta, r#"{"colour":"blue"}"#);
    db.close().await;
}

/// Lists `prefix` after `after`, up to `limit`, and holds the keys to `want`.
async fn check_list(db: &StateDb, prefix: &str, after: Option<&str>, limit: u32, want: &[&str]) {
    let keys: Vec<String> = db
        .list_entries(&account(2), "b", prefix, after, limit)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.key)
        .collect();
    assert_eq!(
        keys, want,
        "prefix {prefix:?} after {after:?} limit {limit}"
    );
}

#[tokio::test]
async fn listing_is_in_utf8_byte_order_with_literal_prefixes() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir).await;
    db.create_bucket(&account(2), "b", 60, 1_000).await.unwrap();
    db.create_bucket(&account(2), "other", 60, 1_000)
        .await
        .unwrap();
    db.create_bucket(&account(3), "b", 60, 1_000).await.unwrap();
    // In UTF-8 byte order: '%' 0x25 < '/' 0x2f < '0' 0x30 < 'X' 0x58 < '_' 0x5f < 'b' 0x62,
    // 'z' 0x7a < 'é' 0xc3 0xa9 < 'ê' 0xc3 0xaa.
    let all = [
        "a%b", "a/b", "a/c/d", "a0", "aXb", "a_b", "ab", "z", "é", "éa", "ê",
    ];
    for key in all.iter().rev() {
        db.put_entry(&entry(2, "b", key, &[]), 2_000).await.unwrap();
    }
    // Neighbours that must never show: another bucket of the owner, another owner's "b".
    db.put_entry(&entry(2, "other", "a/b/c", &[]), 2_000)
        .await
        .unwrap();
    db.put_entry(&entry(3, "b", "a/b/c", &[]), 2_000)
        .await
        .unwrap();

    let mut sorted = all.map(|k| k.as_bytes().to_vec());
    sorted.sort();
    assert_eq!(
        sorted,
        all.map(|k| k.as_bytes().to_vec()),
        "the test's own order"
    );
    check_list(&db, "", None, 100, &all).await;
    check_list(&db, "a/", None, 100, &["a/b", "a/c/d"]).await;
    // `%` and `_` are themselves, where LIKE would match any run or any character.
    check_list(&db, "a%", None, 100, &["a%b"]).await;
    check_list(&db, "a_", None, 100, &["a_b"]).await;
    check_list(&db, "é", None, 100, &["é", "éa"]).await;
    check_list(&db, "a/c/d", None, 100, &["a/c/d"]).await;
    check_list(&db, "nothing", None, 100, &[]).await;
    // `after` is exclusive, whether before, inside or past the prefix's range.
    check_list(&db, "a/", Some("a/b"), 100, &["a/c/d"]).await;
    check_list(&db, "a/", Some("a"), 100, &["a/b", "a/c/d"]).await;
    check_list(&db, "a/", Some("a/c/d"), 100, &[]).await;
    check_list(&db, "a/", Some("b"), 100, &[]).await;
    check_list(&db, "", Some("z"), 100, &["é", "éa", "ê"]).await;
    check_list(&db, "", None, 3, &["a%b", "a/b", "a/c/d"]).await;
    check_list(&db, "", Some("a/c/d"), 2, &["a0", "aXb"]).await;

    // Paging two at a time from each page's last key walks every key once, in order.
    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = db
            .list_entries(&account(2), "b", "", after.as_deref(), 2)
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.key.clone());
        paged.extend(page.into_iter().map(|e| e.key));
    }
    assert_eq!(paged, all);

    // Listings carry everything but the parts.
    let listed = db
        .list_entries(&account(2), "b", "z", None, 1)
        .await
        .unwrap();
    assert_eq!(listed, [entry(2, "b", "z", &[])]);
    db.close().await;
}

#[tokio::test]
async fn completing_an_upload_expires_the_parts_it_does_not_list() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir).await;
    objects(&db, 2, &[10, 11, 12, 13, 14]).await;
    db.create_bucket(&account(2), "b", 60, 1_000).await.unwrap();
    db.put_entry(&entry(2, "b", "big", &[10]), 1_000)
        .await
        .unwrap();
    let started = upload("u1", 2, "b", "big", 1_500);
    db.begin_upload(&started).await.unwrap();
    assert!(
        db.begin_upload(&started).await.is_err(),
        "upload ids are unique"
    );
    assert_eq!(db.upload("u1").await.unwrap(), Some(started));

    for (number, object) in [(1, 11), (2, 12), (3, 13)] {
        let old = db
            .put_upload_part("u1", &part(number, object, Vec::new(), "etag", 2_000))
            .await
            .unwrap();
        assert_eq!(old, None);
    }
    // A part sent again replaces the first copy, whose object ends; the same object again
    // ends nothing.
    let old = db
        .put_upload_part("u1", &part(2, 14, Vec::new(), "etag2", 2_500))
        .await
        .unwrap();
    assert_eq!(old, Some([12; 16]));
    assert_eq!(expiry(&db, 12).await, 2_500);
    let old = db
        .put_upload_part("u1", &part(2, 14, b"tail".to_vec(), "etag2", 2_600))
        .await
        .unwrap();
    assert_eq!(old, None);
    assert_eq!(expiry(&db, 14).await, LATER);
    let parts: Vec<(u32, u8)> = db
        .upload_parts("u1")
        .await
        .unwrap()
        .iter()
        .map(|p| (p.part_number, p.object[0]))
        .collect();
    assert_eq!(parts, [(1, 11), (2, 14), (3, 13)]);
    assert_eq!(
        db.upload_parts("u1").await.unwrap()[1],
        UploadPart {
            part_number: 2,
            object: [14; 16],
            size: 10,
            tail: b"tail".to_vec(),
            etag: "etag2".to_owned(),
            modified_ms: 2_600,
        }
    );

    // An entry for another key than the upload's is refused, and changes nothing.
    let err = db
        .complete_upload("u1", &entry(2, "b", "elsewhere", &[11, 14]), 3_000)
        .await
        .unwrap_err();
    assert_refused(err, "upload", &db);
    assert!(db.upload("u1").await.unwrap().is_some());

    // Parts 1 and 2 make the entry; part 3 and the replaced entry's object end.
    let released = db
        .complete_upload("u1", &entry(2, "b", "big", &[11, 14]), 3_000)
        .await
        .unwrap();
    assert_eq!(released.as_deref().map(names), Some(vec![10, 13]));
    let ends = [
        expiry(&db, 10).await,
        expiry(&db, 11).await,
        expiry(&db, 13).await,
        expiry(&db, 14).await,
    ];
    assert_eq!(ends, [3_000, LATER, 3_000, LATER]);
    let big = db.entry(&account(2), "b", "big").await.unwrap().unwrap();
    assert_eq!(part_names(&big), [11, 14]);
    assert!(db.upload("u1").await.unwrap().is_none());
    assert!(db.upload_parts("u1").await.unwrap().is_empty());
    assert_eq!(
        db.complete_upload("u1", &entry(2, "b", "big", &[11, 14]), 3_500)
            .await
            .unwrap(),
        None,
        "completed already"
    );
    assert_eq!(
        part_names(&db.entry(&account(2), "b", "big").await.unwrap().unwrap()),
        [11, 14]
    );
    db.close().await;
}

#[tokio::test]
async fn aborting_an_upload_expires_all_its_parts() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir).await;
    objects(&db, 2, &[21, 22, 23]).await;
    db.create_bucket(&account(2), "b", 60, 1_000).await.unwrap();
    db.begin_upload(&upload("u1", 2, "b", "logs/a", 1_000))
        .await
        .unwrap();
    db.begin_upload(&upload("u2", 2, "b", "logs/a", 2_000))
        .await
        .unwrap();
    db.begin_upload(&upload("u3", 2, "b", "other", 3_000))
        .await
        .unwrap();
    db.put_upload_part("u1", &part(1, 21, Vec::new(), "e", 1_100))
        .await
        .unwrap();
    db.put_upload_part("u1", &part(7, 22, Vec::new(), "e", 1_200))
        .await
        .unwrap();
    db.put_upload_part("u2", &part(1, 23, Vec::new(), "e", 2_100))
        .await
        .unwrap();
    // A part of an upload that does not exist is refused by the foreign key.
    assert!(
        db.put_upload_part("u9", &part(1, 23, Vec::new(), "e", 2_100))
            .await
            .is_err()
    );

    let ids = |uploads: Vec<Upload>| -> Vec<String> {
        uploads.into_iter().map(|u| u.upload_id).collect()
    };
    assert_eq!(
        ids(db.uploads_of(&account(2), "b", "").await.unwrap()),
        ["u1", "u2", "u3"]
    );
    assert_eq!(
        ids(db.uploads_of(&account(2), "b", "logs/").await.unwrap()),
        ["u1", "u2"]
    );
    assert!(
        db.uploads_of(&account(3), "b", "")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(ids(db.stale_uploads(2_500).await.unwrap()), ["u1", "u2"]);

    assert!(db.abort_upload("u1", 4_000).await.unwrap());
    assert_eq!(
        [
            expiry(&db, 21).await,
            expiry(&db, 22).await,
            expiry(&db, 23).await
        ],
        [4_000, 4_000, LATER]
    );
    assert!(db.upload("u1").await.unwrap().is_none());
    assert!(db.upload_parts("u1").await.unwrap().is_empty());
    assert!(!db.abort_upload("u1", 4_500).await.unwrap());
    assert_eq!(ids(db.stale_uploads(2_500).await.unwrap()), ["u2"]);
    db.close().await;
}

#[tokio::test]
async fn what_holds_an_object_for_s3_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir).await;
    objects(&db, 2, &[31, 32, 33, 34]).await;
    objects(&db, 3, &[35]).await;
    db.create_bucket(&account(2), "b", 60, 1_000).await.unwrap();
    db.create_bucket(&account(3), "b", 60, 1_000).await.unwrap();
    db.put_entry(&entry(2, "b", "photos/cat.jpg", &[31, 32]), 2_000)
        .await
        .unwrap();
    db.begin_upload(&upload("u1", 2, "b", "big.bin", 1_000))
        .await
        .unwrap();
    db.put_upload_part("u1", &part(3, 33, Vec::new(), "e", 1_100))
        .await
        .unwrap();
    db.put_entry(&entry(3, "b", "theirs", &[35]), 2_000)
        .await
        .unwrap();

    let holder = |id: u8| {
        let db = &db;
        async move { db.s3_holder(&[id; 16]).await.unwrap() }
    };
    assert_eq!(holder(32).await.as_deref(), Some("b/photos/cat.jpg"));
    assert_eq!(
        holder(33).await.as_deref(),
        Some("b/big.bin (part 3 of upload u1)")
    );
    assert_eq!(holder(34).await, None, "an object of the CLI's");
    let mut mine: Vec<u8> = db
        .s3_objects_of(&account(2))
        .await
        .unwrap()
        .into_iter()
        .map(|id| id[0])
        .collect();
    mine.sort();
    assert_eq!(
        mine,
        [31, 32, 33],
        "not 34 (no S3 row), not 35 (another owner's)"
    );

    // Once its entry is gone nothing holds it, and the object API may have it.
    assert!(
        db.delete_entry(&account(2), "b", "photos/cat.jpg", 3_000)
            .await
            .unwrap()
    );
    assert_eq!(holder(31).await, None);
    db.close().await;
}

#[tokio::test]
async fn only_the_owner_revokes_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir).await;
    assert!(
        db.create_s3_key("AK1", &account(2), b"sealed", 1_000)
            .await
            .unwrap()
    );
    assert!(
        !db.create_s3_key("AK1", &account(3), b"other", 1_100)
            .await
            .unwrap(),
        "an access key is given out once"
    );
    assert!(
        db.create_s3_key("AK2", &account(2), b"sealed2", 1_200)
            .await
            .unwrap()
    );

    assert!(!db.revoke_s3_key("AK1", &account(3), 2_000).await.unwrap());
    assert!(!db.revoke_s3_key("AK9", &account(2), 2_000).await.unwrap());
    let key = db.s3_key("AK1").await.unwrap().unwrap();
    assert_eq!(
        (key.owner, key.sealed_secret.as_slice(), key.revoked_ms),
        (account(2), &b"sealed"[..], None)
    );
    assert!(db.revoke_s3_key("AK1", &account(2), 3_000).await.unwrap());
    assert!(
        !db.revoke_s3_key("AK1", &account(2), 4_000).await.unwrap(),
        "revoked already"
    );
    assert_eq!(
        db.s3_key("AK1").await.unwrap().unwrap().revoked_ms,
        Some(3_000)
    );

    let mine: Vec<(String, Option<u64>)> = db
        .s3_keys_of(&account(2))
        .await
        .unwrap()
        .into_iter()
        .map(|k| (k.access_key, k.revoked_ms))
        .collect();
    assert_eq!(
        mine,
        [("AK1".to_owned(), Some(3_000)), ("AK2".to_owned(), None)]
    );
    assert!(db.s3_keys_of(&account(3)).await.unwrap().is_empty());
    assert!(db.s3_key("AK9").await.unwrap().is_none());
    db.close().await;
}

#[tokio::test]
async fn what_s3_refuses_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir).await;
    objects(&db, 2, &[1]).await;
    db.create_bucket(&account(2), "b", 60, 1_000).await.unwrap();
    db.begin_upload(&upload("u1", 2, "b", "k", 1_000))
        .await
        .unwrap();

    // Bytes, not characters: 512 two-byte characters are the most a key holds.
    let longest = "é".repeat(512);
    let over = format!("{longest}a");
    assert_eq!((longest.len(), over.len()), (1024, 1025));
    db.put_entry(&entry(2, "b", &longest, &[]), 2_000)
        .await
        .unwrap();
    let err = db
        .put_entry(&entry(2, "b", &over, &[1]), 2_000)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("1025 bytes long"), "{err}");
    assert_refused(err, "key", &db);
    assert_refused(
        db.put_entry(&entry(2, "b", "", &[]), 2_000)
            .await
            .unwrap_err(),
        "key",
        &db,
    );
    assert_refused(
        db.begin_upload(&upload("u2", 2, "b", &over, 2_000))
            .await
            .unwrap_err(),
        "key",
        &db,
    );
    assert!(db.upload("u2").await.unwrap().is_none());

    for number in [0, 10_001] {
        let err = db
            .put_upload_part("u1", &part(number, 1, Vec::new(), "e", 2_000))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("between 1 and 10000"), "{err}");
        assert_refused(err, "part number", &db);
    }
    for number in [1, 10_000] {
        db.put_upload_part("u1", &part(number, 1, Vec::new(), "e", 2_000))
            .await
            .unwrap();
    }

    // An entry's parts add up to its size, and its user metadata is a JSON object.
    let mut short = entry(2, "b", "k", &[1]);
    short.size = 11;
    assert_refused(db.put_entry(&short, 2_000).await.unwrap_err(), "entry", &db);
    let mut meta = entry(2, "b", "k", &[1]);
    meta.headers.user_meta = "[1]".to_owned();
    assert_refused(
        db.put_entry(&meta, 2_000).await.unwrap_err(),
        "user metadata",
        &db,
    );
    assert!(db.entry(&account(2), "b", "k").await.unwrap().is_none());
    assert_eq!(expiry(&db, 1).await, LATER);
    db.close().await;
}

#[tokio::test]
async fn expired_entries_are_found_and_swept() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(&dir).await;
    objects(&db, 2, &[1, 2, 3, 4]).await;
    db.create_bucket(&account(2), "b", 60, 1_000).await.unwrap();
    for (key, parts, ends) in [
        ("late", &[4][..], 3_000),
        ("first", &[1, 2][..], 1_000),
        ("second", &[3][..], 2_000),
    ] {
        let mut e = entry(2, "b", key, parts);
        e.expires_ms = ends;
        db.put_entry(&e, 500).await.unwrap();
    }
    let due = db.expired_entries(2_500, 10).await.unwrap();
    let due: Vec<(&str, Vec<u8>)> = due
        .iter()
        .map(|e| (e.key.as_str(), part_names(e)))
        .collect();
    assert_eq!(due, [("first", vec![1, 2]), ("second", vec![3])]);
    assert_eq!(db.expired_entries(2_500, 1).await.unwrap().len(), 1);

    let released = db.delete_expired_entries(2_500).await.unwrap();
    assert_eq!(names(&released), [1, 2, 3]);
    assert_eq!(
        [
            expiry(&db, 1).await,
            expiry(&db, 3).await,
            expiry(&db, 4).await
        ],
        [2_500, 2_500, LATER]
    );
    assert!(db.entry(&account(2), "b", "first").await.unwrap().is_none());
    assert!(db.expired_entries(2_500, 10).await.unwrap().is_empty());
    assert!(db.entry(&account(2), "b", "late").await.unwrap().is_some());
    db.close().await;
}
