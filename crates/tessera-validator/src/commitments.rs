//! Holding each miner's commitment (challenges v2): take it afresh with its group nodes, follow
//! it through `Sync` updates, and check that every answered item folds into it. An update that
//! shows released slots full again is told to the gateway's book of slots in motion (`Slots`).

use tessera_core::commit::{self, Commitment, GroupUpdate, SignedCommitment};
use tessera_core::merkle::{self, Hash};
use tessera_core::{AccountId, Signature};
use tessera_proto::miner::v1::miner_client::MinerClient;
use tessera_proto::miner::v1::{self as pb, InfoRequest, SyncRequest, methods};
use tessera_proto::tonic::Code;
use tessera_proto::tonic::transport::Channel;
use tessera_rpc::{now_ms, signed, verify_response};
use tessera_storage::{HeldCommitment, StateDb};

use crate::Error;
use crate::error::Fault;
use crate::round::{CALL_TIMEOUT, Rules, Target};

/// The most slots a commitment may cover: its group nodes (32 bytes per 64 slots) then fill at
/// most 64 MiB, the largest `Info` the validator reads. That is 128 TiB of 1 MiB chunks.
pub(crate) const MAX_SLOTS: u64 = 1 << 27;

/// The largest `Info` (with every group node) the validator reads.
pub(crate) const MAX_INFO_BYTES: usize = 64 << 20;

fn hash(bytes: &[u8]) -> Option<Hash> {
    bytes.try_into().ok()
}

/// The miner's commitment from the wire, checked: its signature, keys and seal.
fn checked(
    rules: &Rules,
    miner: &AccountId,
    c: &pb::Commitment,
) -> Result<SignedCommitment, Fault> {
    let root = hash(&c.root).ok_or("commitment root is not 32 bytes")?;
    let signature: [u8; 64] = c
        .signature
        .as_slice()
        .try_into()
        .map_err(|_| Fault::BadAnswer("commitment signature is not 64 bytes".into()))?;
    let signed = SignedCommitment {
        commitment: commitment(rules, *miner, c.n_chunks, c.seq, root),
        signature: Signature(signature),
    };
    signed
        .check(
            miner,
            &rules.keypair.account(),
            rules.chunk_size,
            rules.profile.params().passes,
        )
        .map_err(|e| Fault::BadAnswer(e.to_string()))?;
    Ok(signed)
}

fn held_of(s: &SignedCommitment, groups: Vec<Hash>, audited: u32, taken_ms: u64) -> HeldCommitment {
    HeldCommitment {
        miner: s.commitment.miner,
        seq: s.commitment.seq,
        n_chunks: s.commitment.n_chunks,
        root: s.commitment.root,
        signature: s.signature.0,
        groups,
        audited,
        taken_ms,
    }
}

/// The commitment `miner` signs for this validator's partition, as the validator's rules fix it.
pub(crate) fn commitment(
    rules: &Rules,
    miner: AccountId,
    n_chunks: u64,
    seq: u64,
    root: Hash,
) -> Commitment {
    Commitment {
        miner,
        validator: rules.keypair.account(),
        chunk_size: rules.chunk_size,
        seal_passes: rules.profile.params().passes,
        n_chunks,
        seq,
        root,
    }
}

