//! A pool of sealing threads fed from a queue and reporting to an async consumer.
//!
//! Sealing is seconds of pure CPU per chunk in production, so it runs on OS threads rather than
//! the async runtime; results flow back through a bounded channel, which also bounds memory to a
//! few chunks per worker.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::mpsc;

/// Runs `work` over `items` on `workers` threads, in order of `items` as far as threads allow.
/// Up to `queue` results wait for the consumer; the consumer should be able to take a whole
/// batch while it commits the previous one, or sealing and writing alternate instead of
/// overlapping. Threads stop taking new items once `stop` is set. The receiver closes when all
/// are done.
pub(crate) fn spawn<T, R, F>(
    items: Vec<T>,
    workers: usize,
    queue: usize,
    stop: Arc<AtomicBool>,
    work: F,
) -> mpsc::Receiver<R>
where
    T: Send + Sync + 'static,
    R: Send + 'static,
    F: Fn(&T) -> R + Send + Sync + 'static,
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
            while !stop.load(Ordering::Relaxed) {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                // The consumer went away: nobody wants the rest.
                if tx.blocking_send(work(item)).is_err() {
                    break;
                }
            }
        });
    }
    rx
}

/// The number of cores, the default worker count.
pub(crate) fn default_count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
