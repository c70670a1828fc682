//! Shared fixtures: a node in a temporary directory (wallets, metagraph, database folder), the
//! `tessera-allocator` binary run against it, and direct SQLite access to what it wrote.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hasher};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, SqliteConnection};
use tessera_allocator::PartitionEntry;
use tessera_chain::{Metagraph, Neuron};
use tessera_core::{AccountId, Keypair, Wallet};
use tessera_partition::{SealKey, SealProfile};

pub const BIN: &str = env!("CARGO_BIN_EXE_tessera-allocator");

/// The chunk size of every test unless it says otherwise: small, so runs take milliseconds.
pub const CHUNK: u64 = 64 << 10;

/// The miner's and the validator's wallet names; both use the hotkey name `default`.
pub const MINER_WALLET: &str = "miner";
pub const VALIDATOR_WALLET: &str = "validator";

/// A well-known development account by name (`//Alice`, `//Bob`, ...).
pub fn account(name: &str) -> AccountId {
    Keypair::from_uri(&format!("//{name}")).unwrap().account()
}

/// The subnet of most tests: miners Alice (this node) and Dave, validators Bob and Charlie with
/// stakes 3:1, so a plan of 128 chunks gives them exactly 96 and 32.
pub const SUBNET: &[(&str, f64, bool)] = &[
    ("Alice", 0.0, false),
    ("Bob", 3000.0, true),
    ("Charlie", 1000.0, true),
    ("Dave", 0.0, false),
];

/// One node's world in a temporary directory: `wallets/`, `metagraph.toml` and `db/`.
pub struct Node {
    _tmp: tempfile::TempDir,
    pub root: PathBuf,
}

impl Node {
    /// Wallets for Alice (`miner`) and Bob (`validator`) and the metagraph of [`SUBNET`].
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_owned();
        let node = Self { _tmp: tmp, root };
        for (wallet, who) in [(MINER_WALLET, "Alice"), (VALIDATOR_WALLET, "Bob")] {
            Wallet::new(node.wallets(), wallet, "default")
                .unwrap()
                .create_hotkey(&Keypair::from_uri(&format!("//{who}")).unwrap(), false)
                .unwrap();
        }
        node.write_metagraph(SUBNET);
        node
    }

    pub fn db(&self) -> PathBuf {
        self.root.join("db")
    }

    pub fn wallets(&self) -> PathBuf {
        self.root.join("wallets")
    }

    pub fn metagraph(&self) -> PathBuf {
        self.root.join("metagraph.toml")
    }

    /// The miner's folder, `<db>/miner/default`.
    pub fn node_dir(&self) -> PathBuf {
        self.db().join(MINER_WALLET).join("default")
    }

    /// The validator's folder, `<db>/validator/default`.
    pub fn validator_dir(&self) -> PathBuf {
        self.db().join(VALIDATOR_WALLET).join("default")
    }

    /// The miner's partition file for validator `name`.
    pub fn data_file(&self, name: &str) -> PathBuf {
        self.node_dir()
            .join(tessera_storage::partition_file_name(&account(name)))
    }

    /// Writes the metagraph with neurons (name, stake, validator permit), uids in order.
    pub fn write_metagraph(&self, neurons: &[(&str, f64, bool)]) {
        let metagraph = Metagraph {
            netuid: 1,
            block: 0,
            params: Default::default(),
            neurons: neurons
                .iter()
                .enumerate()
                .map(|(uid, (name, stake, permit))| Neuron {
                    uid: uid as u16,
                    hotkey: account(name),
                    coldkey: None,
                    stake: *stake,
                    validator_permit: *permit,
                    axon: None,
                    last_update: 0,
                })
                .collect(),
        };
        std::fs::write(self.metagraph(), metagraph.to_toml()).unwrap();
    }

    /// Replaces `{db}`, `{node}`, `{wallets}`, `{metagraph}` and `{root}` with this node's paths,
    /// and `{Alice}`, `{Bob}`, `{Charlie}` with their addresses, so that tables of cases can name
    /// files and accounts without knowing where the node lives.
    pub fn expand(&self, text: &str) -> String {
        let show = |p: PathBuf| p.display().to_string();
        text.replace("{db}", &show(self.db()))
            .replace("{node}", &show(self.node_dir()))
            .replace("{wallets}", &show(self.wallets()))
            .replace("{metagraph}", &show(self.metagraph()))
            .replace("{root}", &show(self.root.clone()))
            .replace("{Alice}", &account("Alice").to_string())
            .replace("{Bob}", &account("Bob").to_string())
            .replace("{Charlie}", &account("Charlie").to_string())
    }

    /// A quick miner allocation: dev seal, 64 KiB chunks, 8 MiB, no prompt.
    pub fn args(&self) -> Args {
        let mut args = Args::default();
        for flag in [
            format!("--db_path={}", self.db().display()),
            format!("--wallet.path={}", self.wallets().display()),
            format!("--wallet.name={MINER_WALLET}"),
            "--wallet.hotkey=default".to_owned(),
            format!("--metagraph.path={}", self.metagraph().display()),
            "--seal=dev".to_owned(),
            format!("--chunk_size={CHUNK}"),
            "--capacity=8MiB".to_owned(),
            "--workers=2".to_owned(),
            "--no_prompt".to_owned(),
        ] {
            args.set(&flag);
        }
        args
    }

    /// The binary with `args` and a clean environment: no `TESSERA_*` or `RUST_LOG` from the
    /// developer's shell, and `HOME` inside the node so `~` defaults cannot reach the real one.
    pub fn command(&self, args: &Args) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args.to_vec())
            .env_clear()
            .env("HOME", &self.root)
            .current_dir(&self.root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Runs to completion.
    pub fn run(&self, args: &Args) -> Run {
        Run::from(self.command(args).output().unwrap())
    }

    pub fn spawn(&self, args: &Args) -> Child {
        self.command(args).spawn().unwrap()
    }

    /// Allocates with the default arguments plus `flags`, and insists it worked.
    pub fn allocate(&self, flags: &[&str]) -> Run {
        let run = self.run(&self.args().with(flags));
        run.assert_code(0);
        run
    }

    pub fn partition_json(&self) -> Vec<PartitionEntry> {
        tessera_allocator::read_partition_json(&self.node_dir()).unwrap()
    }

    pub fn partition_file(&self) -> tessera_allocator::PartitionFile {
        tessera_allocator::read_partition_file(&self.node_dir()).unwrap()
    }
}

