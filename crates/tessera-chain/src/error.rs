//! The one error type of `tessera-chain`.

use std::path::PathBuf;

/// Everything that can go wrong while fetching the metagraph or setting and reading weights.
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

    /// A weights file could not be read, or could not be written and moved into place.
    #[error("weights {path}: {source}")]
    WeightsIo {
        path: PathBuf,
        source: std::io::Error,
    },

    /// A weights file was read but is not a valid set of weights; `line` counts from 1.
    #[error("weights {path}:{line}: {reason}")]
    WeightsInvalid {
        path: PathBuf,
        line: usize,
        reason: String,
    },

    /// Weights refused before anything was written; the file named was left as it was.
    #[error("weights {path}: refused: {reason}")]
    BadWeights { path: PathBuf, reason: String },
}
