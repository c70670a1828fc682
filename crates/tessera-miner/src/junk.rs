//! A test-only cheat, compiled into debug builds alone: with `TESTHOOK_JUNK_SHARE` set to a
//! fraction ε, the miner replaces about ε of each partition's chunks with junk it could
//! regenerate at once, and so commits to their junk roots. The validator's audits must catch it
//! (issue 13's junk-committing miner); a release build has no such hook.

use tessera_core::merkle;
use tessera_storage::PartitionDb;

use crate::Error;

/// The environment variable that turns the cheat on.
pub(crate) const VAR: &str = "TESTHOOK_JUNK_SHARE";

/// Whether slot `id` is one of the junk share: a fixed pseudo-random choice, so a restart picks
/// the same slots.
fn is_junk(id: u64, share: f64) -> bool {
    // splitmix64: well spread, and no secret is needed for a cheat.
    let mut z = id.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    ((z >> 11) as f64 / (1u64 << 53) as f64) < share
}

/// Overwrites the junk share of `db`'s `n_chunks` slots; returns how many.
pub(crate) async fn apply(db: &PartitionDb, n_chunks: u64, chunk_size: u64) -> Result<u64, Error> {
    let Some(share) = std::env::var(VAR).ok().and_then(|v| v.parse::<f64>().ok()) else {
        return Ok(0);
    };
    let mut n = 0;
    for id in (0..n_chunks).filter(|id| is_junk(*id, share)) {
        let data: Vec<u8> = id
            .to_le_bytes()
            .iter()
            .copied()
            .cycle()
            .take(chunk_size as usize)
            .collect();
        let root = merkle::root(&data).map_err(|e| Error::Serve(e.to_string()))?;
        db.store_data(id, &data, &root).await?;
        n += 1;
    }
    tracing::warn!(share, slots = n, "test hook: committed to junk");
    Ok(n)
}
