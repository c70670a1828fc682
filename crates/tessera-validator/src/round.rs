//! One challenge of one miner: ask what it claims, pick secret targets, time a signed batch
//! against RTT + slack, and check every segment against a root the validator derived itself.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use rand::{Rng, TryRngCore};
use tessera_core::constants::SEGMENT_SIZE;
use tessera_core::merkle::{self, Hash};
use tessera_core::{AccountId, Keypair};
use tessera_partition::{SealKey, SealProfile};
use tessera_proto::miner::v1::miner_client::MinerClient;
use tessera_proto::miner::v1::{
    ChallengeItem, ChallengeRequest, InfoRequest, PingRequest, SegmentProof, methods,
};
use tessera_proto::tonic::transport::{Channel, Endpoint};
use tessera_rpc::{now_ms, signed, verify_response};
use tessera_storage::{ChallengeRecord, HashDb, Meta, StateDb};

use crate::Error;
use crate::commitments;

/// A miner as the metagraph lists it.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) hotkey: AccountId,
    pub(crate) uid: u16,
    pub(crate) axon: SocketAddr,
}

/// What the validator requires of every miner and how it challenges.
#[derive(Debug)]
pub(crate) struct Rules {
    pub(crate) keypair: Keypair,
    pub(crate) chunk_size: u64,
    pub(crate) profile: SealProfile,
    pub(crate) items: u32,
    pub(crate) slack: Duration,
    pub(crate) max_rtt: Duration,
    pub(crate) seal_budget: u32,
    pub(crate) pool: u32,
}

/// The result of challenging one miner once.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// The bytes the miner claims for this validator (0 when it claims nothing usable).
    pub(crate) claimed_bytes: u64,
    pub(crate) items: Vec<ChallengeRecord>,
    /// Time spent checking the answer, when there was one to check.
    pub(crate) verify_secs: Option<f64>,
}

/// How long connecting and the unhurried calls (`Info`, `Ping`) may take.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(3);

