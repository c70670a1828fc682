//! Entries: what S3 calls objects, put, read, listed, deleted and swept when they expire.

use sqlx::SqliteConnection;
use tessera_core::AccountId;

use super::{ENTRY_PARTS, S3Entry, prefix_end};
use crate::Error;
use crate::state::StateDb;

impl StateDb {
    /// Puts `entry` at its key, replacing any entry there, in one transaction; the replaced
    /// entry's objects that no S3 row holds any more end their lives at `now_ms` and are
    /// returned, in order. The bucket must exist (its foreign key refuses the entry otherwise).
    pub async fn put_entry(&self, entry: &S3Entry, now_ms: u64) -> Result<Vec<[u8; 16]>, Error> {
        self.check_entry(entry)?;
        let now = self.int("now_ms", now_ms)?;
        let mut tx = self.write_tx().await?;
        let replaced = self.replace_entry(&mut tx, entry).await?;
        let released = self.release_objects(&mut tx, replaced, now).await?;
        tx.commit().await.map_err(self.db.sql())?;
        Ok(released)
    }

    /// The entry at `key` of `owner`'s bucket, with its parts; expired or not.
    pub async fn entry(
        &self,
        owner: &AccountId,
        bucket: &str,
        key: &str,
    ) -> Result<Option<S3Entry>, Error> {
        // One statement, so the parts are the entry's even while it is being replaced.
        let rows = sqlx::query(entry_with_parts!(
            "e.owner = ? AND e.bucket = ? AND e.key = ?"
        ))
        .bind(owner.to_ss58())
        .bind(bucket)
        .bind(key)
        .fetch_all(&self.db.pool)
        .await
        .map_err(self.db.sql())?;
        Ok(self.entries_with_parts(&rows)?.pop())
    }

    /// Deletes the entry at `key` of `owner`'s bucket, in one transaction with ending the lives
    /// of its objects that no S3 row holds any more; returns whether there was one.
    pub async fn delete_entry(
        &self,
        owner: &AccountId,
        bucket: &str,
        key: &str,
        now_ms: u64,
    ) -> Result<bool, Error> {
        let now = self.int("now_ms", now_ms)?;
        let owner = owner.to_ss58();
        let mut tx = self.write_tx().await?;
        let objects = self.entry_objects(&mut tx, &owner, bucket, key).await?;
        let done = sqlx::query("DELETE FROM s3_entries WHERE owner = ? AND bucket = ? AND key = ?")
            .bind(&owner)
            .bind(bucket)
            .bind(key)
            .execute(&mut *tx)
            .await
            .map_err(self.db.sql())?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        self.release_objects(&mut tx, objects, now).await?;
        tx.commit().await.map_err(self.db.sql())?;
        Ok(true)
    }

    /// Up to `limit` entries of `owner`'s bucket, by key (UTF-8 bytes, S3's order), whose keys
    /// start with `prefix` and come after `after` (from the first when `None`); their `parts`
    /// are left empty. `%` and `_` in `prefix` are themselves, not patterns. One range of the
    /// (owner, bucket, key) index is read, never the whole bucket.
    pub async fn list_entries(
        &self,
        owner: &AccountId,
        bucket: &str,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<S3Entry>, Error> {
        // The least string past `after` is `after` followed by NUL.
        let from = after.map(|a| format!("{a}\0")).unwrap_or_default();
        self.list_entries_from(owner, bucket, prefix, &from, limit)
            .await
    }

    /// As [`Self::list_entries`], from the first key at or past `from`: a listing that rolled a
    /// run of keys up into one common prefix goes on from that prefix's end.
    pub async fn list_entries_from(
        &self,
        owner: &AccountId,
        bucket: &str,
        prefix: &str,
        from: &str,
        limit: u32,
    ) -> Result<Vec<S3Entry>, Error> {
        let from = if from > prefix { from } else { prefix };
        let end = prefix_end(prefix);
        let query = match end {
            Some(_) => sqlx::query(concat!(
                "SELECT ",
                entry_columns!(),
                " FROM s3_entries e WHERE e.owner = ? AND e.bucket = ? AND e.key >= ?
                  AND e.key < ? ORDER BY e.key LIMIT ?"
            )),
            None => sqlx::query(concat!(
                "SELECT ",
                entry_columns!(),
                " FROM s3_entries e WHERE e.owner = ? AND e.bucket = ? AND e.key >= ?
                  ORDER BY e.key LIMIT ?"
            )),
        };
        let query = query.bind(owner.to_ss58()).bind(bucket).bind(from);
        let query = match end {
            Some(end) => query.bind(end),
            None => query,
        };
        let rows = query
            .bind(i64::from(limit))
            .fetch_all(&self.db.pool)
            .await
            .map_err(self.db.sql())?;
        rows.iter().map(|r| self.entry_row(r)).collect()
    }

    /// Up to `limit` entries that ended by `now_ms`, soonest ended first, with their parts.
    pub async fn expired_entries(&self, now_ms: u64, limit: u32) -> Result<Vec<S3Entry>, Error> {
        let rows = sqlx::query(entry_with_parts!(
            "e.id IN (SELECT id FROM s3_entries WHERE expires_ms <= ?
                      ORDER BY expires_ms, id LIMIT ?)"
        ))
        .bind(self.int("now_ms", now_ms)?)
        .bind(i64::from(limit))
        .fetch_all(&self.db.pool)
        .await
        .map_err(self.db.sql())?;
        self.entries_with_parts(&rows)
    }

