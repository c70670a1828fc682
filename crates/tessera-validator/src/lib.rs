//! The Tessera validator node: holds each miner's signed commitment to its partition, audits it
//! by sealing a random sample itself, challenges miners with signed, unpredictable
//! proof-of-storage batches checked with hashes against the commitment, keeps the results in
//! SQLite, scores miners and sets weights on the chain.
//!
//! The binary is a thin front end over [`cli::main`]; `status` reads a validator's state for
//! scoreboards and operators without talking to the running process.

mod audit;
pub mod cli;
mod commitments;
mod config;
mod error;
mod gateway;
mod http;
mod metrics;
mod node;
mod reclaim;
mod round;
pub mod score;
pub mod status;
mod weights;

pub use config::{AuditConfig, AxonConfig, ChallengeConfig, Config, DataConfig};
pub use error::Error;
pub use node::{STATE_FILE, node_dir, run};
