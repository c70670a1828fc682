//! A miner's partition database for one validator: table `chunks` (`id`, `data`, `root`, `kind`),
//! where a slot holds sealed filler or, once the validator stores one there, a piece of client data.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use sqlx::Row;
use tessera_core::merkle::Hash;

use crate::Error;
use crate::sqlite::{Db, Kind, Meta, remove_db_files};
use crate::tree::Cache;

/// One stored chunk: its bytes and the Merkle root computed when it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    pub id: u64,
    pub data: Vec<u8>,
    pub root: Hash,
}

/// An open partition database.
#[derive(Debug, Clone)]
pub struct PartitionDb {
    db: Db,
    meta: Meta,
    wal: Arc<Wal>,
    /// The group nodes as last read, brought up to date from `leaf_log` whenever the sequence
    /// number has moved, whoever wrote (`tree.rs`).
    tree: Arc<tokio::sync::Mutex<Cache>>,
}

/// Chunks arrive by the megabyte, so their WAL fills fast. Left to SQLite, the checkpoint runs
/// on the connection whose commit crossed the threshold: the writer then waits for the copy into
/// the main file and two fsyncs, about half of its time on a disk of 1 GB/s. Instead, every
/// [`CHECKPOINT_EVERY`] bytes written start a passive checkpoint on another connection while the
/// writer goes on appending; SQLite's own checkpoint (at 64 MiB of WAL, see `sqlite.rs`) remains
/// as the fallback if that one falls behind.
#[derive(Debug, Default)]
struct Wal {
    written: AtomicU64,
    running: AtomicBool,
    /// The background checkpoint, waited for before the database closes.
    tasks: tokio_util::task::TaskTracker,
}

/// Bytes of chunk data written between background checkpoints.
const CHECKPOINT_EVERY: u64 = 8 << 20;

impl PartitionDb {
    /// Opens the partition at `path`, creating it if missing; refuses a file of another partition,
    /// another chunk size or seal, a truncated file, or a schema newer than this build.
    pub async fn open(path: &Path, meta: &Meta) -> Result<Self, Error> {
        let db = Db::open(path, Kind::Partition, meta).await?;
        Ok(Self {
            db,
            meta: meta.clone(),
            wal: Arc::default(),
            tree: Arc::default(),
        })
    }

    /// Opens an existing partition whatever it belongs to, for inspection.
    pub async fn open_existing(path: &Path) -> Result<Self, Error> {
        let db = Db::open_existing(path, Kind::Partition, None::<&Meta>).await?;
        let meta = db.read_meta(Kind::Partition).await?;
        Ok(Self {
            db,
            meta,
            wal: Arc::default(),
            tree: Arc::default(),
        })
    }

    /// Deletes the file and its WAL companions.
    pub fn remove(path: &Path) -> Result<(), Error> {
        remove_db_files(path)
    }

    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    pub fn path(&self) -> &Path {
        &self.db.path
    }

    pub(crate) fn db(&self) -> &Db {
        &self.db
    }

    pub(crate) fn tree_cache(&self) -> &tokio::sync::Mutex<Cache> {
        &self.tree
    }

    /// The ids present, in order.
    pub async fn chunk_ids(&self) -> Result<Vec<u64>, Error> {
        let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM chunks ORDER BY id")
            .fetch_all(&self.db.pool)
            .await
            .map_err(self.db.sql())?;
        Ok(ids.into_iter().map(|i| i as u64).collect())
    }

