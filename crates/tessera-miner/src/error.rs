//! The one error type of the miner, and its one mapping to gRPC statuses.

use tessera_proto::tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Config(String),

    #[error(transparent)]
    Allocator(#[from] tessera_allocator::Error),

    #[error(transparent)]
    Node(#[from] tessera_node::Error),

    #[error(transparent)]
    Storage(#[from] tessera_storage::Error),

    #[error(transparent)]
    Chain(#[from] tessera_chain::Error),

    #[error(transparent)]
    Core(#[from] tessera_core::Error),

    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },

    #[error("serving failed: {0}")]
    Serve(String),

    #[error("challenge has {items} items; at most {max} are served per request")]
    TooManyItems { items: usize, max: usize },

    #[error("no partition for validator {0}: the miner keeps none for it")]
    NoPartition(String),

    #[error("slot {slot} is beyond the partition's {n_chunks} chunks")]
    SlotOutOfRange { slot: u64, n_chunks: u64 },

    #[error("a piece must be exactly one chunk ({chunk_size} bytes), not {len}")]
    PieceLength { len: usize, chunk_size: u64 },

    #[error("a piece of {0} bytes is not a whole number of 1 KiB segments")]
    NotSegments(usize),

    #[error("slot {0} holds no client data")]
    NotData(u64),

    #[error("request of {len} bytes is over the {limit}-byte limit")]
    TooLarge { len: usize, limit: usize },

    #[error(
        "{queued} released slots are waiting for their reseal; {asked} more would pass the {max} queued at most: try again later"
    )]
    ResealQueueFull {
        queued: usize,
        asked: usize,
        max: usize,
    },

    #[error(
        "no update from commitment {from_seq}: the miner no longer has the leaves it replaced (or it never signed that one); take the commitment afresh"
    )]
    NoUpdate { from_seq: u64 },
}

impl From<Error> for Status {
    /// Every domain error has exactly one status; callers see the message, the log sees the rest.
    fn from(e: Error) -> Status {
        match e {
            Error::TooManyItems { .. } => Status::invalid_argument(e.to_string()),
            Error::NoPartition(_) | Error::NoUpdate { .. } => {
                Status::failed_precondition(e.to_string())
            }
            Error::SlotOutOfRange { .. } => Status::out_of_range(e.to_string()),
            Error::PieceLength { .. } | Error::NotSegments(_) => {
                Status::invalid_argument(e.to_string())
            }
            Error::NotData(_) => Status::not_found(e.to_string()),
            Error::TooLarge { .. } | Error::ResealQueueFull { .. } => {
                Status::resource_exhausted(e.to_string())
            }
            Error::Storage(s) if s.is_disk_full() => {
                tracing::warn!(error = %s, "a write failed: the disk is full");
                Status::resource_exhausted("the miner's disk is full; store the piece elsewhere")
            }
            Error::Storage(_) | Error::Core(_) => {
                tracing::error!(error = %e, "request failed");
                Status::internal("the miner could not read its storage")
            }
            Error::Config(_)
            | Error::Allocator(_)
            | Error::Node(_)
            | Error::Chain(_)
            | Error::Bind { .. }
            | Error::Serve(_) => {
                tracing::error!(error = %e, "request failed");
                Status::internal(e.to_string())
            }
        }
    }
}
