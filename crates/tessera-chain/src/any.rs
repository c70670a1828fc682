//! The chain a node was configured with, chosen at start from its settings.

use std::net::SocketAddr;

use tessera_core::Keypair;

use crate::{
    Chain, ChainWeights, Error, LocalChain, Metagraph, Reveal, Served, Source, SubtensorChain,
};

/// A local metagraph file or a Subtensor node, as [`Source::choose`] picked.
#[derive(Debug)]
pub enum AnyChain {
    Local(LocalChain),
    Subtensor(SubtensorChain),
}

impl AnyChain {
    /// The chain `source` names, for subnet `netuid`; nothing is read or contacted yet.
    pub fn new(source: Source, netuid: u16) -> Self {
        match source {
            Source::File(path) => AnyChain::Local(LocalChain::new(path, netuid)),
            Source::Subtensor(url) => AnyChain::Subtensor(SubtensorChain::new(url, netuid)),
        }
    }

    /// Where the chain is, for messages: the file's path or the node's URL.
    pub fn describe(&self) -> String {
        match self {
            AnyChain::Local(c) => c.path().display().to_string(),
            AnyChain::Subtensor(c) => c.url().to_owned(),
        }
    }
}

impl Chain for AnyChain {
    async fn metagraph(&self) -> Result<Metagraph, Error> {
        match self {
            AnyChain::Local(c) => c.metagraph().await,
            AnyChain::Subtensor(c) => c.metagraph().await,
        }
    }

    async fn serve_axon(&self, signer: &Keypair, axon: SocketAddr) -> Result<Served, Error> {
        match self {
            AnyChain::Local(c) => c.serve_axon(signer, axon).await,
            AnyChain::Subtensor(c) => c.serve_axon(signer, axon).await,
        }
    }

    async fn set_weights(&self, signer: &Keypair, weights: &ChainWeights) -> Result<u64, Error> {
        match self {
            AnyChain::Local(c) => c.set_weights(signer, weights).await,
            AnyChain::Subtensor(c) => c.set_weights(signer, weights).await,
        }
    }

    async fn commit_weights(&self, signer: &Keypair, hash: [u8; 32]) -> Result<u64, Error> {
        match self {
            AnyChain::Local(c) => c.commit_weights(signer, hash).await,
            AnyChain::Subtensor(c) => c.commit_weights(signer, hash).await,
        }
    }

    async fn reveal_weights(&self, signer: &Keypair, reveal: &Reveal) -> Result<u64, Error> {
        match self {
            AnyChain::Local(c) => c.reveal_weights(signer, reveal).await,
            AnyChain::Subtensor(c) => c.reveal_weights(signer, reveal).await,
        }
    }
}
