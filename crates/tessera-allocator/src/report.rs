//! What a run tells whoever started it, and the one question it asks. The library never writes
//! to the terminal: `cli` draws these events as text and progress bars, the miner logs them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tessera_core::AccountId;

use crate::layout::PartitionEntry;

/// Receives a run's events in order, and answers its confirmation.
pub trait Report: Send {
    /// Asked once before anything is written, unless `no_prompt`; `false` ends the run with
    /// [`crate::Error::NotConfirmed`] and nothing changed.
    fn confirm(&mut self, question: &str) -> bool;

    /// Something happened that the operator may want to see.
    fn event(&mut self, event: Event<'_>);
}

/// A run's events, in the order they come.
#[derive(Debug)]
pub enum Event<'a> {
    /// The allocation about to be made, before anything is written.
    Plan(&'a Plan),
    /// The plan deletes this many chunks of sealed filler (client data is kept); said before
    /// anything goes, since filler is hours of work to seal again.
    DeletesFiller { chunks: u64, bytes: u64 },
    /// `--validator`: the roots about to be derived.
    Sampling(&'a Sampling),
    /// Sealing starts: per partition, in plan order, its validator and the bytes to seal.
    Sealing(&'a [(AccountId, u64)]),
    /// `bytes` more of partition `partition` (an index into `Sealing`) are sealed and written.
    Sealed { partition: usize, bytes: u64 },
    /// Sealing ended, done or interrupted.
    SealingEnded,
    /// `--verify` checked one partition: `bad` are its missing or wrong chunk ids (all of them
    /// when the file is `missing`).
    Checked {
        path: &'a Path,
        n_chunks: u64,
        bad: &'a [u64],
        missing: bool,
    },
}

/// An allocation plan as the operator is shown it.
#[derive(Clone, Debug)]
pub struct Plan {
    pub miner: AccountId,
    pub dir: PathBuf,
    pub capacity: u64,
    pub chunk_size: u64,
    /// The seal profile's name.
    pub seal: String,
    /// Existing partitions are deleted first.
    pub restart: bool,
    pub partitions: Vec<PlannedPartition>,
    /// Chunks still to seal, over all partitions.
    pub to_seal: u64,
    pub workers: usize,
}

#[derive(Clone, Debug)]
pub struct PlannedPartition {
    pub validator: AccountId,
    pub stake: f64,
    pub n_chunks: u64,
    /// Chunks already sealed, kept from earlier runs.
    pub present: u64,
}

/// What `--validator` is about to derive.
#[derive(Clone, Debug)]
pub struct Sampling {
    pub validator: AccountId,
    pub dir: PathBuf,
    /// Roots per miner.
    pub roots: u64,
    pub miners: usize,
    /// Ids are drawn below this.
    pub below: u64,
    pub seal: String,
}

/// What a run did, for the caller to report or test.
#[derive(Debug)]
pub enum Outcome {
    /// Miner partitions are complete.
    Allocated {
        dir: PathBuf,
        partitions: Vec<PartitionEntry>,
        sealed_now: u64,
        elapsed: Duration,
    },
    /// The validator's hash databases hold their samples.
    Sampled { miners: usize, derived_now: u64 },
    /// `--verify` ran over `partitions`; `bad` lists, per partition file, the ids that are
    /// missing or wrong.
    Verified {
        partitions: usize,
        checked: u64,
        bad: Vec<(PathBuf, Vec<u64>)>,
    },
}

/// A report for a run nobody watches (the miner's reallocations): confirms at once and logs the
/// plan and what the run deletes, nothing per chunk.
#[derive(Debug, Default)]
pub struct Logged;

impl Report for Logged {
    fn confirm(&mut self, _question: &str) -> bool {
        true
    }

    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Plan(plan) => tracing::info!(
                capacity = plan.capacity,
                partitions = plan.partitions.len(),
                to_seal = plan.to_seal,
                restart = plan.restart,
                "allocation plan"
            ),
            Event::DeletesFiller { chunks, .. } => {
                tracing::warn!(
                    chunks,
                    "this plan deletes sealed filler; client data is kept"
                )
            }
            Event::Sampling(s) => {
                tracing::info!(roots = s.roots, miners = s.miners, "deriving roots")
            }
            Event::Checked { path, bad, .. } if !bad.is_empty() => {
                tracing::warn!(path = %path.display(), bad = bad.len(), "bad chunks")
            }
            Event::Sealing(_)
            | Event::Sealed { .. }
            | Event::SealingEnded
            | Event::Checked { .. } => {}
        }
    }
}