/// Challenges `target` once. Never fails: whatever goes wrong on the miner's side is a failed
/// item with its reason; only the validator's own storage errors are errors.
pub(crate) async fn challenge(
    rules: &Rules,
    target: &Target,
    pool: &HashDb,
    data: &HashMap<u64, Option<Hash>>,
    state: &StateDb,
) -> Result<Outcome, Error> {
    let peer = format!("miner {} at {}", target.hotkey, target.axon);
    let fail_all = |reason: String, claimed_bytes: u64, latency_ms: u64| {
        tracing::info!(%peer, %reason, "challenge failed");
        let at_ms = now_ms();
        Outcome {
            claimed_bytes,
            items: (0..rules.items)
                .map(|_| ChallengeRecord {
                    chunk_id: 0,
                    segment: 0,
                    success: false,
                    latency_ms,
                    bytes: 0,
                    at_ms,
                    reason: Some(reason.clone()),
                })
                .collect(),
            verify_secs: None,
        }
    };
    let me = rules.keypair.account();

    let mut client = match connect(target.axon).await {
        Ok(c) => c,
        Err(e) => return Ok(fail_all(format!("unreachable: {e}"), 0, 0)),
    };

    // What does it claim for us, and is it sealed the way we require?
    let (req, nonce) = signed(
        InfoRequest { groups: false },
        &rules.keypair,
        &target.hotkey,
        methods::INFO,
    );
    let info = match tokio::time::timeout(CALL_TIMEOUT, client.info(req)).await {
        Ok(Ok(r)) => r,
        Ok(Err(status)) => return Ok(fail_all(format!("info refused: {status}"), 0, 0)),
        Err(_) => return Ok(fail_all("info timed out".into(), 0, 0)),
    };
    if let Err(e) = verify_response(&info, methods::INFO, &target.hotkey, &me, &nonce, &peer) {
        return Ok(fail_all(e.to_string(), 0, 0));
    }
    let info = info.into_inner();
    let offered = info.commitment;
    let Some(partition) = info.partition else {
        return Ok(fail_all(
            "claims no partition for this validator".into(),
            0,
            0,
        ));
    };
    let wanted_passes = rules.profile.params().passes;
    if partition.chunk_size != rules.chunk_size
        || partition.seal_profile != rules.profile.name()
        || partition.seal_passes != wanted_passes
    {
        return Ok(fail_all(
            format!(
                "sealed with chunk size {} and {} ({} passes), not the required {} and {} ({} passes)",
                partition.chunk_size,
                partition.seal_profile,
                partition.seal_passes,
                rules.chunk_size,
                rules.profile,
                wanted_passes
            ),
            0,
            0,
        ));
    }
    let n_chunks = partition.n_chunks;
    if n_chunks == 0 {
        return Ok(fail_all("claims an empty partition".into(), 0, 0));
    }
    let claimed_bytes = n_chunks.saturating_mul(rules.chunk_size);

    // The miner's commitment, taken or brought up to date; a miner that offers none is checked
    // as before, against roots alone.
    let mut held = match &offered {
        Some(c) => match commitments::hold(rules, target, &mut client, c, state).await? {
            Ok(h) => Some(h),
            Err(reason) => return Ok(fail_all(format!("commitment: {reason}"), 0, 0)),
        },
        None => None,
    };

    // Targets and their roots, all from the validator's side.
    let key = SealKey::new(target.hotkey, me, rules.chunk_size, rules.profile.params())?;
    let targets = pick_targets(rules, &key, pool, data, n_chunks).await?;
    if targets.is_empty() {
        tracing::warn!(%peer, "no roots ready and no seal budget: skipping this round");
        return Ok(Outcome {
            claimed_bytes,
            items: Vec::new(),
            verify_secs: None,
        });
    }

    // Round-trip time, then the timed batch.
    let (req, _) = signed(
        PingRequest {},
        &rules.keypair,
        &target.hotkey,
        methods::PING,
    );
    let started = Instant::now();
    match tokio::time::timeout(CALL_TIMEOUT, client.ping(req)).await {
        Ok(Ok(_)) => {}
        Ok(Err(status)) => {
            return Ok(fail_all(
                format!("ping refused: {status}"),
                claimed_bytes,
                0,
            ));
        }
        Err(_) => return Ok(fail_all("ping timed out".into(), claimed_bytes, 0)),
    }
    let rtt = started.elapsed();
    // The miner controls how fast it answers the ping: a stalled ping must not buy it time.
    if rtt > rules.max_rtt {
        return Ok(fail_all(
            format!(
                "round-trip time {} ms is over the {} ms limit",
                rtt.as_millis(),
                rules.max_rtt.as_millis()
            ),
            claimed_bytes,
            rtt.as_millis() as u64,
        ));
    }
    let deadline = rtt + rules.slack;
    let items: Vec<ChallengeItem> = targets
        .iter()
        .map(|t| ChallengeItem {
            chunk_id: t.id,
            segment: t.segment,
        })
        .collect();
    let (req, nonce) = signed(
        ChallengeRequest { items },
        &rules.keypair,
        &target.hotkey,
        methods::CHALLENGE,
    );
    let started = Instant::now();
    let answer = tokio::time::timeout(deadline, client.challenge(req)).await;
    let elapsed = started.elapsed();
    let latency_ms = elapsed.as_millis() as u64;
    // The pool's ids are spent once the miner has seen them, answered or not.
    let spent: Vec<u64> = targets.iter().filter(|t| t.pooled).map(|t| t.id).collect();
    pool.discard(&spent).await?;
    let response = match answer {
        Err(_) => {
            return Ok(fail_all(
                format!(
                    "deadline missed: no answer within {} ms (rtt {} ms + slack {} ms)",
                    deadline.as_millis(),
                    rtt.as_millis(),
                    rules.slack.as_millis()
                ),
                claimed_bytes,
                latency_ms,
            ));
        }
        Ok(Err(status)) => {
            return Ok(fail_all(
                format!("challenge refused: {status}"),
                claimed_bytes,
                latency_ms,
            ));
        }
        Ok(Ok(r)) => r,
    };
    if let Err(e) = verify_response(
        &response,
        methods::CHALLENGE,
        &target.hotkey,
        &me,
        &nonce,
        &peer,
    ) {
        return Ok(fail_all(e.to_string(), claimed_bytes, latency_ms));
    }
    let response = response.into_inner();
    // Paths of a newer commitment (a store or a reseal landed since `Info`): follow it first,
    // outside the deadline, which the answer already met.
    if let Some(h) = held.as_mut().filter(|h| h.seq != response.seq) {
        match commitments::update(rules, target, &mut client, h).await {
            Ok(Some(next)) => {
                state.save_commitment(&next).await?;
                *h = next;
            }
            Ok(None) => state.drop_commitment(&target.hotkey).await?,
            Err(reason) => {
                tracing::info!(%peer, %reason, "commitment update after a challenge failed")
            }
        }
    }
    let proofs = response.proofs;
    let at_ms = now_ms();
    let checking = Instant::now();
    let records = targets
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let verdict = check_proof(rules.chunk_size, t, proofs.get(i)).and_then(|()| {
                let (Some(h), Some(p)) = (&held, proofs.get(i)) else {
                    return Ok(());
                };
                if h.seq != response.seq {
                    return Err(format!(
                        "paths of commitment {}, but the commitment held is {}",
                        response.seq, h.seq
                    ));
                }
                commitments::folds(rules.chunk_size, h, p).map(|_| ())
            });
            ChallengeRecord {
                chunk_id: t.id,
                segment: t.segment,
                success: verdict.is_ok(),
                latency_ms,
                bytes: proofs
                    .get(i)
                    .map_or(0, |p| (p.data.len() + 32 * p.path.len()) as u64),
                at_ms,
                reason: verdict.err(),
            }
        })
        .collect::<Vec<_>>();
    let verify_secs = Some(checking.elapsed().as_secs_f64());
    let failed = records.iter().filter(|r| !r.success).count();
    if failed > 0 {
        tracing::info!(%peer, failed, of = records.len(), first = ?records.iter().find_map(|r| r.reason.clone()), "items failed");
    }

    top_up(rules, &key, pool, n_chunks).await?;
    Ok(Outcome {
        claimed_bytes,
        items: records,
        verify_secs,
    })
}

