//! Following the chain: one background task reads the metagraph once per step and shares it, so
//! that no request path ever waits on the chain or the disk. While the chain is unreachable the
//! last metagraph read stays in force, and the task retries with backoff.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::{AnyChain, Chain, Error, Metagraph};

/// What a node knows of its link to the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChainStatus {
    /// The last read succeeded.
    pub connected: bool,
    /// The block of the last metagraph read (0 for a local file).
    pub block: u64,
}

/// Called with every change of status, for metrics.
pub type StatusObserver = Arc<dyn Fn(ChainStatus) + Send + Sync>;

/// The shared, regularly refreshed metagraph of one chain. Dropping it stops the refresh task.
#[derive(Debug)]
pub struct Follower {
    chain: Arc<AnyChain>,
    metagraph: watch::Receiver<Arc<Metagraph>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// The longest wait between two attempts while the chain is unreachable.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

impl Follower {
    /// Reads the first metagraph, then refreshes it every `step` in a background task.
    ///
    /// While the chain is unreachable at start, the first read is retried with backoff until it
    /// succeeds or `stop` resolves (then `Ok(None)`); any other error (no such subnet, a broken
    /// metagraph file) is returned at once.
    pub async fn start(
        chain: Arc<AnyChain>,
        step: Duration,
        observer: StatusObserver,
        stop: impl Future<Output = ()>,
    ) -> Result<Option<Follower>, Error> {
        let first = {
            let mut backoff = Duration::from_millis(500);
            let mut logged = false;
            tokio::pin!(stop);
            loop {
                match chain.metagraph().await {
                    Ok(m) => break m,
                    Err(e) if e.is_transient() => {
                        if !logged {
                            tracing::warn!(error = %e, "chain unreachable; waiting for it");
                            logged = true;
                        }
                        observer(ChainStatus::default());
                        tokio::select! {
                            () = &mut stop => return Ok(None),
                            () = tokio::time::sleep(backoff) => {}
                        }
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        observer(ChainStatus {
            connected: true,
            block: first.block,
        });
        let (tx, rx) = watch::channel(Arc::new(first));
        let task = tokio::spawn(refresh(
            chain.clone(),
            tx,
            step.max(Duration::from_secs(1)),
            observer,
        ));
        Ok(Some(Follower {
            chain,
            metagraph: rx,
            task: Some(task),
        }))
    }

    /// The latest metagraph read.
    pub fn metagraph(&self) -> Arc<Metagraph> {
        self.metagraph.borrow().clone()
    }

    /// A receiver that sees every new metagraph.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Metagraph>> {
        self.metagraph.clone()
    }

    /// The chain this follows, for writes.
    pub fn chain(&self) -> &Arc<AnyChain> {
        &self.chain
    }

    /// Stops the refresh task and waits for it to end.
    pub async fn stop(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Reads the metagraph every `step`; after a failure, again after a growing backoff (up to one
/// step, or [`MAX_BACKOFF`] for long steps). Logs once per change between reachable and not.
async fn refresh(
    chain: Arc<AnyChain>,
    tx: watch::Sender<Arc<Metagraph>>,
    step: Duration,
    observer: StatusObserver,
) {
    let mut connected = true;
    let mut backoff = Duration::from_millis(500);
    let mut wait = step;
    loop {
        tokio::time::sleep(wait).await;
        match chain.metagraph().await {
            Ok(m) => {
                if !connected {
                    tracing::info!(block = m.block, "chain reachable again");
                    connected = true;
                }
                observer(ChainStatus {
                    connected: true,
                    block: m.block,
                });
                tx.send_replace(Arc::new(m));
                backoff = Duration::from_millis(500);
                wait = step;
            }
            Err(e) => {
                if connected {
                    tracing::warn!(error = %e, "chain unreachable; serving with the last metagraph read");
                    connected = false;
                    let block = tx.borrow().block;
                    observer(ChainStatus {
                        connected: false,
                        block,
                    });
                }
                wait = backoff.min(step.max(MAX_BACKOFF));
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}
