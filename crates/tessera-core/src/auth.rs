//! The bytes a node signs to authenticate a request or a response, and the bounded memory of
//! nonces that rejects replays.
//!
//! The transport carries the fields (see docs/protocol.md); this module fixes what is signed, so
//! that every implementation, in any language, signs the same bytes. Every variable-length field
//! is length-prefixed, so no two different field tuples give the same message.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;

use sha2::{Digest, Sha256};

use crate::AccountId;

/// The domain tag of a signed request: a signature over a request can never pass for one over a
/// response, or over anything else a hotkey signs.
pub const REQUEST_TAG: &[u8] = b"tessera/request/v1";

/// The domain tag of a signed response.
pub const RESPONSE_TAG: &[u8] = b"tessera/response/v1";

/// A request nonce: 16 random bytes chosen by the caller.
pub type Nonce = [u8; 16];

/// SHA-256 of a message body, as encoded on the wire.
pub fn body_digest(body: &[u8]) -> [u8; 32] {
    Sha256::digest(body).into()
}

/// What the caller signs: the method's full path (`/tessera.miner.v1.Miner/Challenge`), the
/// receiver's hotkey, the nonce, the timestamp (Unix milliseconds) and the digest of the body.
/// Binding the receiver stops a request signed for one miner from being replayed to another.
pub fn request_message(
    method: &str,
    receiver: &AccountId,
    nonce: &Nonce,
    timestamp_ms: u64,
    digest: &[u8; 32],
) -> Vec<u8> {
    let mut m = Vec::with_capacity(REQUEST_TAG.len() + method.len() + 100);
    put_bytes(&mut m, REQUEST_TAG);
    put_bytes(&mut m, method.as_bytes());
    m.extend_from_slice(receiver.as_bytes());
    m.extend_from_slice(nonce);
    m.extend_from_slice(&timestamp_ms.to_le_bytes());
    m.extend_from_slice(digest);
    m
}

/// What the responder signs: the method, the caller's hotkey, the caller's nonce and the digest
/// of the response body. The nonce ties the answer to the one request it answers, so a caller
/// can hold the responder to it and nobody can replay an old answer as a new one.
pub fn response_message(
    method: &str,
    caller: &AccountId,
    nonce: &Nonce,
    digest: &[u8; 32],
) -> Vec<u8> {
    let mut m = Vec::with_capacity(RESPONSE_TAG.len() + method.len() + 90);
    put_bytes(&mut m, RESPONSE_TAG);
    put_bytes(&mut m, method.as_bytes());
    m.extend_from_slice(caller.as_bytes());
    m.extend_from_slice(nonce);
    m.extend_from_slice(digest);
    m
}

fn put_bytes(m: &mut Vec<u8>, bytes: &[u8]) {
    m.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    m.extend_from_slice(bytes);
}

/// Why a request's freshness was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Freshness {
    /// The timestamp is further than the window from the receiver's clock, in milliseconds
    /// (negative: in the past).
    OutsideWindow { skew_ms: i64, window_ms: u64 },
    /// The nonce was already seen from this caller within the window.
    Replayed,
    /// The caller has more requests in flight within the window than the memory allows.
    TooMany { limit: usize },
    /// The timestamp is older than the node's start after an unclean stop, when the nonces seen
    /// before it are unknown: only fresh requests can be told apart from replays.
    BeforeRestart { started_ms: u64 },
    /// The memory holds as many nonces as it may, over all callers: a flood of fresh callers
    /// is refused until their nonces leave the window, rather than growing memory.
    Full { limit: usize },
    /// The caller's network source (an IPv4 address, or an IPv6 /64) holds as many nonces as
    /// one source may: a flood from one place cannot take the memory other clients need.
    SourceFull { limit: usize },
}

/// Nonces held at most over all callers, unless set otherwise: some hundreds of bytes each.
pub const DEFAULT_MAX_NONCES: usize = 1 << 20;

