//! Getting a validator's weights onto the chain: set directly, or committed and revealed when the
//! subnet has commit-reveal on, within the subnet's rate limit, in a task of its own so that
//! challenge rounds never wait for a block.
//!
//! Commits are kept in `validator.sqlite` before they are submitted, so a validator restarted
//! between commit and reveal still reveals.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rand::Rng as _;
use tessera_chain::weights::{ChainWeights, Reveal, for_chain};
use tessera_chain::{AnyChain, Chain, Metagraph};
use tessera_core::AccountId;
use tessera_rpc::now_ms;
use tessera_storage::{MinerStats, PendingCommit, StateDb};

use crate::Error;
use crate::metrics::Metrics;
use crate::round::Rules;
use crate::score;

/// Blocks waited past the weights rate limit.
const RATE_MARGIN: u64 = 2;

/// What one run of the weights task did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Done {
    /// Nothing was due, or nothing could be done yet.
    Nothing,
    /// This epoch's weights are set (or committed, to be revealed later).
    Epoch,
}

/// Everything the weights task needs.
#[derive(Clone)]
pub(crate) struct Weigher {
    pub(crate) chain: Arc<AnyChain>,
    pub(crate) rules: Arc<Rules>,
    pub(crate) state: StateDb,
    pub(crate) metrics: Metrics,
    pub(crate) min_stake: f64,
    /// The block the last setting, commit or reveal landed in: the metagraph's `LastUpdate` can
    /// lag it by a refresh, and the rate limit counts from it.
    pub(crate) landed: Arc<AtomicU64>,
}

/// The chain's epoch at `block`, as Subtensor counts it for commit-reveal: a subnet runs its epoch
/// every `tempo + 1` blocks, offset by its netuid.
pub(crate) fn chain_epoch(block: u64, netuid: u16, tempo: u16) -> u64 {
    (block + u64::from(netuid) + 1) / (u64::from(tempo) + 1)
}

impl Weigher {
    /// Whether the chain's weights rate limit lets this validator set (or commit) weights at the
    /// metagraph's block: the runtime refuses one within `weights_rate_limit` blocks of the last,
    /// which is the later of what the metagraph shows and what this validator saw land.
    pub(crate) fn allowed(&self, metagraph: &Metagraph) -> bool {
        let Some(n) = metagraph.neuron(&self.rules.keypair.account()) else {
            return false;
        };
        let last = n.last_update.max(self.landed.load(Ordering::Relaxed));
        let limit = metagraph.params.weights_rate_limit;
        // Two blocks of margin: the metagraph's block is read before the call is submitted and
        // the call lands a block or more later, so the margin only errs on the safe side, and
        // costs nothing against limits of a hundred blocks.
        let ok =
            last == 0 || metagraph.block >= last.saturating_add(limit).saturating_add(RATE_MARGIN);
        tracing::debug!(
            block = metagraph.block,
            last,
            limit,
            ok,
            "weights rate limit"
        );
        ok
    }

    fn landed_at(&self, block: u64) {
        self.landed.fetch_max(block, Ordering::Relaxed);
    }

    /// Reveals every commit whose window has come, then, when `due`, sets or commits the weights
    /// of `epoch`.
    pub(crate) async fn run(
        self,
        metagraph: Arc<Metagraph>,
        epoch: u64,
        due: bool,
    ) -> Result<Done, Error> {
        let pending = self.state.pending_commits().await?;
        let waiting = self.reveal_due(&metagraph, pending).await?;
        if !due {
            return Ok(Done::Nothing);
        }
        let params = &metagraph.params;
        if params.commit_reveal && params.timelocked {
            return Err(Error::Chain(tessera_chain::Error::Unsupported(format!(
                "netuid {} uses timelocked (drand) commit-reveal, which this validator does not \
                 support: no weights set",
                metagraph.netuid
            ))));
        }
        if params.commit_reveal && waiting > 0 {
            // One commit in flight at a time: the next follows its reveal.
            tracing::debug!(
                waiting,
                "a commit waits for its reveal; not committing again"
            );
            return Ok(Done::Nothing);
        }
        let Some(weights) = self.weights(&metagraph).await? else {
            tracing::info!(epoch, "no miner has a score yet; no weights to set");
            return Ok(Done::Epoch);
        };
        if params.commit_reveal {
            self.commit(&metagraph, weights, epoch).await?;
        } else {
            let block = self
                .chain
                .set_weights(&self.rules.keypair, &weights)
                .await?;
            // The metagraph shows this setting's `LastUpdate` only after its next refresh; until
            // then the rate limit counts from the block it landed in.
            self.landed_at(block);
            self.record(&metagraph, &weights, epoch).await?;
            tracing::info!(epoch, miners = weights.uids.len(), "weights set");
        }
        Ok(Done::Epoch)
    }

    /// This validator's scores of the metagraph's miners as the chain's weights, or `None` while
    /// no miner has a score.
    async fn weights(&self, metagraph: &Metagraph) -> Result<Option<ChainWeights>, Error> {
        let me = self.rules.keypair.account();
        let stats: HashMap<AccountId, MinerStats> =
            self.state.all_stats().await?.into_iter().collect();
        let scores: Vec<(u16, f64)> = crate::node::targets(metagraph, &me, self.min_stake)
            .iter()
            .map(|t| (t.uid, stats.get(&t.hotkey).map_or(0.0, |s| s.score)))
            .collect();
        let shares = score::normalize(&scores);
        if shares.is_empty() {
            return Ok(None);
        }
        let n = u16::try_from(metagraph.neurons.len()).unwrap_or(u16::MAX);
        Ok(Some(for_chain(&shares, n, &metagraph.params)))
    }

