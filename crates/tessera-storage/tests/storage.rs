//! Integration tests for `tessera-storage` on real SQLite files: round trips through partition and
//! hash databases, the file format (WAL, 64 KiB pages), and every kind of wrong file being refused
//! with one clear line naming it while its bytes stay exactly as they were.

use std::path::{Path, PathBuf};

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};
use tessera_core::AccountId;
use tessera_storage::{
    Chunk, Error, HashDb, Meta, PartitionDb, hash_file_name, partition_file_name,
};

const MINER: u8 = 1;
const VALIDATOR: u8 = 2;

fn account(n: u8) -> AccountId {
    AccountId([n; 32])
}

fn meta(chunk_size: u64) -> Meta {
    Meta {
        miner: account(MINER),
        validator: account(VALIDATOR),
        chunk_size,
        seal_profile: "test".to_owned(),
        seal_passes: 2,
    }
}

/// A chunk whose bytes and root both depend on its id, so a mixed-up row would be noticed.
fn chunk(id: u64, chunk_size: u64) -> Chunk {
    Chunk {
        id,
        data: (0..chunk_size).map(|i| (i as u8) ^ (id as u8)).collect(),
        root: [id as u8 ^ 0xa5; 32],
    }
}

fn root(n: u8) -> [u8; 32] {
    [n; 32]
}

/// The names in `dir`, sorted, to see which companion or temporary files exist.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn partition_path(dir: &Path) -> PathBuf {
    dir.join(partition_file_name(&account(VALIDATOR)))
}

fn hash_path(dir: &Path) -> PathBuf {
    dir.join(hash_file_name(&account(MINER)))
}

/// A raw connection that bypasses the crate, for inspecting or tampering with a closed file.
/// It sets no journal mode so that it changes nothing the test did not ask for.
async fn raw(path: &Path, create: bool) -> sqlx::SqliteConnection {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(create)
        .connect()
        .await
        .unwrap()
}

/// One PRAGMA's value, read through a separate read-only connection.
async fn pragma<T>(path: &Path, name: &str) -> T
where
    T: for<'r> sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite> + Send + Unpin,
{
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .connect()
        .await
        .unwrap();
    let value = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("PRAGMA {name}")))
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    value
}

#[tokio::test]
async fn partition_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = partition_path(dir.path());
    let m = meta(1024);

    let db = PartitionDb::open(&path, &m).await.unwrap();
    assert_eq!(db.path(), path);
    assert_eq!(db.meta(), &m);
    assert_eq!(db.count().await.unwrap(), 0);
    // Two batches, the second out of order: ids, not insertion order, decide the reading order.
    db.insert(&[chunk(0, 1024), chunk(1, 1024), chunk(2, 1024)])
        .await
        .unwrap();
    db.insert(&[chunk(4, 1024), chunk(3, 1024)]).await.unwrap();
    db.close().await;

    let db = PartitionDb::open(&path, &m).await.unwrap();
    assert_eq!(db.count().await.unwrap(), 5);
    assert_eq!(db.chunk_ids().await.unwrap(), vec![0, 1, 2, 3, 4]);
    assert_eq!(db.get(3).await.unwrap(), Some(chunk(3, 1024)));
    assert_eq!(db.get(99).await.unwrap(), None);
    let ids = |page: Vec<Chunk>| page.into_iter().map(|c| c.id).collect::<Vec<_>>();
    assert_eq!(ids(db.page(1, 2).await.unwrap()), vec![1, 2]);
    assert_eq!(ids(db.page(4, 10).await.unwrap()), vec![4]);
    assert_eq!(db.page(0, 10).await.unwrap()[2], chunk(2, 1024));
    assert!(db.page(5, 10).await.unwrap().is_empty());
    assert!(db.page(0, 0).await.unwrap().is_empty());

    // Truncating to 3 chunks keeps ids 0..3 and reports the two that went.
    assert_eq!(db.truncate(3).await.unwrap(), 2);
    assert_eq!(db.chunk_ids().await.unwrap(), vec![0, 1, 2]);
    assert_eq!(db.truncate(3).await.unwrap(), 0);
    db.close().await;

    // The truncation is durable, and inspection without knowing the pair sees the stored meta.
    let db = PartitionDb::open_existing(&path).await.unwrap();
    assert_eq!(db.meta(), &m);
    assert_eq!(db.chunk_ids().await.unwrap(), vec![0, 1, 2]);
    db.close().await;
}

