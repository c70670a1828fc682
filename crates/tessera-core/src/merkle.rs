//! SHA-256 Merkle trees over the 1 KiB segments of a chunk.
//!
//! A chunk of `2^k` segments has a perfect binary tree. Leaves and inner nodes are hashed with
//! different one-byte prefixes (0 for leaves, 1 for nodes) so that an inner node can never be
//! passed off as a segment. A challenge is answered with one segment and its `k` sibling hashes:
//! 1024 + 32·k bytes, 1344 bytes for a 1 MiB chunk.

use sha2::{Digest, Sha256};

use crate::Error;
use crate::constants::SEGMENT_SIZE;
use crate::sha256::{self, Block};

/// A SHA-256 digest: a Merkle root or node.
pub type Hash = [u8; 32];

const LEAF_PREFIX: u8 = 0;
const NODE_PREFIX: u8 = 1;

/// Checks that `chunk_size` is a power of two of at least one segment and returns its segment count.
pub fn segment_count(chunk_size: u64) -> Result<u64, Error> {
    if chunk_size < SEGMENT_SIZE as u64 || !chunk_size.is_power_of_two() {
        return Err(Error::ChunkSize(chunk_size));
    }
    Ok(chunk_size / SEGMENT_SIZE as u64)
}

fn leaf(segment: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([LEAF_PREFIX]);
    h.update(segment);
    h.finalize().into()
}

fn node(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([NODE_PREFIX]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Hashes `count` equal-length messages, as many at a time as the CPU likes
/// ([`sha256::batch_width`]): `message(i, blocks)` writes message `i`, padding included, as
/// `B` blocks.
fn hash_each<const B: usize>(count: usize, message: impl Fn(usize, &mut [Block; B])) -> Vec<Hash> {
    fn lanes<const L: usize, const B: usize>(
        first: usize,
        message: &impl Fn(usize, &mut [Block; B]),
        out: &mut Vec<Hash>,
    ) {
        let mut blocks = [[[0u8; 64]; B]; L];
        for (l, lane) in blocks.iter_mut().enumerate() {
            message(first + l, lane);
        }
        let mut states = [sha256::IV; L];
        sha256::compress(&mut states, blocks.each_ref().map(|b| &b[..]));
        out.extend(states.iter().map(sha256::digest));
    }
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let first = out.len();
        match sha256::batch_width(count - first) {
            1 => lanes::<1, B>(first, &message, &mut out),
            2 => lanes::<2, B>(first, &message, &mut out),
            3 => lanes::<3, B>(first, &message, &mut out),
            4 => lanes::<4, B>(first, &message, &mut out),
            _ => lanes::<16, B>(first, &message, &mut out),
        }
    }
    out
}

/// Writes SHA-256's padding for a `len`-byte message whose last `len % 64` bytes (fewer than 56)
/// are already at the start of `last`.
fn pad(last: &mut Block, len: usize) {
    last[len % 64] = 0x80;
    last[56..].copy_from_slice(&(len as u64 * 8).to_be_bytes());
}

/// The leaf message, the prefix byte and a 1 KiB segment, is 1025 bytes: 17 blocks with padding.
const LEAF_BLOCKS: usize = (1 + SEGMENT_SIZE + 9).div_ceil(64);

fn leaves(chunk: &[u8]) -> Result<Vec<Hash>, Error> {
    let count = segment_count(chunk.len() as u64)? as usize;
    Ok(hash_each::<LEAF_BLOCKS>(count, |i, blocks| {
        let segment = &chunk[i * SEGMENT_SIZE..][..SEGMENT_SIZE];
        let bytes = blocks.as_flattened_mut();
        bytes[0] = LEAF_PREFIX;
        bytes[1..=SEGMENT_SIZE].copy_from_slice(segment);
        pad(&mut blocks[LEAF_BLOCKS - 1], 1 + SEGMENT_SIZE);
    }))
}

/// The level above `level`: the prefix byte and two child hashes, 65 bytes, two blocks each.
fn parents(level: &[Hash]) -> Vec<Hash> {
    hash_each::<2>(level.len() / 2, |i, blocks| {
        let bytes = blocks.as_flattened_mut();
        bytes[0] = NODE_PREFIX;
        bytes[1..33].copy_from_slice(&level[2 * i]);
        bytes[33..65].copy_from_slice(&level[2 * i + 1]);
        pad(&mut blocks[1], 65);
    })
}

/// The Merkle root of a whole chunk.
pub fn root(chunk: &[u8]) -> Result<Hash, Error> {
    let mut level = leaves(chunk)?;
    while level.len() > 1 {
        level = parents(&level);
    }
    Ok(level[0])
}

/// The proof that one segment belongs to a chunk: its index and sibling hashes, leaf level first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proof {
    pub index: u64,
    pub path: Vec<Hash>,
}

/// Builds the proof for segment `index` of `chunk`; the segment itself is `chunk[index * 1024..][..1024]`.
pub fn prove(chunk: &[u8], index: u64) -> Result<Proof, Error> {
    let segments = segment_count(chunk.len() as u64)?;
    if index >= segments {
        return Err(Error::SegmentIndex { index, segments });
    }
    let mut level = leaves(chunk)?;
    let mut path = Vec::new();
    let mut at = index as usize;
    while level.len() > 1 {
        path.push(level[at ^ 1]);
        level = parents(&level);
        at /= 2;
    }
    Ok(Proof { index, path })
}

