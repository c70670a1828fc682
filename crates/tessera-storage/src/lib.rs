//! Everything SQLite in Tessera: partition databases, hash databases, validator state databases
//! and their migrations.
//!
//! A partition or hash database describes one (miner, validator) partition: the miner keeps its
//! sealed chunks in `data-<validator ss58>`, the validator keeps the roots it derived in
//! `hashes-<miner ss58>`. Both record their pair and seal parameters in a `meta` table. A
//! validator's state database (`StateDb`: miners, challenges, scores, blacklist, weights) records
//! its validator there instead. So a file is never reused for an owner it does not belong to. This
//! crate knows nothing of sealing, scoring or networking: it stores values and checks that it is
//! talking to the right file. All SQL is bound parameters; no statement is built by string
//! formatting from data.

mod error;
mod hashes;
mod partition;
mod sqlite;
mod state;
mod tree;

pub use error::Error;
pub use hashes::HashDb;
pub use partition::{Chunk, PartitionDb};
pub use sqlite::Meta;
pub use state::{
    Bucket, BucketDeleted, BucketUsage, ChallengeRecord, EntryPart, HeldCommitment, Holders, Lie,
    MinerRecord, MinerStats, NewObject, ObjectRecord, PendingCommit, PlacementRecord,
    S3_MAX_KEY_BYTES, S3_MAX_PART_NUMBER, S3Entry, S3Headers, S3Key, SegmentRecord, StateDb,
    Upload, UploadPart, WeightRows, Window, prefix_end,
};
pub use tree::{TreeState, TreeUpdate};

use tessera_core::AccountId;

/// File name of a miner's partition for `validator`, as the prototype laid it out.
pub fn partition_file_name(validator: &AccountId) -> String {
    format!("data-{validator}")
}

/// File name of a validator's root database for `miner`.
pub fn hash_file_name(miner: &AccountId) -> String {
    format!("hashes-{miner}")
}