#[tokio::test]
async fn out_of_range_ids_lose_nothing() {
    // Ids are u64 but SQLite integers are i64: a bound past i64::MAX must not wrap to a negative
    // number and so select, or delete, every chunk.
    let dir = tempfile::tempdir().unwrap();
    let path = partition_path(dir.path());
    let db = PartitionDb::open(&path, &meta(1024)).await.unwrap();
    db.insert(&[chunk(0, 1024), chunk(1, 1024)]).await.unwrap();
    assert_eq!(db.truncate(u64::MAX).await.unwrap(), 0);
    assert!(db.page(u64::MAX, 10).await.unwrap().is_empty());
    assert_eq!(db.get(u64::MAX).await.unwrap(), None);
    assert_eq!(db.chunk_ids().await.unwrap(), vec![0, 1]);
    db.close().await;
}

#[tokio::test]
async fn hash_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = hash_path(dir.path());
    let m = meta(4096);

    let db = HashDb::open(&path, &m).await.unwrap();
    assert_eq!(db.meta(), &m);
    db.insert(&[(2, root(2)), (0, root(0)), (1, root(1))])
        .await
        .unwrap();
    // Re-recording a root replaces it rather than failing or duplicating.
    db.insert(&[(1, root(11))]).await.unwrap();
    db.close().await;

    let db = HashDb::open(&path, &m).await.unwrap();
    assert_eq!(db.count().await.unwrap(), 3);
    assert_eq!(db.get(1).await.unwrap(), Some(root(11)));
    assert_eq!(db.get(7).await.unwrap(), None);
    assert_eq!(
        db.roots().await.unwrap(),
        vec![(0, root(0)), (1, root(11)), (2, root(2))]
    );
    // Spent roots go; unknown and unstorable ids are no error.
    assert_eq!(db.discard(&[0, 2, 9, u64::MAX]).await.unwrap(), 2);
    assert_eq!(db.roots().await.unwrap(), vec![(1, root(11))]);
    db.close().await;
}

#[tokio::test]
async fn bad_chunk_refuses_the_whole_batch() {
    let dir = tempfile::tempdir().unwrap();
    let path = partition_path(dir.path());
    let db = PartitionDb::open(&path, &meta(1024)).await.unwrap();
    db.insert(&[chunk(0, 1024)]).await.unwrap();

    // The short chunk comes after a good one: the good one must be rolled back with it.
    let mut short = chunk(2, 1024);
    short.data.pop();
    let err = db
        .insert(&[chunk(1, 1024), short, chunk(3, 1024)])
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::ChunkLength {
                id: 2,
                len: 1023,
                chunk_size: 1024,
                ..
            }
        ),
        "{err:?}"
    );
    assert_one_line_naming(&err, &path);
    assert_eq!(db.chunk_ids().await.unwrap(), vec![0]);

    // A duplicate id is refused by SQLite mid-batch; again nothing of the batch stays.
    let err = db
        .insert(&[chunk(5, 1024), chunk(0, 1024)])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Sqlite { .. }), "{err:?}");
    assert_one_line_naming(&err, &path);
    assert_eq!(db.chunk_ids().await.unwrap(), vec![0]);

    // The failed batches left no transaction open: the pool still writes, and it all persists.
    db.insert(&[chunk(1, 1024)]).await.unwrap();
    db.close().await;
    let db = PartitionDb::open(&path, &meta(1024)).await.unwrap();
    assert_eq!(db.chunk_ids().await.unwrap(), vec![0, 1]);
    db.close().await;
}

