//! Integration tests for the validator state database on real SQLite files: what is written comes
//! back after a reopen, the window is counted right, a round is written whole or not at all, and
//! a file of another validator or another kind is refused and left exactly as it was.

use std::path::Path;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};
use tessera_core::AccountId;
use tessera_storage::{
    ChallengeRecord, Chunk, Error, HashDb, HeldCommitment, Lie, Meta, MinerRecord, MinerStats,
    PartitionDb, PendingCommit, StateDb, Window,
};

const VALIDATOR: u8 = 2;

fn account(n: u8) -> AccountId {
    AccountId([n; 32])
}

fn validator() -> AccountId {
    account(VALIDATOR)
}

/// A challenge whose fields all depend on `i`; it succeeds unless `i` is a multiple of 3, and its
/// latency is `i` ms, so that window sums can be worked out by hand.
fn item(i: u64) -> ChallengeRecord {
    ChallengeRecord {
        chunk_id: i * 7,
        segment: (i % 1024) as u32,
        success: !i.is_multiple_of(3),
        latency_ms: i,
        bytes: 1024,
        at_ms: 1_000_000 + i,
        reason: i.is_multiple_of(3).then(|| format!("bad proof {i}")),
    }
}

fn stats(n: u64) -> MinerStats {
    MinerStats {
        alpha: 1.5 + n as f64,
        beta: 0.25,
        claimed_bytes: 1 << 30,
        proven_bytes: n << 20,
        score: 0.125 * n as f64,
        updated_ms: 2_000_000 + n,
    }
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
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

/// Runs SQL on a closed file through a raw connection that bypasses the crate, to damage it.
async fn tamper(path: &Path, sql: &'static str) {
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .connect()
        .await
        .unwrap();
    sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
}

/// A state database with two miners known, closed.
async fn with_miners(path: &Path) -> StateDb {
    let db = StateDb::open(path, &validator()).await.unwrap();
    db.upsert_miner(&account(10), 0, Some("127.0.0.1:7101"), 100)
        .await
        .unwrap();
    db.upsert_miner(&account(11), 1, None, 100).await.unwrap();
    db
}

#[tokio::test]
async fn reopening_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state");
    let db = with_miners(&path).await;
    assert_eq!(db.validator(), &validator());
    assert_eq!(db.path(), path);
    assert_eq!(db.last_round().await.unwrap(), 0);
    assert_eq!(db.last_weights().await.unwrap(), None);

    // A second sighting moves the miner and keeps when it was first seen.
    db.upsert_miner(&account(10), 5, Some("127.0.0.1:7201"), 300)
        .await
        .unwrap();
    db.record_round(&account(10), 1, &[item(1), item(3)], &stats(1))
        .await
        .unwrap();
    db.record_round(&account(11), 2, &[item(4)], &stats(2))
        .await
        .unwrap();
    db.blacklist_add(&account(12), "copies another miner", 400)
        .await
        .unwrap();
    db.record_weights(7, 500, &[(5, account(10), 0.75), (1, account(11), 0.25)])
        .await
        .unwrap();
    db.close().await;
    assert_eq!(listing(dir.path()), vec!["state".to_owned()]);

    let db = StateDb::open(&path, &validator()).await.unwrap();
    assert_eq!(
        db.miners().await.unwrap(),
        vec![
            MinerRecord {
                hotkey: account(10),
                uid: 5,
                axon: Some("127.0.0.1:7201".to_owned()),
                first_seen_ms: 100,
                last_seen_ms: 300,
            },
            MinerRecord {
                hotkey: account(11),
                uid: 1,
                axon: None,
                first_seen_ms: 100,
                last_seen_ms: 100,
            },
        ]
    );
    assert_eq!(db.last_round().await.unwrap(), 2);
    assert_eq!(db.challenge_count(&account(10)).await.unwrap(), 2);
    assert_eq!(db.challenge_count(&account(11)).await.unwrap(), 1);
    assert_eq!(db.challenge_count(&account(12)).await.unwrap(), 0);
    assert_eq!(db.stats(&account(10)).await.unwrap(), Some(stats(1)));
    assert_eq!(db.stats(&account(12)).await.unwrap(), None);
    let mut all = vec![(account(10), stats(1)), (account(11), stats(2))];
    all.sort_by_key(|(a, _)| a.to_ss58());
    assert_eq!(db.all_stats().await.unwrap(), all);
    assert!(db.is_blacklisted(&account(12)).await.unwrap());
    assert_eq!(
        db.last_weights().await.unwrap(),
        Some((7, 500, vec![(5, account(10), 0.75), (1, account(11), 0.25)]))
    );
    // A restarted validator numbers on from the last round, and the window sees both sessions.
    db.record_round(&account(10), 3, &[item(5)], &stats(3))
        .await
        .unwrap();
    assert_eq!(db.last_round().await.unwrap(), 3);
    assert_eq!(db.stats(&account(10)).await.unwrap(), Some(stats(3)));
    let w = db.window(&account(10), 20).await.unwrap();
    assert_eq!((w.items, w.successes), (3, 2));
    db.close().await;
}