pub(crate) async fn connect(addr: SocketAddr) -> Result<MinerClient<Channel>, String> {
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|e| e.to_string())?
        .connect_timeout(CALL_TIMEOUT);
    let channel = endpoint.connect().await.map_err(|e| e.to_string())?;
    Ok(MinerClient::new(channel))
}

/// One challenged segment and the root it must prove into.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChallengeTarget {
    pub(crate) id: u64,
    pub(crate) segment: u32,
    pub(crate) root: Hash,
    /// Taken from the pool (to be discarded once spent) rather than sealed just now.
    pub(crate) pooled: bool,
}

/// Up to `items` targets: one slot of client data when the miner holds any (its root is the one
/// recorded at store time), pooled roots (sealed earlier for secret random ids below the claim),
/// then fresh uniform ids sealed now within the budget. A slot that holds client data is always
/// checked against the recorded root, never a sealed one. Ids and segments come from the
/// operating system's randomness, so a miner cannot predict them.
async fn pick_targets(
    rules: &Rules,
    key: &SealKey,
    pool: &HashDb,
    data: &HashMap<u64, Option<Hash>>,
    n_chunks: u64,
) -> Result<Vec<ChallengeTarget>, Error> {
    let mut rng = rand::rngs::OsRng.unwrap_err();
    let segments = (rules.chunk_size / SEGMENT_SIZE as u64) as u32;
    let mut data_slots: Vec<(u64, Hash)> = data
        .iter()
        .filter(|(id, _)| **id < n_chunks)
        .filter_map(|(id, root)| root.map(|r| (*id, r)))
        .collect();
    data_slots.sort_unstable();
    let data_pick = (!data_slots.is_empty())
        .then(|| data_slots[rng.random_range(0..data_slots.len())])
        .map(|(id, root)| ChallengeTarget {
            id,
            segment: rng.random_range(0..segments),
            root,
            pooled: false,
        });
    let mut ready: Vec<(u64, Hash)> = pool
        .roots()
        .await?
        .into_iter()
        .filter(|(id, _)| *id < n_chunks)
        // A slot whose piece is still being stored proves into nothing certain yet.
        .filter(|(id, _)| !matches!(data.get(id), Some(None)))
        .collect();
    ready.shuffle(&mut rng);
    let want = rules.items as usize;
    let mut out: Vec<ChallengeTarget> = data_pick.into_iter().collect();
    out.extend(
        ready
            .into_iter()
            .take(want.saturating_sub(out.len()))
            .map(|(id, root)| ChallengeTarget {
                id,
                segment: rng.random_range(0..segments),
                // A pooled id that now holds client data proves into the data's root.
                root: data.get(&id).copied().flatten().unwrap_or(root),
                pooled: true,
            }),
    );
    let taken: BTreeSet<u64> = out.iter().map(|t| t.id).collect();
    let fresh_count = (want - out.len()).min(rules.seal_budget as usize);
    let mut fresh = BTreeSet::new();
    // Bounded tries: a tiny claim may have fewer free ids than asked.
    for _ in 0..fresh_count * 8 {
        if fresh.len() >= fresh_count {
            break;
        }
        let id = rng.random_range(0..n_chunks);
        if !taken.contains(&id) {
            fresh.insert(id);
        }
    }
    // Fresh ids that hold client data need no sealing: their root is on record.
    let (known, to_seal): (Vec<u64>, Vec<u64>) =
        fresh.into_iter().partition(|id| data.contains_key(id));
    let mut roots = seal_roots(*key, to_seal).await?;
    roots.extend(
        known
            .into_iter()
            .filter_map(|id| data.get(&id).copied().flatten().map(|r| (id, r))),
    );
    out.extend(roots.into_iter().map(|(id, root)| ChallengeTarget {
        id,
        segment: rng.random_range(0..segments),
        root,
        pooled: false,
    }));
    out.shuffle(&mut rng);
    Ok(out)
}

