//! `cargo xtask`: developer and operator tasks that drive Tessera's libraries.
//!
//! Each subcommand hands its arguments to a library; no production logic lives here.

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod bench_chain;
mod bench_subnet;
mod bench_workers;
mod devnet;
mod test;
mod tidy;

/// The workspace root: xtask lives one folder below it.
fn workspace_root() -> &'static Path {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest)
}

#[derive(Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Provision a miner's partitions (or a validator's hash databases); see `allocate --help`.
    #[command(disable_help_flag = true)]
    Allocate {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// Allocate and verify a small miner against deploy/examples/metagraph.toml, in target/demo.
    Demo {
        /// Total space to allocate.
        #[arg(long, default_value = "64MiB")]
        capacity: String,
    },
    /// Run a local network of miners and validators with a live scoreboard.
    Devnet {
        #[arg(long, default_value_t = 3)]
        miners: usize,
        #[arg(long, default_value_t = 2)]
        validators: usize,
        /// Seconds to run; 0 runs until Ctrl-C.
        #[arg(long, default_value_t = 60)]
        duration: u64,
        /// Where the subnet lives: a metagraph file, or the real Subtensor runtime on a local
        /// chopsticks node (registration, axons and weights on chain).
        #[arg(long, value_enum, default_value = "file")]
        chain: devnet::ChainKind,
    },
    /// Measure put and get of client objects through release-built nodes against raw SQLite.
    BenchData {
        /// Object size in MiB.
        #[arg(long, default_value_t = 256)]
        size_mib: u64,
        #[arg(long, default_value_t = 3)]
        miners: usize,
        #[arg(long, default_value_t = 2)]
        k: u16,
        #[arg(long, default_value_t = 3)]
        n: u16,
    },
    /// Measure aws-cli's put and get through the S3 face against the `tessera` CLI's, and the
    /// gateway's peak memory during the S3 multipart upload.
    BenchS3 {
        /// Object size in MiB.
        #[arg(long, default_value_t = 1024)]
        size_mib: u64,
        #[arg(long, default_value_t = 3)]
        miners: usize,
        #[arg(long, default_value_t = 2)]
        k: u16,
        #[arg(long, default_value_t = 3)]
        n: u16,
        /// Serve S3 over TLS (a self-signed certificate aws-cli is given to trust), where
        /// S3 clients send unsigned bodies with a CRC32 trailer instead of hashing them.
        #[arg(long)]
        tls: bool,
        /// Rounds of runs through both faces; the figures compared are the medians.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
    },
    /// Measure how much a second sealing worker speeds up a `production` allocation, in
    /// interleaved pairs against plain sealing threads.
    BenchWorkers {
        /// Pairs of runs, one with each worker count.
        #[arg(long, default_value_t = 10)]
        pairs: usize,
        /// Chunks of 8 KiB per run.
        #[arg(long, default_value_t = 1024)]
        chunks: u64,
    },
    /// One validator at its defaults against a whole subnet of miners served by one process:
    /// its CPU per hour (checking against auditing), memory, round time and proof bytes, and
    /// the projection for 1 MiB production chunks against the validator before commitments.
    BenchSubnet {
        #[arg(long, default_value_t = 192)]
        miners: usize,
        /// Rounds (12 s each) measured after every miner's initial audit.
        #[arg(long, default_value_t = 10)]
        rounds: u64,
        /// Each miner's space, all of it for the one validator.
        #[arg(long, default_value = "16MiB")]
        capacity: String,
    },
    /// The README's test command: install what the tests need, then tidy, fmt, clippy and every
    /// test.
    Test,
    /// Check the workspace's layering (which crate may depend on which) and conventions.
    Tidy,
    /// Run every fuzz target (the `fuzz_` tests: protobuf decoding, signed requests, Merkle and
    /// commitment paths, the metagraph and config parsers, the HTTP object routes) with many
    /// cases; CI runs the same targets with few.
    Fuzz {
        /// Cases per in-process target.
        #[arg(long, default_value_t = 10_000_000)]
        cases: u64,
        /// Requests sent to a real validator's HTTP routes.
        #[arg(long, default_value_t = 100_000)]
        http_cases: u64,
    },
    /// Read a subnet's metagraph from the local Subtensor chain against a raw read of the same
    /// keys, and time set_weights to its block.
    BenchChain {
        /// Neurons on the subnet, the owner's included.
        #[arg(long, default_value_t = 256)]
        neurons: usize,
        /// Reads of each kind.
        #[arg(long, default_value_t = 10)]
        rounds: usize,
    },
    /// Create a hotkey file in Bittensor's wallet format.
    Wallet {
        /// Wallet folder.
        #[arg(long = "wallet.path", default_value = "~/.bittensor/wallets")]
        path: String,
        #[arg(long = "wallet.name", default_value = "default")]
        name: String,
        #[arg(long = "wallet.hotkey", default_value = "default")]
        hotkey: String,
        /// Secret URI such as //Alice or a 0x seed; a fresh random key when absent.
        #[arg(long)]
        uri: Option<String>,
        /// Replace an existing hotkey file.
        #[arg(long)]
        overwrite: bool,
    },
}

