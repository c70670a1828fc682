//! Cheating miners served from the test process over real gRPC, against a real validator using a
//! production-like seal on small chunks (challenges v2: each commits to its partition first).
//! One commits to the true seal roots but regenerates chunks on demand instead of storing them;
//! one forges proofs that are consistent with chunks of its own making; others offer a
//! commitment that is too large, signed by another key, or whose sequence number goes backwards,
//! or answer with paths of a stale commitment.
//! An honest miner under the same rules passes, so the deadline is fair.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tessera_core::commit::{self, Commitment};
use tessera_core::constants::SEGMENT_SIZE;
use tessera_core::merkle::Hash;
use tessera_core::{Keypair, merkle};
use tessera_partition::{SealKey, SealProfile};
use tessera_proto::miner::v1::miner_server::{Miner, MinerServer};
use tessera_proto::miner::v1::{
    self as pb, ChallengeRequest, ChallengeResponse, InfoRequest, InfoResponse, Partition,
    PingRequest, PingResponse, ReleaseRequest, ReleaseResponse, RetrieveRequest, RetrieveResponse,
    SegmentProof, StoreRequest, StoreResponse, SyncRequest, SyncResponse, methods,
};
use tessera_proto::prost::Message;
use tessera_proto::tonic::transport::Server;
use tessera_proto::tonic::transport::server::TcpIncoming;
use tessera_proto::tonic::{self, Request, Response, Status};
use tessera_rpc::{Caller, Gate};
use tessera_testkit::{Spec, account, keypair};

use crate::support::{Subnet, eventually};

const CHUNK: u64 = 64 << 10;
const CLAIM: u64 = 16;
/// What the overclaimer commits to: 2^40 chunks of 64 KiB, 64 PiB. The validator refuses it
/// before any work that grows with it.
const HUGE_CLAIM: u64 = 1 << 40;

#[derive(Clone, Copy, PartialEq)]
enum Cheat {
    /// Commits to the true seal roots, stores nothing, seals each challenged chunk when asked.
    Regenerate,
    /// Commits to random leaves; answers with random bytes and a path to their own root.
    Forge,
    /// Regenerates like `Regenerate`, but stalls its pings to stretch the deadline.
    Stall,
    /// Commits to far more than a commitment may cover.
    Overclaim,
    /// Its commitment is signed by another key.
    Foreign,
    /// Each commitment it offers has a lower sequence number than the last.
    Backwards,
    /// Answers with paths of an older commitment than the one it offered.
    Stale,
}

struct Adversary {
    keypair: Keypair,
    gate: Gate,
    cheat: Cheat,
    /// The leaves it commits to, for the validator `Alice`.
    leaves: Vec<Hash>,
    seq: AtomicU64,
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

    fn n_chunks(&self) -> u64 {
        if self.cheat == Cheat::Overclaim {
            HUGE_CLAIM
        } else {
            CLAIM
        }
    }

