//! One challenge of one miner (challenges v2): ask what it claims and commits to, pick secret
//! targets, time a signed batch against RTT + slack, and check every segment with hashes against
//! the miner's commitment; audited slots must also hold the validator's own seal root.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use rand::{Rng, TryRngCore};
use tessera_core::constants::SEGMENT_SIZE;
use tessera_core::merkle::Hash;
use tessera_core::slot::Judged;
use tessera_core::{AccountId, Keypair};
use tessera_partition::SealProfile;
use tessera_proto::miner::v1::miner_client::MinerClient;
use tessera_proto::miner::v1::{
    ChallengeItem, ChallengeRequest, InfoRequest, PingRequest, SegmentProof, methods,
};
use tessera_proto::prost::Message;
use tessera_proto::tonic::transport::{Channel, Endpoint};
use tessera_rpc::{now_ms, signed, verify_response};
use tessera_storage::{ChallengeRecord, HashDb, HeldCommitment, Lie, Meta, StateDb};

use crate::Error;
use crate::audit::{self, Pools};
use crate::commitments;
use crate::error::Fault;

/// A miner as the metagraph lists it.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) hotkey: AccountId,
    pub(crate) uid: u16,
    pub(crate) axon: SocketAddr,
}

/// What the validator requires of every miner, how it challenges and audits, and the slots it
/// released that are spared until resealed.
#[derive(Debug)]
pub(crate) struct Rules {
    pub(crate) keypair: Arc<Keypair>,
    pub(crate) chunk_size: u64,
    pub(crate) profile: SealProfile,
    pub(crate) items: u32,
    pub(crate) slack: Duration,
    pub(crate) max_rtt: Duration,
    pub(crate) audit_initial: u32,
    pub(crate) cpu_share: f64,
    pub(crate) initial_cpu_share: f64,
    pub(crate) pool: u32,
    pub(crate) bar: Duration,
    /// The gateway's book of slots in motion: challenged against neither root meanwhile.
    pub(crate) slots: Arc<tessera_gateway::Slots>,
}

/// The result of challenging one miner once.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// The bytes the miner's audited commitment covers (0 when it claims nothing usable, or its
    /// initial audit is not complete).
    pub(crate) claimed_bytes: u64,
    pub(crate) items: Vec<ChallengeRecord>,
    /// Time spent checking the answer, when there was one to check.
    pub(crate) verify_secs: Option<f64>,
    /// Audited items answered and compared with the validator's own seal.
    pub(crate) audits: u32,
    /// Caught lying in this round: barred from now on.
    pub(crate) lied: bool,
    /// Whether the items were judged one by one against an answer. When the round failed as a
    /// whole (unreachable, refused, too slow), its items name no slot, and nothing is known
    /// about what the miner holds: its reputation falls, and its pieces count again once it
    /// is back, with no repair unless enough others fail meanwhile.
    pub(crate) answered: bool,
}

/// Pings per round at most: a second only when the first came back over `max_rtt`.
const PING_TRIES: usize = 2;

/// How long connecting and the unhurried calls (`Info`, `Ping`) may take.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(3);

