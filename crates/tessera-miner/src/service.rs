//! The `tessera.miner.v1.Miner` service: every request passes the gate, every answer is signed.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use tessera_chain::Metagraph;
use tessera_core::constants::SEGMENT_SIZE;
use tessera_core::{AccountId, Keypair, commit, merkle};
use tessera_partition::{SealKey, SealParams};
use tessera_proto::miner::v1::miner_server::Miner;
use tessera_proto::miner::v1::{
    ChallengeRequest, ChallengeResponse, Commitment, GroupChange, InfoRequest, InfoResponse,
    OldLeaf, Partition, PingRequest, PingResponse, ReleaseRequest, ReleaseResponse,
    RetrieveRequest, RetrieveResponse, SegmentProof, StoreRequest, StoreResponse, SyncRequest,
    SyncResponse, methods,
};
use tessera_proto::prost::Message;
use tessera_proto::tonic::{self, Request, Response, Status};
use tessera_rpc::{Caller, Gate, Refusal};
use tessera_storage::{PartitionDb, TreeState};

use crate::Error;
use crate::metrics::{Method, Metrics, Outcome};
use crate::throttle::Throttle;

/// The most groups one `Sync` answer shows: about 2 MiB.
const MAX_SYNC_GROUPS: usize = 1024;

/// One partition the miner serves to one validator.
#[derive(Debug, Clone)]
pub(crate) struct Served {
    pub(crate) db: PartitionDb,
    pub(crate) n_chunks: u64,
    pub(crate) chunk_size: u64,
    pub(crate) profile: String,
    pub(crate) passes: u32,
}

/// Whom the miner serves: validators with a permit and enough stake, minus the blacklist.
#[derive(Debug)]
pub(crate) struct Policy {
    pub(crate) metagraph: Metagraph,
    pub(crate) min_stake: f64,
    pub(crate) blacklist: HashSet<AccountId>,
}

impl Policy {
    fn admit(&self, hotkey: &AccountId) -> Result<(), Refusal> {
        if self.blacklist.contains(hotkey) {
            return Err(Refusal::Blacklisted("listed in blacklist.hotkeys".into()));
        }
        let Some(n) = self.metagraph.neuron(hotkey) else {
            return Err(Refusal::Unknown("not in the metagraph".into()));
        };
        if !n.validator_permit {
            return Err(Refusal::Unknown("no validator permit".into()));
        }
        if n.stake < self.min_stake {
            return Err(Refusal::Unknown(format!(
                "stake {} is below min_stake {}",
                n.stake, self.min_stake
            )));
        }
        Ok(())
    }
}

/// State shared by the service and the node's step loop, which swaps the partitions and the
/// policy as the metagraph changes.
#[derive(Debug)]
pub(crate) struct MinerState {
    pub(crate) keypair: Keypair,
    pub(crate) gate: Gate,
    pub(crate) policy: RwLock<Policy>,
    pub(crate) partitions: RwLock<Arc<HashMap<AccountId, Served>>>,
    pub(crate) max_items: usize,
    /// Every request but `Store` (which carries a chunk) must fit in this many bytes.
    pub(crate) max_request_bytes: usize,
    pub(crate) metrics: Metrics,
    pub(crate) throttle: Throttle,
    /// One release is resealed at a time, however many arrive: each seals on a thread of its
    /// own, and a burst must not become a thread and a few chunks of memory per release.
    pub(crate) resealing: Arc<tokio::sync::Semaphore>,
    /// Released slots waiting for their reseal: a `Release` that would take it past
    /// [`MAX_RESEAL_QUEUE`] is refused (the validator sends it again later), so a flood of
    /// releases cannot queue unbounded work.
    pub(crate) reseal_queued: Arc<AtomicUsize>,
    /// Every task a request starts (reseals), waited for at shutdown before the partitions
    /// close; `stop` cancels them there.
    pub(crate) tasks: tokio_util::task::TaskTracker,
    pub(crate) stop: tokio_util::sync::CancellationToken,
}

/// Released slots waiting for their reseal, at most: about an hour of production sealing on one
/// core, and a few kilobytes of ids.
pub(crate) const MAX_RESEAL_QUEUE: usize = 2048;

