//! `cargo xtask`: developer and operator tasks that drive Tessera's libraries.
//!
//! Each subcommand hands its arguments to a library; no production logic lives here.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
