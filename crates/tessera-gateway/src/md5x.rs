//! MD5 of several request bodies at once, for the ETags S3 clients check: one body's MD5 is a
//! single chain of dependent steps that leaves most of a core idle, while the few plaintext puts
//! sealing at once (`PLAIN_PUTS`, four) each need one. Lanes of AVX-512 vectors run their chains
//! side by side, so their MD5 costs about what one body's does alone. There are eight lanes, twice
//! the turns, so that a body whose put was just cancelled and not yet dropped holds no new body
//! out of the lanes.
//!
//! Hashing runs under the pool's lock, on the task of the body that asked: the bodies waiting
//! for the lock meanwhile would otherwise spend that time hashing their own bytes one by one. A
//! body that asks when no other has bytes to share the round keeps gathering, up to [`ALONE`].
//!
//! Our own code because no maintained crate hashes independent streams in lanes; `md5x::tests`
//! check it against the `md-5` crate, which is also the fallback on CPUs without AVX-512.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use md5::{Digest as _, Md5};

/// Bodies hashed side by side: the 32-bit lanes of one 256-bit vector.
const LANES: usize = 8;

/// Bytes a body gathers before it asks for a round: enough that the bodies arriving at once all
/// have some waiting when one of them asks, little enough that eight lanes hold a few MiB.
const GATHER: usize = 1 << 20;

/// A body with at least this much waiting joins a round another body asked for.
const JOIN: usize = GATHER / 4;

/// Bytes a body lets wait for company: at this many it is hashed (to at most [`GATHER`] left)
/// whether or not another body joins. Until then a body that asks and finds no other with
/// [`JOIN`] bytes waiting keeps its bytes, because a round costs the same with one lane as with
/// eight. Counted over `bench-s3`'s uploads (aws-cli's parts, four sealing at once, about 2.3 of
/// them being read at any moment), a round held 1.31 bodies on average when it ran as soon as one
/// body had [`GATHER`] bytes, and 1.59 with this wait: a sixth fewer rounds for the same bytes.
const ALONE: usize = 2 * GATHER;

/// MD5's per-step constants, `floor(|sin(i + 1)| × 2³²)` (RFC 1321, section 3.4).
const K: [u32; 64] = [
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
];

/// MD5's initial state (RFC 1321, section 3.3).
const INIT: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

/// The gateway's MD5 lanes, shared by every body being hashed.
#[derive(Clone)]
pub(crate) struct Md5Lanes {
    /// `None` where the CPU has no AVX-512 (each body then gets its own `md-5` hasher).
    pool: Option<Arc<Mutex<Pool>>>,
}

/// The lanes and what waits in them.
#[derive(Default)]
struct Pool {
    lanes: [Option<Lane>; LANES],
    /// Hash one lane at a time without vectors: for the tests, so that the lanes' bookkeeping is
    /// checked on CPUs without AVX-512 too.
    scalar: bool,
}

/// One body's lane: its MD5 state and the bytes not yet hashed.
struct Lane {
    state: [u32; 4],
    /// Bytes waiting, from `start`; the ones before were hashed.
    pending: Vec<u8>,
    start: usize,
    /// Bytes taken in all, for the padding.
    len: u64,
}

impl Lane {
    fn waiting(&self) -> usize {
        self.pending.len() - self.start
    }
}

/// One body's MD5 being taken.
pub(crate) struct BodyMd5(Hasher);

enum Hasher {
    Own(Md5),
    Lane { pool: Arc<Mutex<Pool>>, lane: usize },
    Done,
}

impl Md5Lanes {
    pub(crate) fn new() -> Self {
        Self {
            pool: kernel::available().then(|| Arc::new(Mutex::new(Pool::default()))),
        }
    }