/// Command-line flags kept by name, so a test can override one without clap seeing it twice.
#[derive(Clone, Debug, Default)]
pub struct Args(Vec<(String, Option<String>)>);

impl Args {
    /// Sets `--flag=value` or the switch `--flag`, replacing an earlier setting of the flag;
    /// `!--flag` removes it.
    pub fn set(&mut self, flag: &str) -> &mut Self {
        let (drop, flag) = match flag.strip_prefix('!') {
            Some(f) => (true, f),
            None => (false, flag),
        };
        let (name, value) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v.to_owned())),
            None => (flag, None),
        };
        self.0.retain(|(n, _)| n != name);
        if !drop {
            self.0.push((name.to_owned(), value));
        }
        self
    }

    pub fn with(mut self, flags: &[&str]) -> Self {
        for flag in flags {
            self.set(flag);
        }
        self
    }

    pub fn to_vec(&self) -> Vec<String> {
        self.0
            .iter()
            .flat_map(|(n, v)| std::iter::once(n.clone()).chain(v.clone()))
            .collect()
    }
}

/// What a finished run left behind.
pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl From<std::process::Output> for Run {
    fn from(out: std::process::Output) -> Self {
        Self {
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}\n--- stdout\n{}--- stderr\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

impl Run {
    pub fn assert_code(&self, code: i32) {
        assert_eq!(self.status.code(), Some(code), "{self}");
    }

    /// The one line of stderr starting `error: `; fails unless there is exactly one.
    pub fn error_line(&self) -> Result<&str, String> {
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| l.starts_with("error: "))
            .collect();
        match lines[..] {
            [line] => Ok(line),
            _ => Err(format!("{} error lines, not one", lines.len())),
        }
    }

    /// The plan's per-validator lines, in plan order.
    pub fn plan(&self) -> Vec<PlanLine> {
        self.stdout
            .lines()
            .filter_map(|line| {
                let words: Vec<&str> = line.split_whitespace().collect();
                match words[..] {
                    [
                        "validator",
                        v,
                        "stake",
                        _,
                        n,
                        "chunks",
                        _,
                        _,
                        already,
                        "already",
                        "sealed",
                    ] => Some(PlanLine {
                        validator: v.to_owned(),
                        n_chunks: n.parse().unwrap(),
                        already: already.parse().unwrap(),
                    }),
                    _ => None,
                }
            })
            .collect()
    }

    /// N of the closing `sealed N chunks ...` line.
    pub fn sealed_now(&self) -> u64 {
        self.stdout
            .lines()
            .find_map(|l| l.strip_prefix("sealed ")?.split(' ').next()?.parse().ok())
            .unwrap_or_else(|| panic!("no `sealed N chunks` line\n{self}"))
    }
}

/// One validator's line of the plan summary.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanLine {
    pub validator: String,
    pub n_chunks: u64,
    pub already: u64,
}

/// The names in `dir`, sorted.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Every file under `dir` with a digest of its bytes, or `None` if `dir` does not exist: equal
/// snapshots mean nothing was created, removed or changed.
pub fn snapshot(dir: &Path) -> Option<BTreeMap<PathBuf, u64>> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<PathBuf, u64>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, root, out);
            } else {
                let mut h = DefaultHasher::new();
                h.write(&std::fs::read(&path).unwrap());
                out.insert(path.strip_prefix(root).unwrap().to_owned(), h.finish());
            }
        }
    }
    dir.exists().then(|| {
        let mut out = BTreeMap::new();
        walk(dir, dir, &mut out);
        out
    })
}

