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

    #[error("{path}: is the state database of validator {found}, not of validator {validator}")]
    WrongValidator {
        path: PathBuf,
        found: String,
        validator: String,
    },

    #[error("{path}: miner {miner} is not in the miners table; record the miner before its rounds")]
    UnknownMiner { path: PathBuf, miner: String },

    /// SQLite integers are signed: a larger value would come back negative, so it is refused.
    #[error("{path}: {what} {value} is too large to store (the limit is 2^63 - 1)")]
    TooLarge {
        path: PathBuf,
        what: &'static str,
        value: u64,
    },

    #[error("{path}: {what} is {value}, not a finite number")]
    NotFinite {
        path: PathBuf,
        what: &'static str,
        value: f64,
    },

    /// A stored row that holds something its type cannot: damage, or an edit by hand.
    #[error("{path}: damaged row in {table}: {reason}")]
    BadRow {
        path: PathBuf,
        table: &'static str,
        reason: String,
    },

    #[error("{path}: chunk {id} is {len} bytes long, not the partition's chunk size {chunk_size}")]
    ChunkLength {
        path: PathBuf,
        id: u64,
        len: usize,
        chunk_size: u64,
    },

    /// A value for the S3 face that S3 itself refuses, or that does not fit what it comes with
    /// (a key over 1024 bytes, a part number outside 1 to 10 000, an entry whose parts do not
    /// add up to its size): refused before anything is written.
    #[error("{path}: s3 {what} refused: {reason}")]
    S3Input {
        path: PathBuf,
        what: &'static str,
        reason: String,
    },

    #[error("{path}: sqlite: {source}")]
    Sqlite { path: PathBuf, source: sqlx::Error },

    /// A step failed, or the file records a step whose file has since changed
    /// (`migrations/` are never edited once released).
    #[error("{path}: migrating the schema: {source}")]
    Migrate {
        path: PathBuf,
        source: sqlx::migrate::MigrateError,
    },
}

impl Error {
    /// Whether the file system under the database is full (SQLite's `SQLITE_FULL`, or the OS's
    /// "no space left"): the write failed whole and nothing was changed, so the caller can say
    /// so and go on serving reads.
    pub fn is_disk_full(&self) -> bool {
        use sqlx::migrate::MigrateError;
        match self {
            Error::Sqlite { source, .. }
            | Error::Migrate {
                source: MigrateError::Execute(source) | MigrateError::ExecuteMigration(source, _),
                ..
            } => sqlite_full(source),
            Error::Io { source, .. } => source.raw_os_error() == Some(28),
            _ => false,
        }
    }
}

fn sqlite_full(source: &sqlx::Error) -> bool {
    match source {
        sqlx::Error::Database(db) => db
            .code()
            .and_then(|c| c.parse::<i32>().ok())
            // The primary result code is the low byte of an extended one.
            .is_some_and(|c| c & 0xff == 13),
        sqlx::Error::Io(io) => io.raw_os_error() == Some(28),
        _ => false,
    }
}
