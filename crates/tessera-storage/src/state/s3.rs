//! The S3 face's records in the validator's state database (migration 8): access keys with their
//! sealed secrets, buckets (named per owner), entries (what S3 calls objects, each held in one or
//! more Tessera objects) and multipart uploads under way.
//!
//! Nothing here deletes a Tessera object. Whatever replaces or deletes rows that held objects
//! ends those objects' lives (`objects.expires_ms`, brought forward to now) in the same
//! transaction, so that the reclaim sweep gives their slots back; an object another S3 row still
//! holds (an entry copied in place, say) is left alone. Writes that read first take the write
//! lock at their start (`BEGIN IMMEDIATE`): a deferred transaction that read and then wrote would
//! fail at once, without waiting, if another connection wrote in between.

use std::collections::HashSet;

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, Sqlite, SqliteConnection, Transaction};
use tessera_core::AccountId;

use super::StateDb;
use crate::Error;

/// The longest key S3 allows, in UTF-8 bytes.
pub const S3_MAX_KEY_BYTES: usize = 1024;

/// S3 numbers an upload's parts from 1 to this.
pub const S3_MAX_PART_NUMBER: u32 = 10_000;

/// An S3 access key of an owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Key {
    pub access_key: String,
    pub owner: AccountId,
    /// The secret as the gateway sealed it, under a key derived from the validator's hotkey:
    /// SigV4 needs the secret itself on the server, and a copy of the state file alone must not
    /// give it away. Stored as given.
    pub sealed_secret: Vec<u8>,
    pub created_ms: u64,
    /// When the key was revoked; a revoked key is kept so that its id is never given out again.
    pub revoked_ms: Option<u64>,
}

/// A bucket. Names are per owner: the owner of a request's access key says whose they are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bucket {
    pub owner: AccountId,
    pub name: String,
    pub created_ms: u64,
    /// How long an entry put without a TTL of its own lives.
    pub default_ttl_secs: u64,
}

/// A bucket with what it holds now: its live entries and their bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BucketUsage {
    pub bucket: Bucket,
    pub entries: u64,
    pub bytes: u64,
}

/// What [`StateDb::delete_bucket`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BucketDeleted {
    Deleted,
    NoSuchBucket,
    /// An entry or an open multipart upload is in it; nothing was deleted.
    NotEmpty,
}

/// The headers an entry is served with, as the put or the upload's start gave them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Headers {
    pub content_type: Option<String>,
    pub content_disposition: Option<String>,
    pub cache_control: Option<String>,
    /// A JSON object of the x-amz-meta-* pairs, stored as given (checked to be an object).
    pub user_meta: String,
}

/// No headers, and no user metadata: `{}`.
impl Default for S3Headers {
    fn default() -> Self {
        Self {
            content_type: None,
            content_disposition: None,
            cache_control: None,
            user_meta: "{}".to_owned(),
        }
    }
}

/// One Tessera object holding a run of an entry's bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryPart {
    pub object: [u8; 16],
    /// Bytes of the entry it holds, the tail's included.
    pub size: u64,
    /// The run's last bytes, kept here rather than in the object, as the gateway sealed them
    /// (opaque to this crate); empty for none. Migration 9 says why.
    pub tail: Vec<u8>,
}

/// An entry: what S3 calls an object, at one key of one owner's bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Entry {
    pub owner: AccountId,
    pub bucket: String,
    /// Any UTF-8 up to [`S3_MAX_KEY_BYTES`] bytes, not empty.
    pub key: String,
    /// Bytes in all; the parts' sizes add up to it.
    pub size: u64,
    pub etag: String,
    pub modified_ms: u64,
    /// When the entry ends. Readers compare it with the time themselves: an expired entry stays
    /// readable here until [`StateDb::delete_expired_entries`].
    pub expires_ms: u64,
    pub headers: S3Headers,
    /// The Tessera objects holding its bytes, in order: one for a PutObject, one per part for a
    /// multipart upload, none for an empty entry. A part whose object is gone or expired makes
    /// the whole entry missing. Left empty by listings.
    pub parts: Vec<EntryPart>,
}