    /// A hasher for one body: a free lane, or its own where none is free.
    pub(crate) fn hasher(&self) -> BodyMd5 {
        if let Some(pool) = &self.pool {
            let mut p = lock(pool);
            if let Some(lane) = p.lanes.iter().position(Option::is_none) {
                p.lanes[lane] = Some(Lane {
                    state: INIT,
                    // Room for what waits between rounds (up to ALONE and a frame, after at most
                    // GATHER / 2 hashed bytes), so the buffer seldom regrows.
                    pending: Vec::with_capacity(ALONE + GATHER),
                    start: 0,
                    len: 0,
                });
                return BodyMd5(Hasher::Lane {
                    pool: pool.clone(),
                    lane,
                });
            }
        }
        BodyMd5(Hasher::Own(Md5::new()))
    }
}

/// The pool, even if a holder panicked: no step changes it part-way and then panics, so what a
/// panicking holder leaves is whole.
fn lock(pool: &Mutex<Pool>) -> MutexGuard<'_, Pool> {
    pool.lock().unwrap_or_else(PoisonError::into_inner)
}

impl BodyMd5 {
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        match &mut self.0 {
            Hasher::Own(h) => h.update(bytes),
            Hasher::Lane { pool, lane } => {
                let mut p = lock(pool);
                // Only this body frees its lane (on finalize or drop), so it is still there.
                let l = p.lanes[*lane].as_mut().expect("a body's lane is its own");
                l.pending.extend_from_slice(bytes);
                l.len += bytes.len() as u64;
                let waiting = l.waiting();
                if waiting >= ALONE {
                    p.hash(*lane, GATHER, true);
                } else if waiting >= GATHER {
                    p.hash(*lane, 0, false);
                }
            }
            Hasher::Done => {}
        }
    }

    /// The body's MD5.
    pub(crate) fn finalize(mut self) -> [u8; 16] {
        match std::mem::replace(&mut self.0, Hasher::Done) {
            Hasher::Own(h) => h.finalize().into(),
            Hasher::Lane { pool, lane } => {
                let mut p = lock(&pool);
                let l = p.lanes[lane].as_mut().expect("a body's lane is its own");
                // RFC 1321's padding: 0x80, zeros to 56 bytes mod 64, the length in bits.
                let bits = l.len.wrapping_mul(8);
                l.pending.push(0x80);
                let zeros = 56usize.wrapping_sub(l.pending.len() - l.start) % 64;
                l.pending.resize(l.pending.len() + zeros, 0);
                l.pending.extend_from_slice(&bits.to_le_bytes());
                p.hash(lane, 0, true);
                let l = p.lanes[lane].take().expect("a body's lane is its own");
                let mut out = [0u8; 16];
                for (o, s) in out.chunks_exact_mut(4).zip(l.state) {
                    o.copy_from_slice(&s.to_le_bytes());
                }
                out
            }
            // `finalize` takes the body, so it never sees one already finished.
            Hasher::Done => unreachable!("a body is finalized once"),
        }
    }
}

impl Drop for BodyMd5 {
    /// A body dropped unfinished (a failed put) frees its lane.
    fn drop(&mut self) {
        if let Hasher::Lane { pool, lane } = &self.0 {
            lock(pool).lanes[*lane] = None;
        }
    }
}