#[tokio::test]
async fn file_is_wal_with_our_application_id() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state");
    StateDb::open(&path, &validator())
        .await
        .unwrap()
        .close()
        .await;
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(&bytes[..16], b"SQLite format 3\0");
    assert_eq!(&bytes[18..20], &[2, 2]);
    assert_eq!(&bytes[68..72], b"TESS");
    // user_version, big-endian at offset 60: the S3 face's part tails are migration 9.
    assert_eq!(&bytes[60..64], &[0, 0, 0, 9]);
}

#[tokio::test]
async fn window_counts_the_last_challenges_of_that_miner() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state");
    let db = with_miners(&path).await;
    let (a, b) = (account(10), account(11));

    // 70 challenges to A in 7 rounds, with rounds to B in between that must not be counted.
    for round in 0..7u64 {
        let items: Vec<_> = (round * 10..round * 10 + 10).map(item).collect();
        db.record_round(&a, round + 1, &items, &stats(round))
            .await
            .unwrap();
        let noise = ChallengeRecord {
            success: false,
            latency_ms: 10_000,
            ..item(0)
        };
        db.record_round(&b, round + 1, &[noise], &stats(0))
            .await
            .unwrap();
    }
    assert_eq!(db.challenge_count(&a).await.unwrap(), 70);

    // Items 50..=69: the multiples of 3 among them are 51, 54, ..., 69, seven failures.
    assert_eq!(
        db.window(&a, 20).await.unwrap(),
        Window {
            items: 20,
            successes: 13,
            mean_latency_ms: 59.5,
        }
    );
    // Items 10..=69: the multiples of 3 are 12, 15, ..., 69, twenty failures.
    assert_eq!(
        db.window(&a, 60).await.unwrap(),
        Window {
            items: 60,
            successes: 40,
            mean_latency_ms: 39.5,
        }
    );
    // Asking for more than there are gives all 70: 0, 3, ..., 69 are 24 failures.
    assert_eq!(
        db.window(&a, 100).await.unwrap(),
        Window {
            items: 70,
            successes: 46,
            mean_latency_ms: 34.5,
        }
    );
    let empty = Window {
        items: 0,
        successes: 0,
        mean_latency_ms: 0.0,
    };
    assert_eq!(db.window(&a, 0).await.unwrap(), empty);
    assert_eq!(db.window(&account(99), 20).await.unwrap(), empty);
    assert_eq!(
        db.window(&b, 20).await.unwrap(),
        Window {
            items: 7,
            successes: 0,
            mean_latency_ms: 10_000.0,
        }
    );
    db.close().await;
}

