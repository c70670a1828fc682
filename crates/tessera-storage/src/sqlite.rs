//! Opening, creating and migrating Tessera's SQLite files, and checking they are the right ones.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::LazyLock;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Row, SqlSafeStr};
use tessera_core::AccountId;

use crate::Error;

/// `application_id` of every Tessera database ("TESS"), so that any other SQLite file is refused.
const APPLICATION_ID: i64 = 0x5445_5353;

/// Large pages suit a table of 1 MiB blobs: fewer overflow pages per chunk.
const PAGE_SIZE: u32 = 65536;

/// The kinds of file, each with its own ordered list of migrations, in
/// `migrations/<kind>/NNNN_<what>.sql`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Partition,
    Hashes,
    State,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Partition => "partition",
            Kind::Hashes => "hash",
            Kind::State => "validator state",
        }
    }

    /// The kind's migration files, `NNNN_<what>` in order: step NNNN brings the schema from
    /// version NNNN - 1 to NNNN. A released file is never edited, comments included: sqlx records
    /// each file's checksum and refuses every database that ran an earlier text of it. A change
    /// is a new file.
    fn steps(self) -> &'static [(&'static str, &'static str)] {
        macro_rules! steps {
            ($dir:literal: $($file:literal),+ $(,)?) => {
                &[$(($file, include_str!(concat!("../migrations/", $dir, "/", $file, ".sql")))),+]
            };
        }
        match self {
            Kind::Partition => steps!("partition":
                "0001_meta_and_chunks",
                "0002_chunk_kind",
                "0003_commitment_tree",
                "0004_size_seq",
            ),
            Kind::Hashes => steps!("hashes": "0001_meta_and_roots"),
            Kind::State => steps!("state":
                "0001_validator_state",
                "0002_object_index",
                "0003_failed_placements",
                "0004_weight_commits",
                "0005_challenges_v2",
                "0006_releases",
                "0007_resealing",
                "0008_s3",
                "0009_s3_tails",
            ),
        }
    }

    /// The newest schema version this build knows.
    fn latest(self) -> i64 {
        self.steps().len() as i64
    }

    /// The kind's steps as sqlx's migrator runs them, built once per process.
    fn migrator(self) -> &'static Migrator {
        static PARTITION: LazyLock<Migrator> = LazyLock::new(|| Kind::Partition.build_migrator());
        static HASHES: LazyLock<Migrator> = LazyLock::new(|| Kind::Hashes.build_migrator());
        static STATE: LazyLock<Migrator> = LazyLock::new(|| Kind::State.build_migrator());
        match self {
            Kind::Partition => &PARTITION,
            Kind::Hashes => &HASHES,
            Kind::State => &STATE,
        }
    }

    fn build_migrator(self) -> Migrator {
        let migrations = self
            .steps()
            .iter()
            .enumerate()
            .map(|(i, &(file, sql))| {
                let version = i as i64 + 1;
                // The description is what sqlx's own file resolver would give the same file.
                let what = file.split_once('_').map_or(file, |(_, what)| what);
                let mut migration = Migration::new(
                    version,
                    what.replace('_', " ").into(),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                );
                // Each step also writes `application_id` and `user_version`, in the same
                // transaction as its SQL, as the runner before sqlx did: `check_header` refuses
                // any file without our id before SQLite opens it, and builds from before sqlx
                // read `user_version` alone, so a file this build migrated still opens there
                // after a rollback, and one newer than they know is refused instead of migrated
                // from version 0. The newline ends a last `--` comment, the `;` a last statement
                // without one. The checksum stays that of the file alone, as sqlx's tools
                // compute it.
                migration.sql = AssertSqlSafe(format!(
                    "{sql}\n;PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {version};"
                ))
                .into_sql_str();
                migration
            })
            .collect();
        Migrator::with_migrations(migrations)
    }
}

