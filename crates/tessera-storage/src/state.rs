//! A validator's state database: the miners it has seen, every challenge and its outcome, each
//! miner's running score, its blacklist and the weights it set, so that a restarted validator
//! carries on where it stopped.
//!
//! Tables `miners`, `challenges`, `miner_stats`, `blacklist` and `weights`; hotkeys are stored as
//! SS58 text. The file belongs to one validator, whose hotkey its `meta` table records. The
//! gateway's index of client data is in `objects.rs` (migrations 2, 3, 6 and 7), challenges v2
//! in `commitments.rs` (migration 5), and the S3 face's keys, buckets, entries and uploads in
//! `s3.rs` (migration 8).

use std::path::Path;

use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use tessera_core::AccountId;

use crate::Error;

mod commitments;
mod objects;
mod s3;

use crate::sqlite::{Db, Identity, Kind, MetaRows};
pub use commitments::{HeldCommitment, Lie};
pub use objects::{Holders, NewObject, ObjectRecord, PlacementRecord, SegmentRecord};
pub use s3::{
    Bucket, BucketDeleted, BucketUsage, EntryPart, S3_MAX_KEY_BYTES, S3_MAX_PART_NUMBER, S3Entry,
    S3Headers, S3Key, Upload, UploadPart, prefix_end,
};

/// One challenge of a round and its outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChallengeRecord {
    pub chunk_id: u64,
    pub segment: u32,
    pub success: bool,
    pub latency_ms: u64,
    pub bytes: u64,
    /// When the challenge was sent, in unix milliseconds.
    pub at_ms: u64,
    /// Why the challenge failed, if it did and there is something to say.
    pub reason: Option<String>,
}

/// A miner's running score as the validator last computed it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MinerStats {
    pub alpha: f64,
    pub beta: f64,
    pub claimed_bytes: u64,
    pub proven_bytes: u64,
    pub score: f64,
    pub updated_ms: u64,
}

/// The outcome of a miner's most recent challenges.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Window {
    /// How many challenges the window holds: the number asked for, or fewer if there were not
    /// that many.
    pub items: u64,
    pub successes: u64,
    /// Mean latency over every challenge in the window, failed ones included; 0 when empty.
    pub mean_latency_ms: f64,
}

/// A miner as the validator last saw it in the metagraph.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MinerRecord {
    pub hotkey: AccountId,
    pub uid: u16,
    pub axon: Option<String>,
    pub first_seen_ms: u64,
    pub last_seen_ms: u64,
}

/// Weights committed on chain and waiting to be revealed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingCommit {
    /// The commit hash the chain holds.
    pub hash: [u8; 32],
    pub netuid: u16,
    pub uids: Vec<u16>,
    pub values: Vec<u16>,
    pub salt: Vec<u16>,
    pub version_key: u64,
    /// The chain's block when the commit was submitted.
    pub commit_block: u64,
    /// The validator's epoch the weights belong to.
    pub epoch: u64,
    pub created_ms: u64,
}

/// The weights of one epoch: (uid, hotkey, weight) in the order they were recorded.
pub type WeightRows = Vec<(u16, AccountId, f64)>;

/// Who a state database belongs to, as its `meta` table records it.
struct Owner {
    validator: AccountId,
}

impl Identity for Owner {
    fn rows(&self) -> Vec<(&'static str, String)> {
        vec![("validator", self.validator.to_ss58())]
    }

    fn read(meta: &MetaRows<'_>) -> Result<Self, Error> {
        Ok(Owner {
            validator: meta.account("validator")?,
        })
    }

    fn check(&self, path: &Path, want: &Self) -> Result<(), Error> {
        if self.validator != want.validator {
            return Err(Error::WrongValidator {
                path: path.to_owned(),
                found: self.validator.to_ss58(),
                validator: want.validator.to_ss58(),
            });
        }
        Ok(())
    }
}

/// An open validator state database.
#[derive(Debug, Clone)]
pub struct StateDb {
    db: Db,
    validator: AccountId,
}

impl StateDb {
    /// Opens the state database of `validator` at `path`, creating it if missing; refuses the
    /// state database of another validator, any other kind of file, a truncated file, or a
    /// schema newer than this build, and leaves a refused file as it was.
    pub async fn open(path: &Path, validator: &AccountId) -> Result<Self, Error> {
        let owner = Owner {
            validator: *validator,
        };
        let db = Db::open(path, Kind::State, &owner).await?;
        Ok(Self {
            db,
            validator: *validator,
        })
    }