#[tokio::test]
async fn a_round_is_written_whole_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state");
    let db = with_miners(&path).await;
    let a = account(10);

    // The third item cannot be stored: the two before it must go with it, and the stats too.
    let too_large = ChallengeRecord {
        latency_ms: u64::MAX,
        ..item(2)
    };
    let err = db
        .record_round(&a, 1, &[item(0), item(1), too_large], &stats(1))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::TooLarge {
                what: "latency_ms",
                value: u64::MAX,
                ..
            }
        ),
        "{err:?}"
    );
    assert_one_line_naming(&err, &path);

    // Stats that cannot be stored come after every item: the items must still be rolled back.
    let nan = MinerStats {
        score: f64::NAN,
        ..stats(1)
    };
    let err = db
        .record_round(&a, 1, &[item(0), item(1)], &nan)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::NotFinite { what: "score", .. }),
        "{err:?}"
    );
    assert_one_line_naming(&err, &path);

    // A miner never recorded is refused with its name.
    let err = db
        .record_round(&account(99), 1, &[item(0)], &stats(1))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UnknownMiner { .. }), "{err:?}");
    assert!(err.to_string().contains(&account(99).to_ss58()), "{err}");
    assert_one_line_naming(&err, &path);

    // A round number past i64::MAX would come back negative.
    let err = db
        .record_round(&a, u64::MAX, &[item(0)], &stats(1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::TooLarge { what: "round", .. }),
        "{err:?}"
    );

    assert_eq!(db.challenge_count(&a).await.unwrap(), 0);
    assert_eq!(db.challenge_count(&account(99)).await.unwrap(), 0);
    assert_eq!(db.stats(&a).await.unwrap(), None);
    assert_eq!(db.last_round().await.unwrap(), 0);

    // The failures left no transaction open; a good round lands whole, rows and stats together.
    db.record_round(&a, 4, &[item(0), item(1), item(2)], &stats(4))
        .await
        .unwrap();
    assert_eq!(db.challenge_count(&a).await.unwrap(), 3);
    assert_eq!(db.stats(&a).await.unwrap(), Some(stats(4)));
    assert_eq!(db.last_round().await.unwrap(), 4);
    // A round with no challenges still updates the stats.
    db.record_round(&a, 5, &[], &stats(5)).await.unwrap();
    assert_eq!(db.stats(&a).await.unwrap(), Some(stats(5)));
    assert_eq!(db.challenge_count(&a).await.unwrap(), 3);
    db.close().await;
}

#[tokio::test]
async fn blacklist_add_and_remove() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state");
    let db = StateDb::open(&path, &validator()).await.unwrap();
    let (x, y) = (account(20), account(21));

    assert!(db.blacklist().await.unwrap().is_empty());
    assert!(!db.is_blacklisted(&x).await.unwrap());
    // A hotkey need not be a known miner to be blacklisted.
    db.blacklist_add(&x, "served stale data", 1).await.unwrap();
    db.blacklist_add(&y, "sybil", 2).await.unwrap();
    // Adding again replaces the reason rather than failing or duplicating.
    db.blacklist_add(&x, "served stale data twice", 3)
        .await
        .unwrap();
    assert!(db.is_blacklisted(&x).await.unwrap());
    let mut want = vec![
        (x, "served stale data twice".to_owned()),
        (y, "sybil".to_owned()),
    ];
    want.sort_by_key(|(a, _)| a.to_ss58());
    assert_eq!(db.blacklist().await.unwrap(), want);

    assert!(db.blacklist_remove(&x).await.unwrap());
    assert!(!db.blacklist_remove(&x).await.unwrap());
    assert!(!db.is_blacklisted(&x).await.unwrap());
    db.close().await;

    let db = StateDb::open(&path, &validator()).await.unwrap();
    assert_eq!(db.blacklist().await.unwrap(), vec![(y, "sybil".to_owned())]);
    let err = db.blacklist_add(&x, "late", u64::MAX).await.unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err:?}");
    assert!(!db.is_blacklisted(&x).await.unwrap());
    db.close().await;
}

