//! SHA-256 compression over several independent messages at once.
//!
//! Sealing and Merkle hashing are mostly single-block compressions of short messages: a Merkle
//! leaf is 17 blocks, a seal cell one or two. One SHA-256 stream cannot go faster than its
//! rounds, one after another, but a chunk has a thousand leaves and a sealer many chunks, and
//! unrelated messages can advance together. Two engines do that:
//! - with AVX-512, sixteen messages share each instruction, one per 32-bit lane: measured 26 ns
//!   per block per message against 50 ns for one stream on the SHA extensions (2-vCPU Xeon, 2026);
//! - with the SHA extensions alone, up to four streams interleave their rounds, which gains
//!   about 15% where the unit is busy rather than waiting (the same machine).
//!
//! Without either, each message goes through the `sha2` crate. The output is plain SHA-256 in
//! every case; the property tests below hold each engine to `sha2` on random states and blocks.
//! Besides one `setpriority` call in the allocator and the gateway's MD5 lanes, this module is
//! the workspace's only unsafe code: the intrinsics, and the feature checks that make calling
//! them sound.

#![allow(unsafe_code)]

use sha2::block_api::compress256;

/// The most messages one call takes.
pub const MAX_LANES: usize = 16;

/// A SHA-256 chaining state.
pub type State = [u32; 8];

/// One 64-byte message block.
pub type Block = [u8; 64];

/// SHA-256's initial state (FIPS 180-4, 5.3.3).
pub const IV: State = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// The digest a final state stands for: its words, big-endian.
pub fn digest(state: &State) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (o, w) in out.chunks_exact_mut(4).zip(state) {
        o.copy_from_slice(&w.to_be_bytes());
    }
    out
}

/// How many messages a caller should hand [`compress`] at once on this CPU: 16 with AVX-512, 4
/// with the SHA extensions, otherwise 1. Fewer always work, just with lanes idle.
pub fn preferred_lanes() -> usize {
    match Engine::best() {
        Engine::Avx512 => 16,
        Engine::ShaNi => 4,
        Engine::Portable => 1,
    }
}

/// How many of `remaining` messages to hand [`compress`] next: all of them up to three, then four
/// (one SHA-extension group) until sixteen fill every AVX-512 lane, never more than this CPU
/// likes ([`preferred_lanes`]). Callers match the answer onto their const lane counts 1, 2, 3, 4
/// and 16, the only ones it gives.
pub fn batch_width(remaining: usize) -> usize {
    match remaining.min(preferred_lanes()) {
        n @ 0..4 => n,
        4..16 => 4,
        _ => 16,
    }
}

/// Compresses `blocks[l]` into `states[l]` for every lane `l`. Lanes never mix; any `L` from 1
/// to [`MAX_LANES`] works, and every lane must have the same number of blocks.
pub fn compress<const L: usize>(states: &mut [State; L], blocks: [&[Block]; L]) {
    let best = Engine::best();
    // Four lanes or fewer fit the SHA units better than a mostly idle vector.
    let engine = if best == Engine::Avx512 && L <= 4 && Engine::ShaNi.available() {
        Engine::ShaNi
    } else {
        best
    };
    compress_with(engine, states, blocks);
}

/// The 64 round constants (FIPS 180-4, 4.2.2).
static K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// The implementations, in order of preference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Engine {
    Avx512,
    ShaNi,
    Portable,
}

impl Engine {
    fn best() -> Self {
        [Engine::Avx512, Engine::ShaNi]
            .into_iter()
            .find(|e| e.available())
            .unwrap_or(Engine::Portable)
    }

    fn available(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Engine::Avx512 => avx512::available(),
            #[cfg(target_arch = "x86_64")]
            Engine::ShaNi => ni::available(),
            #[cfg(not(target_arch = "x86_64"))]
            Engine::Avx512 | Engine::ShaNi => false,
            Engine::Portable => true,
        }
    }
}

