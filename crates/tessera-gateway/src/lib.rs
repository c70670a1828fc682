//! The client-data gateway: clients put, get, list and delete their objects through a
//! validator. Segments arrive encrypted (or are sealed here, for plain HTTP); the gateway spreads
//! them into pieces on miners, records every placement in the state database, and on a get
//! gathers any k checked pieces per segment. It repairs weak segments, gives space back when
//! objects end, and keeps the book of slots in motion that the challenge loop reads.
//!
//! It knows nothing of challenges, scores or weights: the validator binary composes it with the
//! challenge loop, reads its [`Ledger`] and [`Slots`], and calls its sweeps once a round. It never
//! holds a client's key, and at most a few segments of an object are in memory at once.

mod config;
mod error;
mod gateway;
mod get;
pub mod http;
mod ledger;
mod md5x;
mod metrics;
mod miners;
mod objects;
mod plain;
mod put;
mod reclaim;
mod repair;
pub mod s3;
mod s3keys;
mod service;
mod slots;

pub use config::{DataConfig, S3Config};
pub use error::{Error, MinerError};
pub(crate) use gateway::PIPELINE;
pub use gateway::{Gateway, GatewayState};
pub use ledger::Ledger;
pub use metrics::GatewayMetrics;
pub use miners::{Holder, Miners};
pub use reclaim::{PENDING_GRACE, reclaim, release_pending};
pub use repair::{Sweep, sweep};
pub use s3keys::{AccessKey, MAX_KEYS_PER_OWNER};
pub use service::GatewayService;
pub use slots::{RESEAL_GRACE, Slots};
