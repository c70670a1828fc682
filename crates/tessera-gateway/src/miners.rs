//! The gateway's side of the miner protocol: one cached connection per miner, signed `Store`,
//! `Retrieve` and `Release` calls whose answers are checked, the miners a piece may go to, and
//! the slots promised to pieces still in flight.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tessera_chain::Metagraph;
use tessera_core::AccountId;
use tessera_core::merkle;
use tessera_core::merkle::Hash;
use tessera_object::Candidate;
use tessera_proto::miner::v1::miner_client::MinerClient;
use tessera_proto::miner::v1::{ReleaseRequest, RetrieveRequest, StoreRequest, methods};
use tessera_proto::prost::bytes::Bytes;
use tessera_proto::tonic::transport::{Channel, Endpoint};
use tessera_rpc::{chunk_signed, sign_metadata, signed, verify_response, verify_response_body};
use tessera_storage::StateDb;

use tessera_core::Keypair;
use tessera_core::score::{Reputation, SUSPEND_BELOW};

use crate::Error;
use crate::error::MinerError;
use crate::slots::Slots;

/// How long one piece may take to store or fetch before the miner counts as failing.
const PIECE_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a `Release`, a few hundred slot numbers, may take.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(5);

/// A miner pieces can go to, with the slots its partition for us has.
#[derive(Debug, Clone)]
pub struct Holder {
    pub hotkey: AccountId,
    pub axon: SocketAddr,
    pub reputation: f64,
    pub n_chunks: u64,
}

impl Holder {
    pub(crate) fn candidate(&self) -> Candidate {
        Candidate {
            hotkey: self.hotkey,
            ip: self.axon.ip(),
            reputation: self.reputation,
        }
    }
}

/// Connections to miners and the slot reservations of puts and repairs in flight.
pub struct Miners {
    keypair: Arc<Keypair>,
    chunk_size: u64,
    /// The validator-wide book of slots in motion, which the challenge loop reads.
    in_motion: Arc<Slots>,
    channels: Mutex<HashMap<SocketAddr, Channel>>,
    /// Held across the index read in `reserve`, so that a slot is never seen free in the index
    /// just before its piece is recorded and then seen unreserved just after.
    slots: Arc<tokio::sync::Mutex<HashMap<AccountId, Book>>>,
}

/// A slot promised to a piece in flight, until `finish` says whether the piece is in the index.
/// Dropped unfinished (a put or a repair cancelled midway), the promise still ends: the slot
/// counts as taken until the index is read again, which then says whether a piece of the
/// cancelled call was recorded there. Without this, every cancelled put leaked its slots.
#[derive(Debug)]
pub(crate) struct Reservation {
    pub(crate) slot: u64,
    miner: AccountId,
    books: Arc<tokio::sync::Mutex<HashMap<AccountId, Book>>>,
    in_motion: Arc<Slots>,
    open: bool,
}

impl Reservation {
    /// Ends the promise: `kept` when the piece is now in the index, otherwise the slot is free
    /// again.
    pub(crate) async fn finish(mut self, kept: bool) {
        self.open = false;
        let mut books = self.books.lock().await;
        end(&mut books, &self.in_motion, &self.miner, self.slot, kept);
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.open {
            return;
        }
        let (books, in_motion, miner, slot) = (
            self.books.clone(),
            self.in_motion.clone(),
            self.miner,
            self.slot,
        );
        if let Ok(mut b) = books.try_lock() {
            end_unfinished(&mut b, &in_motion, &miner, slot);
            return;
        }
        // Contended: ended as soon as the lock is free, in a task of its own since a drop cannot
        // wait. It holds nothing but its turn at the lock.
        tokio::spawn(async move {
            end_unfinished(&mut *books.lock().await, &in_motion, &miner, slot);
        });
    }
}

