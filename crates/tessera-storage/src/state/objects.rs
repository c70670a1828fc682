//! The validator's index of client data in its state database: owners, objects, segments, pieces
//! (with the root each piece must prove into) and placements (which miner's slot holds which
//! piece). A put is recorded segment by segment and becomes visible only when committed, so an
//! interrupted put is never a half object.

use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use tessera_core::AccountId;
use tessera_core::merkle::Hash;

use super::StateDb;
use crate::Error;

/// An object as a put announces it, before any piece is placed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewObject {
    pub id: [u8; 16],
    pub owner: AccountId,
    /// Plaintext bytes.
    pub size: u64,
    /// SHA-256 of the plaintext, checked after decryption on every get.
    pub digest: [u8; 32],
    pub k: u16,
    pub n: u16,
    pub piece_size: u64,
    pub segments: u64,
    pub created_ms: u64,
    pub expires_ms: u64,
}

/// An indexed object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectRecord {
    pub object: NewObject,
    pub complete: bool,
}

/// The miners' slots that hold one piece: (miner, slot).
pub type Holders = Vec<(AccountId, u64)>;

/// One segment's pieces as placed: (piece index, root, holders).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentRecord {
    pub index: u64,
    /// Plaintext bytes in this segment.
    pub size: u64,
    pub pieces: Vec<(u16, Hash, Holders)>,
}

/// Where one piece lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlacementRecord {
    pub segment: u64,
    pub piece: u16,
    pub root: Hash,
    pub miner: AccountId,
    pub slot: u64,
    /// Whether the slot failed a challenge or returned wrong bytes since it was stored.
    pub failed: bool,
}

const TABLE: &str = "objects";

impl StateDb {
    /// Records a new, pending object (and its owner on first sight). An id already indexed is
    /// refused by the primary key.
    pub async fn begin_object(&self, o: &NewObject) -> Result<(), Error> {
        let mut tx = self.db.pool.begin().await.map_err(self.db.sql())?;
        sqlx::query("INSERT OR IGNORE INTO owners (hotkey, first_put_ms) VALUES (?, ?)")
            .bind(o.owner.to_ss58())
            .bind(self.int("created_ms", o.created_ms)?)
            .execute(&mut *tx)
            .await
            .map_err(self.db.sql())?;
        sqlx::query(
            "INSERT INTO objects (id, owner, size, digest, k, n, piece_size, segments, state,
                                  created_ms, expires_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
        )
        .bind(&o.id[..])
        .bind(o.owner.to_ss58())
        .bind(self.int("size", o.size)?)
        .bind(&o.digest[..])
        .bind(i64::from(o.k))
        .bind(i64::from(o.n))
        .bind(self.int("piece_size", o.piece_size)?)
        .bind(self.int("segments", o.segments)?)
        .bind(self.int("created_ms", o.created_ms)?)
        .bind(self.int("expires_ms", o.expires_ms)?)
        .execute(&mut *tx)
        .await
        .map_err(self.db.sql())?;
        tx.commit().await.map_err(self.db.sql())
    }

    /// Records one segment of a pending object with its pieces' roots and placements, in one
    /// transaction: a crash keeps the whole segment or none of it.
    pub async fn record_segment(
        &self,
        object: &[u8; 16],
        segment: &SegmentRecord,
        now_ms: u64,
    ) -> Result<(), Error> {
        let mut tx = self.db.pool.begin().await.map_err(self.db.sql())?;
        let idx = self.int("segment", segment.index)?;
        sqlx::query("INSERT INTO segments (object, idx, size) VALUES (?, ?, ?)")
            .bind(&object[..])
            .bind(idx)
            .bind(self.int("segment size", segment.size)?)
            .execute(&mut *tx)
            .await
            .map_err(self.db.sql())?;
        for (piece, root, holders) in &segment.pieces {
            sqlx::query("INSERT INTO pieces (object, segment, piece, root) VALUES (?, ?, ?, ?)")
                .bind(&object[..])
                .bind(idx)
                .bind(i64::from(*piece))
                .bind(&root[..])
                .execute(&mut *tx)
                .await
                .map_err(self.db.sql())?;
            for (miner, slot) in holders {
                sqlx::query(
                    "INSERT INTO placements (object, segment, piece, miner, slot, stored_ms)
                     VALUES (?, ?, ?, ?, ?, ?)",
                )
                .bind(&object[..])
                .bind(idx)
                .bind(i64::from(*piece))
                .bind(miner.to_ss58())
                .bind(self.int("slot", *slot)?)
                .bind(self.int("stored_ms", now_ms)?)
                .execute(&mut *tx)
                .await
                .map_err(self.db.sql())?;
            }
        }
        tx.commit().await.map_err(self.db.sql())
    }

