//! What an admitted validator gets: its partition's description, proofs that verify against
//! roots it derives itself, signed answers, health, reflection, and an orderly stop.

use std::time::Duration;

use tessera_core::merkle;
use tessera_partition::{SealKey, SealProfile};
use tessera_proto::miner::v1::{
    ChallengeItem, ChallengeRequest, InfoRequest, PingRequest, methods,
};
use tessera_rpc::{signed, verify_response};
use tessera_testkit::{Spec, account};

use crate::support::{CHUNK, Miner, subnet, validator};

#[tokio::test]
async fn validators_get_their_partition_and_sound_proofs() {
    let miner = Miner::start(&[]).await;
    let mut client = miner.client().await;
    let dave = miner.hotkey();

    // Stakes 3000 : 1000 : 500 : 5 (+1 each) split 32 chunks of 64 KiB.
    let alice = validator("Alice");
    let (req, nonce) = signed(InfoRequest::default(), &alice, &dave, methods::INFO);
    let resp = client.info(req).await.expect("info");
    verify_response(
        &resp,
        methods::INFO,
        &dave,
        &alice.account(),
        &nonce,
        "miner",
    )
    .expect("signed by the miner");
    let p = resp
        .get_ref()
        .partition
        .clone()
        .expect("a partition for Alice");
    assert_eq!(p.chunk_size, CHUNK);
    assert_eq!(p.seal_profile, "dev");
    assert!(p.n_chunks >= 20, "{p:?}");

    let key = SealKey::new(dave, alice.account(), CHUNK, SealProfile::Dev.params()).unwrap();
    let items: Vec<ChallengeItem> = [(0, 0), (p.n_chunks - 1, 63), (3, 17)]
        .into_iter()
        .map(|(chunk_id, segment)| ChallengeItem { chunk_id, segment })
        .chain([ChallengeItem {
            chunk_id: p.n_chunks,
            segment: 0,
        }])
        .collect();
    let (req, nonce) = signed(
        ChallengeRequest {
            items: items.clone(),
        },
        &alice,
        &dave,
        methods::CHALLENGE,
    );
    let resp = client.challenge(req).await.expect("challenge");
    verify_response(
        &resp,
        methods::CHALLENGE,
        &dave,
        &alice.account(),
        &nonce,
        "miner",
    )
    .expect("signed by the miner");
    let proofs = &resp.get_ref().proofs;
    assert_eq!(proofs.len(), items.len());
    for (item, proof) in items.iter().zip(proofs).take(3) {
        // The root comes from sealing, never from the miner.
        let root = key.expected_root(item.chunk_id);
        let path = proof
            .path
            .iter()
            .map(|h| <[u8; 32]>::try_from(h.as_slice()).unwrap())
            .collect();
        let ok = merkle::verify(
            &root,
            CHUNK,
            &proof.data,
            &merkle::Proof {
                index: u64::from(item.segment),
                path,
            },
        );
        assert!(ok, "item {item:?}");
        assert!(proof.data.len() <= 1024 && proof.path.len() == 6);
    }
    // Beyond the claim: an empty proof, not an error for the batch.
    assert!(proofs[3].data.is_empty());
}

#[tokio::test]
async fn health_reflection_and_orderly_stop() {
    let mut miner = Miner::start(&[]).await;
    let mut client = miner.client().await;
    let bob = validator("Bob");
    let (req, _) = signed(PingRequest {}, &bob, &miner.hotkey(), methods::PING);
    let pong = client.ping(req).await.expect("ping").into_inner();
    assert_eq!(pong.hotkey, account("Dave").to_string());

    let services = reflection_services(miner.process.addr).await;
    for s in [
        "tessera.miner.v1.Miner",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
    ] {
        assert!(
            services.iter().any(|x| x == s),
            "{s} missing from {services:?}"
        );
    }

    let status = miner
        .process
        .terminate(Duration::from_secs(10))
        .await
        .expect("exits within 10 s of SIGTERM");
    assert!(status.success(), "{status:?}\n{}", miner.process.log_text());
    assert!(miner.process.log_text().contains("miner stopped"));
}

/// Info as `who` sees it: the number of chunks the miner keeps for it, or the refusal.
async fn claim(miner: &Miner, who: &str) -> Result<u64, String> {
    let mut client = miner.client().await;
    let (req, _) = signed(
        InfoRequest::default(),
        &validator(who),
        &miner.hotkey(),
        methods::INFO,
    );
    match client.info(req).await {
        Ok(r) => Ok(r.into_inner().partition.map_or(0, |p| p.n_chunks)),
        Err(s) => Err(s.message().to_owned()),
    }
}

/// Polls Info as `who` until `want` holds, within ten seconds of one-second steps.
async fn until(miner: &Miner, who: &str, what: &str, want: impl Fn(&Result<u64, String>) -> bool) {
    let mut last = Err(String::new());
    for _ in 0..100 {
        last = claim(miner, who).await;
        if want(&last) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: last {last:?}\n{}", miner.process.log_text());
}

#[tokio::test]
async fn reallocation_follows_the_metagraph_while_serving() {
    let miner = Miner::start(&["--steps_per_reallocate", "1"]).await;
    let alice_before = claim(&miner, "Alice").await.unwrap();
    let bob_file = miner
        .net
        .node_dir("Dave")
        .join(tessera_storage::partition_file_name(&account("Bob")));
    assert!(bob_file.exists());

    // A new validator joins, Bob leaves, Alice's stake drops: Grace gets a partition, Bob's
    // space is freed, and Alice's share shrinks, all without a restart.
    let neurons: Vec<Spec> = subnet()
        .into_iter()
        .filter(|s| s.name != "Bob")
        .map(|s| {
            if s.name == "Alice" {
                Spec::validator("Alice", 1000.0)
            } else {
                s
            }
        })
        .chain([Spec::validator("Grace", 2000.0)])
        .collect();
    miner.net.write_metagraph(&neurons);

    until(
        &miner,
        "Grace",
        "a partition for Grace",
        |r| matches!(r, Ok(n) if *n > 0),
    )
    .await;
    until(
        &miner,
        "Alice",
        "Alice's share to shrink",
        |r| matches!(r, Ok(n) if *n < alice_before),
    )
    .await;
    until(&miner, "Bob", "Bob refused once he left", |r| r.is_err()).await;
    assert!(!bob_file.exists(), "Bob's partition is freed");
}

async fn reflection_services(addr: std::net::SocketAddr) -> Vec<String> {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let mut client = ServerReflectionClient::new(tessera_testkit::channel(addr).await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = client
        .server_reflection_info(tokio_stream_once(request))
        .await
        .unwrap()
        .into_inner();
    let Some(Ok(resp)) = stream.message().await.transpose() else {
        panic!("no reflection answer");
    };
    match resp.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => {
            list.service.into_iter().map(|s| s.name).collect()
        }
        other => panic!("unexpected reflection answer {other:?}"),
    }
}

/// A one-item request stream without pulling in a streams crate.
fn tokio_stream_once<T: Send + 'static>(
    item: T,
) -> impl tessera_proto::tonic::codegen::tokio_stream::Stream<Item = T> {
    tessera_proto::tonic::codegen::tokio_stream::once(item)
}