/// [`compress`] on a given engine, which must be available.
fn compress_with<const L: usize>(engine: Engine, states: &mut [State; L], blocks: [&[Block]; L]) {
    const { assert!(L >= 1 && L <= MAX_LANES, "1 to 16 lanes") };
    let rows = blocks[0].len();
    assert!(
        blocks.iter().all(|b| b.len() == rows),
        "lanes of unequal length"
    );
    assert!(engine.available(), "{engine:?} is not available here");
    match engine {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU has every feature the engine is compiled for, asserted just above.
        Engine::Avx512 => unsafe { avx512::compress(states, blocks, rows) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Engine::ShaNi => unsafe { ni::compress(states, blocks, rows) },
        _ => {
            for (state, lane) in states.iter_mut().zip(blocks) {
                compress256(state, lane);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod ni {
    use std::arch::x86_64::*;

    use super::{Block, K, State};

    pub(super) fn available() -> bool {
        // std caches the answer; after the first call this is one relaxed load per feature.
        is_x86_feature_detected!("sha")
            && is_x86_feature_detected!("sse4.1")
            && is_x86_feature_detected!("ssse3")
    }

    /// The SHA extensions keep a state as two registers, (A, B, E, F) and (C, D, G, H), each
    /// written here high word first; these convert from and back to the eight words of `State`.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    fn load(state: &State) -> (__m128i, __m128i) {
        // SAFETY: `State` is 32 bytes, two unaligned 16-byte loads stay inside it.
        let (dcba, hgfe) = unsafe {
            let p = state.as_ptr().cast::<__m128i>();
            (_mm_loadu_si128(p), _mm_loadu_si128(p.add(1)))
        };
        let cdab = _mm_shuffle_epi32::<0xB1>(dcba);
        let efgh = _mm_shuffle_epi32::<0x1B>(hgfe);
        (
            _mm_alignr_epi8::<8>(cdab, efgh),
            _mm_blend_epi16::<0xF0>(efgh, cdab),
        )
    }

    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    fn store(abef: __m128i, cdgh: __m128i, state: &mut State) {
        let feba = _mm_shuffle_epi32::<0x1B>(abef);
        let dchg = _mm_shuffle_epi32::<0xB1>(cdgh);
        let dcba = _mm_blend_epi16::<0xF0>(feba, dchg);
        let hgfe = _mm_alignr_epi8::<8>(dchg, feba);
        // SAFETY: as in `load`, two 16-byte stores inside the 32 bytes of `state`.
        unsafe {
            let p = state.as_mut_ptr().cast::<__m128i>();
            _mm_storeu_si128(p, dcba);
            _mm_storeu_si128(p.add(1), hgfe);
        }
    }

    /// The lanes advance in lockstep, one four-round step of every lane after another, which
    /// gives the out-of-order core independent rounds to issue while each lane waits.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    pub(super) fn compress<const L: usize>(
        states: &mut [State; L],
        blocks: [&[Block]; L],
        rows: usize,
    ) {
        // Message words are big-endian; this shuffle swaps the bytes of each 32-bit word.
        let swap = _mm_set_epi64x(0x0c0d_0e0f_0809_0a0b, 0x0405_0607_0001_0203);
        let mut abef = [_mm_setzero_si128(); L];
        let mut cdgh = [_mm_setzero_si128(); L];
        for l in 0..L {
            (abef[l], cdgh[l]) = load(&states[l]);
        }
        // The 16 four-round steps are written out, four schedule registers rotating through
        // them, so that the window of message words lives in registers rather than in an array
        // indexed at run time.
        macro_rules! step {
            ($w:ident, $i:expr) => {{
                // SAFETY: K has 64 words; load i reads words 4i..4i+4, and i < 16.
                let k = unsafe { _mm_loadu_si128(K.as_ptr().cast::<__m128i>().add($i)) };
                for l in 0..L {
                    let wk = _mm_add_epi32($w[l], k);
                    cdgh[l] = _mm_sha256rnds2_epu32(cdgh[l], abef[l], wk);
                    abef[l] =
                        _mm_sha256rnds2_epu32(abef[l], cdgh[l], _mm_shuffle_epi32::<0x0E>(wk));
                }
            }};
        }
        // W[t] = σ1(W[t-2]) + W[t-7] + σ0(W[t-15]) + W[t-16], four words at once: `$w4` holds
        // the words four steps back and becomes the next four.
        macro_rules! schedule {
            ($w4:ident, $w3:ident, $w2:ident, $w1:ident) => {
                for l in 0..L {
                    let t = _mm_sha256msg1_epu32($w4[l], $w3[l]);
                    let t = _mm_add_epi32(t, _mm_alignr_epi8::<4>($w1[l], $w2[l]));
                    $w4[l] = _mm_sha256msg2_epu32(t, $w1[l]);
                }
            };
        }
        #[allow(clippy::needless_range_loop, reason = "row b is read from every lane")]
        for b in 0..rows {
            let (abef_in, cdgh_in) = (abef, cdgh);
            let mut w = [[_mm_setzero_si128(); L]; 4];
            for (q, wq) in w.iter_mut().enumerate() {
                for l in 0..L {
                    // SAFETY: a block is 64 bytes; load q reads bytes 16q..16q+16, and q < 4.
                    let raw =
                        unsafe { _mm_loadu_si128(blocks[l][b].as_ptr().cast::<__m128i>().add(q)) };
                    wq[l] = _mm_shuffle_epi8(raw, swap);
                }
            }
            let [mut w0, mut w1, mut w2, mut w3] = w;
            step!(w0, 0);
            step!(w1, 1);
            step!(w2, 2);
            step!(w3, 3);
            for i in (4..16).step_by(4) {
                schedule!(w0, w1, w2, w3);
                step!(w0, i);
                schedule!(w1, w2, w3, w0);
                step!(w1, i + 1);
                schedule!(w2, w3, w0, w1);
                step!(w2, i + 2);
                schedule!(w3, w0, w1, w2);
                step!(w3, i + 3);
            }
            for l in 0..L {
                abef[l] = _mm_add_epi32(abef[l], abef_in[l]);
                cdgh[l] = _mm_add_epi32(cdgh[l], cdgh_in[l]);
            }
        }
        for l in 0..L {
            store(abef[l], cdgh[l], &mut states[l]);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{Block, K, MAX_LANES, State};

    pub(super) fn available() -> bool {
        is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw")
    }

    /// Sixteen messages, one per 32-bit lane of each vector: vector `j` of the state holds word
    /// `j` of every message. With fewer than sixteen, the spare lanes repeat message 0 and their
    /// results are dropped.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) fn compress<const L: usize>(
        states: &mut [State; L],
        blocks: [&[Block]; L],
        rows: usize,
    ) {
        let lane = |l: usize| if l < L { l } else { 0 };
        let mut words = [[0u32; MAX_LANES]; 8];
        for (j, row) in words.iter_mut().enumerate() {
            for (l, w) in row.iter_mut().enumerate() {
                *w = states[lane(l)][j];
            }
        }
        // SAFETY: each row of `words` is sixteen u32, one 64-byte vector.
        let mut v = words.map(|row| unsafe { _mm512_loadu_si512(row.as_ptr().cast()) });
        // Message words are big-endian: swap the bytes of every 32-bit lane.
        let swap = _mm512_set4_epi32(0x0c0d_0e0f, 0x0809_0a0b, 0x0405_0607, 0x0001_0203);
        // The blocks of one row are copied side by side, so that word t of every message is a
        // gather at a fixed stride from `stage`.
        let mut stage = [[0u8; 64]; MAX_LANES];
        let stride = _mm512_setr_epi32(
            0, 64, 128, 192, 256, 320, 384, 448, 512, 576, 640, 704, 768, 832, 896, 960,
        );
        #[allow(clippy::needless_range_loop, reason = "row b is read from every lane")]
        for b in 0..rows {
            for (l, s) in stage.iter_mut().enumerate() {
                *s = blocks[lane(l)][b];
            }
            let mut w = [_mm512_setzero_si512(); 16];
            for (t, wt) in w.iter_mut().enumerate() {
                // SAFETY: the gather reads 4 bytes at 64·l + 4·t for l < 16 and t < 16, inside
                // the 1024 bytes of `stage`.
                let g = unsafe {
                    _mm512_i32gather_epi32::<1>(
                        stride,
                        stage.as_ptr().cast::<u8>().add(4 * t).cast(),
                    )
                };
                *wt = _mm512_shuffle_epi8(g, swap);
            }
            let [mut a, mut b_, mut c, mut d, mut e, mut f, mut g, mut h] = v;
            for t in 0..64 {
                let wt = if t < 16 {
                    w[t]
                } else {
                    // W[t] = σ1(W[t-2]) + W[t-7] + σ0(W[t-15]) + W[t-16], in a ring of 16.
                    let x15 = w[(t + 1) % 16];
                    let x2 = w[(t + 14) % 16];
                    let s0 = _mm512_ternarylogic_epi32::<0x96>(
                        _mm512_ror_epi32::<7>(x15),
                        _mm512_ror_epi32::<18>(x15),
                        _mm512_srli_epi32::<3>(x15),
                    );
                    let s1 = _mm512_ternarylogic_epi32::<0x96>(
                        _mm512_ror_epi32::<17>(x2),
                        _mm512_ror_epi32::<19>(x2),
                        _mm512_srli_epi32::<10>(x2),
                    );
                    let next = _mm512_add_epi32(
                        _mm512_add_epi32(w[t % 16], s0),
                        _mm512_add_epi32(w[(t + 9) % 16], s1),
                    );
                    w[t % 16] = next;
                    next
                };
                // 0x96 is a three-way xor, 0xCA "e ? f : g" (Ch), 0xE8 the majority (Maj).
                let big_s1 = _mm512_ternarylogic_epi32::<0x96>(
                    _mm512_ror_epi32::<6>(e),
                    _mm512_ror_epi32::<11>(e),
                    _mm512_ror_epi32::<25>(e),
                );
                let ch = _mm512_ternarylogic_epi32::<0xCA>(e, f, g);
                let kw = _mm512_add_epi32(wt, _mm512_set1_epi32(K[t] as i32));
                let t1 = _mm512_add_epi32(_mm512_add_epi32(h, big_s1), _mm512_add_epi32(ch, kw));
                let big_s0 = _mm512_ternarylogic_epi32::<0x96>(
                    _mm512_ror_epi32::<2>(a),
                    _mm512_ror_epi32::<13>(a),
                    _mm512_ror_epi32::<22>(a),
                );
                let maj = _mm512_ternarylogic_epi32::<0xE8>(a, b_, c);
                h = g;
                g = f;
                f = e;
                e = _mm512_add_epi32(d, t1);
                d = c;
                c = b_;
                b_ = a;
                a = _mm512_add_epi32(t1, _mm512_add_epi32(big_s0, maj));
            }
            for (vj, nj) in v.iter_mut().zip([a, b_, c, d, e, f, g, h]) {
                *vj = _mm512_add_epi32(*vj, nj);
            }
        }
        for (row, vj) in words.iter_mut().zip(v) {
            // SAFETY: as for the load, one 64-byte vector into sixteen u32.
            unsafe { _mm512_storeu_si512(row.as_mut_ptr().cast(), vj) };
        }
        for (l, state) in states.iter_mut().enumerate() {
            for (j, word) in state.iter_mut().enumerate() {
                *word = words[j][l];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use sha2::{Digest, Sha256};

    use super::*;

    /// Runs every engine this CPU has and the one-lane-at-a-time `sha2` path on the same input.
    fn check<const L: usize>(states: [State; L], blocks: [Vec<Block>; L]) {
        for engine in [Engine::Avx512, Engine::ShaNi, Engine::Portable] {
            if !engine.available() {
                continue;
            }
            let mut fast = states;
            compress_with(engine, &mut fast, blocks.each_ref().map(|b| &b[..]));
            for l in 0..L {
                let mut slow = states[l];
                compress256(&mut slow, &blocks[l]);
                assert_eq!(fast[l], slow, "{engine:?}: lane {l} of {L}");
            }
        }
    }

    fn block() -> impl Strategy<Value = Block> {
        proptest::array::uniform32(any::<u8>()).prop_flat_map(|a| {
            proptest::array::uniform32(any::<u8>()).prop_map(move |b| {
                let mut out = [0u8; 64];
                out[..32].copy_from_slice(&a);
                out[32..].copy_from_slice(&b);
                out
            })
        })
    }

    /// Random states and, for every lane, the same random number of random blocks.
    fn lanes<const L: usize>() -> impl Strategy<Value = ([State; L], [Vec<Block>; L])> {
        (0usize..4).prop_flat_map(|rows| {
            (
                proptest::array::uniform::<_, L>(proptest::array::uniform8(any::<u32>())),
                proptest::array::uniform::<_, L>(proptest::collection::vec(block(), rows)),
            )
        })
    }

    proptest! {
        #[test]
        fn one_lane_matches_sha2((s, b) in lanes::<1>()) { check(s, b) }
        #[test]
        fn two_lanes_match_sha2((s, b) in lanes::<2>()) { check(s, b) }
        #[test]
        fn three_lanes_match_sha2((s, b) in lanes::<3>()) { check(s, b) }
        #[test]
        fn four_lanes_match_sha2((s, b) in lanes::<4>()) { check(s, b) }
        #[test]
        fn seven_lanes_match_sha2((s, b) in lanes::<7>()) { check(s, b) }
        #[test]
        fn sixteen_lanes_match_sha2((s, b) in lanes::<16>()) { check(s, b) }
    }

    #[test]
    fn padded_message_gives_the_standard_digest() {
        // "abc" padded by hand in every lane: the FIPS 180-4 example digest.
        let mut block = [0u8; 64];
        block[..3].copy_from_slice(b"abc");
        block[3] = 0x80;
        block[63] = 24;
        let mut states = [IV; MAX_LANES];
        compress(&mut states, [std::slice::from_ref(&block); MAX_LANES]);
        let expected: [u8; 32] = Sha256::digest(b"abc").into();
        for state in &states {
            assert_eq!(digest(state), expected);
        }
        assert_eq!(
            hex::encode(expected),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
