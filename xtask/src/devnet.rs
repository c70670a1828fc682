//! `cargo xtask devnet`: a local network of real miner and validator processes on 127.0.0.1,
//! with a live scoreboard, stopped in order on Ctrl-C or after `--duration`.
//!
//! It only arranges files and processes; the nodes' own libraries do all the work. With
//! `--chain subtensor` the network runs on the real Subtensor runtime (chopsticks, as the tests
//! use it): the nodes find each other through the chain, and the scoreboard shows the weights the
//! chain holds.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tessera_chain::{Chain, Metagraph, Neuron, SubtensorChain};
use tessera_core::{Keypair, Wallet};
use tessera_testkit::localnet::Localnet;

/// Where the devnet's subnet lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ChainKind {
    /// A metagraph file the devnet writes, with the miners' axons in it.
    File,
    /// The real Subtensor runtime on a local chopsticks node: registration, stake, axons and
    /// weights all on chain.
    Subtensor,
}

/// Stake (alpha) under which a permit holder is treated as a miner on the local chain, where
/// every neuron holds a permit and the subnet owner's hotkey holds a little alpha.
const CHAIN_MIN_STAKE: &str = "100";

/// The chunk size of the local network: small, so nodes start in a moment.
const CHUNK: &str = "256KiB";

pub(crate) struct Node {
    pub(crate) name: String,
    pub(crate) child: Child,
    pub(crate) addr: SocketAddr,
    /// The HTTP gateway and web page, for the validator that serves them.
    pub(crate) http: Option<SocketAddr>,
    /// The metrics endpoint, for a node started with one.
    pub(crate) metrics: Option<SocketAddr>,
    /// The S3 face, for the validator that serves it.
    pub(crate) s3: Option<SocketAddr>,
}

/// The sample file the devnet stores and reads back at start-up: several segments.
const SAMPLE_BYTES: usize = (1 << 20) + 17;