    /// Deletes every entry that ended by `now_ms`, in one transaction with ending the lives of
    /// their objects that no S3 row holds any more; returns those objects.
    pub async fn delete_expired_entries(&self, now_ms: u64) -> Result<Vec<[u8; 16]>, Error> {
        let now = self.int("now_ms", now_ms)?;
        let mut tx = self.write_tx().await?;
        let rows = sqlx::query(
            "SELECT p.object FROM s3_entries e JOIN s3_entry_parts p ON p.entry = e.id
             WHERE e.expires_ms <= ? ORDER BY e.expires_ms, e.id, p.part",
        )
        .bind(now)
        .fetch_all(&mut *tx)
        .await
        .map_err(self.db.sql())?;
        let objects = rows
            .iter()
            .map(|r| self.s3_object_id(r, 0, ENTRY_PARTS))
            .collect::<Result<_, Error>>()?;
        sqlx::query("DELETE FROM s3_entries WHERE expires_ms <= ?")
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(self.db.sql())?;
        let released = self.release_objects(&mut tx, objects, now).await?;
        tx.commit().await.map_err(self.db.sql())?;
        Ok(released)
    }

    /// Replaces whatever entry is at `entry`'s key with it; returns the replaced entry's objects
    /// (to be released once nothing else holds them).
    pub(super) async fn replace_entry(
        &self,
        tx: &mut SqliteConnection,
        entry: &S3Entry,
    ) -> Result<Vec<[u8; 16]>, Error> {
        let owner = entry.owner.to_ss58();
        let replaced = self
            .entry_objects(tx, &owner, &entry.bucket, &entry.key)
            .await?;
        // The old entry's parts go with it (`ON DELETE CASCADE`).
        sqlx::query("DELETE FROM s3_entries WHERE owner = ? AND bucket = ? AND key = ?")
            .bind(&owner)
            .bind(&entry.bucket)
            .bind(&entry.key)
            .execute(&mut *tx)
            .await
            .map_err(self.db.sql())?;
        let h = &entry.headers;
        let id = sqlx::query(
            "INSERT INTO s3_entries (owner, bucket, key, size, etag, modified_ms, expires_ms,
                                     content_type, content_disposition, cache_control, user_meta)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&owner)
        .bind(&entry.bucket)
        .bind(&entry.key)
        .bind(self.int("size", entry.size)?)
        .bind(&entry.etag)
        .bind(self.int("modified_ms", entry.modified_ms)?)
        .bind(self.int("expires_ms", entry.expires_ms)?)
        .bind(h.content_type.as_deref())
        .bind(h.content_disposition.as_deref())
        .bind(h.cache_control.as_deref())
        .bind(&h.user_meta)
        .execute(&mut *tx)
        .await
        .map_err(self.db.sql())?
        .last_insert_rowid();
        for (part, p) in (1i64..).zip(&entry.parts) {
            sqlx::query(
                "INSERT INTO s3_entry_parts (entry, part, object, size, tail)
                 VALUES (?, ?, ?, ?, ?)",
            )
            .bind(id)
            .bind(part)
            .bind(&p.object[..])
            .bind(self.int("part size", p.size)?)
            .bind((!p.tail.is_empty()).then_some(&p.tail[..]))
            .execute(&mut *tx)
            .await
            .map_err(self.db.sql())?;
        }
        Ok(replaced)
    }

    /// The objects of the entry at `key` of `owner`'s bucket, in order.
    async fn entry_objects(
        &self,
        tx: &mut SqliteConnection,
        owner: &str,
        bucket: &str,
        key: &str,
    ) -> Result<Vec<[u8; 16]>, Error> {
        let rows = sqlx::query(
            "SELECT p.object FROM s3_entries e JOIN s3_entry_parts p ON p.entry = e.id
             WHERE e.owner = ? AND e.bucket = ? AND e.key = ? ORDER BY p.part",
        )
        .bind(owner)
        .bind(bucket)
        .bind(key)
        .fetch_all(&mut *tx)
        .await
        .map_err(self.db.sql())?;
        rows.iter()
            .map(|r| self.s3_object_id(r, 0, ENTRY_PARTS))
            .collect()
    }
}
