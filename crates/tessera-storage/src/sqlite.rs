//! Opening, creating and migrating Tessera's SQLite files, and checking they are the right ones.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Row, SqliteConnection};
use tessera_core::AccountId;

use crate::Error;

/// `application_id` of every Tessera database ("TESS"), so that any other SQLite file is refused.
const APPLICATION_ID: i64 = 0x5445_5353;

/// Large pages suit a table of 1 MiB blobs: fewer overflow pages per chunk.
const PAGE_SIZE: u32 = 65536;

/// The kinds of file, each with its own ordered list of migrations.
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

    /// Migration `i` brings the schema from `user_version` i to i + 1. Entries are never edited
    /// once released: a change is a new entry.
    fn migrations(self) -> &'static [&'static str] {
        match self {
            Kind::Partition => &[
                "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
                 CREATE TABLE chunks (id INTEGER PRIMARY KEY, data BLOB NOT NULL, root BLOB NOT NULL);",
                // A slot holds sealed filler (0) or a piece of client data (1), which no seal
                // reproduces: verification and shrinking must leave those alone.
                "ALTER TABLE chunks ADD COLUMN kind INTEGER NOT NULL DEFAULT 0;",
                // The partition's tree for its commitment (challenges v2): the leaves are read
                // through a covering index, never through the megabyte rows; `tree` holds the
                // sequence number and committed size, `leaf_log` the old leaf of each change
                // since the validator last synced. Triggers keep the log, so that no change to a
                // leaf goes unlogged, whoever makes it (a hand edit included). On an existing
                // partition the index reads every row once.
                "CREATE INDEX chunks_leaf ON chunks (id, root);
                 CREATE TABLE tree (
                     one INTEGER PRIMARY KEY CHECK (one = 0),
                     seq INTEGER NOT NULL,
                     n_chunks INTEGER NOT NULL,
                     log_from INTEGER NOT NULL
                 );
                 INSERT INTO tree (one, seq, n_chunks, log_from) VALUES (0, 0, 0, 0);
                 CREATE TABLE leaf_log (seq INTEGER NOT NULL, slot INTEGER NOT NULL, old BLOB NOT NULL);
                 CREATE INDEX leaf_log_slot ON leaf_log (slot, seq);
                 CREATE INDEX leaf_log_seq ON leaf_log (seq);
                 CREATE TRIGGER chunks_leaf_insert AFTER INSERT ON chunks BEGIN
                     UPDATE tree SET seq = seq + 1;
                     INSERT INTO leaf_log (seq, slot, old) SELECT seq, NEW.id, zeroblob(32) FROM tree;
                 END;
                 CREATE TRIGGER chunks_leaf_update AFTER UPDATE OF root ON chunks
                 WHEN OLD.root IS NOT NEW.root OR OLD.id IS NOT NEW.id BEGIN
                     UPDATE tree SET seq = seq + 1;
                     INSERT INTO leaf_log (seq, slot, old) SELECT seq, OLD.id, OLD.root FROM tree;
                     INSERT INTO leaf_log (seq, slot, old)
                         SELECT seq, NEW.id, zeroblob(32) FROM tree WHERE OLD.id IS NOT NEW.id;
                 END;
                 CREATE TRIGGER chunks_leaf_delete AFTER DELETE ON chunks BEGIN
                     UPDATE tree SET seq = seq + 1;
                     INSERT INTO leaf_log (seq, slot, old) SELECT seq, OLD.id, OLD.root FROM tree;
                 END;",
                // The sequence number of the last change of the committed size: an update to an
                // earlier sequence number cannot be served from the leaf log alone. Unknown for
                // an existing partition, so taken as now.
                "ALTER TABLE tree ADD COLUMN size_seq INTEGER NOT NULL DEFAULT 0;
                 UPDATE tree SET size_seq = seq;",
            ],
            Kind::Hashes => &[
                "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
                 CREATE TABLE roots (id INTEGER PRIMARY KEY, root BLOB NOT NULL);",
            ],
            // AUTOINCREMENT keeps challenge and weight ids rising even after rows are deleted,
            // so "the last n rows" is always "the n most recent".
            Kind::State => &[
                "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
                 CREATE TABLE miners (
                     hotkey TEXT PRIMARY KEY,
                     uid INTEGER NOT NULL,
                     axon TEXT,
                     first_seen_ms INTEGER NOT NULL,
                     last_seen_ms INTEGER NOT NULL
                 );
                 CREATE TABLE challenges (
                     id INTEGER PRIMARY KEY AUTOINCREMENT,
                     miner TEXT NOT NULL REFERENCES miners(hotkey),
                     round INTEGER NOT NULL,
                     chunk_id INTEGER NOT NULL,
                     segment INTEGER NOT NULL,
                     success INTEGER NOT NULL,
                     latency_ms INTEGER NOT NULL,
                     bytes INTEGER NOT NULL,
                     at_ms INTEGER NOT NULL,
                     reason TEXT
                 );
                 CREATE INDEX challenges_miner_id ON challenges (miner, id);
                 CREATE TABLE miner_stats (
                     miner TEXT PRIMARY KEY REFERENCES miners(hotkey),
                     alpha REAL NOT NULL,
                     beta REAL NOT NULL,
                     claimed_bytes INTEGER NOT NULL,
                     proven_bytes INTEGER NOT NULL,
                     score REAL NOT NULL,
                     updated_ms INTEGER NOT NULL
                 );
                 CREATE TABLE blacklist (
                     hotkey TEXT PRIMARY KEY,
                     reason TEXT NOT NULL,
                     added_ms INTEGER NOT NULL
                 );
                 CREATE TABLE weights (
                     id INTEGER PRIMARY KEY AUTOINCREMENT,
                     epoch INTEGER NOT NULL,
                     set_ms INTEGER NOT NULL,
                     uid INTEGER NOT NULL,
                     hotkey TEXT NOT NULL,
                     weight REAL NOT NULL
                 );
                 CREATE INDEX weights_epoch ON weights (epoch);",
                // Client data (the gateway's index): an object is `pending` until every segment
                // is placed and recorded, then `complete`; deleting it cascades to its segments,
                // pieces and placements. A miner's slot holds at most one piece.
                "CREATE TABLE owners (
                     hotkey TEXT PRIMARY KEY,
                     first_put_ms INTEGER NOT NULL
                 );
                 CREATE TABLE objects (
                     id BLOB PRIMARY KEY,
                     owner TEXT NOT NULL REFERENCES owners(hotkey),
                     size INTEGER NOT NULL,
                     digest BLOB NOT NULL,
                     k INTEGER NOT NULL,
                     n INTEGER NOT NULL,
                     piece_size INTEGER NOT NULL,
                     segments INTEGER NOT NULL,
                     state TEXT NOT NULL CHECK (state IN ('pending', 'complete')),
                     created_ms INTEGER NOT NULL,
                     expires_ms INTEGER NOT NULL
                 );
                 CREATE INDEX objects_owner ON objects (owner, created_ms);
                 CREATE INDEX objects_expiry ON objects (expires_ms);
                 CREATE TABLE segments (
                     object BLOB NOT NULL REFERENCES objects(id) ON DELETE CASCADE,
                     idx INTEGER NOT NULL,
                     size INTEGER NOT NULL,
                     PRIMARY KEY (object, idx)
                 );
                 CREATE TABLE pieces (
                     object BLOB NOT NULL,
                     segment INTEGER NOT NULL,
                     piece INTEGER NOT NULL,
                     root BLOB NOT NULL,
                     PRIMARY KEY (object, segment, piece),
                     FOREIGN KEY (object, segment) REFERENCES segments(object, idx) ON DELETE CASCADE
                 );
                 CREATE TABLE placements (
                     object BLOB NOT NULL,
                     segment INTEGER NOT NULL,
                     piece INTEGER NOT NULL,
                     miner TEXT NOT NULL,
                     slot INTEGER NOT NULL,
                     stored_ms INTEGER NOT NULL,
                     PRIMARY KEY (object, segment, piece, miner),
                     UNIQUE (miner, slot),
                     FOREIGN KEY (object, segment, piece)
                         REFERENCES pieces(object, segment, piece) ON DELETE CASCADE
                 );",
                // Piece health: a placement whose slot failed a challenge or returned wrong bytes
                // is marked, and repair replaces it.
                "ALTER TABLE placements ADD COLUMN failed_ms INTEGER;",
                // Weights committed on chain and not yet revealed: kept so that a validator
                // restarted between commit and reveal still reveals. Vectors are little-endian
                // u16s.
                "CREATE TABLE weight_commits (
                     hash BLOB PRIMARY KEY,
                     netuid INTEGER NOT NULL,
                     uids BLOB NOT NULL,
                     weight_values BLOB NOT NULL,
                     salt BLOB NOT NULL,
                     version_key INTEGER NOT NULL,
                     commit_block INTEGER NOT NULL,
                     epoch INTEGER NOT NULL,
                     created_ms INTEGER NOT NULL
                 );",
                // Challenges v2: each miner's commitment as held (group nodes as one blob, 32
                // bytes a group), every audit, and every lie with its evidence.
                "CREATE TABLE commitments (
                     miner TEXT PRIMARY KEY,
                     seq INTEGER NOT NULL,
                     n_chunks INTEGER NOT NULL,
                     root BLOB NOT NULL,
                     signature BLOB NOT NULL,
                     groups BLOB NOT NULL,
                     audited INTEGER NOT NULL,
                     taken_ms INTEGER NOT NULL
                 );
                 CREATE TABLE audits (
                     id INTEGER PRIMARY KEY AUTOINCREMENT,
                     miner TEXT NOT NULL,
                     seq INTEGER NOT NULL,
                     slot INTEGER NOT NULL,
                     passed INTEGER NOT NULL,
                     at_ms INTEGER NOT NULL
                 );
                 CREATE INDEX audits_miner ON audits (miner, id);
                 CREATE TABLE lies (
                     id INTEGER PRIMARY KEY AUTOINCREMENT,
                     miner TEXT NOT NULL,
                     at_ms INTEGER NOT NULL,
                     barred_until_ms INTEGER NOT NULL,
                     slot INTEGER NOT NULL,
                     committed_leaf BLOB NOT NULL,
                     sealed_root BLOB NOT NULL,
                     commitment BLOB NOT NULL,
                     commitment_signature BLOB NOT NULL,
                     answer BLOB NOT NULL,
                     answer_signature BLOB NOT NULL,
                     nonce BLOB NOT NULL
                 );
                 CREATE INDEX lies_miner ON lies (miner, barred_until_ms);",
                // Slots to give back to filler, recorded in the transaction that moves their
                // piece away and kept until the miner confirms the release: until then the slot
                // is neither free for a new piece nor challenged against anything.
                "CREATE TABLE releases (
                     miner TEXT NOT NULL,
                     slot INTEGER NOT NULL,
                     since_ms INTEGER NOT NULL,
                     PRIMARY KEY (miner, slot)
                 ) WITHOUT ROWID;",
                // Slots a miner confirmed releasing and may not have resealed yet: spared from
                // challenges for a while, across a restart of the validator too.
                "CREATE TABLE resealing (
                     miner TEXT NOT NULL,
                     slot INTEGER NOT NULL,
                     since_ms INTEGER NOT NULL,
                     PRIMARY KEY (miner, slot)
                 ) WITHOUT ROWID;",
            ],
        }
    }
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
    async fn check_version(&self, kind: Kind) -> Result<i64, Error> {
        let supported = kind.migrations().len() as i64;
        let version: i64 = sqlx::query_scalar("PRAGMA user_version")
            .fetch_one(&self.pool)
            .await
            .map_err(self.sql())?;
        if version > supported {
            return Err(Error::SchemaTooNew {
                path: self.path.clone(),
                found: version,
                supported,
            });
        }
        Ok(version)
    }

    async fn migrate(&self, kind: Kind) -> Result<(), Error> {
        let version = self.check_version(kind).await?;
        let mut conn = self.pool.acquire().await.map_err(self.sql())?;
        let migrations = kind.migrations();
        for (i, sql) in migrations.iter().enumerate().skip(version as usize) {
            apply(&mut conn, sql, i as i64 + 1)
                .await
                .map_err(self.sql())?;
        }
        Ok(())
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

async fn apply(
    conn: &mut SqliteConnection,
    sql: &'static str,
    version: i64,
) -> Result<(), sqlx::Error> {
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    sqlx::raw_sql(sql).execute(&mut *tx).await?;
    // PRAGMA takes no bound parameters; both values are compile-time integers, never input.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {version};"
    )))
    .execute(&mut *tx)
    .await?;
    tx.commit().await
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
