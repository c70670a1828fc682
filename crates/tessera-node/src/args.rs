//! The flags every node binary shares and the start-up steps around them: parsing, the async
//! runtime, and the one `error:` line a failed start prints.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use figment::value::Value;

/// The flags every node shares: where the config, databases, wallet, chain and metagraph are,
/// and how loud to log. Flattened into each binary's own flags.
#[derive(Debug, clap::Args)]
pub struct CommonArgs {
    /// TOML file with any of the settings.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Where the databases live [default: ~/bittensor-db].
    #[arg(long = "db_path")]
    db_path: Option<PathBuf>,
    /// Wallet name [default: default].
    #[arg(long = "wallet.name")]
    wallet_name: Option<String>,
    /// Hotkey name [default: default].
    #[arg(long = "wallet.hotkey")]
    wallet_hotkey: Option<String>,
    /// Wallet folder [default: ~/.bittensor/wallets].
    #[arg(long = "wallet.path")]
    wallet_path: Option<PathBuf>,
    /// Subnet uid [default: 1].
    #[arg(long)]
    netuid: Option<u16>,
    /// Subtensor network: finney, test, local (ws://127.0.0.1:9944) or a ws:// or wss:// URL
    /// [default: finney].
    #[arg(long = "subtensor.network")]
    subtensor_network: Option<String>,
    /// Subtensor node URL; wins over --subtensor.network.
    #[arg(long = "subtensor.chain_endpoint")]
    subtensor_chain_endpoint: Option<String>,
    /// A local metagraph file to use instead of any chain (the devnet and tests).
    #[arg(long = "metagraph.path")]
    metagraph_path: Option<PathBuf>,
    /// Debug logging.
    #[arg(long = "logging.debug")]
    logging_debug: bool,
    /// Trace logging.
    #[arg(long = "logging.trace")]
    logging_trace: bool,
    /// Log one JSON object per line.
    #[arg(long = "logging.json")]
    logging_json: bool,
}

impl CommonArgs {
    /// Only the flags actually given, as dotted config keys: an unset flag overrides nothing.
    pub fn overrides(&self) -> Vec<(String, Value)> {
        let mut out = Overrides::default();
        out.path("db_path", &self.db_path);
        out.put("wallet.name", self.wallet_name.clone());
        out.put("wallet.hotkey", self.wallet_hotkey.clone());
        out.path("wallet.path", &self.wallet_path);
        out.put("netuid", self.netuid);
        out.put("subtensor.network", self.subtensor_network.clone());
        out.put(
            "subtensor.chain_endpoint",
            self.subtensor_chain_endpoint.clone(),
        );
        out.path("metagraph.path", &self.metagraph_path);
        out.flag("logging.debug", self.logging_debug);
        out.flag("logging.trace", self.logging_trace);
        out.flag("logging.json", self.logging_json);
        out.0
    }
}

/// The flags of a long-running node beside the common ones: its metrics endpoint.
#[derive(Debug, clap::Args)]
pub struct ServiceArgs {
    /// Serve Prometheus metrics at http://<addr>/metrics, such as 127.0.0.1:9101 [default: off].
    #[arg(long = "metrics.addr")]
    metrics_addr: Option<String>,
}

impl ServiceArgs {
    pub fn overrides(&self, out: &mut Overrides) {
        out.put("metrics.addr", self.metrics_addr.clone());
    }
}

/// Collects the flags a user gave as figment values under their dotted keys.
#[derive(Debug, Default)]
pub struct Overrides(pub Vec<(String, Value)>);

impl Overrides {
    pub fn put(&mut self, key: &str, value: Option<impl Into<Value>>) {
        if let Some(v) = value {
            self.0.push((key.to_owned(), v.into()));
        }
    }

    pub fn path(&mut self, key: &str, value: &Option<PathBuf>) {
        self.put(key, value.as_ref().map(|p| p.display().to_string()));
    }

    /// A switch overrides only when given: its absence leaves the file's or env's setting.
    pub fn flag(&mut self, key: &str, on: bool) {
        self.put(key, on.then_some(true));
    }
}

/// Parses a binary's flags; on `--help` or `--version` prints and exits 0, on a usage error
/// prints clap's message and exits 2.
pub fn parse<A: Parser, I, T>(args: I) -> Result<A, ExitCode>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    A::try_parse_from(args).map_err(|e| {
        let _ = e.print();
        ExitCode::from(if e.use_stderr() { 2 } else { 0 })
    })
}

/// The async runtime every binary runs on, or the one-line error and exit 1.
pub fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Runtime::new().map_err(|e| {
        eprintln!("error: cannot start the async runtime: {e}");
        ExitCode::FAILURE
    })
}

/// Reports `e` as the one `error:` line and exits 1.
pub fn fail(e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::FAILURE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Parser)]
    struct Node {
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        service: ServiceArgs,
    }

    #[test]
    fn only_given_flags_override() {
        let check = |argv: &[&str], expected: &[(&str, Value)]| {
            let node =
                Node::try_parse_from(std::iter::once("node").chain(argv.iter().copied())).unwrap();
            let mut out = Overrides(node.common.overrides());
            node.service.overrides(&mut out);
            let got: Vec<(&str, &Value)> = out.0.iter().map(|(k, v)| (k.as_str(), v)).collect();
            let want: Vec<(&str, &Value)> = expected.iter().map(|(k, v)| (*k, v)).collect();
            assert_eq!(got, want, "{argv:?}");
        };
        check(&[], &[]);
        check(
            &["--wallet.name", "w", "--netuid", "7", "--logging.json"],
            &[
                ("wallet.name", Value::from("w")),
                ("netuid", Value::from(7u16)),
                ("logging.json", Value::from(true)),
            ],
        );
        check(
            &["--metrics.addr", "127.0.0.1:0", "--db_path", "/d"],
            &[
                ("db_path", Value::from("/d")),
                ("metrics.addr", Value::from("127.0.0.1:0")),
            ],
        );
    }
}