impl Pool {
    /// Hashes lane `asker`'s waiting bytes until no more than `keep` wait, in rounds that every
    /// lane with at least [`JOIN`] bytes waiting joins for as many blocks as all have; without
    /// `alone`, only while some other lane joins.
    fn hash(&mut self, asker: usize, keep: usize, alone: bool) {
        loop {
            let Some(asking) = self.lanes[asker].as_ref() else {
                return;
            };
            if asking.waiting() <= keep || asking.waiting() < 64 {
                return;
            }
            let joins =
                |i: usize, l: &Lane| l.waiting() >= 64 && (i == asker || l.waiting() >= JOIN);
            let company = self
                .lanes
                .iter()
                .enumerate()
                .filter(|&(i, l)| i != asker && l.as_ref().is_some_and(|l| joins(i, l)))
                .count();
            if company == 0 && !alone {
                return;
            }
            let blocks = self
                .lanes
                .iter()
                .enumerate()
                .filter_map(|(i, l)| l.as_ref().filter(|l| joins(i, l)))
                .map(|l| l.waiting() / 64)
                .min()
                .unwrap_or(0);
            let mut states = [INIT; LANES];
            let mut data: [Option<&[u8]>; LANES] = [None; LANES];
            for (i, l) in self.lanes.iter().enumerate() {
                if let Some(l) = l.as_ref().filter(|l| joins(i, l)) {
                    states[i] = l.state;
                    data[i] = Some(&l.pending[l.start..l.start + blocks * 64]);
                }
            }
            if self.scalar {
                kernel::compress_scalar(&mut states, &data, blocks);
            } else {
                kernel::compress(&mut states, &data, blocks);
            }
            let joined = data.map(|d| d.is_some());
            for (i, l) in self.lanes.iter_mut().enumerate() {
                if let Some(l) = l.as_mut().filter(|_| joined[i]) {
                    l.state = states[i];
                    l.start += blocks * 64;
                    // Hashed bytes go once they are most of the buffer, so that a lane's
                    // memory stays about GATHER and moving the rest down stays cheap.
                    if l.start == l.pending.len() {
                        l.pending.clear();
                        l.start = 0;
                    } else if l.start >= GATHER / 2 {
                        l.pending.drain(..l.start);
                        l.start = 0;
                    }
                }
            }
        }
    }
}

/// The vector kernel, and the same steps in plain Rust where there is none. Its unsafe code is
/// the intrinsics' loads and stores and the call made sound by the feature check.
#[allow(unsafe_code)]
mod kernel {
    use super::{K, LANES};

