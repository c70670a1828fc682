//! A partition's tree for its commitment (challenges v2): the leaves are the `root` column of
//! `chunks`, read through the covering index `chunks_leaf` so that no chunk's megabyte is touched;
//! `tree` holds the sequence number and the committed size; `leaf_log` keeps, for every change
//! since the last sequence number the validator synced to, the leaf the slot held before, so that
//! an update can show the old leaves without anything being resent in full.
//!
//! Triggers on `chunks` bump the sequence number and log the old leaf of every change, in the
//! writer's own transaction, whoever writes; a change of the committed size bumps it too. Readers
//! take one read transaction (a snapshot, in WAL mode), so a sequence number, the group nodes and
//! the paths served with it always describe the same tree, whichever connection or process wrote.
//! The group nodes are cached in memory and brought up to date from the log.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use sqlx::{Row, SqliteConnection};
use tessera_core::commit::{self, EMPTY, GROUP, GroupUpdate};
use tessera_core::merkle::Hash;

use crate::Error;
use crate::partition::PartitionDb;

/// Log rows kept at most: past this the log is dropped, and a validator that has not synced
/// since takes a fresh commitment (with a fresh audit) instead of an update.
const MAX_LOG_ROWS: i64 = 1 << 20;

/// The group nodes as of sequence number `seq` and size `n_chunks`.
#[derive(Debug, Default)]
pub(crate) struct Cache {
    /// `None` until first read: building it reads every leaf once.
    groups: Option<Vec<Hash>>,
    /// The root over `groups`, kept with them: `Info` asks for it every round.
    root: Hash,
    seq: u64,
    n_chunks: u64,
}

/// The tree's state: what a commitment signs, minus the keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeState {
    pub seq: u64,
    pub n_chunks: u64,
    pub root: Hash,
    pub groups: Vec<Hash>,
}

/// What a validator holding the commitment at `from_seq` needs to move to the current one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeUpdate {
    pub state: TreeState,
    pub groups: Vec<GroupUpdate>,
}

/// The sequence number, the committed size and the oldest sequence number an update can start
/// from.
async fn tree_row(c: &mut SqliteConnection) -> Result<(u64, u64, u64), sqlx::Error> {
    let row = sqlx::query("SELECT seq, n_chunks, log_from FROM tree")
        .fetch_one(c)
        .await?;
    Ok((
        row.try_get::<i64, _>(0)? as u64,
        row.try_get::<i64, _>(1)? as u64,
        row.try_get::<i64, _>(2)? as u64,
    ))
}

/// The leaves of `slots` (EMPTY where no chunk is), read from the index.
async fn leaves_in(c: &mut SqliteConnection, slots: Range<u64>) -> Result<Vec<Hash>, sqlx::Error> {
    let mut out = vec![EMPTY; slots.end.saturating_sub(slots.start) as usize];
    let (Ok(from), Ok(to)) = (i64::try_from(slots.start), i64::try_from(slots.end)) else {
        return Ok(out);
    };
    if out.is_empty() {
        return Ok(out);
    }
    let rows = sqlx::query(
        "SELECT id, root FROM chunks INDEXED BY chunks_leaf WHERE id >= ? AND id < ? ORDER BY id",
    )
    .bind(from)
    .bind(to)
    .fetch_all(c)
    .await?;
    for r in rows {
        let id: i64 = r.try_get(0)?;
        let root: Vec<u8> = r.try_get(1)?;
        // A damaged root is a leaf no chunk has: its slot fails, nothing else does.
        out[(id - from) as usize] = root.try_into().unwrap_or(EMPTY);
    }
    Ok(out)
}

/// The leaves of group `index` within `n_chunks` slots.
async fn group_leaves(
    c: &mut SqliteConnection,
    index: u64,
    n_chunks: u64,
) -> Result<Vec<Hash>, sqlx::Error> {
    let from = index * GROUP;
    leaves_in(c, from..from + commit::group_len(n_chunks, index) as u64).await
}

