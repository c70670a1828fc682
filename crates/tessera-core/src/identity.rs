//! sr25519 identities compatible with Bittensor: SS58 addresses, keypairs and signatures.
//!
//! A node is a hotkey. Its public key, written as an SS58 address with prefix 42, names it on the
//! chain and in file names; signatures use the `substrate` signing context so that they verify in
//! Bittensor's own `Keypair.verify` and the other way round.

use std::fmt;
use std::str::FromStr;

use blake2::{Blake2b256, Blake2b512, Digest};
use schnorrkel::derive::{ChainCode, Derivation};
use schnorrkel::{ExpansionMode, MiniSecretKey};

use crate::Error;
use crate::constants::{SIGNING_CONTEXT, SS58_PREFIX};

/// A 32-byte sr25519 public key: the identity of a neuron.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccountId(pub [u8; 32]);

impl AccountId {
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The SS58 address with the generic Substrate prefix 42.
    pub fn to_ss58(&self) -> String {
        let mut body = Vec::with_capacity(35);
        body.push(SS58_PREFIX);
        body.extend_from_slice(&self.0);
        let checksum = ss58_checksum(&body);
        body.extend_from_slice(&checksum[..2]);
        bs58::encode(body).into_string()
    }

    /// Parses an SS58 address, checking its prefix and its blake2b checksum.
    pub fn from_ss58(value: &str) -> Result<Self, Error> {
        let bad = |reason: &str| Error::InvalidAddress {
            value: value.to_owned(),
            reason: reason.to_owned(),
        };
        let raw = bs58::decode(value)
            .into_vec()
            .map_err(|_| bad("not base58"))?;
        // One prefix byte (prefixes below 64), 32 key bytes and a two-byte checksum.
        if raw.len() != 35 {
            return Err(bad("wrong length for a 32-byte account"));
        }
        if raw[0] != SS58_PREFIX {
            return Err(bad(&format!(
                "prefix {} is not the generic substrate prefix {SS58_PREFIX}",
                raw[0]
            )));
        }
        let checksum = ss58_checksum(&raw[..33]);
        if raw[33..] != checksum[..2] {
            return Err(bad("checksum mismatch"));
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(&raw[1..33]);
        Ok(Self(key))
    }

    /// Parses a `0x`-prefixed (or bare) 64-digit hex public key.
    pub fn from_hex(value: &str) -> Result<Self, Error> {
        Ok(Self(decode_hex32(value)?))
    }

    /// The public key as `0x`-prefixed lower-case hex, as wallet files write it.
    pub fn to_hex(&self) -> String {
        format!("0x{}", hex::encode(self.0))
    }

    /// Checks an sr25519 signature by this account over `message` in the `substrate` context.
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), Error> {
        let public = schnorrkel::PublicKey::from_bytes(&self.0)
            .map_err(|e| Error::Signature(format!("public key {}: {e}", self.to_ss58())))?;
        let sig = schnorrkel::Signature::from_bytes(&signature.0)
            .map_err(|e| Error::Signature(e.to_string()))?;
        public
            .verify_simple(SIGNING_CONTEXT, message, &sig)
            .map_err(|_| Error::Signature(format!("does not verify for {}", self.to_ss58())))
    }
}

fn ss58_checksum(body: &[u8]) -> [u8; 64] {
    let mut hasher = Blake2b512::new();
    hasher.update(b"SS58PRE");
    hasher.update(body);
    hasher.finalize().into()
}

pub(crate) fn decode_hex32(value: &str) -> Result<[u8; 32], Error> {
    let digits = value.strip_prefix("0x").unwrap_or(value);
    let bytes = hex::decode(digits).map_err(|e| Error::InvalidKey {
        value: value.to_owned(),
        reason: e.to_string(),
    })?;
    bytes.try_into().map_err(|b: Vec<u8>| Error::InvalidKey {
        value: value.to_owned(),
        reason: format!("{} bytes where 32 were expected", b.len()),
    })
}

