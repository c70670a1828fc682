//! Bittensor wallet files: loading hotkeys operators already have, and writing new ones.
//!
//! A hotkey lives at `<path>/<name>/hotkeys/<hotkey>` as the JSON keyfile that btcli and the
//! `bittensor-wallet` package write. Tessera reads only unencrypted keyfiles, which is how btcli
//! writes hotkeys by default, and checks that every key field in the file names the same key.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::identity::decode_hex32;
use crate::{AccountId, Error, Keypair};

/// The `cryptoType` that `bittensor-wallet` writes for sr25519 keys.
const CRYPTO_TYPE_SR25519: u64 = 1;

/// Prefixes of encrypted keyfiles in `bittensor-wallet`, with the method each stands for.
/// `gAAAAA` begins a Fernet token, the legacy encryption of old Bittensor releases.
const ENCRYPTION_MARKERS: &[(&str, &str)] = &[
    ("$NACL", "NaCl"),
    ("$ANSIBLE_VAULT", "Ansible Vault"),
    ("$BTWALLET", "bittensor wallet"),
    ("gAAAAA", "legacy Fernet"),
];

/// Where to find one hotkey: a wallet directory, a wallet name and a hotkey name, as in btcli's
/// `--wallet.path`, `--wallet.name` and `--wallet.hotkey`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wallet {
    pub path: PathBuf,
    pub name: String,
    pub hotkey: String,
}

impl Wallet {
    /// A wallet under `path` (a leading `~` is expanded), refusing names that would escape it.
    pub fn new(path: impl Into<PathBuf>, name: &str, hotkey: &str) -> Result<Self, Error> {
        let wallet = Self {
            path: expand_tilde(&path.into()),
            name: name.to_owned(),
            hotkey: hotkey.to_owned(),
        };
        wallet.validate()?;
        Ok(wallet)
    }

    /// Bittensor's default wallet directory, `~/.bittensor/wallets`, with `~` expanded.
    pub fn default_path() -> PathBuf {
        expand_tilde(Path::new("~/.bittensor/wallets"))
    }

    /// The keyfile of the hotkey: `<path>/<name>/hotkeys/<hotkey>`.
    pub fn hotkey_path(&self) -> PathBuf {
        self.path
            .join(&self.name)
            .join("hotkeys")
            .join(&self.hotkey)
    }

    /// Loads the hotkey, checking that the file's secret and public fields agree.
    pub fn load_hotkey(&self) -> Result<Keypair, Error> {
        self.validate()?;
        let path = self.hotkey_path();
        read_keyfile(&path).map_err(|reason| Error::Wallet { path, reason })
    }

    /// Writes `keypair` as this wallet's hotkey in Bittensor's format and returns the file's path.
    ///
    /// The file is written whole or not at all (a temporary file in the same directory is renamed
    /// into place), readable only by its owner, and an existing hotkey is replaced only when
    /// `overwrite` is set.
    pub fn create_hotkey(&self, keypair: &Keypair, overwrite: bool) -> Result<PathBuf, Error> {
        self.validate()?;
        let path = self.hotkey_path();
        match keyfile_json(keypair).and_then(|contents| write_new_file(&path, &contents, overwrite))
        {
            Ok(()) => Ok(path),
            Err(reason) => Err(Error::Wallet { path, reason }),
        }
    }

    /// Refuses empty names and names that would lead outside the wallet directory.
    fn validate(&self) -> Result<(), Error> {
        check_name("wallet name", &self.name)?;
        check_name("hotkey name", &self.hotkey)
    }
}

fn check_name(what: &'static str, value: &str) -> Result<(), Error> {
    let reason = if value.is_empty() {
        "it is empty"
    } else if value.contains(['/', '\\']) {
        "it contains a path separator"
    } else if value == "." || value == ".." {
        "it names a directory"
    } else if value.contains('\0') {
        "it contains a nul character"
    } else {
        return Ok(());
    };
    Err(Error::WalletName {
        what,
        value: value.to_owned(),
        reason,
    })
}

/// Replaces a leading `~` component with `$HOME`, as a shell would; other paths, and every path
/// when `HOME` is unset, are returned unchanged.
pub fn expand_tilde(path: &Path) -> PathBuf {
    match (path.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => {
            let home = PathBuf::from(home);
            if rest.as_os_str().is_empty() {
                home
            } else {
                home.join(rest)
            }
        }
        _ => path.to_owned(),
    }
}

