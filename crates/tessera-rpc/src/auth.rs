//! Signed requests and responses carried in gRPC metadata, and the gate a server puts in front of
//! every method.

use std::str::FromStr;
use std::sync::{Arc, Mutex};

use tessera_core::auth::{self, Freshness, Nonce, ReplayGuard};
use tessera_core::{AccountId, Keypair, Signature};
use tessera_proto::prost::Message;
use tessera_proto::tonic::metadata::{MetadataMap, MetadataValue};
use tessera_proto::tonic::{Code, Request, Response, Status};

use crate::{keys, now_ms};

/// What a caller-side check of a signed response can find wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{peer}: response is not signed")]
    Unsigned { peer: String },
    #[error("{peer}: response signed by {found}, not by {expected}")]
    WrongSigner {
        peer: String,
        found: String,
        expected: String,
    },
    #[error("{peer}: bad response signature: {reason}")]
    BadSignature { peer: String, reason: String },
}

/// A caller whose request passed the gate: who it is and the nonce a signed answer must echo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub hotkey: AccountId,
    pub nonce: Nonce,
}

/// Why the node's own policy turns a correctly signed caller away.
#[derive(Debug, Clone)]
pub enum Refusal {
    /// Not in the metagraph, or without a validator permit or enough stake.
    Unknown(String),
    Blacklisted(String),
}

/// Told the reason of every refusal, as a short label (`unsigned`, `bad_signature`, ...): the
/// node counts them in its metrics.
pub type RefusalObserver = Arc<dyn Fn(&'static str) + Send + Sync>;

/// Checks every incoming request: signed, fresh, not replayed, by a caller the node serves.
pub struct Gate {
    me: AccountId,
    replay: Mutex<ReplayGuard>,
    observer: Option<RefusalObserver>,
    log: Mutex<LogBudget>,
}

/// Refusals logged per second at most: a flood of bad requests must not become a flood of log
/// lines filling the operator's disk. The rest are counted, and the count is logged with the
/// next second's first refusal.
const REFUSALS_LOGGED_PER_SEC: u32 = 20;

#[derive(Debug, Default)]
struct LogBudget {
    second: u64,
    logged: u32,
    suppressed: u64,
}

impl LogBudget {
    /// Whether a refusal at `now_ms` is logged, and how many were left out before it.
    fn take(&mut self, now_ms: u64) -> Option<u64> {
        let second = now_ms / 1000;
        if second != self.second {
            self.second = second;
            self.logged = 0;
        }
        if self.logged >= REFUSALS_LOGGED_PER_SEC {
            self.suppressed += 1;
            return None;
        }
        self.logged += 1;
        Some(std::mem::take(&mut self.suppressed))
    }
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("me", &self.me)
            .finish_non_exhaustive()
    }
}

impl Gate {
    /// A gate for the node `me`, accepting timestamps within `window_ms` of its clock and
    /// remembering at most `nonces_per_caller` nonces per caller.
    pub fn new(me: AccountId, window_ms: u64, nonces_per_caller: usize) -> Self {
        Self {
            me,
            replay: Mutex::new(ReplayGuard::new(window_ms, nonces_per_caller)),
            observer: None,
            log: Mutex::new(LogBudget::default()),
        }
    }

    /// Remembers at most `max` nonces from any one network source (an IPv4 address or an IPv6
    /// /64): where anyone may call, a flood from one place is refused (`RESOURCE_EXHAUSTED`)
    /// while clients elsewhere are still served.
    pub fn with_max_per_source(self, max: usize) -> Self {
        self.map_replay(|r| r.with_max_per_source(max))
    }

    /// The gate with its replay memory rebuilt by `f`, for the builder methods.
    fn map_replay(self, f: impl FnOnce(ReplayGuard) -> ReplayGuard) -> Self {
        let replay = f(self.replay.into_inner().unwrap_or_else(|p| p.into_inner()));
        Self {
            replay: Mutex::new(replay),
            ..self
        }
    }

    /// Logs a refusal unless this second's budget of log lines is spent.
    fn log_refusal(&self, remote: Option<std::net::SocketAddr>, method: &str, status: &Status) {
        let budget = self
            .log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take(now_ms());
        let Some(suppressed) = budget else { return };
        let peer = remote.map_or_else(|| "unknown peer".to_owned(), |a| a.to_string());
        if suppressed > 0 {
            tracing::warn!(%peer, method, code = ?status.code(), reason = status.message(), suppressed, "request refused (and more refusals not logged, over the log's budget)");
        } else {
            tracing::warn!(%peer, method, code = ?status.code(), reason = status.message(), "request refused");
        }
    }

