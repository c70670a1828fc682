//! What a validator holds of its miners' commitments (challenges v2): each miner's signed
//! commitment with its group nodes and how far its initial audit has come, every audit result,
//! and the lies it caught, with the evidence a third party can check.

use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use tessera_core::AccountId;
use tessera_core::merkle::Hash;

use super::StateDb;
use crate::Error;

/// A miner's commitment as the validator took it and keeps it up to date.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldCommitment {
    pub miner: AccountId,
    pub seq: u64,
    pub n_chunks: u64,
    pub root: Hash,
    pub signature: [u8; 64],
    /// The group nodes, one per 64 slots.
    pub groups: Vec<Hash>,
    /// Audited slots passed since the commitment was taken afresh: its capacity counts once
    /// this reaches the initial audit's size.
    pub audited: u32,
    pub taken_ms: u64,
}

/// A committed leaf the validator's own seal contradicts, with everything needed to show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lie {
    pub miner: AccountId,
    pub at_ms: u64,
    pub barred_until_ms: u64,
    pub slot: u64,
    /// The chunk root the miner's signed answer folds into its commitment.
    pub committed_leaf: Hash,
    /// The root of the validator's own seal of that slot.
    pub sealed_root: Hash,
    /// The commitment's signed bytes (`Commitment::message`) and the miner's signature.
    pub commitment: Vec<u8>,
    pub commitment_signature: [u8; 64],
    /// The challenge answer's body as it came (protobuf), the miner's response signature over
    /// it, and the request nonce that signature binds.
    pub answer: Vec<u8>,
    pub answer_signature: [u8; 64],
    pub nonce: [u8; 16],
}

fn fixed<const N: usize>(db: &StateDb, table: &'static str, v: Vec<u8>) -> Result<[u8; N], Error> {
    v.try_into().map_err(|v: Vec<u8>| {
        db.bad_row(table, format!("a {}-byte field where {N} belong", v.len()))
    })
}