pub fn run(
    root: &Path,
    miners: usize,
    validators: usize,
    duration: u64,
    chain: ChainKind,
) -> anyhow::Result<ExitCode> {
    if miners == 0 || validators == 0 {
        bail!("--miners and --validators must each be at least 1");
    }
    let bins = build(root, false)?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let dir = root
        .join("target")
        .join("devnet")
        .join(format!("run-{stamp}"));
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("create {}", logs.display()))?;
    println!("devnet in {}", dir.display());

    // Wallets and a metagraph: validators with rising stake, miners with rising capacity.
    let mut neurons = Vec::new();
    let mut names = Vec::new();
    for i in 1..=validators {
        names.push((format!("validator-{i}"), true, 1000.0 * i as f64));
    }
    for i in 1..=miners {
        names.push((format!("miner-{i}"), false, 0.0));
    }
    for (uid, (name, permit, stake)) in names.iter().enumerate() {
        let keypair = Keypair::from_uri(&format!("//{name}"))?;
        let wallet = Wallet::new(dir.join("wallets"), name, "default")?;
        wallet.create_hotkey(&keypair, true)?;
        neurons.push(Neuron {
            uid: uid as u16,
            hotkey: keypair.account(),
            coldkey: None,
            stake: *stake,
            validator_permit: *permit,
            axon: None,
            last_update: 0,
        });
    }
    let mut metagraph = Metagraph::new(1, neurons);
    write_metagraph(&dir, &metagraph)?;
    let local = match chain {
        ChainKind::File => None,
        ChainKind::Subtensor => Some(start_chain(&names)?),
    };
    let chain_flags: Vec<String> = match &local {
        None => vec![
            "--metagraph.path".into(),
            dir.join("metagraph.toml").display().to_string(),
        ],
        Some((net, netuid)) => vec![
            "--subtensor.chain_endpoint".into(),
            net.url(),
            "--netuid".into(),
            netuid.to_string(),
            "--min_stake".into(),
            CHAIN_MIN_STAKE.into(),
        ],
    };
    // The runtime refuses 127.0.0.1 as an axon, but takes the rest of the loopback range.
    let miner_ip = if local.is_some() {
        "127.0.0.2"
    } else {
        "127.0.0.1"
    };

    let common = |name: &str, ip: &str| -> Vec<String> {
        let p = |x: PathBuf| x.display().to_string();
        let mut args: Vec<String> = vec![
            "--db_path".into(),
            p(dir.join("db")),
            "--wallet.path".into(),
            p(dir.join("wallets")),
            "--wallet.name".into(),
            name.into(),
            "--axon.ip".into(),
            ip.into(),
            "--axon.port".into(),
            "0".into(),
            "--seal".into(),
            "dev".into(),
            "--chunk_size".into(),
            CHUNK.into(),
        ];
        args.extend(chain_flags.iter().cloned());
        args
    };

    // Miners first: their axons go into the metagraph before any validator looks.
    let mut nodes: Vec<Node> = Vec::new();
    let result = (|| -> anyhow::Result<()> {
        for i in 1..=miners {
            let name = format!("miner-{i}");
            let mut args = common(&name, miner_ip);
            args.extend([
                "--capacity".into(),
                format!("{}MiB", 4 * i),
                "--step_secs".into(),
                "2".into(),
            ]);
            let node = spawn(&bins.0, &name, &args, &logs)?;
            println!("  {name} listening on {}", node.addr);
            if let Some(n) = metagraph
                .neurons
                .iter_mut()
                .find(|n| n.uid as usize == validators + i - 1)
            {
                n.axon = Some(node.addr);
            }
            nodes.push(node);
        }
        write_metagraph(&dir, &metagraph)?;
        for i in 1..=validators {
            let name = format!("validator-{i}");
            let mut args = common(&name, "127.0.0.1");
            args.extend([
                "--round_secs".into(),
                "2".into(),
                "--epoch_secs".into(),
                "6".into(),
                // Any 2 of 3 pieces rebuild a segment: the default three miners hold one each.
                "--data.k".into(),
                "2".into(),
                "--data.n".into(),
                "3".into(),
            ]);
            if i == 1 {
                args.extend([
                    "--data.http".into(),
                    "127.0.0.1:0".into(),
                    "--s3.addr".into(),
                    "127.0.0.1:0".into(),
                ]);
            }
            let node = spawn(&bins.1, &name, &args, &logs)?;
            println!("  {name} listening on {}", node.addr);
            if let Some(http) = node.http {
                println!("  {name} web page on http://{http}/");
            }
            if let Some(s3) = node.s3 {
                println!("  {name} S3 endpoint on http://{s3}");
            }
            nodes.push(node);
        }
        Ok(())
    })();
    if let Err(e) = result {
        stop(&mut nodes);
        return Err(e);
    }

    let runtime = tokio::runtime::Runtime::new()?;
    let s3 = nodes[miners].s3;
    if let Err(e) = runtime.block_on(sample(&dir, &nodes[miners].addr.to_string(), miners, s3)) {
        eprintln!("sample file: {e:#}");
        stop(&mut nodes);
        return Ok(ExitCode::FAILURE);
    }
    let onchain = local
        .as_ref()
        .map(|(net, netuid)| SubtensorChain::new(net.url(), *netuid));
    let interrupted = runtime.block_on(scoreboard(
        &dir,
        &metagraph,
        onchain.as_ref(),
        validators,
        &mut nodes,
        duration,
    ));
    let clean = stop(&mut nodes);
    println!(
        "{}; run folder left for inspection: {}",
        if interrupted { "interrupted" } else { "done" },
        dir.display()
    );
    Ok(if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Starts the local Subtensor chain and registers every node on a new subnet, the validators
/// staked 1000, 2000, ... TAO; returns the chain and the subnet's netuid.
fn start_chain(names: &[(String, bool, f64)]) -> anyhow::Result<(Localnet, u16)> {
    println!("starting the local Subtensor chain (chopsticks)...");
    let mut net = Localnet::start();
    let alice = Keypair::from_uri("//Alice")?.account();
    let mut hotkeys = Vec::new();
    let mut stakes = serde_json::Map::new();
    for (name, _, stake) in names {
        let hotkey = Keypair::from_uri(&format!("//{name}"))?.account().to_ss58();
        if *stake > 0.0 {
            stakes.insert(hotkey.clone(), serde_json::json!(stake));
        }
        hotkeys.push(hotkey);
    }
    let spec = serde_json::json!({
        "owner_hotkey": alice.to_ss58(),
        "hotkeys": hotkeys,
        "stakes": stakes,
        // Two-second epochs' worth of blocks between weight settings, at a block every 500 ms.
        "hyper": [["sudo_set_tempo", 20], ["sudo_set_weights_set_rate_limit", 4]],
    });
    let out: serde_json::Value = serde_json::from_str(&net.script(&["setup", &spec.to_string()]))
        .context("subnet setup output")?;
    let netuid = out["netuid"].as_u64().context("netuid")? as u16;
    net.pace(Duration::from_millis(500));
    println!(
        "  chain {} (spec 218), subnet netuid {netuid}, a block every 500 ms",
        net.url()
    );
    Ok((net, netuid))
}

/// Stores a sample file through the first validator's gateway as the client `//client`, reads
/// it back and compares, once the validator trusts enough miners with pieces.
async fn sample(
    dir: &Path,
    validator: &str,
    miners: usize,
    s3: Option<SocketAddr>,
) -> anyhow::Result<()> {
    let keypair = || Keypair::from_uri("//client");
    Wallet::new(dir.join("wallets"), "client", "default")?.create_hotkey(&keypair()?, true)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut client = loop {
        let c = tessera_client::Client::connect(validator, keypair()?).await?;
        let need = c.params().n as u32;
        if c.ready_miners >= need {
            break c;
        }
        if Instant::now() > deadline {
            bail!(
                "only {} of the {need} miners a put needs are ready after 60 s (there are {miners})",
                c.ready_miners
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    // Deterministic bytes that do not compress: a fair sample.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let data: Vec<u8> = (0..SAMPLE_BYTES)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let path = dir.join("sample.bin");
    std::fs::write(&path, &data).with_context(|| format!("write {}", path.display()))?;
    let quiet: std::sync::Arc<dyn Fn(u64) + Send + Sync> = std::sync::Arc::new(|_| {});
    let started = Instant::now();
    let stored = client
        .put(
            std::io::Cursor::new(data.clone()),
            data.len() as u64,
            0,
            quiet.clone(),
        )
        .await?;
    let put_ms = started.elapsed().as_millis();
    let started = Instant::now();
    let (_, back) = client.get(stored.id, Vec::new(), quiet).await?;
    let get_ms = started.elapsed().as_millis();
    if back != data {
        bail!("object {} came back different", stored.id);
    }
    println!(
        "  sample file {} ({} bytes, {} segments of {} pieces): stored in {put_ms} ms, read back and verified in {get_ms} ms",
        stored.id, stored.size, stored.segments, stored.n
    );
    println!(
        "  try: cargo run -q -p tessera-client -- --validator {validator} --wallet.path {} --wallet.name client get {} -o sample.out",
        dir.join("wallets").display(),
        stored.id
    );
    if let Some(s3) = s3 {
        // A key pair for the S3 face, acting for the same client hotkey.
        let key = client.create_s3_key().await?;
        let secret = key
            .secret
            .context("the new S3 key came without its secret")?;
        println!("  S3 key pair of //client, ready for any S3 tool:");
        println!("    export AWS_ACCESS_KEY_ID={}", key.access_key);
        println!("    export AWS_SECRET_ACCESS_KEY={secret}");
        println!("    aws --endpoint-url http://{s3} s3 mb s3://demo");
        println!(
            "    aws --endpoint-url http://{s3} s3 cp {} s3://demo/",
            path.display()
        );
    }
    Ok(())
}

/// Builds the node binaries and the client with the cargo running this xtask, so they match
/// the source; returns the miner's and the validator's paths (the client sits beside them).
pub(crate) fn build(root: &Path, release: bool) -> anyhow::Result<(PathBuf, PathBuf)> {
    let out = build_packages(
        root,
        release,
        &["tessera-miner", "tessera-validator", "tessera-client"],
    )?;
    Ok((out.join("tessera-miner"), out.join("tessera-validator")))
}

/// Builds `packages` with the cargo running this xtask; returns the folder holding the binaries.
pub(crate) fn build_packages(
    root: &Path,
    release: bool,
    packages: &[&str],
) -> anyhow::Result<PathBuf> {
    let mut args = vec!["build"];
    for package in packages {
        args.extend(["-p", package]);
    }
    if release {
        args.push("--release");
    }
    cargo(root, &args)?;
    Ok(target_dir(root).join(if release { "release" } else { "debug" }))
}

/// Builds example `name` of `package` in release mode; returns its path.
pub(crate) fn build_example(root: &Path, package: &str, name: &str) -> anyhow::Result<PathBuf> {
    cargo(
        root,
        &["build", "--release", "-p", package, "--example", name],
    )?;
    Ok(target_dir(root).join("release").join("examples").join(name))
}

/// Runs the cargo running this xtask, so that what it builds matches the source.
fn cargo(root: &Path, args: &[&str]) -> anyhow::Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root)
        .args(args)
        .status()
        .context("run cargo build")?;
    if !status.success() {
        bail!("cargo {} failed", args.join(" "));
    }
    Ok(())
}

/// Where cargo puts build output for this workspace.
fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}

pub(crate) fn write_metagraph(dir: &Path, metagraph: &Metagraph) -> anyhow::Result<()> {
    let tmp = dir.join(".metagraph.toml.new");
    std::fs::write(&tmp, metagraph.to_toml())?;
    // Nodes re-read the file while running; they must never see half of it.
    std::fs::rename(&tmp, dir.join("metagraph.toml"))?;
    Ok(())
}

/// Starts a node with stderr to `<logs>/<name>.log` and waits for its `listening on` line.
pub(crate) fn spawn(bin: &Path, name: &str, args: &[String], logs: &Path) -> anyhow::Result<Node> {
    let log = logs.join(format!("{name}.log"));
    let err = std::fs::File::create(&log)?;
    let mut child = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(err)
        .spawn()
        .with_context(|| format!("start {}", bin.display()))?;
    let stdout = child.stdout.take().context("node stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (mut http, mut metrics, mut s3) = (None, None, None);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(a) = line.strip_prefix("http on ") {
                http = a.trim().parse::<SocketAddr>().ok();
            }
            if let Some(a) = line.strip_prefix("s3 on ") {
                s3 = a.trim().parse::<SocketAddr>().ok();
            }
            if let Some(a) = line.strip_prefix("metrics on ") {
                metrics = a.trim().parse::<SocketAddr>().ok();
            }
            if let Some(a) = line.strip_prefix("listening on ") {
                let _ = tx.send((a.trim().to_owned(), http, metrics, s3));
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok((addr, http, metrics, s3)) => Ok(Node {
            name: name.into(),
            child,
            addr: addr.parse().context("node address")?,
            http,
            metrics,
            s3,
        }),
        Err(_) => {
            let _ = child.kill();
            bail!("{name} did not start; see {}", log.display())
        }
    }
}

/// Prints the validators' view every two seconds until `duration` passes (0: until Ctrl-C) or a
/// node dies; returns whether it was interrupted.
async fn scoreboard(
    dir: &Path,
    metagraph: &Metagraph,
    onchain: Option<&SubtensorChain>,
    validators: usize,
    nodes: &mut [Node],
    duration: u64,
) -> bool {
    let started = Instant::now();
    let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
    loop {
        tokio::select! {
            _ = &mut ctrl_c => return true,
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
        let mut out = String::new();
        // On the chain, names come from its metagraph and the last column is what it holds.
        let current = match onchain {
            Some(c) => c.metagraph().await.ok(),
            None => None,
        };
        let metagraph = current.as_ref().unwrap_or(metagraph);
        out.push_str(&format!(
            "\n--- devnet, {:.0} s{} ---\n",
            started.elapsed().as_secs_f64(),
            current
                .as_ref()
                .map_or_else(String::new, |m| format!(", block {}", m.block))
        ));
        for i in 1..=validators {
            let name = format!("validator-{i}");
            let Ok(me) = Keypair::from_uri(&format!("//{name}")) else {
                continue;
            };
            let state = dir
                .join("db")
                .join(&name)
                .join("default")
                .join(tessera_validator::STATE_FILE);
            out.push_str(&format!(
                "{name}\n  {:<10} {:>10} {:>10} {:>10} {:>8} {:>9} {:>7}{}\n",
                "miner",
                "claimed",
                "proven",
                "data",
                "success",
                "latency",
                "weight",
                if onchain.is_some() { "   chain" } else { "" }
            ));
            let held = match (onchain, metagraph.neuron(&me.account())) {
                (Some(c), Some(v)) => c.weights_of(v.uid).await.ok(),
                _ => None,
            };
            let total: f64 = held.iter().flatten().map(|(_, w)| f64::from(*w)).sum();
            match tessera_validator::status::read(&state, &me.account()).await {
                Ok(rows) => {
                    for r in rows {
                        let who = metagraph
                            .neurons
                            .iter()
                            .find(|n| n.hotkey == r.hotkey)
                            .map_or_else(|| r.hotkey.to_string(), |n| format!("uid {}", n.uid));
                        let chain_weight = held.as_ref().map_or_else(String::new, |held| {
                            let uid = metagraph.neuron(&r.hotkey).map(|n| n.uid);
                            let w = held
                                .iter()
                                .find(|(u, _)| Some(*u) == uid)
                                .map_or(0.0, |(_, w)| f64::from(*w));
                            format!(" {:>7.3}", if total > 0.0 { w / total } else { 0.0 })
                        });
                        out.push_str(&format!(
                            "  {:<10} {:>9.1}M {:>9.1}M {:>9.2}M {:>7.0}% {:>7.1}ms {:>7.3}{chain_weight}\n",
                            who,
                            r.claimed_bytes as f64 / 1048576.0,
                            r.proven_bytes as f64 / 1048576.0,
                            r.data_bytes as f64 / 1048576.0,
                            100.0 * r.success_rate,
                            r.mean_latency_ms,
                            r.weight
                        ));
                    }
                }
                Err(e) => out.push_str(&format!("  (state unreadable: {e})\n")),
            }
        }
        print!("{out}");
        let _ = std::io::stdout().flush();
        for n in nodes.iter_mut() {
            if let Ok(Some(status)) = n.child.try_wait() {
                eprintln!("{} exited ({status}); stopping the network", n.name);
                return false;
            }
        }
        if duration > 0 && started.elapsed() >= Duration::from_secs(duration) {
            return false;
        }
    }
}

/// SIGTERM to every node, validators first, then waits; returns whether all exited cleanly.
pub(crate) fn stop(nodes: &mut [Node]) -> bool {
    for n in nodes.iter().rev() {
        let _ = Command::new("kill")
            .args(["-TERM", &n.child.id().to_string()])
            .status();
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut clean = true;
    for n in nodes.iter_mut() {
        loop {
            match n.child.try_wait() {
                Ok(Some(status)) => {
                    if !status.success() {
                        eprintln!("{} exited with {status}", n.name);
                        clean = false;
                    }
                    break;
                }
                _ if Instant::now() >= deadline => {
                    eprintln!("{} did not stop in time; killing it", n.name);
                    let _ = n.child.kill();
                    let _ = n.child.wait();
                    clean = false;
                    break;
                }
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }
    clean
}
