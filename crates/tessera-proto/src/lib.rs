//! The gRPC protocol of Tessera, generated from `proto/`; re-exports tonic and prost so that node
//! crates use the very versions the code was generated for.

pub use prost;
pub use tonic;

/// `tessera.miner.v1`: the service a miner offers to validators.
pub mod miner {
    pub mod v1 {
        tonic::include_proto!("tessera.miner.v1");
    }
}
