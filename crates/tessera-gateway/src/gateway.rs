//! The gateway's shared state and the calls every job of it uses: the tracked tasks, the
//! penalties and served pieces it reports to the challenge loop, the miners that can take
//! pieces now, and letting a signed client in.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tessera_chain::Metagraph;
use tessera_core::{AccountId, Keypair};
use tessera_object::Params;
use tessera_proto::prost::Message;
use tessera_proto::tonic::{Request, Status};
use tessera_rpc::{Gate, now_ms};
use tessera_storage::{ChallengeRecord, StateDb};

use crate::ledger::Ledger;
use crate::metrics::GatewayMetrics;
use crate::miners::{Holder, Miners, holders};
use crate::{DataConfig, Error};

/// Segments of one object being stored or fetched at once: enough to keep miners and the
/// network busy, few enough to bound memory to a few segments.
pub(crate) const PIPELINE: usize = 8;

/// Plaintext puts (S3 objects and parts, HTTP uploads) sealed at once. The gateway seals these
/// itself, a few segments in memory each, so this bounds its memory whatever the clients'
/// concurrency (aws-cli sends 10 parts at once). With four, `bench-s3`'s 1 GiB upload still
/// keeps both of its machine's cores busy, and the gateway's peak memory fell from 239-248 MiB to
/// 197-209 MiB. Later ones wait, their bodies held back by TCP.
pub(crate) const PLAIN_PUTS: usize = 4;

/// The gateway: everything its calls share. Clones are handles to the same state.
#[derive(Clone)]
pub struct Gateway {
    me: Arc<GatewayState>,
    /// Turns at sealing a plaintext put, [`PLAIN_PUTS`] of them.
    pub(crate) plain_puts: Arc<tokio::sync::Semaphore>,
    /// The MD5 lanes plaintext puts hash their bodies in, side by side.
    pub(crate) md5_lanes: crate::md5x::Md5Lanes,
}

/// The inner state, behind one `Arc` so that tasks can own a handle.
pub struct GatewayState {
    /// The validator's hotkey: signs calls to miners and derives HTTP objects' keys.
    pub keypair: Arc<Keypair>,
    pub state: StateDb,
    /// The metagraph the node's follower keeps fresh: reading it touches neither chain nor disk.
    pub metagraph: tokio::sync::watch::Receiver<Arc<Metagraph>>,
    /// Least stake a permit holder needs to count as a validator, not a miner.
    pub min_stake: f64,
    pub data: DataConfig,
    pub params: Params,
    pub chunk_size: u64,
    pub gate: Gate,
    pub miners: Miners,
    pub ledger: Arc<Ledger>,
    pub metrics: GatewayMetrics,
    /// Every task a call starts (streaming a get, forwarding a put), waited for at shutdown
    /// before the state closes; `stop` cancels them there.
    pub tasks: tokio_util::task::TaskTracker,
    pub stop: tokio_util::sync::CancellationToken,
}

impl GatewayState {
    /// Runs `work` as a tracked task that shutdown cancels.
    pub(crate) fn spawn(
        &self,
        work: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        let stop = self.stop.clone();
        self.tasks.spawn(async move {
            tokio::select! {
                () = stop.cancelled() => {}
                () = work => {}
            }
        })
    }

    /// Cancels every task calls started and waits for them.
    pub async fn stop_tasks(&self) {
        self.stop.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

impl std::ops::Deref for Gateway {
    type Target = GatewayState;
    fn deref(&self) -> &GatewayState {
        &self.me
    }
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway").finish_non_exhaustive()
    }
}

impl Gateway {
    pub fn new(inner: GatewayState) -> Self {
        Self {
            me: Arc::new(inner),
            plain_puts: Arc::new(tokio::sync::Semaphore::new(PLAIN_PUTS)),
            md5_lanes: crate::md5x::Md5Lanes::new(),
        }
    }

    /// Marks the piece in `miner`'s `slot` for repair and counts a failed item against the
    /// miner.
    pub(crate) async fn penalise(
        &self,
        miner: &AccountId,
        slot: u64,
        reason: &str,
    ) -> Result<(), Error> {
        tracing::warn!(%miner, slot, reason, "miner penalised");
        self.metrics
            .bad_pieces
            .get_or_create(&self.metrics.miner(&miner.to_string()))
            .inc();
        self.state.mark_failed(miner, slot, now_ms()).await?;
        let mut p = self
            .ledger
            .penalties
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        p.entry(*miner).or_default().push(ChallengeRecord {
            chunk_id: slot,
            segment: 0,
            success: false,
            latency_ms: 0,
            bytes: 0,
            at_ms: now_ms(),
            reason: Some(reason.to_owned()),
        });
        Ok(())
    }

    /// Counts a piece `miner` served correctly.
    pub(crate) fn served(&self, miner: &AccountId, bytes: u64, took: Duration) {
        let mut s = self.ledger.served.lock().unwrap_or_else(|p| p.into_inner());
        let e = s.entry(*miner).or_default();
        e.0 += bytes;
        e.1 += took;
    }

    pub(crate) async fn metagraph(&self) -> Result<Arc<Metagraph>, Error> {
        Ok(self.metagraph.borrow().clone())
    }

    /// The metagraph now, and the miners of it that can take pieces (see `holders`).
    pub(crate) async fn miners_now(
        &self,
    ) -> Result<(Arc<Metagraph>, HashMap<AccountId, Holder>), Error> {
        let metagraph = self.metagraph().await?;
        let holders = holders(
            &self.state,
            &metagraph,
            &self.keypair.account(),
            self.min_stake,
            self.chunk_size,
        )
        .await?;
        Ok((metagraph, holders))
    }

    /// Lets a signed client in: any hotkey may store, and sees only its own objects.
    pub(crate) fn admit<T: Message>(
        &self,
        request: &Request<T>,
        method: &str,
    ) -> Result<AccountId, Status> {
        let admitted = self
            .gate
            .check(request, method, |_| Ok(()))
            .map(|c| c.hotkey);
        self.replay_gauges();
        admitted
    }

    /// Shows the replay memory's size in the metrics.
    pub(crate) fn replay_gauges(&self) {
        let replay = self.gate.replay();
        let m = &self.metrics;
        m.replay_nonces.set(replay.len() as i64);
        m.replay_callers.set(replay.callers() as i64);
        m.replay_sources.set(replay.sources() as i64);
    }
}