/// Brings what the validator holds of `target`'s commitment up to `offered` (the one its `Info`
/// carried): nothing to do when it is the one held, an update through `Sync` when it is newer,
/// the commitment afresh with every group node otherwise. `Ok(Err(reason))` is the miner's
/// fault, a reason to fail its round; `Err` is the validator's own storage.
pub(crate) async fn hold(
    rules: &Rules,
    target: &Target,
    client: &mut MinerClient<Channel>,
    offered: &pb::Commitment,
    state: &StateDb,
) -> Result<Result<HeldCommitment, Fault>, Error> {
    let offered = match checked(rules, &target.hotkey, offered) {
        Ok(c) => c,
        Err(reason) => return Ok(Err(reason)),
    };
    if offered.commitment.n_chunks > MAX_SLOTS {
        return Ok(Err(Fault::BadAnswer(format!(
            "commits to {} slots, over the {MAX_SLOTS} one commitment may cover",
            offered.commitment.n_chunks
        ))));
    }
    let held = state.commitment(&target.hotkey).await?;
    if let Some(h) = &held {
        if h.seq == offered.commitment.seq && h.root == offered.commitment.root {
            return Ok(Ok(h.clone()));
        }
        // Both are refused, and the one held is dropped: a miner that started its partition
        // over may come back, but only through a fresh commitment and a fresh initial audit.
        let refused = if h.seq == offered.commitment.seq {
            Some(format!("two roots signed with sequence number {}", h.seq))
        } else if offered.commitment.seq < h.seq {
            Some(format!(
                "commitment sequence went backwards: {} after {}",
                offered.commitment.seq, h.seq
            ))
        } else {
            None
        };
        if let Some(reason) = refused {
            state.drop_commitment(&target.hotkey).await?;
            return Ok(Err(Fault::BadAnswer(reason)));
        }
        match update(rules, target, client, h, None).await {
            Ok(Some(next)) => {
                state.save_commitment(&next).await?;
                return Ok(Ok(next));
            }
            // The miner cannot show the way from the one held: take it afresh.
            Ok(None) => {}
            Err(reason) => return Ok(Err(reason)),
        }
    }
    match fresh(rules, target, client).await {
        Ok(next) => {
            state.save_commitment(&next).await?;
            Ok(Ok(next))
        }
        Err(reason) => Ok(Err(reason)),
    }
}

/// The body of `response`, once its signature shows `target` answered our request `nonce`.
fn verified<T: tessera_proto::prost::Message>(
    rules: &Rules,
    target: &Target,
    method: &str,
    nonce: &tessera_core::auth::Nonce,
    response: tessera_proto::tonic::Response<T>,
) -> Result<T, Fault> {
    let peer = format!("miner {} at {}", target.hotkey, target.axon);
    verify_response(
        &response,
        method,
        &target.hotkey,
        &rules.keypair.account(),
        nonce,
        &peer,
    )
    .map_err(|e| Fault::BadAnswer(e.to_string()))?;
    Ok(response.into_inner())
}

/// The commitment afresh, with every group node, which must hash to its root.
async fn fresh(
    rules: &Rules,
    target: &Target,
    client: &mut MinerClient<Channel>,
) -> Result<HeldCommitment, Fault> {
    let (req, nonce) = signed(
        InfoRequest { groups: true },
        &rules.keypair,
        &target.hotkey,
        methods::INFO,
    );
    let mut big = client.clone().max_decoding_message_size(MAX_INFO_BYTES);
    let info = match tokio::time::timeout(CALL_TIMEOUT, big.info(req)).await {
        Ok(Ok(r)) => r,
        Ok(Err(status)) => return Err(Fault::NoAnswer(format!("info refused: {status}"))),
        Err(_) => return Err(Fault::NoAnswer("info timed out".into())),
    };
    let info = verified(rules, target, methods::INFO, &nonce, info)?;
    let c = info.commitment.ok_or("info carries no commitment")?;
    let signed = checked(rules, &target.hotkey, &c)?;
    if info.groups.len() % 32 != 0 {
        return Err(Fault::BadAnswer(format!(
            "group nodes of {} bytes, not a multiple of 32",
            info.groups.len()
        )));
    }
    let groups: Vec<Hash> = info.groups.chunks_exact(32).filter_map(hash).collect();
    commit::check_groups(&signed.commitment, &groups)
        .map_err(|e| Fault::BadAnswer(e.to_string()))?;
    Ok(held_of(&signed, groups, 0, now_ms()))
}

