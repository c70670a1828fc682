//! The allocation job: resolve the config, plan, check, confirm, seal and write; the shared
//! parts (setup, the batch writer) that `--validator` and `--verify` reuse live here too.

use std::collections::BTreeSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use tessera_chain::{AnyChain, Chain, Metagraph};
use tessera_core::AccountId;
use tessera_core::merkle;
use tessera_core::wallet::expand_tilde;
use tessera_partition::{PartitionPlan, SealKey, SealProfile};
use tessera_storage::{Chunk, HashDb, Meta, PartitionDb};

use crate::layout::{self, PartitionEntry};
use crate::size::ByteSize;
use crate::{Config, Error, workers};

/// What a run did, for the caller to report or test.
#[derive(Debug)]
pub enum Outcome {
    /// Miner partitions are complete.
    Allocated {
        partitions: Vec<PartitionEntry>,
        sealed_now: u64,
        elapsed: Duration,
    },
    /// The validator's hash databases hold their samples.
    Sampled { miners: usize, derived_now: u64 },
    /// `--verify` ran; `bad` lists, per partition file, the ids that are missing or wrong.
    Verified {
        checked: u64,
        bad: Vec<(PathBuf, Vec<u64>)>,
    },
}

/// Everything resolved from the config before anything on disk is touched.
pub(crate) struct Setup {
    pub(crate) me: AccountId,
    pub(crate) dir: PathBuf,
    pub(crate) db_path: PathBuf,
    pub(crate) profile: SealProfile,
    pub(crate) metagraph: Metagraph,
    pub(crate) workers: usize,
}

/// Runs the job `config` describes. `confirm` is asked before anything is written (unless
/// `no_prompt`); once `shutdown` completes, sealing stops, finished chunks are committed and the
/// run ends with [`Error::Interrupted`].
pub async fn run(
    config: &Config,
    confirm: &mut (dyn FnMut(&str) -> bool + Send),
    shutdown: impl Future<Output = ()>,
) -> Result<Outcome, Error> {
    let setup = setup(config).await?;
    if config.verify {
        return crate::verify::verify(&setup).await;
    }
    if config.validator {
        return crate::sample::sample_roots(config, &setup, confirm, shutdown).await;
    }
    allocate(config, &setup, confirm, shutdown).await
}

async fn setup(config: &Config) -> Result<Setup, Error> {
    // Cheap checks first, so a typo costs nothing.
    let profile: SealProfile = config.seal.parse()?;
    tessera_core::merkle::segment_count(config.chunk_size.0)?;
    // A network name that means nothing is refused before any connection is tried.
    config.subtensor.source(&config.metagraph)?;
    if config.capacity.is_none() && !(config.threshold > 0.0 && config.threshold <= 1.0) {
        return Err(Error::Threshold(config.threshold));
    }
    // Absolute, because partition.json records the paths for later runs and for the miner,
    // which need not start in the same directory.
    let db_path = expand_tilde(&config.db_path);
    let db_path = std::path::absolute(&db_path).map_err(|source| Error::Io {
        path: db_path.clone(),
        source,
    })?;
    let me = config.wallet.keypair()?.account();
    let source = config.subtensor.source(&config.metagraph)?;
    let metagraph = AnyChain::new(source, config.netuid).metagraph().await?;
    let dir = layout::node_dir(&db_path, &config.wallet.name, &config.wallet.hotkey);
    let workers = match config.workers {
        0 => workers::default_count(),
        n => n,
    };
    Ok(Setup {
        me,
        dir,
        db_path,
        profile,
        metagraph,
        workers,
    })
}

pub(crate) fn meta(
    miner: AccountId,
    validator: AccountId,
    chunk_size: u64,
    profile: SealProfile,
) -> Meta {
    Meta {
        miner,
        validator,
        chunk_size,
        seal_profile: profile.name().to_owned(),
        seal_passes: profile.params().passes,
    }
}

/// Free bytes on the file system holding `path`, or its nearest existing ancestor.
fn free_space(path: &Path) -> Result<u64, Error> {
    let mut at = path;
    while !at.exists() {
        match at.parent() {
            Some(p) if !p.as_os_str().is_empty() => at = p,
            _ => {
                at = Path::new(".");
                break;
            }
        }
    }
    fs4::available_space(at).map_err(|source| Error::Io {
        path: at.to_owned(),
        source,
    })
}

