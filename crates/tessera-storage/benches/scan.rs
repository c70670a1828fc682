//! Benchmarks the repair sweep's walk over the gateway's index: `StateDb::live_objects` in
//! pages, against one raw query returning the same rows (the floor) and against the walk it
//! replaced, two queries per object.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sqlx::Row;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, SqliteConnection};
use tessera_core::AccountId;
use tessera_storage::{NewObject, SegmentRecord, StateDb};

/// Objects in the index, each of one segment of three pieces.
const OBJECTS: u32 = 10_000;

fn object_id(i: u32) -> [u8; 16] {
    let mut id = [0u8; 16];
    id[..4].copy_from_slice(&i.to_be_bytes());
    id
}

async fn fill(db: &StateDb) {
    for i in 0..OBJECTS {
        let id = object_id(i);
        db.begin_object(&NewObject {
            id,
            owner: AccountId([2; 32]),
            size: 3000,
            digest: [0; 32],
            k: 2,
            n: 3,
            piece_size: 1024,
            segments: 1,
            created_ms: 1_000,
            expires_ms: u64::MAX >> 2,
        })
        .await
        .expect("begin");
        let segment = SegmentRecord {
            index: 0,
            size: 3000,
            pieces: (0..3u16)
                .map(|p| {
                    let slot = u64::from(i) * 3 + u64::from(p);
                    (
                        p,
                        [p as u8; 32],
                        vec![(AccountId([10 + p as u8; 32]), slot)],
                    )
                })
                .collect(),
        };
        db.record_segment(&id, &segment, 2_000)
            .await
            .expect("segment");
        db.commit_object(&id, &[0; 32]).await.expect("commit");
    }
}

/// The floor: every placement of every complete object in one query, rows decoded.
async fn raw(conn: &mut SqliteConnection) -> usize {
    let rows = sqlx::query(
        "SELECT o.id, o.n, o.segments, o.piece_size, p.segment, p.piece, p.root, l.miner, l.slot,
                l.failed_ms IS NOT NULL
         FROM objects o JOIN pieces p ON p.object = o.id
           JOIN placements l ON l.object = p.object AND l.segment = p.segment AND l.piece = p.piece
         WHERE o.state = 'complete' AND o.expires_ms > ?
         ORDER BY o.id, p.segment, p.piece, l.miner",
    )
    .bind(5_000i64)
    .fetch_all(conn)
    .await
    .expect("raw scan");
    // Decode the columns the sweep uses, as `live_objects` does, and count the rows.
    rows.iter()
        .filter(|r| r.get::<Vec<u8>, _>(6).len() == 32 && r.get::<i64, _>(8) >= 0)
        .count()
}

async fn paged(db: &StateDb, page: u32) -> usize {
    let mut seen = 0;
    let mut after = None;
    loop {
        let objects = db
            .live_objects(after.as_ref(), 5_000, page)
            .await
            .expect("page");
        let Some((last, _)) = objects.last() else {
            return seen;
        };
        after = Some(last.object.id);
        seen += objects.iter().map(|(_, p)| p.len()).sum::<usize>();
    }
}

/// The walk before pages: the ids, then each object and its placements on their own.
async fn per_object(db: &StateDb, conn: &mut SqliteConnection) -> usize {
    let ids: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT id FROM objects WHERE state = 'complete' ORDER BY id")
            .fetch_all(conn)
            .await
            .expect("ids");
    let mut seen = 0;
    for id in ids {
        let id: [u8; 16] = id.try_into().expect("16 bytes");
        let o = db.object(&id).await.expect("object").expect("present");
        if o.object.expires_ms > 5_000 {
            seen += db.placements(&id).await.expect("placements").len();
        }
    }
    seen
}

fn scan(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("validator.sqlite");
    let db = rt
        .block_on(StateDb::open(&path, &AccountId([1; 32])))
        .expect("open");
    rt.block_on(fill(&db));
    let mut conn = rt
        .block_on(SqliteConnectOptions::new().filename(&path).connect())
        .expect("raw connection");
    let placements = u64::from(OBJECTS) * 3;

    let mut group = c.benchmark_group("scan_10k_objects");
    group.throughput(Throughput::Elements(placements));
    group.sample_size(10);
    group.bench_function("baseline_raw_single_query", |b| {
        b.iter(|| assert_eq!(rt.block_on(raw(&mut conn)) as u64, placements))
    });
    group.bench_function("live_objects_pages_of_256", |b| {
        b.iter(|| assert_eq!(rt.block_on(paged(&db, 256)) as u64, placements))
    });
    group.bench_function("per_object_queries", |b| {
        b.iter(|| assert_eq!(rt.block_on(per_object(&db, &mut conn)) as u64, placements))
    });
    group.finish();
}

criterion_group!(benches, scan);
criterion_main!(benches);
