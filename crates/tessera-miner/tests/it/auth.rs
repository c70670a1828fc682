//! Every way a request can fail authentication or the miner's policy, each with its status code,
//! against the real miner process.

use tessera_core::auth::{body_digest, request_message};
use tessera_core::{AccountId, Keypair};
use tessera_proto::miner::v1::{ChallengeItem, ChallengeRequest, PingRequest, methods};
use tessera_proto::prost::Message;
use tessera_proto::tonic::{Code, Request};
use tessera_rpc::{keys, now_ms, signed};
use tessera_testkit::{account, keypair};

use crate::support::Miner;

/// How a test request is made: who signs, whom the header names, for which receiver and method,
/// when, with which nonce, and whether the body changes after signing.
struct Forge {
    signer: &'static str,
    header: &'static str,
    receiver: &'static str,
    method: &'static str,
    skew_ms: i64,
    tamper: bool,
}

const HONEST: Forge = Forge {
    signer: "Alice",
    header: "Alice",
    receiver: "Dave",
    method: methods::PING,
    skew_ms: 0,
    tamper: false,
};

fn forge<T: Message + Clone>(body: T, tampered: T, f: &Forge, nonce: [u8; 16]) -> Request<T> {
    let signer: Keypair = keypair(f.signer);
    let receiver: AccountId = account(f.receiver);
    let ts = (now_ms() as i64 + f.skew_ms) as u64;
    let message = request_message(
        f.method,
        &receiver,
        &nonce,
        ts,
        &body_digest(&body.encode_to_vec()),
    );
    let signature = signer.sign(&message);
    let mut req = Request::new(if f.tamper { tampered } else { body });
    let md = req.metadata_mut();
    md.insert(keys::HOTKEY, account(f.header).to_string().parse().unwrap());
    md.insert(keys::NONCE, hex::encode(nonce).parse().unwrap());
    md.insert(keys::TIMESTAMP, ts.to_string().parse().unwrap());
    md.insert(keys::SIGNATURE, hex::encode(signature.0).parse().unwrap());
    req
}

/// Sends a ping made by `f` and checks the code and that the message names the cause.
async fn check(miner: &Miner, f: Forge, code: Code, says: &str) {
    let mut client = miner.client().await;
    let req = forge(PingRequest {}, PingRequest {}, &f, rand::random());
    let status = client.ping(req).await.expect_err("refused");
    assert_eq!(status.code(), code, "{}", status.message());
    assert!(
        status.message().contains(says),
        "{:?} does not say {says:?}",
        status.message()
    );
}

