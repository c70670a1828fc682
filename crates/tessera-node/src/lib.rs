//! What every Tessera node binary shares and nothing else: the common flags and how settings
//! are layered, the wallet, chain, logging and metrics settings, logging itself, the Prometheus
//! endpoint, the runtime, shutdown and systemd's notifications, byte sizes, and the node's folder.
//!
//! It knows no gRPC, no SQL, no chain and no part of the protocol beyond loading a hotkey: the allocator,
//! miner, validator and client build on it, and it on none of them.

mod args;
mod config;
mod error;
mod logging;
mod metrics;
pub mod notify;
mod shutdown;
mod size;

pub use args::{CommonArgs, Overrides, ServiceArgs, fail, parse, runtime};
pub use config::{
    LoggingConfig, MetagraphConfig, MetricsConfig, SubtensorConfig, WalletConfig, default_db_path,
    load_layered, node_dir,
};
pub use error::Error;
pub use logging::init_logging;
pub use metrics::{ChainGauges, sample, scrape, serve_metrics, start_metrics, total};
pub use shutdown::{stop_signal, terminated};
pub use size::{ByteSize, SizeError};
pub use tokio_util::sync::CancellationToken;
pub use tokio_util::task::TaskTracker;
