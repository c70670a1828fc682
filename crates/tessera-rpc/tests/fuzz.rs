//! Fuzzing on stable Rust: arbitrary bytes as every protobuf message the nodes decode, and
//! arbitrary signature headers and bodies through the gate that admits requests. Nothing may
//! panic, and nothing but a properly signed request may pass. `cargo xtask fuzz` runs these
//! with many more cases (`PROPTEST_CASES`); CI runs proptest's default.

use proptest::prelude::*;
use tessera_core::{AccountId, Keypair};
use tessera_proto::gateway::v1 as gw;
use tessera_proto::miner::v1 as miner;
use tessera_proto::prost::Message;
use tessera_proto::tonic::metadata::{MetadataMap, MetadataValue};
use tessera_rpc::{Gate, keys, signed};

/// Decodes `bytes` as `T`, and what decodes is encoded and decoded again to the same value.
fn round<T: Message + Default + PartialEq + std::fmt::Debug>(bytes: &[u8]) {
    if let Ok(m) = T::decode(bytes) {
        let again = T::decode(m.encode_to_vec().as_slice()).expect("re-decodes");
        assert_eq!(m, again);
    }
}

/// Header text: mostly the right shapes, sometimes anything printable.
fn header() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9a-f]{0,130}",
        "[0-9]{0,25}",
        "5[1-9A-HJ-NP-Za-km-z]{40,50}",
        "[ -~]{0,100}",
    ]
}

fn admit_all(_: &AccountId) -> Result<(), tessera_rpc::Refusal> {
    Ok(())
}

proptest! {
    #[test]
    fn fuzz_protobuf_decoding(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        round::<miner::PingRequest>(&bytes);
        round::<miner::InfoRequest>(&bytes);
        round::<miner::InfoResponse>(&bytes);
        round::<miner::ChallengeRequest>(&bytes);
        round::<miner::ChallengeResponse>(&bytes);
        round::<miner::StoreRequest>(&bytes);
        round::<miner::RetrieveRequest>(&bytes);
        round::<miner::RetrieveResponse>(&bytes);
        round::<miner::ReleaseRequest>(&bytes);
        round::<miner::ReleaseResponse>(&bytes);
        round::<miner::SyncRequest>(&bytes);
        round::<miner::SyncResponse>(&bytes);
        round::<gw::ParamsRequest>(&bytes);
        round::<gw::PutRequest>(&bytes);
        round::<gw::PutResponse>(&bytes);
        round::<gw::GetRequest>(&bytes);
        round::<gw::GetResponse>(&bytes);
        round::<gw::StatRequest>(&bytes);
        round::<gw::ListRequest>(&bytes);
        round::<gw::ListResponse>(&bytes);
        round::<gw::DeleteRequest>(&bytes);
        round::<gw::DeleteResponse>(&bytes);
    }

    #[test]
    fn fuzz_signed_request_parsing(
        hotkey in header(),
        nonce in header(),
        timestamp in header(),
        signature in header(),
        body in proptest::collection::vec(any::<u8>(), 0..300),
        method in prop_oneof![Just(miner::methods::PING), Just(miner::methods::STORE), Just("")],
    ) {
        let me = Keypair::from_uri("//Dave").unwrap().account();
        let gate = Gate::new(me, 30_000, 100);
        let mut md = MetadataMap::new();
        for (key, value) in [
            (keys::HOTKEY, &hotkey),
            (keys::NONCE, &nonce),
            (keys::TIMESTAMP, &timestamp),
            (keys::SIGNATURE, &signature),
        ] {
            if let Ok(v) = MetadataValue::try_from(value.as_str()) {
                md.insert(key, v);
            }
        }
        let admitted = gate.check_body(&md, None, &body, method, admit_all);
        prop_assert!(admitted.is_err(), "forged headers were admitted");
        let _ = gate.precheck(&md, None, method, admit_all);
    }

    #[test]
    fn fuzz_signed_bodies_must_match(
        body in proptest::collection::vec(any::<u8>(), 0..300),
        flip in any::<prop::sample::Index>(),
    ) {
        // A real signature over one body admits that body and no other.
        let alice = Keypair::from_uri("//Alice").unwrap();
        let me = Keypair::from_uri("//Dave").unwrap().account();
        let gate = Gate::new(me, 30_000, 100);
        let message = miner::ReleaseRequest {
            slots: body.iter().map(|b| u64::from(*b)).collect(),
        };
        let (req, _) = signed(message.clone(), &alice, &me, miner::methods::RELEASE);
        let encoded = message.encode_to_vec();
        let mut other = encoded.clone();
        if !other.is_empty() {
            let i = flip.index(other.len());
            other[i] ^= 0x01;
            let forged = gate.check_body(req.metadata(), None, &other, miner::methods::RELEASE, admit_all);
            prop_assert!(forged.is_err());
        }
        let honest = gate.check_body(req.metadata(), None, &encoded, miner::methods::RELEASE, admit_all);
        prop_assert!(honest.is_ok(), "{:?}", honest);
    }
}
