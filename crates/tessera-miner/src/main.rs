//! The `tessera-miner` binary: everything is in the library.

// Pieces and chunks are megabyte buffers allocated and freed by the thousand; glibc's allocator
// hands such memory back to the kernel and faults it in again, mimalloc keeps and reuses it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    tessera_miner::cli::main(std::env::args_os())
}
