//! The `tessera` binary: a thin front end over `tessera_client::cli::main`.

fn main() -> std::process::ExitCode {
    tessera_client::cli::main(std::env::args_os())
}