    fn commitment(&self, validator: &Caller, seq: u64) -> pb::Commitment {
        let groups = commit::group_nodes(&self.leaves);
        let c = Commitment {
            miner: self.keypair.account(),
            validator: validator.hotkey,
            chunk_size: CHUNK,
            seal_passes: SealProfile::Production.params().passes,
            n_chunks: self.n_chunks(),
            seq,
            root: commit::partition_root(&groups),
        };
        let signed = if self.cheat == Cheat::Foreign {
            c.sign(&keypair("Mallory"))
        } else {
            c.sign(&self.keypair)
        };
        pb::Commitment {
            n_chunks: signed.commitment.n_chunks,
            seq,
            root: signed.commitment.root.to_vec(),
            signature: signed.signature.0.to_vec(),
        }
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
        // The backwards cheat lowers its number with each short `Info`, and keeps it for the
        // full one that follows and for its answers.
        let seq = match self.cheat {
            Cheat::Backwards if !r.get_ref().groups => self.seq.fetch_sub(1, Ordering::SeqCst),
            Cheat::Backwards => self.seq.load(Ordering::SeqCst) + 1,
            _ => self.seq.load(Ordering::SeqCst),
        };
        let body = InfoResponse {
            hotkey: self.keypair.account().to_string(),
            partition: Some(Partition {
                n_chunks: self.n_chunks(),
                chunk_size: CHUNK,
                seal_profile: "production".into(),
                seal_passes: SealProfile::Production.params().passes,
            }),
            version: "cheat".into(),
            commitment: Some(self.commitment(&caller, seq)),
            groups: if r.get_ref().groups {
                commit::group_nodes(&self.leaves).concat()
            } else {
                Vec::new()
            },
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
        let leaves = self.leaves.clone();
        let proofs = tokio::task::spawn_blocking(move || {
            items
                .iter()
                .map(|item| {
                    let chunk = match cheat {
                        Cheat::Regenerate | Cheat::Stall => key.seal(item.chunk_id),
                        _ => (0..CHUNK).map(|_| rand::random::<u8>()).collect(),
                    };
                    let slot = item.chunk_id.min(CLAIM - 1) as usize;
                    let group = slot / commit::GROUP as usize * commit::GROUP as usize;
                    let end = (group + commit::GROUP as usize).min(leaves.len());
                    let proof = merkle::prove(&chunk, u64::from(item.segment)).unwrap();
                    let start = item.segment as usize * SEGMENT_SIZE;
                    SegmentProof {
                        chunk_id: item.chunk_id,
                        segment: item.segment,
                        data: chunk[start..start + SEGMENT_SIZE].to_vec(),
                        path: proof.path.iter().map(|h| h.to_vec()).collect(),
                        group_path: commit::group_path(&leaves[group..end], slot - group)
                            .iter()
                            .map(|h| h.to_vec())
                            .collect(),
                    }
                })
                .collect()
        })
        .await
        .unwrap();
        Ok(self.answer(
            ChallengeResponse {
                proofs,
                seq: match cheat {
                    Cheat::Backwards => self.seq.load(Ordering::SeqCst) + 1,
                    Cheat::Stale => self.seq.load(Ordering::SeqCst) - 1,
                    _ => self.seq.load(Ordering::SeqCst),
                },
            },
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
        Err(Status::failed_precondition("cheats show no updates"))
    }
}

/// Serves a cheating miner as `name` on 127.0.0.1:0 from this process. The regenerating ones
/// seal their claim once, to commit to the true roots.
async fn serve(name: &str, cheat: Cheat) -> std::net::SocketAddr {
    let kp = keypair(name);
    let leaves: Vec<Hash> = match cheat {
        Cheat::Regenerate | Cheat::Stall => {
            let key = SealKey::new(
                kp.account(),
                account("Alice"),
                CHUNK,
                SealProfile::Production.params(),
            )
            .unwrap();
            tokio::task::spawn_blocking(move || {
                (0..CLAIM).map(|id| key.expected_root(id)).collect()
            })
            .await
            .unwrap()
        }
        _ => (0..CLAIM).map(|_| rand::random()).collect(),
    };
    let adversary = Adversary {
        gate: Gate::new(kp.account(), 30_000, 10_000),
        keypair: kp,
        cheat,
        leaves,
        seq: AtomicU64::new(1000),
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
async fn regenerating_forging_and_miscommitting_miners_fail() {
    let cheats = [
        ("Ivan", Cheat::Regenerate),
        ("Judy", Cheat::Forge),
        ("Kim", Cheat::Stall),
        ("Liam", Cheat::Overclaim),
        ("Mia", Cheat::Foreign),
        ("Nina", Cheat::Backwards),
        ("Olga", Cheat::Stale),
    ];
    let mut specs = vec![Spec::validator("Alice", 1000.0), Spec::miner("Dave")];
    specs.extend(cheats.iter().map(|(n, _)| Spec::miner(n)));
    let mut subnet = Subnet::new(specs);
    subnet.seal = "production";
    // Eight production chunks of 64 KiB: about a second of sealing.
    subnet.start_miner("Dave", "512KiB", &[]).await;
    for (name, cheat) in cheats {
        subnet
            .extra_axons
            .insert(name.into(), serve(name, cheat).await);
    }
    subnet.publish_axons();
    subnet
        .start_validator(
            "Alice",
            &[
                "--challenge.slack_ms",
                "100",
                "--challenge.items",
                "4",
                // Each miner's few chunks are all audited before its capacity counts.
                "--audit.initial",
                "8",
                "--audit.initial_cpu_share",
                "1",
            ],
        )
        .await;

    let rows = eventually(
        Duration::from_secs(120),
        "the honest miner audited and every cheat challenged twice",
        || async {
            let rows = subnet.rows("Alice").await;
            let challenged = cheats
                .iter()
                .all(|(n, _)| rows.get(*n).is_some_and(|r| r.challenges >= 8));
            let audited = rows.get("Dave").is_some_and(|r| r.proven_bytes > 0);
            (challenged && audited).then_some(rows)
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
    for (name, _) in cheats {
        assert_eq!(rows[name].success_rate, 0.0, "{name}: {:?}", rows[name]);
        assert_eq!(rows[name].proven_bytes, 0, "{name}: {:?}", rows[name]);
    }
    // Committing to the true roots does not help a miner that does not hold the chunks.
    assert!(log.contains("deadline missed"), "{log}");
    // Stalling the ping to stretch the deadline (1.5 s would cover regenerating 4 chunks) is
    // refused by the round-trip cap.
    assert!(log.contains("round-trip time"), "{log}");
    // Random bytes with a path to their own root fold into nothing the validator holds.
    assert!(log.contains("not in the commitment"), "{log}");
    // A 64 PiB commitment is refused before any work that grows with it: no group nodes read,
    // nothing claimed.
    assert!(log.contains("one commitment may cover"), "{log}");
    assert_eq!(rows["Liam"].claimed_bytes, 0);
    assert!(
        log.contains("commitment is not signed by the miner"),
        "{log}"
    );
    assert!(log.contains("commitment sequence went backwards"), "{log}");
    assert!(
        log.contains("paths of commitment 999, but the commitment held is 1000"),
        "{log}"
    );
    assert_eq!(rows["Ivan"].hotkey, account("Ivan"));
}