#[tokio::test]
async fn every_refusal_has_its_code() {
    let miner = Miner::start(&[
        "--auth.max_request_bytes",
        "4096",
        "--auth.timestamp_window",
        "5",
    ])
    .await;

    // A correctly signed ping passes: the cases below fail for their one difference.
    let mut client = miner.client().await;
    let ok = client
        .ping(forge(
            PingRequest {},
            PingRequest {},
            &HONEST,
            rand::random(),
        ))
        .await;
    assert!(ok.is_ok(), "{ok:?}");

    let unsigned = client.ping(Request::new(PingRequest {})).await.unwrap_err();
    assert_eq!(unsigned.code(), Code::Unauthenticated);
    assert!(unsigned.message().contains("not signed"));

    check(
        &miner,
        Forge {
            signer: "Bob",
            ..HONEST
        },
        Code::Unauthenticated,
        "bad signature",
    )
    .await;
    check(
        &miner,
        Forge {
            method: methods::INFO,
            ..HONEST
        },
        Code::Unauthenticated,
        "bad signature",
    )
    .await;
    check(
        &miner,
        Forge {
            receiver: "Bob",
            ..HONEST
        },
        Code::Unauthenticated,
        "bad signature",
    )
    .await;
    check(
        &miner,
        Forge {
            skew_ms: -60_000,
            ..HONEST
        },
        Code::Unauthenticated,
        "window",
    )
    .await;
    check(
        &miner,
        Forge {
            skew_ms: 60_000,
            ..HONEST
        },
        Code::Unauthenticated,
        "window",
    )
    .await;
    check(
        &miner,
        Forge {
            signer: "Zed",
            header: "Zed",
            ..HONEST
        },
        Code::PermissionDenied,
        "not in the metagraph",
    )
    .await;
    check(
        &miner,
        Forge {
            signer: "Eve",
            header: "Eve",
            ..HONEST
        },
        Code::PermissionDenied,
        "no validator permit",
    )
    .await;
    check(
        &miner,
        Forge {
            signer: "Ferdie",
            header: "Ferdie",
            ..HONEST
        },
        Code::PermissionDenied,
        "min_stake",
    )
    .await;
    check(
        &miner,
        Forge {
            signer: "Mallory",
            header: "Mallory",
            ..HONEST
        },
        Code::PermissionDenied,
        "blacklisted",
    )
    .await;

    // A body changed after signing no longer matches the digest.
    let items = |n: u64| ChallengeRequest {
        items: (0..n)
            .map(|i| ChallengeItem {
                chunk_id: i,
                segment: 0,
            })
            .collect(),
    };
    let tampered = forge(
        items(1),
        items(2),
        &Forge {
            method: methods::CHALLENGE,
            tamper: true,
            ..HONEST
        },
        rand::random(),
    );
    let status = client.challenge(tampered).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{}", status.message());

    // The same request twice: the second is a replay.
    let nonce = rand::random();
    let f = Forge {
        method: methods::CHALLENGE,
        ..HONEST
    };
    client
        .challenge(forge(items(1), items(1), &f, nonce))
        .await
        .expect("first use");
    let replay = client
        .challenge(forge(items(1), items(1), &f, nonce))
        .await
        .unwrap_err();
    assert_eq!(replay.code(), Code::AlreadyExists, "{}", replay.message());

    // Too big to decode at all, and decodable but over the item limit.
    let alice = keypair("Alice");
    let (big, _) = signed(items(2000), &alice, &miner.hotkey(), methods::CHALLENGE);
    let status = client.challenge(big).await.unwrap_err();
    assert_eq!(
        status.code(),
        Code::ResourceExhausted,
        "{}",
        status.message()
    );
    let (many, _) = signed(items(300), &alice, &miner.hotkey(), methods::CHALLENGE);
    let status = client.challenge(many).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{}", status.message());

    // Every refusal left a log line, and the miner is still up.
    let log = miner.process.log_text();
    assert!(log.matches("request refused").count() >= 12, "{log}");
    let ok = client
        .ping(forge(
            PingRequest {},
            PingRequest {},
            &HONEST,
            rand::random(),
        ))
        .await;
    assert!(ok.is_ok(), "{ok:?}");
}

#[tokio::test]
async fn strangers_are_refused_before_their_body_is_looked_at() {
    let miner = Miner::start(&["--auth.max_request_bytes", "4096"]).await;
    let mut client = miner.client().await;
    let dave = miner.hotkey();
    let store = |data: Vec<u8>| {
        Request::new(tessera_proto::miner::v1::StoreRequest {
            slot: 0,
            data: data.into(),
        })
    };
    // Unsigned: an empty piece and a whole one alike are unauthenticated, not malformed.
    for data in [Vec::new(), vec![1; crate::support::CHUNK as usize]] {
        let status = client.store(store(data)).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{}", status.message());
    }
    // Signed by a hotkey the metagraph does not list: refused whatever it sends.
    for data in [Vec::new(), vec![1; crate::support::CHUNK as usize]] {
        let (req, _) = tessera_testkit::store_request(0, data, &keypair("Zed"), &dave);
        let status = client.store(req).await.unwrap_err();
        assert_eq!(
            status.code(),
            Code::PermissionDenied,
            "{}",
            status.message()
        );
    }
    // An unsigned body over the size limit is unauthenticated too: who comes first.
    let items = ChallengeRequest {
        items: (0..2000)
            .map(|i| ChallengeItem {
                chunk_id: i,
                segment: 0,
            })
            .collect(),
    };
    let status = client.challenge(Request::new(items)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{}", status.message());
    // A known validator's piece of the wrong length is refused for that.
    let (req, _) = tessera_testkit::store_request(0, vec![1; 4096], &keypair("Alice"), &dave);
    let status = client.store(req).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{}", status.message());
}
