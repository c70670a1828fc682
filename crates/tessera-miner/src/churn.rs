//! A test-only hook, compiled into debug builds alone: with `TESTHOOK_CHURN` set, the miner
//! rewrites its partition's last filler chunk just before and just after it puts each
//! challenge's answer together. The answer's paths then belong to a commitment newer than the
//! one the validator took from `Info`, and the tree has moved past that one too before the
//! validator can follow it. An honest miner must still pass every item (the race seen when a
//! store lands between an answer and the validator's update); a release build has no such hook.
//!
//! With `TESTHOOK_SHRINK` set instead, the miner truncates its partition's filler to just below
//! the lowest slot each challenge asks for, before answering: the reallocation race taken to its
//! end, and the dodge a cheater could try with it.
//!
//! With `TESTHOOK_RESEAL_DELAY_MS` set, a released slot stays empty that long before it is
//! resealed: the window in which a validator must not challenge it, stretched over a restart.

use tessera_storage::PartitionDb;

use crate::Error;

/// The environment variable that turns the rewriting hook on.
const VAR: &str = "TESTHOOK_CHURN";

/// The environment variable that turns the shrinking hook on.
const SHRINK: &str = "TESTHOOK_SHRINK";

/// Deletes the last filler chunk of `db` and writes it back as it was: two new sequence numbers,
/// the same leaves.
pub(crate) async fn rewrite_last(db: &PartitionDb) -> Result<(), Error> {
    if std::env::var_os(VAR).is_none() {
        return Ok(());
    }
    let n_chunks = db.tree().await?.n_chunks;
    let Some(last) = n_chunks.checked_sub(1) else {
        return Ok(());
    };
    if db.is_data(last).await? {
        return Ok(());
    }
    let Some(chunk) = db.get(last).await? else {
        return Ok(());
    };
    db.truncate(last).await?;
    db.insert(&[chunk]).await?;
    Ok(())
}

/// Waits `TESTHOOK_RESEAL_DELAY_MS` milliseconds, when set, before a reseal.
pub(crate) async fn delay_reseal() {
    let ms = std::env::var("TESTHOOK_RESEAL_DELAY_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(ms) = ms {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
}

/// Deletes every filler chunk from the lowest of `ids` on, so the partition's signed size no
/// longer covers any challenged slot.
pub(crate) async fn shrink_below(db: &PartitionDb, ids: &[u64]) -> Result<(), Error> {
    if std::env::var_os(SHRINK).is_none() {
        return Ok(());
    }
    if let Some(lowest) = ids.iter().min() {
        // As a reallocation does it: the signed size first, then the chunks.
        db.set_size(*lowest).await?;
        db.truncate(*lowest).await?;
    }
    Ok(())
}
