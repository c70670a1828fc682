//! The command line of `allocate`, shared by the `tessera-allocator` binary and `cargo xtask`.

use std::ffi::OsString;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use figment::value::Value;

use crate::job::Outcome;
use crate::{Config, Error};

/// Carve disk space into one sealed partition per validator, in proportion to stake.
#[derive(Debug, Parser)]
#[command(name = "allocate", version)]
pub struct Args {
    /// TOML file with any of the settings below.
    #[arg(long)]
    config: Option<PathBuf>,
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
    /// Share of the free space to allocate [default: 0.0001].
    #[arg(long)]
    threshold: Option<f64>,
    /// Chain to read the metagraph from; only `local` for now [default: local].
    #[arg(long = "subtensor.network")]
    subtensor_network: Option<String>,
    /// Local metagraph file [default: <db_path>/metagraph.toml].
    #[arg(long = "metagraph.path")]
    metagraph_path: Option<PathBuf>,
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
    /// Debug logging.
    #[arg(long = "logging.debug")]
    logging_debug: bool,
    /// Trace logging.
    #[arg(long = "logging.trace")]
    logging_trace: bool,
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
    /// With --validator: roots to derive per miner [default: 32].
    #[arg(long)]
    samples: Option<u64>,
}

impl Args {
    /// Only the flags actually given, as dotted config keys: an unset flag overrides nothing.
    fn overrides(&self) -> Vec<(String, Value)> {
        let mut out: Vec<(String, Value)> = Vec::new();
        let mut put = |key: &str, value: Option<Value>| {
            if let Some(v) = value {
                out.push((key.to_owned(), v));
            }
        };
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| Value::from(p.display().to_string()));
        let flag = |b: bool| b.then(|| Value::from(true));
        put("db_path", path(&self.db_path));
        put("wallet.name", self.wallet_name.clone().map(Value::from));
        put("wallet.hotkey", self.wallet_hotkey.clone().map(Value::from));
        put("wallet.path", path(&self.wallet_path));
        put("netuid", self.netuid.map(Value::from));
        put("threshold", self.threshold.map(Value::from));
        put(
            "subtensor.network",
            self.subtensor_network.clone().map(Value::from),
        );
        put("metagraph.path", path(&self.metagraph_path));
        put("restart", flag(self.restart));
        put("workers", self.workers.map(|w| Value::from(w as u64)));
        put("no_prompt", flag(self.no_prompt));
        put("validator", flag(self.validator));
        put("logging.debug", flag(self.logging_debug));
        put("logging.trace", flag(self.logging_trace));
        put("chunk_size", self.chunk_size.clone().map(Value::from));
        put("seal", self.seal.clone().map(Value::from));
        put("capacity", self.capacity.clone().map(Value::from));
        put("verify", flag(self.verify));
        put("samples", self.samples.map(Value::from));
        out
    }
}

/// Parses `args` (the first is the program name), runs the job and reports. Errors are one line
/// on stderr and a non-zero exit: 1 for failures and bad chunks, 2 for usage, 130 if interrupted.
pub fn main<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args = match Args::try_parse_from(args) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let config = match Config::load(args.config.as_deref(), &args.overrides()) {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    init_logging(&config);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
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

fn fail(e: &Error) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::FAILURE
}

fn init_logging(config: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter = if config.logging.trace {
        EnvFilter::new("trace")
    } else if config.logging.debug {
        EnvFilter::new("debug")
    } else {
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
