//! Schema migrations through sqlx's migrator: files made before it (their version in
//! `user_version` alone) are bridged and migrated forward keeping their rows, a file of another
//! kind is still refused untouched, and a released migration file never changes unnoticed.

use std::path::Path;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{ConnectOptions, Connection, SqliteConnection};
use tessera_core::AccountId;
use tessera_storage::{
    Chunk, EntryPart, Error, HashDb, Meta, NewObject, PartitionDb, PendingCommit, S3Entry,
    S3Headers, StateDb,
};

/// `application_id` of Tessera's files, as the runner before sqlx wrote it with every step.
const APPLICATION_ID: i64 = 0x5445_5353;

const PARTITION: [&str; 4] = [
    include_str!("../migrations/partition/0001_meta_and_chunks.sql"),
    include_str!("../migrations/partition/0002_chunk_kind.sql"),
    include_str!("../migrations/partition/0003_commitment_tree.sql"),
    include_str!("../migrations/partition/0004_size_seq.sql"),
];
const HASHES: [&str; 1] = [include_str!("../migrations/hashes/0001_meta_and_roots.sql")];
const STATE: [&str; 9] = [
    include_str!("../migrations/state/0001_validator_state.sql"),
    include_str!("../migrations/state/0002_object_index.sql"),
    include_str!("../migrations/state/0003_failed_placements.sql"),
    include_str!("../migrations/state/0004_weight_commits.sql"),
    include_str!("../migrations/state/0005_challenges_v2.sql"),
    include_str!("../migrations/state/0006_releases.sql"),
    include_str!("../migrations/state/0007_resealing.sql"),
    include_str!("../migrations/state/0008_s3.sql"),
    include_str!("../migrations/state/0009_s3_tails.sql"),
];

fn account(n: u8) -> AccountId {
    AccountId([n; 32])
}

fn meta() -> Meta {
    Meta {
        miner: account(1),
        validator: account(2),
        chunk_size: 1024,
        seal_profile: "test".to_owned(),
        seal_passes: 2,
    }
}

fn partition_meta_rows() -> Vec<(&'static str, String)> {
    let m = meta();
    vec![
        ("kind", "partition".to_owned()),
        ("miner", m.miner.to_ss58()),
        ("validator", m.validator.to_ss58()),
        ("chunk_size", m.chunk_size.to_string()),
        ("seal_profile", m.seal_profile),
        ("seal_passes", m.seal_passes.to_string()),
    ]
}

async fn connect(path: &Path, create: bool) -> SqliteConnection {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(create)
        .page_size(65536)
        .journal_mode(SqliteJournalMode::Wal)
        .connect()
        .await
        .unwrap()
}

/// A file as the runner before sqlx left it after `steps`: each step's SQL with both pragmas in
/// one transaction, the version in `user_version` and no `_sqlx_migrations`; then its `meta`.
/// The connection is returned for the caller's rows.
async fn old_file(path: &Path, steps: &[&str], meta: &[(&str, String)]) -> SqliteConnection {
    let mut conn = connect(path, true).await;
    for (i, sql) in steps.iter().enumerate() {
        let mut tx = conn.begin().await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "{sql}\n;PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {};",
            i + 1
        )))
        .execute(&mut *tx)
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    for (key, value) in meta {
        sqlx::query("INSERT INTO meta (key, value) VALUES (?, ?)")
            .bind(key)
            .bind(value)
            .execute(&mut conn)
            .await
            .unwrap();
    }
    conn
}

/// `(version, execution_time, checksum)` of every recorded step; sqlx writes -1 for a step it
/// was told to record without running.
async fn recorded(path: &Path) -> Vec<(i64, i64, Vec<u8>)> {
    let mut conn = connect(path, false).await;
    let rows = sqlx::query_as(
        "SELECT version, execution_time, checksum FROM _sqlx_migrations \
         WHERE success ORDER BY version",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    rows
}

async fn user_version(path: &Path) -> i64 {
    let mut conn = connect(path, false).await;
    let v = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    v
}

async fn has_migrations_table(path: &Path) -> bool {
    let mut conn = connect(path, false).await;
    let found = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = '_sqlx_migrations')",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    found
}