/// Where a file's schema stands before migrating.
struct Version {
    /// `PRAGMA user_version`, which every step writes.
    pragma: i64,
    /// The last step in sqlx's table, or `None` for a file without that table: one made before
    /// this crate used sqlx's migrator, or a new one.
    recorded: Option<i64>,
}

/// What a database file says about the partition it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meta {
    pub miner: AccountId,
    pub validator: AccountId,
    pub chunk_size: u64,
    /// The seal profile's name and its parameter, stored as written by the caller.
    pub seal_profile: String,
    pub seal_passes: u32,
}

/// Who a file belongs to, as its `meta` table records it beside `kind`. Each kind of file has
/// its own: a (miner, validator) pair and seal for partition and hash databases, a validator
/// alone for a state database.
pub(crate) trait Identity: Sized {
    /// The `meta` rows a new file gets, besides `kind`.
    fn rows(&self) -> Vec<(&'static str, String)>;

    /// Reads the identity back from a file's `meta` table.
    fn read(meta: &MetaRows<'_>) -> Result<Self, Error>;

    /// Refuses the file at `path`, whose `meta` says `self`, unless it belongs to `want`.
    fn check(&self, path: &Path, want: &Self) -> Result<(), Error>;
}

impl Identity for Meta {
    fn rows(&self) -> Vec<(&'static str, String)> {
        vec![
            ("miner", self.miner.to_ss58()),
            ("validator", self.validator.to_ss58()),
            ("chunk_size", self.chunk_size.to_string()),
            ("seal_profile", self.seal_profile.clone()),
            ("seal_passes", self.seal_passes.to_string()),
        ]
    }

    fn read(meta: &MetaRows<'_>) -> Result<Self, Error> {
        Ok(Meta {
            miner: meta.account("miner")?,
            validator: meta.account("validator")?,
            chunk_size: meta.number("chunk_size")?,
            seal_profile: meta.text("seal_profile")?,
            seal_passes: u32::try_from(meta.number("seal_passes")?)
                .map_err(|_| meta.not_ours("meta seal_passes out of range".into()))?,
        })
    }

    fn check(&self, path: &Path, want: &Self) -> Result<(), Error> {
        check_meta(path, self, want)
    }
}

/// A file's `meta` table as read, with lookups that refuse the file when a key is missing or
/// malformed.
pub(crate) struct MetaRows<'a> {
    db: &'a Db,
    kind: Kind,
    rows: Vec<(String, String)>,
}

impl MetaRows<'_> {
    pub(crate) fn not_ours(&self, reason: String) -> Error {
        self.db.not_ours(self.kind, reason)
    }

    pub(crate) fn text(&self, key: &str) -> Result<String, Error> {
        self.rows
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| self.not_ours(format!("meta has no {key}")))
    }

    pub(crate) fn account(&self, key: &str) -> Result<AccountId, Error> {
        let text = self.text(key)?;
        AccountId::from_str(&text).map_err(|e| self.not_ours(format!("meta {key}: {e}")))
    }

    pub(crate) fn number(&self, key: &str) -> Result<u64, Error> {
        let text = self.text(key)?;
        text.parse()
            .map_err(|_| self.not_ours(format!("meta {key} '{text}' is not a number")))
    }
}

/// An open database: its pool and the path used in every error message.
#[derive(Debug, Clone)]
pub(crate) struct Db {
    pub(crate) pool: SqlitePool,
    pub(crate) path: PathBuf,
}