impl MinerState {
    fn admit<T: Message>(&self, request: &Request<T>, method: &str) -> Result<Caller, Status> {
        // Strangers first, before anything about the body.
        self.precheck(request.metadata(), request.remote_addr(), method)?;
        // The transport admits a chunk-sized body for `Store`; everything else keeps the
        // operator's limit.
        let len = request.get_ref().encoded_len();
        if method != methods::STORE && len > self.max_request_bytes {
            self.metrics.reject("too_large");
            return Err(Error::TooLarge {
                len,
                limit: self.max_request_bytes,
            }
            .into());
        }
        self.admit_body(
            request.metadata(),
            request.remote_addr(),
            &request.get_ref().encode_to_vec(),
            method,
        )
    }

    /// Refuses an unsigned request, or one from a caller the policy does not serve, or with a
    /// stale timestamp, without looking at its body.
    fn precheck(
        &self,
        md: &tessera_proto::tonic::metadata::MetadataMap,
        remote: Option<std::net::SocketAddr>,
        method: &str,
    ) -> Result<AccountId, Status> {
        self.gate.precheck(md, remote, method, |hotkey| {
            self.policy
                .read()
                .map_err(|_| Refusal::Unknown("policy unavailable".into()))?
                .admit(hotkey)
        })
    }

    /// `admit` for a request whose signed body is `body` (a chunk-carrying message's
    /// `chunk_signed` form).
    fn admit_body(
        &self,
        md: &tessera_proto::tonic::metadata::MetadataMap,
        remote: Option<std::net::SocketAddr>,
        body: &[u8],
        method: &str,
    ) -> Result<Caller, Status> {
        self.gate.check_body(md, remote, body, method, |hotkey| {
            self.policy
                .read()
                .map_err(|_| Refusal::Unknown("policy unavailable".into()))?
                .admit(hotkey)
        })
    }

    /// The miner's signed commitment to `served`'s tree as `tree` describes it.
    fn commitment(&self, served: &Served, validator: &AccountId, tree: &TreeState) -> Commitment {
        let signed = commit::Commitment {
            miner: self.keypair.account(),
            validator: *validator,
            chunk_size: served.chunk_size,
            seal_passes: served.passes,
            n_chunks: tree.n_chunks,
            seq: tree.seq,
            root: tree.root,
        }
        .sign(&self.keypair);
        Commitment {
            n_chunks: tree.n_chunks,
            seq: tree.seq,
            root: tree.root.to_vec(),
            signature: signed.signature.0.to_vec(),
        }
    }

    fn partition(&self, validator: &AccountId) -> Option<Served> {
        self.partitions
            .read()
            .ok()
            .and_then(|p| p.get(validator).cloned())
    }

    /// Signs the answer and counts the request with the time since `started`.
    fn signed<T: Message>(
        &self,
        body: T,
        caller: &Caller,
        method: &str,
        started: Instant,
    ) -> Response<T> {
        let mut response = Response::new(body);
        tessera_rpc::sign_response(&mut response, &self.keypair, caller, method);
        self.count(method, started);
        response
    }

    /// Counts a request with the time since `started`.
    fn count(&self, method: &str, started: Instant) {
        let label = Method {
            method: method.rsplit('/').next().unwrap_or(method).to_owned(),
        };
        self.metrics.requests.get_or_create(&label).inc();
        self.metrics
            .latency
            .get_or_create(&label)
            .observe(started.elapsed().as_secs_f64());
    }
}

#[derive(Debug, Clone)]
pub(crate) struct MinerService(pub(crate) Arc<MinerState>);

#[tonic::async_trait]
impl Miner for MinerService {
    async fn ping(&self, request: Request<PingRequest>) -> Result<Response<PingResponse>, Status> {
        let started = Instant::now();
        let caller = self.0.admit(&request, methods::PING)?;
        let body = PingResponse {
            hotkey: self.0.keypair.account().to_ss58(),
        };
        Ok(self.0.signed(body, &caller, methods::PING, started))
    }

