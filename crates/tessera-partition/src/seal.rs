//! The sealing generator: slow, memory-hard, deterministic chunk data that proves space.
//!
//! Chunk `i` of miner M's partition for validator V is a function of (M, V, i, chunk size, seal
//! parameters) alone, so a validator can derive any single chunk without the rest. Deriving it is
//! deliberately sequential and memory-hard, in the style of Argon2d: the chunk buffer is a row of
//! 32-byte cells, first filled by a hash chain and then mixed in place `passes` times, each cell
//! absorbing its predecessor, a cell at a data-dependent position and its own old value. The
//! construction and its threat model are stated in `docs/protocol.md`; any change here is a
//! protocol change and must change the golden vectors in the tests on purpose.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};
use tessera_core::merkle::{self, Hash};
use tessera_core::{AccountId, sha256};

use crate::Error;

/// Cells are SHA-256 outputs; a 1 KiB segment holds 32 of them.
const CELL: usize = 32;

/// A `Vec` of exactly `L` items as an array.
fn lanes<T, const L: usize>(items: impl IntoIterator<Item = T>) -> [T; L] {
    let items: Vec<T> = items.into_iter().collect();
    items
        .try_into()
        .unwrap_or_else(|_| panic!("exactly {L} items"))
}

fn cell_at(buf: &[u8], index: usize) -> Hash {
    let mut cell = [0u8; CELL];
    cell.copy_from_slice(&buf[index * CELL..][..CELL]);
    cell
}

/// Domain separator of the seal seed, versioned so that a new construction never collides with this one.
const DOMAIN: &[u8] = b"tessera/seal/v1";

/// The tunable parameters of the construction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SealParams {
    /// Number of in-place mixing passes after the initial hash-chain fill.
    pub passes: u32,
}

/// Named parameter sets. `Dev` is for tests and local networks; `Production` is calibrated so
/// that regenerating a chunk on demand takes several times the challenge slack (docs/protocol.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SealProfile {
    Dev,
    Production,
}

impl SealProfile {
    pub fn params(self) -> SealParams {
        match self {
            SealProfile::Dev => SealParams { passes: 0 },
            SealProfile::Production => SealParams { passes: 384 },
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SealProfile::Dev => "dev",
            SealProfile::Production => "production",
        }
    }
}

impl fmt::Display for SealProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SealProfile {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "dev" => Ok(SealProfile::Dev),
            "production" => Ok(SealProfile::Production),
            other => Err(Error::UnknownProfile(other.to_owned())),
        }
    }
}

/// Everything a chunk's bytes depend on except its id: one per (miner, validator) partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SealKey {
    pub miner: AccountId,
    pub validator: AccountId,
    pub chunk_size: u64,
    pub params: SealParams,
}

impl SealKey {
    /// Checks the chunk size once, so that sealing itself cannot fail.
    pub fn new(
        miner: AccountId,
        validator: AccountId,
        chunk_size: u64,
        params: SealParams,
    ) -> Result<Self, Error> {
        merkle::segment_count(chunk_size)?;
        Ok(Self {
            miner,
            validator,
            chunk_size,
            params,
        })
    }

    /// A public digest of the key, recorded in `partition.json` as the partition's seed. It is
    /// not secret and need not be: knowing it saves nothing of the sealing work.
    pub fn partition_seed(&self) -> Hash {
        let mut h = Sha256::new();
        h.update(DOMAIN);
        h.update(self.miner.as_bytes());
        h.update(self.validator.as_bytes());
        h.update(self.chunk_size.to_le_bytes());
        h.update(self.params.passes.to_le_bytes());
        h.finalize().into()
    }

    fn chunk_seed(&self, id: u64) -> Hash {
        let mut h = Sha256::new();
        h.update(self.partition_seed());
        h.update(id.to_le_bytes());
        h.finalize().into()
    }

    /// Seals chunk `id` into `out`, which must be exactly `chunk_size` bytes long.
    pub fn seal_into(&self, id: u64, out: &mut [u8]) {
        self.seal_lanes([id], [out]);
    }