/// A multipart upload begun and neither completed nor aborted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upload {
    pub upload_id: String,
    pub owner: AccountId,
    pub bucket: String,
    pub key: String,
    pub created_ms: u64,
    /// The headers the entry will have.
    pub headers: S3Headers,
    /// How long the entry will live once complete.
    pub ttl_secs: u64,
}

/// A part of a multipart upload, as uploaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadPart {
    /// The client's number for it, 1 to [`S3_MAX_PART_NUMBER`].
    pub part_number: u32,
    pub object: [u8; 16],
    /// Bytes of the part, the tail's included.
    pub size: u64,
    /// As [`EntryPart::tail`].
    pub tail: Vec<u8>,
    pub etag: String,
    pub modified_ms: u64,
}

/// The columns an entry is read from, `e` being `s3_entries`; the entry's id comes first, for
/// grouping its parts.
macro_rules! entry_columns {
    () => {
        "e.id, e.owner, e.bucket, e.key, e.size, e.etag, e.modified_ms, e.expires_ms,
         e.content_type, e.content_disposition, e.cache_control, e.user_meta"
    };
}

/// An entry's columns and its parts' (object, size, tail), null for an entry without parts, in
/// order.
macro_rules! entry_with_parts {
    ($where:literal) => {
        concat!(
            "SELECT ",
            entry_columns!(),
            ", p.object, p.size, p.tail FROM s3_entries e
             LEFT JOIN s3_entry_parts p ON p.entry = e.id
             WHERE ",
            $where,
            " ORDER BY e.expires_ms, e.id, p.part"
        )
    };
}

/// The columns an upload is read from.
macro_rules! upload_columns {
    () => {
        "SELECT upload_id, owner, bucket, key, created_ms, content_type, content_disposition,
                cache_control, user_meta, ttl_secs FROM s3_uploads"
    };
}

// Declared after the column macros above, which they use (macros are in scope from where
// they are defined on).
mod entries;
mod uploads;

const KEYS: &str = "s3_keys";
const BUCKETS: &str = "s3_buckets";
const ENTRIES: &str = "s3_entries";
const ENTRY_PARTS: &str = "s3_entry_parts";
const UPLOADS: &str = "s3_uploads";
const PARTS: &str = "s3_upload_parts";

