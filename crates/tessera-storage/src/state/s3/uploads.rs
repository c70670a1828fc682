//! Multipart uploads: begun, their parts put as they arrive, listed, completed into an entry or
//! aborted; abandoned ones found for the sweep.

use sqlx::Row;
use tessera_core::AccountId;

use super::{PARTS, S3Entry, UPLOADS, Upload, UploadPart, prefix_end};
use crate::Error;
use crate::state::StateDb;

impl StateDb {
    /// Records a multipart upload begun. Its id is the caller's to make unique (the primary key
    /// refuses a second), and the bucket must exist (its foreign key refuses the upload).
    pub async fn begin_upload(&self, upload: &Upload) -> Result<(), Error> {
        self.check_key(&upload.key)?;
        self.check_user_meta(&upload.headers.user_meta)?;
        let h = &upload.headers;
        sqlx::query(
            "INSERT INTO s3_uploads (upload_id, owner, bucket, key, created_ms, content_type,
                                     content_disposition, cache_control, user_meta, ttl_secs)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&upload.upload_id)
        .bind(upload.owner.to_ss58())
        .bind(&upload.bucket)
        .bind(&upload.key)
        .bind(self.int("created_ms", upload.created_ms)?)
        .bind(h.content_type.as_deref())
        .bind(h.content_disposition.as_deref())
        .bind(h.cache_control.as_deref())
        .bind(&h.user_meta)
        .bind(self.int("ttl_secs", upload.ttl_secs)?)
        .execute(&self.db.pool)
        .await
        .map_err(self.db.sql())?;
        Ok(())
    }

    /// The open upload `upload_id`.
    pub async fn upload(&self, upload_id: &str) -> Result<Option<Upload>, Error> {
        let row = sqlx::query(concat!(upload_columns!(), " WHERE upload_id = ?"))
            .bind(upload_id)
            .fetch_optional(&self.db.pool)
            .await
            .map_err(self.db.sql())?;
        row.map(|r| self.upload_row(&r)).transpose()
    }

    /// The open uploads of `owner`'s bucket whose keys start with `prefix` (itself, not a
    /// pattern), by key and then oldest first, as S3 lists them.
    pub async fn uploads_of(
        &self,
        owner: &AccountId,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<Upload>, Error> {
        let end = prefix_end(prefix);
        let query = match end {
            Some(_) => sqlx::query(concat!(
                upload_columns!(),
                " WHERE owner = ? AND bucket = ? AND key >= ? AND key < ?
                  ORDER BY key, created_ms, upload_id"
            )),
            None => sqlx::query(concat!(
                upload_columns!(),
                " WHERE owner = ? AND bucket = ? AND key >= ?
                  ORDER BY key, created_ms, upload_id"
            )),
        };
        let query = query.bind(owner.to_ss58()).bind(bucket).bind(prefix);
        let query = match end {
            Some(end) => query.bind(end),
            None => query,
        };
        let rows = query
            .fetch_all(&self.db.pool)
            .await
            .map_err(self.db.sql())?;
        rows.iter().map(|r| self.upload_row(r)).collect()
    }

    /// Records `part` of upload `upload_id` (its `modified_ms` being now), replacing a part with
    /// that number, in one transaction with ending the replaced object's life; returns that
    /// object, unless an S3 row still holds it (the same object sent again, say). An upload
    /// that does not exist, or no longer does, is an error: its foreign key refuses the part.
    pub async fn put_upload_part(
        &self,
        upload_id: &str,
        part: &UploadPart,
    ) -> Result<Option<[u8; 16]>, Error> {
        let UploadPart {
            part_number,
            object,
            size,
            tail,
            etag,
            modified_ms,
        } = part;
        let part_number = *part_number;
        self.check_part_number(part_number)?;
        let now = self.int("modified_ms", *modified_ms)?;
        let size = self.int("size", *size)?;
        let mut tx = self.write_tx().await?;
        let old = sqlx::query(
            "SELECT object FROM s3_upload_parts WHERE upload_id = ? AND part_number = ?",
        )
        .bind(upload_id)
        .bind(i64::from(part_number))
        .fetch_optional(&mut *tx)
        .await
        .map_err(self.db.sql())?
        .map(|r| self.s3_object_id(&r, 0, PARTS))
        .transpose()?;
        sqlx::query(
            "INSERT INTO s3_upload_parts
                 (upload_id, part_number, object, size, tail, etag, modified_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (upload_id, part_number) DO UPDATE SET
                 object = excluded.object, size = excluded.size, tail = excluded.tail,
                 etag = excluded.etag, modified_ms = excluded.modified_ms",
        )
        .bind(upload_id)
        .bind(i64::from(part_number))
        .bind(&object[..])
        .bind(size)
        .bind((!tail.is_empty()).then_some(&tail[..]))
        .bind(etag)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(self.db.sql())?;
        let released = self
            .release_objects(&mut tx, old.into_iter().collect(), now)
            .await?;
        tx.commit().await.map_err(self.db.sql())?;
        Ok(released.into_iter().next())
    }

    /// The parts of upload `upload_id`, by part number.
    pub async fn upload_parts(&self, upload_id: &str) -> Result<Vec<UploadPart>, Error> {
        let rows = sqlx::query(
            "SELECT part_number, object, size, etag, modified_ms, tail FROM s3_upload_parts
             WHERE upload_id = ? ORDER BY part_number",
        )
        .bind(upload_id)
        .fetch_all(&self.db.pool)
        .await
        .map_err(self.db.sql())?;
        rows.iter()
            .map(|r| {
                let number = self.u64(r, 0, PARTS, "part_number")?;
                Ok(UploadPart {
                    part_number: u32::try_from(number)
                        .map_err(|_| self.bad_row(PARTS, format!("part number {number}")))?,
                    object: self.s3_object_id(r, 1, PARTS)?,
                    size: self.u64(r, 2, PARTS, "size")?,
                    tail: self.tail(r, 5)?,
                    etag: r.try_get(3).map_err(self.db.sql())?,
                    modified_ms: self.u64(r, 4, PARTS, "modified_ms")?,
                })
            })
            .collect()
    }

    /// Completes upload `upload_id` as `entry`, in one transaction: the entry is put as
    /// [`Self::put_entry`] puts one, and the upload and its parts are forgotten. The objects of
    /// the replaced entry and of the upload's parts that `entry` does not list end their lives
    /// and are returned, in that order. `None` when there is no such upload (completed or
    /// aborted meanwhile), when nothing is changed; an entry at another key than the upload's is
    /// refused.
    pub async fn complete_upload(
        &self,
        upload_id: &str,
        entry: &S3Entry,
        now_ms: u64,
    ) -> Result<Option<Vec<[u8; 16]>>, Error> {
        self.check_entry(entry)?;
        let now = self.int("now_ms", now_ms)?;
        let mut tx = self.write_tx().await?;
        let Some(row) =
            sqlx::query("SELECT owner, bucket, key FROM s3_uploads WHERE upload_id = ?")
                .bind(upload_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(self.db.sql())?
        else {
            return Ok(None);
        };
        let owner = self.account(&row, 0, UPLOADS)?;
        let bucket: String = row.try_get(1).map_err(self.db.sql())?;
        let key: String = row.try_get(2).map_err(self.db.sql())?;
        if (&owner, &bucket, &key) != (&entry.owner, &entry.bucket, &entry.key) {
            return Err(self.refused(
                "upload",
                format!("upload {upload_id:?} is for another bucket or key than the entry's"),
            ));
        }
        let mut objects = self.replace_entry(&mut tx, entry).await?;
        let rows = sqlx::query(
            "SELECT object FROM s3_upload_parts WHERE upload_id = ? ORDER BY part_number",
        )
        .bind(upload_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(self.db.sql())?;
        for r in &rows {
            objects.push(self.s3_object_id(r, 0, PARTS)?);
        }
        sqlx::query("DELETE FROM s3_uploads WHERE upload_id = ?")
            .bind(upload_id)
            .execute(&mut *tx)
            .await
            .map_err(self.db.sql())?;
        // The parts the entry lists are its own now, so only the others are released.
        let released = self.release_objects(&mut tx, objects, now).await?;
        tx.commit().await.map_err(self.db.sql())?;
        Ok(Some(released))
    }

    /// Aborts upload `upload_id`, in one transaction with ending the lives of all its parts'
    /// objects that no S3 row holds any more; returns whether there was such an upload.
    pub async fn abort_upload(&self, upload_id: &str, now_ms: u64) -> Result<bool, Error> {
        let now = self.int("now_ms", now_ms)?;
        let mut tx = self.write_tx().await?;
        let rows = sqlx::query(
            "SELECT object FROM s3_upload_parts WHERE upload_id = ? ORDER BY part_number",
        )
        .bind(upload_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(self.db.sql())?;
        let objects = rows
            .iter()
            .map(|r| self.s3_object_id(r, 0, PARTS))
            .collect::<Result<_, Error>>()?;
        let done = sqlx::query("DELETE FROM s3_uploads WHERE upload_id = ?")
            .bind(upload_id)
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

    /// The open uploads begun before `created_before_ms`, oldest first: for a sweep to abort.
    pub async fn stale_uploads(&self, created_before_ms: u64) -> Result<Vec<Upload>, Error> {
        let rows = sqlx::query(concat!(
            upload_columns!(),
            " WHERE created_ms < ? ORDER BY created_ms, upload_id"
        ))
        .bind(self.int("created_before_ms", created_before_ms)?)
        .fetch_all(&self.db.pool)
        .await
        .map_err(self.db.sql())?;
        rows.iter().map(|r| self.upload_row(r)).collect()
    }
}