    /// MD5's 64 steps in order (RFC 1321, section 3.4): round function, the state words in their
    /// rotated roles, message word, constant index and shift. One list for both kernels, each
    /// with its own `step!`.
    macro_rules! md5_steps {
        ($step:ident, $a:ident, $b:ident, $c:ident, $d:ident) => {
            $step!(F, $a, $b, $c, $d, 0, 0, 7);
            $step!(F, $d, $a, $b, $c, 1, 1, 12);
            $step!(F, $c, $d, $a, $b, 2, 2, 17);
            $step!(F, $b, $c, $d, $a, 3, 3, 22);
            $step!(F, $a, $b, $c, $d, 4, 4, 7);
            $step!(F, $d, $a, $b, $c, 5, 5, 12);
            $step!(F, $c, $d, $a, $b, 6, 6, 17);
            $step!(F, $b, $c, $d, $a, 7, 7, 22);
            $step!(F, $a, $b, $c, $d, 8, 8, 7);
            $step!(F, $d, $a, $b, $c, 9, 9, 12);
            $step!(F, $c, $d, $a, $b, 10, 10, 17);
            $step!(F, $b, $c, $d, $a, 11, 11, 22);
            $step!(F, $a, $b, $c, $d, 12, 12, 7);
            $step!(F, $d, $a, $b, $c, 13, 13, 12);
            $step!(F, $c, $d, $a, $b, 14, 14, 17);
            $step!(F, $b, $c, $d, $a, 15, 15, 22);
            $step!(G, $a, $b, $c, $d, 1, 16, 5);
            $step!(G, $d, $a, $b, $c, 6, 17, 9);
            $step!(G, $c, $d, $a, $b, 11, 18, 14);
            $step!(G, $b, $c, $d, $a, 0, 19, 20);
            $step!(G, $a, $b, $c, $d, 5, 20, 5);
            $step!(G, $d, $a, $b, $c, 10, 21, 9);
            $step!(G, $c, $d, $a, $b, 15, 22, 14);
            $step!(G, $b, $c, $d, $a, 4, 23, 20);
            $step!(G, $a, $b, $c, $d, 9, 24, 5);
            $step!(G, $d, $a, $b, $c, 14, 25, 9);
            $step!(G, $c, $d, $a, $b, 3, 26, 14);
            $step!(G, $b, $c, $d, $a, 8, 27, 20);
            $step!(G, $a, $b, $c, $d, 13, 28, 5);
            $step!(G, $d, $a, $b, $c, 2, 29, 9);
            $step!(G, $c, $d, $a, $b, 7, 30, 14);
            $step!(G, $b, $c, $d, $a, 12, 31, 20);
            $step!(H, $a, $b, $c, $d, 5, 32, 4);
            $step!(H, $d, $a, $b, $c, 8, 33, 11);
            $step!(H, $c, $d, $a, $b, 11, 34, 16);
            $step!(H, $b, $c, $d, $a, 14, 35, 23);
            $step!(H, $a, $b, $c, $d, 1, 36, 4);
            $step!(H, $d, $a, $b, $c, 4, 37, 11);
            $step!(H, $c, $d, $a, $b, 7, 38, 16);
            $step!(H, $b, $c, $d, $a, 10, 39, 23);
            $step!(H, $a, $b, $c, $d, 13, 40, 4);
            $step!(H, $d, $a, $b, $c, 0, 41, 11);
            $step!(H, $c, $d, $a, $b, 3, 42, 16);
            $step!(H, $b, $c, $d, $a, 6, 43, 23);
            $step!(H, $a, $b, $c, $d, 9, 44, 4);
            $step!(H, $d, $a, $b, $c, 12, 45, 11);
            $step!(H, $c, $d, $a, $b, 15, 46, 16);
            $step!(H, $b, $c, $d, $a, 2, 47, 23);
            $step!(I, $a, $b, $c, $d, 0, 48, 6);
            $step!(I, $d, $a, $b, $c, 7, 49, 10);
            $step!(I, $c, $d, $a, $b, 14, 50, 15);
            $step!(I, $b, $c, $d, $a, 5, 51, 21);
            $step!(I, $a, $b, $c, $d, 12, 52, 6);
            $step!(I, $d, $a, $b, $c, 3, 53, 10);
            $step!(I, $c, $d, $a, $b, 10, 54, 15);
            $step!(I, $b, $c, $d, $a, 1, 55, 21);
            $step!(I, $a, $b, $c, $d, 8, 56, 6);
            $step!(I, $d, $a, $b, $c, 15, 57, 10);
            $step!(I, $c, $d, $a, $b, 6, 58, 15);
            $step!(I, $b, $c, $d, $a, 13, 59, 21);
            $step!(I, $a, $b, $c, $d, 4, 60, 6);
            $step!(I, $d, $a, $b, $c, 11, 61, 10);
            $step!(I, $c, $d, $a, $b, 2, 62, 15);
            $step!(I, $b, $c, $d, $a, 9, 63, 21);
        };
    }

    /// Whether this CPU runs the vector kernel.
    pub(super) fn available() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512vl")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    /// Runs `blocks` 64-byte blocks of each lane's `data` through its state; lanes without data
    /// keep their state.
    pub(super) fn compress(
        states: &mut [[u32; 4]; LANES],
        data: &[Option<&[u8]>; LANES],
        blocks: usize,
    ) {
        #[cfg(target_arch = "x86_64")]
        if available() {
            // SAFETY: the CPU has the features the function is compiled for, checked above.
            unsafe { avx512(states, data, blocks) };
            return;
        }
        compress_scalar(states, data, blocks);
    }

    /// [`compress`] one lane at a time, without vectors.
    pub(super) fn compress_scalar(
        states: &mut [[u32; 4]; LANES],
        data: &[Option<&[u8]>; LANES],
        blocks: usize,
    ) {
        for (state, data) in states.iter_mut().zip(data) {
            if let Some(data) = data {
                for block in data.chunks_exact(64).take(blocks) {
                    scalar(state, block);
                }
            }
        }
    }