    /// Remembers at most `max` nonces over all callers: where anyone may call, a flood of
    /// fresh callers is refused (`UNAVAILABLE`) rather than growing memory.
    pub fn with_max_nonces(self, max: usize) -> Self {
        self.map_replay(|r| r.with_max_nonces(max))
    }

    /// Reports every refusal's reason to `observer`.
    pub fn with_observer(mut self, observer: RefusalObserver) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The replay memory, to save at shutdown or restore at start (`ReplayGuard::export`,
    /// `import`, `set_not_before`).
    pub fn replay(&self) -> std::sync::MutexGuard<'_, ReplayGuard> {
        // A poisoned lock only means a panic elsewhere; the memory itself is still whole.
        self.replay.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Lets `request` through to `method` or says why not, logging every refusal. The order is
    /// cheap to dear, and nothing is remembered about a caller before its signature verifies, so
    /// strangers cannot fill the nonce memory.
    pub fn check<T: Message>(
        &self,
        request: &Request<T>,
        method: &str,
        policy: impl FnOnce(&AccountId) -> Result<(), Refusal>,
    ) -> Result<Caller, Status> {
        self.check_body(
            request.metadata(),
            request.remote_addr(),
            &request.get_ref().encode_to_vec(),
            method,
            policy,
        )
    }

    /// `check` for a request whose signed body is not the request message itself: a streaming
    /// call signs its first message, which the server reads before calling this.
    pub fn check_body(
        &self,
        md: &MetadataMap,
        remote: Option<std::net::SocketAddr>,
        body: &[u8],
        method: &str,
        policy: impl FnOnce(&AccountId) -> Result<(), Refusal>,
    ) -> Result<Caller, Status> {
        let result = self.check_inner(md, remote, body, method, policy);
        result.map_err(|(label, status)| {
            self.log_refusal(remote, method, &status);
            if let Some(observe) = &self.observer {
                observe(label);
            }
            status
        })
    }

    /// Everything `check_body` checks that needs no body: the signature's headers are there and
    /// well formed, the policy admits the caller, and the timestamp is fresh. A node calls this
    /// before any work proportional to the body (hashing a chunk), so a stranger costs it
    /// nothing; `check_body` still follows, for the signature and the replay memory. Returns
    /// the hotkey the request claims, not yet proven.
    pub fn precheck(
        &self,
        md: &MetadataMap,
        remote: Option<std::net::SocketAddr>,
        method: &str,
        policy: impl FnOnce(&AccountId) -> Result<(), Refusal>,
    ) -> Result<AccountId, Status> {
        self.headers(md, policy)
            .map(|h| h.hotkey)
            .map_err(|(label, status)| {
                self.log_refusal(remote, method, &status);
                if let Some(observe) = &self.observer {
                    observe(label);
                }
                status
            })
    }

    fn check_inner(
        &self,
        md: &MetadataMap,
        remote: Option<std::net::SocketAddr>,
        body: &[u8],
        method: &str,
        policy: impl FnOnce(&AccountId) -> Result<(), Refusal>,
    ) -> Result<Caller, (&'static str, Status)> {
        let Headers {
            hotkey,
            nonce,
            timestamp,
            signature,
            now,
        } = self.headers(md, policy)?;
        let unauth =
            |label: &'static str, m: String| (label, Status::new(Code::Unauthenticated, m));
        let digest = auth::body_digest(body);
        let message = auth::request_message(method, &self.me, &nonce, timestamp, &digest);
        hotkey
            .verify(&message, &Signature(signature))
            .map_err(|_| {
                unauth(
                    "bad_signature",
                    format!("bad signature from {hotkey} for {method}"),
                )
            })?;
        self.replay()
            .admit_from(&hotkey, &nonce, timestamp, now, remote.map(|a| a.ip()))
            .map_err(freshness_status)?;
        Ok(Caller { hotkey, nonce })
    }

    /// The signature's headers, parsed, once the policy admits the caller and the timestamp is
    /// fresh.
    fn headers(
        &self,
        md: &MetadataMap,
        policy: impl FnOnce(&AccountId) -> Result<(), Refusal>,
    ) -> Result<Headers, (&'static str, Status)> {
        let unauth =
            |label: &'static str, m: String| (label, Status::new(Code::Unauthenticated, m));
        let hotkey = text(md, keys::HOTKEY)
            .ok_or_else(|| unauth("unsigned", "request is not signed".into()))?;
        let hotkey = AccountId::from_str(hotkey)
            .map_err(|e| unauth("malformed", format!("{}: {e}", keys::HOTKEY)))?;
        let nonce: Nonce = hex_field(md, keys::NONCE).map_err(|s| ("malformed", s))?;
        let timestamp: u64 = text(md, keys::TIMESTAMP)
            .ok_or_else(|| unauth("malformed", format!("missing {}", keys::TIMESTAMP)))?
            .parse()
            .map_err(|_| {
                unauth(
                    "malformed",
                    format!("{} is not a number of milliseconds", keys::TIMESTAMP),
                )
            })?;
        let signature: [u8; 64] = hex_field(md, keys::SIGNATURE).map_err(|s| ("malformed", s))?;

        policy(&hotkey).map_err(|r| match r {
            Refusal::Unknown(why) => (
                "unknown",
                Status::permission_denied(format!("hotkey {hotkey} is not served: {why}")),
            ),
            Refusal::Blacklisted(why) => (
                "blacklisted",
                Status::permission_denied(format!("hotkey {hotkey} is blacklisted: {why}")),
            ),
        })?;
        let now = now_ms();
        self.replay()
            .check_time(timestamp, now)
            .map_err(freshness_status)?;
        Ok(Headers {
            hotkey,
            nonce,
            timestamp,
            signature,
            now,
        })
    }
}

/// A request's signature headers, parsed.
struct Headers {
    hotkey: AccountId,
    nonce: Nonce,
    timestamp: u64,
    signature: [u8; 64],
    now: u64,
}

fn freshness_status(f: Freshness) -> (&'static str, Status) {
    match f {
        Freshness::OutsideWindow { skew_ms, window_ms } => (
            "stale",
            Status::unauthenticated(format!(
                "timestamp is {skew_ms} ms from the server's clock, outside the ±{window_ms} ms window"
            )),
        ),
        Freshness::BeforeRestart { started_ms } => (
            "stale",
            Status::unauthenticated(format!(
                "timestamp precedes the node's restart at {started_ms} ms; sign a new request"
            )),
        ),
        Freshness::Replayed => (
            "replayed",
            Status::already_exists("nonce already used: replayed request"),
        ),
        Freshness::Full { limit } => (
            "busy",
            Status::unavailable(format!(
                "the node is holding {limit} recent requests, its most; try again shortly"
            )),
        ),
        Freshness::SourceFull { limit } => (
            "flood",
            Status::resource_exhausted(format!(
                "{limit} recent requests from your network, its most; try again shortly"
            )),
        ),
        Freshness::TooMany { limit } => (
            "too_many",
            Status::resource_exhausted(format!(
                "more than {limit} requests within the timestamp window"
            )),
        ),
    }
}

fn text<'a>(md: &'a MetadataMap, key: &str) -> Option<&'a str> {
    md.get(key).and_then(|v| v.to_str().ok())
}