    async fn info(&self, request: Request<InfoRequest>) -> Result<Response<InfoResponse>, Status> {
        let started = Instant::now();
        let caller = self.0.admit(&request, methods::INFO)?;
        let served = self.0.partition(&caller.hotkey);
        let (mut commitment, mut groups) = (None, Vec::new());
        if let Some(s) = &served {
            let tree = s.db.tree().await.map_err(Error::from)?;
            commitment = Some(self.0.commitment(s, &caller.hotkey, &tree));
            if request.get_ref().groups {
                groups = tree.groups.concat();
            }
        }
        let partition = served.map(|s| Partition {
            n_chunks: s.n_chunks,
            chunk_size: s.chunk_size,
            seal_profile: s.profile,
            seal_passes: s.passes,
        });
        let body = InfoResponse {
            hotkey: self.0.keypair.account().to_ss58(),
            partition,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            commitment,
            groups,
        };
        Ok(self.0.signed(body, &caller, methods::INFO, started))
    }

    async fn challenge(
        &self,
        request: Request<ChallengeRequest>,
    ) -> Result<Response<ChallengeResponse>, Status> {
        let started = Instant::now();
        let caller = self.0.admit(&request, methods::CHALLENGE)?;
        let items = &request.get_ref().items;
        if items.len() > self.0.max_items {
            self.0.metrics.reject("too_many_items");
            return Err(Error::TooManyItems {
                items: items.len(),
                max: self.0.max_items,
            }
            .into());
        }
        let served = self
            .0
            .partition(&caller.hotkey)
            .ok_or_else(|| Error::NoPartition(caller.hotkey.to_ss58()))?;
        #[cfg(debug_assertions)]
        {
            crate::churn::rewrite_last(&served.db).await?;
            let ids: Vec<u64> = items.iter().map(|i| i.chunk_id).collect();
            crate::churn::shrink_below(&served.db, &ids).await?;
        }
        let mut proofs = Vec::with_capacity(items.len());
        for item in items {
            proofs.push(prove(&served, item.chunk_id, item.segment).await?);
        }
        // The group paths, all from one snapshot of the tree, and the commitment they belong to.
        let ids: Vec<u64> = items.iter().map(|i| i.chunk_id).collect();
        let (seq, paths) = served.db.group_paths(&ids).await.map_err(Error::from)?;
        for (proof, path) in proofs.iter_mut().zip(paths) {
            proof.group_path = path.iter().map(|h| h.to_vec()).collect();
        }
        let proved = proofs.iter().filter(|p| !p.data.is_empty()).count() as u64;
        let m = &self.0.metrics;
        for (outcome, n) in [
            ("proved", proved),
            ("missing", proofs.len() as u64 - proved),
        ] {
            if n > 0 {
                m.items
                    .get_or_create(&Outcome {
                        outcome: outcome.into(),
                    })
                    .inc_by(n);
            }
        }
        #[cfg(debug_assertions)]
        crate::churn::rewrite_last(&served.db).await?;
        let body = ChallengeResponse { proofs, seq };
        let bytes = body.encoded_len() as u64;
        // The bandwidth cap delays the answer rather than refusing it: a validator sees a slow
        // miner, which the operator chose, not a broken one.
        self.0.throttle.take(bytes).await;
        m.served_bytes.inc_by(bytes);
        Ok(self.0.signed(body, &caller, methods::CHALLENGE, started))
    }

    async fn store(
        &self,
        request: Request<StoreRequest>,
    ) -> Result<Response<StoreResponse>, Status> {
        let started = Instant::now();
        let remote = request.remote_addr();
        let (md, _, StoreRequest { slot, data }) = request.into_parts();
        // Who is calling, and whether the piece fits its partition, before the megabyte is
        // hashed: a stranger, or a validator sending a piece that cannot be stored, costs no
        // work proportional to the body.
        let claimed = self.0.precheck(&md, remote, methods::STORE)?;
        let served = self
            .0
            .partition(&claimed)
            .ok_or_else(|| Error::NoPartition(claimed.to_ss58()))?;
        if slot >= served.n_chunks {
            return Err(Error::SlotOutOfRange {
                slot,
                n_chunks: served.n_chunks,
            }
            .into());
        }
        if data.len() as u64 != served.chunk_size {
            return Err(Error::PieceLength {
                len: data.len(),
                chunk_size: served.chunk_size,
            }
            .into());
        }
        // The root next: the request is signed over it (`chunk_signed`), and it is what the
        // slot will prove into. The validator checks it against its own.
        let len = data.len();
        let (data, root) = tokio::task::spawn_blocking(move || {
            let root = merkle::root(&data);
            (data, root)
        })
        .await
        .map_err(|e| Error::Serve(format!("hashing task failed: {e}")))?;
        let root = root.map_err(|_| Error::NotSegments(len))?;
        // The signature proves the hotkey the headers claimed, whose partition is `served`.
        let caller = self.0.admit_body(
            &md,
            remote,
            &tessera_rpc::chunk_signed::store(slot, &root),
            methods::STORE,
        )?;
        served
            .db
            .store_data(slot, &data, &root)
            .await
            .map_err(Error::from)?;
        let body = StoreResponse {
            root: root.to_vec(),
        };
        Ok(self.0.signed(body, &caller, methods::STORE, started))
    }