/// Ends a promise its holder dropped: taken, until the index, read again, says otherwise.
fn end_unfinished(
    books: &mut HashMap<AccountId, Book>,
    in_motion: &Slots,
    miner: &AccountId,
    slot: u64,
) {
    end(books, in_motion, miner, slot, true);
    if let Some(book) = books.get_mut(miner) {
        book.stale = true;
    }
}

fn end(
    books: &mut HashMap<AccountId, Book>,
    in_motion: &Slots,
    miner: &AccountId,
    slot: u64,
    kept: bool,
) {
    if let Some(book) = books.get_mut(miner) {
        book.reserved.remove(&slot);
        if kept {
            book.used.insert(slot);
        }
    }
    in_motion.unreserve(miner, slot);
}

impl std::fmt::Debug for Miners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Miners").finish_non_exhaustive()
    }
}

impl Miners {
    /// The book of slots in motion these calls keep: reserved, released, resealing.
    pub fn in_motion(&self) -> &Slots {
        &self.in_motion
    }

    pub fn new(keypair: Arc<Keypair>, chunk_size: u64, in_motion: Arc<Slots>) -> Self {
        Self {
            keypair,
            chunk_size,
            in_motion,
            channels: Mutex::default(),
            slots: Arc::default(),
        }
    }

    fn client(&self, axon: SocketAddr) -> Result<MinerClient<Channel>, MinerError> {
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        let channel = match channels.get(&axon) {
            Some(c) => c.clone(),
            None => {
                // Lazy: the connection is made on first use and remade after a failure, and
                // every piece to this miner shares it.
                let c = Endpoint::from_shared(format!("http://{axon}"))
                    .map_err(|e| MinerError::Failed(e.to_string()))?
                    .connect_timeout(Duration::from_secs(3))
                    .tcp_nodelay(true)
                    .initial_stream_window_size(tessera_rpc::STREAM_WINDOW)
                    .initial_connection_window_size(tessera_rpc::CONNECTION_WINDOW)
                    .max_frame_size(tessera_rpc::MAX_FRAME)
                    .connect_lazy();
                channels.insert(axon, c.clone());
                c
            }
        };
        let limit = self.chunk_size as usize + (64 << 10);
        Ok(MinerClient::new(channel)
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit))
    }

    /// Stores `data` in `slot` of `miner` and checks that the root it reports is `root`.
    pub(crate) async fn store(
        &self,
        miner: &Holder,
        slot: u64,
        data: Bytes,
        root: &Hash,
    ) -> Result<(), MinerError> {
        let mut client = self.client(miner.axon)?;
        let mut req = tessera_proto::tonic::Request::new(StoreRequest { slot, data });
        // Signed over the piece's root, which the caller computed already (`chunk_signed`).
        let nonce = sign_metadata(
            req.metadata_mut(),
            &chunk_signed::store(slot, root),
            &self.keypair,
            &miner.hotkey,
            methods::STORE,
        );
        let resp = tokio::time::timeout(PIECE_TIMEOUT, client.store(req))
            .await
            .map_err(|_| MinerError::Failed("store timed out".into()))?
            .map_err(|s| MinerError::Failed(format!("store refused: {}", s.message())))?;
        self.check(&resp, methods::STORE, miner, &nonce)?;
        if resp.get_ref().root != root[..] {
            return Err(MinerError::Failed(
                "the stored piece's root is not the piece's own".into(),
            ));
        }
        Ok(())
    }

    /// The bytes in `slot` of `miner`, checked against `root`. [`MinerError::Lied`] is a provable lie:
    /// the miner signed bytes whose root is not the recorded one. Bytes that do not match its
    /// own signature were changed on the way and count as a failed fetch only, so nobody can
    /// frame an honest miner.
    pub(crate) async fn retrieve(
        &self,
        miner: &Holder,
        slot: u64,
        root: &Hash,
    ) -> Result<Bytes, MinerError> {
        let mut client = self.client(miner.axon)?;
        let (req, nonce) = signed(
            RetrieveRequest { slot },
            &self.keypair,
            &miner.hotkey,
            methods::RETRIEVE,
        );
        let resp = tokio::time::timeout(PIECE_TIMEOUT, client.retrieve(req))
            .await
            .map_err(|_| MinerError::Failed("retrieve timed out".into()))?
            .map_err(|s| MinerError::Failed(format!("retrieve refused: {}", s.message())))?;
        let (md, body, _) = resp.into_parts();
        let data = body.data;
        let (data, got) = tokio::task::spawn_blocking(move || {
            let got = merkle::root(&data).ok();
            (data, got)
        })
        .await
        .map_err(|e| MinerError::Failed(format!("hashing task failed: {e}")))?;
        let Some(got) = got else {
            return Err(MinerError::Failed(format!(
                "a piece of {} bytes is not whole segments",
                data.len()
            )));
        };
        let peer = format!("miner {} at {}", miner.hotkey, miner.axon);
        verify_response_body(
            &md,
            &chunk_signed::retrieve(&got),
            methods::RETRIEVE,
            &miner.hotkey,
            &self.keypair.account(),
            &nonce,
            &peer,
        )
        .map_err(|e| {
            MinerError::Failed(format!(
                "the piece does not match the miner's signature: {e}"
            ))
        })?;
        if got != *root {
            return Err(MinerError::Lied(
                "a retrieved piece does not match its recorded root".into(),
            ));
        }
        Ok(data)
    }

    /// Asks `miner` to give `slots` back to filler. They are spared from challenges from now
    /// until resealed, whether or not the answer comes back.
    pub(crate) async fn release(
        &self,
        miner: AccountId,
        axon: SocketAddr,
        slots: Vec<u64>,
    ) -> Result<(), MinerError> {
        let mut client = self.client(axon)?;
        self.in_motion.mark(&miner, &slots);
        let (req, nonce) = signed(
            ReleaseRequest { slots },
            &self.keypair,
            &miner,
            methods::RELEASE,
        );
        let resp = tokio::time::timeout(RELEASE_TIMEOUT, client.release(req))
            .await
            .map_err(|_| MinerError::Failed("release timed out".into()))?
            .map_err(|s| MinerError::Failed(format!("release refused: {}", s.message())))?;
        verify_response(
            &resp,
            methods::RELEASE,
            &miner,
            &self.keypair.account(),
            &nonce,
            &axon.to_string(),
        )
        .map(|_| ())
        .map_err(|e| MinerError::Failed(e.to_string()))
    }

    /// Checks that the answer is signed by the miner for our request: the signature holds it
    /// to the bytes it sent, which is what a penalty for wrong bytes rests on.
    fn check<T: tessera_proto::prost::Message>(
        &self,
        resp: &tessera_proto::tonic::Response<T>,
        method: &str,
        miner: &Holder,
        nonce: &tessera_core::auth::Nonce,
    ) -> Result<(), MinerError> {
        let peer = format!("miner {} at {}", miner.hotkey, miner.axon);
        verify_response(
            resp,
            method,
            &miner.hotkey,
            &self.keypair.account(),
            nonce,
            &peer,
        )
        .map(|_| ())
        .map_err(|e| MinerError::Failed(e.to_string()))
    }

    /// A free slot of `miner` below `n_chunks`, promised to the caller until the reservation
    /// ends: not holding a piece in the index and not promised to another piece in flight. The
    /// index is read once per miner and then followed in memory, so a put costs no query per
    /// piece.
    pub(crate) async fn reserve(
        &self,
        state: &StateDb,
        miner: &Holder,
    ) -> Result<Option<Reservation>, Error> {
        let mut books = self.slots.lock().await;
        let book = books.entry(miner.hotkey).or_default();
        if book.stale {
            book.used = state.used_slots(&miner.hotkey).await?.into_iter().collect();
            book.cursor = 0;
            book.stale = false;
        }
        let n = miner.n_chunks;
        let start = book.cursor.min(n);
        let free = (start..n)
            .chain(0..start)
            .find(|s| !book.used.contains(s) && !book.reserved.contains(s));
        Ok(free.map(|slot| {
            book.reserved.insert(slot);
            book.cursor = slot + 1;
            // Rounds must not take a piece landing here for a lie before it is indexed.
            self.in_motion.reserve(&miner.hotkey, slot);
            Reservation {
                slot,
                miner: miner.hotkey,
                books: self.slots.clone(),
                in_motion: self.in_motion.clone(),
                open: true,
            }
        }))
    }

    /// Makes every miner's book be read from the index again: slots were freed there (by the
    /// reclaim sweep). Promises in flight are kept.
    pub async fn reread_slots(&self) {
        for book in self.slots.lock().await.values_mut() {
            book.stale = true;
        }
    }
}