    pub fn validator(&self) -> &AccountId {
        &self.validator
    }

    pub fn path(&self) -> &Path {
        &self.db.path
    }

    /// Records that `hotkey` holds `uid` and serves at `axon` as of `now_ms`. The first sighting
    /// is kept; everything else is replaced.
    pub async fn upsert_miner(
        &self,
        hotkey: &AccountId,
        uid: u16,
        axon: Option<&str>,
        now_ms: u64,
    ) -> Result<(), Error> {
        let now = self.int("now_ms", now_ms)?;
        sqlx::query(
            "INSERT INTO miners (hotkey, uid, axon, first_seen_ms, last_seen_ms)
             VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (hotkey) DO UPDATE SET
                 uid = excluded.uid, axon = excluded.axon, last_seen_ms = excluded.last_seen_ms",
        )
        .bind(hotkey.to_ss58())
        .bind(i64::from(uid))
        .bind(axon)
        .bind(now)
        .bind(now)
        .execute(&self.db.pool)
        .await
        .map_err(self.db.sql())?;
        Ok(())
    }

    /// Every miner recorded, by hotkey.
    pub async fn miners(&self) -> Result<Vec<MinerRecord>, Error> {
        let rows = sqlx::query(
            "SELECT hotkey, uid, axon, first_seen_ms, last_seen_ms FROM miners ORDER BY hotkey",
        )
        .fetch_all(&self.db.pool)
        .await
        .map_err(self.db.sql())?;
        rows.iter()
            .map(|r| {
                Ok(MinerRecord {
                    hotkey: self.account(r, 0, "miners")?,
                    uid: self.uid(r, 1, "miners")?,
                    axon: r.try_get(2).map_err(self.db.sql())?,
                    first_seen_ms: self.u64(r, 3, "miners", "first_seen_ms")?,
                    last_seen_ms: self.u64(r, 4, "miners", "last_seen_ms")?,
                })
            })
            .collect()
    }

