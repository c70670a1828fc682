//! The one error type of the validator: starting the node and running its challenge loop.
//! Clients' calls fail with the gateway's own errors (`tessera_gateway::Error`), mapped there;
//! the validator only logs what its calls of the gateway's sweeps return.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Config(String),

    #[error(transparent)]
    Node(#[from] tessera_node::Error),

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

/// Why a miner's answer cannot be used: the reason recorded against its items. Never the
/// validator's own failure, which is an [`Error`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Fault {
    /// Unreachable, refused or too slow: nothing is known of what the miner holds.
    #[error("{0}")]
    NoAnswer(String),
    /// An answer that is malformed, unsigned, or does not prove what it must.
    #[error("{0}")]
    BadAnswer(String),
}

/// A field of an answer that is missing or the wrong size.
impl From<&'static str> for Fault {
    fn from(what: &'static str) -> Self {
        Fault::BadAnswer(what.to_owned())
    }
}