impl StateDb {
    /// Records `owner`'s new access key with its sealed secret; false if the access key exists
    /// (revoked or not), when nothing is changed.
    pub async fn create_s3_key(
        &self,
        access_key: &str,
        owner: &AccountId,
        sealed_secret: &[u8],
        now_ms: u64,
    ) -> Result<bool, Error> {
        let done = sqlx::query(
            "INSERT INTO s3_keys (access_key, owner, sealed_secret, created_ms)
             VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(access_key)
        .bind(owner.to_ss58())
        .bind(sealed_secret)
        .bind(self.int("now_ms", now_ms)?)
        .execute(&self.db.pool)
        .await
        .map_err(self.db.sql())?;
        Ok(done.rows_affected() == 1)
    }

    /// The access key `access_key`, revoked ones included (with `revoked_ms`).
    pub async fn s3_key(&self, access_key: &str) -> Result<Option<S3Key>, Error> {
        let row = sqlx::query(
            "SELECT access_key, owner, sealed_secret, created_ms, revoked_ms FROM s3_keys
             WHERE access_key = ?",
        )
        .bind(access_key)
        .fetch_optional(&self.db.pool)
        .await
        .map_err(self.db.sql())?;
        row.map(|r| self.key_row(&r)).transpose()
    }

    /// Every access key of `owner`, revoked ones included, oldest first.
    pub async fn s3_keys_of(&self, owner: &AccountId) -> Result<Vec<S3Key>, Error> {
        let rows = sqlx::query(
            "SELECT access_key, owner, sealed_secret, created_ms, revoked_ms FROM s3_keys
             WHERE owner = ? ORDER BY created_ms, access_key",
        )
        .bind(owner.to_ss58())
        .fetch_all(&self.db.pool)
        .await
        .map_err(self.db.sql())?;
        rows.iter().map(|r| self.key_row(r)).collect()
    }

    /// Revokes `access_key` if it is `owner`'s and not revoked yet; returns whether it did. Another
    /// owner's key is left alone, and the answer is the same as for a key that does not exist.
    pub async fn revoke_s3_key(
        &self,
        access_key: &str,
        owner: &AccountId,
        now_ms: u64,
    ) -> Result<bool, Error> {
        let done = sqlx::query(
            "UPDATE s3_keys SET revoked_ms = ?
             WHERE access_key = ? AND owner = ? AND revoked_ms IS NULL",
        )
        .bind(self.int("now_ms", now_ms)?)
        .bind(access_key)
        .bind(owner.to_ss58())
        .execute(&self.db.pool)
        .await
        .map_err(self.db.sql())?;
        Ok(done.rows_affected() == 1)
    }

    /// Creates `owner`'s bucket `name`; false if the owner has one by that name already, when it
    /// is left as it was.
    pub async fn create_bucket(
        &self,
        owner: &AccountId,
        name: &str,
        default_ttl_secs: u64,
        now_ms: u64,
    ) -> Result<bool, Error> {
        let done = sqlx::query(
            "INSERT INTO s3_buckets (owner, name, created_ms, default_ttl_secs)
             VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(owner.to_ss58())
        .bind(name)
        .bind(self.int("now_ms", now_ms)?)
        .bind(self.int("default_ttl_secs", default_ttl_secs)?)
        .execute(&self.db.pool)
        .await
        .map_err(self.db.sql())?;
        Ok(done.rows_affected() == 1)
    }

    /// `owner`'s bucket `name`.
    pub async fn bucket(&self, owner: &AccountId, name: &str) -> Result<Option<Bucket>, Error> {
        let row = sqlx::query(
            "SELECT owner, name, created_ms, default_ttl_secs FROM s3_buckets
             WHERE owner = ? AND name = ?",
        )
        .bind(owner.to_ss58())
        .bind(name)
        .fetch_optional(&self.db.pool)
        .await
        .map_err(self.db.sql())?;
        row.map(|r| self.bucket_row(&r)).transpose()
    }

    /// Every owner's buckets, by owner and name, with their entries live at `now_ms` (the
    /// operator's view, for the web page).
    pub async fn bucket_usage(&self, now_ms: u64) -> Result<Vec<BucketUsage>, Error> {
        let rows = sqlx::query(
            "SELECT b.owner, b.name, b.created_ms, b.default_ttl_secs,
                    COUNT(e.id), COALESCE(SUM(e.size), 0)
             FROM s3_buckets b LEFT JOIN s3_entries e
               ON e.owner = b.owner AND e.bucket = b.name AND e.expires_ms > ?
             GROUP BY b.owner, b.name ORDER BY b.owner, b.name",
        )
        .bind(self.int("now_ms", now_ms)?)
        .fetch_all(&self.db.pool)
        .await
        .map_err(self.db.sql())?;
        rows.iter()
            .map(|r| {
                Ok(BucketUsage {
                    bucket: self.bucket_row(r)?,
                    entries: self.u64(r, 4, BUCKETS, "entries")?,
                    bytes: self.u64(r, 5, BUCKETS, "bytes")?,
                })
            })
            .collect()
    }

    /// Whether any owner has a bucket named `name`.
    pub async fn bucket_named(&self, name: &str) -> Result<bool, Error> {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM s3_buckets WHERE name = ?)")
            .bind(name)
            .fetch_one(&self.db.pool)
            .await
            .map_err(self.db.sql())
    }

    /// Every bucket of `owner`, by name.
    pub async fn buckets_of(&self, owner: &AccountId) -> Result<Vec<Bucket>, Error> {
        let rows = sqlx::query(
            "SELECT owner, name, created_ms, default_ttl_secs FROM s3_buckets
             WHERE owner = ? ORDER BY name",
        )
        .bind(owner.to_ss58())
        .fetch_all(&self.db.pool)
        .await
        .map_err(self.db.sql())?;
        rows.iter().map(|r| self.bucket_row(r)).collect()
    }

    /// Deletes `owner`'s bucket `name` if nothing is in it: no entry and no open upload.
    pub async fn delete_bucket(
        &self,
        owner: &AccountId,
        name: &str,
    ) -> Result<BucketDeleted, Error> {
        let owner = owner.to_ss58();
        // The emptiness check and the delete are one statement, so no put can slip in between.
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(
            "DELETE FROM s3_buckets WHERE owner = ?1 AND name = ?2
               AND NOT EXISTS (SELECT 1 FROM s3_entries WHERE owner = ?1 AND bucket = ?2)
               AND NOT EXISTS (SELECT 1 FROM s3_uploads WHERE owner = ?1 AND bucket = ?2)",
        )
        .bind(&owner)
        .bind(name)
        .execute(&mut *tx)
        .await
        .map_err(self.db.sql())?;
        if done.rows_affected() == 1 {
            tx.commit().await.map_err(self.db.sql())?;
            return Ok(BucketDeleted::Deleted);
        }
        let exists: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM s3_buckets WHERE owner = ? AND name = ?)",
        )
        .bind(&owner)
        .bind(name)
        .fetch_one(&mut *tx)
        .await
        .map_err(self.db.sql())?;
        Ok(if exists {
            BucketDeleted::NotEmpty
        } else {
            BucketDeleted::NoSuchBucket
        })
    }

    /// What holds object `id` for the S3 face, named for a person: `bucket/key` of an entry,
    /// or `bucket/key` and the part of an upload in progress; `None` when no S3 row holds it.
    /// The object API refuses to delete such an object, which would pull bytes from under an
    /// entry that S3 still lists.
    pub async fn s3_holder(&self, id: &[u8; 16]) -> Result<Option<String>, Error> {
        sqlx::query_scalar(
            "SELECT e.bucket || '/' || e.key
               FROM s3_entry_parts p JOIN s3_entries e ON e.id = p.entry WHERE p.object = ?1
             UNION ALL
             SELECT u.bucket || '/' || u.key || ' (part ' || p.part_number || ' of upload '
                    || u.upload_id || ')'
               FROM s3_upload_parts p JOIN s3_uploads u ON u.upload_id = p.upload_id
              WHERE p.object = ?1
             LIMIT 1",
        )
        .bind(&id[..])
        .fetch_optional(&self.db.pool)
        .await
        .map_err(self.db.sql())
    }

    /// Every object that an entry or an upload part of `owner`'s holds: the S3 face's own,
    /// which the object API's listing leaves out.
    pub async fn s3_objects_of(&self, owner: &AccountId) -> Result<HashSet<[u8; 16]>, Error> {
        let rows = sqlx::query(
            "SELECT p.object FROM s3_entry_parts p JOIN s3_entries e ON e.id = p.entry
              WHERE e.owner = ?1
             UNION
             SELECT p.object FROM s3_upload_parts p JOIN s3_uploads u ON u.upload_id = p.upload_id
              WHERE u.owner = ?1",
        )
        .bind(owner.to_ss58())
        .fetch_all(&self.db.pool)
        .await
        .map_err(self.db.sql())?;
        rows.iter()
            .map(|r| self.s3_object_id(r, 0, ENTRY_PARTS))
            .collect()
    }

    /// A transaction holding the write lock from its start, for writes that read first.
    async fn write_tx(&self) -> Result<Transaction<'static, Sqlite>, Error> {
        self.db
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(self.db.sql())
    }

    /// Of `candidates`, once each and in order, those no entry or upload part holds any more
    /// (the caller's deletes and inserts already made): their objects' lives end at `now`, for
    /// the reclaim sweep, unless they ended sooner. An object held elsewhere (an entry copied
    /// in place, a part listed by the entry it completes) is left alone.
    async fn release_objects(
        &self,
        tx: &mut SqliteConnection,
        candidates: Vec<[u8; 16]>,
        now: i64,
    ) -> Result<Vec<[u8; 16]>, Error> {
        let mut seen = HashSet::new();
        let mut released = Vec::new();
        for id in candidates {
            if !seen.insert(id) {
                continue;
            }
            let held: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM s3_entry_parts WHERE object = ?1)
                     OR EXISTS (SELECT 1 FROM s3_upload_parts WHERE object = ?1)",
            )
            .bind(&id[..])
            .fetch_one(&mut *tx)
            .await
            .map_err(self.db.sql())?;
            if held {
                continue;
            }
            sqlx::query("UPDATE objects SET expires_ms = MIN(expires_ms, ?) WHERE id = ?")
                .bind(now)
                .bind(&id[..])
                .execute(&mut *tx)
                .await
                .map_err(self.db.sql())?;
            released.push(id);
        }
        Ok(released)
    }

    /// Refuses an entry S3 would refuse, or whose parts do not add up to its size.
    fn check_entry(&self, entry: &S3Entry) -> Result<(), Error> {
        self.check_key(&entry.key)?;
        self.check_user_meta(&entry.headers.user_meta)?;
        let total = entry
            .parts
            .iter()
            .try_fold(0u64, |sum, p| sum.checked_add(p.size));
        if total != Some(entry.size) {
            return Err(self.refused(
                "entry",
                format!(
                    "its parts hold {} bytes, not its size {}",
                    total.map_or_else(|| "more than 2^64".to_owned(), |t| t.to_string()),
                    entry.size
                ),
            ));
        }
        Ok(())
    }

    fn check_key(&self, key: &str) -> Result<(), Error> {
        if key.is_empty() {
            return Err(self.refused("key", "it is empty".into()));
        }
        if key.len() > S3_MAX_KEY_BYTES {
            return Err(self.refused(
                "key",
                format!(
                    "it is {} bytes long, over the limit of {S3_MAX_KEY_BYTES}",
                    key.len()
                ),
            ));
        }
        Ok(())
    }

    fn check_part_number(&self, part_number: u32) -> Result<(), Error> {
        if !(1..=S3_MAX_PART_NUMBER).contains(&part_number) {
            return Err(self.refused(
                "part number",
                format!("{part_number} is not between 1 and {S3_MAX_PART_NUMBER}"),
            ));
        }
        Ok(())
    }

    /// User metadata is stored as given, but only as a JSON object: a reader parses it back.
    fn check_user_meta(&self, user_meta: &str) -> Result<(), Error> {
        serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(user_meta)
            .map(drop)
            .map_err(|e| self.refused("user metadata", format!("not a json object: {e}")))
    }

    fn refused(&self, what: &'static str, reason: String) -> Error {
        Error::S3Input {
            path: self.db.path.clone(),
            what,
            reason,
        }
    }

    fn key_row(&self, r: &SqliteRow) -> Result<S3Key, Error> {
        let revoked: Option<i64> = r.try_get(4).map_err(self.db.sql())?;
        Ok(S3Key {
            access_key: r.try_get(0).map_err(self.db.sql())?,
            owner: self.account(r, 1, KEYS)?,
            sealed_secret: r.try_get(2).map_err(self.db.sql())?,
            created_ms: self.u64(r, 3, KEYS, "created_ms")?,
            revoked_ms: revoked
                .map(|v| {
                    u64::try_from(v)
                        .map_err(|_| self.bad_row(KEYS, format!("revoked_ms {v} is negative")))
                })
                .transpose()?,
        })
    }

    fn bucket_row(&self, r: &SqliteRow) -> Result<Bucket, Error> {
        Ok(Bucket {
            owner: self.account(r, 0, BUCKETS)?,
            name: r.try_get(1).map_err(self.db.sql())?,
            created_ms: self.u64(r, 2, BUCKETS, "created_ms")?,
            default_ttl_secs: self.u64(r, 3, BUCKETS, "default_ttl_secs")?,
        })
    }

    /// An entry without its parts, from the columns of `entry_columns!`.
    fn entry_row(&self, r: &SqliteRow) -> Result<S3Entry, Error> {
        Ok(S3Entry {
            owner: self.account(r, 1, ENTRIES)?,
            bucket: r.try_get(2).map_err(self.db.sql())?,
            key: r.try_get(3).map_err(self.db.sql())?,
            size: self.u64(r, 4, ENTRIES, "size")?,
            etag: r.try_get(5).map_err(self.db.sql())?,
            modified_ms: self.u64(r, 6, ENTRIES, "modified_ms")?,
            expires_ms: self.u64(r, 7, ENTRIES, "expires_ms")?,
            headers: self.headers(r, 8)?,
            parts: Vec::new(),
        })
    }

    /// Entries with their parts from the rows of `entry_with_parts!`, one row per part (or one with
    /// no part), each entry's rows together.
    fn entries_with_parts(&self, rows: &[SqliteRow]) -> Result<Vec<S3Entry>, Error> {
        let mut out: Vec<(i64, S3Entry)> = Vec::new();
        for r in rows {
            let id: i64 = r.try_get(0).map_err(self.db.sql())?;
            if out.last().is_none_or(|(last, _)| *last != id) {
                out.push((id, self.entry_row(r)?));
            }
            let object: Option<Vec<u8>> = r.try_get(12).map_err(self.db.sql())?;
            if object.is_some() {
                let part = EntryPart {
                    object: self.s3_object_id(r, 12, ENTRY_PARTS)?,
                    size: self.u64(r, 13, ENTRY_PARTS, "size")?,
                    tail: self.tail(r, 14)?,
                };
                if let Some((_, entry)) = out.last_mut() {
                    entry.parts.push(part);
                }
            }
        }
        Ok(out.into_iter().map(|(_, e)| e).collect())
    }

    /// A part's sealed tail from column `i`, empty where it is NULL (no tail).
    fn tail(&self, r: &SqliteRow, i: usize) -> Result<Vec<u8>, Error> {
        let tail: Option<Vec<u8>> = r.try_get(i).map_err(self.db.sql())?;
        Ok(tail.unwrap_or_default())
    }

    fn upload_row(&self, r: &SqliteRow) -> Result<Upload, Error> {
        Ok(Upload {
            upload_id: r.try_get(0).map_err(self.db.sql())?,
            owner: self.account(r, 1, UPLOADS)?,
            bucket: r.try_get(2).map_err(self.db.sql())?,
            key: r.try_get(3).map_err(self.db.sql())?,
            created_ms: self.u64(r, 4, UPLOADS, "created_ms")?,
            headers: self.headers(r, 5)?,
            ttl_secs: self.u64(r, 9, UPLOADS, "ttl_secs")?,
        })
    }

    /// Content type, disposition, cache control and user metadata, from `at` on.
    fn headers(&self, r: &SqliteRow, at: usize) -> Result<S3Headers, Error> {
        Ok(S3Headers {
            content_type: r.try_get(at).map_err(self.db.sql())?,
            content_disposition: r.try_get(at + 1).map_err(self.db.sql())?,
            cache_control: r.try_get(at + 2).map_err(self.db.sql())?,
            user_meta: r.try_get(at + 3).map_err(self.db.sql())?,
        })
    }

    fn s3_object_id(
        &self,
        r: &SqliteRow,
        at: usize,
        table: &'static str,
    ) -> Result<[u8; 16], Error> {
        let id: Vec<u8> = r.try_get(at).map_err(self.db.sql())?;
        id.try_into()
            .map_err(|_| self.bad_row(table, "an object id is not 16 bytes".into()))
    }
}

/// The least string above every string that starts with `prefix`, or `None` when there is none
/// (an empty prefix, or one of U+10FFFF alone). With `key >= prefix AND key < end` a listing is
/// one range of the index, where `LIKE` would scan and would read `%` and `_` as patterns. UTF-8
/// orders bytes as code points, and no character encodes as the start of another's bytes, so the
/// last character that has a successor is bumped to it and what follows it dropped.
pub fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        // The surrogates are no characters: U+D7FF is followed by U+E000.
        let next = match last {
            '\u{D7FF}' => Some('\u{E000}'),
            c => char::from_u32(u32::from(c) + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn prefix_end_is_the_next_string_past_the_prefix() {
        assert_eq!(prefix_end(""), None);
        assert_eq!(prefix_end("a/"), Some("a0".to_owned()));
        assert_eq!(prefix_end("%"), Some("&".to_owned()));
        assert_eq!(prefix_end("é"), Some("ê".to_owned()));
        assert_eq!(prefix_end("a\u{D7FF}"), Some("a\u{E000}".to_owned()));
        assert_eq!(prefix_end("a\u{10FFFF}"), Some("b".to_owned()));
        assert_eq!(prefix_end("\u{10FFFF}\u{10FFFF}"), None);
    }
}
