//! Where the metagraph comes from, and where a validator's weights go: a local TOML file standing
//! in for the chain, or the Subtensor chain itself, behind one trait.

mod any;
mod error;
mod follow;
mod local;
mod metagraph;
pub mod network;
mod subtensor;
pub mod weights;

use std::future::Future;
use std::net::SocketAddr;

use tessera_core::Keypair;

pub use any::AnyChain;
pub use error::Error;
pub use follow::{ChainStatus, Follower};
pub use local::LocalChain;
pub use metagraph::{Metagraph, Neuron, SubnetParams};
pub use network::Source;
pub use subtensor::{PROTOCOL_GRPC, Served, SubtensorChain};
pub use weights::{ChainWeights, Reveal, WEIGHT_SUM_TOLERANCE, WeightsRecord};

/// A source of the subnet's metagraph and a sink for what nodes publish: miners' axons and
/// validators' weights. Every write is signed by the node's hotkey and, on a chain, has landed in
/// a block when the future resolves; weight calls return that block's number (0 for a file), from
/// which the weights rate limit counts.
pub trait Chain: Send + Sync {
    /// The current metagraph, read afresh.
    fn metagraph(&self) -> impl Future<Output = Result<Metagraph, Error>> + Send;

    /// Publishes `axon` as where the signer's hotkey serves, unless the chain holds it already.
    fn serve_axon(
        &self,
        signer: &Keypair,
        axon: SocketAddr,
    ) -> impl Future<Output = Result<Served, Error>> + Send;

    /// Sets the signer's weights directly.
    fn set_weights(
        &self,
        signer: &Keypair,
        weights: &ChainWeights,
    ) -> impl Future<Output = Result<u64, Error>> + Send;

    /// Commits to weights by their hash ([`Reveal::commit_hash`]), to be revealed later.
    fn commit_weights(
        &self,
        signer: &Keypair,
        hash: [u8; 32],
    ) -> impl Future<Output = Result<u64, Error>> + Send;

    /// Reveals weights committed before.
    fn reveal_weights(
        &self,
        signer: &Keypair,
        reveal: &Reveal,
    ) -> impl Future<Output = Result<u64, Error>> + Send;
}