#[tokio::test]
async fn file_is_wal_with_large_pages() {
    let dir = tempfile::tempdir().unwrap();
    for (path, is_partition) in [
        (partition_path(dir.path()), true),
        (hash_path(dir.path()), false),
    ] {
        let m = meta(4096);
        if is_partition {
            let db = PartitionDb::open(&path, &m).await.unwrap();
            db.insert(&[chunk(0, 4096)]).await.unwrap();
            // Asked through a separate connection while the crate's pool is open.
            assert_eq!(pragma::<String>(&path, "journal_mode").await, "wal");
            assert_eq!(pragma::<i64>(&path, "page_size").await, 65536);
            db.close().await;
        } else {
            let db = HashDb::open(&path, &m).await.unwrap();
            db.insert(&[(0, root(0))]).await.unwrap();
            assert_eq!(pragma::<String>(&path, "journal_mode").await, "wal");
            assert_eq!(pragma::<i64>(&path, "page_size").await, 65536);
            db.close().await;
        }
        // Partitions are at migration 4 (data slots, the commitment's tree, then the sequence
        // number of the last size change), hash databases at 1.
        let version = if is_partition { 4 } else { 1 };
        assert_eq!(pragma::<i64>(&path, "user_version").await, version);
        // The header on disk says the same (see sqlite.org/fileformat.html): page size 1 means
        // 65536, read/write versions 2 mean WAL, and the application id spells "TESS".
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..16], b"SQLite format 3\0");
        assert_eq!(&bytes[16..18], &[0, 1]);
        assert_eq!(&bytes[18..20], &[2, 2]);
        assert_eq!(&bytes[68..72], b"TESS");
        assert_eq!(bytes.len() % 65536, 0);
    }
}

#[tokio::test]
async fn creation_leaves_no_temporary_and_close_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let path = partition_path(dir.path());
    let name = partition_file_name(&account(VALIDATOR));

    let db = PartitionDb::open(&path, &meta(1024)).await.unwrap();
    // While open, only the file and its WAL companions may exist: the `.data-*.new` file it was
    // built in has been renamed into place.
    for entry in listing(dir.path()) {
        assert!(entry.starts_with(&name), "unexpected file {entry}");
        assert!(!entry.ends_with(".new"), "temporary left behind: {entry}");
    }
    db.insert(&[chunk(0, 1024), chunk(1, 1024)]).await.unwrap();
    db.close().await;
    // Closing checkpoints the WAL into the file and removes the companions.
    assert_eq!(listing(dir.path()), vec![name.clone()]);

    // So the file alone carries the data: a copy of it without any companion reads back whole.
    let copy = dir.path().join("copy");
    std::fs::copy(&path, &copy).unwrap();
    let db = PartitionDb::open(&copy, &meta(1024)).await.unwrap();
    assert_eq!(db.chunk_ids().await.unwrap(), vec![0, 1]);
    db.close().await;
}

#[tokio::test]
async fn a_stale_temporary_from_a_crashed_creation_is_replaced() {
    // A creation killed before its rename leaves a half-built `.data-*.new`, perhaps with a WAL;
    // the next open must build afresh rather than adopt it, and leave none of it behind.
    let dir = tempfile::tempdir().unwrap();
    let path = partition_path(dir.path());
    let name = partition_file_name(&account(VALIDATOR));
    std::fs::write(dir.path().join(format!(".{name}.new")), b"half a database").unwrap();
    std::fs::write(dir.path().join(format!(".{name}.new-wal")), b"stale wal").unwrap();

    let db = PartitionDb::open(&path, &meta(1024)).await.unwrap();
    assert_eq!(db.count().await.unwrap(), 0);
    db.close().await;
    assert_eq!(listing(dir.path()), vec![name]);
}