fn main() -> anyhow::Result<ExitCode> {
    match Cli::parse().task {
        Task::Allocate { args } => {
            let argv = std::iter::once(OsString::from("cargo xtask allocate")).chain(args);
            Ok(tessera_allocator::cli::main(argv))
        }
        Task::Demo { capacity } => demo(&capacity),
        Task::Test => test::run(workspace_root()),
        Task::Tidy => tidy::run(workspace_root()).map(|()| ExitCode::SUCCESS),
        Task::Fuzz { cases, http_cases } => test::fuzz(workspace_root(), cases, http_cases),
        Task::BenchChain { neurons, rounds } => bench_chain::run(neurons, rounds),
        Task::Devnet {
            miners,
            validators,
            duration,
            chain,
        } => devnet::run(workspace_root(), miners, validators, duration, chain),
        Task::BenchData {
            size_mib,
            miners,
            k,
            n,
        } => bench::run(
            workspace_root(),
            &bench::Bench {
                size_mib,
                miners,
                k,
                n,
                s3: false,
                tls: false,
                rounds: 1,
            },
        ),
        Task::BenchS3 {
            size_mib,
            miners,
            k,
            n,
            tls,
            rounds,
        } => bench::run(
            workspace_root(),
            &bench::Bench {
                size_mib,
                miners,
                k,
                n,
                s3: true,
                tls,
                rounds,
            },
        ),
        Task::BenchSubnet {
            miners,
            rounds,
            capacity,
        } => bench_subnet::run(workspace_root(), miners, rounds, &capacity),
        Task::BenchWorkers { pairs, chunks } => bench_workers::run(workspace_root(), pairs, chunks),
        Task::Wallet {
            path,
            name,
            hotkey,
            uri,
            overwrite,
        } => {
            let wallet = tessera_core::Wallet::new(path.as_str(), &name, &hotkey)?;
            let keypair = match uri {
                Some(uri) => tessera_core::Keypair::from_uri(&uri)?,
                None => tessera_core::Keypair::generate(),
            };
            let file = wallet.create_hotkey(&keypair, overwrite)?;
            println!("{} {}", keypair.account(), file.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The README's main job until the local network exists: the example miner (//Dave) allocates
/// dev-sealed partitions for the example validators, then verifies them. Running it again resumes.
fn demo(capacity: &str) -> anyhow::Result<ExitCode> {
    let root = workspace_root();
    let demo = root.join("target").join("demo");
    let wallets = demo.join("wallets");
    let wallet = tessera_core::Wallet::new(&wallets, "miner", "default")?;
    if !wallet.hotkey_path().exists() {
        wallet.create_hotkey(&tessera_core::Keypair::from_uri("//Dave")?, false)?;
    }
    let metagraph = root.join("deploy").join("examples").join("metagraph.toml");
    let args = |extra: &[&str]| {
        let mut argv: Vec<OsString> = vec!["cargo xtask demo".into()];
        for (flag, value) in [
            ("--db_path", demo.join("db")),
            ("--wallet.path", wallets.clone()),
            ("--metagraph.path", metagraph.clone()),
        ] {
            argv.push(flag.into());
            argv.push(value.into_os_string());
        }
        argv.extend(
            [
                "--wallet.name",
                "miner",
                "--seal",
                "dev",
                "--capacity",
                capacity,
                "--no_prompt",
            ]
            .iter()
            .chain(extra)
            .map(OsString::from),
        );
        argv
    };
    let code = tessera_allocator::cli::main(args(&[]));
    if code != ExitCode::SUCCESS {
        return Ok(code);
    }
    Ok(tessera_allocator::cli::main(args(&["--verify"])))
}
