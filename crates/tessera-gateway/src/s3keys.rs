//! S3 access keys: made for an owner hotkey on its signed request, listed, revoked. SigV4 needs
//! a key's secret itself on the server, so it is kept sealed (ChaCha20-Poly1305 under a key
//! derived from the validator's hotkey, bound to the access key): a copy of the state file alone
//! does not give it away, and the owner is shown it once, when the key is made.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::distr::Alphanumeric;
use rand::{Rng, TryRngCore};
use tessera_core::AccountId;
use tessera_rpc::now_ms;
use tessera_storage::S3Key;

use crate::{Error, Gateway};

/// The domain the sealing key is derived in from the validator's secret key.
const SEAL_DOMAIN: &[u8] = b"tessera/s3-secret-seal/v1";

/// Keys one owner may hold at once: enough for every machine and tool, few enough that nobody
/// fills the state file with them.
pub const MAX_KEYS_PER_OWNER: usize = 100;

/// The alphabet of access key ids after their `TSR` prefix: AWS's own ids are 20 upper-case
/// letters and digits, and some tools check that shape.
const ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// A key as its owner sees it; `secret` only in the answer that made it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessKey {
    pub access_key: String,
    pub secret: Option<String>,
    pub created_ms: u64,
    pub revoked_ms: Option<u64>,
}

impl Gateway {
    /// A new key for `owner`: its id and secret, the secret stored only sealed.
    pub async fn create_s3_key(&self, owner: &AccountId) -> Result<AccessKey, Error> {
        let live = self
            .state
            .s3_keys_of(owner)
            .await?
            .iter()
            .filter(|k| k.revoked_ms.is_none())
            .count();
        if live >= MAX_KEYS_PER_OWNER {
            return Err(Error::Quota(format!(
                "hotkey {owner} holds {live} S3 keys, the most one owner may; revoke one first"
            )));
        }
        // Secrets and ids from the operating system's randomness, never a seedable generator.
        let mut rng = rand::rngs::OsRng.unwrap_err();
        let secret: String = (0..40).map(|_| rng.sample(Alphanumeric) as char).collect();
        let now = now_ms();
        // Ids are random, so a clash is all but impossible; the primary key refuses one anyway,
        // and a revoked id is never reused because revoked keys stay in the table.
        for _ in 0..4 {
            let id: String = "TSR"
                .chars()
                .chain((0..17).map(|_| ID_ALPHABET[rng.random_range(0..32)] as char))
                .collect();
            let sealed = self.seal_secret(&id, &secret)?;
            if self.state.create_s3_key(&id, owner, &sealed, now).await? {
                tracing::info!(%owner, access_key = %id, "s3 key created");
                return Ok(AccessKey {
                    access_key: id,
                    secret: Some(secret),
                    created_ms: now,
                    revoked_ms: None,
                });
            }
        }
        Err(Error::Internal(
            "four random access key ids were all taken".into(),
        ))
    }

    /// `owner`'s keys, revoked ones too, without their secrets.
    pub async fn s3_keys(&self, owner: &AccountId) -> Result<Vec<AccessKey>, Error> {
        Ok(self
            .state
            .s3_keys_of(owner)
            .await?
            .into_iter()
            .map(|k| AccessKey {
                access_key: k.access_key,
                secret: None,
                created_ms: k.created_ms,
                revoked_ms: k.revoked_ms,
            })
            .collect())
    }

    /// Revokes `owner`'s key `access_key` now; another owner's key is "not found", as another
    /// owner's object is.
    pub async fn revoke_s3_key(&self, owner: &AccountId, access_key: &str) -> Result<(), Error> {
        if self
            .state
            .revoke_s3_key(access_key, owner, now_ms())
            .await?
        {
            tracing::info!(%owner, access_key, "s3 key revoked");
            return Ok(());
        }
        Err(Error::NotFound(format!(
            "no S3 key {access_key} of hotkey {owner} that is not revoked already"
        )))
    }

    /// The owner and secret of a key that is not revoked, for checking a SigV4 signature.
    pub async fn s3_secret(&self, access_key: &str) -> Result<Option<(AccountId, String)>, Error> {
        let Some(key) = self.state.s3_key(access_key).await? else {
            return Ok(None);
        };
        if key.revoked_ms.is_some() {
            return Ok(None);
        }
        let secret = self.open_secret(&key)?;
        Ok(Some((key.owner, secret)))
    }

    /// The key secrets are sealed under, derived from the validator's hotkey.
    fn seal_key(&self) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(self.keypair.derive_secret(SEAL_DOMAIN, b""))
    }

    fn seal_secret(&self, access_key: &str, secret: &str) -> Result<Vec<u8>, Error> {
        seal(&self.seal_key(), access_key, secret)
            .ok_or_else(|| Error::Internal("sealing an S3 secret failed".into()))
    }

    fn open_secret(&self, key: &S3Key) -> Result<String, Error> {
        open(&self.seal_key(), &key.access_key, &key.sealed_secret).ok_or_else(|| {
            Error::Internal(format!(
                "the sealed secret of S3 key {} does not open: another validator's state file, or a corrupted row",
                key.access_key
            ))
        })
    }
}

/// A fresh nonce, then `secret` sealed with `access_key` as associated data, so that a sealed
/// secret moved to another key's row does not open.
fn seal(key: &[u8; 32], access_key: &str, secret: &str) -> Option<Vec<u8>> {
    let nonce: [u8; 12] = rand::random();
    let sealed = ChaCha20Poly1305::new(Key::from_slice(key))
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: secret.as_bytes(),
                aad: access_key.as_bytes(),
            },
        )
        .ok()?;
    Some(nonce.iter().copied().chain(sealed).collect())
}

/// The secret `seal` sealed for `access_key`, or `None` for anything else.
fn open(key: &[u8; 32], access_key: &str, sealed: &[u8]) -> Option<String> {
    if sealed.len() < 12 {
        return None;
    }
    let (nonce, sealed) = sealed.split_at(12);
    let plain = ChaCha20Poly1305::new(Key::from_slice(key))
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: sealed,
                aad: access_key.as_bytes(),
            },
        )
        .ok()?;
    String::from_utf8(plain).ok()
}

#[cfg(test)]
mod tests {
    use super::{open, seal};

    #[test]
    fn a_sealed_secret_opens_only_for_its_key_and_validator() {
        let (key, other) = ([1u8; 32], [2u8; 32]);
        let sealed = seal(&key, "TSRAAAAAAAAAAAAAAAAA", "s3cret").unwrap();
        assert!(
            !sealed.windows(6).any(|w| w == b"s3cret"),
            "sealed in the clear"
        );
        assert_eq!(
            open(&key, "TSRAAAAAAAAAAAAAAAAA", &sealed).as_deref(),
            Some("s3cret")
        );
        // Another validator, another key's row, a flipped bit or a stub: nothing opens.
        assert_eq!(open(&other, "TSRAAAAAAAAAAAAAAAAA", &sealed), None);
        assert_eq!(open(&key, "TSRBBBBBBBBBBBBBBBBB", &sealed), None);
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(open(&key, "TSRAAAAAAAAAAAAAAAAA", &flipped), None);
        assert_eq!(open(&key, "TSRAAAAAAAAAAAAAAAAA", &sealed[..11]), None);
        // Every seal takes a fresh nonce.
        assert_ne!(
            seal(&key, "TSRAAAAAAAAAAAAAAAAA", "s3cret").unwrap(),
            sealed
        );
    }
}
