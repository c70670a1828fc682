//! `cargo xtask bench-chain`: reading a subnet's metagraph from the real Subtensor runtime (run by
//! chopsticks) through Tessera's backend, against one raw `state_queryStorageAt` of the same keys
//! in the same run; and the time from a validator's `set_weights` to its block.
//!
//! The raw read is the floor: one request, no decoding. The backend reads and decodes each item
//! through subxt from the runtime's metadata, the per-hotkey items pipelined over one connection.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tessera_chain::weights::ChainWeights;
use tessera_chain::{Chain, SubtensorChain};
use tessera_core::Keypair;
use tessera_testkit::localnet::{Localnet, rpc};

use crate::bench::own_cpu_secs;

pub fn run(neurons: usize, rounds: usize) -> anyhow::Result<ExitCode> {
    if !(2..=256).contains(&neurons) || rounds == 0 {
        bail!("--neurons must be 2 to 256 and --rounds at least 1");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut net = Localnet::start();
    let alice = Keypair::from_uri("//Alice")?.account();
    // The subnet owner's hotkey takes a uid too: neurons - 1 more make `neurons`.
    let keys: Vec<Keypair> = (1..neurons)
        .map(|i| Keypair::from_uri(&format!("//bench-chain-{i}")))
        .collect::<Result<_, _>>()?;
    let validator = &keys[0];
    let spec = serde_json::json!({
        "owner_hotkey": alice.to_ss58(),
        "hotkeys": keys.iter().map(|k| k.account().to_ss58()).collect::<Vec<_>>(),
        "stakes": { validator.account().to_ss58(): 1000 },
        "hyper": [["sudo_set_weights_set_rate_limit", 0], ["sudo_set_tempo", 360]],
    });
    let started = Instant::now();
    let out: serde_json::Value =
        serde_json::from_str(&net.script(&["setup", &spec.to_string()])).context("setup output")?;
    let netuid = out["netuid"].as_u64().context("netuid")? as u16;
    println!(
        "bench-chain: subnet {netuid} with {} neurons set up in {:.1} s",
        out["uids"].as_object().map_or(0, |m| m.len()),
        started.elapsed().as_secs_f64()
    );
    let pace = Duration::from_secs(1);
    net.pace(pace);
    let chain = SubtensorChain::new(net.url(), netuid);

    runtime.block_on(async {
        // Connecting and fetching the metadata happen once per connection, not per read.
        let t = Instant::now();
        let m = chain.metagraph().await?;
        let first = t.elapsed();
        if m.neurons.len() != neurons {
            bail!("read {} neurons, expected {neurons}", m.neurons.len());
        }

        let mut ours = Vec::new();
        for _ in 0..rounds {
            let (t, cpu) = (Instant::now(), own_cpu_secs());
            let read = chain.metagraph().await?;
            ours.push((t.elapsed().as_secs_f64(), own_cpu_secs() - cpu));
            std::hint::black_box(read);
        }

        let keys = chain.metagraph_keys(&m).await?;
        let params = format!(
            "[[{}],null]",
            keys.iter()
                .map(|k| format!("\"0x{}\"", hex(k)))
                .collect::<Vec<_>>()
                .join(",")
        );
        let mut raw = Vec::new();
        let mut bytes = 0;
        for _ in 0..rounds {
            let (t, cpu) = (Instant::now(), own_cpu_secs());
            let body = rpc(net.port, "state_queryStorageAt", &params).map_err(anyhow::Error::msg)?;
            raw.push((t.elapsed().as_secs_f64(), own_cpu_secs() - cpu));
            bytes = body.len();
        }

        let miners: Vec<u16> = m
            .neurons
            .iter()
            .filter(|n| n.hotkey != validator.account())
            .map(|n| n.uid)
            .collect();
        let weights = ChainWeights {
            values: vec![u16::MAX; miners.len()],
            uids: miners,
            version_key: m.params.weights_version_key,
        };
        let head = || -> anyhow::Result<u64> {
            let body = rpc(net.port, "chain_getHeader", "[]").map_err(anyhow::Error::msg)?;
            // The body may come chunked: the JSON is what lies between the outer braces.
            let json = body
                .find('{')
                .zip(body.rfind('}'))
                .map(|(a, b)| &body[a..=b])
                .context("no JSON in chain_getHeader's answer")?;
            let v: serde_json::Value = serde_json::from_str(json)?;
            let number = v["result"]["number"].as_str().context("header number")?;
            Ok(u64::from_str_radix(number.trim_start_matches("0x"), 16)?)
        };
        let mut landed = Vec::new();
        let mut blocks = Vec::new();
        for _ in 0..rounds.min(5) {
            let (t, before) = (Instant::now(), head()?);
            let at = chain.set_weights(validator, &weights).await?;
            landed.push(t.elapsed().as_secs_f64());
            blocks.push((at - before) as f64);
        }
        // What one block costs chopsticks to build, with nothing in it: the floor under the
        // figure above, since the pacer asks for a block only once the last one is built.
        let mut empty = Vec::new();
        for _ in 0..3 {
            let t = Instant::now();
            net.new_block();
            empty.push(t.elapsed().as_secs_f64());
        }

        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (mut ow, mut oc): (Vec<f64>, Vec<f64>) = ours.into_iter().unzip();
        let (mut rw, mut rc): (Vec<f64>, Vec<f64>) = raw.into_iter().unzip();
        println!(
            "metagraph of {neurons} neurons, {} storage keys, median of {rounds} reads:",
            keys.len()
        );
        println!(
            "  tessera (subxt, decoded): {:>8.1} ms wall, {:>7.1} ms CPU  (first read with connect and metadata: {:.0} ms)",
            median(&mut ow) * 1e3,
            median(&mut oc) * 1e3,
            first.as_secs_f64() * 1e3
        );
        println!(
            "  raw state_queryStorageAt: {:>8.1} ms wall, {:>7.1} ms CPU  ({bytes} bytes of JSON, not decoded)",
            median(&mut rw) * 1e3,
            median(&mut rc) * 1e3
        );
        println!(
            "set_weights to its block, {} weights, a block asked for every {:?}: median {:.2} s \
             and {} blocks over {}; building an empty block takes chopsticks {:.2} s",
            weights.uids.len(),
            pace,
            median(&mut landed),
            median(&mut blocks),
            landed.len(),
            median(&mut empty)
        );
        Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