/// The nonces seen per caller within the timestamp window.
///
/// Memory is bounded twice: a nonce is forgotten once its timestamp leaves the window (a replay
/// of it would be refused for its timestamp anyway), and each caller keeps at most `per_caller`
/// nonces, past which its requests are refused rather than old nonces forgotten early, which
/// would reopen the door to replays. Callers are only recorded after their signature and
/// permission are checked; where anyone may call (the gateway), a cap over all callers bounds
/// the memory too, and a sweep forgets idle callers once a window.
#[derive(Debug)]
pub struct ReplayGuard {
    window_ms: u64,
    per_caller: usize,
    max_total: usize,
    max_per_source: usize,
    total: usize,
    last_sweep_ms: u64,
    not_before_ms: u64,
    callers: HashMap<AccountId, Seen>,
    /// Nonces held per network source, for the callers whose source is known.
    by_source: HashMap<IpAddr, usize>,
}

#[derive(Debug, Default)]
struct Seen {
    order: VecDeque<(u64, Nonce)>,
    set: HashSet<Nonce>,
    /// Where the caller's first held nonce came from: its nonces count against that source.
    source: Option<IpAddr>,
}

/// The unit a flood is counted in: an IPv4 address, or the /64 an IPv6 host is given (one host
/// has all of its addresses, so counting them one by one would bound nothing).
pub fn source_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(prefix.into())
            }
        },
    }
}

/// Takes `n` nonces off `source`'s count, forgetting the source at zero.
fn release_source(by_source: &mut HashMap<IpAddr, usize>, source: Option<IpAddr>, n: usize) {
    let Some(src) = source else { return };
    if n == 0 {
        return;
    }
    if let Some(count) = by_source.get_mut(&src) {
        *count = count.saturating_sub(n);
        if *count == 0 {
            by_source.remove(&src);
        }
    }
}

impl Seen {
    /// Forgets the nonces that arrived before `horizon`; returns how many.
    fn expire(&mut self, horizon: u64) -> usize {
        let mut gone = 0;
        while let Some(&(at, old)) = self.order.front() {
            if at >= horizon {
                break;
            }
            self.order.pop_front();
            self.set.remove(&old);
            gone += 1;
        }
        gone
    }
}

impl ReplayGuard {
    pub fn new(window_ms: u64, per_caller: usize) -> Self {
        Self {
            window_ms,
            per_caller: per_caller.max(1),
            max_total: DEFAULT_MAX_NONCES,
            max_per_source: usize::MAX,
            total: 0,
            last_sweep_ms: 0,
            not_before_ms: 0,
            callers: HashMap::new(),
            by_source: HashMap::new(),
        }
    }

    /// Holds at most `max` nonces from any one network source (see `source_of`), for the
    /// requests admitted with one (`admit_from`).
    pub fn with_max_per_source(mut self, max: usize) -> Self {
        self.max_per_source = max.max(1);
        self
    }

    /// The network sources with a nonce held.
    pub fn sources(&self) -> usize {
        self.by_source.len()
    }

    /// Holds at most `max` nonces over all callers.
    pub fn with_max_nonces(mut self, max: usize) -> Self {
        self.max_total = max.max(1);
        self
    }

    /// The callers with a nonce held.
    pub fn callers(&self) -> usize {
        self.callers.len()
    }

    /// Forgets every nonce that has left the window, and every caller left with none.
    fn sweep(&mut self, now_ms: u64) {
        let horizon = now_ms.saturating_sub(2 * self.window_ms);
        let mut total = 0;
        let by_source = &mut self.by_source;
        self.callers.retain(|_, seen| {
            let gone = seen.expire(horizon);
            release_source(by_source, seen.source, gone);
            total += seen.order.len();
            !seen.order.is_empty()
        });
        self.total = total;
        self.last_sweep_ms = now_ms;
    }

    /// Refuses timestamps before `ms`: after a restart that lost the nonce memory, a replay of a
    /// request signed before the restart is then refused for its age.
    pub fn set_not_before(&mut self, ms: u64) {
        self.not_before_ms = ms;
    }

