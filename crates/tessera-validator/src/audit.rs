//! Audits (challenges v2), the validator's only seals: a background task seals secret random
//! slots of each miner's commitment into that miner's pool, within a share of one core; rounds
//! put pooled slots among their items, and the committed leaf must be the seal's root.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::{Rng, TryRngCore};
use tessera_chain::Metagraph;
use tessera_core::AccountId;
use tessera_core::merkle::Hash;
use tessera_partition::SealKey;
use tessera_storage::{HashDb, StateDb};
use tokio::sync::{Mutex, watch};

use crate::Error;
use crate::metrics::Metrics;
use crate::round::{self, Rules};

/// Each miner's pool of sealed roots, opened once and shared by the rounds and the auditor.
#[derive(Debug)]
pub(crate) struct Pools {
    rules: Arc<Rules>,
    /// Beside the state file: the folder `allocate --validator` fills too.
    dir: PathBuf,
    open: Mutex<HashMap<AccountId, HashDb>>,
}

impl Pools {
    pub(crate) fn new(rules: Arc<Rules>, dir: PathBuf) -> Self {
        Self {
            rules,
            dir,
            open: Mutex::default(),
        }
    }

    pub(crate) async fn get(&self, miner: &AccountId) -> Result<HashDb, Error> {
        let mut open = self.open.lock().await;
        if let Some(p) = open.get(miner) {
            return Ok(p.clone());
        }
        let path = self.dir.join(tessera_storage::hash_file_name(miner));
        let p = HashDb::open(&path, &round::pool_meta(&self.rules, *miner)).await?;
        open.insert(*miner, p.clone());
        Ok(p)
    }

    pub(crate) async fn close(&self) {
        for (_, pool) in self.open.lock().await.drain() {
            pool.close().await;
        }
    }
}

/// The most initial-audit seals planned at once.
const PLAN_BATCH: usize = 64;

/// What the auditor seals next.
#[derive(Debug, PartialEq)]
enum Job {
    /// A slot of a commitment whose initial audit is not complete: these come first.
    Initial(AccountId, u64),
    /// A slot of a commitment already audited, in turn over the miners.
    Background(AccountId, u64),
}

/// Seals audit roots until `stop` is set: one seal at a time on a blocking thread, each followed
/// by a pause long enough that sealing keeps at most its share of one core busy. What to seal is
/// planned in batches, so that the scan over the miners costs nothing next to the seals.
pub(crate) async fn run(
    rules: Arc<Rules>,
    state: StateDb,
    pools: Arc<Pools>,
    metagraph: watch::Receiver<Arc<Metagraph>>,
    min_stake: f64,
    metrics: Metrics,
    stop: tessera_node::CancellationToken,
) {
    let mut turn = 0usize;
    let mut jobs = std::collections::VecDeque::new();
    loop {
        if stop.is_cancelled() {
            return;
        }
        if jobs.is_empty() {
            match plan(&rules, &state, &pools, &metagraph, min_stake, &mut turn).await {
                Ok(planned) => jobs.extend(planned),
                Err(e) => tracing::error!(error = %e, "planning audits failed"),
            }
        }
        let pause = match jobs.pop_front() {
            // Nothing to seal: look again in a while.
            None => Duration::from_secs(2),
            Some(job) => {
                let (miner, slot, share) = match job {
                    Job::Initial(m, s) => (m, s, rules.initial_cpu_share),
                    Job::Background(m, s) => (m, s, rules.cpu_share),
                };
                let started = Instant::now();
                if let Err(e) = seal_into_pool(&rules, &pools, miner, slot).await {
                    tracing::error!(%miner, slot, error = %e, "sealing an audit root failed");
                }
                // Busy for `took`, then idle so that busy / (busy + idle) = share.
                let took = started.elapsed();
                metrics.audit_seconds.inc_by(took.as_secs_f64());
                took.mul_f64((1.0 - share) / share)
            }
        };
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

async fn seal_into_pool(
    rules: &Rules,
    pools: &Pools,
    miner: AccountId,
    slot: u64,
) -> Result<(), Error> {
    let key = SealKey::new(
        miner,
        rules.keypair.account(),
        rules.chunk_size,
        rules.profile.params(),
    )?;
    let root: Hash = tokio::task::spawn_blocking(move || key.expected_root(slot))
        .await
        .map_err(|e| Error::Serve(format!("sealing task failed: {e}")))?;
    pools.get(&miner).await?.insert(&[(slot, root)]).await?;
    Ok(())
}

/// The next batch of seals: every slot still missing from the pools of commitments whose initial
/// audit is not through (these first), or else one slot for each miner whose pool is below its
/// target, starting with a different miner each time. Slots are drawn from the operating
/// system's randomness among those not pooled yet.
async fn plan(
    rules: &Rules,
    state: &StateDb,
    pools: &Pools,
    metagraph: &watch::Receiver<Arc<Metagraph>>,
    min_stake: f64,
    turn: &mut usize,
) -> Result<Vec<Job>, Error> {
    let metagraph = metagraph.borrow().clone();
    let targets = crate::node::targets(&metagraph, &rules.keypair.account(), min_stake);
    let (mut initial, mut background) = (Vec::new(), Vec::new());
    for t in &targets {
        let Some(held) = state.commitment(&t.hotkey).await? else {
            continue;
        };
        if held.n_chunks == 0 {
            continue;
        }
        let pool = pools.get(&t.hotkey).await?;
        let mut pooled: Vec<u64> = pool
            .roots()
            .await?
            .into_iter()
            .map(|(id, _)| id)
            .filter(|id| *id < held.n_chunks)
            .collect();
        let missing = initial_size(rules, held.n_chunks)
            .saturating_sub(held.audited.into())
            .saturating_sub(pooled.len() as u64);
        if missing > 0 {
            for _ in 0..missing {
                let Some(slot) = fresh_slot(held.n_chunks, &pooled) else {
                    break;
                };
                pooled.push(slot);
                initial.push(Job::Initial(t.hotkey, slot));
            }
        } else if (pooled.len() as u64) < u64::from(rules.pool).min(held.n_chunks)
            && let Some(slot) = fresh_slot(held.n_chunks, &pooled)
        {
            background.push(Job::Background(t.hotkey, slot));
        }
    }
    if !initial.is_empty() {
        // A batch at a time, so that a commitment taken meanwhile is not kept waiting long.
        initial.truncate(PLAN_BATCH);
        return Ok(initial);
    }
    if !background.is_empty() {
        *turn = turn.wrapping_add(1);
        let at = *turn % background.len();
        background.rotate_left(at);
    }
    Ok(background)
}

/// Slots of a commitment of `n_chunks` its initial audit covers: all of a small one.
pub(crate) fn initial_size(rules: &Rules, n_chunks: u64) -> u64 {
    u64::from(rules.audit_initial).min(n_chunks)
}

/// A uniformly random slot below `n_chunks` not in `taken`, if a few tries find one.
fn fresh_slot(n_chunks: u64, taken: &[u64]) -> Option<u64> {
    let mut rng = rand::rngs::OsRng.unwrap_err();
    (0..64)
        .map(|_| rng.random_range(0..n_chunks))
        .find(|id| !taken.contains(id))
}
