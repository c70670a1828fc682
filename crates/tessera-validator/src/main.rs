//! The `tessera-validator` binary: everything is in the library.

fn main() -> std::process::ExitCode {
    tessera_validator::cli::main(std::env::args_os())
}
