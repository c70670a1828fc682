//! The Subtensor backend against the real Subtensor runtime (spec 218) run by chopsticks: the
//! metagraph it reads, and the extrinsics it submits, checked through polkadot.js.

use std::time::Duration;

use tessera_chain::weights::{ChainWeights, Reveal};
use tessera_chain::{Chain, Error, Served, SubtensorChain};
use tessera_core::Keypair;
use tessera_testkit::localnet::Localnet;

fn key(name: &str) -> Keypair {
    Keypair::from_uri(&format!("//{name}")).expect("dev uri")
}

/// A subnet with a validator (Vera, staked) and a miner (Milo); returns its netuid.
fn subnet(net: &Localnet, hyper: serde_json::Value) -> u16 {
    let vera = key("Vera").account().to_ss58();
    let milo = key("Milo").account().to_ss58();
    let alice = key("Alice").account().to_ss58();
    let spec = serde_json::json!({
        "owner_hotkey": alice,
        "hotkeys": [vera, milo],
        "stakes": { vera.clone(): 1000 },
        "hyper": hyper,
    });
    let out: serde_json::Value =
        serde_json::from_str(&net.script(&["setup", &spec.to_string()])).expect("setup output");
    out["netuid"].as_u64().expect("netuid") as u16
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_the_metagraph_and_writes_axons_and_weights() {
    let mut net = Localnet::start();
    let netuid = subnet(
        &net,
        serde_json::json!([
            ["sudo_set_tempo", 10],
            ["sudo_set_weights_set_rate_limit", 0]
        ]),
    );
    net.pace(Duration::from_millis(500));
    let chain = SubtensorChain::new(net.url(), netuid);
    let (vera, milo) = (key("Vera"), key("Milo"));

    let m = chain.metagraph().await.expect("metagraph");
    assert_eq!(m.netuid, netuid);
    assert!(m.block > 0);
    let v = m.neuron(&vera.account()).expect("Vera registered");
    let mi = m.neuron(&milo.account()).expect("Milo registered");
    // Stake as the chain stores it (alpha, in rao), read independently.
    let alpha = net.query(
        "SubtensorModule",
        "TotalHotkeyAlpha",
        &[&vera.account().to_ss58(), &netuid.to_string()],
    );
    let alpha = alpha.as_f64().expect("alpha is a number");
    assert!(alpha > 0.0);
    // Emission accrues to the validator every block, and blocks pass between the two reads.
    let ratio = v.stake / (alpha / 1e9);
    assert!((0.99..=1.01).contains(&ratio), "{} vs {alpha}", v.stake);
    assert_eq!(mi.stake, 0.0);
    assert_eq!(v.coldkey, Some(key("Alice").account()));
    assert!(mi.axon.is_none());
    let uid: u16 = net
        .query(
            "SubtensorModule",
            "Uids",
            &[&netuid.to_string(), &milo.account().to_ss58()],
        )
        .as_u64()
        .expect("uid") as u16;
    assert_eq!(mi.uid, uid);
    assert_eq!(m.params.tempo, 10);
    assert!(!m.params.commit_reveal);
    assert!(!m.params.timelocked, "spec 218 has no timelocked commits");
    // Permits come with the first epoch: on this small subnet, stake tells them apart.
    assert!(v.is_validator(1.0) && !mi.is_validator(1.0));

    // An axon is published once and read back; publishing it again submits nothing.
    let axon = "127.0.0.2:7301".parse().unwrap();
    assert_eq!(
        chain.serve_axon(&milo, axon).await.expect("serve_axon"),
        Served::Published
    );
    let onchain = net.query(
        "SubtensorModule",
        "Axons",
        &[&netuid.to_string(), &milo.account().to_ss58()],
    );
    assert_eq!(onchain["port"], 7301, "{onchain}");
    assert_eq!(
        onchain["ip"].as_u64(),
        Some(u64::from(u32::from(std::net::Ipv4Addr::new(127, 0, 0, 2)))),
        "{onchain}"
    );
    assert_eq!(
        chain.serve_axon(&milo, axon).await.expect("serve_axon"),
        Served::Unchanged
    );
    let m = chain.metagraph().await.expect("metagraph");
    assert_eq!(m.neuron(&milo.account()).unwrap().axon, Some(axon));

    // The runtime's refusal comes back named.
    let refused = chain
        .serve_axon(&milo, "127.0.0.1:7301".parse().unwrap())
        .await
        .expect_err("127.0.0.1 is refused");
    assert_eq!(
        refused.dispatch_error(),
        Some("SubtensorModule::InvalidIpAddress"),
        "{refused}"
    );
    assert!(!refused.to_string().contains('\n'));

    // Weights land in the chain's Weights storage.
    let weights = ChainWeights {
        uids: vec![mi.uid],
        values: vec![u16::MAX],
        version_key: 0,
    };
    chain
        .set_weights(&vera, &weights)
        .await
        .expect("set_weights");
    let stored = net.query(
        "SubtensorModule",
        "Weights",
        &[&netuid.to_string(), &v.uid.to_string()],
    );
    assert_eq!(stored, serde_json::json!([[mi.uid, 65535]]), "{stored}");
    assert_eq!(
        chain.weights_of(v.uid).await.expect("weights"),
        vec![(mi.uid, u16::MAX)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_named_and_commits_reveal() {
    let mut net = Localnet::start();
    let netuid = subnet(
        &net,
        serde_json::json!([
            ["sudo_set_tempo", 4],
            ["sudo_set_weights_set_rate_limit", 1000],
        ]),
    );
    net.pace(Duration::from_millis(300));
    let chain = SubtensorChain::new(net.url(), netuid);
    let vera = key("Vera");
    let m = chain.metagraph().await.expect("metagraph");
    let milo = m.neuron(&key("Milo").account()).unwrap().uid;
    let weights = ChainWeights {
        uids: vec![milo],
        values: vec![u16::MAX],
        version_key: 0,
    };
    // Registration counts as the last update: the rate limit holds the first setting back.
    let err = chain.set_weights(&vera, &weights).await.unwrap_err();
    assert_eq!(
        err.dispatch_error(),
        Some("SubtensorModule::SettingWeightsTooFast"),
        "{err}"
    );
    assert!(!err.is_transient());

    // Commit and reveal: too early is refused by name, in the next epoch it lands.
    net.script(&[
        "sudo",
        &serde_json::json!({"netuid": netuid, "calls": [
            ["sudo_set_weights_set_rate_limit", 0],
            ["sudo_set_commit_reveal_weights_enabled", true],
            // Reveals three epochs (15 blocks) after the commit: a reveal right after the
            // commit is early however slow the machine.
            ["sudo_set_commit_reveal_weights_interval", 3],
        ]})
        .to_string(),
    ]);
    let m = chain.metagraph().await.expect("metagraph");
    assert!(m.params.commit_reveal);
    let reveal = Reveal {
        uids: vec![milo],
        values: vec![u16::MAX],
        salt: vec![1, 2, 3, 4, 5, 6, 7, 8],
        version_key: 0,
    };
    let refused = chain.set_weights(&vera, &weights).await.unwrap_err();
    assert_eq!(
        refused.dispatch_error(),
        Some("SubtensorModule::CommitRevealEnabled")
    );
    chain
        .commit_weights(&vera, reveal.commit_hash(&vera.account(), netuid))
        .await
        .expect("commit");
    let early = chain.reveal_weights(&vera, &reveal).await.unwrap_err();
    assert_eq!(
        early.dispatch_error(),
        Some("SubtensorModule::RevealTooEarly"),
        "{early}"
    );
    let mut revealed = Err(early);
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        revealed = chain.reveal_weights(&vera, &reveal).await;
        match &revealed {
            Err(e) if e.dispatch_error() == Some("SubtensorModule::RevealTooEarly") => continue,
            _ => break,
        }
    }
    revealed.expect("reveal in the next epoch");
    let v = m.neuron(&vera.account()).unwrap().uid;
    assert_eq!(chain.weights_of(v).await.unwrap(), vec![(milo, u16::MAX)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_subnet_and_a_stopped_chain_are_clear_errors() {
    let mut net = Localnet::start();
    let chain = SubtensorChain::new(net.url(), 77);
    let err = chain.metagraph().await.unwrap_err();
    assert!(matches!(err, Error::NoSubnet { netuid: 77, .. }), "{err}");
    net.stop();
    let err = chain.metagraph().await.unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert!(err.to_string().contains(&net.url()), "{err}");
}
