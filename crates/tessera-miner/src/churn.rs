//! A test-only hook, compiled into debug builds alone: with `TESTHOOK_CHURN` set, the miner
//! rewrites its partition's last filler chunk just before and just after it puts each
//! challenge's answer together. The answer's paths then belong to a commitment newer than the
//! one the validator took from `Info`, and the tree has moved past that one too before the
//! validator can follow it. An honest miner must still pass every item (the race seen when a
//! store lands between an answer and the validator's update); a release build has no such hook.

use tessera_storage::PartitionDb;

use crate::Error;

/// The environment variable that turns the hook on.
const VAR: &str = "TESTHOOK_CHURN";

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