/// The mini secret key of Substrate's development phrase "bottom drive obey lake curtain smoke
/// basket hold race lonely fit walk", the root of `//Alice` and the other development accounts.
/// It is the first half of the phrase's BIP-39 seed, stored so that no BIP-39 code is needed.
const DEV_PHRASE_SEED: [u8; 32] = [
    0xfa, 0xc7, 0x95, 0x9d, 0xbf, 0xe7, 0x2f, 0x05, 0x2e, 0x5a, 0x0c, 0x3c, 0x8d, 0x65, 0x30, 0xf2,
    0x02, 0xb0, 0x2f, 0xd8, 0xf9, 0xf5, 0xca, 0x35, 0x80, 0xec, 0x8d, 0xeb, 0x77, 0x97, 0x47, 0x9e,
];

/// The chain code of one junction, as Substrate's `DeriveJunction` computes it: the SCALE
/// encoding of the junction (a `u64` if it parses as one, else a string), zero-padded to 32
/// bytes, or its blake2b-256 hash when the encoding is longer than that.
fn junction_chain_code(name: &str) -> [u8; 32] {
    let encoded = match name.parse::<u64>() {
        Ok(index) => index.to_le_bytes().to_vec(),
        Err(_) => {
            let mut encoded = scale_compact(name.len() as u64);
            encoded.extend_from_slice(name.as_bytes());
            encoded
        }
    };
    let mut code = [0u8; 32];
    if encoded.len() > code.len() {
        code = Blake2b256::digest(&encoded).into();
    } else {
        code[..encoded.len()].copy_from_slice(&encoded);
    }
    code
}

/// SCALE's compact encoding of a length, the prefix of an encoded string.
fn scale_compact(n: u64) -> Vec<u8> {
    match n {
        0..0x40 => vec![(n as u8) << 2],
        0x40..0x4000 => ((n as u16) << 2 | 0b01).to_le_bytes().to_vec(),
        0x4000..0x4000_0000 => ((n as u32) << 2 | 0b10).to_le_bytes().to_vec(),
        _ => {
            // Big-integer mode: a byte giving the number of little-endian bytes that follow, less 4.
            let bytes = n.to_le_bytes();
            let len = bytes.len() - bytes.iter().rev().take_while(|&&b| b == 0).count();
            let mut encoded = vec![((len as u8 - 4) << 2) | 0b11];
            encoded.extend_from_slice(&bytes[..len]);
            encoded
        }
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_ss58())
    }
}

impl fmt::Debug for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountId({})", self.to_ss58())
    }
}

impl FromStr for AccountId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::from_ss58(s)
    }
}

impl serde::Serialize for AccountId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_ss58())
    }
}

impl<'de> serde::Deserialize<'de> for AccountId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::from_ss58(&text).map_err(serde::de::Error::custom)
    }
}

/// A 64-byte sr25519 signature.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(pub [u8; 64]);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature(0x{})", hex::encode(self.0))
    }
}

/// An sr25519 keypair: a hotkey that can sign.
pub struct Keypair {
    seed: Option<zeroize::Zeroizing<[u8; 32]>>,
    inner: schnorrkel::Keypair,
}