impl StateDb {
    /// Keeps `c` as the miner's commitment, replacing the one held.
    pub async fn save_commitment(&self, c: &HeldCommitment) -> Result<(), Error> {
        sqlx::query(
            "INSERT OR REPLACE INTO commitments
             (miner, seq, n_chunks, root, signature, groups, audited, taken_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(c.miner.to_ss58())
        .bind(self.int("seq", c.seq)?)
        .bind(self.int("n_chunks", c.n_chunks)?)
        .bind(&c.root[..])
        .bind(&c.signature[..])
        .bind(c.groups.concat())
        .bind(i64::from(c.audited))
        .bind(self.int("taken_ms", c.taken_ms)?)
        .execute(&self.db.pool)
        .await
        .map_err(self.db.sql())?;
        Ok(())
    }

    /// The commitment held for `miner`, if any.
    pub async fn commitment(&self, miner: &AccountId) -> Result<Option<HeldCommitment>, Error> {
        let row = sqlx::query(
            "SELECT seq, n_chunks, root, signature, groups, audited, taken_ms
             FROM commitments WHERE miner = ?",
        )
        .bind(miner.to_ss58())
        .fetch_optional(&self.db.pool)
        .await
        .map_err(self.db.sql())?;
        row.map(|r| self.held(*miner, &r)).transpose()
    }

    fn held(&self, miner: AccountId, r: &SqliteRow) -> Result<HeldCommitment, Error> {
        let table = "commitments";
        let int = |i: usize| -> Result<u64, Error> {
            Ok(r.try_get::<i64, _>(i).map_err(self.db.sql())? as u64)
        };
        let blob = |i: usize| -> Result<Vec<u8>, Error> { r.try_get(i).map_err(self.db.sql()) };
        let groups = blob(4)?;
        if groups.len() % 32 != 0 {
            return Err(self.bad_row(table, format!("group nodes of {} bytes", groups.len())));
        }
        Ok(HeldCommitment {
            miner,
            seq: int(0)?,
            n_chunks: int(1)?,
            root: fixed(self, table, blob(2)?)?,
            signature: fixed(self, table, blob(3)?)?,
            groups: groups
                .chunks_exact(32)
                .map(|g| g.try_into().expect("32-byte chunks"))
                .collect(),
            audited: int(5)? as u32,
            taken_ms: int(6)?,
        })
    }

    /// Forgets the commitment held for `miner`: the next one is taken afresh.
    pub async fn drop_commitment(&self, miner: &AccountId) -> Result<(), Error> {
        sqlx::query("DELETE FROM commitments WHERE miner = ?")
            .bind(miner.to_ss58())
            .execute(&self.db.pool)
            .await
            .map_err(self.db.sql())?;
        Ok(())
    }

    /// Records one audited slot of `miner`'s commitment `seq`.
    pub async fn record_audit(
        &self,
        miner: &AccountId,
        seq: u64,
        slot: u64,
        passed: bool,
        at_ms: u64,
    ) -> Result<(), Error> {
        sqlx::query("INSERT INTO audits (miner, seq, slot, passed, at_ms) VALUES (?, ?, ?, ?, ?)")
            .bind(miner.to_ss58())
            .bind(self.int("seq", seq)?)
            .bind(self.int("slot", slot)?)
            .bind(passed)
            .bind(self.int("at_ms", at_ms)?)
            .execute(&self.db.pool)
            .await
            .map_err(self.db.sql())?;
        Ok(())
    }

    /// How many of `miner`'s audits passed and failed, over its whole history.
    pub async fn audit_counts(&self, miner: &AccountId) -> Result<(u64, u64), Error> {
        let row = sqlx::query(
            "SELECT COALESCE(SUM(passed), 0), COALESCE(SUM(1 - passed), 0)
             FROM audits WHERE miner = ?",
        )
        .bind(miner.to_ss58())
        .fetch_one(&self.db.pool)
        .await
        .map_err(self.db.sql())?;
        let get = |i: usize| -> Result<u64, Error> {
            Ok(row.try_get::<i64, _>(i).map_err(self.db.sql())? as u64)
        };
        Ok((get(0)?, get(1)?))
    }

    /// Records a lie with its evidence; the miner is barred until `lie.barred_until_ms`.
    pub async fn record_lie(&self, lie: &Lie) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO lies (miner, at_ms, barred_until_ms, slot, committed_leaf, sealed_root,
                 commitment, commitment_signature, answer, answer_signature, nonce)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(lie.miner.to_ss58())
        .bind(self.int("at_ms", lie.at_ms)?)
        .bind(self.int("barred_until_ms", lie.barred_until_ms)?)
        .bind(self.int("slot", lie.slot)?)
        .bind(&lie.committed_leaf[..])
        .bind(&lie.sealed_root[..])
        .bind(&lie.commitment)
        .bind(&lie.commitment_signature[..])
        .bind(&lie.answer)
        .bind(&lie.answer_signature[..])
        .bind(&lie.nonce[..])
        .execute(&self.db.pool)
        .await
        .map_err(self.db.sql())?;
        Ok(())
    }

    /// Until when `miner` is barred for a lie, if it is barred at `now_ms`.
    pub async fn barred_until(&self, miner: &AccountId, now_ms: u64) -> Result<Option<u64>, Error> {
        let until: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(barred_until_ms) FROM lies WHERE miner = ? AND barred_until_ms > ?",
        )
        .bind(miner.to_ss58())
        .bind(self.int("now_ms", now_ms)?)
        .fetch_one(&self.db.pool)
        .await
        .map_err(self.db.sql())?;
        Ok(until.map(|u| u as u64))
    }

    /// Every lie caught from `miner`, oldest first.
    pub async fn lies(&self, miner: &AccountId) -> Result<Vec<Lie>, Error> {
        let rows = sqlx::query(
            "SELECT at_ms, barred_until_ms, slot, committed_leaf, sealed_root, commitment,
                    commitment_signature, answer, answer_signature, nonce
             FROM lies WHERE miner = ? ORDER BY id",
        )
        .bind(miner.to_ss58())
        .fetch_all(&self.db.pool)
        .await
        .map_err(self.db.sql())?;
        let table = "lies";
        rows.iter()
            .map(|r| {
                let int = |i: usize| -> Result<u64, Error> {
                    Ok(r.try_get::<i64, _>(i).map_err(self.db.sql())? as u64)
                };
                let blob =
                    |i: usize| -> Result<Vec<u8>, Error> { r.try_get(i).map_err(self.db.sql()) };
                Ok(Lie {
                    miner: *miner,
                    at_ms: int(0)?,
                    barred_until_ms: int(1)?,
                    slot: int(2)?,
                    committed_leaf: fixed(self, table, blob(3)?)?,
                    sealed_root: fixed(self, table, blob(4)?)?,
                    commitment: blob(5)?,
                    commitment_signature: fixed(self, table, blob(6)?)?,
                    answer: blob(7)?,
                    answer_signature: fixed(self, table, blob(8)?)?,
                    nonce: fixed(self, table, blob(9)?)?,
                })
            })
            .collect()
    }
}
