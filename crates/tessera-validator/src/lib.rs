//! The Tessera validator node: holds each miner's signed commitment to its partition, audits it
//! by sealing a random sample itself, challenges miners with signed, unpredictable
//! proof-of-storage batches checked with hashes against the commitment, keeps the results in
//! SQLite, scores miners and sets weights on the chain.
//!
//! The client-data gateway is its own crate, `tessera-gateway`; this crate composes it with the
//! challenge loop. The binary is a thin front end over [`cli::main`]; `status` reads a validator's state for
//! scoreboards and operators without talking to the running process.

mod audit;
pub mod cli;
mod commitments;
mod config;
mod error;
mod metrics;
mod node;
mod round;
pub mod status;
mod weights;

pub use config::{AuditConfig, AxonConfig, ChallengeConfig, Config, DataConfig};
pub use error::Error;
pub use node::{STATE_FILE, node_dir, run};
/// Scoring is pure arithmetic, in `tessera-core`; the gateway reads reputations too.
pub use tessera_core::score;
