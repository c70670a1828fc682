//! The one error type of the validator.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Config(String),

    #[error(transparent)]
    Allocator(#[from] tessera_allocator::Error),

    #[error(transparent)]
    Storage(#[from] tessera_storage::Error),

    #[error(transparent)]
    Chain(#[from] tessera_chain::Error),

    #[error(transparent)]
    Core(#[from] tessera_core::Error),

    #[error(transparent)]
    Seal(#[from] tessera_partition::Error),

    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },

    #[error("serving failed: {0}")]
    Serve(String),
}