/// Challenges `target` once. Never fails: whatever goes wrong on the miner's side is a failed
/// item with its reason; only the validator's own storage errors are errors.
pub(crate) async fn challenge(
    rules: &Rules,
    target: &Target,
    pools: &Pools,
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
            audits: 0,
            lied: false,
            answered: false,
        }
    };
    let me = rules.keypair.account();

    let mut client = match connect(target.axon).await {
        Ok(c) => c,
        Err(e) => return Ok(fail_all(format!("unreachable: {e}"), 0, 0)),
    };

    // What does it claim for us, is it sealed the way we require, and what does it commit to?
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
    if partition.n_chunks == 0 {
        return Ok(fail_all("claims an empty partition".into(), 0, 0));
    }
    let Some(offered) = info.commitment else {
        return Ok(fail_all(
            "offers no commitment to its partition".into(),
            0,
            0,
        ));
    };
    let mut held = match commitments::hold(rules, target, &mut client, &offered, state).await? {
        Ok(h) => h,
        Err(reason) => return Ok(fail_all(format!("commitment: {reason}"), 0, 0)),
    };
    // While a reallocation runs, the tree already has the new size (its new slots empty until
    // sealed) and the partition served still the old: only slots both cover are challenged, and
    // only they count.
    let n_chunks = held.n_chunks.min(partition.n_chunks);
    if n_chunks == 0 {
        return Ok(fail_all("commits to an empty tree".into(), 0, 0));
    }
    let pool = pools.get(&target.hotkey).await?;
    let audited_enough = u64::from(held.audited) >= audit::initial_size(rules, held.n_chunks);
    // Until its initial audit is through, none of a commitment's capacity counts.
    let claimed_of = |audited: bool, slots: u64| {
        if audited {
            slots.saturating_mul(rules.chunk_size)
        } else {
            0
        }
    };
    let claimed_bytes = claimed_of(audited_enough, n_chunks);

    // Targets, all chosen by the validator.
    let spared = rules.slots.spared(&target.hotkey);
    let targets = pick_targets(rules, &pool, data, &spared, n_chunks, audited_enough).await?;

    // Round-trip time, then the timed batch. A ping over the limit is tried once more: a
    // transfer the network stalled (a lost segment) must not fail an honest miner's round,
    // while a miner that stalls its pings on purpose gains nothing, since the RTT that sets its
    // deadline is still one it measured under the limit.
    let mut rtt = Duration::MAX;
    for _ in 0..PING_TRIES {
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
        rtt = started.elapsed();
        if rtt <= rules.max_rtt {
            break;
        }
    }
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
    // Audit roots are spent once the miner has seen their slots, answered or not.
    let spent: Vec<u64> = targets
        .iter()
        .filter(|t| matches!(t.expect, Expect::Sealed(_)))
        .map(|t| t.id)
        .collect();
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
    let answer_signature = match verify_response(
        &response,
        methods::CHALLENGE,
        &target.hotkey,
        &me,
        &nonce,
        &peer,
    ) {
        Ok(s) => s,
        Err(e) => return Ok(fail_all(e.to_string(), claimed_bytes, latency_ms)),
    };
    let response = response.into_inner();
    // Paths of a newer commitment (a store or a reseal landed since `Info`): follow it first,
    // outside the deadline, which the answer already met. The update goes to exactly the
    // commitment answered, since another write may have landed since the answer; only when the
    // miner cannot show that one (its size changed since) does it go to the current one.
    if held.seq < response.seq {
        let mut next =
            commitments::update(rules, target, &mut client, &held, Some(response.seq)).await;
        if matches!(next, Ok(None)) {
            next = commitments::update(rules, target, &mut client, &held, None).await;
        }
        match next {
            Ok(Some(next)) => {
                state.save_commitment(&next).await?;
                held = next;
            }
            Ok(None) => state.drop_commitment(&target.hotkey).await?,
            Err(reason) => {
                tracing::info!(%peer, %reason, "commitment update after a challenge failed")
            }
        }
    }
    let at_ms = now_ms();
    let checking = Instant::now();
    let mut records = Vec::with_capacity(targets.len());
    let mut audits = 0u32;
    let mut lie = None;
    // The validator's index as it is now, read only when an answer contradicts what was expected
    // of its slot when the targets were picked.
    let mut index_now: Option<HashMap<u64, Option<Hash>>> = None;
    let mut withdrawn = 0usize;
    for (i, t) in targets.iter().enumerate() {
        // The miner shrank its partition between the challenge and the answer (a reallocation
        // truncates filler at the tail) and signed the smaller size: a filler slot it no longer
        // claims is neither proven nor failed. Dodging an item this way costs every slot from it
        // to the old end, which the claim loses at once; client data is never truncated, so a
        // data slot given up still fails.
        if t.id >= held.n_chunks && held.n_chunks < n_chunks && !matches!(t.expect, Expect::Data(_))
        {
            withdrawn += 1;
            continue;
        }
        let proof = response.proofs.get(i);
        let mut verdict = check_item(rules.chunk_size, &held, response.seq, t, proof);
        let mut expect = t.expect;
        // The validator itself is changing this slot (releasing it, or storing a piece there)
        // since the targets were picked: what the miner holds there proves nothing either way.
        if verdict.reason.is_some() && in_motion(rules, &target.hotkey, t.id) {
            continue;
        }
        // A piece may have been placed in the slot since (or the slot released): then the
        // answer is judged by what the slot is meant to hold now, and an honest miner that
        // stored a piece is never taken for a liar.
        if let (Some(leaf), Some(_)) = (verdict.leaf, &verdict.reason) {
            if index_now.is_none() {
                index_now = Some(
                    state
                        .data_slots(&target.hotkey)
                        .await?
                        .into_iter()
                        .collect(),
                );
            }
            expect = match index_now.as_ref().and_then(|m| m.get(&t.id)) {
                Some(Some(root)) => Expect::Data(*root),
                // Being stored: its root is not settled, and the leaf folds.
                Some(None) => Expect::Committed,
                None => t.expect,
            };
            verdict.reason = judge(t.id, &leaf, expect);
        }
        // An audit counts once the answer folds into the commitment: only then is the leaf the
        // miner's signed word.
        if let Expect::Sealed(sealed) = expect
            && let Some(leaf) = verdict.leaf
        {
            audits += 1;
            state
                .record_audit(&target.hotkey, held.seq, t.id, leaf == sealed, at_ms)
                .await?;
            if leaf != sealed && lie.is_none() {
                lie = Some((t.id, leaf, sealed));
            }
        }
        records.push(ChallengeRecord {
            chunk_id: t.id,
            segment: t.segment,
            success: verdict.reason.is_none(),
            latency_ms,
            // The proof's payload: segment and hashes, without protobuf's framing.
            bytes: proof.map_or(0, |p| {
                (p.data.len() + 32 * (p.path.len() + p.group_path.len())) as u64
            }),
            at_ms,
            reason: verdict.reason,
        });
    }
    let verify_secs = Some(checking.elapsed().as_secs_f64());
    if withdrawn > 0 {
        tracing::info!(%peer, withdrawn, slots = held.n_chunks, "items left out: the miner shrank its partition below them before answering");
    }
    let failed = records.iter().filter(|r| !r.success).count();
    if failed > 0 {
        tracing::info!(%peer, failed, of = records.len(), first = ?records.iter().find_map(|r| r.reason.clone()), "items failed");
    }
    if let Some((slot, committed_leaf, sealed_root)) = lie {
        let c = commitments::commitment(rules, held.miner, held.n_chunks, held.seq, held.root);
        let now = now_ms();
        let evidence = Lie {
            miner: target.hotkey,
            at_ms: now,
            barred_until_ms: now.saturating_add(rules.bar.as_millis() as u64),
            slot,
            committed_leaf,
            sealed_root,
            commitment: c.message(),
            commitment_signature: held.signature,
            answer: response.encode_to_vec(),
            answer_signature: answer_signature.0,
            nonce,
        };
        state.record_lie(&evidence).await?;
        // Whatever it commits to next is taken afresh and audited afresh, after the bar.
        state.drop_commitment(&target.hotkey).await?;
        tracing::warn!(%peer, slot, seq = held.seq, barred_for_secs = rules.bar.as_secs(), "caught lying: a committed leaf is not the validator's seal of its slot; barred");
        return Ok(Outcome {
            claimed_bytes: 0,
            items: records,
            verify_secs,
            audits,
            lied: true,
            answered: true,
        });
    }
    // Audits fold only into the commitment held at the answer's sequence number, so one that
    // was dropped above (its update refused) has none to add.
    if audits > 0 {
        held.audited = held.audited.saturating_add(audits);
        state.save_commitment(&held).await?;
    }
    // An empty tree has nothing to audit and nothing to count.
    let now_audited =
        held.n_chunks > 0 && u64::from(held.audited) >= audit::initial_size(rules, held.n_chunks);
    if now_audited && !audited_enough {
        tracing::info!(%peer, seq = held.seq, slots = held.n_chunks, "initial audit passed: the commitment's capacity counts");
    }
    // A shrink signed with the answer takes effect in this round's claim already.
    let claimed_bytes = claimed_of(now_audited, held.n_chunks.min(n_chunks));
    Ok(Outcome {
        claimed_bytes,
        items: records,
        verify_secs,
        audits,
        lied: false,
        answered: true,
    })
}

