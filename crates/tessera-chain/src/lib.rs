//! Where the metagraph comes from: for now a local TOML file, later Subtensor, behind one trait.

mod error;
mod local;
mod metagraph;

use std::future::Future;

pub use error::Error;
pub use local::LocalChain;
pub use metagraph::{Metagraph, Neuron};

/// A source of the subnet's metagraph.
///
/// It is deliberately this small for now: a Subtensor backend, and `set_weights` for validators,
/// come in a later issue and will extend it then.
pub trait Chain {
    /// The current metagraph; asked afresh at every reallocation so that changes are picked up.
    fn metagraph(&self) -> impl Future<Output = Result<Metagraph, Error>> + Send;
}
