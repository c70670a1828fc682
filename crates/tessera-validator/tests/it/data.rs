//! Client data in challenges: slots a validator has stored pieces in are checked against the
//! roots it recorded at store time, so an honest miner holding client data keeps passing, and a
//! piece that changes under it fails.

use std::time::Duration;

use tessera_core::merkle;
use tessera_proto::miner::v1::methods;
use tessera_proto::miner::v1::miner_client::MinerClient;
use tessera_rpc::signed;
use tessera_storage::{NewObject, SegmentRecord, StateDb};
use tessera_testkit::{Spec, account, keypair, store_request};

use crate::support::{Subnet, eventually};

const CHUNK: u64 = 64 << 10;

async fn store(subnet: &Subnet, slot: u64, data: Vec<u8>) {
    let channel = tessera_testkit::channel(subnet.miners["Dave"].addr).await;
    let (req, _) = store_request(slot, data, &keypair("Alice"), &account("Dave"));
    MinerClient::new(channel).store(req).await.expect("store");
}

/// Records in Alice's state an object `id` whose pieces sit in Dave's slots 0, 1, ...
async fn index(subnet: &Subnet, id: [u8; 16], pieces: &[Vec<u8>], expires_ms: u64) {
    let dir = subnet.net.node_dir("Alice");
    std::fs::create_dir_all(&dir).unwrap();
    let state = StateDb::open(&dir.join(tessera_validator::STATE_FILE), &account("Alice"))
        .await
        .unwrap();
    let object = NewObject {
        id,
        owner: account("Eve"),
        size: 10,
        digest: [0; 32],
        k: 1,
        n: pieces.len() as u16,
        piece_size: CHUNK,
        segments: 1,
        created_ms: 1,
        expires_ms,
    };
    state.begin_object(&object).await.unwrap();
    let segment = SegmentRecord {
        index: 0,
        size: 10,
        pieces: pieces
            .iter()
            .enumerate()
            .map(|(p, data)| {
                let root = merkle::root(data).unwrap();
                (p as u16, root, vec![(account("Dave"), p as u64)])
            })
            .collect(),
    };
    state.record_segment(&id, &segment, 1).await.unwrap();
    assert!(state.commit_object(&id, &[0; 32]).await.unwrap());
    state.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_slots_prove_into_recorded_roots() {
    let mut subnet = Subnet::new(vec![Spec::validator("Alice", 100.0), Spec::miner("Dave")]);
    // Two chunks only: every challenge item lands on a slot that holds client data.
    subnet.start_miner("Dave", "128KiB", &[]).await;
    subnet.publish_axons();
    let pieces: Vec<Vec<u8>> = (0..2u8).map(|p| vec![p + 1; CHUNK as usize]).collect();
    for (slot, piece) in pieces.iter().enumerate() {
        store(&subnet, slot as u64, piece.clone()).await;
    }
    // The validator's index says where they are and what they prove into.
    index(&subnet, [1; 16], &pieces, u64::MAX >> 1).await;

    subnet.start_validator("Alice", &[]).await;
    let rows = eventually(Duration::from_secs(60), "two rounds", || async {
        let rows = subnet.rows("Alice").await;
        rows.get("Dave").filter(|r| r.challenges >= 16).cloned()
    })
    .await;
    assert_eq!(rows.success_rate, 1.0, "{rows:?}\n{}", subnet.logs());

    // A piece that changes under the validator fails its challenges.
    store(&subnet, 1, vec![9; CHUNK as usize]).await;
    eventually(
        Duration::from_secs(60),
        "the changed piece to fail",
        || async {
            let log = subnet.validators["Alice"].log_text();
            log.contains("holds a piece other than the one stored there")
                .then_some(())
        },
    )
    .await;
}

/// An object whose TTL ran out has its slots released on the miner, which reseals them, and
/// leaves the index; the miner keeps passing throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_objects_give_their_slots_back() {
    let mut subnet = Subnet::new(vec![Spec::validator("Alice", 100.0), Spec::miner("Dave")]);
    subnet.start_miner("Dave", "128KiB", &[]).await;
    subnet.publish_axons();
    let pieces: Vec<Vec<u8>> = (0..2u8).map(|p| vec![p + 1; CHUNK as usize]).collect();
    for (slot, piece) in pieces.iter().enumerate() {
        store(&subnet, slot as u64, piece.clone()).await;
    }
    index(&subnet, [2; 16], &pieces, 2).await;
    subnet.start_validator("Alice", &[]).await;

    eventually(Duration::from_secs(60), "the object reclaimed", || async {
        subnet.validators["Alice"]
            .log_text()
            .contains("object reclaimed")
            .then_some(())
    })
    .await;
    // The miner no longer holds the pieces: slot 0 is filler again.
    let channel = tessera_testkit::channel(subnet.miners["Dave"].addr).await;
    let (req, _) = signed(
        tessera_proto::miner::v1::RetrieveRequest { slot: 0 },
        &keypair("Alice"),
        &account("Dave"),
        methods::RETRIEVE,
    );
    let gone = MinerClient::new(channel).retrieve(req).await.unwrap_err();
    assert_eq!(gone.code(), tessera_proto::tonic::Code::NotFound);
    // And the resealed slots pass against sealed roots from then on.
    let rows = eventually(
        Duration::from_secs(60),
        "rounds after the release",
        || async {
            let rows = subnet.rows("Alice").await;
            rows.get("Dave").filter(|r| r.challenges >= 24).cloned()
        },
    )
    .await;
    assert_eq!(rows.success_rate, 1.0, "{rows:?}\n{}", subnet.logs());
}
