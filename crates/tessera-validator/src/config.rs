//! The validator's settings, layered like every node's: defaults < TOML file < `TESSERA_*`
//! environment < flags given.

use std::path::PathBuf;

use figment::value::{Dict, Map};
use figment::{Metadata, Profile, Provider};
use serde::{Deserialize, Serialize};
use tessera_core::constants::{DEFAULT_CHUNK_SIZE, DEFAULT_NETUID};
pub use tessera_gateway::{DataConfig, S3Config};
use tessera_node::{
    ByteSize, LoggingConfig, MetagraphConfig, MetricsConfig, SubtensorConfig, WalletConfig,
};

use crate::Error;

/// Where the validator's own endpoint (health and reflection) listens.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AxonConfig {
    pub ip: String,
    pub port: u16,
}

/// How miners are challenged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengeConfig {
    /// Items per miner per round.
    pub items: u32,
    /// Milliseconds allowed past the measured round-trip time.
    pub slack_ms: u64,
    /// A round-trip time above this fails the round: the miner answers `Ping`, so without a cap
    /// it could stall its pings to stretch its deadline long enough to regenerate chunks.
    pub max_rtt_ms: u64,
}

/// How the validator audits miners' commitments (challenges v2): it seals secret random slots
/// itself and checks that the committed leaf is that seal's root. These seals are its only
/// seals; challenge items are checked with hashes alone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// Slots of a new commitment audited before any of its capacity counts.
    pub initial: u32,
    /// Share of one core that background audits may keep busy sealing, spread over the miners.
    pub cpu_share: f64,
    /// Share of one core for the initial audits of new commitments, which come first.
    pub initial_cpu_share: f64,
    /// Sealed roots kept ready per miner for its next audits.
    pub pool: u32,
    /// How long a miner caught lying is barred (weight 0), in seconds; afterwards it must commit
    /// afresh and pass a new initial audit.
    pub bar_secs: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub db_path: PathBuf,
    pub wallet: WalletConfig,
    pub netuid: u16,
    pub subtensor: SubtensorConfig,
    pub metagraph: MetagraphConfig,
    pub logging: LoggingConfig,
    pub axon: AxonConfig,
    /// Least stake a neuron with a validator permit needs to count as a validator; the others
    /// are challenged as miners.
    pub min_stake: f64,
    /// The chunk size miners must use; a miner reporting another fails its challenges.
    pub chunk_size: ByteSize,
    /// The seal profile miners must use, `dev` or `production`.
    pub seal: String,
    /// Seconds between challenge rounds.
    pub round_secs: u64,
    /// Seconds between weight settings.
    pub epoch_secs: u64,
    pub challenge: ChallengeConfig,
    pub audit: AuditConfig,
    pub data: DataConfig,
    pub s3: S3Config,
    pub metrics: MetricsConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            db_path: tessera_node::default_db_path(),
            wallet: WalletConfig::default(),
            netuid: DEFAULT_NETUID,
            subtensor: SubtensorConfig::default(),
            metagraph: MetagraphConfig::default(),
            logging: LoggingConfig::default(),
            axon: AxonConfig {
                ip: "0.0.0.0".into(),
                port: 8092,
            },
            min_stake: 0.0,
            chunk_size: ByteSize(DEFAULT_CHUNK_SIZE),
            seal: "production".into(),
            round_secs: 12,
            epoch_secs: 360,
            challenge: ChallengeConfig {
                items: 8,
                slack_ms: 250,
                max_rtt_ms: 500,
            },
            audit: AuditConfig {
                initial: 64,
                cpu_share: 0.2,
                initial_cpu_share: 0.5,
                pool: 16,
                bar_secs: 7 * 24 * 3600,
            },
            data: DataConfig {
                k: 4,
                n: 8,
                repair_threshold: 0,
                default_ttl_secs: 30 * 24 * 3600,
                max_ttl_secs: 365 * 24 * 3600,
                hedge_ms: 500,
                quota_per_client: ByteSize(10 << 30),
                http: None,
            },
            s3: S3Config::default(),
            metrics: MetricsConfig::default(),
        }
    }
}

