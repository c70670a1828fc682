//! The miner's commitment to each partition (challenges v2), checked from the validator's side
//! with `tessera_core::commit` against a real miner process: Info hands over a signed commitment
//! and its group nodes, every answered item folds into them, and stores, releases and reseals
//! come through Sync as updates the validator accepts; a restart keeps the tree.

use std::time::Duration;

use tessera_core::commit::{self, Commitment, EMPTY, GroupUpdate, LeafChange, SignedCommitment};
use tessera_core::merkle::{self, Hash};
use tessera_core::{Keypair, Signature};
use tessera_partition::{SealKey, SealProfile};
use tessera_proto::miner::v1::miner_client::MinerClient;
use tessera_proto::miner::v1::{
    ChallengeItem, ChallengeRequest, InfoRequest, ReleaseRequest, SyncRequest, methods,
};
use tessera_proto::tonic::Code;
use tessera_proto::tonic::transport::Channel;
use tessera_rpc::{signed, verify_response};
use tessera_testkit::{keypair, store_request};

use crate::support::{CHUNK, Miner, connect, spawn};

fn hash(bytes: &[u8]) -> Hash {
    bytes.try_into().expect("32 bytes")
}

/// What the validator (Alice) holds of Dave's partition.
struct Held {
    commitment: Commitment,
    groups: Vec<Hash>,
}

/// The validator's side of one miner: it checks everything the miner signs.
struct Validator {
    me: Keypair,
    miner: Miner,
    passes: u32,
}

impl Validator {
    async fn client(&self) -> MinerClient<Channel> {
        connect(self.miner.process.addr).await
    }

    fn commitment(&self, c: &tessera_proto::miner::v1::Commitment) -> SignedCommitment {
        let signed = SignedCommitment {
            commitment: Commitment {
                miner: self.miner.hotkey(),
                validator: self.me.account(),
                chunk_size: CHUNK,
                seal_passes: self.passes,
                n_chunks: c.n_chunks,
                seq: c.seq,
                root: hash(&c.root),
            },
            signature: Signature(c.signature.as_slice().try_into().expect("64 bytes")),
        };
        signed
            .check(&self.miner.hotkey(), &self.me.account(), CHUNK, self.passes)
            .expect("the miner's signature over its commitment");
        signed
    }

    /// Takes the commitment afresh, with every group node.
    async fn take(&self) -> Held {
        let (req, nonce) = signed(
            InfoRequest { groups: true },
            &self.me,
            &self.miner.hotkey(),
            methods::INFO,
        );
        let info = self.client().await.info(req).await.unwrap();
        verify_response(
            &info,
            methods::INFO,
            &self.miner.hotkey(),
            &self.me.account(),
            &nonce,
            "miner",
        )
        .unwrap();
        let info = info.into_inner();
        let c = self
            .commitment(&info.commitment.expect("a commitment"))
            .commitment;
        let groups: Vec<Hash> = info.groups.chunks(32).map(hash).collect();
        commit::check_groups(&c, &groups).expect("group nodes hash to the root");
        Held {
            commitment: c,
            groups,
        }
    }

    /// Moves `held` to the miner's current commitment; returns the leaves that changed.
    async fn sync(&self, held: &mut Held) -> Vec<LeafChange> {
        let (req, _) = signed(
            SyncRequest {
                from_seq: held.commitment.seq,
                from_n_chunks: held.commitment.n_chunks,
                to_seq: 0,
            },
            &self.me,
            &self.miner.hotkey(),
            methods::SYNC,
        );
        let answer = self.client().await.sync(req).await.unwrap().into_inner();
        let next = self.commitment(&answer.commitment.unwrap()).commitment;
        let updates: Vec<GroupUpdate> = answer
            .groups
            .iter()
            .map(|g| GroupUpdate {
                index: g.index,
                leaves: g.leaves.chunks(32).map(hash).collect(),
                old: g.old.iter().map(|o| (o.slot, hash(&o.leaf))).collect(),
            })
            .collect();
        let (groups, changes) = commit::apply(&held.commitment, &held.groups, &next, &updates)
            .unwrap_or_else(|e| panic!("update refused: {e}"));
        *held = Held {
            commitment: next,
            groups,
        };
        changes
    }