/// Refills the pool towards its target by at most the seal budget, between rounds.
async fn top_up(rules: &Rules, key: &SealKey, pool: &HashDb, n_chunks: u64) -> Result<(), Error> {
    let have = pool.count().await?;
    let missing = u64::from(rules.pool).saturating_sub(have);
    let n = missing.min(u64::from(rules.seal_budget));
    if n == 0 {
        return Ok(());
    }
    let mut rng = rand::rngs::OsRng.unwrap_err();
    let ids: BTreeSet<u64> = (0..n).map(|_| rng.random_range(0..n_chunks)).collect();
    let roots = seal_roots(*key, ids.into_iter().collect()).await?;
    pool.insert(&roots).await?;
    Ok(())
}

/// Seals chunks on a blocking thread: production sealing is seconds of CPU per megabyte.
async fn seal_roots(key: SealKey, ids: Vec<u64>) -> Result<Vec<(u64, Hash)>, Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    tokio::task::spawn_blocking(move || {
        ids.into_iter()
            .map(|id| (id, key.expected_root(id)))
            .collect()
    })
    .await
    .map_err(|e| Error::Serve(format!("sealing task failed: {e}")))
}

/// Checks one answered item against the validator's own root. The miner's bytes are only ever
/// hashed up to that root; nothing it sends is taken as a reference.
pub(crate) fn check_proof(
    chunk_size: u64,
    target: &ChallengeTarget,
    proof: Option<&SegmentProof>,
) -> Result<(), String> {
    let Some(p) = proof else {
        return Err("no proof for this item".into());
    };
    if p.chunk_id != target.id || p.segment != target.segment {
        return Err(format!(
            "proof for chunk {} segment {}, asked chunk {} segment {}",
            p.chunk_id, p.segment, target.id, target.segment
        ));
    }
    if p.data.is_empty() {
        return Err(format!("chunk {} not held", target.id));
    }
    let mut path = Vec::with_capacity(p.path.len());
    for h in &p.path {
        let Ok(h) = <[u8; 32]>::try_from(h.as_slice()) else {
            return Err("path hash is not 32 bytes".into());
        };
        path.push(h);
    }
    let proof = merkle::Proof {
        index: u64::from(target.segment),
        path,
    };
    if merkle::verify(&target.root, chunk_size, &p.data, &proof) {
        Ok(())
    } else {
        Err(format!(
            "chunk {} segment {} does not prove into the validator's own root",
            target.id, target.segment
        ))
    }
}

/// The meta of this validator's hash database for `miner`.
pub(crate) fn pool_meta(rules: &Rules, miner: AccountId) -> Meta {
    Meta {
        miner,
        validator: rules.keypair.account(),
        chunk_size: rules.chunk_size,
        seal_profile: rules.profile.name().to_owned(),
        seal_passes: rules.profile.params().passes,
    }
}
