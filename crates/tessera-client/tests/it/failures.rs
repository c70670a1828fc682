//! Miners vanish and pieces rot: every object stays readable, and repair brings every segment
//! back to n healthy pieces on the miners that remain.

use std::time::{Duration, Instant};

use tessera_proto::miner::v1::miner_client::MinerClient;
use tessera_proto::miner::v1::{RetrieveRequest, methods};
use tessera_rpc::signed;
use tessera_testkit::{account, keypair, store_request};

use crate::support::{CHUNK, Devnet, VALIDATOR, bytes, text};

/// Waits until `tessera stat` reports every segment of `id` at `want` healthy pieces of 3.
async fn wait_health(net: &Devnet, id: &str, want: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let out = net.tessera("Eve", &["stat", id]);
        let stdout = text(&out.stdout);
        if stdout.contains(&format!("health:    {want}")) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "object {id} never reached health {want}: {stdout}{}\n{}",
            text(&out.stderr),
            net.logs()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The data slots miner `name` holds for the validator, found by asking for every slot.
async fn data_slots(net: &Devnet, name: &str, n_slots: u64) -> Vec<u64> {
    let channel = tessera_testkit::channel(net.miners[name].addr).await;
    let mut client = MinerClient::new(channel);
    let mut out = Vec::new();
    for slot in 0..n_slots {
        let (req, _) = signed(
            RetrieveRequest { slot },
            &keypair(VALIDATOR),
            &account(name),
            methods::RETRIEVE,
        );
        if client.retrieve(req).await.is_ok() {
            out.push(slot);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_survive_a_lost_miner_and_are_repaired() {
    let mut net = Devnet::start(&["Dave", "Ferdie", "Grace", "Heidi"], "2MiB", 2, 3, &[]).await;
    let objects: Vec<(String, Vec<u8>)> = (0..3)
        .map(|i| {
            let data = bytes(5 * CHUNK + i * 1000, i as u8);
            (net.put("Eve", &data), data)
        })
        .collect();
    for (id, _) in &objects {
        wait_health(&net, id, "3/3", Duration::from_secs(10)).await;
    }

    // n − k = 1 miner dies: everything is still readable from the others.
    let victim = "Ferdie";
    assert!(
        !data_slots(&net, victim, 32).await.is_empty(),
        "{victim} holds no piece"
    );
    net.miners.get_mut(victim).unwrap().kill();
    for (id, data) in &objects {
        let got = net
            .get("Eve", id)
            .unwrap_or_else(|e| panic!("{e}\n{}", net.logs()));
        assert!(got == *data, "object {id} came back different");
    }
    // Once the validator stops trusting it, repair rebuilds its pieces on the other three.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !net
        .validator
        .as_ref()
        .unwrap()
        .log_text()
        .contains("piece repaired")
    {
        assert!(
            Instant::now() < deadline,
            "nothing repaired\n{}",
            net.logs()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    for (id, _) in &objects {
        wait_health(&net, id, "3/3", Duration::from_secs(60)).await;
    }
    for (id, data) in &objects {
        assert!(net.get("Eve", id).unwrap() == *data);
    }

    // The copies left on the lost miner could not be released while it was away; the releases
    // wait in the index and go through once it is back, and it is never taken for a liar.
    net.start_miner_with(victim, "2MiB", &[]).await;
    net.publish_axons();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = data_slots(&net, victim, 32).await;
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{victim} still holds moved-away pieces in {left:?}\n{}",
            net.logs()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let log = net.validator.as_ref().unwrap().log_text();
    assert!(log.contains("moved-away pieces released"), "{}", net.logs());
    assert!(!log.contains("caught lying"), "{}", net.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_piece_is_caught_and_repaired() {
    let net = Devnet::start(&["Dave", "Ferdie", "Grace", "Heidi"], "2MiB", 2, 3, &[]).await;
    let data = bytes(8 * CHUNK, 7);
    let id = net.put("Eve", &data);

    // Every piece Dave holds is overwritten behind the validator's back.
    let slots = data_slots(&net, "Dave", 32).await;
    assert!(!slots.is_empty(), "Dave holds no piece");
    let channel = tessera_testkit::channel(net.miners["Dave"].addr).await;
    let mut dave = MinerClient::new(channel);
    for slot in &slots {
        let (req, _) = store_request(
            *slot,
            vec![0xee; CHUNK],
            &keypair(VALIDATOR),
            &account("Dave"),
        );
        dave.store(req).await.expect("overwrite");
    }

    // The download still succeeds from the good pieces...
    let got = net
        .get("Eve", &id)
        .unwrap_or_else(|e| panic!("{e}\n{}", net.logs()));
    assert!(got == data, "object came back different");
    // ...the bad pieces are caught, on retrieval or by a challenge, and replaced.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let log = net.validator.as_ref().unwrap().log_text();
        if log.contains("piece repaired")
            && text(&net.tessera("Eve", &["stat", &id]).stdout).contains("health:    3/3")
        {
            assert!(
                log.contains("does not match its recorded root")
                    || log.contains("a data slot failed its challenge"),
                "{}",
                net.logs()
            );
            break;
        }
        assert!(Instant::now() < deadline, "never repaired\n{}", net.logs());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(net.get("Eve", &id).unwrap() == data);
}

/// A miner that serves slowly is hedged: the get asks a spare piece after `--data.hedge_ms` and
/// finishes with whichever k pieces arrive first.
///
/// Grace sends 32 KiB a second, so every 64 KiB piece past her 32 KiB burst takes a second or
/// more, well past the 300 ms hedge: at 128 KiB/s a piece took 500 ms and two fitted in her
/// burst, so whether a hedge happened depended on timing. She holds one of the three pieces of
/// each of the seven segments, an original one in all but (1/3)^7 of objects. The hedge is read
/// from the validator's metrics, not from its log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_miners_are_hedged() {
    let slow: &[&str] = &["--limits.bandwidth", "32KiB"];
    let net = Devnet::start_with(
        &[("Dave", &[]), ("Ferdie", &[]), ("Grace", slow)],
        "2MiB",
        2,
        3,
        &["--metrics.addr", "127.0.0.1:0"],
    )
    .await;
    let data = bytes(12 * CHUNK, 9);
    let id = net.put("Eve", &data);
    let got = net
        .get("Eve", &id)
        .unwrap_or_else(|e| panic!("{e}\n{}", net.logs()));
    assert!(got == data, "object came back different");
    let validator = net.validator.as_ref().unwrap();
    let metrics = validator.metrics_addr().expect("validator metrics address");
    let text = tessera_node::scrape(metrics).await.expect("scrape metrics");
    let hedges = tessera_node::total(&text, "tessera_validator_hedged_fetches_total");
    assert!(hedges >= 1.0, "no hedged fetch: {hedges}\n{}", net.logs());
}