#[tokio::test]
async fn committed_data_survives_a_drop_without_close() {
    // An owner dropped on an error path, or a process that dies, never calls close(); what was
    // committed must still be there.
    let dir = tempfile::tempdir().unwrap();
    let path = partition_path(dir.path());
    let db = PartitionDb::open(&path, &meta(1024)).await.unwrap();
    db.insert(&[chunk(0, 1024), chunk(1, 1024)]).await.unwrap();
    drop(db);
    let db = PartitionDb::open(&path, &meta(1024)).await.unwrap();
    assert_eq!(db.chunk_ids().await.unwrap(), vec![0, 1]);
    db.close().await;
}

#[tokio::test]
async fn remove_deletes_the_file_and_tolerates_absence() {
    let dir = tempfile::tempdir().unwrap();
    let path = partition_path(dir.path());
    let db = PartitionDb::open(&path, &meta(1024)).await.unwrap();
    db.close().await;
    PartitionDb::remove(&path).unwrap();
    assert!(listing(dir.path()).is_empty());
    PartitionDb::remove(&path).unwrap();

    let path = hash_path(dir.path());
    HashDb::open(&path, &meta(1024))
        .await
        .unwrap()
        .close()
        .await;
    HashDb::remove(&path).unwrap();
    assert!(listing(dir.path()).is_empty());
}

#[test]
fn file_names_follow_the_prototype() {
    let v = account(VALIDATOR);
    let m = account(MINER);
    assert_eq!(partition_file_name(&v), format!("data-{}", v.to_ss58()));
    assert_eq!(hash_file_name(&m), format!("hashes-{}", m.to_ss58()));
}

// ---- wrong files -------------------------------------------------------------------------------

/// How the file under test is made before the crate is asked to open it.
enum Make {
    /// A closed partition database with this meta and a few chunks.
    Partition(Meta),
    /// A closed hash database with this meta and a few roots.
    Hashes(Meta),
    /// Arbitrary bytes.
    Bytes(Vec<u8>),
    /// A directory where the file should be.
    Directory,
    /// An SQLite database that some other program made.
    Foreign,
    /// A closed partition cut to `f(len)` bytes, as by a full disk or an interrupted copy.
    Cut(fn(u64) -> u64),
    /// A closed partition whose `user_version` a newer build has raised.
    Future(i64),
}

/// How the crate is asked to open it.
enum Open {
    Partition(Meta),
    Hashes(Meta),
    Existing,
}

struct Case {
    name: &'static str,
    make: Make,
    open: Open,
    is: fn(&Error) -> bool,
    says: &'static str,
}

async fn make(path: &Path, how: &Make) {
    match how {
        Make::Partition(m) => {
            let db = PartitionDb::open(path, m).await.unwrap();
            let size = m.chunk_size;
            db.insert(&[chunk(0, size), chunk(1, size), chunk(2, size)])
                .await
                .unwrap();
            db.close().await;
        }
        Make::Hashes(m) => {
            let db = HashDb::open(path, m).await.unwrap();
            db.insert(&[(0, root(0)), (1, root(1))]).await.unwrap();
            db.close().await;
        }
        Make::Bytes(bytes) => std::fs::write(path, bytes).unwrap(),
        Make::Directory => std::fs::create_dir(path).unwrap(),
        Make::Foreign => {
            let mut conn = raw(path, true).await;
            sqlx::raw_sql("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('hello');")
                .execute(&mut conn)
                .await
                .unwrap();
            conn.close().await.unwrap();
        }
        Make::Cut(f) => {
            Box::pin(make(path, &Make::Partition(meta(1024)))).await;
            let len = std::fs::metadata(path).unwrap().len();
            let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
            file.set_len(f(len)).unwrap();
        }
        Make::Future(version) => {
            Box::pin(make(path, &Make::Partition(meta(1024)))).await;
            let mut conn = raw(path, false).await;
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "PRAGMA user_version = {version}"
            )))
            .execute(&mut conn)
            .await
            .unwrap();
            conn.close().await.unwrap();
        }
    }
}

