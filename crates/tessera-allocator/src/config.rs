//! The allocator's settings, layered like every node's (`tessera_node::load_layered`):
//! defaults < TOML file < `TESSERA_*` environment < command-line flags given.

use std::path::PathBuf;

use figment::providers::Serialized;
use figment::value::{Dict, Map};
use figment::{Metadata, Profile, Provider};
use serde::{Deserialize, Serialize};
use tessera_core::constants::{DEFAULT_CHUNK_SIZE, DEFAULT_NETUID, DEFAULT_THRESHOLD};
use tessera_node::{
    ByteSize, LoggingConfig, MetagraphConfig, SubtensorConfig, WalletConfig, load_layered,
};

use crate::Error;

/// Everything `allocate` needs to know. Names follow the prototype's flags.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub db_path: PathBuf,
    pub wallet: WalletConfig,
    pub netuid: u16,
    /// Share of the free space under `db_path` to allocate, unless `capacity` is set.
    pub threshold: f64,
    pub subtensor: SubtensorConfig,
    pub metagraph: MetagraphConfig,
    /// Start over: delete existing partitions first.
    pub restart: bool,
    /// Sealing threads; 0 means one per core.
    pub workers: usize,
    pub no_prompt: bool,
    /// Prepare the validator side (hash databases) instead of the miner's partitions.
    pub validator: bool,
    pub logging: LoggingConfig,
    pub chunk_size: ByteSize,
    /// Seal profile name: `dev` or `production`.
    pub seal: String,
    /// Total space to allocate, overriding the threshold computation.
    pub capacity: Option<ByteSize>,
    /// Check what is stored instead of allocating.
    pub verify: bool,
    /// With `validator`: how many chunk roots to derive per miner.
    pub samples: u64,
    /// Least stake a neuron with a validator permit needs to count as a validator.
    pub min_stake: f64,
    /// Seconds a partition holding client data is kept after its validator leaves the plan;
    /// a partition of filler alone goes at once.
    pub partition_grace_secs: u64,
}

/// A week: a validator's permit can lapse for an epoch or a few and come back, and the data it
/// placed must still be there when it does.
pub const DEFAULT_PARTITION_GRACE_SECS: u64 = 7 * 24 * 3600;

impl Default for Config {
    fn default() -> Self {
        Self {
            db_path: tessera_node::default_db_path(),
            wallet: WalletConfig::default(),
            netuid: DEFAULT_NETUID,
            threshold: DEFAULT_THRESHOLD,
            subtensor: SubtensorConfig::default(),
            metagraph: MetagraphConfig::default(),
            restart: false,
            workers: 0,
            no_prompt: false,
            validator: false,
            logging: LoggingConfig::default(),
            chunk_size: ByteSize(DEFAULT_CHUNK_SIZE),
            seal: "production".into(),
            capacity: None,
            verify: false,
            samples: 64,
            min_stake: 0.0,
            partition_grace_secs: DEFAULT_PARTITION_GRACE_SECS,
        }
    }
}

impl Provider for Config {
    fn metadata(&self) -> Metadata {
        Metadata::named("tessera defaults")
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Serialized::defaults(self).data()
    }
}

impl Config {
    /// Layers the sources in order. `file` is the `--config` TOML, if any; `flags` holds only
    /// the flags the user actually gave, as dotted keys.
    pub fn load(
        file: Option<&std::path::Path>,
        flags: &[(String, figment::value::Value)],
    ) -> Result<Self, Error> {
        Ok(load_layered(Config::default(), file, flags)?)
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
                "allocate.toml",
                r#"
                threshold = 0.5
                seal = "dev"
                [wallet]
                name = "from-file"
                hotkey = "file-hot"
                "#,
            )?;
            jail.set_env("TESSERA_WALLET__NAME", "from-env");
            jail.set_env("TESSERA_NETUID", "7");
            let flags = vec![("netuid".to_owned(), Value::from(9u16))];
            let config = Config::load(Some(std::path::Path::new("allocate.toml")), &flags)
                .map_err(|e| e.to_string())?;
            assert_eq!(config.threshold, 0.5, "file over default");
            assert_eq!(config.seal, "dev");
            assert_eq!(config.wallet.name, "from-env", "env over file");
            assert_eq!(config.wallet.hotkey, "file-hot");
            assert_eq!(config.netuid, 9, "flag over env");
            assert_eq!(config.workers, 0, "default kept");
            Ok(())
        });
    }

    #[test]
    fn defaults_alone() {
        Jail::expect_with(|_| {
            let config = Config::load(None, &[]).map_err(|e| e.to_string())?;
            assert_eq!(config, Config::default());
            Ok(())
        });
    }

    #[test]
    fn bad_sources_are_one_line_errors() {
        Jail::expect_with(|jail| {
            jail.create_file("typo.toml", "treshold = 0.5")?;
            let err = Config::load(Some(std::path::Path::new("typo.toml")), &[]).unwrap_err();
            let text = err.to_string();
            assert!(text.contains("treshold"), "{text}");
            assert!(!text.contains('\n'));

            let err = Config::load(Some(std::path::Path::new("missing.toml")), &[]).unwrap_err();
            assert!(err.to_string().contains("missing.toml"), "{err}");

            jail.set_env("TESSERA_CHUNK_SIZE", "lots");
            let err = Config::load(None, &[]).unwrap_err();
            assert!(err.to_string().contains("lots"), "{err}");
            Ok(())
        });
    }

    proptest::proptest! {
        /// Fuzzing on stable Rust: any settings file, and sizes as text, give a value or one
        /// line of error; never a panic. `cargo xtask fuzz` runs many more cases.
        #[test]
        fn fuzz_config_parsing(
            text in "(([a-z_.]{1,12} = )?[ -~\\n]{0,40}\\n){0,6}",
            size in ".{0,24}",
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("fuzz.toml");
            std::fs::write(&path, &text).unwrap();
            if let Err(e) = Config::load(Some(&path), &[]) {
                let line = e.to_string();
                proptest::prop_assert!(!line.contains('\n'), "{line}");
            }
            let _ = size.parse::<ByteSize>();
        }
    }
}
