//! The Tessera miner node: provisions sealed partitions through the allocator library, then
//! answers validators' signed `Ping`, `Info` and `Challenge` calls over gRPC.
//!
//! Only validators the metagraph lists with a permit and enough stake are served; every answer
//! is signed, so a validator can hold the miner to it. The binary is a thin front end over
//! [`cli::main`].

#[cfg(debug_assertions)]
mod churn;
pub mod cli;
mod config;
mod error;
#[cfg(debug_assertions)]
mod junk;
mod metrics;
mod node;
mod service;
mod status;
mod throttle;

pub use config::{AuthConfig, AxonConfig, BlacklistConfig, Config, DiskConfig, LimitsConfig};
pub use error::Error;
pub use node::run;
