//! Network-wide constants and defaults, named once so that every node agrees on them.

/// Size of a Merkle leaf: a challenge is answered with one segment and its path.
pub const SEGMENT_SIZE: usize = 1024;

/// Default chunk size (the seed's `CHUNK_SIZE`, 1 MiB).
pub const DEFAULT_CHUNK_SIZE: u64 = 1 << 20;

/// The seed's `MIN_N_CHUNKS`: the smallest claim a miner is expected to make in total.
pub const MIN_N_CHUNKS: u64 = 1 << 10;

/// Default share of the free space under `db_path` that a miner allocates.
pub const DEFAULT_THRESHOLD: f64 = 0.0001;

/// Default subnet uid.
pub const DEFAULT_NETUID: u16 = 1;

/// SS58 address prefix of the generic Substrate format used by Bittensor.
pub const SS58_PREFIX: u8 = 42;

/// Signing context of sr25519 signatures, the one Substrate and Bittensor use.
pub const SIGNING_CONTEXT: &[u8] = b"substrate";
