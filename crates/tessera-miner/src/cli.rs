//! The command line of `tessera-miner`: the prototype's flags plus Bittensor's axon flags.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;
use tessera_allocator::cli::{Terminal, summary};
use tessera_node::{CommonArgs, Overrides, ServiceArgs, fail, init_logging, parse, runtime};

use crate::Config;

/// Serve sealed partitions to the subnet's validators.
#[derive(Debug, Parser)]
#[command(name = "tessera-miner", version)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    service: ServiceArgs,
    /// Proof bytes served per second over all validators, such as 10MiB; 0 is unlimited [default: 0].
    #[arg(long = "limits.bandwidth")]
    bandwidth: Option<String>,
    /// Requests handled at once; more wait [default: 64].
    #[arg(long = "limits.concurrent_requests")]
    concurrent_requests: Option<u64>,
    /// Warn (log and metric) when free disk space falls below this, such as 1GiB [default: 1GiB].
    #[arg(long = "disk.min_free")]
    min_free: Option<String>,
    /// Share of the free space to allocate [default: 0.0001].
    #[arg(long)]
    threshold: Option<f64>,
    /// Delete the partitions and reseal them at start.
    #[arg(long)]
    restart: bool,
    /// Re-read the metagraph and reallocate every this many steps [default: 50].
    #[arg(long = "steps_per_reallocate")]
    steps_per_reallocate: Option<u64>,
    /// Seconds per step [default: 12].
    #[arg(long = "step_secs")]
    step_secs: Option<u64>,
    /// Address to listen on [default: 0.0.0.0].
    #[arg(long = "axon.ip")]
    axon_ip: Option<String>,
    /// Port to listen on; 0 picks a free one [default: 8091].
    #[arg(long = "axon.port")]
    axon_port: Option<u16>,
    /// IP published on chain for validators to dial [default: the bound IP].
    #[arg(long = "axon.external_ip")]
    axon_external_ip: Option<String>,
    /// Port published on chain [default: the bound port].
    #[arg(long = "axon.external_port")]
    axon_external_port: Option<u16>,
    /// Least stake a validator needs to be served [default: 0].
    #[arg(long = "min_stake")]
    min_stake: Option<f64>,
    /// Seconds a request's timestamp may be off the miner's clock [default: 30].
    #[arg(long = "auth.timestamp_window")]
    timestamp_window: Option<u64>,
    /// Largest request accepted, in bytes [default: 65536].
    #[arg(long = "auth.max_request_bytes")]
    max_request_bytes: Option<u64>,
    /// Hotkeys refused whatever their stake, comma-separated.
    #[arg(long = "blacklist.hotkeys", value_delimiter = ',')]
    blacklist: Option<Vec<String>>,
    /// Chunk size, such as 1MiB [default: 1MiB].
    #[arg(long = "chunk_size")]
    chunk_size: Option<String>,
    /// Seal profile: dev or production [default: production].
    #[arg(long)]
    seal: Option<String>,
    /// Total space to allocate, such as 2GiB, instead of the threshold share.
    #[arg(long)]
    capacity: Option<String>,
    /// Sealing threads [default: one per core].
    #[arg(long)]
    workers: Option<usize>,
    /// Seconds a partition holding client data is kept after its validator leaves the plan
    /// [default: 604800, a week].
    #[arg(long = "partition_grace_secs")]
    partition_grace_secs: Option<u64>,
}

/// What to do instead of serving.
#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Print the partitions, free space and (if the metrics endpoint is on) counters, and exit.
    Status,
    /// Allocate (or resume) the partitions in the foreground with progress bars, and exit.
    Allocate,
    /// Re-derive every stored chunk, list the bad ones, and exit 1 if any is bad.
    Verify,
}

impl Args {
    fn overrides(&self) -> Vec<(String, figment::value::Value)> {
        let mut out = Overrides(self.common.overrides());
        self.service.overrides(&mut out);
        out.put("limits.bandwidth", self.bandwidth.clone());
        out.put("limits.concurrent_requests", self.concurrent_requests);
        out.put("disk.min_free", self.min_free.clone());
        out.put("threshold", self.threshold);
        out.flag("restart", self.restart);
        out.put("steps_per_reallocate", self.steps_per_reallocate);
        out.put("step_secs", self.step_secs);
        out.put("axon.ip", self.axon_ip.clone());
        out.put("axon.port", self.axon_port);
        out.put("axon.external_ip", self.axon_external_ip.clone());
        out.put("axon.external_port", self.axon_external_port);
        out.put("min_stake", self.min_stake);
        out.put("auth.timestamp_window", self.timestamp_window);
        out.put("auth.max_request_bytes", self.max_request_bytes);
        out.put(
            "blacklist.hotkeys",
            self.blacklist.clone().map(|v| {
                v.into_iter()
                    .map(figment::value::Value::from)
                    .collect::<Vec<_>>()
            }),
        );
        out.put("chunk_size", self.chunk_size.clone());
        out.put("seal", self.seal.clone());
        out.put("capacity", self.capacity.clone());
        out.put("workers", self.workers.map(|w| w as u64));
        out.put("partition_grace_secs", self.partition_grace_secs);
        out.0
    }
}

/// Parses `args`, runs the miner until SIGINT or SIGTERM and exits 0 after an orderly stop;
/// errors are one line on stderr and exit 1 (2 for usage).
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
    match args.command {
        Some(Command::Status) => {
            return match runtime.block_on(crate::status::report(&config)) {
                Ok(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e),
            };
        }
        Some(Command::Allocate) => return provision(&runtime, config.allocator(config.restart)),
        Some(Command::Verify) => {
            let mut alloc = config.allocator(false);
            alloc.verify = true;
            return provision(&runtime, alloc);
        }
        None => {}
    }
    match runtime.block_on(crate::run(config, tessera_node::terminated())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// Runs the allocator in the foreground with the miner's own settings: exit 1 on bad chunks or
/// failure, 130 when interrupted.
fn provision(runtime: &tokio::runtime::Runtime, config: tessera_allocator::Config) -> ExitCode {
    let interrupted = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let mut terminal = Terminal::new(config.no_prompt);
    match runtime.block_on(tessera_allocator::run(&config, &mut terminal, interrupted)) {
        Ok(outcome) => {
            println!("{}", summary(&outcome));
            match outcome {
                tessera_allocator::Outcome::Verified { bad, .. } if !bad.is_empty() => {
                    let n: usize = bad.iter().map(|(_, ids)| ids.len()).sum();
                    eprintln!("error: {n} bad chunks");
                    ExitCode::FAILURE
                }
                _ => ExitCode::SUCCESS,
            }
        }
        Err(e @ tessera_allocator::Error::Interrupted { .. }) => {
            eprintln!("error: {e}");
            ExitCode::from(130)
        }
        Err(e) => fail(&e),
    }
}