async fn open(path: &Path, how: &Open) -> Result<(), Error> {
    match how {
        Open::Partition(m) => PartitionDb::open(path, m).await?.close().await,
        Open::Hashes(m) => HashDb::open(path, m).await?.close().await,
        Open::Existing => PartitionDb::open_existing(path).await?.close().await,
    }
    Ok(())
}

fn assert_one_line_naming(err: &Error, path: &Path) {
    let text = err.to_string();
    assert!(!text.contains('\n'), "more than one line: {text}");
    assert!(
        text.contains(&path.display().to_string()),
        "does not name {}: {text}",
        path.display()
    );
}

/// Makes the file, opens it, and checks that the open fails as the case says, with one line
/// naming the file, and that neither the file nor anything beside it was changed.
async fn check(case: Case) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("target-db");
    make(&path, &case.make).await;
    let before = listing(dir.path());
    let bytes = std::fs::read(&path).ok();

    let err = match open(&path, &case.open).await {
        Ok(()) => panic!("{}: opened a wrong file", case.name),
        Err(e) => e,
    };
    assert!((case.is)(&err), "{}: wrong error {err:?}", case.name);
    assert_one_line_naming(&err, &path);
    let text = err.to_string();
    assert!(
        text.contains(case.says),
        "{}: {text:?} lacks {:?}",
        case.name,
        case.says
    );

    // Not assert_eq!, which would print every byte of the file.
    assert!(
        std::fs::read(&path).ok() == bytes,
        "{}: the file was changed",
        case.name
    );
    assert_eq!(
        listing(dir.path()),
        before,
        "{}: files appeared or went",
        case.name
    );
}

