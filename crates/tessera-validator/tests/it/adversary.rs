//! Cheating miners served from the test process over real gRPC, against a real validator using a
//! production-like seal on small chunks: one regenerates chunks on demand instead of storing
//! them, one forges proofs that are consistent with a chunk of its own making. An honest miner
//! under the same rules passes, so the deadline is fair.

use std::time::Duration;

use tessera_core::constants::SEGMENT_SIZE;
use tessera_core::{Keypair, merkle};
use tessera_partition::{SealKey, SealProfile};
use tessera_proto::miner::v1::miner_server::{Miner, MinerServer};
use tessera_proto::miner::v1::{
    ChallengeRequest, ChallengeResponse, InfoRequest, InfoResponse, Partition, PingRequest,
    PingResponse, ReleaseRequest, ReleaseResponse, RetrieveRequest, RetrieveResponse, SegmentProof,
    StoreRequest, StoreResponse, SyncRequest, SyncResponse, methods,
};
use tessera_proto::prost::Message;
use tessera_proto::tonic::transport::Server;
use tessera_proto::tonic::transport::server::TcpIncoming;
use tessera_proto::tonic::{self, Request, Response, Status};
use tessera_rpc::{Caller, Gate};
use tessera_testkit::{Spec, account, keypair};

use crate::support::{Subnet, eventually};

const CHUNK: u64 = 64 << 10;
const CLAIM: u64 = 64;
/// What the forger claims: 2^40 chunks of 64 KiB, 64 PiB. The validator's work per challenge
/// must not grow with it.
const HUGE_CLAIM: u64 = 1 << 40;

#[derive(Clone, Copy)]
enum Cheat {
    /// Stores nothing; seals each challenged chunk when asked.
    Regenerate,
    /// Stores nothing; answers with random bytes and a path to their own root.
    Forge,
    /// Regenerates like `Regenerate`, but stalls its pings to stretch the deadline.
    Stall,
}

struct Adversary {
    keypair: Keypair,
    gate: Gate,
    cheat: Cheat,
}

impl Adversary {
    fn admit<T: Message>(&self, r: &Request<T>, method: &str) -> Result<Caller, Status> {
        self.gate.check(r, method, |_| Ok(()))
    }

    fn answer<T: Message>(&self, body: T, caller: &Caller, method: &str) -> Response<T> {
        let mut r = Response::new(body);
        tessera_rpc::sign_response(&mut r, &self.keypair, caller, method);
        r
    }
}

#[tonic::async_trait]
impl Miner for Adversary {
    async fn ping(&self, r: Request<PingRequest>) -> Result<Response<PingResponse>, Status> {
        let caller = self.admit(&r, methods::PING)?;
        if let Cheat::Stall = self.cheat {
            tokio::time::sleep(Duration::from_millis(1500)).await;
        }
        let body = PingResponse {
            hotkey: self.keypair.account().to_string(),
        };
        Ok(self.answer(body, &caller, methods::PING))
    }

    async fn info(&self, r: Request<InfoRequest>) -> Result<Response<InfoResponse>, Status> {
        let caller = self.admit(&r, methods::INFO)?;
        let body = InfoResponse {
            hotkey: self.keypair.account().to_string(),
            partition: Some(Partition {
                n_chunks: match self.cheat {
                    Cheat::Regenerate | Cheat::Stall => CLAIM,
                    Cheat::Forge => HUGE_CLAIM,
                },
                chunk_size: CHUNK,
                seal_profile: "production".into(),
                seal_passes: SealProfile::Production.params().passes,
            }),
            version: "cheat".into(),
            // Checked against roots the validator seals itself, these cheats commit to nothing.
            commitment: None,
            groups: Vec::new(),
        };
        Ok(self.answer(body, &caller, methods::INFO))
    }

    async fn challenge(
        &self,
        r: Request<ChallengeRequest>,
    ) -> Result<Response<ChallengeResponse>, Status> {
        let caller = self.admit(&r, methods::CHALLENGE)?;
        let key = SealKey::new(
            self.keypair.account(),
            caller.hotkey,
            CHUNK,
            SealProfile::Production.params(),
        )
        .unwrap();
        let cheat = self.cheat;
        let items = r.into_inner().items;
        let proofs = tokio::task::spawn_blocking(move || {
            items
                .iter()
                .map(|item| {
                    let chunk = match cheat {
                        Cheat::Regenerate | Cheat::Stall => key.seal(item.chunk_id),
                        Cheat::Forge => (0..CHUNK).map(|_| rand::random::<u8>()).collect(),
                    };
                    let proof = merkle::prove(&chunk, u64::from(item.segment)).unwrap();
                    let start = item.segment as usize * SEGMENT_SIZE;
                    SegmentProof {
                        chunk_id: item.chunk_id,
                        segment: item.segment,
                        data: chunk[start..start + SEGMENT_SIZE].to_vec(),
                        path: proof.path.iter().map(|h| h.to_vec()).collect(),
                        group_path: Vec::new(),
                    }
                })
                .collect()
        })
        .await
        .unwrap();
        Ok(self.answer(
            ChallengeResponse { proofs, seq: 0 },
            &caller,
            methods::CHALLENGE,
        ))
    }