/// The checksums a file made today records, so that a bridged file can be held to them.
async fn fresh_checksums(dir: &Path) -> Vec<Vec<u8>> {
    let path = dir.join("fresh");
    PartitionDb::open(&path, &meta())
        .await
        .unwrap()
        .close()
        .await;
    recorded(&path).await.into_iter().map(|r| r.2).collect()
}

#[tokio::test]
async fn an_old_partition_is_bridged_and_migrated_keeping_its_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    // Version 2: chunks with their kind, no commitment tree yet.
    let mut conn = old_file(&path, &PARTITION[..2], &partition_meta_rows()).await;
    for (id, kind) in [(0u8, 0), (1, 1)] {
        sqlx::query("INSERT INTO chunks (id, data, root, kind) VALUES (?, ?, ?, ?)")
            .bind(i64::from(id))
            .bind(vec![id; 1024])
            .bind(vec![id ^ 0xa5; 32])
            .bind(kind)
            .execute(&mut conn)
            .await
            .unwrap();
    }
    conn.close().await.unwrap();

    let db = PartitionDb::open(&path, &meta()).await.unwrap();
    let kept = db.get(1).await.unwrap().unwrap();
    assert_eq!((kept.data, kept.root), (vec![1; 1024], [0xa4; 32]));
    assert!(db.is_data(1).await.unwrap() && !db.is_data(0).await.unwrap());
    // Step 3's index and triggers are there: the leaves read back, and a write is logged.
    assert_eq!(db.leaves(0..2).await.unwrap(), vec![[0xa5; 32], [0xa4; 32]]);
    let seq = db.tree().await.unwrap().seq;
    db.insert(&[Chunk {
        id: 2,
        data: vec![2; 1024],
        root: [2; 32],
    }])
    .await
    .unwrap();
    assert_eq!(db.tree().await.unwrap().seq, seq + 1);
    db.close().await;

    // Steps 1 and 2 recorded without running (-1), 3 and 4 run, all with today's checksums.
    let rows = recorded(&path).await;
    let versions: Vec<_> = rows.iter().map(|r| (r.0, r.1 == -1)).collect();
    assert_eq!(versions, [(1, true), (2, true), (3, false), (4, false)]);
    let checksums: Vec<_> = rows.into_iter().map(|r| r.2).collect();
    assert_eq!(checksums, fresh_checksums(dir.path()).await);
    assert_eq!(user_version(&path).await, 4);

    // Opened again, nothing is left to do.
    PartitionDb::open_existing(&path)
        .await
        .unwrap()
        .close()
        .await;
    assert_eq!(recorded(&path).await.len(), 4);
}

#[tokio::test]
async fn an_old_state_file_is_bridged_and_migrated_keeping_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state");
    // Version 4: weight commits, no challenges v2, releases, resealing or S3 face yet.
    let rows = [
        ("kind", "validator state".to_owned()),
        ("validator", account(2).to_ss58()),
    ];
    let mut conn = old_file(&path, &STATE[..4], &rows).await;
    sqlx::query("INSERT INTO blacklist (hotkey, reason, added_ms) VALUES (?, 'kept', 1)")
        .bind(account(9).to_ss58())
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();

    let db = StateDb::open(&path, &account(2)).await.unwrap();
    assert!(db.is_blacklisted(&account(9)).await.unwrap());
    let commit = PendingCommit {
        hash: [3; 32],
        netuid: 7,
        uids: vec![1, 2],
        values: vec![10, 20],
        salt: vec![5],
        version_key: 1,
        commit_block: 100,
        epoch: 4,
        created_ms: 1_000,
    };
    db.save_commit(&commit).await.unwrap();
    assert_eq!(db.pending_commits().await.unwrap(), vec![commit]);
    db.close().await;

    let versions: Vec<_> = recorded(&path)
        .await
        .iter()
        .map(|r| (r.0, r.1 == -1))
        .collect();
    assert_eq!(
        versions,
        [
            (1, true),
            (2, true),
            (3, true),
            (4, true),
            (5, false),
            (6, false),
            (7, false),
            (8, false),
            (9, false)
        ]
    );
    assert_eq!(user_version(&path).await, 9);
    let mut conn = connect(&path, false).await;
    for sql in [
        "SELECT COUNT(*) FROM resealing",
        "SELECT COUNT(*) FROM s3_entries",
    ] {
        sqlx::query(sql).execute(&mut conn).await.unwrap();
    }
    conn.close().await.unwrap();
}

