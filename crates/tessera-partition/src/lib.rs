//! The partition plan and the sealing generator of Tessera: pure computation.
//!
//! This crate does no I/O at all: no files, no SQL, no networking, no clocks. It turns identities,
//! stakes and sizes into a plan, and a (miner, validator, chunk id) triple into sealed bytes.

mod error;
pub mod plan;
pub mod seal;

pub use error::Error;
pub use plan::{PartitionPlan, plan};
pub use seal::{SealKey, SealParams, SealProfile};