#[tokio::test]
async fn last_weights_are_those_of_the_latest_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state");
    let db = StateDb::open(&path, &validator()).await.unwrap();
    let (a, b, c) = (account(10), account(11), account(12));

    db.record_weights(1, 100, &[(0, a, 1.0)]).await.unwrap();
    db.record_weights(2, 200, &[(2, c, 0.5), (0, a, 0.25), (1, b, 0.25)])
        .await
        .unwrap();
    assert_eq!(
        db.last_weights().await.unwrap(),
        Some((2, 200, vec![(2, c, 0.5), (0, a, 0.25), (1, b, 0.25)]))
    );

    // Recording an epoch again replaces its set instead of mixing two.
    db.record_weights(2, 250, &[(1, b, 1.0)]).await.unwrap();
    assert_eq!(
        db.last_weights().await.unwrap(),
        Some((2, 250, vec![(1, b, 1.0)]))
    );
    // An older epoch recorded late does not hide the latest one.
    db.record_weights(1, 300, &[(0, a, 1.0)]).await.unwrap();
    assert_eq!(
        db.last_weights().await.unwrap(),
        Some((2, 250, vec![(1, b, 1.0)]))
    );

    // A weight SQLite cannot store refuses the whole set, and the old one stays.
    let err = db
        .record_weights(3, 400, &[(0, a, 0.5), (1, b, f64::NAN)])
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::NotFinite { what: "weight", .. }),
        "{err:?}"
    );
    assert_one_line_naming(&err, &path);
    db.close().await;

    let db = StateDb::open(&path, &validator()).await.unwrap();
    assert_eq!(
        db.last_weights().await.unwrap(),
        Some((2, 250, vec![(1, b, 1.0)]))
    );
    db.close().await;
}

#[tokio::test]
async fn damaged_rows_are_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state");
    let db = with_miners(&path).await;
    db.record_round(&account(10), 1, &[item(1)], &stats(1))
        .await
        .unwrap();
    db.blacklist_add(&account(20), "sybil", 1).await.unwrap();
    db.record_weights(1, 1, &[(0, account(10), 1.0)])
        .await
        .unwrap();
    db.close().await;

    tamper(
        &path,
        "UPDATE blacklist SET hotkey = 'not an address';
         UPDATE challenges SET round = -1;
         UPDATE miner_stats SET claimed_bytes = 'lots';
         UPDATE weights SET uid = 70000;
         UPDATE miners SET uid = 'zero' WHERE uid = 0;",
    )
    .await;

    let db = StateDb::open(&path, &validator()).await.unwrap();
    let errors = [
        db.blacklist().await.unwrap_err(),
        db.last_round().await.unwrap_err(),
        db.stats(&account(10)).await.unwrap_err(),
        db.all_stats().await.unwrap_err(),
        db.last_weights().await.unwrap_err(),
        db.miners().await.unwrap_err(),
    ];
    for err in &errors {
        assert!(
            matches!(err, Error::BadRow { .. } | Error::Sqlite { .. }),
            "{err:?}"
        );
        assert_one_line_naming(err, &path);
    }
    assert!(
        errors[0].to_string().contains("not an address"),
        "{}",
        errors[0]
    );
    assert!(errors[1].to_string().contains("round -1"), "{}", errors[1]);
    assert!(errors[4].to_string().contains("uid 70000"), "{}", errors[4]);
    // What is not damaged still reads.
    assert_eq!(db.challenge_count(&account(10)).await.unwrap(), 1);
    assert!(!db.is_blacklisted(&account(20)).await.unwrap());
    db.close().await;
}

// ---- wrong files -------------------------------------------------------------------------------

fn pair_meta() -> Meta {
    Meta {
        miner: account(1),
        validator: validator(),
        chunk_size: 1024,
        seal_profile: "test".to_owned(),
        seal_passes: 2,
    }
}

/// How the file under test is made before a state database is opened on it.
enum Make {
    State(AccountId),
    Partition,
    Hashes,
    Bytes(Vec<u8>),
    /// A state database of `validator()` cut to `f(len)` bytes.
    Cut(fn(u64) -> u64),
}

