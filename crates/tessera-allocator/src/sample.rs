//! `allocate --validator`: the validator's hash databases, roots it derived itself for a random
//! sample of each miner's chunk ids.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use rand::{Rng, TryRngCore};
use tessera_core::AccountId;
use tessera_core::constants::MIN_N_CHUNKS;
use tessera_partition::SealKey;
use tessera_storage::HashDb;

use crate::report::{Event, Outcome, Report, Sampling};
use crate::setup::{Setup, confirm_and_create, meta};
use crate::writer::write_batches;
use crate::{Config, Error, workers};

/// `--validator`: a hash database per miner, holding roots the validator derived itself for a
/// random sample of chunk ids.
///
/// The validator cannot know yet how much each miner will claim, so ids are drawn below the
/// share of this validator in a minimum-size miner (`MIN_N_CHUNKS` chunks in total, or
/// `--capacity`): every conforming miner holds those ids. The validator tops up later once it
/// learns the real claims.
pub(crate) async fn sample_roots(
    config: &Config,
    setup: &Setup,
    report: &mut dyn Report,
    shutdown: impl Future<Output = ()>,
) -> Result<Outcome, Error> {
    let chunk_size = config.chunk_size.0;
    let miners: Vec<AccountId> = setup
        .metagraph
        .neurons
        .iter()
        .filter(|n| !n.is_validator(config.min_stake) && n.hotkey != setup.me)
        .map(|n| n.hotkey)
        .collect();
    let assumed = config.capacity.map_or(MIN_N_CHUNKS * chunk_size, |c| c.0);
    let validators: Vec<(AccountId, f64)> = setup
        .metagraph
        .validators(config.min_stake)
        .map(|n| (n.hotkey, n.stake))
        .collect();
    let range = match tessera_partition::plan(assumed, chunk_size, &validators) {
        Ok(plan) => plan
            .iter()
            .find(|p| p.validator == setup.me)
            .map_or(assumed / chunk_size, |p| p.n_chunks),
        Err(_) => assumed / chunk_size,
    }
    .max(1);
    let want = config.samples.min(range);
    report.event(Event::Sampling(&Sampling {
        validator: setup.me,
        dir: setup.dir.clone(),
        roots: want,
        miners: miners.len(),
        below: range,
        seal: setup.profile.name().to_owned(),
    }));
    confirm_and_create(config, setup, report, "proceed? [y/N] ")?;

    let mut dbs = Vec::new();
    let mut tasks = Vec::new();
    let mut keys = Vec::new();
    // The sampled ids are the validator's secret: from the OS, never from a seedable generator.
    let mut rng = rand::rngs::OsRng.unwrap_err();
    for (i, miner) in miners.iter().enumerate() {
        let path = setup.dir.join(tessera_storage::hash_file_name(miner));
        if config.restart {
            HashDb::remove(&path)?;
        }
        let db = HashDb::open(&path, &meta(*miner, setup.me, chunk_size, setup.profile)).await?;
        let have: BTreeSet<u64> = db.roots().await?.into_iter().map(|(id, _)| id).collect();
        let mut chosen = BTreeSet::new();
        while ((have.len() + chosen.len()) as u64) < want {
            let id = rng.random_range(0..range);
            if !have.contains(&id) {
                chosen.insert(id);
            }
        }
        tasks.extend(chosen.into_iter().map(|id| (i, id)));
        keys.push(SealKey::new(
            *miner,
            setup.me,
            chunk_size,
            setup.profile.params(),
        )?);
        dbs.push(db);
    }
    let expected = tasks.len() as u64;
    let stop = Arc::new(AtomicBool::new(false));
    // Chunks seal in batches, as in allocation; only their roots are kept.
    let rx = workers::spawn(
        tasks,
        setup.workers,
        tessera_core::sha256::preferred_lanes(),
        64,
        stop.clone(),
        move |tasks: &[(usize, u64)]| {
            workers::seal_tasks(&keys, tasks, &mut Vec::new())
                .into_iter()
                .map(|(m, chunk)| (m, (chunk.id, chunk.root)))
                .collect::<Vec<_>>()
        },
    );
    let result = write_batches(rx, &dbs, 64, &stop, shutdown, |_| {}, |_| {}).await;
    for db in dbs {
        db.close().await;
    }
    let (derived_now, interrupted) = result?;
    if interrupted {
        return Err(Error::Interrupted {
            written: derived_now,
        });
    }
    if derived_now != expected {
        return Err(Error::Worker);
    }
    Ok(Outcome::Sampled {
        miners: miners.len(),
        derived_now,
    })
}
