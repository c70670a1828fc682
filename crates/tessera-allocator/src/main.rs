//! The `tessera-allocator` binary: provisions a miner's partitions (see the library).
fn main() -> std::process::ExitCode {
    tessera_allocator::cli::main(std::env::args_os())
}