async fn make(path: &Path, how: &Make) {
    match how {
        Make::State(owner) => {
            let db = StateDb::open(path, owner).await.unwrap();
            db.upsert_miner(&account(10), 0, None, 1).await.unwrap();
            db.record_round(&account(10), 1, &[item(1), item(2)], &stats(1))
                .await
                .unwrap();
            db.close().await;
        }
        Make::Partition => {
            let db = PartitionDb::open(path, &pair_meta()).await.unwrap();
            let data = vec![7u8; 1024];
            db.insert(&[Chunk {
                id: 0,
                data,
                root: [1; 32],
            }])
            .await
            .unwrap();
            db.close().await;
        }
        Make::Hashes => {
            let db = HashDb::open(path, &pair_meta()).await.unwrap();
            db.insert(&[(0, [1; 32])]).await.unwrap();
            db.close().await;
        }
        Make::Bytes(bytes) => std::fs::write(path, bytes).unwrap(),
        Make::Cut(f) => {
            Box::pin(make(path, &Make::State(validator()))).await;
            let len = std::fs::metadata(path).unwrap().len();
            let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
            file.set_len(f(len)).unwrap();
        }
    }
}

#[tokio::test]
async fn wrong_files_are_refused_and_left_alone() {
    type Is = fn(&Error) -> bool;
    let cases: Vec<(&str, Make, Is, &str)> = vec![
        (
            "state database of another validator",
            Make::State(account(9)),
            |e| matches!(e, Error::WrongValidator { .. }),
            "is the state database of validator",
        ),
        (
            "partition database",
            Make::Partition,
            |e| matches!(e, Error::NotOurs { .. }),
            "not a tessera validator state database: it is a partition database",
        ),
        (
            "hash database",
            Make::Hashes,
            |e| matches!(e, Error::NotOurs { .. }),
            "it is a hash database",
        ),
        (
            "text file",
            Make::Bytes(b"validator = 5Grw\n".to_vec()),
            |e| matches!(e, Error::NotOurs { .. }),
            "not an sqlite file",
        ),
        (
            "state database cut in half",
            Make::Cut(|len| len / 2),
            |e| matches!(e, Error::Truncated { .. }),
            "truncated",
        ),
        (
            "state database cut to 50 bytes",
            Make::Cut(|_| 50),
            |e| matches!(e, Error::Truncated { actual: 50, .. }),
            "truncated",
        ),
    ];
    for (name, how, is, says) in cases {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("target-db");
        make(&path, &how).await;
        let before = listing(dir.path());
        let bytes = std::fs::read(&path).unwrap();

        let err = match StateDb::open(&path, &validator()).await {
            Ok(_) => panic!("{name}: opened a wrong file"),
            Err(e) => e,
        };
        assert!(is(&err), "{name}: wrong error {err:?}");
        assert_one_line_naming(&err, &path);
        assert!(
            err.to_string().contains(says),
            "{name}: {err} lacks {says:?}"
        );
        // Not assert_eq!, which would print every byte of the file.
        assert!(
            std::fs::read(&path).unwrap() == bytes,
            "{name}: the file was changed"
        );
        assert_eq!(
            listing(dir.path()),
            before,
            "{name}: files appeared or went"
        );
    }
}

#[tokio::test]
async fn a_state_database_is_no_partition_and_its_owner_still_opens_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state");
    make(&path, &Make::State(validator())).await;
    let bytes = std::fs::read(&path).unwrap();

    let err = PartitionDb::open(&path, &pair_meta()).await.unwrap_err();
    assert!(
        err.to_string().contains("it is a validator state database"),
        "{err}"
    );
    let err = PartitionDb::open_existing(&path).await.unwrap_err();
    assert!(matches!(err, Error::NotOurs { .. }), "{err:?}");
    assert!(HashDb::open(&path, &pair_meta()).await.is_err());
    let err = StateDb::open(&path, &account(9)).await.unwrap_err();
    assert!(err.to_string().contains(&validator().to_ss58()), "{err}");
    assert!(
        std::fs::read(&path).unwrap() == bytes,
        "the file was changed"
    );

    let db = StateDb::open(&path, &validator()).await.unwrap();
    assert_eq!(db.challenge_count(&account(10)).await.unwrap(), 2);
    db.close().await;
}