    async fn retrieve(
        &self,
        request: Request<RetrieveRequest>,
    ) -> Result<Response<RetrieveResponse>, Status> {
        let started = Instant::now();
        let caller = self.0.admit(&request, methods::RETRIEVE)?;
        let served = self
            .0
            .partition(&caller.hotkey)
            .ok_or_else(|| Error::NoPartition(caller.hotkey.to_ss58()))?;
        let slot = request.get_ref().slot;
        if !served.db.is_data(slot).await.map_err(Error::from)? {
            return Err(Error::NotData(slot).into());
        }
        let chunk = served
            .db
            .get(slot)
            .await
            .map_err(Error::from)?
            .ok_or(Error::NotData(slot))?;
        self.0.throttle.take(chunk.data.len() as u64).await;
        self.0.metrics.served_bytes.inc_by(chunk.data.len() as u64);
        // Signed over the root stored with the piece (`chunk_signed`): no pass over the bytes.
        let signed_body = tessera_rpc::chunk_signed::retrieve(&chunk.root);
        let mut response = Response::new(RetrieveResponse {
            data: chunk.data.into(),
        });
        tessera_rpc::sign_response_body(
            response.metadata_mut(),
            &signed_body,
            &self.0.keypair,
            &caller,
            methods::RETRIEVE,
        );
        self.0.count(methods::RETRIEVE, started);
        Ok(response)
    }

    async fn release(
        &self,
        request: Request<ReleaseRequest>,
    ) -> Result<Response<ReleaseResponse>, Status> {
        let started = Instant::now();
        let caller = self.0.admit(&request, methods::RELEASE)?;
        let served = self
            .0
            .partition(&caller.hotkey)
            .ok_or_else(|| Error::NoPartition(caller.hotkey.to_ss58()))?;
        let asked = request.get_ref().slots.len();
        let queued = self.0.reseal_queued.load(Ordering::Acquire);
        if queued + asked > MAX_RESEAL_QUEUE {
            self.0.metrics.reject("reseal_queue_full");
            return Err(Error::ResealQueueFull {
                queued,
                asked,
                max: MAX_RESEAL_QUEUE,
            }
            .into());
        }
        let released = served
            .db
            .release_data(&request.get_ref().slots)
            .await
            .map_err(Error::from)?;
        self.0
            .reseal_queued
            .fetch_add(released.len(), Ordering::AcqRel);
        // Filler goes back at once, so the freed slots pass challenges again as soon as sealed.
        let key = SealKey::new(
            self.0.keypair.account(),
            caller.hotkey,
            served.chunk_size,
            SealParams {
                passes: served.passes,
            },
        )
        .map_err(|e| Error::Serve(e.to_string()))?;
        let stop = self.0.stop.clone();
        let work = reseal(
            key,
            served.db.clone(),
            released.clone(),
            self.0.resealing.clone(),
            self.0.reseal_queued.clone(),
        );
        // Cancelled at shutdown: what is left unsealed is sealed by the next start's
        // allocation, which fills every missing chunk.
        self.0.tasks.spawn(async move {
            tokio::select! {
                () = stop.cancelled() => {}
                () = work => {}
            }
        });
        let body = ReleaseResponse { released };
        Ok(self.0.signed(body, &caller, methods::RELEASE, started))
    }