    /// Makes a pending object visible once every segment is recorded, with the plaintext digest
    /// the put ended with; returns whether it did.
    pub async fn commit_object(&self, object: &[u8; 16], digest: &[u8; 32]) -> Result<bool, Error> {
        let done = sqlx::query(
            "UPDATE objects SET state = 'complete', digest = ?
             WHERE id = ? AND state = 'pending'
               AND segments = (SELECT COUNT(*) FROM segments WHERE object = objects.id)",
        )
        .bind(&digest[..])
        .bind(&object[..])
        .execute(&self.db.pool)
        .await
        .map_err(self.db.sql())?;
        Ok(done.rows_affected() == 1)
    }

    /// The object `id`, pending or complete.
    pub async fn object(&self, id: &[u8; 16]) -> Result<Option<ObjectRecord>, Error> {
        let row = sqlx::query(
            "SELECT id, owner, size, digest, k, n, piece_size, segments, state, created_ms,
                    expires_ms FROM objects WHERE id = ?",
        )
        .bind(&id[..])
        .fetch_optional(&self.db.pool)
        .await
        .map_err(self.db.sql())?;
        row.map(|r| self.object_row(&r)).transpose()
    }

    /// The complete objects of `owner`, oldest first.
    pub async fn objects_of(&self, owner: &AccountId) -> Result<Vec<ObjectRecord>, Error> {
        let rows = sqlx::query(
            "SELECT id, owner, size, digest, k, n, piece_size, segments, state, created_ms,
                    expires_ms FROM objects WHERE owner = ? AND state = 'complete'
             ORDER BY created_ms, id",
        )
        .bind(owner.to_ss58())
        .fetch_all(&self.db.pool)
        .await
        .map_err(self.db.sql())?;
        rows.iter().map(|r| self.object_row(r)).collect()
    }

    /// Every placement of object `id`, by segment and piece.
    pub async fn placements(&self, id: &[u8; 16]) -> Result<Vec<PlacementRecord>, Error> {
        let rows = sqlx::query(
            "SELECT p.segment, p.piece, p.root, l.miner, l.slot, l.failed_ms IS NOT NULL
             FROM pieces p JOIN placements l
               ON l.object = p.object AND l.segment = p.segment AND l.piece = p.piece
             WHERE p.object = ? ORDER BY p.segment, p.piece, l.miner",
        )
        .bind(&id[..])
        .fetch_all(&self.db.pool)
        .await
        .map_err(self.db.sql())?;
        rows.iter().map(|r| self.placement_row(r, 0)).collect()
    }

    /// The data slots `miner` holds for this validator, each with the root it must prove into
    /// once settled: `None` while the piece's put is still in flight, when the slot may hold
    /// either filler or the piece and must not be challenged at all.
    pub async fn data_slots(&self, miner: &AccountId) -> Result<Vec<(u64, Option<Hash>)>, Error> {
        // A slot waiting for its release is listed unsettled: challenged against nothing.
        let rows = sqlx::query(
            "SELECT l.slot, p.root, o.state = 'complete' FROM placements l
               JOIN pieces p ON l.object = p.object AND l.segment = p.segment AND l.piece = p.piece
               JOIN objects o ON o.id = l.object
             WHERE l.miner = ?1
             UNION ALL
             SELECT slot, NULL, 0 FROM releases WHERE miner = ?1
             ORDER BY 1",
        )
        .bind(miner.to_ss58())
        .fetch_all(&self.db.pool)
        .await
        .map_err(self.db.sql())?;
        rows.iter()
            .map(|r| {
                let settled: bool = r.try_get(2).map_err(self.db.sql())?;
                Ok((
                    self.u64(r, 0, "placements", "slot")?,
                    settled.then(|| self.hash(r, 1, "pieces")).transpose()?,
                ))
            })
            .collect()
    }