    async fn store(&self, _: Request<StoreRequest>) -> Result<Response<StoreResponse>, Status> {
        Err(Status::unimplemented("cheats keep nothing"))
    }

    async fn retrieve(
        &self,
        _: Request<RetrieveRequest>,
    ) -> Result<Response<RetrieveResponse>, Status> {
        Err(Status::unimplemented("cheats keep nothing"))
    }

    async fn release(
        &self,
        _: Request<ReleaseRequest>,
    ) -> Result<Response<ReleaseResponse>, Status> {
        Err(Status::unimplemented("cheats keep nothing"))
    }

    async fn sync(&self, _: Request<SyncRequest>) -> Result<Response<SyncResponse>, Status> {
        Err(Status::unimplemented("cheats commit to nothing"))
    }
}

/// Serves a cheating miner as `name` on 127.0.0.1:0 from this process.
async fn serve(name: &str, cheat: Cheat) -> std::net::SocketAddr {
    let kp = keypair(name);
    let adversary = Adversary {
        gate: Gate::new(kp.account(), 30_000, 10_000),
        keypair: kp,
        cheat,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        Server::builder()
            .add_service(MinerServer::new(adversary))
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regenerating_and_forging_miners_fail() {
    let mut subnet = Subnet::new(vec![
        Spec::validator("Alice", 1000.0),
        Spec::miner("Dave"),
        Spec::miner("Ivan"),
        Spec::miner("Judy"),
        Spec::miner("Kim"),
    ]);
    subnet.seal = "production";
    // Eight production chunks of 64 KiB: about a second of sealing.
    subnet.start_miner("Dave", "512KiB", &[]).await;
    subnet
        .extra_axons
        .insert("Ivan".into(), serve("Ivan", Cheat::Regenerate).await);
    subnet
        .extra_axons
        .insert("Judy".into(), serve("Judy", Cheat::Forge).await);
    subnet
        .extra_axons
        .insert("Kim".into(), serve("Kim", Cheat::Stall).await);
    subnet.publish_axons();
    subnet
        .start_validator(
            "Alice",
            &[
                "--challenge.slack_ms",
                "100",
                "--challenge.items",
                "4",
                "--challenge.seal_budget",
                "4",
                "--challenge.pool",
                "8",
            ],
        )
        .await;

    let rows = eventually(
        Duration::from_secs(90),
        "two rounds for every miner",
        || async {
            let rows = subnet.rows("Alice").await;
            ["Dave", "Ivan", "Judy"]
                .iter()
                .all(|n| rows.get(*n).is_some_and(|r| r.challenges >= 8))
                .then_some(rows)
        },
    )
    .await;
    let log = subnet.validators["Alice"].log_text();
    assert_eq!(
        rows["Dave"].success_rate,
        1.0,
        "honest: {:?}\n{}",
        rows["Dave"],
        subnet.logs()
    );
    assert_eq!(
        rows["Ivan"].success_rate, 0.0,
        "regenerator: {:?}",
        rows["Ivan"]
    );
    assert_eq!(rows["Judy"].success_rate, 0.0, "forger: {:?}", rows["Judy"]);
    assert!(log.contains("deadline missed"), "{log}");
    // Stalling the ping to stretch the deadline (1.5 s would cover regenerating 4 chunks) is
    // refused by the round-trip cap.
    assert_eq!(rows["Kim"].success_rate, 0.0, "staller: {:?}", rows["Kim"]);
    assert!(log.contains("round-trip time"), "{log}");
    assert!(
        log.contains("does not prove into the validator's own root"),
        "{log}"
    );
    // A 64 PiB claim cost the validator the same few seals per round as a 4 MiB one, and proved
    // nothing.
    assert_eq!(rows["Judy"].claimed_bytes, HUGE_CLAIM * CHUNK);
    assert_eq!(rows["Judy"].proven_bytes, 0);
    assert_eq!(rows["Ivan"].hotkey, account("Ivan"));
}
