//! The `tessera-miner` binary: everything is in the library.

fn main() -> std::process::ExitCode {
    tessera_miner::cli::main(std::env::args_os())
}