    async fn sync(&self, request: Request<SyncRequest>) -> Result<Response<SyncResponse>, Status> {
        let started = Instant::now();
        let caller = self.0.admit(&request, methods::SYNC)?;
        let served = self
            .0
            .partition(&caller.hotkey)
            .ok_or_else(|| Error::NoPartition(caller.hotkey.to_ss58()))?;
        let SyncRequest {
            from_seq,
            from_n_chunks,
            to_seq,
        } = *request.get_ref();
        let update = served
            .db
            .update_since(from_seq, from_n_chunks, (to_seq != 0).then_some(to_seq))
            .await
            .map_err(Error::from)?
            .ok_or(Error::NoUpdate { from_seq })?;
        // Each group shown is about 2 KiB; a fresh commitment is 32 bytes a group. Past this,
        // growth is better taken afresh (and audited afresh, which new chunks need anyway).
        if update.groups.len() > MAX_SYNC_GROUPS {
            return Err(Error::NoUpdate { from_seq }.into());
        }
        let body = SyncResponse {
            commitment: Some(self.0.commitment(&served, &caller.hotkey, &update.state)),
            groups: update
                .groups
                .into_iter()
                .map(|g| GroupChange {
                    index: g.index,
                    leaves: g.leaves.concat(),
                    old: g
                        .old
                        .into_iter()
                        .map(|(slot, leaf)| OldLeaf {
                            slot,
                            leaf: leaf.to_vec(),
                        })
                        .collect(),
                })
                .collect(),
        };
        Ok(self.0.signed(body, &caller, methods::SYNC, started))
    }
}

/// The segment and its path, or an empty proof when the chunk is not held (or the index is out
/// of range): the validator counts that as a failed item rather than the whole batch.
async fn prove(served: &Served, chunk_id: u64, segment: u32) -> Result<SegmentProof, Error> {
    let empty = SegmentProof {
        chunk_id,
        segment,
        data: Vec::new(),
        path: Vec::new(),
        group_path: Vec::new(),
    };
    if chunk_id >= served.n_chunks {
        return Ok(empty);
    }
    let Some(chunk) = served.db.get(chunk_id).await? else {
        return Ok(empty);
    };
    let start = segment as usize * SEGMENT_SIZE;
    let Some(data) = chunk.data.get(start..start + SEGMENT_SIZE) else {
        return Ok(empty);
    };
    let data = data.to_vec();
    // Hashing a whole chunk is a millisecond of CPU per megabyte: off the async workers.
    let proof = tokio::task::spawn_blocking(move || merkle::prove(&chunk.data, u64::from(segment)))
        .await
        .map_err(|e| Error::Serve(format!("proof task failed: {e}")))??;
    Ok(SegmentProof {
        chunk_id,
        segment,
        data,
        path: proof.path.iter().map(|h| h.to_vec()).collect(),
        group_path: Vec::new(),
    })
}

/// Seals `ids` again as filler and writes them back, once `turn` lets it; a slot stored to again
/// meanwhile keeps the new data (the insert then fails and is logged). The sealing runs on a
/// thread of its own at the lowest priority (`tessera_allocator::seal_in_background`), so that
/// challenge answers keep their CPU however much is released. Slots left unsealed, here or by a
/// crash, are sealed by the next reallocation, which fills every missing chunk.
async fn reseal(
    key: SealKey,
    db: PartitionDb,
    ids: Vec<u64>,
    turn: Arc<tokio::sync::Semaphore>,
    queued: Arc<AtomicUsize>,
) {
    // Out of the queue however this ends.
    struct Dequeue(Arc<AtomicUsize>, usize);
    impl Drop for Dequeue {
        fn drop(&mut self) {
            self.0.fetch_sub(self.1, Ordering::AcqRel);
        }
    }
    let _dequeue = Dequeue(queued, ids.len());
    // The semaphore is never closed, so this only waits.
    let Ok(_turn) = turn.acquire_owned().await else {
        return;
    };
    #[cfg(debug_assertions)]
    crate::churn::delay_reseal().await;
    let wanted = ids.len();
    let mut sealed = tessera_allocator::seal_in_background(key, ids);
    let mut got = 0;
    while let Some(chunk) = sealed.recv().await {
        got += 1;
        let id = chunk.id;
        if let Err(e) = db.insert(&[chunk]).await {
            tracing::warn!(id, error = %e, "released slot not resealed");
        }
    }
    if got < wanted {
        tracing::warn!(
            missing = wanted - got,
            "released slots not resealed; the next reallocation seals them"
        );
    }
}