/// The update from `held` to the miner's commitment with sequence number `to_seq` (its current
/// one when `None`); `Ok(None)` when the miner says it cannot show it (`FAILED_PRECONDITION`).
pub(crate) async fn update(
    rules: &Rules,
    target: &Target,
    client: &mut MinerClient<Channel>,
    held: &HeldCommitment,
    to_seq: Option<u64>,
) -> Result<Option<HeldCommitment>, Fault> {
    let (req, nonce) = signed(
        SyncRequest {
            from_seq: held.seq,
            from_n_chunks: held.n_chunks,
            to_seq: to_seq.unwrap_or(0),
        },
        &rules.keypair,
        &target.hotkey,
        methods::SYNC,
    );
    let answer = match tokio::time::timeout(CALL_TIMEOUT, client.sync(req)).await {
        Ok(Ok(r)) => r,
        Ok(Err(status)) if status.code() == Code::FailedPrecondition => return Ok(None),
        Ok(Err(status)) => return Err(Fault::NoAnswer(format!("sync refused: {status}"))),
        Err(_) => return Err(Fault::NoAnswer("sync timed out".into())),
    };
    let answer = verified(rules, target, methods::SYNC, &nonce, answer)?;
    let next = checked(
        rules,
        &target.hotkey,
        &answer.commitment.ok_or("sync carries no commitment")?,
    )?;
    if next.commitment.n_chunks > MAX_SLOTS {
        return Err(Fault::BadAnswer(format!(
            "commits to {} slots, over the {MAX_SLOTS} one commitment may cover",
            next.commitment.n_chunks
        )));
    }
    if let Some(want) = to_seq
        && next.commitment.seq != want
    {
        return Err(Fault::BadAnswer(format!(
            "sync to commitment {want} answered with commitment {}",
            next.commitment.seq
        )));
    }
    let mut updates = Vec::with_capacity(answer.groups.len());
    for g in answer.groups {
        if g.leaves.len() % 32 != 0 {
            return Err(Fault::BadAnswer(format!(
                "group {}: leaves of {} bytes",
                g.index,
                g.leaves.len()
            )));
        }
        let mut old = Vec::with_capacity(g.old.len());
        for o in g.old {
            let leaf = hash(&o.leaf).ok_or_else(|| {
                Fault::BadAnswer(format!(
                    "group {}: an old leaf of {} bytes",
                    g.index,
                    o.leaf.len()
                ))
            })?;
            old.push((o.slot, leaf));
        }
        updates.push(GroupUpdate {
            index: g.index,
            leaves: g.leaves.chunks_exact(32).filter_map(hash).collect(),
            old,
        });
    }
    let (groups, changes) = commit::apply(
        &commitment(rules, held.miner, held.n_chunks, held.seq, held.root),
        &held.groups,
        &next.commitment,
        &updates,
    )
    .map_err(|e| Fault::BadAnswer(format!("update refused: {e}")))?;
    rules.slots.seen(&held.miner, &changes);
    Ok(Some(held_of(&next, groups, held.audited, held.taken_ms)))
}

/// Checks that an answered item folds into the commitment held: its segment and chunk path give
/// the chunk root, and the group path takes that to the group node held.
pub(crate) fn folds(
    chunk_size: u64,
    held: &HeldCommitment,
    p: &pb::SegmentProof,
) -> Result<Hash, Fault> {
    let mut path = Vec::with_capacity(p.path.len());
    for h in &p.path {
        path.push(hash(h).ok_or("path hash is not 32 bytes")?);
    }
    let leaf = merkle::root_of(
        chunk_size,
        &p.data,
        &merkle::Proof {
            index: u64::from(p.segment),
            path,
        },
    )
    .ok_or("segment or path does not fit the chunk size")?;
    let mut group_path = Vec::with_capacity(p.group_path.len());
    for h in &p.group_path {
        group_path.push(hash(h).ok_or("group path hash is not 32 bytes")?);
    }
    commit::check_leaf(&held.groups, held.n_chunks, p.chunk_id, &leaf, &group_path)
        .map_err(|e| Fault::BadAnswer(format!("not in the commitment: {e}")))?;
    Ok(leaf)
}