/// Reads and checks one keyfile; the error is the reason, to be paired with the path.
fn read_keyfile(path: &Path) -> Result<Keypair, String> {
    let bytes = Zeroizing::new(fs::read(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => {
            "does not exist (create it with `btcli wallet new_hotkey`)".to_owned()
        }
        _ => format!("cannot be read: {e}"),
    })?);
    let start = bytes.trim_ascii_start();
    if let Some((_, method)) = ENCRYPTION_MARKERS
        .iter()
        .find(|(marker, _)| start.starts_with(marker.as_bytes()))
    {
        return Err(format!(
            "is encrypted ({method}); tessera reads only unencrypted hotkeys, which btcli writes \
             by default"
        ));
    }
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| format!("is not a bittensor keyfile: invalid json: {e}"))?;
    let Value::Object(mut fields) = value else {
        return Err("is not a bittensor keyfile: the json is not an object".to_owned());
    };
    keypair_from_fields(&mut fields)
}

/// Builds the keypair from a keyfile's fields, preferring `secretSeed` to `privateKey`, and
/// checks it against every other key field present.
fn keypair_from_fields(fields: &mut Map<String, Value>) -> Result<Keypair, String> {
    // The secret fields are taken out of the map so that their text is wiped when dropped.
    let secret_seed = take_string(fields, "secretSeed")?;
    let private_key = take_string(fields, "privateKey")?;
    let secret_phrase = take_string(fields, "secretPhrase")?;

    match fields.get("cryptoType") {
        None | Some(Value::Null) => {}
        Some(Value::Number(n)) if n.as_u64() == Some(CRYPTO_TYPE_SR25519) => {}
        Some(other) => {
            return Err(format!(
                "cryptoType {other} is not sr25519 ({CRYPTO_TYPE_SR25519}): a hotkey must be sr25519"
            ));
        }
    }

    let from_private = match &private_key {
        Some(text) => Some(keypair_from_private_key(text)?),
        None => None,
    };
    let (keypair, source) = match (&secret_seed, from_private) {
        (Some(text), from_private) => {
            let seed = Zeroizing::new(
                decode_hex32(text)
                    .map_err(|_| "secretSeed is not 0x-prefixed hex of 32 bytes".to_owned())?,
            );
            let keypair = Keypair::from_seed(&seed).map_err(|e| format!("secretSeed: {e}"))?;
            if let Some(other) = from_private
                && other.schnorrkel().secret.to_bytes() != keypair.schnorrkel().secret.to_bytes()
            {
                return Err("privateKey does not match secretSeed".to_owned());
            }
            (keypair, "secretSeed")
        }
        (None, Some(keypair)) => (keypair, "privateKey"),
        (None, None) if secret_phrase.is_some() => {
            return Err(
                "holds only a secretPhrase, and tessera does not derive keys from \
                        mnemonics: regenerate the hotkey with btcli so that it has a secretSeed"
                    .to_owned(),
            );
        }
        (None, None) => {
            return Err("holds no secretSeed or privateKey: it is a public key only".to_owned());
        }
    };

    let account = keypair.account();
    for field in ["publicKey", "accountId", "ss58Address"] {
        let Some(text) = string_field(fields, field)? else {
            continue;
        };
        let stated = if field == "ss58Address" {
            AccountId::from_ss58(text)
        } else {
            AccountId::from_hex(text)
        }
        .map_err(|e| format!("{field}: {e}"))?;
        if stated != account {
            return Err(format!(
                "{field} {text} does not match the key derived from {source} ({})",
                account.to_ss58()
            ));
        }
    }
    Ok(keypair)
}

/// A 64-byte `privateKey` in the layout Bittensor writes: schnorrkel's `SecretKey::to_bytes`,
/// the canonical scalar followed by the nonce.
fn keypair_from_private_key(text: &str) -> Result<Keypair, String> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    let bytes = Zeroizing::new(
        hex::decode(digits)
            .ok()
            .filter(|bytes| bytes.len() == 64)
            .ok_or_else(|| "privateKey is not 0x-prefixed hex of 64 bytes".to_owned())?,
    );
    let secret = schnorrkel::SecretKey::from_bytes(&bytes)
        .map_err(|_| "privateKey is not a valid sr25519 secret key".to_owned())?;
    Ok(Keypair::from_schnorrkel(secret.to_keypair(), None))
}