fn hex_field<const N: usize>(md: &MetadataMap, key: &str) -> Result<[u8; N], Status> {
    let value = text(md, key).ok_or_else(|| Status::unauthenticated(format!("missing {key}")))?;
    let mut out = [0u8; N];
    hex::decode_to_slice(value, &mut out)
        .map_err(|_| Status::unauthenticated(format!("{key} is not {N} bytes of hex")))?;
    Ok(out)
}

fn put(md: &mut MetadataMap, key: &'static str, value: String) {
    // Hex, decimal and SS58 are always valid ASCII metadata.
    if let Ok(v) = MetadataValue::try_from(value) {
        md.insert(key, v);
    }
}

/// Signs `request` for `method` on `receiver` with a fresh nonce and the current time; returns
/// the nonce, which the signed answer must echo.
pub fn sign_request<T: Message>(
    request: &mut Request<T>,
    keypair: &Keypair,
    receiver: &AccountId,
    method: &str,
) -> Nonce {
    let body = request.get_ref().encode_to_vec();
    sign_metadata(request.metadata_mut(), &body, keypair, receiver, method)
}

/// Signs a request whose signed body is `body` rather than the request message: the first
/// message of a client stream. Returns the nonce.
pub fn sign_metadata(
    md: &mut MetadataMap,
    body: &[u8],
    keypair: &Keypair,
    receiver: &AccountId,
    method: &str,
) -> Nonce {
    let nonce: Nonce = rand::random();
    let timestamp = now_ms();
    let message = auth::request_message(
        method,
        receiver,
        &nonce,
        timestamp,
        &auth::body_digest(body),
    );
    let signature = keypair.sign(&message);
    put(md, keys::HOTKEY, keypair.account().to_ss58());
    put(md, keys::NONCE, hex::encode(nonce));
    put(md, keys::TIMESTAMP, timestamp.to_string());
    put(md, keys::SIGNATURE, hex::encode(signature.0));
    nonce
}

