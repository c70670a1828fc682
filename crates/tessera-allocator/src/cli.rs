//! The command line of `allocate`, shared by the `tessera-allocator` binary and `cargo xtask`.

use std::ffi::OsString;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use figment::value::Value;

use crate::job::Outcome;
use crate::{Config, Error};

/// The flags every node shares with `allocate`: where the config, databases, wallet, chain and
/// metagraph are, and how loud to log. Flattened into each binary's own flags.
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

/// Carve disk space into one sealed partition per validator, in proportion to stake.
#[derive(Debug, Parser)]
#[command(name = "allocate", version)]
pub struct Args {
    #[command(flatten)]
    common: CommonArgs,
    /// Share of the free space to allocate [default: 0.0001].
    #[arg(long)]
    threshold: Option<f64>,
    /// Delete existing partitions and start over.
    #[arg(long)]
    restart: bool,
    /// Sealing threads [default: one per core].
    #[arg(long)]
    workers: Option<usize>,
    /// Do not ask for confirmation.
    #[arg(long = "no_prompt")]
    no_prompt: bool,
    /// Prepare the validator's hash databases instead.
    #[arg(long)]
    validator: bool,
    /// Chunk size, such as 1MiB [default: 1MiB].
    #[arg(long = "chunk_size")]
    chunk_size: Option<String>,
    /// Seal profile: dev or production [default: production].
    #[arg(long)]
    seal: Option<String>,
    /// Total space to allocate, such as 2GiB, instead of the threshold share.
    #[arg(long)]
    capacity: Option<String>,
    /// Re-derive every stored chunk and report the bad ones (exit 1 if any).
    #[arg(long)]
    verify: bool,
    /// With --validator: roots to derive per miner, for their initial audits [default: 64].
    #[arg(long)]
    samples: Option<u64>,
    /// Least stake a neuron with a validator permit needs to get a partition [default: 0].
    #[arg(long = "min_stake")]
    min_stake: Option<f64>,
    /// Seconds a partition holding client data is kept after its validator leaves the plan
    /// [default: 604800, a week].
    #[arg(long = "partition_grace_secs")]
    partition_grace_secs: Option<u64>,
}

impl Args {
    fn overrides(&self) -> Vec<(String, Value)> {
        let mut out = Overrides(self.common.overrides());
        out.put("threshold", self.threshold);
        out.flag("restart", self.restart);
        out.put("workers", self.workers.map(|w| w as u64));
        out.flag("no_prompt", self.no_prompt);
        out.flag("validator", self.validator);
        out.put("chunk_size", self.chunk_size.clone());
        out.put("seal", self.seal.clone());
        out.put("capacity", self.capacity.clone());
        out.flag("verify", self.verify);
        out.put("samples", self.samples);
        out.put("min_stake", self.min_stake);
        out.put("partition_grace_secs", self.partition_grace_secs);
        out.0
    }
}

/// Parses `args` (the first is the program name), runs the job and reports. Errors are one line
/// on stderr and a non-zero exit: 1 for failures and bad chunks, 2 for usage, 130 if interrupted.
pub fn main<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Args = match parse(args) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let config = match Config::load(args.common.config.as_deref(), &args.overrides()) {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    init_logging(&config.logging);
    let runtime = match runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    let mut confirm = |question: &str| {
        print!("{question}");
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer).is_ok()
            && matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
    };
    let shutdown = async {
        // If the handler cannot be installed, never fire: the default signal action remains.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    match runtime.block_on(crate::run(&config, &mut confirm, shutdown)) {
        Ok(Outcome::Verified { bad, .. }) if !bad.is_empty() => {
            let n: u64 = bad.iter().map(|(_, ids)| ids.len() as u64).sum();
            fail(&Error::BadChunks { bad: n })
        }
        Ok(_) => ExitCode::SUCCESS,
        Err(e @ Error::Interrupted { .. }) => {
            eprintln!("error: {e}");
            ExitCode::from(130)
        }
        Err(e) => fail(&e),
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

/// Logs to stderr: `trace` or `debug` when asked, else `RUST_LOG`, else `info`; human-readable,
/// or one JSON object per line with `logging.json`.
pub fn init_logging(logging: &crate::LoggingConfig) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = if logging.trace {
        EnvFilter::new("trace")
    } else if logging.debug {
        EnvFilter::new("debug")
    } else {
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if logging.json {
        builder.json().try_init()
    } else {
        // Colour codes only for a person at a terminal, never in journald or a log file.
        builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init()
    };
}