    /// The slots of `miner` that hold, or are promised to, a piece, or wait for their release:
    /// not free for a new one (a late release would drop it).
    pub async fn used_slots(&self, miner: &AccountId) -> Result<Vec<u64>, Error> {
        let rows = sqlx::query(
            "SELECT slot FROM placements WHERE miner = ?1
             UNION SELECT slot FROM releases WHERE miner = ?1 ORDER BY 1",
        )
        .bind(miner.to_ss58())
        .fetch_all(&self.db.pool)
        .await
        .map_err(self.db.sql())?;
        rows.iter()
            .map(|r| self.u64(r, 0, "placements", "slot"))
            .collect()
    }

    /// Records that `miner`'s `slot` is to be released (a copy nothing in the index points to).
    pub async fn queue_release(
        &self,
        miner: &AccountId,
        slot: u64,
        now_ms: u64,
    ) -> Result<(), Error> {
        sqlx::query("INSERT OR IGNORE INTO releases (miner, slot, since_ms) VALUES (?, ?, ?)")
            .bind(miner.to_ss58())
            .bind(self.int("slot", slot)?)
            .bind(self.int("now_ms", now_ms)?)
            .execute(&self.db.pool)
            .await
            .map_err(self.db.sql())?;
        Ok(())
    }

    /// Every slot waiting for its release, by miner.
    pub async fn pending_releases(&self) -> Result<Vec<(AccountId, Vec<u64>)>, Error> {
        let rows = sqlx::query("SELECT miner, slot FROM releases ORDER BY miner, slot")
            .fetch_all(&self.db.pool)
            .await
            .map_err(self.db.sql())?;
        let mut out: Vec<(AccountId, Vec<u64>)> = Vec::new();
        for r in &rows {
            let miner = self.account(r, 0, "releases")?;
            let slot = self.u64(r, 1, "releases", "slot")?;
            match out.last_mut() {
                Some((m, slots)) if *m == miner => slots.push(slot),
                _ => out.push((miner, vec![slot])),
            }
        }
        Ok(out)
    }

    /// The release of `slots` is over: the miner confirmed it at `confirmed_ms`, when the slots
    /// are remembered as resealing (see `resealing`), or the miner is gone (`None`).
    pub async fn releases_done(
        &self,
        miner: &AccountId,
        slots: &[u64],
        confirmed_ms: Option<u64>,
    ) -> Result<(), Error> {
        let mut tx = self.db.pool.begin().await.map_err(self.db.sql())?;
        let delete = "DELETE FROM releases WHERE miner = ? AND slot = ?";
        self.forget_slots(&mut tx, delete, miner, slots).await?;
        for slot in slots {
            if let Some(at) = confirmed_ms {
                sqlx::query(
                    "INSERT OR REPLACE INTO resealing (miner, slot, since_ms) VALUES (?, ?, ?)",
                )
                .bind(miner.to_ss58())
                .bind(self.int("slot", *slot)?)
                .bind(self.int("since_ms", at)?)
                .execute(&mut *tx)
                .await
                .map_err(self.db.sql())?;
            }
        }
        tx.commit().await.map_err(self.db.sql())
    }

    /// The slots released since `after_ms` (miner, slot, when), which their miners may still be
    /// resealing.
    pub async fn resealing(&self, after_ms: u64) -> Result<Vec<(AccountId, u64, u64)>, Error> {
        let rows = sqlx::query(
            "SELECT miner, slot, since_ms FROM resealing WHERE since_ms >= ? ORDER BY miner, slot",
        )
        .bind(self.int("after_ms", after_ms)?)
        .fetch_all(&self.db.pool)
        .await
        .map_err(self.db.sql())?;
        rows.iter()
            .map(|r| {
                Ok((
                    self.account(r, 0, "resealing")?,
                    self.u64(r, 1, "resealing", "slot")?,
                    self.u64(r, 2, "resealing", "since_ms")?,
                ))
            })
            .collect()
    }

    /// Forgets the slots released before `before_ms`: past the reseal grace, they are challenged
    /// like any other.
    pub async fn prune_resealing(&self, before_ms: u64) -> Result<(), Error> {
        sqlx::query("DELETE FROM resealing WHERE since_ms < ?")
            .bind(self.int("before_ms", before_ms)?)
            .execute(&self.db.pool)
            .await
            .map_err(self.db.sql())?;
        Ok(())
    }

