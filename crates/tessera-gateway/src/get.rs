//! A get: the object's segments streamed in order, a few fetched ahead. One segment: fetch any k pieces in parallel, originals first, hedge a slow fetch with
//! a spare, check every piece against the root recorded at store time before using it, penalise
//! a miner whose bytes do not match, and gather the segment's ciphertext.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tessera_core::AccountId;
use tessera_core::merkle::Hash;
use tessera_proto::prost::bytes::Bytes;
use tessera_storage::{ObjectRecord, PlacementRecord};

use tessera_object::ObjectId;
use tessera_proto::gateway::v1::ObjectInfo;

use crate::error::MinerError;
use crate::miners::{self, Holder};
use crate::objects::{health, object_info};
use crate::{Error, Gateway, PIPELINE};

impl Gateway {
    /// `owner`'s object `id` and a stream of its segments' ciphertext in order, fetched a few
    /// segments ahead; the stream ends early with the error that stopped it. For a client that
    /// opens what it sealed: an object an S3 entry or upload holds is refused, since the gateway
    /// sealed it with a key the client never had, and S3 reads it.
    pub(crate) async fn open_object(
        &self,
        id: &[u8],
        owner: &AccountId,
    ) -> Result<
        (
            ObjectInfo,
            tokio::sync::mpsc::Receiver<Result<Vec<u8>, Error>>,
        ),
        Error,
    > {
        let o = self.owned(id, owner).await?;
        self.not_held_by_s3(&o, "read").await?;
        self.open_record(o, 0..u64::MAX).await
    }

    /// As [`Self::open_object`], for the object's segments in `wanted` only (a ranged read):
    /// segments outside it are never fetched.
    pub(crate) async fn open_segments(
        &self,
        id: &[u8],
        owner: &AccountId,
        wanted: std::ops::Range<u64>,
    ) -> Result<
        (
            ObjectInfo,
            tokio::sync::mpsc::Receiver<Result<Vec<u8>, Error>>,
        ),
        Error,
    > {
        let o = self.owned(id, owner).await?;
        self.open_record(o, wanted).await
    }

    /// [`Self::open_segments`] of an object already looked up.
    async fn open_record(
        &self,
        o: ObjectRecord,
        wanted: std::ops::Range<u64>,
    ) -> Result<
        (
            ObjectInfo,
            tokio::sync::mpsc::Receiver<Result<Vec<u8>, Error>>,
        ),
        Error,
    > {
        let placements = self.state.placements(&o.object.id).await?;
        let (metagraph, holders) = self.miners_now().await?;
        let health = health(&placements, &holders, o.object.segments);
        let holders = miners::sources(holders, &metagraph);
        let info = object_info(&o, &health);
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        let s = self.clone();
        self.spawn(async move {
            let mut by_segment: BTreeMap<u64, Vec<PlacementRecord>> = BTreeMap::new();
            for p in placements {
                by_segment.entry(p.segment).or_default().push(p);
            }
            let holders = Arc::new(holders);
            let mut pending = std::collections::VecDeque::new();
            let end = wanted.end.min(o.object.segments);
            let mut next = wanted.start;
            loop {
                while pending.len() < PIPELINE && next < end {
                    let shared = s.clone();
                    let holders = holders.clone();
                    let placements = by_segment.remove(&next).unwrap_or_default();
                    let index = next;
                    pending.push_back(s.tasks.spawn(async move {
                        fetch_segment(&shared, &holders, index, &placements).await
                    }));
                    next += 1;
                }
                let Some(task) = pending.pop_front() else {
                    break;
                };
                let result = match task.await {
                    Ok(r) => r,
                    Err(e) => Err(Error::Internal(format!("fetch task failed: {e}"))),
                };
                if let Ok(bytes) = &result {
                    s.metrics.bytes_out.inc_by(bytes.len() as u64);
                } else if let Err(e) = &result {
                    tracing::warn!(object = %ObjectId(o.object.id), error = %e, "get failed");
                }
                let failed = result.is_err();
                if tx.send(result).await.is_err() || failed {
                    for t in pending {
                        t.abort();
                    }
                    return;
                }
            }
        });
        Ok((info, rx))
    }
}

/// One place a piece can be read from.
#[derive(Debug, Clone)]
struct Source {
    piece: u16,
    root: Hash,
    holder: Holder,
    slot: u64,
}

