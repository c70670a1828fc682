//! Giving space back: objects whose TTL ran out or that their owner deleted, and puts that died
//! midway (pending longer than `PENDING_GRACE`, or from before a restart), have their slots
//! released on the miners, which reseal them as filler, and only then leave the index, so no
//! slot is ever challenged against the wrong root.

use std::collections::BTreeMap;
use std::time::Duration;

use tessera_chain::Metagraph;
use tessera_core::AccountId;
use tessera_rpc::now_ms;

use crate::{Error, Gateway};

/// How long a put may stay pending before it counts as dead: far longer than any put takes.
pub const PENDING_GRACE: Duration = Duration::from_secs(600);

/// Slots sent in one `Release`: well under the miner's bound on slots waiting for a reseal.
const RELEASE_BATCH: usize = 512;

/// Releases and forgets every object due; returns how many went. The slots of all of them go to
/// each miner together, a few requests per miner rather than one per object, so that reclaiming
/// keeps up with clients that delete as fast as they put. An object whose release failed on
/// some miner stays indexed and is tried again next round.
pub async fn reclaim(
    gateway: &Gateway,
    metagraph: &Metagraph,
    started_ms: u64,
) -> Result<usize, Error> {
    let state = &gateway.state;
    let now = now_ms();
    // No put survives a restart, so one pending from before this process started is dead too.
    let stale_before = now
        .saturating_sub(PENDING_GRACE.as_millis() as u64)
        .max(started_ms);
    let due = state.to_reclaim(now, stale_before).await?;
    let mut by_miner: BTreeMap<AccountId, Vec<u64>> = BTreeMap::new();
    let mut miners_of: Vec<Vec<AccountId>> = Vec::with_capacity(due.len());
    for (id, _) in &due {
        let mut mine = Vec::new();
        for p in state.placements(id).await? {
            by_miner.entry(p.miner).or_default().push(p.slot);
            mine.push(p.miner);
        }
        miners_of.push(mine);
    }
    let mut failed: std::collections::BTreeSet<AccountId> = Default::default();
    for (miner, slots) in by_miner {
        // A miner gone from the metagraph has nothing left to release.
        let Some(axon) = metagraph.neuron(&miner).and_then(|n| n.axon) else {
            continue;
        };
        for batch in slots.chunks(RELEASE_BATCH) {
            if let Err(e) = gateway.miners.release(miner, axon, batch.to_vec()).await {
                tracing::warn!(%miner, error = %e, "release failed; retrying next round");
                failed.insert(miner);
                break;
            }
            // Spared until resealed, across a restart too.
            state.releases_done(&miner, batch, Some(now_ms())).await?;
        }
    }
    let mut gone = 0;
    for ((id, owner), miners) in due.iter().zip(miners_of) {
        if miners.iter().any(|m| failed.contains(m)) {
            continue;
        }
        state.delete_object(id, owner).await?;
        tracing::info!(object = %hex::encode(id), "object reclaimed");
        gone += 1;
    }
    Ok(gone)
}

/// Sends every release still waiting (recorded when a put or a repair moved a piece away) and
/// forgets those the miner confirmed; the others wait for the next round. A miner gone from the
/// metagraph has nothing left to release. Returns how many slots went back to filler.
pub async fn release_pending(gateway: &Gateway, metagraph: &Metagraph) -> Result<usize, Error> {
    let state = &gateway.state;
    let mut done = 0;
    // Slots resealed since the last round are forgotten by the state file too, and slots past
    // the reseal grace with them.
    for (miner, slots) in gateway.miners.in_motion().take_resealed() {
        state.resealed(&miner, &slots).await?;
    }
    let grace = crate::slots::RESEAL_GRACE.as_millis() as u64;
    state
        .prune_resealing(now_ms().saturating_sub(grace))
        .await?;
    for (miner, slots) in state.pending_releases().await? {
        let Some(axon) = metagraph.neuron(&miner).and_then(|n| n.axon) else {
            state.releases_done(&miner, &slots, None).await?;
            continue;
        };
        match gateway.miners.release(miner, axon, slots.clone()).await {
            Ok(()) => {
                // Remembered as resealing in the state file, so a restart still spares them.
                state.releases_done(&miner, &slots, Some(now_ms())).await?;
                tracing::info!(%miner, slots = slots.len(), "moved-away pieces released");
                done += slots.len();
            }
            Err(e) => {
                tracing::warn!(%miner, slots = slots.len(), error = %e, "release failed; retrying next round")
            }
        }
    }
    Ok(done)
}
