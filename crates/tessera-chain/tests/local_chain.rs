//! `LocalChain`: reading a real metagraph file, picking up edits, and failing with the file's name.

use std::path::Path;

use tessera_chain::{Chain, Error, LocalChain, Metagraph};

const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";

fn one_neuron(netuid: u16, hotkey: &str) -> String {
    format!(
        "netuid = {netuid}\n\n[[neurons]]\nuid = 0\nhotkey = \"{hotkey}\"\nstake = 10.0\nvalidator_permit = true\naxon = \"127.0.0.1:7101\"\n"
    )
}

/// Generic over the trait, as the allocator will be, so that the trait itself is exercised.
async fn fetch(chain: &impl Chain) -> Result<Metagraph, Error> {
    chain.metagraph().await
}

fn assert_send<T: Send>(value: T) -> T {
    value
}

#[tokio::test]
async fn reads_the_file_afresh_each_time() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("metagraph.toml");
    std::fs::write(&path, one_neuron(1, ALICE)).expect("write metagraph");
    let chain = LocalChain::new(&path, 1);

    // The future must be Send so that callers can spawn it on a multi-threaded runtime.
    let first = assert_send(fetch(&chain)).await.expect("first read");
    assert_eq!(first.netuid, 1);
    assert_eq!(first.neurons.len(), 1);
    assert_eq!(first.neurons[0].hotkey.to_ss58(), ALICE);

    std::fs::write(&path, one_neuron(1, BOB)).expect("rewrite metagraph");
    let second = fetch(&chain).await.expect("second read");
    assert_eq!(second.neurons[0].hotkey.to_ss58(), BOB);

    // What to_toml writes, LocalChain reads: the local network relies on this.
    std::fs::write(&path, first.to_toml()).expect("write metagraph back");
    assert_eq!(fetch(&chain).await.expect("third read"), first);
}

#[tokio::test]
async fn errors_name_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("metagraph.toml");

    let missing = fetch(&LocalChain::new(&path, 1))
        .await
        .expect_err("a missing file is an error");
    assert!(matches!(missing, Error::Read { .. }), "{missing:?}");
    let message = missing.to_string();
    assert!(
        message.starts_with(&format!("metagraph {}: ", path.display())),
        "{message}"
    );
    assert!(!message.contains('\n'), "{message}");

    std::fs::write(&path, [0xff, 0xfe, b'\n']).expect("write garbage");
    let garbage = fetch(&LocalChain::new(&path, 1))
        .await
        .expect_err("a file that is not UTF-8 is an error");
    assert!(matches!(garbage, Error::Read { .. }), "{garbage:?}");

    std::fs::write(&path, one_neuron(2, ALICE)).expect("write metagraph");
    let wrong_subnet = fetch(&LocalChain::new(&path, 1))
        .await
        .expect_err("another subnet's file is an error");
    assert_eq!(
        wrong_subnet.to_string(),
        format!(
            "metagraph {}:1: netuid 2 does not match the requested netuid 1",
            path.display()
        )
    );
    assert!(Path::new(&path).exists());
}