/// A state file as the release before the S3 face left it (version 7, every step in sqlx's
/// table) gains migrations 8 and 9 alone on open, keeping its rows, and an object indexed before can be
/// an entry's part after.
#[tokio::test]
async fn a_version_7_state_file_gains_the_s3_face() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state");
    let db = StateDb::open(&path, &account(2)).await.unwrap();
    db.blacklist_add(&account(9), "kept", 1).await.unwrap();
    let object = NewObject {
        id: [4; 16],
        owner: account(5),
        size: 10,
        digest: [4; 32],
        k: 2,
        n: 3,
        piece_size: 1024,
        segments: 1,
        created_ms: 1_000,
        expires_ms: 100_000,
    };
    db.begin_object(&object).await.unwrap();
    db.close().await;
    let before = recorded(&path).await;
    // Step 8 taken back by hand: what the release before it wrote is steps 1 to 7, as today.
    let mut conn = connect(&path, false).await;
    for sql in [
        "DROP TABLE s3_upload_parts",
        "DROP TABLE s3_uploads",
        "DROP TABLE s3_entry_parts",
        "DROP TABLE s3_entries",
        "DROP TABLE s3_buckets",
        "DROP TABLE s3_keys",
        "DELETE FROM _sqlx_migrations WHERE version >= 8",
        "PRAGMA user_version = 7",
    ] {
        sqlx::query(sql).execute(&mut conn).await.unwrap();
    }
    conn.close().await.unwrap();
    assert_eq!(user_version(&path).await, 7);

    let db = StateDb::open(&path, &account(2)).await.unwrap();
    assert!(db.is_blacklisted(&account(9)).await.unwrap());
    assert!(db.create_bucket(&account(5), "b", 60, 2_000).await.unwrap());
    let entry = S3Entry {
        owner: account(5),
        bucket: "b".to_owned(),
        key: "k".to_owned(),
        size: 10,
        etag: "e".to_owned(),
        modified_ms: 2_000,
        expires_ms: 100_000,
        headers: S3Headers::default(),
        parts: vec![EntryPart {
            object: [4; 16],
            size: 10,
            tail: Vec::new(),
        }],
    };
    db.put_entry(&entry, 2_000).await.unwrap();
    assert_eq!(db.entry(&account(5), "b", "k").await.unwrap(), Some(entry));
    db.close().await;

    // Steps 1 to 7 as they were; 8 and 9 run now, with the checksums a new file records.
    let after = recorded(&path).await;
    assert_eq!(after.len(), 9);
    assert_eq!(after[..7], before[..7]);
    for step in [7, 8] {
        assert_eq!(
            (after[step].0, after[step].2.clone()),
            (step as i64 + 1, before[step].2.clone())
        );
        assert_ne!(after[step].1, -1, "step {} ran", step + 1);
    }
    assert_eq!(user_version(&path).await, 9);
}

#[tokio::test]
async fn an_old_hash_file_at_the_latest_version_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hashes");
    let mut rows = partition_meta_rows();
    rows[0].1 = "hash".to_owned();
    let mut conn = old_file(&path, &HASHES, &rows).await;
    sqlx::query("INSERT INTO roots (id, root) VALUES (5, ?)")
        .bind(vec![5u8; 32])
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();

    let db = HashDb::open(&path, &meta()).await.unwrap();
    assert_eq!(db.roots().await.unwrap(), vec![(5, [5; 32])]);
    db.close().await;
    let versions: Vec<_> = recorded(&path)
        .await
        .iter()
        .map(|r| (r.0, r.1 == -1))
        .collect();
    assert_eq!(versions, [(1, true)]);
}

/// The kind and owner are checked before anything is bridged: a refused old file keeps its bytes
/// and gains no `_sqlx_migrations`.
#[tokio::test]
async fn an_old_file_of_another_kind_is_refused_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    old_file(&path, &PARTITION[..2], &partition_meta_rows())
        .await
        .close()
        .await
        .unwrap();
    let bytes = std::fs::read(&path).unwrap();

    let err = StateDb::open(&path, &account(2)).await.unwrap_err();
    assert!(matches!(err, Error::NotOurs { .. }), "{err:?}");
    assert!(
        err.to_string().contains("it is a partition database"),
        "{err}"
    );
    let err = HashDb::open(&path, &meta()).await.unwrap_err();
    assert!(matches!(err, Error::NotOurs { .. }), "{err:?}");
    assert!(
        std::fs::read(&path).unwrap() == bytes,
        "the file was changed"
    );
    assert!(!has_migrations_table(&path).await);
}

