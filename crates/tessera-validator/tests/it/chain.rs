//! A miner and a validator on the real Subtensor runtime (spec 218, run by chopsticks), started
//! from wallet files with nothing about the subnet but its endpoint and netuid: they find each
//! other through the chain, and what they publish is read back with polkadot.js.

use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::time::Duration;

use tessera_testkit::localnet::Localnet;
use tessera_testkit::{Net, Process, account, bin};

use crate::support::{CHUNK_FLAG, eventually};

const MINUTE: Duration = Duration::from_secs(60);

/// A subnet on the local chain with a validator (Vera, 1000 TAO staked) and a miner (Milo).
struct Chain {
    net: Net,
    chain: Localnet,
    netuid: u16,
}

impl Chain {
    /// Sets the subnet up with `hyper` (AdminUtils calls), then builds a block every 300 ms.
    fn start(hyper: serde_json::Value) -> Chain {
        let mut chain = Localnet::start();
        let net = Net::new();
        let (vera, milo) = (net.wallet("Vera"), net.wallet("Milo"));
        let spec = serde_json::json!({
            "owner_hotkey": account("Alice").to_ss58(),
            "hotkeys": [vera.to_ss58(), milo.to_ss58()],
            "stakes": { vera.to_ss58(): 1000 },
            "hyper": hyper,
        });
        let out: serde_json::Value =
            serde_json::from_str(&chain.script(&["setup", &spec.to_string()])).expect("setup");
        let netuid = out["netuid"].as_u64().expect("netuid") as u16;
        chain.pace(Duration::from_millis(300));
        Chain { net, chain, netuid }
    }

    /// Wallet and chain flags only: nothing about the subnet but where the chain is.
    fn args(&self, name: &str) -> Vec<String> {
        [
            ("--db_path", self.net.db().display().to_string()),
            ("--wallet.path", self.net.wallets().display().to_string()),
            ("--wallet.name", name.to_owned()),
            ("--subtensor.chain_endpoint", self.chain.url()),
            ("--netuid", self.netuid.to_string()),
            // The owner's hotkey holds a little alpha from registering the subnet: stake is
            // what tells validators from miners here, since every neuron has a permit.
            ("--min_stake", "100".to_owned()),
            ("--seal", "dev".to_owned()),
            ("--chunk_size", CHUNK_FLAG.to_owned()),
        ]
        .into_iter()
        .flat_map(|(k, v)| [k.to_owned(), v])
        .collect()
    }

    async fn miner(&self) -> Process {
        let mut args = self.args("Milo");
        // The runtime refuses 127.0.0.1 as an axon; other loopback addresses are accepted.
        for (k, v) in [
            ("--axon.ip", "127.0.0.2"),
            ("--axon.port", "0"),
            ("--capacity", "4MiB"),
            ("--step_secs", "1"),
        ] {
            args.extend([k.to_owned(), v.to_owned()]);
        }
        let log = self.net.root.join("Milo.log");
        let p = Process::spawn(&bin("tessera-miner"), &args, &log, MINUTE);
        tessera_testkit::wait_healthy(p.addr, Duration::from_secs(20)).await;
        p
    }

    async fn validator(&self) -> Process {
        let mut args = self.args("Vera");
        for (k, v) in [
            ("--axon.ip", "127.0.0.1"),
            ("--axon.port", "0"),
            ("--round_secs", "1"),
            ("--epoch_secs", "1"),
            ("--challenge.slack_ms", "300"),
            ("--metrics.addr", "127.0.0.1:0"),
        ] {
            args.extend([k.to_owned(), v.to_owned()]);
        }
        let log = self.net.root.join("Vera.log");
        let p = Process::spawn(&bin("tessera-validator"), &args, &log, MINUTE);
        tessera_testkit::wait_healthy(p.addr, Duration::from_secs(20)).await;
        p
    }

    fn uid(&self, name: &str) -> u64 {
        self.chain
            .query(
                "SubtensorModule",
                "Uids",
                &[&self.netuid.to_string(), &account(name).to_ss58()],
            )
            .as_u64()
            .unwrap_or_else(|| panic!("{name} has no uid"))
    }