/// Polls `probe` until it gives a value or `timeout` passes.
pub fn poll<T>(timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = probe() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The key the allocator seals `miner`'s partition for `validator` with, in the dev profile.
pub fn dev_key(miner: &str, validator: &str, chunk_size: u64) -> SealKey {
    SealKey::new(
        account(miner),
        account(validator),
        chunk_size,
        SealProfile::Dev.params(),
    )
    .unwrap()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// SQLite, straight through sqlx rather than through tessera-storage, so the tests see the files
// as any other reader would.

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Read-write even just to read a closed file: the last connection to close then removes the
/// WAL files, leaving the folder exactly as the allocator left it. Read-only is for peeking at a
/// file that the allocator is still writing, which owns those files then.
async fn connect(path: &Path, read_only: bool) -> Result<SqliteConnection, sqlx::Error> {
    SqliteConnectOptions::new()
        .filename(path)
        .read_only(read_only)
        .connect()
        .await
}

/// Puts a piece of client data in `slot` of the partition at `path`, as a validator's `Store`
/// would.
pub fn store_piece(path: &Path, slot: u64, byte: u8) {
    block_on(async {
        let mut conn = connect(path, false).await.unwrap();
        sqlx::query("UPDATE chunks SET data = ?, root = ?, kind = 1 WHERE id = ?")
            .bind(vec![byte; CHUNK as usize])
            .bind(vec![byte; 32])
            .bind(slot as i64)
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    })
}

/// The rows of a partition database: id, data, root, by id.
pub fn chunks(path: &Path) -> Vec<(u64, Vec<u8>, Vec<u8>)> {
    block_on(async {
        let mut conn = connect(path, false).await.unwrap();
        let rows: Vec<(i64, Vec<u8>, Vec<u8>)> =
            sqlx::query_as("SELECT id, data, root FROM chunks ORDER BY id")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        conn.close().await.unwrap();
        rows.into_iter().map(|(i, d, r)| (i as u64, d, r)).collect()
    })
}

/// The ids in a partition database, by id.
pub fn chunk_ids(path: &Path) -> Vec<u64> {
    block_on(async {
        let mut conn = connect(path, false).await.unwrap();
        let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM chunks ORDER BY id")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        ids.into_iter().map(|i| i as u64).collect()
    })
}

/// The rows of a validator's hash database: id, root, by id.
pub fn roots(path: &Path) -> Vec<(u64, Vec<u8>)> {
    block_on(async {
        let mut conn = connect(path, false).await.unwrap();
        let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as("SELECT id, root FROM roots ORDER BY id")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        rows.into_iter().map(|(i, r)| (i as u64, r)).collect()
    })
}

/// How many chunks a database being written holds right now, or `None` while it cannot be read
/// yet (not created, or created but without its table visible).
pub fn live_count(path: &Path) -> Option<u64> {
    if !path.exists() {
        return None;
    }
    block_on(async {
        let mut conn = connect(path, true).await.ok()?;
        let n: Option<i64> = sqlx::query_scalar("SELECT COUNT(*) FROM chunks")
            .fetch_one(&mut conn)
            .await
            .ok();
        let _ = conn.close().await;
        n.map(|n| n as u64)
    })
}

/// Damage done by hand to a sealed partition.
#[derive(Clone, Copy, Debug)]
pub enum Tamper {
    /// Flip one byte of the chunk's data.
    Data,
    /// Flip one byte of its stored root.
    Root,
    /// Delete the row.
    Delete,
    /// Copy chunk 0 in under this id, past the end of the plan.
    Extra,
    /// Store an integer where the data blob belongs: damage of the wrong type, which a reader
    /// must report rather than panic on.
    WrongType,
}

pub fn tamper(path: &Path, id: u64, how: Tamper) {
    block_on(async {
        let mut conn = connect(path, false).await.unwrap();
        let flip = |mut bytes: Vec<u8>| {
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0x01;
            bytes
        };
        let done = match how {
            Tamper::Data | Tamper::Root => {
                let (data, root): (Vec<u8>, Vec<u8>) =
                    sqlx::query_as("SELECT data, root FROM chunks WHERE id = ?")
                        .bind(id as i64)
                        .fetch_one(&mut conn)
                        .await
                        .unwrap();
                let (data, root) = match how {
                    Tamper::Data => (flip(data), root),
                    _ => (data, flip(root)),
                };
                sqlx::query("UPDATE chunks SET data = ?, root = ? WHERE id = ?")
                    .bind(data)
                    .bind(root)
                    .bind(id as i64)
                    .execute(&mut conn)
                    .await
            }
            Tamper::WrongType => {
                sqlx::query("UPDATE chunks SET data = 5 WHERE id = ?")
                    .bind(id as i64)
                    .execute(&mut conn)
                    .await
            }
            Tamper::Delete => {
                sqlx::query("DELETE FROM chunks WHERE id = ?")
                    .bind(id as i64)
                    .execute(&mut conn)
                    .await
            }
            Tamper::Extra => sqlx::query(
                "INSERT INTO chunks (id, data, root) SELECT ?, data, root FROM chunks WHERE id = 0",
            )
            .bind(id as i64)
            .execute(&mut conn)
            .await,
        };
        assert_eq!(done.unwrap().rows_affected(), 1, "{how:?} {id}");
        conn.close().await.unwrap();
    });
}
