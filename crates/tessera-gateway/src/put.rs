//! A put: the header checked, the object begun in the index, its segments placed a few at a
//! time as they arrive, and the object committed with its digest. One segment: spread into pieces, each placed on the nearest eligible miner, recorded
//! in the index before any byte leaves (so a crash leaves nothing the reclaim sweep cannot find),
//! stored, and moved to the next nearest miner when a store fails.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tessera_core::AccountId;
use tessera_core::merkle::{self, Hash};
use tessera_object::{ObjectId, piece_id, xor_distance};
use tessera_proto::prost::bytes::Bytes;
use tessera_rpc::now_ms;
use tessera_storage::SegmentRecord;

use tessera_proto::gateway::v1::{ObjectInfo, PutHeader, put_request};
use tessera_storage::NewObject;

use crate::miners::{Holder, MIN_REPUTATION, Reservation};
use crate::objects::ready;
use crate::{Error, Gateway, PIPELINE};

impl Gateway {
    /// Stores object `header` for `owner` from its parts: every encrypted segment in order,
    /// then the plaintext digest. Answers once every piece is stored and indexed; a failure
    /// leaves nothing visible, and the reclaim sweep gives back what was placed.
    pub(crate) async fn put_object(
        &self,
        owner: AccountId,
        header: PutHeader,
        mut parts: tokio::sync::mpsc::Receiver<Result<put_request::Part, Error>>,
    ) -> Result<ObjectInfo, Error> {
        let s = self;
        let p = s.params;
        let id = ObjectId::from_slice(&header.id)
            .ok_or_else(|| Error::BadRequest("object id must be 16 bytes".into()))?;
        if (header.k, header.n, header.piece_size) != (u32::from(p.k), u32::from(p.n), p.piece_size)
        {
            return Err(Error::Mismatch(format!(
                "segments sealed for k={} n={} piece_size={}, but this gateway codes k={} n={} piece_size={}; ask Params again",
                header.k, header.n, header.piece_size, p.k, p.n, p.piece_size
            )));
        }
        let segments = tessera_object::segment_count(&p, header.size);
        if header.segments != segments {
            return Err(Error::BadRequest(format!(
                "an object of {} bytes has {segments} segments, not {}",
                header.size, header.segments
            )));
        }
        let ttl = match header.ttl_secs {
            0 => s.data.default_ttl_secs,
            t if t > s.data.max_ttl_secs => {
                return Err(Error::BadRequest(format!(
                    "ttl {t} s is longer than this gateway's maximum of {} s",
                    s.data.max_ttl_secs
                )));
            }
            t => t,
        };
        if s.state.object(&id.0).await?.is_some() {
            return Err(Error::Exists(format!("object {id} already exists")));
        }
        let quota = s.data.quota_per_client.0;
        if quota > 0 {
            let held = s.state.owner_bytes(&owner, now_ms()).await?;
            if held.saturating_add(header.size) > quota {
                return Err(Error::Quota(format!(
                    "hotkey {owner} keeps {held} bytes; {} more would pass its quota of {quota} bytes",
                    header.size
                )));
            }
        }
        let (_, holders) = s.miners_now().await?;
        let eligible = ready(&holders);
        if eligible < usize::from(p.n) {
            return Err(Error::Unavailable(format!(
                "only {eligible} miners can take pieces now; {} are needed",
                p.n
            )));
        }
        let created = now_ms();
        let object = NewObject {
            id: id.0,
            owner,
            size: header.size,
            // Filled in from the put's last message before the object is committed.
            digest: [0; 32],
            k: p.k,
            n: p.n,
            piece_size: p.piece_size,
            segments,
            created_ms: created,
            expires_ms: created.saturating_add(ttl.saturating_mul(1000)),
        };
        s.state.begin_object(&object).await?;
        // From here on a failure leaves a pending object, which the reclaim sweep releases.
        let holders = Arc::new(holders);
        let capacity = p.segment_capacity() as u64;
        let segment_bytes = usize::from(p.k) * p.piece_size as usize;
        let mut tasks = tokio::task::JoinSet::new();
        let mut index = 0u64;
        let result: Result<[u8; 32], Error> = async {
            let digest = loop {
                let bytes = match parts.recv().await.transpose()? {
                    Some(put_request::Part::Segment(bytes)) => bytes,
                    Some(put_request::Part::Digest(d)) => {
                        break <[u8; 32]>::try_from(d.as_slice())
                            .map_err(|_| Error::BadRequest("digest must be 32 bytes".into()))?;
                    }
                    Some(put_request::Part::Header(_)) => {
                        return Err(Error::BadRequest("a second header in one put".into()));
                    }
                    None => {
                        return Err(Error::BadRequest(
                            "the put ended without its digest: the client stopped midway".into(),
                        ));
                    }
                };
                if index >= segments {
                    return Err(Error::BadRequest(format!(
                        "more than the {segments} segments announced"
                    )));
                }
                if bytes.len() != segment_bytes {
                    return Err(Error::BadRequest(format!(
                        "segment {index} is {} bytes, not k × piece_size = {segment_bytes}",
                        bytes.len()
                    )));
                }
                s.metrics.bytes_in.inc_by(bytes.len() as u64);
                let size = header.size.saturating_sub(index * capacity).min(capacity);
                while tasks.len() >= PIPELINE {
                    join_one(&mut tasks).await?;
                }
                let shared = s.clone();
                let holders = holders.clone();
                tasks.spawn(
                    async move { put_segment(&shared, &holders, id, index, size, bytes).await },
                );
                index += 1;
            };
            if parts.recv().await.is_some() {
                return Err(Error::BadRequest("messages after the digest".into()));
            }
            while !tasks.is_empty() {
                join_one(&mut tasks).await?;
            }
            if index != segments {
                return Err(Error::BadRequest(format!(
                    "the put ended after {index} of {segments} segments"
                )));
            }
            Ok(digest)
        }
        .await;
        let digest = match result {
            Ok(d) => d,
            Err(e) => {
                tasks.abort_all();
                // Not visible, and released by the next reclaim sweep; expiring it now makes that
                // sweep the next round rather than after the grace for dead puts.
                let _ = s.state.expire_object(&id.0, &owner, now_ms()).await;
                return Err(e);
            }
        };
        if !s.state.commit_object(&id.0, &digest).await? {
            return Err(Error::Internal(format!(
                "object {id} could not be committed"
            )));
        }
        tracing::info!(object = %id, %owner, size = header.size, segments, "object stored");
        let record = s
            .state
            .object(&id.0)
            .await?
            .ok_or_else(|| Error::Internal(format!("object {id} vanished after commit")))?;
        s.info(&record).await
    }
}

async fn join_one(tasks: &mut tokio::task::JoinSet<Result<(), Error>>) -> Result<(), Error> {
    match tasks.join_next().await {
        Some(Ok(r)) => r,
        Some(Err(e)) => Err(Error::Internal(format!("segment task failed: {e}"))),
        None => Ok(()),
    }
}

/// Tries per piece before the put gives up on it.
const STORE_TRIES: usize = 3;

/// Stores segment `index` of `object`, whose plaintext holds `size` bytes.
pub(crate) async fn put_segment(
    shared: &Gateway,
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
    .map_err(|e| Error::Internal(format!("coding task failed: {e}")))??;

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
        let result = joined.map_err(|e| Error::Internal(format!("store task failed: {e}")))?;
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
    shared: &Gateway,
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