impl Provider for Config {
    fn metadata(&self) -> Metadata {
        Metadata::named("tessera-validator defaults")
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
        if config.challenge.items == 0 {
            return Err(Error::Config("challenge.items must be at least 1".into()));
        }
        let a = &config.audit;
        for (name, share) in [
            ("audit.cpu_share", a.cpu_share),
            ("audit.initial_cpu_share", a.initial_cpu_share),
        ] {
            if !(share > 0.0 && share <= 1.0) {
                return Err(Error::Config(format!(
                    "{name} = {share}: must be above 0 and at most 1 (one core)"
                )));
            }
        }
        if a.initial == 0 || a.pool == 0 {
            return Err(Error::Config(
                "audit.initial and audit.pool must be at least 1".into(),
            ));
        }
        let d = &config.data;
        if d.k == 0 || d.k >= d.n {
            return Err(Error::Config(format!(
                "data.k = {} and data.n = {}: need 1 <= k < n",
                d.k, d.n
            )));
        }
        if d.repair_threshold != 0 && (d.repair_threshold < d.k || d.repair_threshold >= d.n) {
            return Err(Error::Config(format!(
                "data.repair_threshold = {}: must lie between data.k = {} and data.n - 1 = {}",
                d.repair_threshold,
                d.k,
                d.n - 1
            )));
        }
        if d.default_ttl_secs == 0 || d.default_ttl_secs > d.max_ttl_secs {
            return Err(Error::Config(format!(
                "data.default_ttl_secs = {}: must be at least 1 and at most data.max_ttl_secs = {}",
                d.default_ttl_secs, d.max_ttl_secs
            )));
        }
        tessera_core::merkle::segment_count(config.chunk_size.0)
            .map_err(|e| Error::Config(format!("chunk_size: {e}")))?;
        config
            .seal
            .parse::<tessera_partition::SealProfile>()
            .map_err(|e| Error::Config(format!("seal: {e}")))?;
        Ok(config)
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
                "validator.toml",
                "round_secs = 3\nseal = \"dev\"\n[challenge]\nitems = 4\nslack_ms = 100\n[audit]\npool = 8\n",
            )?;
            jail.set_env("TESSERA_CHALLENGE__SLACK_MS", "120");
            jail.set_env("TESSERA_ROUND_SECS", "4");
            let flags = vec![("round_secs".to_owned(), Value::from(5u64))];
            let c = Config::load(Some(std::path::Path::new("validator.toml")), &flags)
                .map_err(|e| e.to_string())?;
            assert_eq!(c.challenge.items, 4, "file over default");
            assert_eq!(c.challenge.slack_ms, 120, "env over file");
            assert_eq!(c.round_secs, 5, "flag over env");
            assert_eq!(c.epoch_secs, 360, "default kept");
            Ok(())
        });
    }

    #[test]
    fn bad_values_are_named() {
        Jail::expect_with(|jail| {
            jail.set_env("TESSERA_SEAL", "fast");
            let err = Config::load(None, &[]).unwrap_err().to_string();
            assert!(err.contains("seal") && err.contains("fast"), "{err}");
            jail.set_env("TESSERA_SEAL", "dev");
            jail.set_env("TESSERA_AUDIT__CPU_SHARE", "1.5");
            let err = Config::load(None, &[]).unwrap_err().to_string();
            assert!(err.contains("audit.cpu_share = 1.5"), "{err}");
            Ok(())
        });
    }

    /// deploy/examples/validator.toml names every setting, and its values are the defaults except
    /// the paths and the metrics address it sets for systemd.
    #[test]
    fn example_config_covers_every_setting() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../deploy/examples/validator.toml"
        );
        let missing = tessera_testkit::missing_settings(&Config::default(), path.as_ref());
        assert!(missing.is_empty(), "validator.toml lacks {missing:?}");
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