    /// Every nonce held, as (caller, nonce, when it arrived), to be saved across a restart.
    pub fn export(&self) -> Vec<(AccountId, Nonce, u64)> {
        let mut out = Vec::with_capacity(self.len());
        for (caller, seen) in &self.callers {
            out.extend(seen.order.iter().map(|(at, n)| (*caller, *n, *at)));
        }
        out
    }

    /// Takes back nonces saved by `export`, oldest first, so that a restart forgets nothing.
    pub fn import(&mut self, mut entries: Vec<(AccountId, Nonce, u64)>) {
        entries.sort_by_key(|(_, _, at)| *at);
        for (caller, nonce, at) in entries {
            if self.total >= self.max_total {
                break;
            }
            let seen = self.callers.entry(caller).or_default();
            if seen.set.insert(nonce) {
                seen.order.push_back((at, nonce));
                self.total += 1;
            }
        }
    }

    /// Checks that `timestamp_ms` lies within the window around `now_ms`, without recording.
    pub fn check_time(&self, timestamp_ms: u64, now_ms: u64) -> Result<(), Freshness> {
        let skew = timestamp_ms as i128 - now_ms as i128;
        if skew.unsigned_abs() > u128::from(self.window_ms) {
            return Err(Freshness::OutsideWindow {
                skew_ms: skew.clamp(i64::MIN as i128, i64::MAX as i128) as i64,
                window_ms: self.window_ms,
            });
        }
        if timestamp_ms < self.not_before_ms {
            return Err(Freshness::BeforeRestart {
                started_ms: self.not_before_ms,
            });
        }
        Ok(())
    }

    /// Checks the timestamp and records the nonce; a nonce seen before from `caller` within the
    /// window is refused.
    pub fn admit(
        &mut self,
        caller: &AccountId,
        nonce: &Nonce,
        timestamp_ms: u64,
        now_ms: u64,
    ) -> Result<(), Freshness> {
        self.admit_from(caller, nonce, timestamp_ms, now_ms, None)
    }

    /// `admit` for a request that came from `ip`: a new caller is also refused once its source
    /// holds its share of the memory.
    pub fn admit_from(
        &mut self,
        caller: &AccountId,
        nonce: &Nonce,
        timestamp_ms: u64,
        now_ms: u64,
        ip: Option<IpAddr>,
    ) -> Result<(), Freshness> {
        self.check_time(timestamp_ms, now_ms)?;
        // Idle callers go once a window; when full, as often as once a second, so that a
        // flood costs a pass over the memory at most that often.
        let due = now_ms >= self.last_sweep_ms.saturating_add(self.window_ms)
            || (self.total >= self.max_total && now_ms >= self.last_sweep_ms.saturating_add(1000));
        if due {
            self.sweep(now_ms);
        }
        // Timestamps are unordered across requests, so expiry is by the order of arrival: a
        // nonce leaves once it is older than twice the window, which covers any timestamp that
        // could still pass the window check.
        let horizon = now_ms.saturating_sub(2 * self.window_ms);
        if let Some(seen) = self.callers.get_mut(caller) {
            let gone = seen.expire(horizon);
            self.total -= gone;
            release_source(&mut self.by_source, seen.source, gone);
            if seen.set.contains(nonce) {
                return Err(Freshness::Replayed);
            }
            if seen.order.len() >= self.per_caller {
                return Err(Freshness::TooMany {
                    limit: self.per_caller,
                });
            }
        }
        // A known caller's nonces count where its first one came from: a client that moves
        // between networks is not counted twice.
        let source = match self.callers.get(caller) {
            Some(seen) if !seen.order.is_empty() => seen.source,
            _ => ip.map(source_of),
        };
        if let Some(src) = source
            && self.by_source.get(&src).copied().unwrap_or(0) >= self.max_per_source
        {
            return Err(Freshness::SourceFull {
                limit: self.max_per_source,
            });
        }
        if self.total >= self.max_total {
            return Err(Freshness::Full {
                limit: self.max_total,
            });
        }
        let seen = self.callers.entry(*caller).or_default();
        if seen.order.is_empty() {
            seen.source = source;
        }
        seen.order.push_back((now_ms, *nonce));
        seen.set.insert(*nonce);
        self.total += 1;
        if let Some(src) = source {
            *self.by_source.entry(src).or_default() += 1;
        }
        Ok(())
    }

