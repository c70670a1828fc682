//! The miner's settings: the allocator's (it provisions through the allocator library) plus
//! where it listens, whom it serves and when it reallocates. Layered like every node's:
//! defaults < TOML file < `TESSERA_*` environment < flags given.

use std::collections::HashSet;
use std::path::PathBuf;
use std::str::FromStr;

use figment::value::{Dict, Map};
use figment::{Metadata, Profile, Provider};
use serde::{Deserialize, Serialize};
use tessera_core::AccountId;
use tessera_node::{
    ByteSize, LoggingConfig, MetagraphConfig, MetricsConfig, SubtensorConfig, WalletConfig,
};

use crate::Error;

/// Where the miner listens, in Bittensor's flag names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AxonConfig {
    pub ip: String,
    pub port: u16,
    /// The IP published on chain for validators to dial; the bound IP when unset.
    pub external_ip: Option<String>,
    /// The port published on chain; the bound port when unset.
    pub external_port: Option<u16>,
}

/// How requests are authenticated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// A request's timestamp may differ from the miner's clock by at most this many seconds.
    pub timestamp_window: u64,
    /// Requests larger than this many bytes are refused before they are decoded.
    pub max_request_bytes: usize,
    /// Nonces remembered per caller within the window; past it the caller is refused.
    pub nonces_per_caller: usize,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlacklistConfig {
    /// Hotkeys (SS58) refused whatever the metagraph says.
    pub hotkeys: Vec<String>,
}

/// What an operator caps: the miner must never take the machine from under its owner.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Proof bytes served per second, over all validators; 0 is unlimited.
    pub bandwidth: ByteSize,
    /// Requests handled at once; more wait their turn.
    pub concurrent_requests: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiskConfig {
    /// Below this much free space the miner logs a warning and sets `tessera_miner_disk_low`.
    pub min_free: ByteSize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub db_path: PathBuf,
    pub wallet: WalletConfig,
    pub netuid: u16,
    pub threshold: f64,
    pub subtensor: SubtensorConfig,
    pub metagraph: MetagraphConfig,
    /// Start over at launch: delete and reseal the partitions.
    pub restart: bool,
    pub logging: LoggingConfig,
    pub chunk_size: ByteSize,
    pub seal: String,
    pub capacity: Option<ByteSize>,
    /// Sealing threads; 0 means one per core.
    pub workers: usize,
    pub axon: AxonConfig,
    /// Least stake a validator needs to be served.
    pub min_stake: f64,
    pub auth: AuthConfig,
    pub blacklist: BlacklistConfig,
    /// Seconds per step: how often the metagraph is re-read.
    pub step_secs: u64,
    /// Reallocate every this many steps.
    pub steps_per_reallocate: u64,
    /// Most challenge items answered in one request.
    pub max_challenge_items: usize,
    pub metrics: MetricsConfig,
    pub limits: LimitsConfig,
    pub disk: DiskConfig,
    /// Seconds a partition holding client data is kept after its validator leaves the plan.
    pub partition_grace_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        let alloc = tessera_allocator::Config::default();
        Self {
            db_path: alloc.db_path,
            wallet: alloc.wallet,
            netuid: alloc.netuid,
            threshold: alloc.threshold,
            subtensor: alloc.subtensor,
            metagraph: alloc.metagraph,
            restart: false,
            logging: alloc.logging,
            chunk_size: alloc.chunk_size,
            seal: alloc.seal,
            capacity: None,
            workers: 0,
            partition_grace_secs: alloc.partition_grace_secs,
            axon: AxonConfig {
                ip: "0.0.0.0".into(),
                port: 8091,
                external_ip: None,
                external_port: None,
            },
            min_stake: 0.0,
            auth: AuthConfig {
                timestamp_window: 30,
                max_request_bytes: 64 << 10,
                nonces_per_caller: 100_000,
            },
            blacklist: BlacklistConfig::default(),
            step_secs: 12,
            steps_per_reallocate: 50,
            max_challenge_items: 256,
            metrics: MetricsConfig::default(),
            limits: LimitsConfig {
                bandwidth: ByteSize(0),
                concurrent_requests: 64,
            },
            disk: DiskConfig {
                min_free: ByteSize(1 << 30),
            },
        }
    }
}

impl Provider for Config {
    fn metadata(&self) -> Metadata {
        Metadata::named("tessera-miner defaults")
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        figment::providers::Serialized::defaults(self).data()
    }
}