    /// Seals chunk `id` into `out` for every `(id, out)`: the same bytes as [`Self::seal_into`]
    /// on each, in less time per chunk, since the chunks' hash chains advance together (see
    /// `tessera_core::sha256`). Sealing one chunk takes as long as ever; only a batch is faster.
    pub fn seal_many_into(&self, jobs: &mut [(u64, &mut [u8])]) {
        let mut rest = jobs;
        while !rest.is_empty() {
            let take = sha256::batch_width(rest.len());
            let (group, tail) = rest.split_at_mut(take);
            let (ids, outs): (Vec<u64>, Vec<&mut [u8]>) =
                group.iter_mut().map(|(id, out)| (*id, &mut **out)).unzip();
            match take {
                1 => self.seal_lanes::<1>(lanes(ids), lanes(outs)),
                2 => self.seal_lanes::<2>(lanes(ids), lanes(outs)),
                3 => self.seal_lanes::<3>(lanes(ids), lanes(outs)),
                4 => self.seal_lanes::<4>(lanes(ids), lanes(outs)),
                _ => self.seal_lanes::<16>(lanes(ids), lanes(outs)),
            }
            rest = tail;
        }
    }

    /// The construction, for `L` chunks at once. Each lane is exactly the single-chunk
    /// algorithm; lanes only share the calls into the compression function.
    fn seal_lanes<const L: usize>(&self, ids: [u64; L], mut outs: [&mut [u8]; L]) {
        for out in &outs {
            assert_eq!(
                out.len() as u64,
                self.chunk_size,
                "buffer of the wrong size"
            );
        }
        let n = self.chunk_size as usize / CELL;

        // Fill: a hash chain, so that cell j cannot be computed before cell j-1. Each link is
        // SHA-256(previous cell || j as 8 little-endian bytes), one padded block.
        let mut block = [0u8; 64];
        block[40] = 0x80;
        block[56..].copy_from_slice(&320u64.to_be_bytes());
        let mut blocks = [block; L];
        let mut prev = ids.map(|id| self.chunk_seed(id));
        for j in 0..n {
            for (b, p) in blocks.iter_mut().zip(&prev) {
                b[..32].copy_from_slice(p);
                b[32..40].copy_from_slice(&(j as u64).to_le_bytes());
            }
            let mut states = [sha256::IV; L];
            sha256::compress(&mut states, blocks.each_ref().map(std::slice::from_ref));
            for ((p, state), out) in prev.iter_mut().zip(&states).zip(outs.iter_mut()) {
                *p = sha256::digest(state);
                out[j * CELL..][..CELL].copy_from_slice(p);
            }
        }

        // Mix in place. Each cell is replaced by a hash of its predecessor, a cell chosen by the
        // predecessor's value, and its own old value: SHA-256(pred || chosen || own), a 96-byte
        // message in two blocks. Positions at or after j still hold the previous pass, so
        // dropping any part of the buffer forces recomputing earlier passes; and because the old
        // value goes into the hash (not XORed with it), a pass cannot be run backwards from the
        // values it produced (see the threat model).
        let mut second = [0u8; 64];
        second[32] = 0x80;
        second[56..].copy_from_slice(&768u64.to_be_bytes());
        let mut pairs = [[[0u8; 64], second]; L];
        for _ in 0..self.params.passes {
            for j in 0..n {
                let p = if j == 0 { n - 1 } else { j - 1 };
                for (pair, out) in pairs.iter_mut().zip(outs.iter()) {
                    let pc = cell_at(out, p);
                    let r = (u64::from_le_bytes(pc[..8].try_into().expect("8 bytes")) % n as u64)
                        as usize;
                    pair[0][..32].copy_from_slice(&pc);
                    pair[0][32..].copy_from_slice(&out[r * CELL..][..CELL]);
                    pair[1][..32].copy_from_slice(&out[j * CELL..][..CELL]);
                }
                let mut states = [sha256::IV; L];
                sha256::compress(&mut states, pairs.each_ref().map(|p| &p[..]));
                for (state, out) in states.iter().zip(outs.iter_mut()) {
                    out[j * CELL..][..CELL].copy_from_slice(&sha256::digest(state));
                }
            }
        }
    }

    /// Seals chunk `id` into a new buffer.
    pub fn seal(&self, id: u64) -> Vec<u8> {
        let mut out = vec![0u8; self.chunk_size as usize];
        self.seal_into(id, &mut out);
        out
    }

