//! A validator's hash database for one miner: table `roots` (`id`, `root`), the roots it derived
//! itself by sealing, against which the miner's answers are checked.

use std::path::Path;

use sqlx::Row;
use tessera_core::merkle::Hash;

use crate::Error;
use crate::sqlite::{Db, Kind, Meta, remove_db_files};

/// An open hash database.
#[derive(Debug, Clone)]
pub struct HashDb {
    db: Db,
    meta: Meta,
}

impl HashDb {
    /// Opens the hash database at `path`, creating it if missing, with the same checks as a
    /// partition database.
    pub async fn open(path: &Path, meta: &Meta) -> Result<Self, Error> {
        let db = Db::open(path, Kind::Hashes, meta).await?;
        Ok(Self {
            db,
            meta: meta.clone(),
        })
    }

    pub fn remove(path: &Path) -> Result<(), Error> {
        remove_db_files(path)
    }

    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    pub async fn count(&self) -> Result<u64, Error> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM roots")
            .fetch_one(&self.db.pool)
            .await
            .map_err(self.db.sql())?;
        Ok(n as u64)
    }

    /// All recorded roots, by id.
    pub async fn roots(&self) -> Result<Vec<(u64, Hash)>, Error> {
        let rows = sqlx::query("SELECT id, root FROM roots ORDER BY id")
            .fetch_all(&self.db.pool)
            .await
            .map_err(self.db.sql())?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let id = r.try_get::<i64, _>(0).map_err(self.db.sql())? as u64;
            let root: Vec<u8> = r.try_get(1).map_err(self.db.sql())?;
            // A root of the wrong length is left out, as `get` reports it missing.
            if let Ok(root) = root.try_into() {
                out.push((id, root));
            }
        }
        Ok(out)
    }

    pub async fn get(&self, id: u64) -> Result<Option<Hash>, Error> {
        let root: Option<Vec<u8>> = sqlx::query_scalar("SELECT root FROM roots WHERE id = ?")
            .bind(id as i64)
            .fetch_optional(&self.db.pool)
            .await
            .map_err(self.db.sql())?;
        Ok(root.and_then(|r| r.try_into().ok()))
    }

    /// Records roots in one transaction; a root already recorded for an id is replaced.
    pub async fn insert(&self, roots: &[(u64, Hash)]) -> Result<(), Error> {
        let mut tx = self.db.pool.begin().await.map_err(self.db.sql())?;
        for (id, root) in roots {
            sqlx::query("INSERT OR REPLACE INTO roots (id, root) VALUES (?, ?)")
                .bind(*id as i64)
                .bind(&root[..])
                .execute(&mut *tx)
                .await
                .map_err(self.db.sql())?;
        }
        tx.commit().await.map_err(self.db.sql())
    }

    /// Forgets the roots of `ids` in one transaction; returns how many went. A validator spends a
    /// root once the miner has seen its id challenged, so the ids still held stay secret.
    pub async fn discard(&self, ids: &[u64]) -> Result<u64, Error> {
        let mut tx = self.db.pool.begin().await.map_err(self.db.sql())?;
        let mut gone = 0;
        for id in ids {
            // Ids past i64::MAX cannot have been stored.
            let Ok(id) = i64::try_from(*id) else { continue };
            gone += sqlx::query("DELETE FROM roots WHERE id = ?")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(self.db.sql())?
                .rows_affected();
        }
        tx.commit().await.map_err(self.db.sql())?;
        Ok(gone)
    }

    pub async fn close(self) {
        self.db.close().await;
    }
}