/// Checks `segment` against `root` with `proof` for a chunk of `chunk_size` bytes.
///
/// The tree depth comes from the chunk size the verifier expects, never from the proof, so a
/// short or long path is rejected rather than reinterpreted.
pub fn verify(root: &Hash, chunk_size: u64, segment: &[u8], proof: &Proof) -> bool {
    root_of(chunk_size, segment, proof).is_some_and(|r| &r == root)
}

/// The root that `segment` and `proof` hash up to in a chunk of `chunk_size` bytes, or `None`
/// when the segment, the index or the path's length does not fit that chunk size.
pub fn root_of(chunk_size: u64, segment: &[u8], proof: &Proof) -> Option<Hash> {
    let segments = segment_count(chunk_size).ok()?;
    if segment.len() != SEGMENT_SIZE
        || proof.index >= segments
        || proof.path.len() != segments.trailing_zeros() as usize
    {
        return None;
    }
    Some(fold(leaf(segment), proof.index, &proof.path, node))
}

/// Hashes `leaf`, at position `index`, up through the sibling hashes of `path` with `node`: the
/// walk every Merkle path of Tessera takes, whichever tree's node hash it uses.
pub(crate) fn fold(leaf: Hash, index: u64, path: &[Hash], node: fn(&Hash, &Hash) -> Hash) -> Hash {
    let mut acc = leaf;
    let mut at = index;
    for sibling in path {
        acc = if at & 1 == 0 {
            node(&acc, sibling)
        } else {
            node(sibling, &acc)
        };
        at >>= 1;
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(size: usize) -> Vec<u8> {
        (0..size).map(|i| (i * 7 + i / 1024) as u8).collect()
    }

    #[test]
    fn every_segment_proves_and_tampering_fails() {
        for size in [1024usize, 2048, 8192, 65536] {
            let chunk = sample(size);
            let r = root(&chunk).unwrap();
            let segments = (size / SEGMENT_SIZE) as u64;
            for index in 0..segments {
                let proof = prove(&chunk, index).unwrap();
                let seg = &chunk[index as usize * SEGMENT_SIZE..][..SEGMENT_SIZE];
                assert!(
                    verify(&r, size as u64, seg, &proof),
                    "size {size} index {index}"
                );

                let mut bad_seg = seg.to_vec();
                bad_seg[index as usize % SEGMENT_SIZE] ^= 1;
                assert!(!verify(&r, size as u64, &bad_seg, &proof));

                if !proof.path.is_empty() {
                    let mut bad_path = proof.clone();
                    bad_path.path[0][0] ^= 1;
                    assert!(!verify(&r, size as u64, seg, &bad_path));
                    let mut moved = proof.clone();
                    moved.index ^= 1;
                    assert!(!verify(&r, size as u64, seg, &moved));
                    let mut short = proof.clone();
                    short.path.pop();
                    assert!(!verify(&r, size as u64, seg, &short));
                }
            }
        }
    }

    #[test]
    fn proof_size_for_one_mebibyte_is_about_1_3_kib() {
        let chunk = sample(1 << 20);
        let proof = prove(&chunk, 5).unwrap();
        assert_eq!(SEGMENT_SIZE + 32 * proof.path.len(), 1344);
    }

    #[test]
    fn bad_sizes_and_indices_are_errors() {
        assert!(matches!(root(&[0u8; 1000]), Err(Error::ChunkSize(1000))));
        assert!(matches!(root(&[0u8; 3072]), Err(Error::ChunkSize(3072))));
        assert!(matches!(
            prove(&[0u8; 2048], 2),
            Err(Error::SegmentIndex {
                index: 2,
                segments: 2
            })
        ));
        assert!(!verify(
            &[0; 32],
            1000,
            &[0u8; 1024],
            &Proof {
                index: 0,
                path: vec![]
            }
        ));
    }

    #[test]
    fn lanes_give_the_same_tree_as_one_hash_at_a_time() {
        // Every count of leaves up to 64 crosses each remainder of the lanes at each level.
        for segments in (0..=6).map(|k| 1usize << k) {
            let chunk = sample(segments * SEGMENT_SIZE);
            let mut level: Vec<Hash> = chunk.chunks_exact(SEGMENT_SIZE).map(leaf).collect();
            assert_eq!(leaves(&chunk).unwrap(), level, "{segments} leaves");
            while level.len() > 1 {
                let next: Vec<Hash> = level.chunks_exact(2).map(|p| node(&p[0], &p[1])).collect();
                assert_eq!(parents(&level), next, "level of {}", level.len());
                level = next;
            }
            assert_eq!(root(&chunk).unwrap(), level[0]);
        }
        for odd in [1usize, 3, 5, 6, 7, 9, 17, 21, 35] {
            let hashes: Vec<Hash> = (0..2 * odd).map(|i| [i as u8; 32]).collect();
            let expected: Vec<Hash> = hashes.chunks_exact(2).map(|p| node(&p[0], &p[1])).collect();
            assert_eq!(parents(&hashes), expected, "{odd} parents");
        }
    }

    #[test]
    fn golden_root() {
        // Pinned, and computed independently with Python hashlib, so that any change to the tree's
        // hashing is a deliberate protocol change.
        let r = root(&sample(4096)).unwrap();
        assert_eq!(
            hex::encode(r),
            "77c942cae00779db7882ff272d7633539696e2ea200ce8f0267a984ed08835d5"
        );
    }
}