    /// Records one round of challenges to `miner` and its new stats in one transaction: after a
    /// crash either the whole round is there or none of it. The miner must have been recorded
    /// with [`StateDb::upsert_miner`] first.
    pub async fn record_round(
        &self,
        miner: &AccountId,
        round: u64,
        items: &[ChallengeRecord],
        stats: &MinerStats,
    ) -> Result<(), Error> {
        let hotkey = miner.to_ss58();
        let round = self.int("round", round)?;
        // The foreign keys would refuse an unknown miner too, but with a message that does not
        // say which. Miners are never deleted, so the answer cannot change before the writes.
        let known: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM miners WHERE hotkey = ?")
            .bind(&hotkey)
            .fetch_one(&self.db.pool)
            .await
            .map_err(self.db.sql())?;
        if known == 0 {
            return Err(Error::UnknownMiner {
                path: self.db.path.clone(),
                miner: hotkey,
            });
        }

        // Values are checked as they are written: a bad one drops the transaction, and with it
        // the rows already written.
        let mut tx = self.db.pool.begin().await.map_err(self.db.sql())?;
        for item in items {
            sqlx::query(
                "INSERT INTO challenges
                     (miner, round, chunk_id, segment, success, latency_ms, bytes, at_ms, reason)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&hotkey)
            .bind(round)
            .bind(self.int("chunk_id", item.chunk_id)?)
            .bind(i64::from(item.segment))
            .bind(item.success)
            .bind(self.int("latency_ms", item.latency_ms)?)
            .bind(self.int("bytes", item.bytes)?)
            .bind(self.int("at_ms", item.at_ms)?)
            .bind(item.reason.as_deref())
            .execute(&mut *tx)
            .await
            .map_err(self.db.sql())?;
        }
        sqlx::query(
            "INSERT INTO miner_stats
                 (miner, alpha, beta, claimed_bytes, proven_bytes, score, updated_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (miner) DO UPDATE SET
                 alpha = excluded.alpha, beta = excluded.beta,
                 claimed_bytes = excluded.claimed_bytes, proven_bytes = excluded.proven_bytes,
                 score = excluded.score, updated_ms = excluded.updated_ms",
        )
        .bind(&hotkey)
        .bind(self.finite("alpha", stats.alpha)?)
        .bind(self.finite("beta", stats.beta)?)
        .bind(self.int("claimed_bytes", stats.claimed_bytes)?)
        .bind(self.int("proven_bytes", stats.proven_bytes)?)
        .bind(self.finite("score", stats.score)?)
        .bind(self.int("updated_ms", stats.updated_ms)?)
        .execute(&mut *tx)
        .await
        .map_err(self.db.sql())?;
        tx.commit().await.map_err(self.db.sql())
    }

    /// The stats last recorded for `miner`, if any round of it was.
    pub async fn stats(&self, miner: &AccountId) -> Result<Option<MinerStats>, Error> {
        let row = sqlx::query(
            "SELECT alpha, beta, claimed_bytes, proven_bytes, score, updated_ms
             FROM miner_stats WHERE miner = ?",
        )
        .bind(miner.to_ss58())
        .fetch_optional(&self.db.pool)
        .await
        .map_err(self.db.sql())?;
        row.map(|r| self.row_to_stats(&r, 0)).transpose()
    }

    /// The stats of every miner that has any, by hotkey.
    pub async fn all_stats(&self) -> Result<Vec<(AccountId, MinerStats)>, Error> {
        let rows = sqlx::query(
            "SELECT miner, alpha, beta, claimed_bytes, proven_bytes, score, updated_ms
             FROM miner_stats ORDER BY miner",
        )
        .fetch_all(&self.db.pool)
        .await
        .map_err(self.db.sql())?;
        rows.iter()
            .map(|r| Ok((self.account(r, 0, "miner_stats")?, self.row_to_stats(r, 1)?)))
            .collect()
    }

    /// The outcome of the last `last_n` challenges to `miner`, counted by SQLite.
    pub async fn window(&self, miner: &AccountId, last_n: u32) -> Result<Window, Error> {
        // The inner query walks the (miner, id) index backwards and stops after `last_n` rows.
        let row = sqlx::query(
            "SELECT COUNT(*), COALESCE(SUM(success <> 0), 0), COALESCE(AVG(latency_ms), 0.0)
             FROM (SELECT success, latency_ms FROM challenges
                   WHERE miner = ? ORDER BY id DESC LIMIT ?)",
        )
        .bind(miner.to_ss58())
        .bind(i64::from(last_n))
        .fetch_one(&self.db.pool)
        .await
        .map_err(self.db.sql())?;
        Ok(Window {
            items: self.u64(&row, 0, "challenges", "count")?,
            successes: self.u64(&row, 1, "challenges", "success count")?,
            mean_latency_ms: row.try_get(2).map_err(self.db.sql())?,
        })
    }

    /// The largest round with a challenge recorded, or 0 if there is none, so that a restarted
    /// validator numbers its next round after it.
    pub async fn last_round(&self) -> Result<u64, Error> {
        let row = sqlx::query("SELECT COALESCE(MAX(round), 0) FROM challenges")
            .fetch_one(&self.db.pool)
            .await
            .map_err(self.db.sql())?;
        self.u64(&row, 0, "challenges", "round")
    }

    /// How many challenges to `miner` are recorded.
    pub async fn challenge_count(&self, miner: &AccountId) -> Result<u64, Error> {
        let row = sqlx::query("SELECT COUNT(*) FROM challenges WHERE miner = ?")
            .bind(miner.to_ss58())
            .fetch_one(&self.db.pool)
            .await
            .map_err(self.db.sql())?;
        self.u64(&row, 0, "challenges", "count")
    }

    /// Blacklists `hotkey`. A hotkey already listed keeps the time it was first added and takes
    /// the new reason.
    pub async fn blacklist_add(
        &self,
        hotkey: &AccountId,
        reason: &str,
        now_ms: u64,
    ) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO blacklist (hotkey, reason, added_ms) VALUES (?, ?, ?)
             ON CONFLICT (hotkey) DO UPDATE SET reason = excluded.reason",
        )
        .bind(hotkey.to_ss58())
        .bind(reason)
        .bind(self.int("now_ms", now_ms)?)
        .execute(&self.db.pool)
        .await
        .map_err(self.db.sql())?;
        Ok(())
    }

    /// Takes `hotkey` off the blacklist; false if it was not on it.
    pub async fn blacklist_remove(&self, hotkey: &AccountId) -> Result<bool, Error> {
        let done = sqlx::query("DELETE FROM blacklist WHERE hotkey = ?")
            .bind(hotkey.to_ss58())
            .execute(&self.db.pool)
            .await
            .map_err(self.db.sql())?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn is_blacklisted(&self, hotkey: &AccountId) -> Result<bool, Error> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM blacklist WHERE hotkey = ?")
            .bind(hotkey.to_ss58())
            .fetch_one(&self.db.pool)
            .await
            .map_err(self.db.sql())?;
        Ok(n > 0)
    }

    /// Every blacklisted hotkey with its reason, by hotkey.
    pub async fn blacklist(&self) -> Result<Vec<(AccountId, String)>, Error> {
        let rows = sqlx::query("SELECT hotkey, reason FROM blacklist ORDER BY hotkey")
            .fetch_all(&self.db.pool)
            .await
            .map_err(self.db.sql())?;
        rows.iter()
            .map(|r| {
                Ok((
                    self.account(r, 0, "blacklist")?,
                    r.try_get(1).map_err(self.db.sql())?,
                ))
            })
            .collect()
    }

    /// Records the weights set for `epoch` at `set_ms`, in one transaction. Weights recorded
    /// before for the same epoch are replaced, so an epoch always holds one consistent set. An
    /// empty set leaves no rows, so [`StateDb::last_weights`] does not see it.
    pub async fn record_weights(
        &self,
        epoch: u64,
        set_ms: u64,
        weights: &[(u16, AccountId, f64)],
    ) -> Result<(), Error> {
        let epoch = self.int("epoch", epoch)?;
        let set_ms = self.int("set_ms", set_ms)?;
        let mut tx = self.db.pool.begin().await.map_err(self.db.sql())?;
        sqlx::query("DELETE FROM weights WHERE epoch = ?")
            .bind(epoch)
            .execute(&mut *tx)
            .await
            .map_err(self.db.sql())?;
        for (uid, hotkey, weight) in weights {
            sqlx::query(
                "INSERT INTO weights (epoch, set_ms, uid, hotkey, weight) VALUES (?, ?, ?, ?, ?)",
            )
            .bind(epoch)
            .bind(set_ms)
            .bind(i64::from(*uid))
            .bind(hotkey.to_ss58())
            .bind(self.finite("weight", *weight)?)
            .execute(&mut *tx)
            .await
            .map_err(self.db.sql())?;
        }
        tx.commit().await.map_err(self.db.sql())
    }

    /// The weights of the highest epoch recorded, in the order they were recorded, with that
    /// epoch and the time they were set; `None` before any.
    pub async fn last_weights(&self) -> Result<Option<(u64, u64, WeightRows)>, Error> {
        let rows = sqlx::query(
            "SELECT epoch, set_ms, uid, hotkey, weight FROM weights
             WHERE epoch = (SELECT MAX(epoch) FROM weights) ORDER BY id",
        )
        .fetch_all(&self.db.pool)
        .await
        .map_err(self.db.sql())?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let epoch = self.u64(first, 0, "weights", "epoch")?;
        let set_ms = self.u64(first, 1, "weights", "set_ms")?;
        let weights = rows
            .iter()
            .map(|r| {
                Ok((
                    self.uid(r, 2, "weights")?,
                    self.account(r, 3, "weights")?,
                    r.try_get(4).map_err(self.db.sql())?,
                ))
            })
            .collect::<Result<_, Error>>()?;
        Ok(Some((epoch, set_ms, weights)))
    }

    /// Keeps a commit until it is revealed; written before the commit is submitted, so that no
    /// commit on chain is ever without its salt here.
    pub async fn save_commit(&self, c: &PendingCommit) -> Result<(), Error> {
        let le = |v: &[u16]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        sqlx::query(
            "INSERT OR REPLACE INTO weight_commits
             (hash, netuid, uids, weight_values, salt, version_key, commit_block, epoch, created_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&c.hash[..])
        .bind(i64::from(c.netuid))
        .bind(le(&c.uids))
        .bind(le(&c.values))
        .bind(le(&c.salt))
        .bind(self.int("version_key", c.version_key)?)
        .bind(self.int("commit_block", c.commit_block)?)
        .bind(self.int("epoch", c.epoch)?)
        .bind(self.int("created_ms", c.created_ms)?)
        .execute(&self.db.pool)
        .await
        .map_err(self.db.sql())?;
        Ok(())
    }

    /// Every commit not yet revealed, oldest first.
    pub async fn pending_commits(&self) -> Result<Vec<PendingCommit>, Error> {
        let rows = sqlx::query(
            "SELECT hash, netuid, uids, weight_values, salt, version_key, commit_block, epoch,
                    created_ms
             FROM weight_commits ORDER BY created_ms",
        )
        .fetch_all(&self.db.pool)
        .await
        .map_err(self.db.sql())?;
        let table = "weight_commits";
        rows.iter()
            .map(|r| {
                let blob = |i: usize| -> Result<Vec<u8>, Error> {
                    r.try_get::<Vec<u8>, _>(i).map_err(self.db.sql())
                };
                let u16s = |i: usize| -> Result<Vec<u16>, Error> {
                    Ok(blob(i)?
                        .chunks_exact(2)
                        .map(|p| u16::from_le_bytes([p[0], p[1]]))
                        .collect())
                };
                let hash: [u8; 32] = blob(0)?
                    .try_into()
                    .map_err(|_| self.bad_row(table, "a commit hash is not 32 bytes".into()))?;
                Ok(PendingCommit {
                    hash,
                    netuid: self.uid(r, 1, table)?,
                    uids: u16s(2)?,
                    values: u16s(3)?,
                    salt: u16s(4)?,
                    version_key: self.u64(r, 5, table, "version_key")?,
                    commit_block: self.u64(r, 6, table, "commit_block")?,
                    epoch: self.u64(r, 7, table, "epoch")?,
                    created_ms: self.u64(r, 8, table, "created_ms")?,
                })
            })
            .collect()
    }

    /// Forgets a commit: revealed, or no longer revealable.
    pub async fn remove_commit(&self, hash: &[u8; 32]) -> Result<(), Error> {
        sqlx::query("DELETE FROM weight_commits WHERE hash = ?")
            .bind(&hash[..])
            .execute(&self.db.pool)
            .await
            .map_err(self.db.sql())?;
        Ok(())
    }

    /// Flushes the WAL into the file and closes it.
    pub async fn close(self) {
        self.db.close().await;
    }

    fn row_to_stats(&self, row: &SqliteRow, at: usize) -> Result<MinerStats, Error> {
        let table = "miner_stats";
        Ok(MinerStats {
            alpha: row.try_get(at).map_err(self.db.sql())?,
            beta: row.try_get(at + 1).map_err(self.db.sql())?,
            claimed_bytes: self.u64(row, at + 2, table, "claimed_bytes")?,
            proven_bytes: self.u64(row, at + 3, table, "proven_bytes")?,
            score: row.try_get(at + 4).map_err(self.db.sql())?,
            updated_ms: self.u64(row, at + 5, table, "updated_ms")?,
        })
    }

    /// `value` as an SQLite integer, refused rather than wrapped to a negative number.
    fn int(&self, what: &'static str, value: u64) -> Result<i64, Error> {
        i64::try_from(value).map_err(|_| Error::TooLarge {
            path: self.db.path.clone(),
            what,
            value,
        })
    }

    /// SQLite stores NaN as NULL, and no score is infinite: both are refused before writing.
    fn finite(&self, what: &'static str, value: f64) -> Result<f64, Error> {
        if !value.is_finite() {
            return Err(Error::NotFinite {
                path: self.db.path.clone(),
                what,
                value,
            });
        }
        Ok(value)
    }

    fn bad_row(&self, table: &'static str, reason: String) -> Error {
        Error::BadRow {
            path: self.db.path.clone(),
            table,
            reason,
        }
    }

    fn u64(
        &self,
        row: &SqliteRow,
        at: usize,
        table: &'static str,
        what: &str,
    ) -> Result<u64, Error> {
        let value: i64 = row.try_get(at).map_err(self.db.sql())?;
        u64::try_from(value).map_err(|_| self.bad_row(table, format!("{what} {value} is negative")))
    }

    fn uid(&self, row: &SqliteRow, at: usize, table: &'static str) -> Result<u16, Error> {
        let value: i64 = row.try_get(at).map_err(self.db.sql())?;
        u16::try_from(value)
            .map_err(|_| self.bad_row(table, format!("uid {value} is not between 0 and 65535")))
    }

    fn account(&self, row: &SqliteRow, at: usize, table: &'static str) -> Result<AccountId, Error> {
        let text: String = row.try_get(at).map_err(self.db.sql())?;
        AccountId::from_ss58(&text)
            .map_err(|e| self.bad_row(table, format!("hotkey {text:?}: {e}")))
    }
}