/// For each slot written after sequence `after` and up to `upto`, the old leaf of its first
/// write after `after`: the leaf it held at `after`.
async fn first_old_leaves(
    c: &mut SqliteConnection,
    after: u64,
    upto: u64,
) -> Result<BTreeMap<u64, Hash>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT slot, old FROM leaf_log l WHERE seq > ?1 AND seq <= ?2 AND seq = (
             SELECT MIN(seq) FROM leaf_log WHERE slot = l.slot AND seq > ?1)",
    )
    .bind(after as i64)
    .bind(upto as i64)
    .fetch_all(c)
    .await?;
    let mut out = BTreeMap::new();
    for r in rows {
        let slot: i64 = r.try_get(0)?;
        let leaf: Vec<u8> = r.try_get(1)?;
        out.entry(slot as u64)
            .or_insert_with(|| leaf.try_into().unwrap_or(EMPTY));
    }
    Ok(out)
}

/// Bumps the sequence number inside a write transaction and returns the new one.
async fn bump(tx: &mut SqliteConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("UPDATE tree SET seq = seq + 1 RETURNING seq")
        .fetch_one(tx)
        .await
}

impl PartitionDb {
    /// The leaves of `slots` (EMPTY where no chunk is), read from the index.
    pub async fn leaves(&self, slots: Range<u64>) -> Result<Vec<Hash>, Error> {
        let mut c = self.db().pool.acquire().await.map_err(self.db().sql())?;
        leaves_in(&mut c, slots).await.map_err(self.db().sql())
    }

    /// The tree as it stands: sequence number, size, root and group nodes.
    pub async fn tree(&self) -> Result<TreeState, Error> {
        let mut cache = self.tree_cache().lock().await;
        let mut tx = self.db().pool.begin().await.map_err(self.db().sql())?;
        let state = self.state(&mut tx, &mut cache).await?;
        tx.commit().await.map_err(self.db().sql())?;
        Ok(state)
    }

    /// The tree in the snapshot `c` reads, bringing the cache up to it: from the log where it
    /// reaches back to the cache's sequence number, from every leaf otherwise.
    async fn state(&self, c: &mut SqliteConnection, cache: &mut Cache) -> Result<TreeState, Error> {
        let sql = self.db().sql();
        let (seq, n_chunks, log_from) = tree_row(c).await.map_err(sql)?;
        let fresh = cache.groups.is_some() && cache.seq == seq && cache.n_chunks == n_chunks;
        if !fresh {
            let catch_up = cache.groups.is_some()
                && cache.n_chunks == n_chunks
                && log_from <= cache.seq
                && cache.seq <= seq;
            if catch_up {
                let slots: Vec<i64> =
                    sqlx::query_scalar("SELECT DISTINCT slot FROM leaf_log WHERE seq > ?")
                        .bind(cache.seq as i64)
                        .fetch_all(&mut *c)
                        .await
                        .map_err(self.db().sql())?;
                let touched: BTreeSet<u64> = slots
                    .into_iter()
                    .map(|s| s as u64 / GROUP)
                    .filter(|g| *g < commit::group_count(n_chunks))
                    .collect();
                for g in touched {
                    let leaves = group_leaves(c, g, n_chunks)
                        .await
                        .map_err(self.db().sql())?;
                    if let Some(groups) = cache.groups.as_mut() {
                        groups[g as usize] = commit::group_node(&leaves);
                    }
                }
            } else {
                let all = leaves_in(c, 0..n_chunks).await.map_err(self.db().sql())?;
                cache.groups = Some(commit::group_nodes(&all));
            }
            cache.root = commit::partition_root(cache.groups.as_deref().unwrap_or_default());
            cache.seq = seq;
            cache.n_chunks = n_chunks;
        }
        Ok(TreeState {
            seq,
            n_chunks,
            root: cache.root,
            groups: cache.groups.clone().unwrap_or_default(),
        })
    }