    pub async fn count(&self) -> Result<u64, Error> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM chunks")
            .fetch_one(&self.db.pool)
            .await
            .map_err(self.db.sql())?;
        Ok(n as u64)
    }

    /// Writes `chunks` in one transaction: after a crash either all of them are there or none.
    pub async fn insert(&self, chunks: &[Chunk]) -> Result<(), Error> {
        // Nothing written is no new sequence number.
        if chunks.is_empty() {
            return Ok(());
        }
        let mut tx = self.db.pool.begin().await.map_err(self.db.sql())?;
        for chunk in chunks {
            self.check_len(chunk.id, chunk.data.len())?;
            sqlx::query("INSERT INTO chunks (id, data, root) VALUES (?, ?, ?)")
                .bind(chunk.id as i64)
                .bind(&chunk.data[..])
                .bind(&chunk.root[..])
                .execute(&mut *tx)
                .await
                .map_err(self.db.sql())?;
        }
        tx.commit().await.map_err(self.db.sql())?;
        self.wrote(chunks.iter().map(|c| c.data.len() as u64).sum());
        self.cap_log().await
    }

    /// Counts `bytes` just committed and, past [`CHECKPOINT_EVERY`], starts a checkpoint in the
    /// background unless one is running. A failed checkpoint loses nothing (the frames stay in
    /// the WAL for the next), so it is only logged.
    fn wrote(&self, bytes: u64) {
        let total = self.wal.written.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if total < CHECKPOINT_EVERY || self.wal.running.swap(true, Ordering::AcqRel) {
            return;
        }
        self.wal.written.store(0, Ordering::Relaxed);
        let (db, wal) = (self.db.clone(), self.wal.clone());
        self.wal.tasks.spawn(async move {
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&db.pool)
                .await
            {
                tracing::debug!(path = %db.path.display(), error = %e, "background checkpoint failed");
            }
            wal.running.store(false, Ordering::Release);
        });
    }

    /// Deletes every sealed chunk with an id at or above `n_chunks`; returns how many went.
    /// Client data is never dropped by a shrink: it stays until its validator releases it.
    pub async fn truncate(&self, n_chunks: u64) -> Result<u64, Error> {
        // Past i64::MAX the bound would wrap negative and delete everything.
        let Ok(from) = i64::try_from(n_chunks) else {
            return Ok(0);
        };
        let done = sqlx::query("DELETE FROM chunks WHERE id >= ? AND kind = 0")
            .bind(from)
            .execute(&self.db.pool)
            .await
            .map_err(self.db.sql())?;
        Ok(done.rows_affected())
    }

    /// Puts a piece of client data in slot `id`, replacing the filler there, with its root.
    pub async fn store_data(&self, id: u64, data: &[u8], root: &Hash) -> Result<(), Error> {
        self.check_len(id, data.len())?;
        let slot = i64::try_from(id).map_err(|_| Error::TooLarge {
            path: self.db.path.clone(),
            what: "slot",
            value: id,
        })?;
        // An upsert rewrites the row in place; `INSERT OR REPLACE` would delete it and insert it
        // again, freeing and reallocating a megabyte of overflow pages.
        sqlx::query(
            "INSERT INTO chunks (id, data, root, kind) VALUES (?, ?, ?, 1)
             ON CONFLICT (id) DO UPDATE SET data = excluded.data, root = excluded.root, kind = 1",
        )
        .bind(slot)
        .bind(data)
        .bind(&root[..])
        .execute(&self.db.pool)
        .await
        .map_err(self.db.sql())?;
        self.wrote(data.len() as u64);
        Ok(())
    }

    /// Drops the client data in `ids` (filler in them is left alone); returns the ids that held
    /// data, which the caller reseals.
    pub async fn release_data(&self, ids: &[u64]) -> Result<Vec<u64>, Error> {
        let mut tx = self.db.pool.begin().await.map_err(self.db.sql())?;
        let mut gone = Vec::new();
        for &id in ids {
            let Ok(slot) = i64::try_from(id) else {
                continue;
            };
            let done = sqlx::query("DELETE FROM chunks WHERE id = ? AND kind = 1")
                .bind(slot)
                .execute(&mut *tx)
                .await
                .map_err(self.db.sql())?;
            if done.rows_affected() > 0 {
                gone.push(id);
            }
        }
        tx.commit().await.map_err(self.db.sql())?;
        Ok(gone)
    }

    /// The slots holding client data, in order.
    pub async fn data_ids(&self) -> Result<Vec<u64>, Error> {
        let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM chunks WHERE kind = 1 ORDER BY id")
            .fetch_all(&self.db.pool)
            .await
            .map_err(self.db.sql())?;
        Ok(ids.into_iter().map(|i| i as u64).collect())
    }

    /// Whether slot `id` holds client data.
    pub async fn is_data(&self, id: u64) -> Result<bool, Error> {
        let Ok(slot) = i64::try_from(id) else {
            return Ok(false);
        };
        let kind: Option<i64> = sqlx::query_scalar("SELECT kind FROM chunks WHERE id = ?")
            .bind(slot)
            .fetch_optional(&self.db.pool)
            .await
            .map_err(self.db.sql())?;
        Ok(kind == Some(1))
    }

    pub async fn get(&self, id: u64) -> Result<Option<Chunk>, Error> {
        let row = sqlx::query("SELECT id, data, root FROM chunks WHERE id = ?")
            .bind(id as i64)
            .fetch_optional(&self.db.pool)
            .await
            .map_err(self.db.sql())?;
        row.map(|r| self.row_to_chunk(&r)).transpose()
    }

    /// Up to `limit` chunks with ids at or above `from`, in order: a page for scanning the table.
    pub async fn page(&self, from: u64, limit: u32) -> Result<Vec<Chunk>, Error> {
        // Past i64::MAX the bound would wrap negative and select everything.
        let Ok(from) = i64::try_from(from) else {
            return Ok(Vec::new());
        };
        let rows =
            sqlx::query("SELECT id, data, root FROM chunks WHERE id >= ? ORDER BY id LIMIT ?")
                .bind(from)
                .bind(i64::from(limit))
                .fetch_all(&self.db.pool)
                .await
                .map_err(self.db.sql())?;
        rows.iter().map(|r| self.row_to_chunk(r)).collect()
    }

    fn row_to_chunk(&self, row: &sqlx::sqlite::SqliteRow) -> Result<Chunk, Error> {
        // try_get, not get: a row damaged by hand (an integer where a blob belongs) must be an
        // error for this chunk, not a panic in whoever reads it.
        let id = row.try_get::<i64, _>(0).map_err(self.db.sql())? as u64;
        let data: Vec<u8> = row.try_get(1).map_err(self.db.sql())?;
        let root_bytes: Vec<u8> = row.try_get(2).map_err(self.db.sql())?;
        // A root of the wrong length is damage like any other: report it as a mismatch by
        // returning a root that cannot match, rather than failing the whole scan.
        let root = root_bytes.try_into().unwrap_or([0u8; 32]);
        Ok(Chunk { id, data, root })
    }

    fn check_len(&self, id: u64, len: usize) -> Result<(), Error> {
        if len as u64 != self.meta.chunk_size {
            return Err(Error::ChunkLength {
                path: self.db.path.clone(),
                id,
                len,
                chunk_size: self.meta.chunk_size,
            });
        }
        Ok(())
    }

    /// Flushes the WAL into the file and closes it.
    pub async fn close(self) {
        // A background checkpoint under way finishes first.
        self.wal.tasks.close();
        self.wal.tasks.wait().await;
        self.db.close().await;
    }
}
