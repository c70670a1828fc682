//! Repair: every round the gateway counts each segment's healthy pieces (on a miner that can
//! hold pieces and not failed since stored). A segment at or below the repair threshold is
//! rebuilt from any k checked pieces, and each missing piece is stored on the nearest miner not
//! yet holding one of the segment, then moved there in the index in one transaction.

use std::collections::{BTreeMap, HashMap, HashSet};

use tessera_core::AccountId;
use tessera_core::merkle::{self, Hash};
use tessera_object::{ObjectId, piece_id};
use tessera_rpc::now_ms;
use tessera_storage::PlacementRecord;

use crate::miners::{Holder, MIN_REPUTATION};
use crate::objects::health;
use crate::{Error, Gateway, get, put};

/// Segments repaired per sweep at most, so that one sweep never delays the next round long.
const PER_SWEEP: usize = 64;

/// Objects read from the index at a time: two queries a page, and a page's placements in memory.
const PAGE: u32 = 256;

/// What one sweep found and did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Sweep {
    /// Segments at or below the repair threshold.
    pub weak: u64,
    pub repaired_pieces: u64,
    pub failed_segments: u64,
}

/// Repairs the weakest segments of every complete, live object, up to `PER_SWEEP`.
pub async fn sweep(shared: &Gateway) -> Result<Sweep, Error> {
    let (metagraph, holders) = shared.miners_now().await?;
    let sources = super::miners::sources(holders.clone(), &metagraph);
    let threshold = shared.data.repair_at();
    let now = now_ms();
    let mut out = Sweep::default();
    let mut budget = PER_SWEEP;
    let mut rare: HashMap<AccountId, u64> = HashMap::new();
    let mut after = None;
    loop {
        let page = shared.state.live_objects(after.as_ref(), now, PAGE).await?;
        let Some((last, _)) = page.last() else { break };
        after = Some(last.object.id);
        for (o, placements) in page {
            let id = o.object.id;
            let health = health(&placements, &holders, o.object.segments);
            let mut by_segment: BTreeMap<u64, Vec<PlacementRecord>> = BTreeMap::new();
            for p in placements {
                by_segment.entry(p.segment).or_default().push(p);
            }
            for (segment, healthy) in health.iter().enumerate() {
                // Pieces of segments one loss from repair are the rare ones: their holders earn
                // more for keeping them (docs/incentives.md).
                if *healthy <= threshold.saturating_add(1) {
                    for p in by_segment.get(&(segment as u64)).into_iter().flatten() {
                        if !p.failed {
                            *rare.entry(p.miner).or_default() += o.object.piece_size;
                        }
                    }
                }
                if *healthy > threshold || *healthy >= o.object.n {
                    continue;
                }
                out.weak += 1;
                if budget == 0 {
                    continue;
                }
                budget -= 1;
                let placements = by_segment.remove(&(segment as u64)).unwrap_or_default();
                match repair_segment(
                    shared,
                    &holders,
                    &sources,
                    ObjectId(id),
                    segment as u64,
                    &placements,
                )
                .await
                {
                    Ok(n) => out.repaired_pieces += n,
                    Err(e) => {
                        out.failed_segments += 1;
                        shared.metrics.repair_failures.inc();
                        tracing::warn!(object = %ObjectId(id), segment, error = %e, "repair failed; retrying next round");
                    }
                }
            }
        }
    }
    shared.metrics.weak_segments.set(out.weak as i64);
    shared.ledger.set_rare(rare);
    Ok(out)
}

/// Rebuilds segment `segment` and stores each of its unhealthy pieces on a new miner; returns
/// how many pieces moved.
async fn repair_segment(
    shared: &Gateway,
    holders: &HashMap<AccountId, Holder>,
    sources: &HashMap<AccountId, Holder>,
    object: ObjectId,
    segment: u64,
    placements: &[PlacementRecord],
) -> Result<u64, Error> {
    let n = shared.params.n;
    let healthy = |p: &PlacementRecord| {
        !p.failed
            && holders
                .get(&p.miner)
                .is_some_and(|h| h.reputation >= MIN_REPUTATION)
    };
    let good: HashSet<u16> = placements
        .iter()
        .filter(|p| healthy(p))
        .map(|p| p.piece)
        .collect();
    let roots: BTreeMap<u16, Hash> = placements.iter().map(|p| (p.piece, p.root)).collect();
    let missing: Vec<u16> = (0..n).filter(|p| !good.contains(p)).collect();
    if missing.is_empty() {
        return Ok(0);
    }
    // Only the pieces' own holders are read, each checked against its root.
    let ciphertext = get::fetch_segment(shared, sources, segment, placements).await?;
    let params = shared.params;
    let pieces =
        tokio::task::spawn_blocking(move || tessera_object::spread(&params, segment, &ciphertext))
            .await
            .map_err(|e| Error::Internal(format!("coding task failed: {e}")))??;

    // Miners already holding a healthy piece of this segment take no other.
    let mut used: HashSet<AccountId> = placements
        .iter()
        .filter(|p| healthy(p))
        .map(|p| p.miner)
        .collect();
    let mut moved = 0;
    for piece in missing {
        let data = tessera_proto::prost::bytes::Bytes::from(pieces[usize::from(piece)].clone());
        let root = merkle::root(&data)?;
        if roots.get(&piece).is_some_and(|r| *r != root) {
            return Err(Error::Internal(format!(
                "rebuilt piece {piece} of segment {segment} does not match its recorded root"
            )));
        }
        let old: Vec<&PlacementRecord> = placements.iter().filter(|p| p.piece == piece).collect();
        for p in &old {
            used.insert(p.miner);
        }
        let id = piece_id(&object, segment, piece);
        let mut target = None;
        while let Some(h) = put::nearest(&id, holders, &used) {
            used.insert(h.hotkey);
            if let Some(r) = shared.miners.reserve(&shared.state, &h).await? {
                target = Some((h, r));
                break;
            }
        }
        let Some((to, reservation)) = target else {
            return Err(Error::NoCapacity(format!(
                "no miner left to take piece {piece} of segment {segment}"
            )));
        };
        let slot = reservation.slot;
        let stored = shared.miners.store(&to, slot, data, &root).await;
        let recorded = match stored {
            Ok(()) => {
                let drop: Vec<AccountId> = old.iter().map(|p| p.miner).collect();
                shared
                    .state
                    .move_piece(
                        &object.0,
                        segment,
                        piece,
                        &drop,
                        (&to.hotkey, slot),
                        now_ms(),
                    )
                    .await
            }
            Err(e) => {
                reservation.finish(false).await;
                return Err(Error::Unavailable(format!(
                    "storing rebuilt piece {piece} on miner {}: {e}",
                    to.hotkey
                )));
            }
        };
        if let Err(e) = recorded {
            // The object went (deleted or expired) while its piece was rebuilt: the copy just
            // stored belongs to nothing, so it goes back to filler, for sure. The slot stays
            // taken until the release is confirmed, so no new piece lands in it first.
            shared
                .state
                .queue_release(&to.hotkey, slot, now_ms())
                .await?;
            reservation.finish(true).await;
            return Err(e.into());
        }
        reservation.finish(true).await;
        // The old copies go back to filler through the releases that moving the placement
        // recorded: sent every round until their miners confirm.
        shared.metrics.repaired_pieces.inc();
        tracing::info!(object = %object, segment, piece, to = %to.hotkey, slot, "piece repaired");
        moved += 1;
    }
    Ok(moved)
}