impl Config {
    pub fn load(
        file: Option<&std::path::Path>,
        flags: &[(String, figment::value::Value)],
    ) -> Result<Self, Error> {
        let config = tessera_node::load_layered(Config::default(), file, flags)?;
        config.blacklisted()?;
        Ok(config)
    }

    /// The settings of the allocation the miner runs at start and at every reallocation.
    pub fn allocator(&self, restart: bool) -> tessera_allocator::Config {
        tessera_allocator::Config {
            db_path: self.db_path.clone(),
            wallet: self.wallet.clone(),
            netuid: self.netuid,
            threshold: self.threshold,
            subtensor: self.subtensor.clone(),
            metagraph: self.metagraph.clone(),
            restart,
            workers: self.workers,
            no_prompt: true,
            logging: self.logging.clone(),
            chunk_size: self.chunk_size,
            seal: self.seal.clone(),
            capacity: self.capacity,
            min_stake: self.min_stake,
            partition_grace_secs: self.partition_grace_secs,
            ..tessera_allocator::Config::default()
        }
    }

    /// The blacklist as hotkeys; a bad address is a config error naming it.
    pub fn blacklisted(&self) -> Result<HashSet<AccountId>, Error> {
        self.blacklist
            .hotkeys
            .iter()
            .map(|h| {
                AccountId::from_str(h).map_err(|e| Error::Config(format!("blacklist.hotkeys: {e}")))
            })
            .collect()
    }

    /// The node's folder, `<db_path>/<wallet.name>/<wallet.hotkey>`.
    pub fn node_dir(&self) -> PathBuf {
        tessera_node::node_dir(
            &tessera_core::expand_tilde(&self.db_path),
            &self.wallet.name,
            &self.wallet.hotkey,
        )
    }
}

#[cfg(test)]
// figment's `Jail` closures must return its own (large) error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;
    use figment::value::Value;

    #[test]
    fn layers_override_in_order() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "miner.toml",
                r#"
                min_stake = 10.0
                steps_per_reallocate = 7
                [axon]
                ip = "127.0.0.1"
                port = 9000
                [auth]
                timestamp_window = 5
                max_request_bytes = 1000
                nonces_per_caller = 10
                "#,
            )?;
            jail.set_env("TESSERA_AXON__PORT", "9001");
            jail.set_env("TESSERA_MIN_STAKE", "20");
            let flags = vec![("min_stake".to_owned(), Value::from(30.0))];
            let c = Config::load(Some(std::path::Path::new("miner.toml")), &flags)
                .map_err(|e| e.to_string())?;
            assert_eq!(c.axon.ip, "127.0.0.1", "file over default");
            assert_eq!(c.axon.port, 9001, "env over file");
            assert_eq!(c.min_stake, 30.0, "flag over env");
            assert_eq!(c.steps_per_reallocate, 7);
            assert_eq!(c.auth.timestamp_window, 5);
            assert_eq!(c.step_secs, 12, "default kept");
            Ok(())
        });
    }

    #[test]
    fn bad_blacklist_entry_is_named() {
        Jail::expect_with(|jail| {
            jail.create_file("m.toml", "[blacklist]\nhotkeys = [\"5Nope\"]\n")?;
            let err = Config::load(Some(std::path::Path::new("m.toml")), &[]).unwrap_err();
            let text = err.to_string();
            assert!(
                text.contains("blacklist.hotkeys") && text.contains("5Nope"),
                "{text}"
            );
            Ok(())
        });
    }

    /// deploy/examples/miner.toml names every setting, and its values are the defaults except
    /// the paths and the metrics address it sets for systemd.
    #[test]
    fn example_config_covers_every_setting() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../deploy/examples/miner.toml"
        );
        let missing = tessera_testkit::missing_settings(&Config::default(), path.as_ref());
        assert!(missing.is_empty(), "miner.toml lacks {missing:?}");
        Jail::expect_with(|_| {
            let loaded =
                Config::load(Some(std::path::Path::new(path)), &[]).map_err(|e| e.to_string())?;
            let mut expected = Config {
                db_path: "/var/lib/tessera/db".into(),
                ..Config::default()
            };
            expected.wallet.path = "/var/lib/tessera/wallets".into();
            expected.metrics.addr = loaded.metrics.addr.clone();
            assert!(expected.metrics.addr.is_some());
            assert_eq!(loaded, expected);
            Ok(())
        });
    }
}