    /// One block through one state, step for step as [`avx512`] does it in lanes.
    fn scalar(state: &mut [u32; 4], block: &[u8]) {
        let m: [u32; 16] = std::array::from_fn(|w| {
            u32::from_le_bytes([
                block[4 * w],
                block[4 * w + 1],
                block[4 * w + 2],
                block[4 * w + 3],
            ])
        });
        let [mut a, mut b, mut c, mut d] = *state;
        macro_rules! f {
            (F, $b:ident, $c:ident, $d:ident) => {
                ($b & $c) | (!$b & $d)
            };
            (G, $b:ident, $c:ident, $d:ident) => {
                ($b & $d) | ($c & !$d)
            };
            (H, $b:ident, $c:ident, $d:ident) => {
                $b ^ $c ^ $d
            };
            (I, $b:ident, $c:ident, $d:ident) => {
                $c ^ ($b | !$d)
            };
        }
        macro_rules! step {
            ($f:ident, $a:ident, $b:ident, $c:ident, $d:ident, $g:expr, $i:expr, $s:expr) => {
                $a = $b.wrapping_add(
                    $a.wrapping_add(f!($f, $b, $c, $d))
                        .wrapping_add(K[$i])
                        .wrapping_add(m[$g])
                        .rotate_left($s),
                );
            };
        }
        md5_steps!(step, a, b, c, d);
        for (s, v) in state.iter_mut().zip([a, b, c, d]) {
            *s = s.wrapping_add(v);
        }
    }

    /// [`scalar`] for eight lanes at once: one lane of each vector per body.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    unsafe fn avx512(states: &mut [[u32; 4]; LANES], data: &[Option<&[u8]>; LANES], blocks: usize) {
        use std::arch::x86_64::*;
        let lane = |word: usize| -> __m256i {
            let v: [i32; LANES] = std::array::from_fn(|l| states[l][word] as i32);
            // SAFETY: 32 bytes read from a 32-byte array.
            unsafe { _mm256_loadu_si256(v.as_ptr().cast()) }
        };
        let (mut sa, mut sb, mut sc, mut sd) = (lane(0), lane(1), lane(2), lane(3));
        let mut words = [[0i32; LANES]; 16];
        for block in 0..blocks {
            // The block's words, transposed: vector w holds word w of every lane.
            for (l, d) in data.iter().enumerate() {
                if let Some(d) = d {
                    let b = &d[block * 64..block * 64 + 64];
                    for (w, bytes) in b.chunks_exact(4).enumerate() {
                        words[w][l] = i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
                    }
                }
            }
            // SAFETY: 32 bytes read from each 32-byte row.
            let m: [__m256i; 16] =
                std::array::from_fn(|w| unsafe { _mm256_loadu_si256(words[w].as_ptr().cast()) });
            let (mut a, mut b, mut c, mut d) = (sa, sb, sc, sd);
            // The round functions as three-input truth tables of (b, c, d): F is b ? c : d,
            // G is d ? b : c, H is b ^ c ^ d, I is c ^ (b | !d).
            macro_rules! f {
                (F, $b:ident, $c:ident, $d:ident) => {
                    _mm256_ternarylogic_epi32::<0xca>($b, $c, $d)
                };
                (G, $b:ident, $c:ident, $d:ident) => {
                    _mm256_ternarylogic_epi32::<0xe4>($b, $c, $d)
                };
                (H, $b:ident, $c:ident, $d:ident) => {
                    _mm256_ternarylogic_epi32::<0x96>($b, $c, $d)
                };
                (I, $b:ident, $c:ident, $d:ident) => {
                    _mm256_ternarylogic_epi32::<0x39>($b, $c, $d)
                };
            }
            macro_rules! step {
                ($f:ident, $a:ident, $b:ident, $c:ident, $d:ident, $g:expr, $i:expr, $s:expr) => {
                    let t = _mm256_add_epi32(
                        _mm256_add_epi32($a, f!($f, $b, $c, $d)),
                        _mm256_add_epi32(m[$g], _mm256_set1_epi32(K[$i] as i32)),
                    );
                    $a = _mm256_add_epi32($b, _mm256_rol_epi32::<$s>(t));
                };
            }
            md5_steps!(step, a, b, c, d);
            sa = _mm256_add_epi32(sa, a);
            sb = _mm256_add_epi32(sb, b);
            sc = _mm256_add_epi32(sc, c);
            sd = _mm256_add_epi32(sd, d);
        }
        let mut out = [[0i32; LANES]; 4];
        for (o, v) in out.iter_mut().zip([sa, sb, sc, sd]) {
            // SAFETY: 32 bytes written to a 32-byte array.
            unsafe { _mm256_storeu_si256(o.as_mut_ptr().cast(), v) };
        }
        for (l, d) in data.iter().enumerate() {
            if d.is_some() {
                states[l] = std::array::from_fn(|w| out[w][l] as u32);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The `md-5` crate's digest of `bytes`.
    fn reference(bytes: &[u8]) -> [u8; 16] {
        Md5::digest(bytes).into()
    }

    /// Bytes that differ by body and position.
    fn body(seed: u8, len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 9) as u8)
            .collect()
    }