/// A weight commit survives a restart with every field, comes back oldest first, and is gone once
/// removed.
#[tokio::test]
async fn weight_commits_survive_a_reopen_until_removed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("validator.sqlite");
    let commit = |n: u8, created_ms: u64| PendingCommit {
        hash: [n; 32],
        netuid: 2,
        uids: vec![1, 65535, 7],
        values: vec![65535, 1, 300],
        salt: vec![9, 8, 7, 6, 5, 4, 3, 2],
        version_key: u64::from(n) << 40,
        commit_block: 1234,
        epoch: 5,
        created_ms,
    };
    let db = StateDb::open(&path, &validator()).await.unwrap();
    assert!(db.pending_commits().await.unwrap().is_empty());
    db.save_commit(&commit(2, 20)).await.unwrap();
    db.save_commit(&commit(1, 10)).await.unwrap();
    db.close().await;

    let db = StateDb::open(&path, &validator()).await.unwrap();
    assert_eq!(
        db.pending_commits().await.unwrap(),
        vec![commit(1, 10), commit(2, 20)]
    );
    db.remove_commit(&[1; 32]).await.unwrap();
    assert_eq!(db.pending_commits().await.unwrap(), vec![commit(2, 20)]);
    db.close().await;
}

#[tokio::test]
async fn commitments_audits_and_lies_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state");
    let (milo, mallory) = (account(10), account(11));
    let held = HeldCommitment {
        miner: milo,
        seq: 7,
        n_chunks: 130,
        root: [1; 32],
        signature: [2; 64],
        groups: vec![[3; 32], [4; 32], [5; 32]],
        audited: 64,
        taken_ms: 1_000,
    };
    let lie = Lie {
        miner: mallory,
        at_ms: 2_000,
        barred_until_ms: 2_000 + 7 * 86_400_000,
        slot: 42,
        committed_leaf: [6; 32],
        sealed_root: [7; 32],
        commitment: vec![8; 125],
        commitment_signature: [9; 64],
        answer: vec![10; 1600],
        answer_signature: [11; 64],
        nonce: [12; 16],
    };
    let db = StateDb::open(&path, &validator()).await.unwrap();
    db.save_commitment(&held).await.unwrap();
    for (slot, passed) in [(1, true), (2, true), (3, false)] {
        db.record_audit(&milo, 7, slot, passed, 1_500)
            .await
            .unwrap();
    }
    db.record_lie(&lie).await.unwrap();
    db.close().await;

    let db = StateDb::open(&path, &validator()).await.unwrap();
    assert_eq!(db.commitment(&milo).await.unwrap(), Some(held.clone()));
    assert_eq!(db.commitment(&mallory).await.unwrap(), None);
    assert_eq!(db.audit_counts(&milo).await.unwrap(), (2, 1));
    assert_eq!(db.audit_counts(&mallory).await.unwrap(), (0, 0));
    assert_eq!(db.lies(&mallory).await.unwrap(), vec![lie.clone()]);
    assert!(db.lies(&milo).await.unwrap().is_empty());
    assert_eq!(
        db.barred_until(&mallory, 3_000).await.unwrap(),
        Some(lie.barred_until_ms)
    );
    assert_eq!(
        db.barred_until(&mallory, lie.barred_until_ms)
            .await
            .unwrap(),
        None,
        "the bar ends"
    );
    assert_eq!(db.barred_until(&milo, 3_000).await.unwrap(), None);

    // A newer commitment replaces the held one; a dropped one is gone.
    let newer = HeldCommitment {
        seq: 8,
        groups: vec![[3; 32]],
        n_chunks: 64,
        ..held
    };
    db.save_commitment(&newer).await.unwrap();
    assert_eq!(db.commitment(&milo).await.unwrap(), Some(newer));
    db.drop_commitment(&milo).await.unwrap();
    assert_eq!(db.commitment(&milo).await.unwrap(), None);
    db.close().await;
}
