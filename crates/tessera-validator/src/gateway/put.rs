//! One segment of a put: spread into pieces, each placed on the nearest eligible miner, recorded
//! in the index before any byte leaves (so a crash leaves nothing the reclaim sweep cannot find),
//! stored, and moved to the next nearest miner when a store fails.

use std::collections::{HashMap, HashSet};

use tessera_core::AccountId;
use tessera_core::merkle::{self, Hash};
use tessera_object::{ObjectId, piece_id, xor_distance};
use tessera_proto::prost::bytes::Bytes;
use tessera_rpc::now_ms;
use tessera_storage::SegmentRecord;

use super::Shared;
use super::miners::{Holder, MIN_REPUTATION, Reservation};
use crate::Error;

/// Tries per piece before the put gives up on it.
const STORE_TRIES: usize = 3;

/// Stores segment `index` of `object`, whose plaintext holds `size` bytes.
pub(crate) async fn put_segment(
    shared: &Shared,
    holders: &HashMap<AccountId, Holder>,
    object: ObjectId,
    index: u64,
    size: u64,
    ciphertext: Bytes,
) -> Result<(), Error> {
    let params = shared.params;
    let (pieces, roots) = tokio::task::spawn_blocking(move || {
        // The original pieces are slices of the ciphertext as it arrived: no copy.
        let recovery = tessera_object::recovery(&params, index, &ciphertext)?;
        let size = params.piece_size as usize;
        let pieces: Vec<Bytes> = (0..usize::from(params.k))
            .map(|i| ciphertext.slice(i * size..(i + 1) * size))
            .chain(recovery.into_iter().map(Bytes::from))
            .collect();
        let roots = pieces
            .iter()
            .map(|p| merkle::root(p))
            .collect::<Result<Vec<Hash>, _>>()?;
        Ok::<_, Error>((pieces, roots))
    })
    .await
    .map_err(|e| Error::Serve(format!("coding task failed: {e}")))??;

    let ids: Vec<[u8; 32]> = (0..params.n).map(|p| piece_id(&object, index, p)).collect();
    let candidates: Vec<_> = holders.values().map(Holder::candidate).collect();
    let chosen = tessera_object::place(&ids, &candidates, MIN_REPUTATION)?;

    // Every piece gets a slot before anything is recorded; a full miner hands its piece on.
    let mut used: HashSet<AccountId> = HashSet::new();
    let mut slots: Vec<(Holder, Reservation)> = Vec::with_capacity(pieces.len());
    let mut outcome = Ok(());
    for (p, miner) in chosen.iter().enumerate() {
        let mut pick = holders.get(miner).cloned();
        let mut got = None;
        while let Some(h) = pick {
            used.insert(h.hotkey);
            match shared.miners.reserve(&shared.state, &h).await {
                Ok(Some(slot)) => {
                    got = Some((h, slot));
                    break;
                }
                Ok(None) => pick = nearest(&ids[p], holders, &used),
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            }
        }
        match got {
            Some(g) => slots.push(g),
            None => {
                if outcome.is_ok() {
                    outcome = Err(Error::NoCapacity(format!(
                        "no miner has a free slot for piece {p} of segment {index}"
                    )));
                }
                break;
            }
        }
    }
    if let Err(e) = outcome {
        for (_, r) in slots {
            r.finish(false).await;
        }
        return Err(e);
    }

    let record = SegmentRecord {
        index,
        size,
        pieces: slots
            .iter()
            .enumerate()
            .map(|(p, (h, r))| (p as u16, roots[p], vec![(h.hotkey, r.slot)]))
            .collect(),
    };
    let recorded = shared
        .state
        .record_segment(&object.0, &record, now_ms())
        .await;
    let mut placed = Vec::with_capacity(slots.len());
    for (h, r) in slots {
        placed.push((h, r.slot));
        r.finish(recorded.is_ok()).await;
    }
    recorded?;
    let slots = placed;

    let mut tasks = tokio::task::JoinSet::new();
    for (p, ((holder, slot), data)) in slots.into_iter().zip(pieces).enumerate() {
        let shared = shared.clone();
        let root = roots[p];
        let holders = holders.clone();
        let id = ids[p];
        let mut used = used.clone();
        tasks.spawn(async move {
            store_piece(
                &shared, &holders, object, index, p as u16, id, root, holder, slot, data, &mut used,
            )
            .await
        });
    }
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        let result = joined.map_err(|e| Error::Serve(format!("store task failed: {e}")))?;
        if let Err(e) = result {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Stores one piece, moving it to the next nearest miner when its miner fails, up to
/// `STORE_TRIES` miners in all.
#[allow(clippy::too_many_arguments)]
async fn store_piece(
    shared: &Shared,
    holders: &HashMap<AccountId, Holder>,
    object: ObjectId,
    segment: u64,
    piece: u16,
    id: [u8; 32],
    root: Hash,
    mut holder: Holder,
    mut slot: u64,
    data: Bytes,
    used: &mut HashSet<AccountId>,
) -> Result<(), Error> {
    let mut last_error = String::new();
    for attempt in 0..STORE_TRIES {
        match shared
            .miners
            .store(&holder, slot, data.clone(), &root)
            .await
        {
            Ok(()) => return Ok(()),
            Err(e) => {
                tracing::warn!(miner = %holder.hotkey, slot, segment, piece, error = %e, "storing a piece failed");
                last_error = format!("miner {}: {e}", holder.hotkey);
            }
        }
        if attempt + 1 == STORE_TRIES {
            break;
        }
        // The piece moves on; whatever the failed miner kept goes back to filler through the
        // release that moving the placement records (sent every round until confirmed).
        let mut next = None;
        while let Some(h) = nearest(&id, holders, used) {
            used.insert(h.hotkey);
            if let Some(r) = shared.miners.reserve(&shared.state, &h).await? {
                next = Some((h, r));
                break;
            }
        }
        let Some((h, r)) = next else {
            break;
        };
        let s = r.slot;
        let moved = shared
            .state
            .move_piece(
                &object.0,
                segment,
                piece,
                &[holder.hotkey],
                (&h.hotkey, s),
                now_ms(),
            )
            .await;
        r.finish(moved.is_ok()).await;
        moved?;
        holder = h;
        slot = s;
    }
    Err(Error::Unavailable(format!(
        "segment {segment}, piece {piece} could not be stored: {last_error}"
    )))
}

/// The eligible miner nearest `id` by XOR distance that holds no piece of this segment yet.
pub(crate) fn nearest(
    id: &[u8; 32],
    holders: &HashMap<AccountId, Holder>,
    used: &HashSet<AccountId>,
) -> Option<Holder> {
    holders
        .values()
        .filter(|h| h.reputation >= MIN_REPUTATION && !used.contains(&h.hotkey))
        .min_by_key(|h| xor_distance(id, &h.hotkey))
        .cloned()
}
