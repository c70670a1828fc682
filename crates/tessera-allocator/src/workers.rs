//! A pool of sealing threads fed from a queue and reporting to an async consumer.
//!
//! Sealing is seconds of pure CPU per chunk in production, so it runs on OS threads rather than
//! the async runtime; results flow back through a bounded channel, which also bounds memory to a
//! few chunks per worker.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tessera_core::{merkle, sha256};
use tessera_partition::SealKey;
use tessera_storage::Chunk;
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
        // Named, so that `top -H` and /proc show what the busy threads are.
        let spawned = std::thread::Builder::new()
            .name("sealer".into())
            .spawn(move || {
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
        // The other threads take this one's share; with none at all the receiver closes at
        // once, and the consumer finds results missing.
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "could not start a sealing thread");
        }
    }
    rx
}

/// Seals chunks `ids` with `key` together (`SealKey::seal_many_into`), each with its Merkle root,
/// in buffers taken from `spare` where it has any.
pub(crate) fn seal_chunks(key: &SealKey, ids: &[u64], spare: &mut Vec<Vec<u8>>) -> Vec<Chunk> {
    let size = key.chunk_size as usize;
    let mut data: Vec<Vec<u8>> = ids
        .iter()
        .map(|_| {
            spare
                .pop()
                .filter(|b| b.len() == size)
                .unwrap_or_else(|| vec![0u8; size])
        })
        .collect();
    let mut jobs: Vec<(u64, &mut [u8])> = ids
        .iter()
        .zip(data.iter_mut())
        .map(|(&id, d)| (id, &mut d[..]))
        .collect();
    key.seal_many_into(&mut jobs);
    ids.iter()
        .zip(data)
        .map(|(&id, data)| {
            let root = merkle::root(&data).expect("chunk size checked in SealKey::new");
            Chunk { id, data, root }
        })
        .collect()
}

/// Seals every `(k, id)` of `tasks` with `keys[k]`, a run of one key at a time (a batch may cross
/// from one partition into the next), keeping `k` beside each chunk.
pub(crate) fn seal_tasks(
    keys: &[SealKey],
    tasks: &[(usize, u64)],
    spare: &mut Vec<Vec<u8>>,
) -> Vec<(usize, Chunk)> {
    let mut sealed = Vec::with_capacity(tasks.len());
    for run in tasks.chunk_by(|a, b| a.0 == b.0) {
        let k = run[0].0;
        let ids: Vec<u64> = run.iter().map(|&(_, id)| id).collect();
        sealed.extend(
            seal_chunks(&keys[k], &ids, spare)
                .into_iter()
                .map(|chunk| (k, chunk)),
        );
    }
    sealed
}

/// Seals chunks `ids` with `key` on a thread of their own at the lowest priority, in batches as
/// wide as the CPU hashes at once, and hands them over with their roots as they are done.
/// Dropping the receiver stops the thread after its current batch.
///
/// This is how a miner puts filler back into released slots: at nice 19 the sealing never takes
/// CPU from challenge answers, whose deadline is a few hundred milliseconds. Each call is one
/// thread and up to a batch and a queue of chunks in memory, so callers bound how many run at
/// once (the miner runs one).
pub fn seal_in_background(key: SealKey, ids: Vec<u64>) -> mpsc::Receiver<Chunk> {
    let widest = sha256::preferred_lanes();
    let stop = Arc::new(AtomicBool::new(false));
    spawn(ids, 1, widest, widest, stop, move |batch: &[u64]| {
        seal_chunks(&key, batch, &mut Vec::new())
    })
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

    /// Background sealing gives every id once, in order, with the bytes and root of sealing it
    /// alone; and on Linux, sealing threads run at nice 19.
    #[tokio::test]
    async fn background_sealing_matches_single_chunks() {
        use tessera_core::AccountId;
        use tessera_partition::SealProfile;

        let key = SealKey::new(
            AccountId([3; 32]),
            AccountId([4; 32]),
            4096,
            SealProfile::Dev.params(),
        )
        .expect("valid chunk size");
        let ids: Vec<u64> = (7..7 + 40).collect();
        let mut rx = seal_in_background(key, ids.clone());
        let mut got = Vec::new();
        let mut nice = Vec::new();
        while let Some(chunk) = rx.recv().await {
            if nice.is_empty() {
                nice = sealer_nice();
            }
            got.push(chunk);
        }
        assert_eq!(got.iter().map(|c| c.id).collect::<Vec<_>>(), ids);
        for chunk in &got {
            assert!(
                chunk.data == key.seal(chunk.id),
                "chunk {} differs",
                chunk.id
            );
            assert_eq!(chunk.root, key.expected_root(chunk.id));
        }
        // The thread that sealed the first chunk is still alive, since the channel holds fewer
        // than are left, and lowered its priority before sealing. Other tests' sealers may be
        // seen too, one perhaps just started and not yet lowered.
        if cfg!(target_os = "linux") {
            assert!(
                nice.contains(&19),
                "nice values of sealing threads: {nice:?}"
            );
        }
    }

    /// The nice values of this process's threads named `sealer`, from /proc.
    fn sealer_nice() -> Vec<i64> {
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
            return Vec::new();
        };
        tasks
            .filter_map(|task| {
                let stat = std::fs::read_to_string(task.ok()?.path().join("stat")).ok()?;
                // The name is in parentheses; nice is field 16 after it, counted from 0.
                let (head, rest) = stat.rsplit_once(')')?;
                head.ends_with("(sealer")
                    .then(|| rest.split_whitespace().nth(16)?.parse().ok())?
            })
            .collect()
    }
}
