//! The one error type of the client: every message names the validator, object or file at fault.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("validator at {addr} is unreachable: {reason}")]
    Unreachable { addr: String, reason: String },

    #[error("validator at {addr} refused the request: {message}")]
    Refused { addr: String, message: String },

    #[error(
        "object {id} not found on the validator at {addr}: it does not exist, has expired, or belongs to another hotkey (this one is {hotkey})"
    )]
    NotFound {
        id: String,
        addr: String,
        hotkey: String,
    },

    #[error("object {id} does not decrypt with this wallet's key: {reason}")]
    WrongKey { id: String, reason: String },

    #[error("object {id}: the decrypted bytes do not match the digest stored with it")]
    Digest { id: String },

    #[error("validator at {addr} broke the protocol: {reason}")]
    Protocol { addr: String, reason: String },

    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("{0}")]
    Usage(String),

    #[error(transparent)]
    Object(#[from] tessera_object::Error),

    #[error(transparent)]
    Core(#[from] tessera_core::Error),
}
