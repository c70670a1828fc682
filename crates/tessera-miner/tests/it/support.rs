//! A subnet with one miner process (Dave) and the validators that may call it, plus a signing
//! client for each.

use std::net::SocketAddr;
use std::time::Duration;

use tessera_core::{AccountId, Keypair};
use tessera_proto::miner::v1::miner_client::MinerClient;
use tessera_proto::tonic::transport::Channel;
use tessera_testkit::{Net, Process, Spec, account, bin, keypair};

/// The chunk size of these tests: small, so allocation takes milliseconds.
pub const CHUNK: u64 = 64 << 10;

/// Dave mines; Alice (3000) and Bob (1000) are validators; Eve is a neuron without a permit;
/// Ferdie a validator whose stake is under the miner's `--min_stake 10`; Mallory is blacklisted.
pub fn subnet() -> Vec<Spec> {
    vec![
        Spec::miner("Dave"),
        Spec::validator("Alice", 3000.0),
        Spec::validator("Bob", 1000.0),
        Spec::miner("Eve"),
        Spec::validator("Ferdie", 5.0),
        Spec::validator("Mallory", 500.0),
    ]
}

pub struct Miner {
    pub net: Net,
    pub process: Process,
}

impl Miner {
    /// Starts Dave's miner with `extra` flags and waits for its health check.
    pub async fn start(extra: &[&str]) -> Miner {
        let net = Net::new();
        net.write_metagraph(&subnet());
        let process = spawn(&net, extra);
        tessera_testkit::wait_healthy(process.addr, Duration::from_secs(20)).await;
        Miner { net, process }
    }

    pub fn hotkey(&self) -> AccountId {
        account("Dave")
    }

    pub async fn client(&self) -> MinerClient<Channel> {
        connect(self.process.addr).await
    }
}

pub fn spawn(net: &Net, extra: &[&str]) -> Process {
    spawn_env(net, extra, &[])
}

pub fn spawn_env(net: &Net, extra: &[&str], env: &[(&str, String)]) -> Process {
    let mut args = net.node_args("Dave");
    let blacklist = account("Mallory").to_string();
    // The defaults of these tests; a flag in `extra` replaces its default here.
    for [flag, value] in [
        ["--axon.ip", "127.0.0.1"],
        ["--axon.port", "0"],
        ["--seal", "dev"],
        ["--chunk_size", "64KiB"],
        ["--capacity", "2MiB"],
        ["--min_stake", "10"],
        ["--blacklist.hotkeys", &blacklist],
        ["--step_secs", "1"],
    ] {
        if !extra.contains(&flag) {
            args.extend([flag.into(), value.into()]);
        }
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    Process::spawn_env(
        &bin("tessera-miner"),
        &args,
        env,
        &net.root.join("miner.log"),
        Duration::from_secs(30),
    )
}

pub async fn connect(addr: SocketAddr) -> MinerClient<Channel> {
    MinerClient::connect(format!("http://{addr}"))
        .await
        .expect("connect to the miner")
}

pub fn validator(name: &str) -> Keypair {
    keypair(name)
}
