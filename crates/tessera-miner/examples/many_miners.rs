//! Many miner identities in one process, for `cargo xtask bench-subnet`: each is a whole miner
//! (`tessera_miner::run`) with its own wallet, sealed partition and port, so that one validator
//! can face a subnet of 192 miners on a two-core machine without 192 processes.
//!
//! Usage: `many_miners ROOT METAGRAPH CAPACITY CHUNK_SIZE SEAL NAME=PORT...`. Wallets are
//! `ROOT/wallets/NAME/hotkeys/default`, databases go under `ROOT/db`. Miners start one after
//! another (each allocates first); `ready N` on stdout says all serve. It runs until killed.

use std::process::ExitCode;
use std::time::Duration;

use figment::value::Value;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [root, metagraph, capacity, chunk_size, seal, miners @ ..] = &args[..] else {
        eprintln!("usage: many_miners ROOT METAGRAPH CAPACITY CHUNK_SIZE SEAL NAME=PORT...");
        return ExitCode::FAILURE;
    };
    let mut tasks = Vec::new();
    for m in miners {
        let Some((name, port)) = m.split_once('=') else {
            eprintln!("error: {m}: expected NAME=PORT");
            return ExitCode::FAILURE;
        };
        let Ok(port) = port.parse::<u16>() else {
            eprintln!("error: {m}: the port is not a number");
            return ExitCode::FAILURE;
        };
        let flags: Vec<(String, Value)> = [
            ("db_path", format!("{root}/db")),
            ("wallet.path", format!("{root}/wallets")),
            ("wallet.name", name.to_owned()),
            ("metagraph.path", metagraph.clone()),
            ("axon.ip", "127.0.0.1".to_owned()),
            ("capacity", capacity.clone()),
            ("chunk_size", chunk_size.clone()),
            ("seal", seal.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), Value::from(v)))
        .chain([
            ("axon.port".to_owned(), Value::from(port)),
            // The metagraph does not change during a bench: no re-reads, no reallocation.
            ("step_secs".to_owned(), Value::from(3600u64)),
        ])
        .collect();
        let config = match tessera_miner::Config::load(None, &flags) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: miner {name}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let name = name.to_owned();
        tasks.push(tokio::spawn(async move {
            if let Err(e) = tessera_miner::run(config, std::future::pending()).await {
                eprintln!("error: miner {name}: {e}");
            }
        }));
        // Serving means allocated: wait for it before the next one seals.
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let mut tries = 0;
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            tries += 1;
            if tries > 6000 || tasks.last().is_some_and(|t| t.is_finished()) {
                eprintln!("error: miner {m} never served on {addr}");
                return ExitCode::FAILURE;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    println!("ready {}", tasks.len());
    for t in tasks {
        let _ = t.await;
    }
    ExitCode::SUCCESS
}
