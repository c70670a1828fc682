//! Client data in a miner's partition: a validator stores a piece in a slot in place of the
//! filler, challenges prove it against the piece's own root, only that validator reads it back,
//! `verify` accepts it, and a released slot is resealed as filler.

use std::time::Duration;

use tessera_core::merkle;
use tessera_partition::{SealKey, SealProfile};
use tessera_proto::miner::v1::{
    ChallengeItem, ChallengeRequest, InfoRequest, ReleaseRequest, RetrieveRequest, methods,
};
use tessera_proto::tonic::Code;
use tessera_rpc::{signed, verify_response, verify_response_body};
use tessera_testkit::{account, bin, keypair, store_request};

use crate::support::{CHUNK, Miner};

/// Challenges `slot` as `who` and says whether the proof verifies against `root`.
async fn proves(miner: &Miner, who: &str, slot: u64, root: &[u8; 32]) -> bool {
    let mut client = miner.client().await;
    let item = ChallengeItem {
        chunk_id: slot,
        segment: 5,
    };
    let (req, _) = signed(
        ChallengeRequest { items: vec![item] },
        &keypair(who),
        &miner.hotkey(),
        methods::CHALLENGE,
    );
    let proof = client.challenge(req).await.unwrap().into_inner().proofs[0].clone();
    let path = proof
        .path
        .iter()
        .map(|h| <[u8; 32]>::try_from(h.as_slice()).unwrap())
        .collect();
    merkle::verify(root, CHUNK, &proof.data, &merkle::Proof { index: 5, path })
}

#[tokio::test]
async fn pieces_replace_filler_and_go_back_to_it() {
    let miner = Miner::start(&[]).await;
    let mut client = miner.client().await;
    let (alice, dave) = (keypair("Alice"), miner.hotkey());
    let (req, _) = signed(InfoRequest::default(), &alice, &dave, methods::INFO);
    let n = client
        .info(req)
        .await
        .unwrap()
        .into_inner()
        .partition
        .unwrap()
        .n_chunks;

    let piece: Vec<u8> = (0..CHUNK).map(|i| (i * 7 % 256) as u8).collect();
    let root = merkle::root(&piece).unwrap();
    let (req, nonce) = store_request(3, piece.clone(), &alice, &dave);
    let stored = client.store(req).await.expect("store");
    verify_response(
        &stored,
        methods::STORE,
        &dave,
        &alice.account(),
        &nonce,
        "miner",
    )
    .unwrap();
    assert_eq!(stored.into_inner().root, root.to_vec());
    assert!(
        proves(&miner, "Alice", 3, &root).await,
        "challenges prove the piece"
    );

    let retrieve = |who: &str, slot: u64| {
        signed(
            RetrieveRequest { slot },
            &keypair(who),
            &dave,
            methods::RETRIEVE,
        )
        .0
    };
    let (req, nonce) = signed(
        RetrieveRequest { slot: 3 },
        &alice,
        &dave,
        methods::RETRIEVE,
    );
    let got = client.retrieve(req).await.unwrap();
    // The answer is signed over the piece's root, which binds every byte.
    verify_response_body(
        got.metadata(),
        &tessera_rpc::chunk_signed::retrieve(&root),
        methods::RETRIEVE,
        &dave,
        &alice.account(),
        &nonce,
        "miner",
    )
    .unwrap();
    assert_eq!(got.into_inner().data, piece);
    // Filler is not data, and another validator's partition has no such piece.
    let filler = client.retrieve(retrieve("Alice", 4)).await.unwrap_err();
    assert_eq!(filler.code(), Code::NotFound);
    let other = client.retrieve(retrieve("Bob", 3)).await.unwrap_err();
    assert_eq!(other.code(), Code::NotFound, "{}", other.message());

    // Bad stores are refused and change nothing.
    let bad = |slot: u64, len: usize| store_request(slot, vec![1; len], &alice, &dave).0;
    let short = client.store(bad(5, 100)).await.unwrap_err();
    assert_eq!(short.code(), Code::InvalidArgument, "{}", short.message());
    let beyond = client.store(bad(n, CHUNK as usize)).await.unwrap_err();
    assert_eq!(beyond.code(), Code::OutOfRange, "{}", beyond.message());

    // The operator's fsck accepts a data slot, checked against its own root.
    let mut args = miner.net.node_args("Dave");
    for a in [
        "--seal",
        "dev",
        "--chunk_size",
        "64KiB",
        "--capacity",
        "2MiB",
        "verify",
    ] {
        args.push(a.into());
    }
    let out = std::process::Command::new(bin("tessera-miner"))
        .args(&args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Released, the slot is filler again and proves into the sealed root.
    let (req, _) = signed(
        ReleaseRequest { slots: vec![3, 4] },
        &alice,
        &dave,
        methods::RELEASE,
    );
    let released = client.release(req).await.unwrap().into_inner().released;
    assert_eq!(released, vec![3], "only slot 3 held data");
    let sealed = SealKey::new(dave, account("Alice"), CHUNK, SealProfile::Dev.params())
        .unwrap()
        .expected_root(3);
    for _ in 0..100 {
        if proves(&miner, "Alice", 3, &sealed).await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("slot 3 was not resealed\n{}", miner.process.log_text());
}

#[tokio::test]
async fn the_reseal_queue_is_bounded() {
    let miner = Miner::start(&[]).await;
    let mut client = miner.client().await;
    let (alice, dave) = (keypair("Alice"), miner.hotkey());
    // More slots than the queue holds, in one release: refused before anything is dropped.
    let (req, _) = signed(
        ReleaseRequest {
            slots: (0..2049).collect(),
        },
        &alice,
        &dave,
        methods::RELEASE,
    );
    let err = client.release(req).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert!(
        err.message().contains("waiting for their reseal"),
        "{}",
        err.message()
    );
    // Within the bound, releases go through.
    let (req, _) = signed(
        ReleaseRequest { slots: vec![1, 2] },
        &alice,
        &dave,
        methods::RELEASE,
    );
    assert!(client.release(req).await.is_ok());
}
