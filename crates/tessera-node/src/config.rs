//! The settings every node shares, and how any node's settings are layered: defaults < TOML
//! file < `TESSERA_*` environment < command-line flags, where a flag left unset overrides nothing.

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::{Dict, Map};
use figment::{Figment, Metadata, Profile, Provider};
use serde::{Deserialize, Serialize};

use crate::Error;

/// Which Bittensor wallet holds the node's hotkey.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalletConfig {
    pub name: String,
    pub hotkey: String,
    pub path: PathBuf,
}

impl Default for WalletConfig {
    /// Bittensor's own defaults, so a node finds the wallet `btcli` made.
    fn default() -> Self {
        Self {
            name: "default".into(),
            hotkey: "default".into(),
            path: PathBuf::from("~/.bittensor/wallets"),
        }
    }
}

impl WalletConfig {
    /// Loads the hotkey this wallet names, `~` expanded.
    pub fn keypair(&self) -> Result<tessera_core::Keypair, tessera_core::Error> {
        tessera_core::Wallet::new(
            tessera_core::expand_tilde(&self.path),
            &self.name,
            &self.hotkey,
        )?
        .load_hotkey()
    }
}

/// Which Subtensor network the node follows, in Bittensor's terms.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubtensorConfig {
    /// `finney`, `test`, `local` (ws://127.0.0.1:9944) or a ws:// or wss:// URL.
    pub network: String,
    /// A node's URL; wins over `network` when set.
    pub chain_endpoint: Option<String>,
}

impl Default for SubtensorConfig {
    fn default() -> Self {
        Self {
            network: "finney".into(),
            chain_endpoint: None,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetagraphConfig {
    /// A local metagraph file standing in for the chain (the devnet and tests); unset follows
    /// the chain that `subtensor.network` names.
    pub path: Option<PathBuf>,
}

impl MetagraphConfig {
    /// The metagraph file, `~` expanded, when one stands in for the chain. With the subtensor
    /// settings it is what `tessera_chain::Source::choose` takes: this crate knows no chain.
    pub fn file(&self) -> Option<PathBuf> {
        self.path.as_deref().map(tessera_core::expand_tilde)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggingConfig {
    pub debug: bool,
    pub trace: bool,
    /// One JSON object per line, for journald and log shippers.
    pub json: bool,
}

/// A node's Prometheus endpoint.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// `host:port` to serve `/metrics` on; unset serves nothing. Bind it to localhost unless a
    /// firewall guards the port.
    pub addr: Option<String>,
}

/// Where every node keeps its files unless told otherwise: the prototype's folder.
pub fn default_db_path() -> PathBuf {
    PathBuf::from("~/bittensor-db")
}

/// The node's folder: `<db_path>/<wallet.name>/<wallet.hotkey>`.
pub fn node_dir(db_path: &Path, wallet_name: &str, hotkey: &str) -> PathBuf {
    db_path.join(wallet_name).join(hotkey)
}

/// Layers `defaults` < the TOML `file` < `TESSERA_*` environment < `flags` (only the flags given,
/// as dotted keys) into a node's settings. Every binary's config loads this way.
pub fn load_layered<T>(
    defaults: T,
    file: Option<&Path>,
    flags: &[(String, figment::value::Value)],
) -> Result<T, Error>
where
    T: Provider + serde::de::DeserializeOwned,
{
    let mut figment = Figment::from(defaults);
    if let Some(path) = file {
        if !path.is_file() {
            return Err(Error::Config(format!(
                "config file {} does not exist",
                path.display()
            )));
        }
        figment = figment.merge(Toml::file_exact(path));
    }
    // TESSERA_WALLET__NAME sets wallet.name: a double underscore nests, since keys such as
    // db_path contain single ones.
    figment = figment.merge(Env::prefixed("TESSERA_").split("__"));
    for (key, value) in flags {
        figment = figment.merge(Flag(key, value));
    }
    figment.extract().map_err(|e| Error::Config(one_line(&e)))
}

/// One command-line flag as a figment source, so that a bad value is reported as
/// `for key "--capacity" in the command line` rather than under figment's tuple type name.
struct Flag<'a>(&'a str, &'a figment::value::Value);

impl Provider for Flag<'_> {
    fn metadata(&self) -> Metadata {
        Metadata::named("the command line")
            .interpolater(|_: &Profile, keys: &[&str]| format!("--{}", keys.join(".")))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Serialized::global(self.0, self.1).data()
    }
}

/// figment errors can chain several; the first, with where it came from, is the useful line.
fn one_line(e: &figment::Error) -> String {
    let mut text = e.to_string();
    if let Some(first) = text.lines().next() {
        text = first.to_owned();
    }
    text
}

#[cfg(test)]
// figment's `Jail` closures must return its own (large) error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;
    use figment::value::Value;

    /// A node's settings in miniature: one nested table, one plain key.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Settings {
        netuid: u16,
        wallet: WalletConfig,
        logging: LoggingConfig,
    }

    impl Provider for Settings {
        fn metadata(&self) -> Metadata {
            Metadata::named("test defaults")
        }
        fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
            Serialized::defaults(self).data()
        }
    }

    fn defaults() -> Settings {
        Settings {
            netuid: 1,
            wallet: WalletConfig::default(),
            logging: LoggingConfig::default(),
        }
    }

    #[test]
    fn layers_override_in_order() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "node.toml",
                "netuid = 3\n[wallet]\nname = \"from-file\"\nhotkey = \"file-hot\"\n",
            )?;
            jail.set_env("TESSERA_WALLET__NAME", "from-env");
            jail.set_env("TESSERA_NETUID", "7");
            let flags = vec![
                ("netuid".to_owned(), Value::from(9u16)),
                ("logging.json".to_owned(), Value::from(true)),
            ];
            let got = load_layered(defaults(), Some(Path::new("node.toml")), &flags)
                .map_err(|e| e.to_string())?;
            assert_eq!(got.wallet.name, "from-env", "env over file");
            assert_eq!(got.wallet.hotkey, "file-hot", "file over default");
            assert_eq!(got.wallet.path, PathBuf::from("~/.bittensor/wallets"));
            assert_eq!(got.netuid, 9, "flag over env");
            assert!(got.logging.json && !got.logging.debug);
            Ok(())
        });
    }

    #[test]
    fn bad_sources_are_one_line_errors_naming_the_source() {
        Jail::expect_with(|jail| {
            let check = |file: Option<&str>, part: &str| {
                let err = load_layered(defaults(), file.map(Path::new), &[]).unwrap_err();
                let text = err.to_string();
                assert!(text.contains(part), "{text} lacks {part}");
                assert!(!text.contains('\n'), "{text}");
            };
            jail.create_file("typo.toml", "netuidd = 3")?;
            check(Some("typo.toml"), "netuidd");
            check(Some("missing.toml"), "missing.toml");
            jail.set_env("TESSERA_NETUID", "many");
            check(None, "many");
            let flags = vec![("netuid".to_owned(), Value::from("x"))];
            jail.set_env("TESSERA_NETUID", "2");
            let err = load_layered(defaults(), None, &flags).unwrap_err();
            assert!(err.to_string().contains("--netuid"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn node_dir_nests_wallet_then_hotkey() {
        assert_eq!(
            node_dir(Path::new("/db"), "w", "h"),
            PathBuf::from("/db/w/h")
        );
    }
}
