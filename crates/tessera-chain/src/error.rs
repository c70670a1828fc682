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

    /// A `--subtensor.*` setting names no network this build knows.
    #[error("--{setting} '{value}': {reason}")]
    Network {
        setting: &'static str,
        value: String,
        reason: String,
    },

    /// The Subtensor node could not be reached, or the connection failed mid-call.
    #[error("subtensor {url}: unreachable: {reason}")]
    Unreachable { url: String, reason: String },

    /// The chain has no subnet with this netuid.
    #[error("subtensor {url}: netuid {netuid} does not exist")]
    NoSubnet { url: String, netuid: u16 },

    /// A storage item could not be read or decoded with the runtime's metadata.
    #[error("subtensor {url}: reading {item}: {reason}")]
    Storage {
        url: String,
        item: &'static str,
        reason: String,
    },

    /// The transaction pool refused an extrinsic before it reached a block.
    #[error("{call}: refused by the node: {reason}")]
    Rejected { call: &'static str, reason: String },

    /// An extrinsic was accepted but did not land in a block.
    #[error("{call}: not included: {reason}")]
    NotIncluded { call: &'static str, reason: String },

    /// An extrinsic landed in a block and its dispatch failed, such as
    /// `SubtensorModule::SettingWeightsTooFast`.
    #[error("{call}: failed on chain: {error}")]
    Dispatch { call: &'static str, error: String },

    /// The node's hotkey has no uid on the subnet.
    #[error(
        "hotkey {hotkey} is not registered on netuid {netuid} ({chain}): register it with \
         `btcli subnet register --netuid {netuid}` and start again"
    )]
    NotRegistered {
        hotkey: String,
        netuid: u16,
        chain: String,
    },

    /// The backend cannot do what was asked, such as commit-reveal on a local metagraph file or
    /// timelocked commit-reveal on any chain.
    #[error("{0}")]
    Unsupported(String),
}

impl Error {
    /// Whether trying again later can succeed: the chain was unreachable, or the transaction did
    /// not make it into a block. A refusal or a failed dispatch needs something to change first.
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Unreachable { .. } | Error::NotIncluded { .. })
    }

    /// The pallet error a failed dispatch named, such as `SubtensorModule::SettingWeightsTooFast`.
    pub fn dispatch_error(&self) -> Option<&str> {
        match self {
            Error::Dispatch { error, .. } => Some(error),
            _ => None,
        }
    }
}