    /// The miner's signed update shows `slots` holding something again.
    pub async fn resealed(&self, miner: &AccountId, slots: &[u64]) -> Result<(), Error> {
        let mut tx = self.db.pool.begin().await.map_err(self.db.sql())?;
        let delete = "DELETE FROM resealing WHERE miner = ? AND slot = ?";
        self.forget_slots(&mut tx, delete, miner, slots).await?;
        tx.commit().await.map_err(self.db.sql())
    }

    /// Runs `delete` (a `DELETE` keyed by miner, then slot) for each of `miner`'s `slots`.
    async fn forget_slots(
        &self,
        tx: &mut sqlx::SqliteConnection,
        delete: &'static str,
        miner: &AccountId,
        slots: &[u64],
    ) -> Result<(), Error> {
        for slot in slots {
            sqlx::query(delete)
                .bind(miner.to_ss58())
                .bind(self.int("slot", *slot)?)
                .execute(&mut *tx)
                .await
                .map_err(self.db.sql())?;
        }
        Ok(())
    }

    /// Marks the piece in `miner`'s `slot` as failed, for repair to replace; returns whether a
    /// healthy placement was there.
    pub async fn mark_failed(
        &self,
        miner: &AccountId,
        slot: u64,
        at_ms: u64,
    ) -> Result<bool, Error> {
        let done = sqlx::query(
            "UPDATE placements SET failed_ms = ? WHERE miner = ? AND slot = ? AND failed_ms IS NULL",
        )
        .bind(self.int("at_ms", at_ms)?)
        .bind(miner.to_ss58())
        .bind(self.int("slot", slot)?)
        .execute(&self.db.pool)
        .await
        .map_err(self.db.sql())?;
        Ok(done.rows_affected() == 1)
    }

    /// Moves piece `piece` of segment `segment` from the holders in `drop` to `miner`'s `slot`,
    /// in one transaction: after a crash the piece has either its old placements or its new one.
    pub async fn move_piece(
        &self,
        object: &[u8; 16],
        segment: u64,
        piece: u16,
        drop: &[AccountId],
        to: (&AccountId, u64),
        now_ms: u64,
    ) -> Result<(), Error> {
        let mut tx = self.db.pool.begin().await.map_err(self.db.sql())?;
        let idx = self.int("segment", segment)?;
        for miner in drop {
            // The copy left behind is released later, for sure: recorded here, with the move.
            sqlx::query(
                "INSERT OR IGNORE INTO releases (miner, slot, since_ms)
                 SELECT miner, slot, ? FROM placements
                 WHERE object = ? AND segment = ? AND piece = ? AND miner = ?",
            )
            .bind(self.int("now_ms", now_ms)?)
            .bind(&object[..])
            .bind(idx)
            .bind(i64::from(piece))
            .bind(miner.to_ss58())
            .execute(&mut *tx)
            .await
            .map_err(self.db.sql())?;
            sqlx::query(
                "DELETE FROM placements WHERE object = ? AND segment = ? AND piece = ? AND miner = ?",
            )
            .bind(&object[..])
            .bind(idx)
            .bind(i64::from(piece))
            .bind(miner.to_ss58())
            .execute(&mut *tx)
            .await
            .map_err(self.db.sql())?;
        }
        sqlx::query(
            "INSERT INTO placements (object, segment, piece, miner, slot, stored_ms)
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&object[..])
        .bind(idx)
        .bind(i64::from(piece))
        .bind(to.0.to_ss58())
        .bind(self.int("slot", to.1)?)
        .bind(self.int("stored_ms", now_ms)?)
        .execute(&mut *tx)
        .await
        .map_err(self.db.sql())?;
        tx.commit().await.map_err(self.db.sql())
    }

    /// Ends the life of `owner`'s object `id` now, for the reclaim sweep to release its slots;
    /// returns whether there was such a live object.
    pub async fn expire_object(
        &self,
        id: &[u8; 16],
        owner: &AccountId,
        now_ms: u64,
    ) -> Result<bool, Error> {
        let done = sqlx::query(
            "UPDATE objects SET expires_ms = ? WHERE id = ? AND owner = ? AND expires_ms > ?",
        )
        .bind(self.int("now_ms", now_ms)?)
        .bind(&id[..])
        .bind(owner.to_ss58())
        .bind(self.int("now_ms", now_ms)?)
        .execute(&self.db.pool)
        .await
        .map_err(self.db.sql())?;
        Ok(done.rows_affected() == 1)
    }