    /// The weights the chain holds from `name`.
    fn weights(&self, name: &str) -> serde_json::Value {
        self.chain.query(
            "SubtensorModule",
            "Weights",
            &[&self.netuid.to_string(), &self.uid(name).to_string()],
        )
    }

    fn logs(&self) -> String {
        let mut out = String::new();
        for name in ["Milo", "Vera"] {
            let text = std::fs::read_to_string(self.net.root.join(format!("{name}.log")))
                .unwrap_or_default();
            out.push_str(&format!("\n--- {name}\n{text}"));
        }
        out
    }
}

async fn metric(p: &Process, name: &str) -> f64 {
    let addr = p.metrics_addr().expect("metrics address");
    let text = tessera_node::scrape(addr).await.unwrap_or_default();
    tessera_node::total(&text, name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn miner_and_validator_find_each_other_through_the_chain() {
    // A rate limit of 8 blocks (2.4 s) against one-second epochs: the validator must wait.
    let c = Chain::start(serde_json::json!([
        ["sudo_set_tempo", 10],
        ["sudo_set_weights_set_rate_limit", 8],
    ]));
    let miner = c.miner().await;

    // The miner's axon is on chain, at the address it is bound to.
    let axon = eventually(MINUTE, "the miner's axon on chain", || async {
        let a = c.chain.query(
            "SubtensorModule",
            "Axons",
            &[&c.netuid.to_string(), &account("Milo").to_ss58()],
        );
        (a["port"].as_u64() == Some(u64::from(miner.addr.port()))).then_some(a)
    })
    .await;
    assert_eq!(
        axon["ip"].as_u64(),
        Some(u64::from(u32::from(Ipv4Addr::new(127, 0, 0, 2)))),
        "{axon}"
    );

    // The validator finds the miner through that axon, challenges it and sets weights that
    // follow its score: the one miner gets all of it.
    let validator = c.validator().await;
    let milo = c.uid("Milo");
    eventually(MINUTE, "Vera's weights on chain", || async {
        let w = c.weights("Vera");
        (w == serde_json::json!([[milo, 65535]])).then_some(())
    })
    .await;
    let first = c
        .chain
        .query("SubtensorModule", "LastUpdate", &[&c.netuid.to_string()]);
    eventually(MINUTE, "a second setting after the rate limit", || async {
        let now = c
            .chain
            .query("SubtensorModule", "LastUpdate", &[&c.netuid.to_string()]);
        (now != first).then_some(())
    })
    .await;
    eventually(MINUTE, "both settings counted", || async {
        (metric(&validator, "tessera_validator_weights_set_total").await >= 2.0).then_some(())
    })
    .await;
    assert!(metric(&validator, "tessera_validator_chain_connected").await == 1.0);
    assert!(metric(&validator, "tessera_validator_chain_block").await > 0.0);
    let logs = c.logs();
    assert!(!logs.contains("SettingWeightsTooFast"), "{logs}");
    assert!(logs.contains("weights set"), "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_reveal_switched_on_mid_run_survives_a_restart() {
    let c = Chain::start(serde_json::json!([
        ["sudo_set_tempo", 4],
        ["sudo_set_weights_set_rate_limit", 0],
    ]));
    let _miner = c.miner().await;
    let mut validator = c.validator().await;
    let milo = c.uid("Milo");
    eventually(MINUTE, "weights set directly", || async {
        (c.weights("Vera") == serde_json::json!([[milo, 65535]])).then_some(())
    })
    .await;

    // Commit-reveal on, with reveals three epochs (15 blocks, 4.5 s) after their commit.
    c.chain.script(&[
        "sudo",
        &serde_json::json!({"netuid": c.netuid, "calls": [
            ["sudo_set_commit_reveal_weights_enabled", true],
            ["sudo_set_commit_reveal_weights_interval", 3],
        ]})
        .to_string(),
    ]);
    eventually(MINUTE, "a commit", || async {
        (metric(&validator, "tessera_validator_weight_commits_total").await >= 1.0).then_some(())
    })
    .await;
    let commits = c.chain.query(
        "SubtensorModule",
        "WeightCommits",
        &[&c.netuid.to_string(), &account("Vera").to_ss58()],
    );
    assert!(commits.is_array(), "the commit is on chain: {commits}");
    assert!(
        metric(&validator, "tessera_validator_weight_reveals_total").await == 0.0,
        "revealed before the restart"
    );

    // Stopped between commit and reveal: the restarted validator reveals what it committed.
    validator
        .terminate(Duration::from_secs(15))
        .await
        .expect("validator stops");
    let validator = c.validator().await;
    eventually(MINUTE, "the reveal after the restart", || async {
        (metric(&validator, "tessera_validator_weight_reveals_total").await >= 1.0).then_some(())
    })
    .await;
    assert_eq!(c.weights("Vera"), serde_json::json!([[milo, 65535]]));
    let logs = c.logs();
    assert!(logs.contains("weights revealed"), "{logs}");
    assert!(!logs.contains("CommitRevealEnabled"), "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unregistered_hotkey_is_told_to_register() {
    let c = Chain::start(serde_json::json!([]));
    let stranger = c.net.wallet("Stranger");
    for binary in ["tessera-miner", "tessera-validator"] {
        let mut args = c.args("Stranger");
        args.extend(["--axon.ip", "127.0.0.2", "--axon.port", "0"].map(String::from));
        let out = Command::new(bin(binary))
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .expect("run the node");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{binary}: {stderr}");
        let line = stderr
            .lines()
            .find(|l| l.contains("not registered"))
            .unwrap_or_else(|| panic!("{binary}: {stderr}"));
        assert!(line.contains(&stranger.to_ss58()), "{line}");
        assert!(line.contains(&format!("netuid {}", c.netuid)), "{line}");
        assert!(line.contains("btcli subnet register"), "{line}");
        // Nothing was written for it.
        assert!(
            !c.net.db().join("Stranger").exists(),
            "{binary} wrote a folder"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_ride_out_a_chain_restart() {
    let mut c = Chain::start(serde_json::json!([
        ["sudo_set_tempo", 10],
        ["sudo_set_weights_set_rate_limit", 0],
    ]));
    let miner = c.miner().await;
    let validator = c.validator().await;
    let milo = c.uid("Milo");
    eventually(MINUTE, "weights on chain", || async {
        (c.weights("Vera") == serde_json::json!([[milo, 65535]])).then_some(())
    })
    .await;

    c.chain.stop();
    eventually(MINUTE, "the validator to notice", || async {
        (metric(&validator, "tessera_validator_chain_connected").await == 0.0).then_some(())
    })
    .await;
    // Both keep serving meanwhile, with the metagraph they last read.
    tessera_testkit::wait_healthy(miner.addr, Duration::from_secs(5)).await;
    tessera_testkit::wait_healthy(validator.addr, Duration::from_secs(5)).await;
    let rounds = metric(&validator, "tessera_validator_rounds_total").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(metric(&validator, "tessera_validator_rounds_total").await > rounds);

    let before = metric(&validator, "tessera_validator_chain_block").await;
    c.chain.restart(Duration::from_millis(300));
    eventually(MINUTE, "the validator back on the chain", || async {
        let block = metric(&validator, "tessera_validator_chain_block").await;
        (metric(&validator, "tessera_validator_chain_connected").await == 1.0 && block > before)
            .then_some(())
    })
    .await;
    let sets = metric(&validator, "tessera_validator_weights_set_total").await;
    let deadline = std::time::Instant::now() + MINUTE;
    while metric(&validator, "tessera_validator_weights_set_total").await <= sets {
        assert!(
            std::time::Instant::now() < deadline,
            "no weights set after the restart{}",
            c.logs()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let logs = c.logs();
    // Logged once per change of state, not once per try.
    let vera = std::fs::read_to_string(c.net.root.join("Vera.log")).unwrap_or_default();
    assert_eq!(vera.matches("chain unreachable").count(), 1, "{logs}");
    assert_eq!(vera.matches("chain reachable again").count(), 1, "{logs}");
}
