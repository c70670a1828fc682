//! The one error type of `tessera-storage`; every message names the file it is about.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("{path}: not a tessera {expected} database: {reason}")]
    NotOurs {
        path: PathBuf,
        expected: &'static str,
        reason: String,
    },

    #[error("{path}: truncated: its header says {expected} bytes but the file has {actual}")]
    Truncated {
        path: PathBuf,
        expected: u64,
        actual: u64,
    },

    #[error(
        "{path}: schema version {found} is newer than this build supports ({supported}); upgrade tessera before opening it"
    )]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },

    #[error(
        "{path}: belongs to miner {found_miner} and validator {found_validator}, not to miner {miner} and validator {validator}"
    )]
    WrongPair {
        path: PathBuf,
        found_miner: String,
        found_validator: String,
        miner: String,
        validator: String,
    },

    #[error(
        "{path}: sealed with chunk size {found_chunk_size} and profile {found_profile}, not chunk size {chunk_size} and profile {profile}"
    )]
    SealMismatch {
        path: PathBuf,
        found_chunk_size: u64,
        found_profile: String,
        chunk_size: u64,
        profile: String,
    },

    #[error("{path}: chunk {id} is {len} bytes long, not the partition's chunk size {chunk_size}")]
    ChunkLength {
        path: PathBuf,
        id: u64,
        len: usize,
        chunk_size: u64,
    },

    #[error("{path}: sqlite: {source}")]
    Sqlite { path: PathBuf, source: sqlx::Error },
}