/// A string field, `None` when missing or null (Bittensor writes `"secretPhrase": null`).
fn string_field<'a>(fields: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, String> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(format!("{name} is not a string")),
    }
}

/// Like [`string_field`], but moves a secret field out so that it is wiped when dropped.
fn take_string(
    fields: &mut Map<String, Value>,
    name: &str,
) -> Result<Option<Zeroizing<String>>, String> {
    match fields.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(Zeroizing::new(text))),
        Some(_) => Err(format!("{name} is not a string")),
    }
}

/// The keyfile JSON, with the fields in the order older Bittensor releases wrote them. The
/// secret phrase is null: tessera never sees one, and Bittensor reads null as absent.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct KeyfileJson<'a> {
    account_id: &'a str,
    public_key: &'a str,
    private_key: &'a str,
    secret_phrase: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_seed: Option<&'a str>,
    ss58_address: &'a str,
    crypto_type: u64,
}

fn keyfile_json(keypair: &Keypair) -> Result<Zeroizing<Vec<u8>>, String> {
    let account = keypair.account();
    let public = account.to_hex();
    let private = Zeroizing::new(format!(
        "0x{}",
        hex::encode(keypair.schnorrkel().secret.to_bytes())
    ));
    let seed = keypair
        .seed()
        .map(|seed| Zeroizing::new(format!("0x{}", hex::encode(seed))));
    let json = KeyfileJson {
        account_id: &public,
        public_key: &public,
        private_key: &private,
        secret_phrase: None,
        secret_seed: seed.as_ref().map(|seed| seed.as_str()),
        ss58_address: &account.to_ss58(),
        crypto_type: CRYPTO_TYPE_SR25519,
    };
    serde_json::to_vec(&json)
        .map(Zeroizing::new)
        .map_err(|e| format!("cannot serialise the keyfile: {e}"))
}

/// Writes `contents` to `path` atomically with mode 0600, creating parent directories.
fn write_new_file(path: &Path, contents: &[u8], overwrite: bool) -> Result<(), String> {
    let (Some(dir), Some(file_name)) = (path.parent(), path.file_name()) else {
        return Err("has no parent directory".to_owned());
    };
    if !overwrite && path.exists() {
        return Err(already_exists());
    }
    create_private_dirs(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;

    let (temp, mut file) = TempFile::create(dir, file_name)
        .map_err(|e| format!("cannot create a temporary file in {}: {e}", dir.display()))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", temp.path.display()))?;
    drop(file);
    if overwrite {
        fs::rename(&temp.path, path)
            .map_err(|e| format!("cannot move the new file into place: {e}"))?;
    } else {
        // A hard link, unlike a rename, fails when the target exists, so a hotkey created
        // meanwhile by someone else is never clobbered.
        match fs::hard_link(&temp.path, path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(already_exists()),
            // Some file systems have no hard links; the check above then has to do.
            Err(_) if !path.exists() => fs::rename(&temp.path, path)
                .map_err(|e| format!("cannot move the new file into place: {e}"))?,
            Err(_) => return Err(already_exists()),
        }
    }
    drop(temp);
    // The rename is durable only once the directory entry is on disk; failing to sync a
    // directory (which some platforms do not allow) does not undo the write.
    if let Ok(dir) = fs::File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

fn already_exists() -> String {
    "already exists; refusing to overwrite it".to_owned()
}

/// Creates missing directories readable only by their owner, as a wallet directory should be.
fn create_private_dirs(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// A temporary file beside the target, removed on drop unless it was renamed away.
struct TempFile {
    path: PathBuf,
}

impl TempFile {
    fn create(dir: &Path, target: &std::ffi::OsStr) -> io::Result<(Self, fs::File)> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let mut name = std::ffi::OsString::from(".");
        name.push(target);
        name.push(format!(
            ".tmp-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let path = dir.join(name);
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&path)?;
        Ok((Self { path }, file))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        // After a rename the file is gone and this fails harmlessly; after a hard link it
        // removes the temporary name and leaves the target.
        let _ = fs::remove_file(&self.path);
    }
}
