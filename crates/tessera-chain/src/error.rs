//! The one error type of `tessera-chain`.

use std::path::PathBuf;

/// Everything that can go wrong while fetching the metagraph.
///
/// Each message is one line that names the file, and the line in it when there is one, so that an
/// operator can go straight to the mistake.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The metagraph file could not be read at all: missing, unreadable or not UTF-8.
    #[error("metagraph {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

    /// The metagraph file was read but is not a valid metagraph; `line` counts from 1.
    #[error("metagraph {path}:{line}: {reason}")]
    Invalid {
        path: PathBuf,
        line: usize,
        reason: String,
    },
}