    /// Keeps the commit, then submits its hash; a commit the chain refused is forgotten again.
    async fn commit(
        &self,
        metagraph: &Metagraph,
        weights: ChainWeights,
        epoch: u64,
    ) -> Result<(), Error> {
        let me = self.rules.keypair.account();
        // As Bittensor's SDK: eight random u16s.
        let salt: Vec<u16> = {
            let mut rng = rand::rng();
            (0..8).map(|_| rng.random()).collect()
        };
        let reveal = Reveal {
            uids: weights.uids,
            values: weights.values,
            salt,
            version_key: weights.version_key,
        };
        let hash = reveal.commit_hash(&me, metagraph.netuid);
        let pending = PendingCommit {
            hash,
            netuid: metagraph.netuid,
            uids: reveal.uids.clone(),
            values: reveal.values.clone(),
            salt: reveal.salt.clone(),
            version_key: reveal.version_key,
            commit_block: metagraph.block,
            epoch,
            created_ms: now_ms(),
        };
        self.state.save_commit(&pending).await?;
        match self.chain.commit_weights(&self.rules.keypair, hash).await {
            Ok(block) => self.landed_at(block),
            Err(e) => {
                // Not on chain (or not known to be): nothing to reveal. A commit that did land in
                // a block we never heard of fails its reveal later with NoWeightsCommitFound,
                // which drops it.
                self.state.remove_commit(&hash).await?;
                return Err(e.into());
            }
        }
        self.metrics.commits.inc();
        tracing::info!(
            epoch,
            block = metagraph.block,
            miners = pending.uids.len(),
            "weights committed; revealing in the next reveal window"
        );
        Ok(())
    }

    /// Reveals the pending commits whose window has come, oldest first; returns how many still
    /// wait. A commit the chain can no longer take (expired, unknown, or not matching) is dropped
    /// with a warning; one it says is early waits for the next try.
    async fn reveal_due(
        &self,
        metagraph: &Metagraph,
        pending: Vec<PendingCommit>,
    ) -> Result<usize, Error> {
        let params = &metagraph.params;
        let now = chain_epoch(metagraph.block, metagraph.netuid, params.tempo);
        let mut waiting = 0;
        for c in pending {
            let committed = chain_epoch(c.commit_block, c.netuid, params.tempo);
            if c.netuid != metagraph.netuid || now < committed + params.reveal_period_epochs {
                waiting += 1;
                continue;
            }
            let reveal = Reveal {
                uids: c.uids.clone(),
                values: c.values.clone(),
                salt: c.salt.clone(),
                version_key: c.version_key,
            };
            match self
                .chain
                .reveal_weights(&self.rules.keypair, &reveal)
                .await
            {
                Ok(block) => {
                    self.landed_at(block);
                    self.state.remove_commit(&c.hash).await?;
                    let weights = ChainWeights {
                        uids: c.uids,
                        values: c.values,
                        version_key: c.version_key,
                    };
                    self.record(metagraph, &weights, c.epoch).await?;
                    self.metrics.reveals.inc();
                    tracing::info!(
                        epoch = c.epoch,
                        miners = weights.uids.len(),
                        "weights revealed"
                    );
                }
                Err(e) if e.dispatch_error() == Some("SubtensorModule::RevealTooEarly") => {
                    waiting += 1;
                }
                Err(e) if e.dispatch_error().is_some() => {
                    tracing::warn!(error = %e, epoch = c.epoch, "a weight commit cannot be revealed; dropping it");
                    self.state.remove_commit(&c.hash).await?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(waiting)
    }

    /// Records weights that reached the chain, in the state database and the metrics.
    async fn record(
        &self,
        metagraph: &Metagraph,
        weights: &ChainWeights,
        epoch: u64,
    ) -> Result<(), Error> {
        let by_uid: HashMap<u16, AccountId> = metagraph
            .neurons
            .iter()
            .map(|n| (n.uid, n.hotkey))
            .collect();
        let rows: Vec<(u16, AccountId, f64)> = weights
            .shares()
            .iter()
            .filter_map(|(uid, w)| by_uid.get(uid).map(|h| (*uid, *h, *w)))
            .collect();
        let set_ms = now_ms();
        self.state.record_weights(epoch, set_ms, &rows).await?;
        let metrics = &self.metrics;
        metrics.weight.clear();
        for (_, hotkey, w) in &rows {
            metrics
                .weight
                .get_or_create(&metrics.miner(&hotkey.to_string()))
                .set(*w);
        }
        metrics.weights_set.inc();
        metrics.last_weights.set(set_ms as f64 / 1000.0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::chain_epoch;

    /// Seen on the spec 218 runtime: netuid 2, tempo 30, a commit at block 18 is revealable at
    /// blocks 28 to 58, the next epoch.
    #[test]
    fn epochs_as_the_runtime_counts_them() {
        assert_eq!(chain_epoch(18, 2, 30), 0);
        assert_eq!(chain_epoch(27, 2, 30), 0);
        assert_eq!(chain_epoch(28, 2, 30), 1);
        assert_eq!(chain_epoch(58, 2, 30), 1);
        assert_eq!(chain_epoch(59, 2, 30), 2);
    }
}