/// A partition as it will be after this run, with what is already on disk.
struct Target {
    plan: PartitionPlan,
    path: PathBuf,
    key: SealKey,
    present: BTreeSet<u64>,
}

async fn allocate(
    config: &Config,
    setup: &Setup,
    confirm: &mut (dyn FnMut(&str) -> bool + Send),
    shutdown: impl Future<Output = ()>,
) -> Result<Outcome, Error> {
    let chunk_size = config.chunk_size.0;
    let validators: Vec<(AccountId, f64)> = setup
        .metagraph
        .validators(config.min_stake)
        .filter(|n| n.hotkey != setup.me)
        .map(|n| (n.hotkey, n.stake))
        .collect();
    let previous = if config.restart {
        None
    } else {
        layout::read_partition_file_if_any(&setup.dir)?
    };
    // The capacity asked for now, else the one recorded, else the threshold's share of free
    // space (then recorded): a restart without the flag, or a disk filling up, never shrinks
    // the plan and deletes sealed chunks.
    let recorded = previous.as_ref().and_then(|f| f.capacity);
    let capacity = match (config.capacity, recorded) {
        (Some(c), _) => c.0,
        (None, Some(r)) => r,
        (None, None) => (free_space(&setup.db_path)? as f64 * config.threshold) as u64,
    };
    let plan = tessera_partition::plan(capacity, chunk_size, &validators)?;

    // Read what is there without changing it: a file of another pair or seal stops the run here,
    // before anything is written.
    let mut targets = Vec::new();
    let mut filler_deleted = 0u64;
    for p in plan {
        let path = setup
            .dir
            .join(tessera_storage::partition_file_name(&p.validator));
        let key = SealKey::new(setup.me, p.validator, chunk_size, setup.profile.params())?;
        let mut present = BTreeSet::new();
        if path.exists() && !config.restart {
            let db = PartitionDb::open(
                &path,
                &meta(setup.me, p.validator, chunk_size, setup.profile),
            )
            .await?;
            let ids = db.chunk_ids().await;
            let data = db.data_ids().await;
            db.close().await;
            let (ids, data) = (ids?, data?);
            let beyond = ids.iter().filter(|id| **id >= p.n_chunks).count();
            let data_beyond = data.iter().filter(|id| **id >= p.n_chunks).count();
            filler_deleted += (beyond - data_beyond.min(beyond)) as u64;
            present = ids.into_iter().filter(|id| *id < p.n_chunks).collect();
        }
        targets.push(Target {
            plan: p,
            path,
            key,
            present,
        });
    }

    let to_seal: u64 = targets
        .iter()
        .map(|t| t.plan.n_chunks - t.present.len() as u64)
        .sum();
    let needed = to_seal * chunk_size;
    // SQLite's pages and the WAL add a little to the raw bytes.
    let free = free_space(&setup.dir)?;
    if needed + needed / 20 > free {
        return Err(Error::NotEnoughDisk {
            path: setup.dir.clone(),
            needed: ByteSize(needed).to_string(),
            free: ByteSize(free).to_string(),
        });
    }

    // Partitions of validators no longer in the plan: filler alone goes, client data stays for
    // the grace period (the validator may come back), then goes too.
    let keep: BTreeSet<PathBuf> = targets.iter().map(|t| t.path.clone()).collect();
    let now = now_ms();
    let mut leaving = Vec::new();
    for stale in partition_files(&setup.dir)? {
        if config.restart {
            leaving.push(Leaving::Remove {
                path: stale,
                data: 0,
                chunks: 0,
            });
        } else if !keep.contains(&stale) {
            let entry = previous
                .as_ref()
                .and_then(|f| f.partitions.iter().find(|e| e.path == stale));
            leaving.push(leaving_partition(stale, entry, config, now).await?);
        }
    }
    for l in &leaving {
        if let Leaving::Remove {
            data: 0, chunks, ..
        } = l
        {
            filler_deleted += chunks;
        }
    }

    let summary = describe_plan(setup, config, capacity, &targets, to_seal);
    println!("{summary}");
    if filler_deleted > 0 && !config.restart {
        // Said before anything goes: sealed filler is hours of work to make again.
        let what = format!(
            "this plan deletes {filler_deleted} sealed chunks of filler ({}); client data is kept",
            ByteSize(filler_deleted * chunk_size)
        );
        if config.no_prompt {
            tracing::warn!(chunks = filler_deleted, "{what}");
        } else {
            println!("{what}");
        }
    }
    confirm_and_create(
        config,
        setup,
        confirm,
        "proceed with this allocation? [y/N] ",
    )?;
    let mut in_grace = Vec::new();
    for l in leaving {
        match l {
            Leaving::Remove { path, data, .. } => {
                if data > 0 && !config.restart {
                    tracing::warn!(path = %path.display(), data_slots = data, "grace period over: removing the partition of a validator that left, with its client data");
                } else {
                    tracing::info!(path = %path.display(), "removing partition not in this plan");
                }
                PartitionDb::remove(&path)?;
            }
            Leaving::Keep(entry) => {
                tracing::info!(path = %entry.path.display(), until_ms = entry.grace_until_ms, "keeping the partition of a validator that left: it holds client data");
                in_grace.push(entry);
            }
        }
    }

    let entries: Vec<PartitionEntry> = targets
        .iter()
        .map(|t| PartitionEntry {
            path: t.path.clone(),
            owner: setup.me,
            validator: t.plan.validator,
            size: t.plan.n_chunks * chunk_size,
            n_chunks: t.plan.n_chunks,
            seed: hex::encode(t.key.partition_seed()),
            chunk_size,
            seal: setup.profile.name().to_owned(),
            grace_until_ms: None,
        })
        .chain(in_grace)
        .collect();
    layout::write_partition_json(
        &setup.dir,
        &layout::PartitionFile {
            capacity: Some(capacity),
            partitions: entries.clone(),
        },
    )?;

    let started = Instant::now();
    let tasks: Vec<(usize, u64)> = targets
        .iter()
        .enumerate()
        .flat_map(|(i, t)| {
            (0..t.plan.n_chunks)
                .filter(|id| !t.present.contains(id))
                .map(move |id| (i, id))
        })
        .collect();
    let expected = tasks.len() as u64;
    let bars = Bars::new(&targets, chunk_size);
    let keys: Vec<SealKey> = targets.iter().map(|t| t.key).collect();
    let stop = Arc::new(AtomicBool::new(false));
    // Transactions stay small (the writer also commits whenever nothing more is waiting). The
    // queue holds about 32 MiB so that sealers keep going while the writer waits on the disk;
    // they run at low priority (see `workers`), so running ahead never takes the writer's CPU.
    let batch = (4 << 20) / chunk_size as usize + 1;
    let queue = ((32 << 20) / chunk_size as usize).max(batch);
    // Chunk buffers go back to the sealers once written: a fresh megabyte per chunk costs page
    // faults and a mapping on every allocation.
    let buffers: Arc<std::sync::Mutex<Vec<Vec<u8>>>> = Arc::default();
    // Chunks seal in batches as wide as the CPU hashes messages together (16 with AVX-512),
    // about twice as fast per chunk as one by one.
    let widest = tessera_core::sha256::preferred_lanes();
    let rx = workers::spawn(tasks, setup.workers, widest, queue, stop.clone(), {
        let buffers = buffers.clone();
        move |tasks: &[(usize, u64)]| {
            let mut spare: Vec<Vec<u8>> = match buffers.lock() {
                Ok(mut spare) => {
                    let keep = spare.len().saturating_sub(tasks.len());
                    spare.drain(keep..).collect()
                }
                Err(_) => Vec::new(),
            };
            workers::seal_tasks(&keys, tasks, &mut spare)
        }
    });
    // The databases open (and new ones are created, some tens of milliseconds) while the first
    // chunks seal. If one cannot be opened, the sealers stop after their current batch.
    let dbs = match open_partitions(setup, &targets, chunk_size).await {
        Ok(dbs) => dbs,
        Err(e) => {
            stop.store(true, Ordering::Relaxed);
            return Err(e);
        }
    };
    let recycle = |chunk: Chunk| {
        if let Ok(mut b) = buffers.lock() {
            b.push(chunk.data);
        }
    };
    let written = write_batches(rx, &dbs, batch, &stop, shutdown, |p| bars.inc(p), recycle).await;
    bars.finish();
    close_all(dbs).await;
    let (written, interrupted) = written?;
    if interrupted {
        return Err(Error::Interrupted { written });
    }
    if written != expected {
        return Err(Error::Worker);
    }
    let elapsed = started.elapsed();
    println!(
        "sealed {written} chunks ({}) in {:.1}s, {}/s; {} partitions complete in {}",
        ByteSize(written * chunk_size),
        elapsed.as_secs_f64(),
        ByteSize(written * chunk_size * 1000 / elapsed.as_millis().max(1) as u64),
        entries.len(),
        setup.dir.display()
    );
    Ok(Outcome::Allocated {
        partitions: entries,
        sealed_now: written,
        elapsed,
    })
}

