//! Benchmarks allocation throughput against raw SQLite inserts of random blobs. The speed-up of a
//! second sealing worker needs paired runs and has its own harness, `cargo xtask bench-workers`.

use std::path::Path;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use tessera_allocator::Config;
use tessera_core::{Keypair, Wallet};
use tessera_node::ByteSize;

const MIB: u64 = 1 << 20;
/// Chunks per allocation run: large enough to reach a steady state, small enough to repeat. At
/// 64 MiB, creating two databases (about 40 ms) and the
/// first batch were a sixth of the run; at 256 MiB they are a twentieth.
const CHUNKS: u64 = 256;

/// A wallet and a two-validator metagraph in `root`, and a config allocating into `root/db` with
/// the dev seal and one worker per core.
fn fixture(root: &Path, chunk_size: u64, chunks: u64) -> Config {
    let wallet = Wallet::new(root.join("wallets"), "miner", "default").expect("wallet names");
    let miner = Keypair::generate();
    wallet.create_hotkey(&miner, true).expect("hotkey file");
    let v1 = Keypair::from_uri("//Alice").expect("uri").account();
    let v2 = Keypair::from_uri("//Bob").expect("uri").account();
    let metagraph = format!(
        "netuid = 1\n[[neurons]]\nuid = 0\nhotkey = \"{v1}\"\nstake = 3000.0\nvalidator_permit = true\n\
         [[neurons]]\nuid = 1\nhotkey = \"{v2}\"\nstake = 1000.0\nvalidator_permit = true\n"
    );
    std::fs::write(root.join("metagraph.toml"), metagraph).expect("metagraph file");
    let mut config = Config {
        db_path: root.join("db"),
        no_prompt: true,
        seal: "dev".into(),
        chunk_size: ByteSize(chunk_size),
        capacity: Some(ByteSize(chunks * chunk_size)),
        ..Config::default()
    };
    config.wallet.path = root.join("wallets");
    config.wallet.name = "miner".into();
    config.metagraph.path = Some(root.join("metagraph.toml"));
    config
}

fn allocate_once(rt: &tokio::runtime::Runtime, config: &Config) {
    rt.block_on(tessera_allocator::run(
        config,
        &mut tessera_allocator::Logged,
        std::future::pending(),
    ))
    .expect("allocation succeeds");
}

/// Removes the previous run's databases outside the timed part, so each run allocates afresh.
fn clear(config: &Config) {
    let _ = std::fs::remove_dir_all(&config.db_path);
}

/// The baseline: the same number of random 1 MiB blobs inserted into a table with the same
/// pragmas and the same batch size, generated before the clock starts.
async fn raw_insert(path: &Path, blobs: &[Vec<u8>]) {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .page_size(65536)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .expect("open");
    sqlx::query(
        "CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB NOT NULL, root BLOB NOT NULL)",
    )
    .execute(&pool)
    .await
    .expect("create");
    for (batch_no, batch) in blobs.chunks(17).enumerate() {
        let mut tx = pool.begin().await.expect("begin");
        for (i, blob) in batch.iter().enumerate() {
            sqlx::query("INSERT INTO blobs (id, data, root) VALUES (?, ?, ?)")
                .bind((batch_no * 17 + i) as i64)
                .bind(&blob[..])
                .bind(&blob[..32])
                .execute(&mut *tx)
                .await
                .expect("insert");
        }
        tx.commit().await.expect("commit");
    }
    pool.close().await;
}

fn throughput(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = fixture(dir.path(), MIB, CHUNKS);
    let mut group = c.benchmark_group("allocate_256mib");
    group.throughput(Throughput::Bytes(CHUNKS * MIB));
    group.sample_size(10);

    // Random bytes from a simple xorshift: incompressible enough for SQLite, free to make.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let blobs: Vec<Vec<u8>> = (0..CHUNKS)
        .map(|_| {
            (0..MIB / 8)
                .flat_map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state.to_le_bytes()
                })
                .collect()
        })
        .collect();
    let raw_path = dir.path().join("raw.sqlite");
    group.bench_function("baseline_raw_sqlite_insert", |b| {
        b.iter_batched(
            || {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", raw_path.display()));
                }
            },
            |()| rt.block_on(raw_insert(&raw_path, &blobs)),
            BatchSize::PerIteration,
        )
    });
    group.bench_function("allocate_dev_seal", |b| {
        b.iter_batched(
            || clear(&config),
            |()| allocate_once(&rt, &config),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, throughput);
criterion_main!(benches);