    /// Hashes `bodies` through one [`Md5Lanes`], each fed in pieces of its own `steps` sizes
    /// (cycled), all interleaved, and checks every digest against `md-5`.
    fn check(bodies: &[Vec<u8>], steps: &[usize]) {
        for lanes in [Md5Lanes::new(), scalar_lanes()] {
            check_with(&lanes, bodies, steps);
        }
    }

    /// Lanes hashed without vectors, whatever the CPU.
    fn scalar_lanes() -> Md5Lanes {
        Md5Lanes {
            pool: Some(Arc::new(Mutex::new(Pool {
                scalar: true,
                ..Pool::default()
            }))),
        }
    }

    fn check_with(lanes: &Md5Lanes, bodies: &[Vec<u8>], steps: &[usize]) {
        let mut hashers: Vec<(BodyMd5, usize)> =
            bodies.iter().map(|_| (lanes.hasher(), 0)).collect();
        let mut turn = 0;
        while hashers.iter().zip(bodies).any(|((_, at), b)| *at < b.len()) {
            for (i, ((h, at), b)) in hashers.iter_mut().zip(bodies).enumerate() {
                let step = steps[(turn + i) % steps.len()].max(1);
                let end = (*at + step).min(b.len());
                h.update(&b[*at..end]);
                *at = end;
            }
            turn += 1;
        }
        for ((h, _), b) in hashers.into_iter().zip(bodies) {
            assert_eq!(h.finalize(), reference(b), "a body of {} bytes", b.len());
        }
    }