/// What becomes of a partition file whose validator is not in the plan.
enum Leaving {
    /// Deleted: it holds `data` client pieces (0: filler alone) among `chunks` chunks.
    Remove {
        path: PathBuf,
        data: u64,
        chunks: u64,
    },
    /// Kept, and served, until its grace runs out.
    Keep(PartitionEntry),
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Whether the partition at `path` (listed as `entry` last time, if it was) is removed or kept
/// in grace: kept while it holds client data and its grace, which starts the first time its
/// validator is missing, has not run out.
async fn leaving_partition(
    path: PathBuf,
    entry: Option<&PartitionEntry>,
    config: &Config,
    now: u64,
) -> Result<Leaving, Error> {
    let db = PartitionDb::open_existing(&path).await?;
    let (data, chunks, tree) = (db.data_ids().await, db.count().await, db.tree().await);
    let meta = db.meta().clone();
    db.close().await;
    let (data, chunks, tree) = (data?.len() as u64, chunks?, tree?);
    let until = entry
        .and_then(|e| e.grace_until_ms)
        .unwrap_or_else(|| now.saturating_add(config.partition_grace_secs.saturating_mul(1000)));
    if data == 0 || until <= now {
        return Ok(Leaving::Remove { path, data, chunks });
    }
    let entry = match entry {
        Some(e) => PartitionEntry {
            grace_until_ms: Some(until),
            ..e.clone()
        },
        // Not listed (partition.json was lost): described from the file itself.
        None => {
            let profile: SealProfile = meta.seal_profile.parse()?;
            let key = SealKey::new(
                meta.miner,
                meta.validator,
                meta.chunk_size,
                profile.params(),
            )?;
            PartitionEntry {
                path: path.clone(),
                owner: meta.miner,
                validator: meta.validator,
                size: tree.n_chunks * meta.chunk_size,
                n_chunks: tree.n_chunks,
                seed: hex::encode(key.partition_seed()),
                chunk_size: meta.chunk_size,
                seal: profile.name().to_owned(),
                grace_until_ms: Some(until),
            }
        }
    };
    Ok(Leaving::Keep(entry))
}

/// Opens (or creates) every partition database of the plan and deletes chunks beyond its
/// new size.
async fn open_partitions(
    setup: &Setup,
    targets: &[Target],
    chunk_size: u64,
) -> Result<Vec<PartitionDb>, Error> {
    let mut dbs = Vec::new();
    for t in targets {
        let opened = PartitionDb::open(
            &t.path,
            &meta(setup.me, t.plan.validator, chunk_size, setup.profile),
        )
        .await;
        let db = match opened {
            Ok(db) => db,
            Err(e) => {
                // Those already open are closed properly, their WAL checkpointed.
                close_all(dbs).await;
                return Err(e.into());
            }
        };
        // The committed size first: the commitment's tree covers the plan's slots, and a shrink
        // logs what the cut slots held before they go.
        if let Err(e) = db.set_size(t.plan.n_chunks).await {
            dbs.push(db);
            close_all(dbs).await;
            return Err(e.into());
        }
        match db.truncate(t.plan.n_chunks).await {
            Ok(0) => {}
            Ok(dropped) => {
                tracing::info!(path = %t.path.display(), dropped, "deleted chunks beyond the smaller plan");
            }
            Err(e) => {
                dbs.push(db);
                close_all(dbs).await;
                return Err(e.into());
            }
        }
        dbs.push(db);
    }
    Ok(dbs)
}

/// Closes every database in `dbs` at once: each close checkpoints and syncs its own file.
async fn close_all(dbs: Vec<PartitionDb>) {
    let closing: Vec<_> = dbs.into_iter().map(|db| tokio::spawn(db.close())).collect();
    for close in closing {
        if let Err(e) = close.await {
            // Its WAL stays for the next open to replay; nothing is lost.
            tracing::warn!(error = %e, "closing a partition database failed");
        }
    }
}

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

/// Asks before anything is written (unless `no_prompt`), then creates the node's folder: from
/// here on the disk changes.
pub(crate) fn confirm_and_create(
    config: &Config,
    setup: &Setup,
    confirm: &mut (dyn FnMut(&str) -> bool + Send),
    question: &str,
) -> Result<(), Error> {
    if !config.no_prompt && !confirm(question) {
        return Err(Error::NotConfirmed);
    }
    std::fs::create_dir_all(&setup.dir).map_err(|source| Error::Io {
        path: setup.dir.clone(),
        source,
    })
}

/// The `data-*` files in `dir`.
fn partition_files(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let io = |source| Error::Io {
        path: dir.to_owned(),
        source,
    };
    let mut out = Vec::new();
    // Before the first allocation there is no folder, and so no partition.
    if !dir.exists() {
        return Ok(out);
    }
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if let Some(ss58) = name.strip_prefix("data-")
            && ss58.parse::<AccountId>().is_ok()
        {
            out.push(path);
        }
    }
    Ok(out)
}