impl Keypair {
    /// Expands a 32-byte mini secret key the way Substrate does (ed25519-style expansion).
    pub fn from_seed(seed: &[u8; 32]) -> Result<Self, Error> {
        let mini = MiniSecretKey::from_bytes(seed).map_err(|e| Error::InvalidKey {
            value: "<secret seed>".to_owned(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            seed: Some(zeroize::Zeroizing::new(*seed)),
            inner: mini.expand_to_keypair(ExpansionMode::Ed25519),
        })
    }

    /// A fresh keypair from the operating system's randomness.
    pub fn generate() -> Self {
        let mini = MiniSecretKey::generate();
        let seed = mini.to_bytes();
        Self {
            seed: Some(zeroize::Zeroizing::new(seed)),
            inner: mini.expand_to_keypair(ExpansionMode::Ed25519),
        }
    }

    pub(crate) fn from_schnorrkel(inner: schnorrkel::Keypair, seed: Option<[u8; 32]>) -> Self {
        Self {
            seed: seed.map(zeroize::Zeroizing::new),
            inner,
        }
    }

    pub(crate) fn schnorrkel(&self) -> &schnorrkel::Keypair {
        &self.inner
    }

    pub(crate) fn seed(&self) -> Option<&[u8; 32]> {
        self.seed.as_deref()
    }

    /// Derives a keypair from a Substrate secret URI, as `subkey` and Bittensor's
    /// `Keypair.create_from_uri` do: an optional `0x`-hex 32-byte seed followed by `//hard` and
    /// `/soft` junctions.
    ///
    /// Without a seed the root is Substrate's well-known development phrase, so `//Alice`,
    /// `//Bob` and friends are the standard development accounts. Mnemonic phrases and `///`
    /// passwords are refused: they need BIP-39, which is out of scope for a node's hotkey.
    pub fn from_uri(uri: &str) -> Result<Self, Error> {
        let (root, path) = uri.split_at(uri.find('/').unwrap_or(uri.len()));
        // The root is secret material, so errors show only the derivation path.
        let bad = |reason: &str| Error::SecretUri {
            value: if root.is_empty() {
                path.to_owned()
            } else {
                format!("<secret>{path}")
            },
            reason: reason.to_owned(),
        };
        if path.contains("///") {
            return Err(bad("passwords (///) are not supported"));
        }
        let root_seed = if root.is_empty() {
            DEV_PHRASE_SEED
        } else if root.starts_with("0x") {
            decode_hex32(root).map_err(|_| bad("the seed is not 0x-prefixed hex of 32 bytes"))?
        } else {
            return Err(bad(
                "mnemonic phrases are not supported: use a 0x-hex seed or a //name development key",
            ));
        };
        let root_mini = MiniSecretKey::from_bytes(&root_seed).map_err(|e| bad(&e.to_string()))?;
        let mut secret = root_mini.expand(ExpansionMode::Ed25519);
        let mut seed = Some(root_mini);
        let mut rest = path;
        while !rest.is_empty() {
            let (hard, body) = match rest.strip_prefix("//") {
                Some(body) => (true, body),
                None => (false, rest.strip_prefix('/').unwrap_or(rest)),
            };
            let (name, next) = body.split_at(body.find('/').unwrap_or(body.len()));
            if name.is_empty() {
                return Err(bad("a derivation junction is empty"));
            }
            let chain_code = ChainCode(junction_chain_code(name));
            if hard {
                let (mini, _) = secret.hard_derive_mini_secret_key(Some(chain_code), b"");
                secret = mini.expand(ExpansionMode::Ed25519);
                // Like Substrate, a hard junction keeps a seed only while no soft one came before.
                seed = seed.map(|_| mini);
            } else {
                secret = secret.derived_key_simple(chain_code, b"").0;
                seed = None;
            }
            rest = next;
        }
        Ok(Self {
            seed: seed.map(|mini| zeroize::Zeroizing::new(mini.to_bytes())),
            inner: secret.to_keypair(),
        })
    }

    pub fn account(&self) -> AccountId {
        AccountId(self.inner.public.to_bytes())
    }

    /// A 32-byte secret derived from this hotkey's secret key for one purpose (`domain`) and one
    /// thing (`context`): the same inputs give the same bytes on every machine, and nobody
    /// without the secret key can compute them. Clients derive their object keys this way, so a
    /// wallet is all they need to keep.
    ///
    /// A plain SHA-256 over (domain length, domain, secret, context) rather than HKDF or
    /// `blake3::derive_key`: with a length-prefixed domain and a 32-byte uniform secret it is a
    /// sound PRF, and it is frozen. Every object a client or the HTTP face stored has its key
    /// from here, so a change of function is a protocol change: it must come with a new domain
    /// (`…/v2`), and readers must keep deriving under the old domain for objects stored
    /// under it. Golden vectors in `tests/identity.rs` fail on any change.
    pub fn derive_secret(&self, domain: &[u8], context: &[u8]) -> [u8; 32] {
        use sha2::Digest;
        let secret = zeroize::Zeroizing::new(self.inner.secret.to_bytes());
        let mut h = sha2::Sha256::new();
        h.update((domain.len() as u32).to_le_bytes());
        h.update(domain);
        h.update(&secret[..]);
        h.update(context);
        h.finalize().into()
    }

    /// Signs `message` in the `substrate` context, as Bittensor's `Keypair.sign` does.
    pub fn sign(&self, message: &[u8]) -> Signature {
        let context = schnorrkel::signing_context(SIGNING_CONTEXT);
        Signature(self.inner.sign(context.bytes(message)).to_bytes())
    }
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print secret material.
        write!(f, "Keypair({})", self.account())
    }
}