/// A signed request for `body`, and its nonce.
pub fn signed<T: Message>(
    body: T,
    keypair: &Keypair,
    receiver: &AccountId,
    method: &str,
) -> (Request<T>, Nonce) {
    let mut request = Request::new(body);
    let nonce = sign_request(&mut request, keypair, receiver, method);
    (request, nonce)
}

/// Signs `response` to `caller`'s request on `method`.
pub fn sign_response<T: Message>(
    response: &mut Response<T>,
    keypair: &Keypair,
    caller: &Caller,
    method: &str,
) {
    let body = response.get_ref().encode_to_vec();
    sign_response_body(response.metadata_mut(), &body, keypair, caller, method);
}

/// Signs an answer whose signed body is `body` rather than the message itself: for a message
/// carrying a chunk, its `chunk_signed` form.
pub fn sign_response_body(
    md: &mut MetadataMap,
    body: &[u8],
    keypair: &Keypair,
    caller: &Caller,
    method: &str,
) {
    let message = auth::response_message(
        method,
        &caller.hotkey,
        &caller.nonce,
        &auth::body_digest(body),
    );
    let signature = keypair.sign(&message);
    put(md, keys::HOTKEY, keypair.account().to_ss58());
    put(md, keys::SIGNATURE, hex::encode(signature.0));
}

/// Checks that `response` is signed by `responder` for the request `me` sent with `nonce`, and
/// returns the signature, which holds the responder to what it answered.
pub fn verify_response<T: Message>(
    response: &Response<T>,
    method: &str,
    responder: &AccountId,
    me: &AccountId,
    nonce: &Nonce,
    peer: &str,
) -> Result<Signature, Error> {
    let body = response.get_ref().encode_to_vec();
    verify_response_body(
        response.metadata(),
        &body,
        method,
        responder,
        me,
        nonce,
        peer,
    )
}

/// `verify_response` for an answer whose signed body is `body` rather than the message itself.
pub fn verify_response_body(
    md: &MetadataMap,
    body: &[u8],
    method: &str,
    responder: &AccountId,
    me: &AccountId,
    nonce: &Nonce,
    peer: &str,
) -> Result<Signature, Error> {
    let unsigned = || Error::Unsigned {
        peer: peer.to_owned(),
    };
    let found = text(md, keys::HOTKEY).ok_or_else(unsigned)?;
    if found != responder.to_ss58() {
        return Err(Error::WrongSigner {
            peer: peer.to_owned(),
            found: found.to_owned(),
            expected: responder.to_ss58(),
        });
    }
    let mut signature = [0u8; 64];
    hex::decode_to_slice(
        text(md, keys::SIGNATURE).ok_or_else(unsigned)?,
        &mut signature,
    )
    .map_err(|_| Error::BadSignature {
        peer: peer.to_owned(),
        reason: format!("{} is not 64 bytes of hex", keys::SIGNATURE),
    })?;
    let message = auth::response_message(method, me, nonce, &auth::body_digest(body));
    responder
        .verify(&message, &Signature(signature))
        .map_err(|e| Error::BadSignature {
            peer: peer.to_owned(),
            reason: e.to_string(),
        })?;
    Ok(Signature(signature))
}