    /// The tree's sequence number and, for each slot, the path from its leaf to its group node,
    /// read in one snapshot: the paths are those of that sequence number's commitment.
    pub async fn group_paths(&self, slots: &[u64]) -> Result<(u64, Vec<Vec<Hash>>), Error> {
        let mut tx = self.db().pool.begin().await.map_err(self.db().sql())?;
        let (seq, n_chunks, _) = tree_row(&mut tx).await.map_err(self.db().sql())?;
        let mut paths = Vec::with_capacity(slots.len());
        let mut groups: BTreeMap<u64, Vec<Hash>> = BTreeMap::new();
        for &slot in slots {
            let g = slot / GROUP;
            if slot >= n_chunks {
                paths.push(Vec::new());
                continue;
            }
            let leaves = match groups.entry(g) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => e.insert(
                    group_leaves(&mut tx, g, n_chunks)
                        .await
                        .map_err(self.db().sql())?,
                ),
            };
            paths.push(commit::group_path(leaves, (slot % GROUP) as usize));
        }
        tx.commit().await.map_err(self.db().sql())?;
        Ok((seq, paths))
    }

    /// Sets the committed size (the partition plan's chunk count); a change is a new sequence
    /// number.
    pub async fn set_size(&self, n_chunks: u64) -> Result<TreeState, Error> {
        let n = i64::try_from(n_chunks).map_err(|_| Error::TooLarge {
            path: self.path().to_owned(),
            what: "partition size",
            value: n_chunks,
        })?;
        let sql = || self.db().sql();
        let mut tx = self.db().pool.begin().await.map_err(sql())?;
        // The write first, so the transaction holds the write lock before it reads. Slots a
        // shrink cuts need no log here: until a delete logs them (`chunks_leaf_delete`), what
        // they hold now is what they held, and `update_since` reads it.
        bump(&mut tx).await.map_err(sql())?;
        let (_, held, _) = tree_row(&mut tx).await.map_err(sql())?;
        if held == n_chunks {
            // Nothing changes: no new sequence number either.
            tx.rollback().await.map_err(sql())?;
            return self.tree().await;
        }
        sqlx::query("UPDATE tree SET n_chunks = ?, size_seq = seq")
            .bind(n)
            .execute(&mut *tx)
            .await
            .map_err(sql())?;
        tx.commit().await.map_err(sql())?;
        self.tree().await
    }

    /// What moves a validator from the commitment it holds (sequence `from_seq`, `from_n_chunks`
    /// slots) to the one at sequence `to_seq` (the current one when `None`): every group that
    /// changed, with its leaves then and the old leaf of each changed slot. An earlier `to_seq`
    /// serves a validator whose challenge was answered with that commitment's paths while
    /// another write landed: the leaves it had are read back from the log. `None` when the log no
    /// longer reaches back to `from_seq`, when `to_seq` is before it or in the future, or when
    /// the size changed after `to_seq`: the validator must then take another way. Log rows up to
    /// `from_seq` are dropped afterwards, since the validator has everything they describe.
    pub async fn update_since(
        &self,
        from_seq: u64,
        from_n_chunks: u64,
        to_seq: Option<u64>,
    ) -> Result<Option<TreeUpdate>, Error> {
        let sql = || self.db().sql();
        let mut cache = self.tree_cache().lock().await;
        let mut tx = self.db().pool.begin().await.map_err(sql())?;
        let (seq, n_chunks, log_from) = tree_row(&mut tx).await.map_err(sql())?;
        let size_seq: i64 = sqlx::query_scalar("SELECT size_seq FROM tree")
            .fetch_one(&mut *tx)
            .await
            .map_err(sql())?;
        let to = to_seq.unwrap_or(seq);
        if from_seq < log_from || from_seq > to || to > seq || size_seq as u64 > to {
            return Ok(None);
        }
        let mut state = self.state(&mut tx, &mut cache).await?;
        drop(cache);
        // The leaf each slot written after `to` held at `to`: the first old leaf logged since.
        let later = first_old_leaves(&mut tx, to, seq).await.map_err(sql())?;
        let at_to = |slot: u64, now: Hash| later.get(&slot).copied().unwrap_or(now);
        // The first old leaf logged for each slot changed between `from_seq` and `to` is the one
        // it held at `from_seq`.
        let mut old = first_old_leaves(&mut tx, from_seq, to)
            .await
            .map_err(sql())?;
        // Slots beyond the size the validator holds held nothing for it.
        for (slot, leaf) in old.iter_mut() {
            if *slot >= from_n_chunks {
                *leaf = EMPTY;
            }
        }
        if !later.is_empty() {
            let touched: BTreeSet<u64> = later
                .keys()
                .map(|s| s / GROUP)
                .filter(|g| *g < commit::group_count(n_chunks))
                .collect();
            for g in touched {
                let first = g * GROUP;
                let now = group_leaves(&mut tx, g, n_chunks).await.map_err(sql())?;
                let then: Vec<Hash> = now
                    .iter()
                    .enumerate()
                    .map(|(at, l)| at_to(first + at as u64, *l))
                    .collect();
                state.groups[g as usize] = commit::group_node(&then);
            }
            state.root = commit::partition_root(&state.groups);
            state.seq = to;
        }
        let (old_count, new_count) = (
            commit::group_count(from_n_chunks),
            commit::group_count(n_chunks),
        );
        let mut shown: BTreeSet<u64> = old.keys().map(|s| s / GROUP).collect();
        shown.extend(old_count..new_count);
        if n_chunks < from_n_chunks && !n_chunks.is_multiple_of(GROUP) {
            shown.insert(n_chunks / GROUP);
        }
        let mut groups = Vec::new();
        for g in shown.into_iter().filter(|g| *g < new_count) {
            let first = g * GROUP;
            // The group's slots within either size: its leaves at `to`, and beyond the new size
            // what they still hold.
            let span = GROUP.min(from_n_chunks.max(n_chunks) - first);
            let all: Vec<Hash> = leaves_in(&mut tx, first..first + span)
                .await
                .map_err(sql())?
                .into_iter()
                .enumerate()
                .map(|(at, l)| at_to(first + at as u64, l))
                .collect();
            let within = commit::group_len(n_chunks, g);
            let mut changed = Vec::new();
            for (at, held_then) in all.iter().enumerate() {
                let slot = first + at as u64;
                let then_to = if at < within { *held_then } else { EMPTY };
                let then_from = match old.get(&slot) {
                    Some(l) => *l,
                    // Unchanged since `from_seq`, unless beyond the old size, where it held
                    // nothing.
                    None if slot >= from_n_chunks => EMPTY,
                    None => *held_then,
                };
                if then_from != then_to {
                    changed.push((slot, then_from));
                }
            }
            groups.push(GroupUpdate {
                index: g,
                leaves: all[..within].to_vec(),
                old: changed,
            });
        }
        tx.commit().await.map_err(sql())?;
        let from = from_seq as i64;
        let mut c = self.db().pool.acquire().await.map_err(sql())?;
        sqlx::query("DELETE FROM leaf_log WHERE seq <= ?")
            .bind(from)
            .execute(&mut *c)
            .await
            .map_err(sql())?;
        sqlx::query("UPDATE tree SET log_from = ? WHERE log_from < ?")
            .bind(from)
            .bind(from)
            .execute(&mut *c)
            .await
            .map_err(sql())?;
        Ok(Some(TreeUpdate { state, groups }))
    }

    /// Drops the log when it has grown past [`MAX_LOG_ROWS`] (a validator that never syncs);
    /// updates then start from the current sequence number.
    pub(crate) async fn cap_log(&self) -> Result<(), Error> {
        // An upper bound read from the ends of the rowid b-tree: COUNT(*) would walk a million
        // rows after every batch an allocation writes.
        let rows: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(rowid) - MIN(rowid) + 1, 0) FROM leaf_log")
                .fetch_one(&self.db().pool)
                .await
                .map_err(self.db().sql())?;
        if rows > MAX_LOG_ROWS {
            let mut tx = self.db().pool.begin().await.map_err(self.db().sql())?;
            sqlx::query("DELETE FROM leaf_log")
                .execute(&mut *tx)
                .await
                .map_err(self.db().sql())?;
            sqlx::query("UPDATE tree SET log_from = seq")
                .execute(&mut *tx)
                .await
                .map_err(self.db().sql())?;
            tx.commit().await.map_err(self.db().sql())?;
        }
        Ok(())
    }
}
