//! The one error type of `tessera-core`.

use std::path::PathBuf;

/// Everything that can go wrong in core: bad identities, bad wallet files, bad Merkle input.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid ss58 address '{value}': {reason}")]
    InvalidAddress { value: String, reason: String },

    #[error("invalid hex key '{value}': {reason}")]
    InvalidKey { value: String, reason: String },

    #[error("wallet file {path}: {reason}")]
    Wallet { path: PathBuf, reason: String },

    #[error("invalid {what} '{value}': {reason}")]
    WalletName {
        what: &'static str,
        value: String,
        reason: &'static str,
    },

    #[error("invalid secret uri '{value}': {reason}")]
    SecretUri { value: String, reason: String },

    #[error("invalid signature: {0}")]
    Signature(String),

    #[error("invalid chunk size {0}: must be a power of two of at least 1024 bytes")]
    ChunkSize(u64),

    #[error("segment index {index} out of range: the chunk has {segments} segments")]
    SegmentIndex { index: u64, segments: u64 },
}