/// A step recorded with another checksum means its file was edited after release; the file is
/// refused rather than run against a schema nobody wrote.
#[tokio::test]
async fn a_step_whose_file_changed_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    PartitionDb::open(&path, &meta())
        .await
        .unwrap()
        .close()
        .await;
    let mut conn = connect(&path, false).await;
    sqlx::query("UPDATE _sqlx_migrations SET checksum = x'00' WHERE version = 2")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();

    let err = PartitionDb::open(&path, &meta()).await.unwrap_err();
    assert!(matches!(err, Error::Migrate { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("migration 2 was previously applied but has been modified"),
        "{text}"
    );
    assert!(text.contains(&path.display().to_string()), "{text}");
}

/// A step only a newer build knows, recorded in sqlx's table while `user_version` says
/// otherwise, is still a newer schema.
#[tokio::test]
async fn a_step_recorded_by_a_newer_build_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    PartitionDb::open(&path, &meta())
        .await
        .unwrap()
        .close()
        .await;
    let mut conn = connect(&path, false).await;
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (5, 'from the future', TRUE, x'00', 0)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();

    let err = PartitionDb::open(&path, &meta()).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::SchemaTooNew {
                found: 5,
                supported: 4,
                ..
            }
        ),
        "{err:?}"
    );
}

/// Every file in `migrations/<kind>` is a step a new file runs, numbered and described as its
/// name says, and none has changed since release (the first 16 hex digits of its SHA-384, as
/// sqlx records it). Editing a released file would make every database that ran it refuse to
/// open; a change is a new file, and its checksum is added here.
#[tokio::test]
async fn released_migrations_are_unchanged_and_all_listed() {
    let dir = tempfile::tempdir().unwrap();
    let released: [(&str, &[&str]); 3] = [
        (
            "partition",
            &[
                "1 meta and chunks 67F328C4A576E053",
                "2 chunk kind 58BC450C37737E81",
                "3 commitment tree E39734FE29FC2142",
                "4 size seq 2C8F04FE812708BA",
            ],
        ),
        ("hashes", &["1 meta and roots E84D36087C80C975"]),
        (
            "state",
            &[
                "1 validator state 7851D32984A33CEB",
                "2 object index 1C1E4D410873D6C3",
                "3 failed placements 417C53C365766CE1",
                "4 weight commits C78B36D63CFB3270",
                "5 challenges v2 2331E56D680C1A9A",
                "6 releases 1C22C5F579F8300E",
                "7 resealing C8A6C8E99C1D4E9C",
                "8 s3 1B73B0784F147A0F",
                "9 s3 tails 9BAC805CF5319EBB",
            ],
        ),
    ];
    for (kind, want) in released {
        let path = dir.path().join(kind);
        match kind {
            "partition" => {
                PartitionDb::open(&path, &meta())
                    .await
                    .unwrap()
                    .close()
                    .await
            }
            "hashes" => HashDb::open(&path, &meta()).await.unwrap().close().await,
            _ => {
                StateDb::open(&path, &account(2))
                    .await
                    .unwrap()
                    .close()
                    .await
            }
        }
        let mut conn = connect(&path, false).await;
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT version || ' ' || description || ' ' || substr(hex(checksum), 1, 16)
             FROM _sqlx_migrations ORDER BY version",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
        assert_eq!(rows, want, "{kind}: a released migration changed");

        let mut files: Vec<String> = std::fs::read_dir(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations")
                .join(kind),
        )
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
        files.sort();
        let named: Vec<String> = files
            .iter()
            .map(|f| {
                let (n, what) = f.trim_end_matches(".sql").split_once('_').unwrap();
                format!("{} {}", n.parse::<i64>().unwrap(), what.replace('_', " "))
            })
            .collect();
        let run: Vec<String> = rows
            .iter()
            .map(|r| r.rsplit_once(' ').unwrap().0.to_owned())
            .collect();
        assert_eq!(
            named, run,
            "{kind}: a file in migrations/ is not a step, or out of order"
        );
    }
}