    #[test]
    fn kernel_matches_rfc_1321_vectors() {
        // RFC 1321, appendix A.5.
        for (input, want) in [
            ("", "d41d8cd98f00b204e9800998ecf8427e"),
            ("abc", "900150983cd24fb0d6963f7d28e17f72"),
            (
                "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
        ] {
            for lanes in [Md5Lanes::new(), scalar_lanes()] {
                let mut h = lanes.hasher();
                h.update(input.as_bytes());
                assert_eq!(hex::encode(h.finalize()), want, "{input:?}");
            }
        }
    }

    #[test]
    fn constants_are_rfc_1321s() {
        for (i, k) in K.iter().enumerate() {
            let want = ((i as f64 + 1.0).sin().abs() * 4_294_967_296.0) as u32;
            assert_eq!(*k, want, "K[{i}]");
        }
    }

    #[test]
    fn bodies_hashed_together_match_md5_at_every_padding_edge() {
        // Lengths around the padding's edges (55, 56, 64 mod 64) and past GATHER, so that rounds
        // join and leave lanes while others are mid-block.
        let lens = [
            0,
            1,
            55,
            56,
            57,
            63,
            64,
            65,
            119,
            120,
            128,
            GATHER - 1,
            GATHER + 57,
            3 * GATHER + 5,
        ];
        let bodies: Vec<Vec<u8>> = lens
            .iter()
            .enumerate()
            .map(|(i, l)| body(i as u8, *l))
            .collect();
        // More bodies than lanes: the ninth and later hash on their own.
        check(&bodies, &[7, 65_536, 300_000, 1]);
        check(&bodies[..LANES], &[GATHER, 1_000_003]);
    }

    #[test]
    fn a_dropped_body_frees_its_lane() {
        let lanes = Md5Lanes::new();
        for _ in 0..3 * LANES {
            let mut h = lanes.hasher();
            h.update(&body(1, GATHER + 100));
            drop(h);
        }
        if let Some(pool) = &lanes.pool {
            assert!(lock(pool).lanes.iter().all(Option::is_none));
        }
        check(&[body(9, 5000)], &[100]);
    }

    #[test]
    fn a_body_waits_for_company_until_it_holds_too_much() {
        let lanes = scalar_lanes();
        let pool = lanes.pool.clone().expect("scalar lanes have a pool");
        let waiting = |h: &BodyMd5| match &h.0 {
            Hasher::Lane { lane, .. } => lock(&pool).lanes[*lane].as_ref().map(Lane::waiting),
            _ => None,
        };
        let (a_bytes, b_bytes) = (body(1, 3 * GATHER), body(2, JOIN));
        let (mut a, mut b) = (lanes.hasher(), lanes.hasher());
        // Alone, a body that asks keeps its bytes.
        a.update(&a_bytes[..GATHER]);
        assert_eq!(waiting(&a), Some(GATHER));
        b.update(&b_bytes);
        assert_eq!(waiting(&b), Some(JOIN));
        // Once another has JOIN waiting, the next ask hashes both, as far as both have.
        a.update(&a_bytes[GATHER..GATHER + 64]);
        assert_eq!(waiting(&a), Some(GATHER + 64 - JOIN));
        assert_eq!(waiting(&b), Some(0));
        // With no company, ALONE is as much as a body holds.
        a.update(&a_bytes[GATHER + 64..]);
        let left = waiting(&a).expect("a keeps its lane");
        assert!(left <= GATHER, "{left} bytes left waiting");
        assert_eq!(a.finalize(), reference(&a_bytes));
        assert_eq!(b.finalize(), reference(&b_bytes));
    }

    #[test]
    fn the_vector_kernel_is_used_where_the_cpu_has_it() {
        let lanes = Md5Lanes::new();
        let h = lanes.hasher();
        assert_eq!(
            matches!(h.0, Hasher::Lane { .. }),
            kernel::available(),
            "bodies get lanes exactly where the CPU runs the kernel"
        );
    }

    #[test]
    fn the_vector_kernel_and_the_scalar_steps_agree() {
        // Lanes with and without data, from states other than the initial one.
        let data: Vec<Vec<u8>> = (0..LANES).map(|l| body(l as u8 * 13, 64 * 9)).collect();
        let inputs: [Option<&[u8]>; LANES] =
            std::array::from_fn(|l| (l % 3 != 1).then(|| &data[l][..]));
        let start: [[u32; 4]; LANES] = std::array::from_fn(|l| {
            std::array::from_fn(|w| ((l * 4 + w) as u32).wrapping_mul(0x9e37_79b9))
        });
        let (mut vector, mut plain) = (start, start);
        kernel::compress(&mut vector, &inputs, 9);
        kernel::compress_scalar(&mut plain, &inputs, 9);
        assert_eq!(vector, plain);
        assert_eq!(vector[1], start[1], "a lane without data keeps its state");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn any_bodies_in_any_pieces_match_md5(
            lens in proptest::collection::vec(0usize..2 * GATHER, 1..10),
            steps in proptest::collection::vec(1usize..400_000, 1..5),
        ) {
            let bodies: Vec<Vec<u8>> = lens.iter().enumerate().map(|(i, l)| body(i as u8 * 7, *l)).collect();
            check(&bodies, &steps);
        }
    }
}