    /// Challenges `slots` and returns each item's chunk root, after checking that it folds into
    /// the group nodes held and that the paths belong to the commitment held.
    async fn challenge(&self, held: &Held, slots: &[u64]) -> Vec<Hash> {
        let items = slots
            .iter()
            .map(|&chunk_id| ChallengeItem {
                chunk_id,
                segment: (chunk_id % 64) as u32,
            })
            .collect();
        let (req, _) = signed(
            ChallengeRequest { items },
            &self.me,
            &self.miner.hotkey(),
            methods::CHALLENGE,
        );
        let answer = self
            .client()
            .await
            .challenge(req)
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            answer.seq, held.commitment.seq,
            "paths of the commitment held"
        );
        answer
            .proofs
            .iter()
            .map(|p| {
                let path = p.path.iter().map(|h| hash(h)).collect();
                let leaf = merkle::root_of(
                    CHUNK,
                    &p.data,
                    &merkle::Proof {
                        index: u64::from(p.segment),
                        path,
                    },
                )
                .expect("a segment and a path of the right length");
                let group_path: Vec<Hash> = p.group_path.iter().map(|h| hash(h)).collect();
                commit::check_leaf(
                    &held.groups,
                    held.commitment.n_chunks,
                    p.chunk_id,
                    &leaf,
                    &group_path,
                )
                .unwrap_or_else(|e| panic!("slot {}: {e}", p.chunk_id));
                leaf
            })
            .collect()
    }
}

#[tokio::test]
async fn commitments_follow_every_change_and_survive_a_restart() {
    // 16 MiB of 64 KiB chunks: Alice's share spans several groups of 64.
    let miner = Miner::start(&["--capacity", "16MiB"]).await;
    let me = keypair("Alice");
    let key_passes = SealProfile::Dev.params();
    let v = Validator {
        me,
        miner,
        passes: key_passes.passes,
    };
    let mut held = v.take().await;
    let n = held.commitment.n_chunks;
    assert!(n > 64, "the test wants more than one group, got {n} chunks");

    // An audit: the leaves the items fold into are the validator's own seals.
    let key = SealKey::new(v.miner.hotkey(), v.me.account(), CHUNK, key_passes).unwrap();
    let slots = [0, 1, 63, 64, n - 1];
    let leaves = v.challenge(&held, &slots).await;
    for (slot, leaf) in slots.iter().zip(&leaves) {
        assert_eq!(*leaf, key.expected_root(*slot), "slot {slot}");
    }

    // A store changes exactly that leaf.
    let piece: Vec<u8> = (0..CHUNK).map(|i| (i * 7 % 256) as u8).collect();
    let root = merkle::root(&piece).unwrap();
    let (req, _) = store_request(3, piece, &v.me, &v.miner.hotkey());
    v.client().await.store(req).await.expect("store");
    let changes = v.sync(&mut held).await;
    assert_eq!(
        changes,
        vec![LeafChange {
            slot: 3,
            old: key.expected_root(3),
            new: root
        }]
    );
    assert_eq!(v.challenge(&held, &[3, 4]).await[0], root);

    // A release empties the slot, and the reseal fills it with filler again.
    let (req, _) = signed(
        ReleaseRequest { slots: vec![3] },
        &v.me,
        &v.miner.hotkey(),
        methods::RELEASE,
    );
    v.client().await.release(req).await.expect("release");
    let mut seen = v.sync(&mut held).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while seen.last().map(|c| c.new) != Some(key.expected_root(3)) {
        assert!(
            std::time::Instant::now() < deadline,
            "not resealed: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        seen.extend(v.sync(&mut held).await);
    }
    // Either the release and the reseal came apart (root → EMPTY → seal) or netted out in one.
    assert!(seen.iter().all(|c| c.slot == 3));
    assert!(matches!(seen.first(), Some(c) if c.old == root));
    v.challenge(&held, &[2, 3, 4]).await;

    // An update from a commitment the miner never signed is refused.
    let (req, _) = signed(
        SyncRequest {
            from_seq: held.commitment.seq + 10,
            from_n_chunks: n,
            to_seq: 0,
        },
        &v.me,
        &v.miner.hotkey(),
        methods::SYNC,
    );
    let refused = v.client().await.sync(req).await.unwrap_err();
    assert_eq!(
        refused.code(),
        Code::FailedPrecondition,
        "{}",
        refused.message()
    );

    // A restart keeps the tree: the same commitment, and updates from it.
    let Validator {
        me,
        mut miner,
        passes,
    } = v;
    miner
        .process
        .terminate(Duration::from_secs(10))
        .await
        .expect("stops");
    miner.process = spawn(&miner.net, &["--capacity", "16MiB"]);
    tessera_testkit::wait_healthy(miner.process.addr, Duration::from_secs(20)).await;
    let v = Validator { me, miner, passes };
    let again = v.take().await;
    assert_eq!(again.commitment, held.commitment);
    assert!(v.sync(&mut held).await.is_empty());
    assert_ne!(held.groups, vec![EMPTY; held.groups.len()]);
}
