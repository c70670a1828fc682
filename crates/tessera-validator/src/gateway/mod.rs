//! The gateway: clients put, get, list and delete their objects through the validator. Segments
//! arrive encrypted; the gateway spreads them into pieces on miners, records every placement in
//! the state database, and on a get gathers any k checked pieces per segment. It never holds a
//! key, and it holds at most a few segments of an object in memory at once.

mod get;
mod miners;
mod put;
mod repair;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tessera_chain::Metagraph;
use tessera_core::AccountId;
use tessera_object::{ObjectId, Params};
use tessera_proto::gateway::v1::gateway_server::{Gateway, GatewayServer};
use tessera_proto::gateway::v1::{
    DeleteRequest, DeleteResponse, GetRequest, GetResponse, ListRequest, ListResponse, ObjectInfo,
    ParamsRequest, ParamsResponse, PutHeader, PutRequest, PutResponse, StatRequest, get_response,
    methods, put_request,
};
use tessera_proto::prost::Message;
use tessera_proto::tonic::{self, Request, Response, Status, Streaming};
use tessera_rpc::{Gate, now_ms};
use tessera_storage::{ChallengeRecord, NewObject, ObjectRecord, PlacementRecord, StateDb};

pub(crate) use miners::{Holder, Miners, holders};
pub(crate) use repair::sweep;

use crate::metrics::Metrics;
use crate::{DataConfig, Error};

/// Segments of one object being stored or fetched at once: enough to keep miners and the
/// network busy, few enough to bound memory to a few segments.
const PIPELINE: usize = 8;

/// Failed items and served pieces the gateway saw between rounds, folded into miners' records
/// by the next round.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    penalties: Mutex<HashMap<AccountId, Vec<ChallengeRecord>>>,
    served: Mutex<HashMap<AccountId, (u64, Duration)>>,
    /// Bytes of each miner's pieces in segments close to their repair threshold, as of the last
    /// repair sweep.
    rare: Mutex<HashMap<AccountId, u64>>,
}

impl Ledger {
    /// The failed items recorded against `miner` since the last call.
    pub(crate) fn take_penalties(&self, miner: &AccountId) -> Vec<ChallengeRecord> {
        let mut p = self.penalties.lock().unwrap_or_else(|p| p.into_inner());
        p.remove(miner).unwrap_or_default()
    }

    /// Bytes each miner served correctly, and the time it took, since the last call.
    pub(crate) fn take_served(&self) -> HashMap<AccountId, (u64, Duration)> {
        let mut s = self.served.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::take(&mut *s)
    }

    pub(crate) fn rare_bytes(&self, miner: &AccountId) -> u64 {
        let r = self.rare.lock().unwrap_or_else(|p| p.into_inner());
        r.get(miner).copied().unwrap_or(0)
    }

    pub(crate) fn set_rare(&self, rare: HashMap<AccountId, u64>) {
        *self.rare.lock().unwrap_or_else(|p| p.into_inner()) = rare;
    }
}

/// Everything the gateway's calls share; clones are handles to the same state.
#[derive(Clone)]
pub(crate) struct Shared {
    me: Arc<GatewayState>,
}

/// The inner state, behind one `Arc` so that tasks can own a handle.
pub(crate) struct GatewayState {
    pub(crate) keypair_account: AccountId,
    pub(crate) rules: Arc<crate::round::Rules>,
    pub(crate) state: StateDb,
    /// The metagraph the node's follower keeps fresh: reading it touches neither chain nor disk.
    pub(crate) metagraph: tokio::sync::watch::Receiver<Arc<Metagraph>>,
    /// Least stake a permit holder needs to count as a validator, not a miner.
    pub(crate) min_stake: f64,
    pub(crate) data: DataConfig,
    pub(crate) params: Params,
    pub(crate) chunk_size: u64,
    pub(crate) gate: Gate,
    pub(crate) miners: Miners,
    pub(crate) ledger: Arc<Ledger>,
    pub(crate) metrics: Metrics,
    /// Every task a call starts (streaming a get, forwarding a put), waited for at shutdown
    /// before the state closes; `stop` cancels them there.
    pub(crate) tasks: tokio_util::task::TaskTracker,
    pub(crate) stop: tokio_util::sync::CancellationToken,
}

impl GatewayState {
    /// Runs `work` as a tracked task that shutdown cancels.
    pub(crate) fn spawn(
        &self,
        work: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        let stop = self.stop.clone();
        self.tasks.spawn(async move {
            tokio::select! {
                () = stop.cancelled() => {}
                () = work => {}
            }
        })
    }