#[tokio::test]
async fn wrong_files_are_refused_and_left_alone() {
    let with = |f: fn(&mut Meta)| {
        let mut m = meta(1024);
        f(&mut m);
        m
    };
    let cases = vec![
        Case {
            name: "partition of another miner",
            make: Make::Partition(meta(1024)),
            open: Open::Partition(with(|m| m.miner = account(9))),
            is: |e| matches!(e, Error::WrongPair { .. }),
            says: "belongs to miner",
        },
        Case {
            name: "partition of another validator",
            make: Make::Partition(meta(1024)),
            open: Open::Partition(with(|m| m.validator = account(9))),
            is: |e| matches!(e, Error::WrongPair { .. }),
            says: "belongs to miner",
        },
        Case {
            name: "hash database of another miner",
            make: Make::Hashes(meta(1024)),
            open: Open::Hashes(with(|m| m.miner = account(9))),
            is: |e| matches!(e, Error::WrongPair { .. }),
            says: "belongs to miner",
        },
        Case {
            name: "partition of another chunk size",
            make: Make::Partition(meta(1024)),
            open: Open::Partition(meta(4096)),
            is: |e| matches!(e, Error::SealMismatch { .. }),
            says: "chunk size 1024",
        },
        Case {
            name: "partition of another seal profile",
            make: Make::Partition(meta(1024)),
            open: Open::Partition(with(|m| m.seal_profile = "other".to_owned())),
            is: |e| matches!(e, Error::SealMismatch { .. }),
            says: "profile test (2 passes)",
        },
        Case {
            name: "partition of another pass count",
            make: Make::Partition(meta(1024)),
            open: Open::Partition(with(|m| m.seal_passes = 3)),
            is: |e| matches!(e, Error::SealMismatch { .. }),
            says: "(3 passes)",
        },
        Case {
            name: "hash database of another chunk size",
            make: Make::Hashes(meta(1024)),
            open: Open::Hashes(meta(4096)),
            is: |e| matches!(e, Error::SealMismatch { .. }),
            says: "chunk size 1024",
        },
        Case {
            name: "hash database opened as a partition",
            make: Make::Hashes(meta(1024)),
            open: Open::Partition(meta(1024)),
            is: |e| matches!(e, Error::NotOurs { .. }),
            says: "it is a hash database",
        },
        Case {
            name: "hash database inspected as a partition",
            make: Make::Hashes(meta(1024)),
            open: Open::Existing,
            is: |e| matches!(e, Error::NotOurs { .. }),
            says: "it is a hash database",
        },
        Case {
            name: "partition opened as a hash database",
            make: Make::Partition(meta(1024)),
            open: Open::Hashes(meta(1024)),
            is: |e| matches!(e, Error::NotOurs { .. }),
            says: "it is a partition database",
        },
        Case {
            name: "short text file",
            make: Make::Bytes(b"miner = 5Grw\n".to_vec()),
            open: Open::Partition(meta(1024)),
            is: |e| matches!(e, Error::NotOurs { .. }),
            says: "not an sqlite file",
        },
        Case {
            name: "large non-SQLite file",
            make: Make::Bytes((0..200_000u32).map(|i| (i % 251) as u8).collect()),
            open: Open::Hashes(meta(1024)),
            is: |e| matches!(e, Error::NotOurs { .. }),
            says: "not a tessera hash database",
        },
        Case {
            name: "directory",
            make: Make::Directory,
            open: Open::Partition(meta(1024)),
            is: |e| matches!(e, Error::Io { .. }),
            says: "directory",
        },
        Case {
            name: "foreign SQLite database",
            make: Make::Foreign,
            open: Open::Partition(meta(1024)),
            is: |e| matches!(e, Error::NotOurs { .. }),
            says: "application id 0x0",
        },
        Case {
            name: "foreign SQLite database inspected",
            make: Make::Foreign,
            open: Open::Existing,
            is: |e| matches!(e, Error::NotOurs { .. }),
            says: "application id 0x0",
        },
        Case {
            name: "partition cut in half",
            make: Make::Cut(|len| len / 2),
            open: Open::Partition(meta(1024)),
            is: |e| matches!(e, Error::Truncated { .. }),
            says: "truncated",
        },
        Case {
            name: "partition cut by one whole page",
            make: Make::Cut(|len| len - 65536),
            open: Open::Partition(meta(1024)),
            is: |e| matches!(e, Error::Truncated { .. }),
            says: "truncated",
        },
        Case {
            name: "partition cut to 50 bytes",
            make: Make::Cut(|_| 50),
            open: Open::Partition(meta(1024)),
            is: |e| matches!(e, Error::Truncated { actual: 50, .. }),
            says: "truncated",
        },
        Case {
            name: "partition cut to nothing",
            make: Make::Cut(|_| 0),
            open: Open::Existing,
            is: |e| matches!(e, Error::Truncated { actual: 0, .. }),
            says: "truncated",
        },
        Case {
            name: "schema newer than this build",
            make: Make::Future(99),
            open: Open::Partition(meta(1024)),
            is: |e| {
                matches!(
                    e,
                    Error::SchemaTooNew {
                        found: 99,
                        supported: 4,
                        ..
                    }
                )
            },
            says: "schema version 99",
        },
        Case {
            name: "schema newer than this build, inspected",
            make: Make::Future(5),
            open: Open::Existing,
            is: |e| matches!(e, Error::SchemaTooNew { found: 5, .. }),
            says: "upgrade tessera",
        },
    ];
    for case in cases {
        check(case).await;
    }
}

#[tokio::test]
async fn a_refused_file_can_still_be_opened_by_its_owner() {
    // Refusing must not damage: after a wrong-pair attempt the right pair reads every chunk.
    let dir = tempfile::tempdir().unwrap();
    let path = partition_path(dir.path());
    make(&path, &Make::Partition(meta(1024))).await;
    let mut other = meta(1024);
    other.validator = account(9);
    assert!(PartitionDb::open(&path, &other).await.is_err());
    assert!(HashDb::open(&path, &meta(1024)).await.is_err());
    let db = PartitionDb::open(&path, &meta(1024)).await.unwrap();
    assert_eq!(db.chunk_ids().await.unwrap(), vec![0, 1, 2]);
    db.close().await;
}