    /// The number of nonces held, over all callers.
    pub fn len(&self) -> usize {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(b: u8) -> AccountId {
        AccountId([b; 32])
    }

    #[test]
    fn a_flood_of_fresh_callers_stays_bounded_and_real_callers_come_back() {
        let window = 1000;
        let mut g = ReplayGuard::new(window, 10).with_max_nonces(50_000);
        let real = account(1);
        assert_eq!(g.admit(&real, &[0; 16], 10_000, 10_000), Ok(()));
        // 100 000 fresh callers within one window: the memory stops at the cap.
        let mut refused = 0;
        for i in 0..100_000u32 {
            let mut key = [0u8; 32];
            key[..4].copy_from_slice(&i.to_le_bytes());
            key[31] = 0xff;
            let now = 10_000 + u64::from(i) / 1000;
            match g.admit(&AccountId(key), &[1; 16], now, now) {
                Ok(()) => {}
                Err(Freshness::Full { limit: 50_000 }) => refused += 1,
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!(g.len(), 50_000);
        assert!(g.callers() <= 50_001);
        assert_eq!(refused, 50_001, "the real caller holds one of the places");
        // Once the flood's nonces leave the window, they are swept: a real caller is served,
        // and its earlier nonce is still a replay while it could pass the window.
        let later = 10_100 + 2 * window + 1;
        assert_eq!(
            g.admit(&real, &[0; 16], later, later),
            Ok(()),
            "its old nonce arrived before the horizon and its timestamp could not pass now"
        );
        assert!(g.len() <= 2, "{} held after the sweep", g.len());
        assert!(g.callers() <= 2);
        assert_eq!(
            g.admit(&real, &[0; 16], later, later + 1),
            Err(Freshness::Replayed)
        );
    }

    #[test]
    fn a_flood_from_one_source_leaves_room_for_the_others() {
        let window = 1000;
        let mut g = ReplayGuard::new(window, 10)
            .with_max_nonces(50_000)
            .with_max_per_source(10_000);
        let flood: IpAddr = "192.0.2.7".parse().unwrap();
        let mut refused = 0;
        for i in 0..30_000u32 {
            let mut key = [0u8; 32];
            key[..4].copy_from_slice(&i.to_le_bytes());
            key[31] = 0xee;
            match g.admit_from(&AccountId(key), &[1; 16], 10_000, 10_000, Some(flood)) {
                Ok(()) => {}
                Err(Freshness::SourceFull { limit: 10_000 }) => refused += 1,
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!((g.len(), refused, g.sources()), (10_000, 20_000, 1));
        // Every address of one IPv6 /64 is one source; another /64 is another.
        let v6 = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        for i in 0..20_000u32 {
            let mut key = [0u8; 32];
            key[..4].copy_from_slice(&i.to_le_bytes());
            key[31] = 0xdd;
            let ip = v6(&format!("2001:db8:0:1::{:x}", i % 0xffff + 1));
            let _ = g.admit_from(&AccountId(key), &[1; 16], 10_000, 10_000, ip);
        }
        assert_eq!((g.len(), g.sources()), (20_000, 2));
        // A client elsewhere is served, and a caller known before the flood keeps its source.
        assert_eq!(
            g.admit_from(&account(1), &[1; 16], 10_000, 10_000, v6("2001:db8:0:2::1")),
            Ok(())
        );
        assert_eq!(
            g.admit_from(&account(1), &[2; 16], 10_000, 10_001, Some(flood)),
            Ok(())
        );
        assert_eq!(g.sources(), 3);
        // Once the flood has left the window, its sources are forgotten too.
        let later = 10_001 + 2 * window + 1;
        assert_eq!(
            g.admit_from(&account(2), &[1; 16], later, later, Some(flood)),
            Ok(())
        );
        assert_eq!((g.len(), g.sources()), (1, 1));
    }

    #[test]
    fn replays_are_refused_and_memory_expires() {
        let mut g = ReplayGuard::new(1000, 3);
        let a = account(1);
        assert_eq!(g.admit(&a, &[1; 16], 10_000, 10_000), Ok(()));
        assert_eq!(
            g.admit(&a, &[1; 16], 10_000, 10_001),
            Err(Freshness::Replayed)
        );
        // Another caller may use the same nonce.
        assert_eq!(g.admit(&account(2), &[1; 16], 10_000, 10_001), Ok(()));
        assert_eq!(g.admit(&a, &[2; 16], 10_000, 10_002), Ok(()));
        assert_eq!(g.admit(&a, &[3; 16], 10_000, 10_003), Ok(()));
        assert_eq!(
            g.admit(&a, &[4; 16], 10_000, 10_004),
            Err(Freshness::TooMany { limit: 3 })
        );
        // Past twice the window the old nonces are forgotten, and the old timestamp no longer
        // passes, so forgetting reopens nothing.
        assert!(matches!(
            g.admit(&a, &[1; 16], 10_000, 12_500),
            Err(Freshness::OutsideWindow { .. })
        ));
        assert_eq!(g.admit(&a, &[5; 16], 12_500, 12_500), Ok(()));
        // The other caller's nonce left the window too, and the sweep forgot it.
        assert_eq!(g.len(), 1);
        assert_eq!(g.callers(), 1);
    }

    #[test]
    fn memory_survives_export_and_import() {
        let mut g = ReplayGuard::new(1000, 3);
        let a = account(1);
        g.admit(&a, &[1; 16], 10_000, 10_000).unwrap();
        let mut restarted = ReplayGuard::new(1000, 3);
        restarted.import(g.export());
        assert_eq!(
            restarted.admit(&a, &[1; 16], 10_000, 10_100),
            Err(Freshness::Replayed)
        );
        // Without the saved memory, only requests newer than the restart pass.
        let mut amnesiac = ReplayGuard::new(1000, 3);
        amnesiac.set_not_before(10_050);
        assert_eq!(
            amnesiac.admit(&a, &[1; 16], 10_000, 10_100),
            Err(Freshness::BeforeRestart { started_ms: 10_050 })
        );
        assert_eq!(amnesiac.admit(&a, &[2; 16], 10_060, 10_100), Ok(()));
    }

    #[test]
    fn window_is_symmetric() {
        let g = ReplayGuard::new(1000, 3);
        assert!(g.check_time(5000, 6000).is_ok());
        assert!(g.check_time(7000, 6000).is_ok());
        assert_eq!(
            g.check_time(4999, 6000),
            Err(Freshness::OutsideWindow {
                skew_ms: -1001,
                window_ms: 1000
            })
        );
        assert!(g.check_time(7001, 6000).is_err());
        assert!(g.check_time(u64::MAX, 0).is_err());
    }

    #[test]
    fn messages_bind_every_field() {
        let (r, n, d) = (account(7), [9u8; 16], [3u8; 32]);
        let base = request_message("/a/B", &r, &n, 5, &d);
        assert_ne!(base, request_message("/a/C", &r, &n, 5, &d));
        assert_ne!(base, request_message("/a/B", &account(8), &n, 5, &d));
        assert_ne!(base, request_message("/a/B", &r, &[8; 16], 5, &d));
        assert_ne!(base, request_message("/a/B", &r, &n, 6, &d));
        assert_ne!(base, request_message("/a/B", &r, &n, 5, &[4; 32]));
        assert_ne!(base, response_message("/a/B", &r, &n, &d));
    }
}