/// The ciphertext of one segment from the placements of its pieces.
pub(crate) async fn fetch_segment(
    shared: &Gateway,
    axons: &HashMap<AccountId, Holder>,
    index: u64,
    placements: &[PlacementRecord],
) -> Result<Vec<u8>, Error> {
    let k = usize::from(shared.params.k);
    // Healthy placements before failed ones, original pieces (no decoding needed) before
    // recovery pieces, then the most reputable miner.
    let mut sources: Vec<(bool, Source)> = placements
        .iter()
        .filter_map(|p| {
            axons.get(&p.miner).map(|h| {
                (
                    p.failed,
                    Source {
                        piece: p.piece,
                        root: p.root,
                        holder: h.clone(),
                        slot: p.slot,
                    },
                )
            })
        })
        .collect();
    sources.sort_by(|(fa, a), (fb, b)| {
        fa.cmp(fb)
            .then((a.piece >= shared.params.k).cmp(&(b.piece >= shared.params.k)))
            .then(b.holder.reputation.total_cmp(&a.holder.reputation))
            .then(a.piece.cmp(&b.piece))
    });
    let mut queue = sources
        .into_iter()
        .map(|(_, s)| s)
        .collect::<Vec<_>>()
        .into_iter();

    let mut got: BTreeMap<u16, Bytes> = BTreeMap::new();
    let mut in_flight: HashSet<u16> = HashSet::new();
    let mut tasks = tokio::task::JoinSet::new();
    let hedge = Duration::from_millis(shared.data.hedge_ms.max(1));

    // Starts fetching the next source whose piece is neither held nor being fetched.
    let mut launch = |tasks: &mut tokio::task::JoinSet<_>,
                      got: &BTreeMap<u16, Bytes>,
                      in_flight: &mut HashSet<u16>|
     -> bool {
        for source in queue.by_ref() {
            if got.contains_key(&source.piece) || in_flight.contains(&source.piece) {
                continue;
            }
            in_flight.insert(source.piece);
            let shared = shared.clone();
            tasks.spawn(async move {
                let started = Instant::now();
                let checked = shared
                    .miners
                    .retrieve(&source.holder, source.slot, &source.root)
                    .await;
                (source, started.elapsed(), checked)
            });
            return true;
        }
        false
    };
    for _ in 0..k {
        launch(&mut tasks, &got, &mut in_flight);
    }

    let mut deadline = tokio::time::Instant::now() + hedge;
    while got.len() < k {
        if tasks.is_empty() && !launch(&mut tasks, &got, &mut in_flight) {
            return Err(Error::Unavailable(format!(
                "segment {index}: only {} of the {k} pieces needed could be fetched",
                got.len()
            )));
        }
        tokio::select! {
            joined = tasks.join_next() => {
                let Some(joined) = joined else { continue };
                let (source, took, checked) =
                    joined.map_err(|e| Error::Internal(format!("fetch task failed: {e}")))?;
                in_flight.remove(&source.piece);
                match checked {
                    Ok(bytes) => {
                        shared.served(&source.holder.hotkey, bytes.len() as u64, took);
                        got.insert(source.piece, bytes);
                    }
                    Err(MinerError::Lied(lie)) => {
                        shared.penalise(&source.holder.hotkey, source.slot, &lie).await?;
                        launch(&mut tasks, &got, &mut in_flight);
                    }
                    Err(e @ MinerError::Failed(_)) => {
                        tracing::warn!(miner = %source.holder.hotkey, slot = source.slot, error = %e, "fetching a piece failed");
                        launch(&mut tasks, &got, &mut in_flight);
                    }
                }
            }
            _ = tokio::time::sleep_until(deadline) => {
                // Slow: ask a spare as well, and keep whichever answers first.
                if launch(&mut tasks, &got, &mut in_flight) {
                    shared.metrics.hedges.inc();
                    tracing::info!(segment = index, waited_ms = hedge.as_millis() as u64, "slow piece fetch; hedging with a spare");
                }
                deadline = tokio::time::Instant::now() + hedge;
            }
        }
    }
    tasks.abort_all();

    let params = shared.params;
    tokio::task::spawn_blocking(move || {
        let pieces: Vec<(usize, &[u8])> =
            got.iter().map(|(p, b)| (usize::from(*p), &b[..])).collect();
        tessera_object::gather(&params, index, &pieces).map_err(Error::from)
    })
    .await
    .map_err(|e| Error::Internal(format!("decoding task failed: {e}")))?
}
