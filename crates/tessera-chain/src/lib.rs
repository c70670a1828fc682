//! Where the metagraph comes from, and where a validator's weights go: for now local TOML files,
//! later Subtensor, behind one trait.

mod error;
mod local;
mod metagraph;
mod weights;

use std::future::Future;

use tessera_core::AccountId;

pub use error::Error;
pub use local::LocalChain;
pub use metagraph::{Metagraph, Neuron};
pub use weights::{WEIGHT_SUM_TOLERANCE, WeightsRecord};

/// A source of the subnet's metagraph and a sink for validators' weights.
///
/// It is deliberately small: a Subtensor backend comes in a later issue and may extend it then.
pub trait Chain {
    /// The current metagraph; asked afresh at every reallocation so that changes are picked up.
    fn metagraph(&self) -> impl Future<Output = Result<Metagraph, Error>> + Send;

    /// Sets `validator`'s weights: (uid, weight) pairs whose weights are finite, not negative and
    /// sum to 1 (within [`WEIGHT_SUM_TOLERANCE`]), each uid once; an empty set clears them.
    /// Anything else is refused and the weights set before stay.
    fn set_weights(
        &self,
        validator: &AccountId,
        weights: &[(u16, f64)],
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// The weights `validator` last set, or `None` if it never set any.
    fn weights(
        &self,
        validator: &AccountId,
    ) -> impl Future<Output = Result<Option<WeightsRecord>, Error>> + Send;
}
