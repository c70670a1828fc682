//! Everything SQLite in Tessera: partition databases, hash databases and their migrations.
//!
//! Each database file describes one (miner, validator) partition: the miner keeps its sealed
//! chunks in `data-<validator ss58>`, the validator keeps the roots it derived in
//! `hashes-<miner ss58>`. Both record their pair and seal parameters in a `meta` table, so a file
//! is never reused for a partition it does not belong to. This crate knows nothing of sealing or
//! networking: it stores bytes and checks that it is talking to the right file. All SQL is bound
//! parameters; no statement is built by string formatting from data.

mod error;
mod hashes;
mod partition;
mod sqlite;

pub use error::Error;
pub use hashes::HashDb;
pub use partition::{Chunk, PartitionDb};
pub use sqlite::Meta;

use tessera_core::AccountId;

/// File name of a miner's partition for `validator`, as the prototype laid it out.
pub fn partition_file_name(validator: &AccountId) -> String {
    format!("data-{validator}")
}

/// File name of a validator's root database for `miner`.
pub fn hash_file_name(miner: &AccountId) -> String {
    format!("hashes-{miner}")
}