/// One miner's slots as the gateway sees them.
#[derive(Debug)]
struct Book {
    /// Slots holding a piece in the index, as last read plus those recorded since.
    used: BTreeSet<u64>,
    /// Slots promised to pieces in flight.
    reserved: BTreeSet<u64>,
    /// Where the search for a free slot starts: just past the last one handed out.
    cursor: u64,
    /// `used` must be read from the index before the next reservation.
    stale: bool,
}

impl Default for Book {
    fn default() -> Self {
        Self {
            used: BTreeSet::new(),
            reserved: BTreeSet::new(),
            cursor: 0,
            stale: true,
        }
    }
}

/// The miners that may hold pieces now: in the metagraph with an axon, challenged at least once
/// with a claim for us, not blacklisted, and not suspended.
pub(crate) async fn holders(
    state: &StateDb,
    metagraph: &Metagraph,
    me: &AccountId,
    min_stake: f64,
    chunk_size: u64,
) -> Result<HashMap<AccountId, Holder>, Error> {
    let stats: HashMap<AccountId, tessera_storage::MinerStats> =
        state.all_stats().await?.into_iter().collect();
    let blacklist: HashSet<AccountId> = state
        .blacklist()
        .await?
        .into_iter()
        .map(|(h, _)| h)
        .collect();
    let mut out = HashMap::new();
    for n in &metagraph.neurons {
        if n.hotkey == *me || n.is_validator(min_stake) || blacklist.contains(&n.hotkey) {
            continue;
        }
        let (Some(axon), Some(s)) = (n.axon, stats.get(&n.hotkey)) else {
            continue;
        };
        let reputation = Reputation {
            alpha: s.alpha,
            beta: s.beta,
        }
        .value();
        let n_chunks = s.claimed_bytes / chunk_size.max(1);
        if n_chunks == 0 {
            continue;
        }
        out.insert(
            n.hotkey,
            Holder {
                hotkey: n.hotkey,
                axon,
                reputation,
                n_chunks,
            },
        );
    }
    Ok(out)
}

/// `holders` plus every other miner of the metagraph that serves an axon: the miners a piece
/// can be *read* from. One without recent stats, or no longer trusted with new pieces, may
/// still hold pieces, and reachable is enough to ask it (every piece is checked anyway).
pub(crate) fn sources(
    mut holders: HashMap<AccountId, Holder>,
    metagraph: &Metagraph,
) -> HashMap<AccountId, Holder> {
    for n in &metagraph.neurons {
        if let (Some(axon), false) = (n.axon, holders.contains_key(&n.hotkey)) {
            holders.insert(
                n.hotkey,
                Holder {
                    hotkey: n.hotkey,
                    axon,
                    reputation: 0.0,
                    n_chunks: 0,
                },
            );
        }
    }
    holders
}

/// The reputation below which a miner gets no new pieces and its pieces count as unhealthy.
pub(crate) const MIN_REPUTATION: f64 = SUSPEND_BELOW;
