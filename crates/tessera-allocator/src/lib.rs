//! The provisioning job: plan a miner's partitions, seal them into SQLite, resume, verify, report.
//!
//! The miner reuses this library for reallocation; `cargo xtask allocate` and the
//! `tessera-allocator` binary are thin front ends over [`cli::main`]. Sealing runs on a pool of
//! plain threads (it is pure CPU); SQLite writes run on one async writer, in transactions, so an
//! interruption at any point loses at most the batch in flight and never leaves half a chunk.

pub mod cli;
mod config;
mod error;
mod job;
mod layout;
mod sample;
mod size;
mod verify;
mod workers;

pub use config::{
    Config, LoggingConfig, MetagraphConfig, MetricsConfig, SubtensorConfig, WalletConfig,
    load_layered,
};
pub use error::Error;
pub use job::{Outcome, run};
pub use layout::{
    PartitionEntry, PartitionFile, node_dir, read_partition_file, read_partition_json,
};
pub use size::ByteSize;
pub use workers::seal_in_background;
