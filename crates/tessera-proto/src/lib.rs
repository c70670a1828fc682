//! The gRPC protocol of Tessera, generated from `proto/`; re-exports tonic and prost so that node
//! crates use the very versions the code was generated for.

pub use prost;
pub use tonic;

/// `tessera.miner.v1`: the service a miner offers to validators.
pub mod miner {
    pub mod v1 {
        tonic::include_proto!("tessera.miner.v1");

        /// Full method paths, as signed by callers (see `tessera_core::auth`).
        pub mod methods {
            pub const PING: &str = "/tessera.miner.v1.Miner/Ping";
            pub const INFO: &str = "/tessera.miner.v1.Miner/Info";
            pub const CHALLENGE: &str = "/tessera.miner.v1.Miner/Challenge";
            pub const STORE: &str = "/tessera.miner.v1.Miner/Store";
            pub const RETRIEVE: &str = "/tessera.miner.v1.Miner/Retrieve";
            pub const RELEASE: &str = "/tessera.miner.v1.Miner/Release";
            pub const SYNC: &str = "/tessera.miner.v1.Miner/Sync";
        }
    }
}

/// `tessera.gateway.v1`: the service a validator offers to clients.
pub mod gateway {
    pub mod v1 {
        tonic::include_proto!("tessera.gateway.v1");

        /// Full method paths, as signed by clients.
        pub mod methods {
            pub const PARAMS: &str = "/tessera.gateway.v1.Gateway/Params";
            pub const PUT: &str = "/tessera.gateway.v1.Gateway/Put";
            pub const GET: &str = "/tessera.gateway.v1.Gateway/Get";
            pub const STAT: &str = "/tessera.gateway.v1.Gateway/Stat";
            pub const LIST: &str = "/tessera.gateway.v1.Gateway/List";
            pub const DELETE: &str = "/tessera.gateway.v1.Gateway/Delete";
            pub const CREATE_S3_KEY: &str = "/tessera.gateway.v1.Gateway/CreateS3Key";
            pub const LIST_S3_KEYS: &str = "/tessera.gateway.v1.Gateway/ListS3Keys";
            pub const REVOKE_S3_KEY: &str = "/tessera.gateway.v1.Gateway/RevokeS3Key";
        }
    }
}

/// The encoded `FileDescriptorSet` of every file in `proto/`, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/tessera_descriptor.bin"));
