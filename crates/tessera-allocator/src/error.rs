//! The one error type of `tessera-allocator`; each variant prints as one line for the operator.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Node(#[from] tessera_node::Error),

    #[error(transparent)]
    Core(#[from] tessera_core::Error),

    #[error(transparent)]
    Chain(#[from] tessera_chain::Error),

    #[error(transparent)]
    Plan(#[from] tessera_partition::Error),

    #[error("{0}{hint}", hint = restart_hint(.0))]
    Storage(#[from] tessera_storage::Error),

    #[error("invalid --threshold {0}: it must be above 0 and at most 1")]
    Threshold(f64),

    #[error(
        "not enough disk: the plan needs {needed} more under {path} but only {free} is free; lower --capacity or --threshold"
    )]
    NotEnoughDisk {
        path: PathBuf,
        needed: String,
        free: String,
    },

    #[error("allocation not confirmed; pass --no_prompt to skip the question")]
    NotConfirmed,

    #[error("interrupted after writing {written} chunks; run again to resume")]
    Interrupted { written: u64 },

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("{path}: {reason}")]
    PartitionFile { path: PathBuf, reason: String },

    #[error("verify found {bad} bad chunks")]
    BadChunks { bad: u64 },

    #[error("a sealing worker stopped unexpectedly; nothing it held was written, run again")]
    Worker,
}

fn restart_hint(e: &tessera_storage::Error) -> &'static str {
    match e {
        tessera_storage::Error::SealMismatch { .. } => "; run with --restart to reseal it",
        _ => "",
    }
}
