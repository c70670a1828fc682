//! The one error type of `tessera-partition`.

/// What can be wrong with a plan or a seal request.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unknown seal profile '{0}': expected dev or production")]
    UnknownProfile(String),

    #[error(
        "plan of zero chunks: a capacity of {capacity} bytes holds no chunk of {chunk_size} bytes"
    )]
    ZeroChunks { capacity: u64, chunk_size: u64 },

    #[error("no validator in the metagraph: nobody to allocate a partition for")]
    NoValidators,

    #[error(
        "capacity of {chunks} chunks is too small: each of the {validators} validators needs at least one"
    )]
    TooFewChunks { chunks: u64, validators: usize },

    #[error(
        "invalid stake {stake} for validator {validator}: stakes must be finite and non-negative"
    )]
    Stake { validator: String, stake: f64 },

    #[error(transparent)]
    Core(#[from] tessera_core::Error),
}
