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

    #[error(transparent)]
    Object(#[from] tessera_object::Error),

    /// A client's request that can never succeed as sent.
    #[error("{0}")]
    BadRequest(String),

    /// No such object, or not the caller's.
    #[error("{0}")]
    NotFound(String),

    #[error("{0}")]
    Exists(String),

    /// The client's view of the gateway's coding is out of date.
    #[error("{0}")]
    Mismatch(String),

    /// Miners have no free slots left for a piece.
    #[error("{0}")]
    NoCapacity(String),

    /// The client would keep more than its quota.
    #[error("{0}")]
    Quota(String),

    /// Too few miners answer to store or fetch an object now; trying later may succeed.
    #[error("{0}")]
    Unavailable(String),
}

/// A fresh id for an internal error: logged with the details, and all a client is told.
pub(crate) fn incident_id() -> String {
    hex::encode(rand::random::<[u8; 8]>())
}
