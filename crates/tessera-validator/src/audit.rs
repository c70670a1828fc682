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

/// What the auditor seals next.
#[derive(Debug, PartialEq)]
enum Job {
    /// A slot of a commitment whose initial audit is not complete: these come first.
    Initial(AccountId, u64),
    /// A slot of a commitment already audited, in turn over the miners.
    Background(AccountId, u64),
}

/// Seals audit roots until `stop` is set: one seal at a time on a blocking thread, each followed
/// by a pause long enough that sealing keeps at most its share of one core busy.
pub(crate) async fn run(
    rules: Arc<Rules>,
    state: StateDb,
    pools: Arc<Pools>,
    metagraph: watch::Receiver<Arc<Metagraph>>,
    min_stake: f64,
    mut stop: watch::Receiver<bool>,
) {
    let mut turn = 0usize;
    loop {
        if *stop.borrow() {
            return;
        }
        let job = match next_job(&rules, &state, &pools, &metagraph, min_stake, &mut turn).await {
            Ok(j) => j,
            Err(e) => {
                tracing::error!(error = %e, "choosing the next audit failed");
                None
            }
        };
        let pause = match job {
            None => Duration::from_secs(1),
            Some(job) => {
                let (miner, slot, share) = match job {
                    Job::Initial(m, s) => (m, s, rules.initial_cpu_share),
                    Job::Background(m, s) => (m, s, rules.cpu_share),
                };
                let started = Instant::now();
                match seal_into_pool(&rules, &pools, miner, slot).await {
                    Ok(()) => {}
                    Err(e) => {
                        tracing::error!(%miner, slot, error = %e, "sealing an audit root failed")
                    }
                }
                // Busy for `took`, then idle so that busy / (busy + idle) = share.
                let took = started.elapsed();
                took.mul_f64((1.0 - share) / share)
            }
        };
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
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

/// The first miner (in metagraph order) whose commitment still needs initial-audit roots, or
/// else the next in turn whose pool is below its target; the slot is drawn from the operating
/// system's randomness among those not pooled yet.
async fn next_job(
    rules: &Rules,
    state: &StateDb,
    pools: &Pools,
    metagraph: &watch::Receiver<Arc<Metagraph>>,
    min_stake: f64,
    turn: &mut usize,
) -> Result<Option<Job>, Error> {
    let metagraph = metagraph.borrow().clone();
    let targets = crate::node::targets(&metagraph, &rules.keypair.account(), min_stake);
    let mut background = Vec::new();
    for t in &targets {
        let Some(held) = state.commitment(&t.hotkey).await? else {
            continue;
        };
        if held.n_chunks == 0 {
            continue;
        }
        let pool = pools.get(&t.hotkey).await?;
        let pooled: Vec<u64> = pool
            .roots()
            .await?
            .into_iter()
            .map(|(id, _)| id)
            .filter(|id| *id < held.n_chunks)
            .collect();
        let want_initial = initial_size(rules, held.n_chunks);
        let short = want_initial.saturating_sub(held.audited.into()) > pooled.len() as u64;
        if short || (pooled.len() as u64) < u64::from(rules.pool).min(held.n_chunks) {
            let Some(slot) = fresh_slot(held.n_chunks, &pooled) else {
                continue;
            };
            if short {
                return Ok(Some(Job::Initial(t.hotkey, slot)));
            }
            background.push((t.hotkey, slot));
        }
    }
    if background.is_empty() {
        return Ok(None);
    }
    *turn = turn.wrapping_add(1);
    let (miner, slot) = background[*turn % background.len()];
    Ok(Some(Job::Background(miner, slot)))
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