    /// The Merkle root chunk `id` must have: what a validator derives without asking the miner.
    pub fn expected_root(&self, id: u64) -> Hash {
        merkle::root(&self.seal(id)).expect("chunk size checked in SealKey::new")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(chunk_size: u64, passes: u32) -> SealKey {
        SealKey::new(
            AccountId([1; 32]),
            AccountId([2; 32]),
            chunk_size,
            SealParams { passes },
        )
        .unwrap()
    }

    #[test]
    fn golden_vectors() {
        // Pinned outputs, computed by the independent reference in docs/reference/seal.py: the
        // same inputs must give the same bytes on every machine.
        let check = |chunk_size: u64, passes: u32, id: u64, head: &str, root: &str| {
            let k = key(chunk_size, passes);
            let data = k.seal(id);
            assert_eq!(
                hex::encode(&data[..16]),
                head,
                "head of {chunk_size}/{passes}/{id}"
            );
            assert_eq!(
                hex::encode(k.expected_root(id)),
                root,
                "root of {chunk_size}/{passes}/{id}"
            );
        };
        check(
            1024,
            0,
            0,
            "0e914e2ab5dbbe635d49ae09469fdc5c",
            "1cdd16a656afe7cdf3ff7ba2017227e1600b206239d2250faad8a8762130b330",
        );
        check(
            1024,
            1,
            0,
            "11d3f1b4208cf7e6616586dead628b82",
            "b878a25ed603b0e5e06eada949248fa436bf1690fc9a2852eccd475b7affb4c3",
        );
        check(
            4096,
            3,
            7,
            "353cf24774e438ddea4766ffe8768f89",
            "07cb3b9dd18a5b938638424ca518ad924c4cf62aaf8dc8b61001211a4b226602",
        );
        check(
            1 << 20,
            1,
            42,
            "6119d0637b705f441019d59cb2fb93fb",
            "427c4ab485f832864454de4d9837367b5a7eb4b09be165d480b63aee0c6e0761",
        );
    }

    #[test]
    fn a_batch_seals_the_same_bytes_as_one_at_a_time() {
        // Batch sizes around every lane width (1, 4 and 16) and their remainders.
        for passes in [0, 2] {
            let k = key(4096, passes);
            for count in [1usize, 2, 3, 4, 5, 15, 16, 17, 21, 36] {
                let ids: Vec<u64> = (0..count as u64).map(|i| i * 7 + 3).collect();
                let mut bufs = vec![vec![0u8; 4096]; count];
                let mut jobs: Vec<(u64, &mut [u8])> = ids
                    .iter()
                    .copied()
                    .zip(bufs.iter_mut().map(|b| &mut b[..]))
                    .collect();
                k.seal_many_into(&mut jobs);
                for (id, buf) in ids.iter().zip(&bufs) {
                    assert!(
                        *buf == k.seal(*id),
                        "passes {passes}, batch {count}, chunk {id}"
                    );
                }
            }
        }
    }

    #[test]
    fn every_input_changes_the_output() {
        let base = key(4096, 2);
        let reference = base.seal(5);
        assert_eq!(reference, base.seal(5));
        let variants = [
            SealKey {
                miner: AccountId([3; 32]),
                ..base
            },
            SealKey {
                validator: AccountId([3; 32]),
                ..base
            },
            SealKey {
                params: SealParams { passes: 3 },
                ..base
            },
        ];
        for v in variants {
            assert_ne!(v.seal(5)[..], reference[..], "{v:?}");
        }
        assert_ne!(base.seal(6), reference);
        let bigger = key(8192, 2).seal(5);
        assert_ne!(bigger[..4096], reference[..]);
    }

    #[test]
    fn profiles_parse_and_reject_unknown_names() {
        assert_eq!("dev".parse::<SealProfile>().unwrap(), SealProfile::Dev);
        assert_eq!(
            "production".parse::<SealProfile>().unwrap(),
            SealProfile::Production
        );
        let err = "fast".parse::<SealProfile>().unwrap_err().to_string();
        assert_eq!(
            err,
            "unknown seal profile 'fast': expected dev or production"
        );
    }
}
