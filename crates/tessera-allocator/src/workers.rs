//! A pool of sealing threads fed from a queue and reporting to an async consumer.
//!
//! Sealing is seconds of pure CPU per chunk in production, so it runs on OS threads rather than
//! the async runtime; results flow back through a bounded channel, which also bounds memory to a
//! few chunks per worker.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::mpsc;

/// Runs `work` over `items` on `workers` threads, in order of `items` as far as threads allow,
/// and sends on every result `work` gives.
///
/// A thread takes up to `widest` consecutive items at a time, for work that is cheaper per item
/// in a batch (sealing: `SealKey::seal_many_into`). A take is at most as many items as all
/// threads have taken so far (1, 1, 2, 4, 8, ...), so that the consumer gets its first result
/// after one item's work and the small, less efficient batches number the same whatever the
/// thread count; and at most a thread's share of what is left, so that the threads finish
/// together instead of one sealing a last wide batch alone.
///
/// Up to `queue` results wait for the consumer; the consumer should be able to take a whole
/// batch while it commits the previous one, or sealing and writing alternate instead of
/// overlapping. Threads stop taking new items once `stop` is set. The receiver closes when all
/// are done.
pub(crate) fn spawn<T, R, I, F>(
    items: Vec<T>,
    workers: usize,
    widest: usize,
    queue: usize,
    stop: Arc<AtomicBool>,
    work: F,
) -> mpsc::Receiver<R>
where
    T: Send + Sync + 'static,
    R: Send + 'static,
    I: IntoIterator<Item = R>,
    F: Fn(&[T]) -> I + Send + Sync + 'static,
{
    let workers = workers.max(1);
    let (tx, rx) = mpsc::channel(queue.max(workers * 2));
    let items = Arc::new(items);
    let next = Arc::new(AtomicUsize::new(0));
    let work = Arc::new(work);
    for _ in 0..workers {
        let (items, next, work, tx, stop) = (
            items.clone(),
            next.clone(),
            work.clone(),
            tx.clone(),
            stop.clone(),
        );
        std::thread::spawn(move || {
            lower_priority();
            while !stop.load(Ordering::Relaxed) {
                let taken = next.load(Ordering::Relaxed);
                let left = items.len().saturating_sub(taken);
                let take = taken.min(left.div_ceil(workers)).clamp(1, widest.max(1));
                let start = next.fetch_add(take, Ordering::Relaxed);
                if start >= items.len() {
                    break;
                }
                let batch = &items[start..(start + take).min(items.len())];
                // The consumer went away: nobody wants the rest.
                if work(batch)
                    .into_iter()
                    .any(|result| tx.blocking_send(result).is_err())
                {
                    break;
                }
            }
        });
    }
    rx
}

/// Makes the calling thread yield to everything else on the machine (nice 19, Linux only).
///
/// Sealing is bulk work with no deadline, while its consumers are not: the allocator's single
/// SQLite writer, and in a miner the challenge answers whose deadline is a few hundred
/// milliseconds. At equal priority, sealers that outnumber the free cores take CPU from both; at
/// the lowest priority they fill only the cycles nobody else wants. Measured on two cores, the
/// dev allocation went from 200-227 MiB/s to 284-317 MiB/s.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid and setpriority take plain integers and touch no memory of ours.
        // Raising one's own nice value needs no privilege; if it fails anyway, sealing just
        // competes at normal priority, which is correct if slower.
        #[allow(unsafe_code)]
        let failed = unsafe {
            let tid = libc::gettid();
            libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 19) != 0
        };
        if failed {
            tracing::debug!("could not lower the priority of a sealing thread");
        }
    }
}

/// The number of cores, the default worker count.
pub(crate) fn default_count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `spawn` over `n` numbers with each batch sent back whole, and checks that every
    /// number came back exactly once, in consecutive batches of at most `widest`, the first
    /// ones single.
    async fn check(n: u32, workers: usize, widest: usize) {
        let mut rx = spawn(
            (0..n).collect(),
            workers,
            widest,
            4,
            Arc::default(),
            |batch: &[u32]| [batch.to_vec()],
        );
        let mut seen = Vec::new();
        let mut sizes = Vec::new();
        while let Some(batch) = rx.recv().await {
            assert!(batch.windows(2).all(|w| w[1] == w[0] + 1), "{batch:?}");
            sizes.push(batch.len());
            seen.extend(batch);
        }
        seen.sort_unstable();
        assert_eq!(
            seen,
            (0..n).collect::<Vec<_>>(),
            "{n} items, {workers} workers"
        );
        assert!(
            sizes.iter().all(|&s| (1..=widest).contains(&s)),
            "{sizes:?}"
        );
        // Every thread's first batch is single, so the first to arrive is.
        assert_eq!(sizes.first(), (n > 0).then_some(&1), "{sizes:?}");
    }

    #[tokio::test]
    async fn every_item_once_in_growing_batches() {
        for (n, workers, widest) in [
            (0, 2, 16),
            (1, 2, 16),
            (5, 1, 16),
            (300, 2, 16),
            (37, 3, 4),
            (10, 2, 1),
        ] {
            check(n, workers, widest).await;
        }
    }
}
