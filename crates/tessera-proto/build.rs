//! Compiles every file under `proto/` with the vendored protoc, so no system protoc is needed.

use std::path::{Path, PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let mut files = Vec::new();
    collect(&root, &mut files)?;
    files.sort();
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    // The vendored protoc keeps a fresh machine free of a system protobuf compiler.
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    // Fields that carry chunks or segments decode as `Bytes`: a slice of the receive buffer
    // rather than a copy, and cheap to clone when a piece is retried on another miner.
    config.bytes([
        ".tessera.miner.v1.StoreRequest.data",
        ".tessera.miner.v1.RetrieveResponse.data",
        ".tessera.gateway.v1.PutRequest.segment",
        ".tessera.gateway.v1.GetResponse.segment",
    ]);
    // Server reflection serves this descriptor set, so grpcurl works without the .proto files.
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    config.file_descriptor_set_path(out.join("tessera_descriptor.bin"));
    tonic_prost_build::configure().compile_with_config(config, &files, &[root])?;
    Ok(())
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    // A folder's mtime changes when a file is added to it, so a new .proto is compiled too.
    println!("cargo:rerun-if-changed={}", dir.display());
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "proto") {
            out.push(path);
        }
    }
    Ok(())
}