fn describe_plan(
    setup: &Setup,
    config: &Config,
    capacity: u64,
    targets: &[Target],
    to_seal: u64,
) -> String {
    let chunk_size = config.chunk_size.0;
    let mut text = format!(
        "plan for miner {} in {}\n  capacity {}, chunk size {}, seal {}{}\n",
        setup.me,
        setup.dir.display(),
        ByteSize(capacity),
        ByteSize(chunk_size),
        setup.profile,
        if config.restart {
            ", starting over"
        } else {
            ""
        },
    );
    let mut total = 0;
    for t in targets {
        total += t.plan.n_chunks;
        text.push_str(&format!(
            "  validator {}  stake {:>12.3}  {:>8} chunks ({}), {} already sealed\n",
            t.plan.validator,
            t.plan.stake,
            t.plan.n_chunks,
            ByteSize(t.plan.n_chunks * chunk_size),
            t.present.len()
        ));
    }
    text.push_str(&format!(
        "  total {total} chunks ({}); {to_seal} to seal with {} workers",
        ByteSize(total * chunk_size),
        setup.workers
    ));
    text
}

/// Progress bars per partition and in total, with bytes per second and ETA. indicatif draws
/// nothing when stderr is not a terminal, so logs and tests stay clean.
struct Bars {
    _multi: MultiProgress,
    per: Vec<ProgressBar>,
    total: ProgressBar,
    chunk_size: u64,
}

impl Bars {
    fn new(targets: &[Target], chunk_size: u64) -> Self {
        let multi = MultiProgress::new();
        let style = ProgressStyle::with_template(
            "{prefix:>14} [{bar:32}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
        )
        .expect("static template")
        .progress_chars("=> ");
        let mut missing_total = 0;
        let per = targets
            .iter()
            .map(|t| {
                let missing = t.plan.n_chunks - t.present.len() as u64;
                missing_total += missing;
                let bar = multi.add(ProgressBar::new(missing * chunk_size));
                bar.set_style(style.clone());
                let name = t.plan.validator.to_ss58();
                bar.set_prefix(format!("{}…", &name[..10]));
                bar
            })
            .collect();
        let total = multi.add(ProgressBar::new(missing_total * chunk_size));
        total.set_style(style);
        total.set_prefix("total");
        Self {
            _multi: multi,
            per,
            total,
            chunk_size,
        }
    }

    fn inc(&self, p: usize) {
        self.per[p].inc(self.chunk_size);
        self.total.inc(self.chunk_size);
    }

    fn finish(&self) {
        for bar in &self.per {
            bar.finish();
        }
        self.total.finish();
    }
}