#[tokio::test]
async fn data_slots_survive_shrinking_and_release_only_data() {
    let dir = tempfile::tempdir().unwrap();
    let db = PartitionDb::open(&partition_path(dir.path()), &meta(1024))
        .await
        .unwrap();
    db.insert(&[
        chunk(0, 1024),
        chunk(1, 1024),
        chunk(2, 1024),
        chunk(3, 1024),
    ])
    .await
    .unwrap();
    db.store_data(3, &[9; 1024], &root(9)).await.unwrap();
    assert!(
        db.store_data(2, &[9; 10], &root(9)).await.is_err(),
        "one chunk exactly"
    );
    assert_eq!(db.data_ids().await.unwrap(), vec![3]);
    assert!(db.is_data(3).await.unwrap() && !db.is_data(2).await.unwrap());
    // A shrink to two chunks drops filler 2 but keeps the piece in slot 3.
    assert_eq!(db.truncate(2).await.unwrap(), 1);
    assert_eq!(db.chunk_ids().await.unwrap(), vec![0, 1, 3]);
    assert_eq!(db.get(3).await.unwrap().unwrap().data, vec![9; 1024]);
    // Release touches data slots only.
    assert_eq!(db.release_data(&[0, 3, 7]).await.unwrap(), vec![3]);
    assert_eq!(db.chunk_ids().await.unwrap(), vec![0, 1]);
    db.close().await;
}

/// A crash in the middle of a checkpoint: the main file already has the new page 1, whose header
/// counts pages that only the WAL holds yet. SQLite replays the WAL on open, so such a file is
/// whole, not truncated; the same file with its WAL gone is refused as truncated.
#[tokio::test]
async fn a_checkpoint_cut_short_is_recovered_from_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let path = partition_path(dir.path());
    let size = 64 << 10;
    let db = PartitionDb::open(&path, &meta(size)).await.unwrap();
    db.insert(&[chunk(0, size), chunk(1, size)]).await.unwrap();
    db.close().await;
    let before = std::fs::read(&path).unwrap();

    // More rows, left in the WAL (far below any checkpoint threshold); its bytes are taken while
    // the connection is open, as a crash would leave them.
    let db = PartitionDb::open(&path, &meta(size)).await.unwrap();
    db.insert(&[chunk(2, size), chunk(3, size), chunk(4, size)])
        .await
        .unwrap();
    let wal_path = PathBuf::from(format!("{}-wal", path.display()));
    let wal = std::fs::read(&wal_path).unwrap();
    assert!(!wal.is_empty());
    db.close().await;
    let after = std::fs::read(&path).unwrap();
    assert!(after.len() > before.len(), "the rows made the file grow");

    // The crash state: the checkpoint wrote page 1 (the header with the new count) and stopped.
    let page = 64 << 10;
    let mut crashed = after[..page].to_vec();
    crashed.extend_from_slice(&before[page..]);
    std::fs::write(&path, &crashed).unwrap();
    std::fs::write(&wal_path, &wal).unwrap();
    let _ = std::fs::remove_file(format!("{}-shm", path.display()));

    let db = PartitionDb::open(&path, &meta(size)).await.unwrap();
    assert_eq!(db.count().await.unwrap(), 5);
    for id in 0..5 {
        assert_eq!(
            db.get(id).await.unwrap(),
            Some(chunk(id, size)),
            "chunk {id}"
        );
    }
    db.close().await;

    // Without its WAL the same main file is short of its header: refused, and left as it was.
    std::fs::write(&path, &crashed).unwrap();
    let _ = std::fs::remove_file(&wal_path);
    let _ = std::fs::remove_file(format!("{}-shm", path.display()));
    let err = PartitionDb::open(&path, &meta(size)).await.unwrap_err();
    assert!(matches!(err, Error::Truncated { .. }), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), crashed);
}
