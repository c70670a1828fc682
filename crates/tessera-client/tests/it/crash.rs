//! A validator killed mid-put leaves no half object: after a restart the object does not exist,
//! and the pieces already on miners go back to filler.

use std::time::{Duration, Instant};

use tessera_proto::miner::v1::RetrieveRequest;
use tessera_proto::miner::v1::methods;
use tessera_proto::miner::v1::miner_client::MinerClient;
use tessera_rpc::signed;
use tessera_testkit::{account, bin, keypair};

use crate::support::{Devnet, VALIDATOR, bytes, text};

async fn holds_data(net: &Devnet, miner: &str, slots: std::ops::Range<u64>) -> bool {
    let channel = tessera_testkit::channel(net.miners[miner].addr).await;
    let mut client = MinerClient::new(channel);
    for slot in slots {
        let (req, _) = signed(
            RetrieveRequest { slot },
            &keypair(VALIDATOR),
            &account(miner),
            methods::RETRIEVE,
        );
        if client.retrieve(req).await.is_ok() {
            return true;
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_put_leaves_no_half_object() {
    let miners = ["Dave", "Ferdie", "Grace"];
    let mut net = Devnet::start(&miners, "48MiB", 2, 3, &[]).await;
    let path = net.file("big", &bytes(48 << 20, 3));
    net.net.wallet("Eve");
    let put = std::process::Command::new(bin("tessera"))
        .args(["--validator", &net.addr(), "--wallet.path"])
        .arg(net.net.wallets())
        .args(["--wallet.name", "Eve", "--quiet", "put"])
        .arg(&path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();

    // Kill the validator as soon as the first pieces reach a miner.
    let deadline = Instant::now() + Duration::from_secs(30);
    'wait: loop {
        for m in miners {
            if holds_data(&net, m, 0..2).await {
                break 'wait;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no piece ever stored\n{}",
            net.logs()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    net.validator.as_mut().unwrap().kill();
    let out = put.wait_with_output().unwrap();
    assert!(
        !out.status.success(),
        "the put finished before the kill: make the object bigger"
    );
    let err = text(&out.stderr);
    assert!(err.starts_with("error: validator at"), "{err}");

    net.start_validator().await;
    let ls = net.tessera("Eve", &["ls"]);
    assert!(ls.status.success(), "{}", text(&ls.stderr));
    assert_eq!(
        text(&ls.stdout).lines().count(),
        1,
        "a half object is listed: {}",
        text(&ls.stdout)
    );
    // The pieces stored before the kill are released: every miner holds filler only again.
    let deadline = Instant::now() + Duration::from_secs(30);
    for m in miners {
        while holds_data(&net, m, 0..768).await {
            assert!(
                Instant::now() < deadline,
                "{m} still holds orphaned pieces\n{}",
                net.logs()
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    let log = net.validator.as_ref().unwrap().log_text();
    assert!(log.contains("object reclaimed"), "{log}");
    // And the network takes new objects as before.
    let id = net.put("Eve", &bytes(1000, 4));
    assert_eq!(net.get("Eve", &id).unwrap(), bytes(1000, 4));
}