pub(crate) async fn connect(addr: SocketAddr) -> Result<MinerClient<Channel>, Fault> {
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|e| Fault::NoAnswer(e.to_string()))?
        .connect_timeout(CALL_TIMEOUT);
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| Fault::NoAnswer(e.to_string()))?;
    Ok(MinerClient::new(channel))
}

/// What an item's chunk root must be, besides folding into the commitment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// Nothing more: a slot checked with hashes only.
    Committed,
    /// The root of the client piece recorded when it was stored.
    Data(Hash),
    /// The root of the validator's own seal: an audit.
    Sealed(Hash),
}

/// One challenged segment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChallengeTarget {
    pub(crate) id: u64,
    pub(crate) segment: u32,
    pub(crate) expect: Expect,
}

/// Up to `items` targets: one slot of client data when the miner holds any, audit slots from the
/// pool (all the items while the initial audit lasts, else whatever the budget has sealed), then
/// uniformly random slots checked with hashes only. Slots and segments come from the operating
/// system's randomness, so a miner cannot predict them, nor tell an audit from any other item.
/// Slots being stored to, and slots released and not yet resealed (`spared`), are left out.
async fn pick_targets(
    rules: &Rules,
    pool: &HashDb,
    data: &HashMap<u64, Option<Hash>>,
    spared: &[u64],
    n_chunks: u64,
    audited: bool,
) -> Result<Vec<ChallengeTarget>, Error> {
    let mut rng = rand::rngs::OsRng.unwrap_err();
    let segments = (rules.chunk_size / SEGMENT_SIZE as u64) as u32;
    let left_out = |id: &u64| matches!(data.get(id), Some(None)) || spared.contains(id);
    let expect_of = |id: u64| match data.get(&id) {
        Some(Some(root)) => Expect::Data(*root),
        _ => Expect::Committed,
    };
    let mut data_slots: Vec<(u64, Hash)> = data
        .iter()
        .filter(|(id, _)| **id < n_chunks && !spared.contains(id))
        .filter_map(|(id, root)| root.map(|r| (*id, r)))
        .collect();
    data_slots.sort_unstable();
    let want = rules.items as usize;
    let mut out: Vec<ChallengeTarget> = Vec::with_capacity(want);
    if let Some((id, root)) =
        (!data_slots.is_empty()).then(|| data_slots[rng.random_range(0..data_slots.len())])
    {
        out.push(ChallengeTarget {
            id,
            segment: rng.random_range(0..segments),
            expect: Expect::Data(root),
        });
    }
    let mut ready: Vec<(u64, Hash)> = pool
        .roots()
        .await?
        .into_iter()
        .filter(|(id, _)| *id < n_chunks && !left_out(id))
        .collect();
    ready.shuffle(&mut rng);
    // While the initial audit lasts every item may be an audit; afterwards at most half are, so
    // that a pool filled ahead (by `allocate --validator`) is spent over several rounds.
    let audit_room = if audited { want / 2 } else { want };
    for (id, root) in ready.into_iter().take(audit_room.saturating_sub(out.len())) {
        if out.iter().any(|t| t.id == id) {
            continue;
        }
        out.push(ChallengeTarget {
            id,
            segment: rng.random_range(0..segments),
            // A pooled slot that now holds client data proves into the data's root.
            expect: match data.get(&id) {
                Some(Some(r)) => Expect::Data(*r),
                _ => Expect::Sealed(root),
            },
        });
    }
    let mut taken: BTreeSet<u64> = out.iter().map(|t| t.id).collect();
    // Bounded tries: a tiny claim may have fewer free slots than asked.
    for _ in 0..want * 8 {
        if out.len() >= want {
            break;
        }
        let id = rng.random_range(0..n_chunks);
        if left_out(&id) || !taken.insert(id) {
            continue;
        }
        out.push(ChallengeTarget {
            id,
            segment: rng.random_range(0..segments),
            expect: expect_of(id),
        });
    }
    out.shuffle(&mut rng);
    Ok(out)
}

