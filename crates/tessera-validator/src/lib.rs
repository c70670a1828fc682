//! The Tessera validator node: challenges miners with signed, unpredictable proof-of-storage
//! batches, verifies every segment against roots it derived itself, keeps the results in SQLite,
//! scores miners and sets weights on the chain.
//!
//! The binary is a thin front end over [`cli::main`]; `status` reads a validator's state for
//! scoreboards and operators without talking to the running process.

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

pub use config::{AxonConfig, ChallengeConfig, Config, DataConfig};
pub use error::Error;
pub use node::{STATE_FILE, node_dir, run};
