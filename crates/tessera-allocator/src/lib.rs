//! The provisioning job: plan a miner's partitions, seal them into SQLite, resume, verify, report.
//!
//! The miner reuses this library for reallocation; `cargo xtask allocate` and the
//! `tessera-allocator` binary are thin front ends over [`cli::main`]. Sealing runs on a pool of
//! plain threads (it is pure CPU); SQLite writes run on one async writer, in transactions, so an
//! interruption at any point loses at most the batch in flight and never leaves half a chunk.
//!
//! Only `cli` talks to the terminal: the job reports through [`Report`]. The modules form a
//! tree, not a cycle: [`run`] picks one of `allocate`, `sample` and `verify`, and those three
//! share `setup` and `writer`, which import none of them.

mod allocate;
pub mod cli;
mod config;
mod error;
mod layout;
mod report;
mod sample;
mod setup;
mod verify;
mod workers;
mod writer;

use std::future::Future;

pub use config::Config;
pub use error::Error;
pub use layout::{PartitionEntry, PartitionFile, read_partition_file, read_partition_json};
pub use report::{Event, Logged, Outcome, Plan, PlannedPartition, Report, Sampling};
pub use workers::seal_in_background;

/// Runs the job `config` describes, telling `report` what happens. `report` is asked before
/// anything is written (unless `no_prompt`); once `shutdown` completes, sealing stops, finished
/// chunks are committed and the run ends with [`Error::Interrupted`].
pub async fn run(
    config: &Config,
    report: &mut dyn Report,
    shutdown: impl Future<Output = ()>,
) -> Result<Outcome, Error> {
    let setup = setup::setup(config).await?;
    if config.verify {
        return verify::verify(&setup, report).await;
    }
    if config.validator {
        return sample::sample_roots(config, &setup, report, shutdown).await;
    }
    allocate::allocate(config, &setup, report, shutdown).await
}