impl Db {
    pub(crate) fn sql(&self) -> impl Fn(sqlx::Error) -> Error + '_ {
        |source| Error::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Opens the file at `path`, creating it when it does not exist, and checks that it belongs
    /// to `meta`'s owner. A new file is built beside the target and renamed into place, so a
    /// crash never leaves a file without its `meta` table.
    pub(crate) async fn open<I: Identity>(
        path: &Path,
        kind: Kind,
        meta: &I,
    ) -> Result<Self, Error> {
        if !path.exists() {
            let tmp = path.with_file_name(format!(
                ".{}.new",
                path.file_name().and_then(|n| n.to_str()).unwrap_or("db")
            ));
            remove_db_files(&tmp)?;
            let db = Self::connect(&tmp, kind, true).await?;
            db.migrate(kind).await?;
            db.write_meta(kind, meta).await?;
            // Checkpointed first: only the main file is renamed, so nothing may stay in the WAL.
            db.close().await;
            std::fs::rename(&tmp, path).map_err(|source| Error::Io {
                path: path.to_owned(),
                source,
            })?;
            // Empty companions the close may have left behind; the data is in the renamed file.
            remove_db_files(&tmp)?;
        }
        Self::open_existing(path, kind, Some(meta)).await
    }

    /// Opens an existing file; with `expect`, refuses it unless it belongs to that owner.
    pub(crate) async fn open_existing<I: Identity>(
        path: &Path,
        kind: Kind,
        expect: Option<&I>,
    ) -> Result<Self, Error> {
        check_header(path, kind)?;
        let db = Self::connect(path, kind, false).await?;
        let result = async {
            db.check_identity(kind).await?;
            // Refuse a newer schema, another kind or another pair before migrating anything: a
            // refused file is never changed. The meta table exists from version 1 on and keeps
            // its shape, so it can be read before migrations run.
            // The kind first: a file of another kind is that, whatever its schema version.
            let found: I = db.read_meta(kind).await?;
            db.check_version(kind).await?;
            if let Some(want) = expect {
                found.check(path, want)?;
            }
            db.migrate(kind).await
        }
        .await;
        if let Err(e) = result {
            close_pool(&db.pool).await;
            return Err(e);
        }
        Ok(db)
    }

    async fn connect(path: &Path, kind: Kind, create: bool) -> Result<Self, Error> {
        // Checkpoint every 16 MiB of WAL (256 pages of 64 KiB) rather than SQLite's default of
        // 1000 pages: a checkpoint ends in an fsync of the database file, and done in small steps
        // it overlaps with other work instead of piling up at close. Partition databases start
        // their own checkpoints off the writing connection (`partition.rs`); SQLite's, at 64 MiB,
        // only catches up if those fall behind.
        let autocheckpoint = match kind {
            Kind::Partition => "1024",
            Kind::Hashes | Kind::State => "256",
        };
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(create)
            .page_size(PAGE_SIZE)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(std::time::Duration::from_secs(10))
            .pragma("wal_autocheckpoint", autocheckpoint);
        // A validator keeps one hash database open per miner, a few dozen roots each: one
        // connection with a small page cache is plenty, where four with SQLite's default 2 MB
        // cache each came to 600 MB for 192 miners (`cargo xtask bench-subnet`).
        let (connections, options) = match kind {
            Kind::Hashes => (1, options.pragma("cache_size", "-256")),
            Kind::Partition | Kind::State => (4, options),
        };
        let pool = SqlitePoolOptions::new()
            .max_connections(connections)
            .connect_with(options)
            .await
            .map_err(|source| Error::Sqlite {
                path: path.to_owned(),
                source,
            })?;
        Ok(Self {
            pool,
            path: path.to_owned(),
        })
    }