/// The signed form of a message that carries a chunk (`StoreRequest`, `RetrieveResponse`): its
/// encoding with the chunk's bytes replaced by their 32-byte Merkle root. Both ends compute that
/// root anyway, so signing and checking cost no extra pass over the chunk, and the signature
/// still binds the bytes, since the root commits to every one of them.
pub mod chunk_signed {
    use tessera_proto::miner::v1::{RetrieveResponse, StoreRequest};
    use tessera_proto::prost::Message;

    pub fn store(slot: u64, root: &[u8; 32]) -> Vec<u8> {
        StoreRequest {
            slot,
            data: root.to_vec().into(),
        }
        .encode_to_vec()
    }

    pub fn retrieve(root: &[u8; 32]) -> Vec<u8> {
        RetrieveResponse {
            data: root.to_vec().into(),
        }
        .encode_to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_proto::miner::v1::{ChallengeItem, ChallengeRequest, methods};

    /// The golden vector of docs/protocol.md, computed independently with Python's hashlib: a
    /// client in another language must produce these bytes.
    #[test]
    fn signed_bytes_match_the_documented_vector() {
        let body = ChallengeRequest {
            items: vec![ChallengeItem {
                chunk_id: 7,
                segment: 17,
            }],
        };
        let encoded = body.encode_to_vec();
        assert_eq!(hex::encode(&encoded), "0a0408071011");
        let bob = Keypair::from_uri("//Bob").unwrap().account();
        let nonce: Nonce = core::array::from_fn(|i| i as u8);
        let message = auth::request_message(
            methods::CHALLENGE,
            &bob,
            &nonce,
            1_700_000_000_000,
            &auth::body_digest(&encoded),
        );
        assert_eq!(
            hex::encode(message),
            "12000000746573736572612f726571756573742f7631210000002f746573736572612e6d696e6572\
             2e76312e4d696e65722f4368616c6c656e67658eaf04151687736326c9fea17e25fc5287613693c9\
             12909cb226aa4794f26a48000102030405060708090a0b0c0d0e0f0068e5cf8b0100006595ab7c09\
             8dedeb808c38725a2a1c4d95f889013cba6ddaa71cd93a2057969e"
        );
        let alice = Keypair::from_uri("//Alice").unwrap().account();
        let response =
            auth::response_message(methods::CHALLENGE, &alice, &nonce, &auth::body_digest(&[]));
        assert_eq!(
            hex::encode(response),
            "13000000746573736572612f726573706f6e73652f7631210000002f746573736572612e6d696e65\
             722e76312e4d696e65722f4368616c6c656e6765d43593c715fdd31c61141abd04a99fd6822c8558\
             854ccde39a5684e7a56da27d000102030405060708090a0b0c0d0e0fe3b0c44298fc1c149afbf4c8\
             996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn signed_requests_and_responses_round_trip() {
        let alice = Keypair::from_uri("//Alice").unwrap();
        let dave = Keypair::from_uri("//Dave").unwrap();
        let body = ChallengeRequest::default();
        let (request, nonce) = signed(body.clone(), &alice, &dave.account(), methods::CHALLENGE);
        let gate = Gate::new(dave.account(), 1000, 10);
        let caller = gate
            .check(&request, methods::CHALLENGE, |_| Ok(()))
            .expect("admitted");
        assert_eq!(
            caller,
            Caller {
                hotkey: alice.account(),
                nonce
            }
        );
        // The same request again is a replay.
        let again = gate
            .check(&request, methods::CHALLENGE, |_| Ok(()))
            .unwrap_err();
        assert_eq!(again.code(), Code::AlreadyExists);

        let mut response = Response::new(body);
        sign_response(&mut response, &dave, &caller, methods::CHALLENGE);
        verify_response(
            &response,
            methods::CHALLENGE,
            &dave.account(),
            &alice.account(),
            &nonce,
            "dave",
        )
        .expect("verifies");
        // Another nonce, another signer or another method fails.
        assert!(
            verify_response(
                &response,
                methods::CHALLENGE,
                &dave.account(),
                &alice.account(),
                &[0; 16],
                "dave"
            )
            .is_err()
        );
        assert!(
            verify_response(
                &response,
                methods::INFO,
                &dave.account(),
                &alice.account(),
                &nonce,
                "dave"
            )
            .is_err()
        );
        assert!(matches!(
            verify_response(
                &response,
                methods::CHALLENGE,
                &alice.account(),
                &alice.account(),
                &nonce,
                "dave"
            ),
            Err(Error::WrongSigner { .. })
        ));
    }
}
