//! The allocation itself: plan, check, confirm, seal and write a miner's partitions.

use std::collections::BTreeSet;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use tessera_core::AccountId;
use tessera_node::ByteSize;
use tessera_partition::{PartitionPlan, SealKey, SealProfile};
use tessera_storage::{Chunk, PartitionDb};

use crate::layout::{self, PartitionEntry};
use crate::report::{Event, Outcome, Plan, PlannedPartition, Report};
use crate::setup::{Setup, confirm_and_create, meta};
use crate::writer::write_batches;
use crate::{Config, Error, workers};

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

pub(crate) async fn allocate(
    config: &Config,
    setup: &Setup,
    report: &mut dyn Report,
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

    report.event(Event::Plan(&Plan {
        miner: setup.me,
        dir: setup.dir.clone(),
        capacity,
        chunk_size,
        seal: setup.profile.name().to_owned(),
        restart: config.restart,
        partitions: targets
            .iter()
            .map(|t| PlannedPartition {
                validator: t.plan.validator,
                stake: t.plan.stake,
                n_chunks: t.plan.n_chunks,
                present: t.present.len() as u64,
            })
            .collect(),
        to_seal,
        workers: setup.workers,
    }));
    if filler_deleted > 0 && !config.restart {
        report.event(Event::DeletesFiller {
            chunks: filler_deleted,
            bytes: filler_deleted * chunk_size,
        });
    }
    confirm_and_create(
        config,
        setup,
        report,
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
    let sealing: Vec<(AccountId, u64)> = targets
        .iter()
        .map(|t| {
            let missing = t.plan.n_chunks - t.present.len() as u64;
            (t.plan.validator, missing * chunk_size)
        })
        .collect();
    report.event(Event::Sealing(&sealing));
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
    let progress = |partition| {
        report.event(Event::Sealed {
            partition,
            bytes: chunk_size,
        })
    };
    let written = write_batches(rx, &dbs, batch, &stop, shutdown, progress, recycle).await;
    report.event(Event::SealingEnded);
    close_all(dbs).await;
    let (written, interrupted) = written?;
    if interrupted {
        return Err(Error::Interrupted { written });
    }
    if written != expected {
        return Err(Error::Worker);
    }
    Ok(Outcome::Allocated {
        dir: setup.dir.clone(),
        partitions: entries,
        sealed_now: written,
        elapsed: started.elapsed(),
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