    async fn check_identity(&self, kind: Kind) -> Result<(), Error> {
        let id: i64 = sqlx::query_scalar("PRAGMA application_id")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.not_ours(kind, e.to_string()))?;
        if id != APPLICATION_ID {
            return Err(self.not_ours(kind, format!("application id {id:#x}")));
        }
        Ok(())
    }

    fn not_ours(&self, kind: Kind, reason: String) -> Error {
        Error::NotOurs {
            path: self.path.clone(),
            expected: kind.name(),
            reason,
        }
    }

    /// The schema version, refused if newer than this build knows.
    async fn check_version(&self, kind: Kind) -> Result<Version, Error> {
        let pragma: i64 = sqlx::query_scalar("PRAGMA user_version")
            .fetch_one(&self.pool)
            .await
            .map_err(self.sql())?;
        let tracked: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master \
             WHERE type = 'table' AND name = '_sqlx_migrations')",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(self.sql())?;
        let recorded = if tracked {
            let last: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
                .fetch_one(&self.pool)
                .await
                .map_err(self.sql())?;
            Some(last.unwrap_or(0))
        } else {
            None
        };
        // Every step writes both in one transaction, so they differ only after a hand edit; the
        // higher is taken so that neither can hide a schema this build does not know.
        let found = pragma.max(recorded.unwrap_or(0));
        if found > kind.latest() {
            return Err(Error::SchemaTooNew {
                path: self.path.clone(),
                found,
                supported: kind.latest(),
            });
        }
        Ok(Version { pragma, recorded })
    }

    // The migrator runs on a connection through `run_direct`, not `run`/`skip`: those are generic
    // over `Acquire<'a>`, and rustc cannot prove their futures `Send` for every lifetime, so
    // no node task that opens a database (the auditor opens hash files) could be spawned. sqlx
    // keeps `run_direct` for exactly this ("not general enough"); `run` and `skip` call it.
    async fn migrate(&self, kind: Kind) -> Result<(), Error> {
        let version = self.check_version(kind).await?;
        let migrator = kind.migrator();
        let migrate = |source| Error::Migrate {
            path: self.path.clone(),
            source,
        };
        let mut conn = self.pool.acquire().await.map_err(self.sql())?;
        // A file from before sqlx says how far it went only in `user_version`, steps 1 to that
        // applied each in its own transaction. Those are recorded as applied without running
        // them, with the checksums of today's files (their SQL is unchanged), and in one
        // transaction: a crash halfway must not leave a table that says fewer steps than ran.
        if version.recorded.is_none() && version.pragma > 0 {
            let mut tx = sqlx::Connection::begin(&mut *conn)
                .await
                .map_err(self.sql())?;
            migrator
                .run_direct(Some(version.pragma), &mut *tx, true)
                .await
                .map_err(migrate)?;
            tx.commit().await.map_err(self.sql())?;
        }
        migrator
            .run_direct(None, &mut *conn, false)
            .await
            .map_err(migrate)
    }

    async fn write_meta<I: Identity>(&self, kind: Kind, meta: &I) -> Result<(), Error> {
        let mut tx = self.pool.begin().await.map_err(self.sql())?;
        let rows = std::iter::once(("kind", kind.name().to_owned())).chain(meta.rows());
        for (key, value) in rows {
            sqlx::query("INSERT INTO meta (key, value) VALUES (?, ?)")
                .bind(key)
                .bind(value)
                .execute(&mut *tx)
                .await
                .map_err(self.sql())?;
        }
        tx.commit().await.map_err(self.sql())
    }

    /// Reads the `meta` table, refuses the file unless it is of `kind`, and reads its owner.
    pub(crate) async fn read_meta<I: Identity>(&self, kind: Kind) -> Result<I, Error> {
        let rows = sqlx::query("SELECT key, value FROM meta")
            .fetch_all(&self.pool)
            .await
            .map_err(self.sql())?;
        // A row whose key or value is not text cannot be the one looked for; it is left out, and
        // a key found nowhere else is then reported missing.
        let rows = rows
            .iter()
            .filter_map(|r| Some((r.try_get(0).ok()?, r.try_get(1).ok()?)))
            .collect();
        let meta = MetaRows {
            db: self,
            kind,
            rows,
        };
        let found_kind = meta.text("kind")?;
        if found_kind != kind.name() {
            return Err(self.not_ours(kind, format!("it is a {found_kind} database")));
        }
        I::read(&meta)
    }

    /// Checkpoints the WAL into the main file and closes every connection.
    pub(crate) async fn close(&self) {
        // A failed checkpoint only leaves the WAL for the next open to replay; nothing is lost.
        let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.pool)
            .await;
        close_pool(&self.pool).await;
    }
}

