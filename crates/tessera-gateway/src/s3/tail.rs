//! Part tails: the few last bytes of a part that would otherwise take a segment of their own,
//! kept sealed in the state file beside the part instead.
//!
//! A segment carries `k × piece_size` bytes less its framing (a length and an AEAD tag), so a
//! part of exactly `m × k × piece_size` bytes, the sizes aws-cli, boto3 and rclone cut, needs
//! `m` segments and a few bytes: `m` framings' worth. Sealing those few bytes as one more
//! segment costs a whole segment of slots, sealing, upload and miner work (a quarter more for
//! an 8 MiB part under k = 2 and 1 MiB pieces). So when the spill is no more than the framing
//! of the part's full segments, it is held back from the object and kept in the part's row.
//! That bounds what the state file holds to the framing the part saved, about 20 bytes per
//! segment.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use tessera_core::{AccountId, Keypair};
use tessera_object::{ObjectId, Params};

use crate::Error;

/// The domain tails' keys are derived in from the validator's secret key: apart from the
/// objects' keys, so that no (key, nonce) pair of a segment is ever a tail's.
const TAIL_DOMAIN: &[u8] = b"tessera/s3-part-tail/v1";

/// Poly1305's tag, which a sealed tail carries after its bytes.
const TAG_BYTES: usize = 16;

/// Bytes of a `size`-byte part kept as its tail rather than sealed into its object: the spill
/// past its full segments when that is no more than their framing, else none.
pub(crate) fn held_back(params: &Params, size: u64) -> u64 {
    let capacity = params.segment_capacity() as u64;
    let raw = u64::from(params.k) * params.piece_size;
    let full = size / capacity;
    let spill = size % capacity;
    if full > 0 && spill <= full * (raw - capacity) {
        spill
    } else {
        0
    }
}

/// Plaintext bytes of a sealed tail of `sealed` bytes (0 for none).
pub(crate) fn plain_len(sealed: usize) -> u64 {
    sealed.saturating_sub(TAG_BYTES) as u64
}

/// The cipher of the tail of `owner`'s object `id`, under a key derived from the validator's.
/// Each object id is random and gets one tail, sealed once, so the nonce can be fixed.
fn cipher(keypair: &Keypair, owner: &AccountId, id: &ObjectId) -> ChaCha20Poly1305 {
    let mut context = [0u8; 48];
    context[..32].copy_from_slice(owner.as_bytes());
    context[32..].copy_from_slice(&id.0);
    let key = zeroize::Zeroizing::new(keypair.derive_secret(TAIL_DOMAIN, &context));
    ChaCha20Poly1305::new(Key::from_slice(&key[..]))
}

/// `plain` sealed as the tail of `owner`'s object `id`; nothing for an empty tail.
pub(super) fn seal(
    keypair: &Keypair,
    owner: &AccountId,
    id: &ObjectId,
    plain: &[u8],
) -> Result<Vec<u8>, Error> {
    if plain.is_empty() {
        return Ok(Vec::new());
    }
    cipher(keypair, owner, id)
        .encrypt(
            &Nonce::default(),
            Payload {
                msg: plain,
                aad: &id.0,
            },
        )
        .map_err(|_| Error::Internal(format!("object {id}'s tail could not be sealed")))
}

/// The bytes of a tail [`seal`] sealed for `owner`'s object `id`.
pub(super) fn open(
    keypair: &Keypair,
    owner: &AccountId,
    id: &ObjectId,
    sealed: &[u8],
) -> Result<Vec<u8>, Error> {
    cipher(keypair, owner, id)
        .decrypt(
            &Nonce::default(),
            Payload {
                msg: sealed,
                aad: &id.0,
            },
        )
        .map_err(|_| {
            Error::Internal(format!(
                "the tail of object {id} does not open: another validator's state file, or a corrupted row"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_object::segment_count;

    /// For a `size`-byte part: the bytes held back, and segments of the object with and
    /// without holding them back.
    fn check(params: &Params, size: u64) -> (u64, u64, u64) {
        let held = held_back(params, size);
        let object = size - held;
        let raw = u64::from(params.k) * params.piece_size;
        let overhead = raw - params.segment_capacity() as u64;
        let segments = segment_count(params, object);
        // Never more than the framing of the segments the object has; only ever a saving.
        assert!(held <= segments * overhead, "{size}: held {held}");
        assert!(segments <= segment_count(params, size), "{size}");
        if held > 0 {
            // Held back only when the part fits its full segments' raw bytes, and then the
            // object is exactly those.
            assert!(size <= segments * raw, "{size}");
            assert_eq!(object, segments * params.segment_capacity() as u64);
        }
        (held, segments, segment_count(params, size))
    }

    #[test]
    fn parts_cut_at_raw_segment_multiples_lose_their_spill_segment() {
        let mib = 1 << 20;
        let p = Params::new(2, 3, mib).unwrap();
        // aws-cli's and boto3's 8 MiB parts: 4 segments, not 5, and 80 bytes kept here.
        assert_eq!(check(&p, 8 * mib), (80, 4, 5));
        // rclone's 5 MiB parts spill half a segment: nothing is held back.
        assert_eq!(check(&p, 5 * mib), (0, 3, 3));
        // Smaller than a segment, or filling it exactly: nothing to gain.
        assert_eq!(check(&p, mib), (0, 1, 1));
        let capacity = p.segment_capacity() as u64;
        assert_eq!(check(&p, capacity), (0, 1, 1));
        assert_eq!(check(&p, capacity + 20), (20, 1, 2));
        assert_eq!(check(&p, capacity + 21), (0, 2, 2));
        // The default k = 4, and S3's largest part.
        let p4 = Params::new(4, 8, mib).unwrap();
        assert_eq!(check(&p4, 8 * mib), (40, 2, 3));
        assert_eq!(check(&p4, 5 << 30), (25_600, 1280, 1281));
        for size in (0..3 * capacity).step_by(9_973).chain(0..100) {
            check(&p, size);
        }
    }

    #[test]
    fn tails_open_only_for_their_own_object() {
        let validator = Keypair::from_uri("//Alice").unwrap();
        let other = Keypair::from_uri("//Bob").unwrap();
        let owner = AccountId([7; 32]);
        let (a, b) = (ObjectId([1; 16]), ObjectId([2; 16]));
        let sealed = seal(&validator, &owner, &a, b"last bytes").unwrap();
        assert_eq!(plain_len(sealed.len()), 10);
        assert_eq!(
            open(&validator, &owner, &a, &sealed).unwrap(),
            b"last bytes"
        );
        // Another object's, another owner's or another validator's key does not open it.
        assert!(open(&validator, &owner, &b, &sealed).is_err());
        assert!(open(&validator, &AccountId([8; 32]), &a, &sealed).is_err());
        assert!(open(&other, &owner, &a, &sealed).is_err());
        let mut bent = sealed.clone();
        bent[0] ^= 1;
        assert!(open(&validator, &owner, &a, &bent).is_err());
        assert!(seal(&validator, &owner, &a, b"").unwrap().is_empty());
    }
}