/// The verdict on one answered item: why it failed, if it did, and the chunk root its answer
/// folds into the commitment, when it does.
#[derive(Debug)]
pub(crate) struct Verdict {
    pub(crate) reason: Option<String>,
    pub(crate) leaf: Option<Hash>,
}

/// Checks one answered item with hashes only: the segment and its path give a chunk root, which
/// must fold into the commitment held at the slot asked; a data slot's root must be the piece's
/// recorded root, an audited slot's the validator's own seal root (a mismatch there is a lie,
/// which the caller handles). The miner's bytes are only ever hashed up to what the validator
/// holds; nothing it sends is taken as a reference.
pub(crate) fn check_item(
    chunk_size: u64,
    held: &HeldCommitment,
    answered_seq: u64,
    target: &ChallengeTarget,
    proof: Option<&SegmentProof>,
) -> Verdict {
    let fail = |reason: String| Verdict {
        reason: Some(reason),
        leaf: None,
    };
    let Some(p) = proof else {
        return fail("no proof for this item".into());
    };
    if p.chunk_id != target.id || p.segment != target.segment {
        return fail(format!(
            "proof for chunk {} segment {}, asked chunk {} segment {}",
            p.chunk_id, p.segment, target.id, target.segment
        ));
    }
    if p.data.is_empty() {
        return fail(format!("chunk {} not held", target.id));
    }
    if held.seq != answered_seq {
        return fail(format!(
            "paths of commitment {answered_seq}, but the commitment held is {}",
            held.seq
        ));
    }
    let leaf = match commitments::folds(chunk_size, held, p) {
        Ok(leaf) => leaf,
        Err(reason) => return fail(format!("chunk {}: {reason}", target.id)),
    };
    Verdict {
        reason: judge(target.id, &leaf, target.expect),
        leaf: Some(leaf),
    }
}

/// Why the chunk root `leaf` of slot `id`, which folds into the commitment, is not what the
/// validator expects there; `None` when it is.
fn judge(id: u64, leaf: &Hash, expect: Expect) -> Option<String> {
    match expect {
        Expect::Committed => None,
        Expect::Data(root) => (*leaf != root)
            .then(|| format!("chunk {id} holds a piece other than the one stored there")),
        Expect::Sealed(root) => (*leaf != root)
            .then(|| format!("chunk {id}: the committed root is not the validator's seal of it")),
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

/// Whether `slot` of `miner` has content in motion (promised to a piece in flight, or released
/// and not yet resealed), so that a failed item on it proves nothing.
fn in_motion(rules: &Rules, miner: &AccountId, slot: u64) -> bool {
    rules
        .slots
        .state(miner, slot)
        .is_some_and(|s| s.judged() == Judged::NotJudged)
}
