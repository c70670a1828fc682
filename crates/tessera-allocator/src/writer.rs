//! The one writer every form of the job shares: sealed results in, batched transactions out.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};

use tessera_core::merkle;
use tessera_storage::{Chunk, HashDb, PartitionDb};

use crate::Error;

/// Collects results into batches and commits each batch in one transaction. A batch is flushed
/// when it reaches `batch` items, when results move on to another partition (tasks are queued
/// partition by partition), or as soon as no further result is waiting: the writer never sits
/// idle holding work, the first chunk is written while the next ones are sealed, and when
/// sealing is slow every chunk is committed as it comes, so an interruption loses nothing
/// finished. Returns the items written and whether `shutdown` cut the run short.
pub(crate) async fn write_batches<S: Store>(
    mut rx: tokio::sync::mpsc::Receiver<(usize, S::Item)>,
    stores: &[S],
    batch: usize,
    stop: &AtomicBool,
    shutdown: impl Future<Output = ()>,
    mut progress: impl FnMut(usize),
    mut recycle: impl FnMut(S::Item),
) -> Result<(u64, bool), Error> {
    let mut pending: Vec<S::Item> = Vec::new();
    let mut pending_for = 0usize;
    let mut written = 0u64;
    let mut interrupted = false;
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let next = tokio::select! {
            item = rx.recv() => item,
            () = &mut shutdown, if !interrupted => {
                tracing::warn!("interrupted: finishing the chunks in flight");
                interrupted = true;
                stop.store(true, Ordering::Relaxed);
                continue;
            }
        };
        let Some((p, item)) = next else { break };
        if p != pending_for && !pending.is_empty() {
            written += commit(&stores[pending_for], &mut pending, &mut recycle).await?;
        }
        pending_for = p;
        pending.push(item);
        progress(p);
        if pending.len() >= batch || rx.is_empty() {
            written += commit(&stores[p], &mut pending, &mut recycle).await?;
        }
    }
    written += commit(&stores[pending_for], &mut pending, &mut recycle).await?;
    Ok((written, interrupted))
}

/// Writes `pending` in one transaction, hands its items back for reuse, and counts them.
async fn commit<S: Store>(
    store: &S,
    pending: &mut Vec<S::Item>,
    recycle: &mut impl FnMut(S::Item),
) -> Result<u64, Error> {
    if pending.is_empty() {
        return Ok(0);
    }
    store.put(pending).await?;
    let n = pending.len() as u64;
    pending.drain(..).for_each(recycle);
    Ok(n)
}

/// The one write the batch loop needs, for partitions (chunks) and hash databases (roots).
pub(crate) trait Store {
    type Item;
    async fn put(&self, items: &[Self::Item]) -> Result<(), Error>;
}

impl Store for PartitionDb {
    type Item = Chunk;
    async fn put(&self, items: &[Chunk]) -> Result<(), Error> {
        Ok(self.insert(items).await?)
    }
}

impl Store for HashDb {
    type Item = (u64, merkle::Hash);
    async fn put(&self, items: &[(u64, merkle::Hash)]) -> Result<(), Error> {
        Ok(self.insert(items).await?)
    }
}