    /// Cancels every task calls started and waits for them.
    pub(crate) async fn stop_tasks(&self) {
        self.stop.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

impl std::ops::Deref for Shared {
    type Target = GatewayState;
    fn deref(&self) -> &GatewayState {
        &self.me
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway").finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn new(inner: GatewayState) -> Self {
        Self {
            me: Arc::new(inner),
        }
    }

    /// Marks the piece in `miner`'s `slot` for repair and counts a failed item against the
    /// miner.
    pub(crate) async fn penalise(
        &self,
        miner: &AccountId,
        slot: u64,
        reason: &str,
    ) -> Result<(), Error> {
        tracing::warn!(%miner, slot, reason, "miner penalised");
        self.metrics
            .bad_pieces
            .get_or_create(&self.metrics.miner(&miner.to_string()))
            .inc();
        self.state.mark_failed(miner, slot, now_ms()).await?;
        let mut p = self
            .ledger
            .penalties
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        p.entry(*miner).or_default().push(ChallengeRecord {
            chunk_id: slot,
            segment: 0,
            success: false,
            latency_ms: 0,
            bytes: 0,
            at_ms: now_ms(),
            reason: Some(reason.to_owned()),
        });
        Ok(())
    }

    /// Counts a piece `miner` served correctly.
    pub(crate) fn served(&self, miner: &AccountId, bytes: u64, took: Duration) {
        let mut s = self.ledger.served.lock().unwrap_or_else(|p| p.into_inner());
        let e = s.entry(*miner).or_default();
        e.0 += bytes;
        e.1 += took;
    }

    pub(crate) async fn metagraph(&self) -> Result<Arc<Metagraph>, Error> {
        Ok(self.metagraph.borrow().clone())
    }

    /// The metagraph now, and the miners of it that can take pieces (see `holders`).
    pub(crate) async fn miners_now(
        &self,
    ) -> Result<(Arc<Metagraph>, HashMap<AccountId, Holder>), Error> {
        let metagraph = self.metagraph().await?;
        let holders = holders(
            &self.state,
            &metagraph,
            &self.keypair_account,
            self.min_stake,
            self.chunk_size,
        )
        .await?;
        Ok((metagraph, holders))
    }

    /// Lets a signed client in: any hotkey may store, and sees only its own objects.
    fn admit<T: Message>(&self, request: &Request<T>, method: &str) -> Result<AccountId, Status> {
        let admitted = self
            .gate
            .check(request, method, |_| Ok(()))
            .map(|c| c.hotkey);
        self.replay_gauges();
        admitted
    }

    /// Shows the replay memory's size in the metrics.
    fn replay_gauges(&self) {
        let replay = self.gate.replay();
        let m = &self.metrics;
        m.replay_nonces.set(replay.len() as i64);
        m.replay_callers.set(replay.callers() as i64);
        m.replay_sources.set(replay.sources() as i64);
    }

    /// `owner`'s live, complete object `id`; anyone else is told it does not exist, so that ids
    /// of others' objects cannot even be confirmed.
    async fn owned(&self, id: &[u8], owner: &AccountId) -> Result<ObjectRecord, Error> {
        let id = ObjectId::from_slice(id)
            .ok_or_else(|| Error::BadRequest("object id must be 16 bytes".into()))?;
        match self.state.object(&id.0).await? {
            Some(o) if o.complete && o.object.owner == *owner && o.object.expires_ms > now_ms() => {
                Ok(o)
            }
            _ => Err(Error::NotFound(format!("object {id} not found"))),
        }
    }

    /// The wire description of `o`, with the health of its segments.
    async fn info(&self, o: &ObjectRecord) -> Result<ObjectInfo, Error> {
        let placements = self.state.placements(&o.object.id).await?;
        let (_, holders) = self.miners_now().await?;
        let health = health(&placements, &holders, o.object.segments);
        Ok(object_info(o, &health))
    }

    /// `owner`'s live objects, oldest first, with their health.
    pub(crate) async fn list_objects(&self, owner: &AccountId) -> Result<Vec<ObjectInfo>, Error> {
        let now = now_ms();
        let (_, holders) = self.miners_now().await?;
        let mut objects = Vec::new();
        for o in self.state.objects_of(owner).await? {
            if o.object.expires_ms <= now {
                continue;
            }
            let placements = self.state.placements(&o.object.id).await?;
            objects.push(object_info(
                &o,
                &health(&placements, &holders, o.object.segments),
            ));
        }
        Ok(objects)
    }

    pub(crate) async fn stat_object(
        &self,
        id: &[u8],
        owner: &AccountId,
    ) -> Result<ObjectInfo, Error> {
        let o = self.owned(id, owner).await?;
        self.info(&o).await
    }

    /// Ends `owner`'s object `id` now: gone for the client at once, its slots given back to
    /// filler by the next reclaim sweep.
    pub(crate) async fn delete_object(&self, id: &[u8], owner: &AccountId) -> Result<(), Error> {
        let o = self.owned(id, owner).await?;
        self.state
            .expire_object(&o.object.id, owner, now_ms())
            .await?;
        tracing::info!(object = %ObjectId(o.object.id), %owner, "object deleted");
        Ok(())
    }

    /// `owner`'s object `id` and a stream of its segments' ciphertext in order, fetched a few
    /// segments ahead; the stream ends early with the error that stopped it.
    pub(crate) async fn open_object(
        &self,
        id: &[u8],
        owner: &AccountId,
    ) -> Result<
        (
            ObjectInfo,
            tokio::sync::mpsc::Receiver<Result<Vec<u8>, Error>>,
        ),
        Error,
    > {
        let o = self.owned(id, owner).await?;
        let placements = self.state.placements(&o.object.id).await?;
        let (metagraph, holders) = self.miners_now().await?;
        let health = health(&placements, &holders, o.object.segments);
        let holders = miners::sources(holders, &metagraph);
        let info = object_info(&o, &health);
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        let s = self.clone();
        self.spawn(async move {
            let mut by_segment: BTreeMap<u64, Vec<PlacementRecord>> = BTreeMap::new();
            for p in placements {
                by_segment.entry(p.segment).or_default().push(p);
            }
            let holders = Arc::new(holders);
            let mut pending = std::collections::VecDeque::new();
            let mut next = 0u64;
            loop {
                while pending.len() < PIPELINE && next < o.object.segments {
                    let shared = s.clone();
                    let holders = holders.clone();
                    let placements = by_segment.remove(&next).unwrap_or_default();
                    let index = next;
                    pending.push_back(s.tasks.spawn(async move {
                        get::fetch_segment(&shared, &holders, index, &placements).await
                    }));
                    next += 1;
                }
                let Some(task) = pending.pop_front() else {
                    break;
                };
                let result = match task.await {
                    Ok(r) => r,
                    Err(e) => Err(Error::Serve(format!("fetch task failed: {e}"))),
                };
                if let Ok(bytes) = &result {
                    s.metrics.bytes_out.inc_by(bytes.len() as u64);
                } else if let Err(e) = &result {
                    tracing::warn!(object = %ObjectId(o.object.id), error = %e, "get failed");
                }
                let failed = result.is_err();
                if tx.send(result).await.is_err() || failed {
                    for t in pending {
                        t.abort();
                    }
                    return;
                }
            }
        });
        Ok((info, rx))
    }

    /// Stores object `header` for `owner` from its parts: every encrypted segment in order,
    /// then the plaintext digest. Answers once every piece is stored and indexed; a failure
    /// leaves nothing visible, and the reclaim sweep gives back what was placed.
    pub(crate) async fn put_object(
        &self,
        owner: AccountId,
        header: PutHeader,
        mut parts: tokio::sync::mpsc::Receiver<Result<put_request::Part, Error>>,
    ) -> Result<ObjectInfo, Error> {
        let s = self;
        let p = s.params;
        let id = ObjectId::from_slice(&header.id)
            .ok_or_else(|| Error::BadRequest("object id must be 16 bytes".into()))?;
        if (header.k, header.n, header.piece_size) != (u32::from(p.k), u32::from(p.n), p.piece_size)
        {
            return Err(Error::Mismatch(format!(
                "segments sealed for k={} n={} piece_size={}, but this gateway codes k={} n={} piece_size={}; ask Params again",
                header.k, header.n, header.piece_size, p.k, p.n, p.piece_size
            )));
        }
        let segments = tessera_object::segment_count(&p, header.size);
        if header.segments != segments {
            return Err(Error::BadRequest(format!(
                "an object of {} bytes has {segments} segments, not {}",
                header.size, header.segments
            )));
        }
        let ttl = match header.ttl_secs {
            0 => s.data.default_ttl_secs,
            t if t > s.data.max_ttl_secs => {
                return Err(Error::BadRequest(format!(
                    "ttl {t} s is longer than this gateway's maximum of {} s",
                    s.data.max_ttl_secs
                )));
            }
            t => t,
        };
        if s.state.object(&id.0).await?.is_some() {
            return Err(Error::Exists(format!("object {id} already exists")));
        }
        let quota = s.data.quota_per_client.0;
        if quota > 0 {
            let held = s.state.owner_bytes(&owner, now_ms()).await?;
            if held.saturating_add(header.size) > quota {
                return Err(Error::Quota(format!(
                    "hotkey {owner} keeps {held} bytes; {} more would pass its quota of {quota} bytes",
                    header.size
                )));
            }
        }
        let (_, holders) = s.miners_now().await?;
        let eligible = ready(&holders);
        if eligible < usize::from(p.n) {
            return Err(Error::Unavailable(format!(
                "only {eligible} miners can take pieces now; {} are needed",
                p.n
            )));
        }
        let created = now_ms();
        let object = NewObject {
            id: id.0,
            owner,
            size: header.size,
            // Filled in from the put's last message before the object is committed.
            digest: [0; 32],
            k: p.k,
            n: p.n,
            piece_size: p.piece_size,
            segments,
            created_ms: created,
            expires_ms: created.saturating_add(ttl.saturating_mul(1000)),
        };
        s.state.begin_object(&object).await?;
        // From here on a failure leaves a pending object, which the reclaim sweep releases.
        let holders = Arc::new(holders);
        let capacity = p.segment_capacity() as u64;
        let segment_bytes = usize::from(p.k) * p.piece_size as usize;
        let mut tasks = tokio::task::JoinSet::new();
        let mut index = 0u64;
        let result: Result<[u8; 32], Error> = async {
            let digest = loop {
                let bytes = match parts.recv().await.transpose()? {
                    Some(put_request::Part::Segment(bytes)) => bytes,
                    Some(put_request::Part::Digest(d)) => {
                        break <[u8; 32]>::try_from(d.as_slice())
                            .map_err(|_| Error::BadRequest("digest must be 32 bytes".into()))?;
                    }
                    Some(put_request::Part::Header(_)) => {
                        return Err(Error::BadRequest("a second header in one put".into()));
                    }
                    None => {
                        return Err(Error::BadRequest(
                            "the put ended without its digest: the client stopped midway".into(),
                        ));
                    }
                };
                if index >= segments {
                    return Err(Error::BadRequest(format!(
                        "more than the {segments} segments announced"
                    )));
                }
                if bytes.len() != segment_bytes {
                    return Err(Error::BadRequest(format!(
                        "segment {index} is {} bytes, not k × piece_size = {segment_bytes}",
                        bytes.len()
                    )));
                }
                s.metrics.bytes_in.inc_by(bytes.len() as u64);
                let size = header.size.saturating_sub(index * capacity).min(capacity);
                while tasks.len() >= PIPELINE {
                    join_one(&mut tasks).await?;
                }
                let shared = s.clone();
                let holders = holders.clone();
                tasks.spawn(async move {
                    put::put_segment(&shared, &holders, id, index, size, bytes).await
                });
                index += 1;
            };
            if parts.recv().await.is_some() {
                return Err(Error::BadRequest("messages after the digest".into()));
            }
            while !tasks.is_empty() {
                join_one(&mut tasks).await?;
            }
            if index != segments {
                return Err(Error::BadRequest(format!(
                    "the put ended after {index} of {segments} segments"
                )));
            }
            Ok(digest)
        }
        .await;
        let digest = match result {
            Ok(d) => d,
            Err(e) => {
                tasks.abort_all();
                // Not visible, and released by the next reclaim sweep; expiring it now makes that
                // sweep the next round rather than after the grace for dead puts.
                let _ = s.state.expire_object(&id.0, &owner, now_ms()).await;
                return Err(e);
            }
        };
        if !s.state.commit_object(&id.0, &digest).await? {
            return Err(Error::Serve(format!("object {id} could not be committed")));
        }
        tracing::info!(object = %id, %owner, size = header.size, segments, "object stored");
        let record = s
            .state
            .object(&id.0)
            .await?
            .ok_or_else(|| Error::Serve(format!("object {id} vanished after commit")))?;
        s.info(&record).await
    }
}

/// How many of `holders` are trusted with new pieces now: a put needs `n` of them.
fn ready(holders: &HashMap<AccountId, Holder>) -> usize {
    holders
        .values()
        .filter(|h| h.reputation >= miners::MIN_REPUTATION)
        .count()
}

/// Healthy pieces per segment: pieces with a placement on a miner that can hold pieces now and
/// that has not failed since.
pub(crate) fn health(
    placements: &[PlacementRecord],
    holders: &HashMap<AccountId, Holder>,
    segments: u64,
) -> Vec<u16> {
    let mut by_segment: BTreeMap<u64, std::collections::BTreeSet<u16>> = BTreeMap::new();
    for p in placements {
        let ok = !p.failed
            && holders
                .get(&p.miner)
                .is_some_and(|h| h.reputation >= miners::MIN_REPUTATION);
        let entry = by_segment.entry(p.segment).or_default();
        if ok {
            entry.insert(p.piece);
        }
    }
    (0..segments)
        .map(|s| by_segment.get(&s).map_or(0, |set| set.len() as u16))
        .collect()
}

fn object_info(o: &ObjectRecord, health: &[u16]) -> ObjectInfo {
    let n = &o.object;
    ObjectInfo {
        id: n.id.to_vec(),
        size: n.size,
        digest: n.digest.to_vec(),
        k: u32::from(n.k),
        n: u32::from(n.n),
        piece_size: n.piece_size,
        segments: n.segments,
        created_ms: n.created_ms,
        expires_ms: n.expires_ms,
        healthy_pieces: health.iter().map(|h| u64::from(*h)).sum(),
        weakest_segment: health.iter().copied().min().map_or(0, u32::from),
    }
}

/// The one mapping from the validator's errors to gRPC status codes.
pub(crate) fn status(e: &Error) -> Status {
    let m = e.to_string();
    match e {
        Error::BadRequest(_) => Status::invalid_argument(m),
        Error::NotFound(_) => Status::not_found(m),
        Error::Exists(_) => Status::already_exists(m),
        Error::Mismatch(_) => Status::failed_precondition(m),
        Error::NoCapacity(_) | Error::Quota(_) => Status::resource_exhausted(m),
        Error::Unavailable(_) => Status::unavailable(m),
        Error::Object(tessera_object::Error::TooFewMiners { .. }) => Status::unavailable(m),
        Error::Object(_) => Status::invalid_argument(m),
        Error::Config(_)
        | Error::Allocator(_)
        | Error::Storage(_)
        | Error::Chain(_)
        | Error::Core(_)
        | Error::Seal(_)
        | Error::Bind { .. }
        | Error::Serve(_) => {
            // The details (file paths among them) are for the operator's log; the client gets
            // the request id to quote.
            let id = crate::error::incident_id();
            tracing::error!(error = %e, request_id = %id, "gateway call failed");
            Status::internal(format!(
                "internal error; the operator's log has it as request {id}"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_reach_clients_as_a_request_id_only() {
        let e = Error::Serve("/var/lib/tessera/db/validator.sqlite: disk I/O error".into());
        let s = status(&e);
        assert_eq!(s.code(), tonic::Code::Internal);
        assert!(!s.message().contains("/var/lib"), "{}", s.message());
        assert!(s.message().contains("request "), "{}", s.message());
        let s = status(&Error::NotFound("object 00".into()));
        assert!(s.message().contains("object 00"));
    }
}

/// The tonic face of the gateway.
#[derive(Debug)]
pub(crate) struct GatewayService(pub(crate) Shared);

impl GatewayService {
    pub(crate) fn server(shared: Shared) -> GatewayServer<Self> {
        // A segment is k pieces of one chunk; a little more for the framing.
        let limit = usize::from(shared.params.k) * shared.params.piece_size as usize + (64 << 10);
        GatewayServer::new(Self(shared))
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit)
    }

    fn done<T>(&self, method: &str, r: Result<T, Error>) -> Result<T, Status> {
        let r = r.map_err(|e| status(&e));
        let code = r.as_ref().map_or_else(|s| s.code(), |_| tonic::Code::Ok);
        self.0.metrics.call(method, code);
        r
    }
}

async fn join_one(tasks: &mut tokio::task::JoinSet<Result<(), Error>>) -> Result<(), Error> {
    match tasks.join_next().await {
        Some(Ok(r)) => r,
        Some(Err(e)) => Err(Error::Serve(format!("segment task failed: {e}"))),
        None => Ok(()),
    }
}

type GetStream = tokio_stream::wrappers::ReceiverStream<Result<GetResponse, Status>>;

#[tonic::async_trait]
impl Gateway for GatewayService {
    async fn params(
        &self,
        request: Request<ParamsRequest>,
    ) -> Result<Response<ParamsResponse>, Status> {
        // Unsigned on purpose: the answer is public, and it names whom to sign for.
        let _ = (request, methods::PARAMS);
        let p = self.0.params;
        let ready = async {
            let (_, h) = self.0.miners_now().await?;
            Ok::<_, Error>(ready(&h) as u32)
        }
        .await;
        let ready_miners = self.done("params", ready)?;
        Ok(Response::new(ParamsResponse {
            k: u32::from(p.k),
            n: u32::from(p.n),
            piece_size: p.piece_size,
            default_ttl_secs: self.0.data.default_ttl_secs,
            max_ttl_secs: self.0.data.max_ttl_secs,
            hotkey: self.0.keypair_account.to_ss58(),
            ready_miners,
        }))
    }

    async fn put(
        &self,
        request: Request<Streaming<PutRequest>>,
    ) -> Result<Response<PutResponse>, Status> {
        let (md, ext, mut stream) = request.into_parts();
        let remote = ext
            .get::<tonic::transport::server::TcpConnectInfo>()
            .and_then(|i| i.remote_addr());
        let first = stream
            .message()
            .await?
            .ok_or_else(|| Status::invalid_argument("empty put: the header must come first"))?;
        let Some(put_request::Part::Header(header)) = first.part.clone() else {
            return Err(Status::invalid_argument(
                "the first message of a put must be its header",
            ));
        };
        let owner = self.0.gate.check_body(
            &md,
            remote,
            &first.encode_to_vec(),
            methods::PUT,
            |_| Ok(()),
        );
        self.0.replay_gauges();
        let owner = owner?.hotkey;
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        let forward = self.0.spawn(async move {
            loop {
                let part = match stream.message().await {
                    Ok(Some(m)) => match m.part {
                        Some(p) => Ok(p),
                        None => Err(Error::BadRequest("a put message without a part".into())),
                    },
                    Ok(None) => return,
                    Err(st) => Err(Error::BadRequest(format!(
                        "put stream broke: {}",
                        st.message()
                    ))),
                };
                let stop = part.is_err();
                if tx.send(part).await.is_err() || stop {
                    return;
                }
            }
        });
        let r = self.0.put_object(owner, header, rx).await;
        forward.abort();
        self.done("put", r).map(|object| {
            Response::new(PutResponse {
                object: Some(object),
            })
        })
    }

    type GetStream = GetStream;

    async fn get(&self, request: Request<GetRequest>) -> Result<Response<GetStream>, Status> {
        let owner = self.0.admit(&request, methods::GET)?;
        let opened = self.0.open_object(&request.get_ref().id, &owner).await;
        let (info, mut segments) = self.done("get", opened)?;
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        self.0.spawn(async move {
            let first = Ok(GetResponse {
                part: Some(get_response::Part::Object(info)),
            });
            if tx.send(first).await.is_err() {
                return;
            }
            while let Some(segment) = segments.recv().await {
                let message = segment
                    .map(|bytes| GetResponse {
                        part: Some(get_response::Part::Segment(bytes.into())),
                    })
                    .map_err(|e| status(&e));
                if tx.send(message).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(tokio_stream::wrappers::ReceiverStream::new(
            rx,
        )))
    }

    async fn stat(&self, request: Request<StatRequest>) -> Result<Response<ObjectInfo>, Status> {
        let owner = self.0.admit(&request, methods::STAT)?;
        let r = self.0.stat_object(&request.get_ref().id, &owner).await;
        self.done("stat", r).map(Response::new)
    }

    async fn list(&self, request: Request<ListRequest>) -> Result<Response<ListResponse>, Status> {
        let owner = self.0.admit(&request, methods::LIST)?;
        let r = self.0.list_objects(&owner).await;
        self.done("list", r.map(|objects| ListResponse { objects }))
            .map(Response::new)
    }

    async fn delete(
        &self,
        request: Request<DeleteRequest>,
    ) -> Result<Response<DeleteResponse>, Status> {
        let owner = self.0.admit(&request, methods::DELETE)?;
        let r = self.0.delete_object(&request.get_ref().id, &owner).await;
        self.done("delete", r.map(|()| DeleteResponse {}))
            .map(Response::new)
    }
}