/// Closes `pool` so that SQLite can remove the `-wal` and `-shm` files. sqlx closes connections
/// still on their way back to the pool concurrently, and SQLite removes the companions only when
/// the last connection closes alone; so first let every connection come back, and the pool then
/// closes them one by one. Bounded: a connection that never comes back costs 100 ms.
async fn close_pool(pool: &SqlitePool) {
    for _ in 0..100 {
        if pool.num_idle() >= pool.size() as usize {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    pool.close().await;
}

fn check_meta(path: &Path, found: &Meta, want: &Meta) -> Result<(), Error> {
    if found.miner != want.miner || found.validator != want.validator {
        return Err(Error::WrongPair {
            path: path.to_owned(),
            found_miner: found.miner.to_ss58(),
            found_validator: found.validator.to_ss58(),
            miner: want.miner.to_ss58(),
            validator: want.validator.to_ss58(),
        });
    }
    if found.chunk_size != want.chunk_size
        || found.seal_profile != want.seal_profile
        || found.seal_passes != want.seal_passes
    {
        return Err(Error::SealMismatch {
            path: path.to_owned(),
            found_chunk_size: found.chunk_size,
            found_profile: format!("{} ({} passes)", found.seal_profile, found.seal_passes),
            chunk_size: want.chunk_size,
            profile: format!("{} ({} passes)", want.seal_profile, want.seal_passes),
        });
    }
    Ok(())
}

/// Reads the SQLite header and refuses files that are not SQLite or are shorter than the header
/// says. SQLite itself would open a truncated file and fail only when it reads a missing page,
/// possibly in the middle of a long job.
fn check_header(path: &Path, kind: Kind) -> Result<(), Error> {
    use std::io::Read;
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let not_ours = |reason: &str| Error::NotOurs {
        path: path.to_owned(),
        expected: kind.name(),
        reason: reason.to_owned(),
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let actual = file.metadata().map_err(io)?.len();
    let mut header = Vec::with_capacity(100);
    file.take(100).read_to_end(&mut header).map_err(io)?;
    // A short file is truncated only if what there is of it starts like SQLite; a short text
    // file is simply not ours.
    let magic = b"SQLite format 3\0";
    if !magic.starts_with(&header[..header.len().min(magic.len())]) {
        return Err(not_ours("not an sqlite file"));
    }
    if header.len() < 100 {
        return Err(Error::Truncated {
            path: path.to_owned(),
            expected: u64::from(PAGE_SIZE),
            actual,
        });
    }
    // Checked here, before SQLite opens the file, because opening it in WAL mode would rewrite
    // the journal-mode bytes of another program's database.
    let app_id = u32::from_be_bytes(header[68..72].try_into().expect("4 bytes"));
    if i64::from(app_id) != APPLICATION_ID {
        return Err(not_ours(&format!("application id {app_id:#x}")));
    }
    let page_size = match u16::from_be_bytes([header[16], header[17]]) {
        1 => 65536u64,
        n => u64::from(n),
    };
    let pages = u64::from(u32::from_be_bytes(
        header[28..32].try_into().expect("4 bytes"),
    ));
    let expected = page_size * pages;
    // With frames waiting in the WAL, the main file alone may lag its own header: a checkpoint
    // cut short by a crash (kill -9 during a background checkpoint, say) has written page 1,
    // with the new page count, before the pages after it. SQLite replays the WAL on open and
    // the file is whole again, so only a file without a WAL is judged by its length.
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    let wal_pending = std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0);
    if !wal_pending && (actual < expected || actual % page_size != 0) {
        return Err(Error::Truncated {
            path: path.to_owned(),
            expected,
            actual,
        });
    }
    Ok(())
}

/// Removes a database file with its WAL and shared-memory companions, if they exist.
pub(crate) fn remove_db_files(path: &Path) -> Result<(), Error> {
    for suffix in ["", "-wal", "-shm"] {
        let p = PathBuf::from(format!("{}{suffix}", path.display()));
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(Error::Io { path: p, source }),
        }
    }
    Ok(())
}