    /// Plaintext bytes `owner` has stored or is putting, not counting objects expired by
    /// `now_ms`: what a quota is checked against.
    pub async fn owner_bytes(&self, owner: &AccountId, now_ms: u64) -> Result<u64, Error> {
        let total: i64 = sqlx::query_scalar(
            "SELECT COALESCE(SUM(size), 0) FROM objects WHERE owner = ? AND expires_ms > ?",
        )
        .bind(owner.to_ss58())
        .bind(self.int("now_ms", now_ms)?)
        .fetch_one(&self.db.pool)
        .await
        .map_err(self.db.sql())?;
        Ok(u64::try_from(total).unwrap_or(0))
    }

    /// Up to `limit` complete objects unexpired at `now_ms`, in id order from just after
    /// `after` (from the first when `None`), each with its placements as [`Self::placements`]
    /// gives them. The repair sweep walks the index this way, two queries a page instead of two
    /// an object.
    pub async fn live_objects(
        &self,
        after: Option<&[u8; 16]>,
        now_ms: u64,
        limit: u32,
    ) -> Result<Vec<(ObjectRecord, Vec<PlacementRecord>)>, Error> {
        // An empty blob sorts before every id.
        let after: &[u8] = after.map_or(&[], |a| &a[..]);
        let rows = sqlx::query(
            "SELECT id, owner, size, digest, k, n, piece_size, segments, state, created_ms,
                    expires_ms FROM objects
             WHERE state = 'complete' AND expires_ms > ? AND id > ? ORDER BY id LIMIT ?",
        )
        .bind(self.int("now_ms", now_ms)?)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.db.pool)
        .await
        .map_err(self.db.sql())?;
        let mut page: Vec<(ObjectRecord, Vec<PlacementRecord>)> = rows
            .iter()
            .map(|r| Ok((self.object_row(r)?, Vec::new())))
            .collect::<Result<_, Error>>()?;
        let (Some(first), Some(last)) = (page.first(), page.last()) else {
            return Ok(page);
        };
        // One range scan over the page's ids; pending or expired objects inside the range are
        // skipped below.
        let rows = sqlx::query(
            "SELECT p.object, p.segment, p.piece, p.root, l.miner, l.slot,
                    l.failed_ms IS NOT NULL
             FROM pieces p JOIN placements l
               ON l.object = p.object AND l.segment = p.segment AND l.piece = p.piece
             WHERE p.object >= ? AND p.object <= ?
             ORDER BY p.object, p.segment, p.piece, l.miner",
        )
        .bind(&first.0.object.id[..])
        .bind(&last.0.object.id[..])
        .fetch_all(&self.db.pool)
        .await
        .map_err(self.db.sql())?;
        let mut at = 0;
        for r in &rows {
            let object = self.object_id(r, 0)?;
            while at < page.len() && page[at].0.object.id < object {
                at += 1;
            }
            if let Some((o, placements)) = page.get_mut(at)
                && o.object.id == object
            {
                placements.push(self.placement_row(r, 1)?);
            }
        }
        Ok(page)
    }

    /// Bytes of client data each miner holds for this validator (pieces × piece size).
    pub async fn data_bytes(&self) -> Result<Vec<(AccountId, u64)>, Error> {
        let rows = sqlx::query(
            "SELECT l.miner, SUM(o.piece_size) FROM placements l JOIN objects o ON o.id = l.object
             GROUP BY l.miner ORDER BY l.miner",
        )
        .fetch_all(&self.db.pool)
        .await
        .map_err(self.db.sql())?;
        rows.iter()
            .map(|r| {
                Ok((
                    self.account(r, 0, "placements")?,
                    self.u64(r, 1, "placements", "bytes")?,
                ))
            })
            .collect()
    }

    /// Deletes object `id` if `owner` owns it, returning the (miner, slot) pairs to release;
    /// `None` when there is no such object of this owner, so that others learn nothing.
    pub async fn delete_object(
        &self,
        id: &[u8; 16],
        owner: &AccountId,
    ) -> Result<Option<Vec<(AccountId, u64)>>, Error> {
        match self.object(id).await? {
            Some(o) if o.object.owner == *owner => {}
            _ => return Ok(None),
        }
        let released: Vec<(AccountId, u64)> = self
            .placements(id)
            .await?
            .into_iter()
            .map(|p| (p.miner, p.slot))
            .collect();
        sqlx::query("DELETE FROM objects WHERE id = ? AND owner = ?")
            .bind(&id[..])
            .bind(owner.to_ss58())
            .execute(&self.db.pool)
            .await
            .map_err(self.db.sql())?;
        Ok(Some(released))
    }

    /// Objects whose TTL ran out by `now_ms`, and pending objects begun before `stale_before_ms`
    /// (puts that died midway): both are to be deleted and their slots released.
    pub async fn to_reclaim(
        &self,
        now_ms: u64,
        stale_before_ms: u64,
    ) -> Result<Vec<([u8; 16], AccountId)>, Error> {
        let rows = sqlx::query(
            "SELECT id, owner FROM objects
             WHERE expires_ms <= ? OR (state = 'pending' AND created_ms < ?) ORDER BY id",
        )
        .bind(self.int("now_ms", now_ms)?)
        .bind(self.int("stale_before_ms", stale_before_ms)?)
        .fetch_all(&self.db.pool)
        .await
        .map_err(self.db.sql())?;
        rows.iter()
            .map(|r| Ok((self.object_id(r, 0)?, self.account(r, 1, TABLE)?)))
            .collect()
    }

    /// A placement from columns segment, piece, root, miner, slot and failed, from `at` on.
    fn placement_row(&self, r: &SqliteRow, at: usize) -> Result<PlacementRecord, Error> {
        Ok(PlacementRecord {
            segment: self.u64(r, at, "pieces", "segment")?,
            piece: self.small(r, at + 1, "pieces", "piece")?,
            root: self.hash(r, at + 2, "pieces")?,
            miner: self.account(r, at + 3, "placements")?,
            slot: self.u64(r, at + 4, "placements", "slot")?,
            failed: r.try_get(at + 5).map_err(self.db.sql())?,
        })
    }

    fn object_row(&self, r: &SqliteRow) -> Result<ObjectRecord, Error> {
        let state: String = r.try_get(8).map_err(self.db.sql())?;
        let digest: Vec<u8> = r.try_get(3).map_err(self.db.sql())?;
        Ok(ObjectRecord {
            object: NewObject {
                id: self.object_id(r, 0)?,
                owner: self.account(r, 1, TABLE)?,
                size: self.u64(r, 2, TABLE, "size")?,
                digest: digest
                    .try_into()
                    .map_err(|_| self.bad_row(TABLE, "digest is not 32 bytes".into()))?,
                k: self.small(r, 4, TABLE, "k")?,
                n: self.small(r, 5, TABLE, "n")?,
                piece_size: self.u64(r, 6, TABLE, "piece_size")?,
                segments: self.u64(r, 7, TABLE, "segments")?,
                created_ms: self.u64(r, 9, TABLE, "created_ms")?,
                expires_ms: self.u64(r, 10, TABLE, "expires_ms")?,
            },
            complete: state == "complete",
        })
    }

    fn object_id(&self, r: &SqliteRow, at: usize) -> Result<[u8; 16], Error> {
        let id: Vec<u8> = r.try_get(at).map_err(self.db.sql())?;
        id.try_into()
            .map_err(|_| self.bad_row(TABLE, "object id is not 16 bytes".into()))
    }

    fn hash(&self, r: &SqliteRow, at: usize, table: &'static str) -> Result<Hash, Error> {
        let root: Vec<u8> = r.try_get(at).map_err(self.db.sql())?;
        root.try_into()
            .map_err(|_| self.bad_row(table, "root is not 32 bytes".into()))
    }

    fn small(
        &self,
        r: &SqliteRow,
        at: usize,
        table: &'static str,
        what: &str,
    ) -> Result<u16, Error> {
        let value: i64 = r.try_get(at).map_err(self.db.sql())?;
        u16::try_from(value)
            .map_err(|_| self.bad_row(table, format!("{what} {value} is not between 0 and 65535")))
    }
}
