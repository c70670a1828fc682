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

use sha2::block_api::compress256;
use sha2::{Digest, Sha256};
use tessera_core::AccountId;
use tessera_core::merkle::{self, Hash};

use crate::Error;

/// Cells are SHA-256 outputs; a 1 KiB segment holds 32 of them.
const CELL: usize = 32;

/// SHA-256's initial state (FIPS 180-4, 5.3.3).
const SHA256_IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// Both helpers below compute plain SHA-256 of their input, bit for bit (the golden vectors come
/// from a reference using hashlib), but feed the compression function directly: the generic
/// hasher's buffering costs as much as the hashing itself for such short messages.
fn finish(state: [u32; 8]) -> Hash {
    let mut out = [0u8; 32];
    for (o, w) in out.chunks_exact_mut(4).zip(state) {
        o.copy_from_slice(&w.to_be_bytes());
    }
    out
}

/// SHA-256(cell || index as 8 little-endian bytes): a 40-byte message in one padded block.
fn sha256_cell_index(cell: &Hash, index: u64) -> Hash {
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(cell);
    block[32..40].copy_from_slice(&index.to_le_bytes());
    block[40] = 0x80;
    block[56..].copy_from_slice(&320u64.to_be_bytes());
    let mut state = SHA256_IV;
    compress256(&mut state, &[block]);
    finish(state)
}

/// SHA-256(a || b || c): a 96-byte message in two blocks, the second carrying the padding.
fn sha256_three_cells(a: &Hash, b: &Hash, c: &Hash) -> Hash {
    let mut first = [0u8; 64];
    first[..32].copy_from_slice(a);
    first[32..].copy_from_slice(b);
    let mut second = [0u8; 64];
    second[..32].copy_from_slice(c);
    second[32] = 0x80;
    second[56..].copy_from_slice(&768u64.to_be_bytes());
    let mut state = SHA256_IV;
    compress256(&mut state, &[first, second]);
    finish(state)
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
        assert_eq!(
            out.len() as u64,
            self.chunk_size,
            "buffer of the wrong size"
        );
        let n = out.len() / CELL;

        // Fill: a hash chain, so that cell j cannot be computed before cell j-1.
        let mut prev = self.chunk_seed(id);
        for (j, cell) in out.chunks_exact_mut(CELL).enumerate() {
            prev = sha256_cell_index(&prev, j as u64);
            cell.copy_from_slice(&prev);
        }

        // Mix in place. Each cell is replaced by a hash of its predecessor, a cell chosen by the
        // predecessor's value, and its own old value. Positions at or after j still hold the
        // previous pass, so dropping any part of the buffer forces recomputing earlier passes;
        // and because the old value goes into the hash (not XORed with it), a pass cannot be run
        // backwards from the values it produced (see the threat model).
        for _ in 0..self.params.passes {
            for j in 0..n {
                let p = if j == 0 { n - 1 } else { j - 1 };
                let pc = cell_at(out, p);
                let r =
                    (u64::from_le_bytes(pc[..8].try_into().expect("8 bytes")) % n as u64) as usize;
                let mixed = sha256_three_cells(&pc, &cell_at(out, r), &cell_at(out, j));
                out[j * CELL..][..CELL].copy_from_slice(&mixed);
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
