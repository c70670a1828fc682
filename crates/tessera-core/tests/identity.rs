//! Golden vectors and Bittensor interop fixtures for SS58 addresses, secret URIs, signatures
//! and wallet keyfiles.
//!
//! The fixtures under `tests/fixtures/` were written by the Python `bittensor-wallet` package
//! (see the README there), so these tests show interop without needing Python to run.

use std::fs;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use serde_json::{Value, json};
use tessera_core::{AccountId, Error, Keypair, Signature, Wallet, expand_tilde};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

const ALICE_PUBLIC: &str = "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d";
const ALICE_SS58: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
const ALICE_SEED: &str = "0xe5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a";
const ALICE_PRIVATE: &str = "0x33a6f3093f158a7109f679410bef1a0c54168145e0cecb4df006c1c2fffb1f09925a225d97aa00682d6a59b95b18780c10d7032336e88f3442b42361f4a66011";
const BOB_SS58: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";

/// The fixture hotkey `miner`, made by `bittensor-wallet`'s `create_new_hotkey`.
const MINER_SEED: &str = "0xfd6eff1a42fbb173693d1aa5ebb153c71e92d4a8503d6d57981ed93eacfe1c50";
const MINER_PUBLIC: &str = "0x0ad2bf74ada199f6ec06cc25861f95cf135f97358e8077d041c6a3661f0a2350";
const MINER_SS58: &str = "5CJtwYTdbpSfM7Vu2krasjNPJVu77ioXivmei1qaiJLe3RS1";

fn fixture_wallet(hotkey: &str) -> Wallet {
    Wallet::new(PathBuf::from(FIXTURES).join("wallets"), "tessera", hotkey).unwrap()
}

fn hex_bytes(text: &str) -> Vec<u8> {
    hex::decode(text.trim_start_matches("0x")).unwrap()
}

fn read_json(path: &Path) -> serde_json::Map<String, Value> {
    match serde_json::from_slice(&fs::read(path).unwrap()).unwrap() {
        Value::Object(fields) => fields,
        other => panic!("{} is not an object: {other}", path.display()),
    }
}

// SS58 addresses.

/// Public keys and their prefix-42 addresses, from Substrate's development accounts and from
/// `bittensor-wallet` for the fixture key and the all-zero and all-ones keys.
const SS58_VECTORS: &[(&str, &str)] = &[
    (ALICE_PUBLIC, ALICE_SS58),
    (
        "8eaf04151687736326c9fea17e25fc5287613693c912909cb226aa4794f26a48",
        BOB_SS58,
    ),
    (MINER_PUBLIC, MINER_SS58),
    (
        "0000000000000000000000000000000000000000000000000000000000000000",
        "5C4hrfjw9DjXZTzV3MwzrrAr9P1MJhSrvWGWqi1eSuyUpnhM",
    ),
    (
        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "5HrN7fHLXWcFiXPwwtq2EkSGns9eMt5P7SpeTPewumZy6ftb",
    ),
];

fn check_ss58(public: &str, address: &str) {
    let account = AccountId::from_hex(public).unwrap();
    assert_eq!(account.to_ss58(), address);
    assert_eq!(AccountId::from_ss58(address).unwrap(), account);
    assert_eq!(address.parse::<AccountId>().unwrap(), account);
    let quoted = serde_json::to_string(&account).unwrap();
    assert_eq!(quoted, format!("\"{address}\""));
    assert_eq!(serde_json::from_str::<AccountId>(&quoted).unwrap(), account);
}

#[test]
fn ss58_golden_vectors() {
    for (public, address) in SS58_VECTORS {
        check_ss58(public, address);
    }
}

/// Addresses that must be refused, with the reason each gives.
const BAD_ADDRESSES: &[(&str, &str)] = &[
    // Alice with the last character changed: the checksum no longer matches.
    (
        "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQZ",
        "checksum mismatch",
    ),
    // Alice on Polkadot, prefix 0.
    (
        "15oF4uVJwmo4TdGW7VfQxNLavjCXviqxT9S1MgbjMNHr6Sp5",
        "prefix 0 is not the generic substrate prefix 42",
    ),
    (
        "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQ0",
        "not base58",
    ),
    ("5Grwva", "wrong length"),
    ("", "wrong length"),
];

fn check_bad_address(value: &str, reason: &str) {
    let error = AccountId::from_ss58(value).unwrap_err();
    assert!(
        matches!(&error, Error::InvalidAddress { value: v, .. } if v == value),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains(reason), "{message}");
    assert!(message.contains(&format!("'{value}'")), "{message}");
}

#[test]
fn ss58_refuses_bad_addresses() {
    for (value, reason) in BAD_ADDRESSES {
        check_bad_address(value, reason);
    }
}

proptest! {
    #[test]
    fn ss58_round_trips(key in any::<[u8; 32]>()) {
        let account = AccountId(key);
        prop_assert_eq!(AccountId::from_ss58(&account.to_ss58()).unwrap(), account);
    }

    #[test]
    fn ss58_never_panics(text in "\\PC{0,60}") {
        let _ = AccountId::from_ss58(&text);
    }
}

// Secret URIs.

/// URIs and the public keys `bittensor-wallet` 4.1.1 (and for the seedless ones also
/// `substrate-interface` 1.8.1) derives from them: hard, soft, numeric, long (hashed) and
/// non-ASCII junctions, with and without a hex seed.
const URI_VECTORS: &[(&str, &str)] = &[
    ("//Alice", ALICE_PUBLIC),
    (
        "//Bob",
        "8eaf04151687736326c9fea17e25fc5287613693c912909cb226aa4794f26a48",
    ),
    (
        "//Alice//stash",
        "be5ddb1579b72e84524fc29e78609e3caf42e85aa118ebfe0b0ad404b5bdd25f",
    ),
    (
        "//0",
        "2afba9278e30ccf6a6ceb3a8b6e336b70068f045c666f2e7f4f9cc5f47db8972",
    ),
    (
        "//18446744073709551615",
        "a4ca284d5222ef916e2e181430785972ed22cb51ef91a0c6cdbbd390ee74bc77",
    ),
    (
        "//xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "62ff70144a831b8dc0e6dc91ff36bd55e415fb79c277523a3e2adb9bdfe0590e",
    ),
    (
        "//Алиса",
        "a4b88628c01471691a5ef9bf20d73a5637cee2bc8da60e91d61e0e4080885e4b",
    ),
    (
        "//Alice/soft",
        "02cfd83074aefc9955af4034d19b3780d47a52e158ababec8ec012b2295f1c5b",
    ),
    (
        "0x1111111111111111111111111111111111111111111111111111111111111111",
        "50780547322a1ceba67ea8c552c9bc6c686f8698ac9a8cafab7cd15a1db19859",
    ),
    (
        "0x1111111111111111111111111111111111111111111111111111111111111111//tessera//1",
        "9aefcdc1b230b7d4bce5442972df6b9631c31477ca5a77ed97ac5c7296217652",
    ),
];

fn check_uri(uri: &str, public: &str) {
    let keypair = Keypair::from_uri(uri).unwrap();
    assert_eq!(
        keypair.account(),
        AccountId::from_hex(public).unwrap(),
        "{uri}"
    );
}

#[test]
fn uri_golden_vectors() {
    for (uri, public) in URI_VECTORS {
        check_uri(uri, public);
    }
}

#[test]
fn alice_uri_matches_alice_seed() {
    let seed: [u8; 32] = hex_bytes(ALICE_SEED).try_into().unwrap();
    let from_seed = Keypair::from_seed(&seed).unwrap();
    assert_eq!(from_seed.account().to_ss58(), ALICE_SS58);
    // The derived seed itself is visible in the keyfile the keypair writes.
    let dir = tempfile::tempdir().unwrap();
    let wallet = Wallet::new(dir.path(), "dev", "alice").unwrap();
    let path = wallet
        .create_hotkey(&Keypair::from_uri("//Alice").unwrap(), false)
        .unwrap();
    let fields = read_json(&path);
    assert_eq!(fields["secretSeed"], ALICE_SEED);
    assert_eq!(fields["privateKey"], ALICE_PRIVATE);
}

/// URIs that must be refused, with the reason each gives. None may echo a seed or phrase.
const BAD_URIS: &[(&str, &str)] = &[
    ("//Alice///password", "passwords (///) are not supported"),
    ("//", "a derivation junction is empty"),
    ("//Alice//", "a derivation junction is empty"),
    ("Alice", "mnemonic phrases are not supported"),
    (
        "bottom drive obey lake curtain smoke basket hold race lonely fit walk//Alice",
        "mnemonic phrases are not supported",
    ),
    ("0x1234", "the seed is not 0x-prefixed hex of 32 bytes"),
    (
        "0x11111111111111111111111111111111111111111111111111111111111111zz//x",
        "the seed is not 0x-prefixed hex of 32 bytes",
    ),
    (
        "0x1111111111111111111111111111111111111111111111111111111111111111///pw",
        "passwords (///) are not supported",
    ),
];

fn check_bad_uri(uri: &str, reason: &str) {
    let error = Keypair::from_uri(uri).unwrap_err();
    assert!(matches!(error, Error::SecretUri { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains(reason), "{uri}: {message}");
    assert!(
        !message.contains("1111") && !message.contains("bottom"),
        "{message}"
    );
}

#[test]
fn uri_refuses_what_it_cannot_derive() {
    for (uri, reason) in BAD_URIS {
        check_bad_uri(uri, reason);
    }
}

// Signatures.

fn check_signature_round_trip(keypair: &Keypair) {
    let message = b"tessera signs this";
    let signature = keypair.sign(message);
    keypair.account().verify(message, &signature).unwrap();
    assert!(
        keypair
            .account()
            .verify(b"something else", &signature)
            .is_err()
    );
    let stranger = Keypair::generate().account();
    assert!(stranger.verify(message, &signature).is_err());
}

#[test]
fn signatures_verify_only_for_their_signer_and_message() {
    check_signature_round_trip(&Keypair::generate());
    check_signature_round_trip(&Keypair::from_uri("//Alice").unwrap());
    check_signature_round_trip(&Keypair::from_uri("//Alice/soft").unwrap());
    check_signature_round_trip(&fixture_wallet("alice").load_hotkey().unwrap());
}

#[test]
fn python_signatures_verify() {
    let text = fs::read_to_string(Path::new(FIXTURES).join("python_signatures.json")).unwrap();
    let fixture: Value = serde_json::from_str(&text).unwrap();
    let message = fixture["message"].as_str().unwrap().as_bytes();
    let signatures = fixture["signatures"].as_array().unwrap();
    assert_eq!(signatures.len(), 2);
    for entry in signatures {
        let loaded = fixture_wallet(entry["hotkey"].as_str().unwrap())
            .load_hotkey()
            .unwrap();
        let account = AccountId::from_ss58(entry["ss58Address"].as_str().unwrap()).unwrap();
        assert_eq!(loaded.account(), account);
        let mut bytes: [u8; 64] = hex_bytes(entry["signature"].as_str().unwrap())
            .try_into()
            .unwrap();
        account.verify(message, &Signature(bytes)).unwrap();
        bytes[10] ^= 1;
        assert!(account.verify(message, &Signature(bytes)).is_err());
    }
}

// Loading keyfiles.

/// Fixture hotkeys that must load, with the account each holds: `miner` has a `secretSeed`
/// (and a `secretPhrase`), `alice` (from `create_hotkey_from_uri`) only a `privateKey`.
const GOOD_FIXTURES: &[(&str, &str)] = &[("miner", MINER_SS58), ("alice", ALICE_SS58)];

fn check_loads_fixture(hotkey: &str, address: &str) {
    let wallet = fixture_wallet(hotkey);
    let keypair = wallet.load_hotkey().unwrap();
    assert_eq!(keypair.account().to_ss58(), address);

    // Written back, the keyfile has the same key fields as the one Python wrote.
    let dir = tempfile::tempdir().unwrap();
    let copy = Wallet::new(dir.path(), "tessera", hotkey).unwrap();
    let written = read_json(&copy.create_hotkey(&keypair, false).unwrap());
    let original = read_json(&wallet.hotkey_path());
    for field in [
        "accountId",
        "publicKey",
        "privateKey",
        "secretSeed",
        "ss58Address",
        "cryptoType",
    ] {
        assert_eq!(written.get(field), original.get(field), "{hotkey}: {field}");
    }
    assert_eq!(written["secretPhrase"], Value::Null);
}

#[test]
fn loads_python_written_hotkeys() {
    for (hotkey, address) in GOOD_FIXTURES {
        check_loads_fixture(hotkey, address);
    }
}

/// Keyfile contents that must be refused, with the reason each gives.
fn bad_keyfiles() -> Vec<(&'static str, Vec<u8>, String)> {
    let miner = |extra: Value| {
        let mut fields = json!({ "secretSeed": MINER_SEED, "publicKey": MINER_PUBLIC });
        if let (Value::Object(fields), Value::Object(extra)) = (&mut fields, extra) {
            fields.extend(extra);
        }
        fields.to_string().into_bytes()
    };
    let mut corrupted = MINER_SS58.to_owned();
    corrupted.replace_range(47.., "2");
    vec![
        ("empty", vec![], "invalid json".to_owned()),
        ("text", b"hello".to_vec(), "invalid json".to_owned()),
        (
            "array",
            b"[]".to_vec(),
            "the json is not an object".to_owned(),
        ),
        (
            "nacl",
            b"$NACL\x01\x02".to_vec(),
            "is encrypted (NaCl)".to_owned(),
        ),
        (
            "ansible",
            b"$ANSIBLE_VAULT;1.1;AES256\n6162".to_vec(),
            "is encrypted (Ansible Vault)".to_owned(),
        ),
        (
            "btwallet",
            b"$BTWALLET\x00".to_vec(),
            "is encrypted".to_owned(),
        ),
        (
            "fernet",
            b"gAAAAABlegacy".to_vec(),
            "is encrypted (legacy Fernet)".to_owned(),
        ),
        (
            // bittensor-wallet 4.1.1's `regenerate_hotkey(seed=...)` writes the seed's raw bytes
            // after the "0x"; it cannot load such a file either.
            "raw-seed",
            miner(json!({ "secretSeed": format!("0x{}", "\u{11}".repeat(32)) })),
            "secretSeed is not 0x-prefixed hex of 32 bytes".to_owned(),
        ),
        (
            "short-seed",
            miner(json!({ "secretSeed": "0x1234" })),
            "secretSeed is not 0x-prefixed hex of 32 bytes".to_owned(),
        ),
        (
            "number-seed",
            miner(json!({ "secretSeed": 5 })),
            "secretSeed is not a string".to_owned(),
        ),
        (
            "short-private",
            json!({ "privateKey": "0xabcd" }).to_string().into_bytes(),
            "privateKey is not 0x-prefixed hex of 64 bytes".to_owned(),
        ),
        (
            "bad-scalar",
            json!({ "privateKey": format!("0x{}", "ff".repeat(64)) })
                .to_string()
                .into_bytes(),
            "privateKey is not a valid sr25519 secret key".to_owned(),
        ),
        (
            "private-disagrees",
            miner(json!({ "privateKey": ALICE_PRIVATE })),
            "privateKey does not match secretSeed".to_owned(),
        ),
        (
            "public-disagrees",
            miner(json!({ "publicKey": format!("0x{ALICE_PUBLIC}") })),
            format!("publicKey 0x{ALICE_PUBLIC} does not match the key derived from secretSeed"),
        ),
        (
            "account-disagrees",
            json!({ "privateKey": ALICE_PRIVATE, "accountId": MINER_PUBLIC })
                .to_string()
                .into_bytes(),
            format!("accountId {MINER_PUBLIC} does not match the key derived from privateKey"),
        ),
        (
            "ss58-disagrees",
            miner(json!({ "ss58Address": BOB_SS58 })),
            format!("ss58Address {BOB_SS58} does not match"),
        ),
        (
            "ss58-checksum",
            miner(json!({ "ss58Address": corrupted })),
            format!("ss58Address: invalid ss58 address '{corrupted}': checksum mismatch"),
        ),
        (
            "ed25519",
            miner(json!({ "cryptoType": 0 })),
            "cryptoType 0 is not sr25519 (1)".to_owned(),
        ),
        (
            "phrase-only",
            json!({ "secretPhrase": "drama crash pepper", "secretSeed": null })
                .to_string()
                .into_bytes(),
            "holds only a secretPhrase".to_owned(),
        ),
        (
            "public-only",
            json!({ "publicKey": MINER_PUBLIC, "ss58Address": MINER_SS58 })
                .to_string()
                .into_bytes(),
            "holds no secretSeed or privateKey".to_owned(),
        ),
    ]
}

/// Loading must fail with one `Error::Wallet` naming the file, and must not leak the seed.
fn check_refused(wallet: &Wallet, reason: &str) {
    let error = wallet.load_hotkey().unwrap_err();
    let Error::Wallet { path, .. } = &error else {
        panic!("{}: not a wallet error: {error:?}", wallet.hotkey);
    };
    assert_eq!(path, &wallet.hotkey_path());
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("wallet file {}: ", path.display())),
        "{message}"
    );
    assert!(message.contains(reason), "{}: {message}", wallet.hotkey);
    assert!(!message.contains(&MINER_SEED[2..]), "{message}");
    assert!(!message.contains(&ALICE_PRIVATE[2..]), "{message}");
}

#[test]
fn refuses_bad_keyfiles() {
    let dir = tempfile::tempdir().unwrap();
    let hotkeys = dir.path().join("tessera").join("hotkeys");
    fs::create_dir_all(&hotkeys).unwrap();
    for (hotkey, contents, reason) in bad_keyfiles() {
        fs::write(hotkeys.join(hotkey), contents).unwrap();
        check_refused(
            &Wallet::new(dir.path(), "tessera", hotkey).unwrap(),
            &reason,
        );
    }
    fs::create_dir(hotkeys.join("directory")).unwrap();
    check_refused(
        &Wallet::new(dir.path(), "tessera", "directory").unwrap(),
        "cannot be read",
    );
    check_refused(
        &Wallet::new(dir.path(), "tessera", "missing").unwrap(),
        "does not exist",
    );
}

#[test]
fn refuses_python_written_encrypted_and_public_keyfiles() {
    check_refused(&fixture_wallet("encrypted"), "is encrypted (NaCl)");
    check_refused(
        &fixture_wallet("minerpub.txt"),
        "holds no secretSeed or privateKey",
    );
}

// Creating keyfiles.

fn check_create(keypair: &Keypair, has_seed: bool) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("not").join("there").join("yet");
    let wallet = Wallet::new(&root, "w", "h").unwrap();
    let path = wallet.create_hotkey(keypair, false).unwrap();
    assert_eq!(path, root.join("w").join("hotkeys").join("h"));
    assert_eq!(wallet.load_hotkey().unwrap().account(), keypair.account());

    let fields = read_json(&path);
    let mut names: Vec<&str> = fields.keys().map(String::as_str).collect();
    names.sort_unstable();
    let mut expected = vec![
        "accountId",
        "cryptoType",
        "privateKey",
        "publicKey",
        "secretPhrase",
        "ss58Address",
    ];
    if has_seed {
        expected.push("secretSeed");
        expected.sort_unstable();
    }
    assert_eq!(names, expected);
    assert_eq!(fields["ss58Address"], keypair.account().to_ss58());
    assert_eq!(fields["publicKey"], keypair.account().to_hex());
    assert_eq!(fields["cryptoType"], 1);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn creates_bittensor_keyfiles() {
    check_create(&Keypair::generate(), true);
    check_create(&Keypair::from_uri("//Alice").unwrap(), true);
    // A soft junction leaves no seed, so only the private key can be written.
    check_create(&Keypair::from_uri("//Alice/soft").unwrap(), false);
}

#[test]
fn create_overwrites_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let wallet = Wallet::new(dir.path(), "w", "h").unwrap();
    let alice = Keypair::from_uri("//Alice").unwrap();
    let bob = Keypair::from_uri("//Bob").unwrap();
    wallet.create_hotkey(&alice, false).unwrap();

    let error = wallet.create_hotkey(&bob, false).unwrap_err();
    assert!(
        matches!(&error, Error::Wallet { path, .. } if *path == wallet.hotkey_path()),
        "{error:?}"
    );
    assert!(error.to_string().contains("already exists"), "{error}");
    assert_eq!(wallet.load_hotkey().unwrap().account(), alice.account());

    wallet.create_hotkey(&bob, true).unwrap();
    assert_eq!(wallet.load_hotkey().unwrap().account(), bob.account());

    // No temporary files are left beside the hotkey.
    let names: Vec<_> = fs::read_dir(wallet.hotkey_path().parent().unwrap())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(names, ["h"]);
}

// Wallet names and paths.

/// Wallet and hotkey names that must be refused, with the reason each gives.
const BAD_NAMES: &[(&str, &str)] = &[
    ("", "it is empty"),
    ("a/b", "it contains a path separator"),
    ("a\\b", "it contains a path separator"),
    ("/etc", "it contains a path separator"),
    ("..", "it names a directory"),
    (".", "it names a directory"),
    ("a\0b", "it contains a nul character"),
];

fn check_bad_name(name: &str, reason: &str) {
    for (wallet_name, hotkey, what) in [
        (name, "default", "wallet name"),
        ("default", name, "hotkey name"),
    ] {
        let error = Wallet::new("/tmp", wallet_name, hotkey).unwrap_err();
        assert!(
            matches!(&error, Error::WalletName { value, .. } if value == name),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            format!("invalid {what} '{name}': {reason}")
        );

        // Public fields can bypass `new`, so loading and creating check again.
        let wallet = Wallet {
            path: PathBuf::from("/nonexistent"),
            name: wallet_name.to_owned(),
            hotkey: hotkey.to_owned(),
        };
        assert!(matches!(
            wallet.load_hotkey(),
            Err(Error::WalletName { .. })
        ));
        assert!(matches!(
            wallet.create_hotkey(&Keypair::generate(), false),
            Err(Error::WalletName { .. })
        ));
    }
}

#[test]
fn refuses_bad_wallet_names() {
    for (name, reason) in BAD_NAMES {
        check_bad_name(name, reason);
    }
}

#[test]
fn expands_a_leading_tilde() {
    let untouched = ["/abs/~/x", "rel/~", "~user/x"];
    for path in untouched {
        assert_eq!(expand_tilde(Path::new(path)), Path::new(path));
    }
    // The tests must not set HOME (that races with other tests), so they follow whatever it is.
    match std::env::var_os("HOME") {
        Some(home) => {
            let home = PathBuf::from(home);
            assert_eq!(expand_tilde(Path::new("~")), home);
            assert_eq!(expand_tilde(Path::new("~/a/b")), home.join("a/b"));
            assert_eq!(Wallet::default_path(), home.join(".bittensor/wallets"));
            let wallet = Wallet::new("~/w", "n", "h").unwrap();
            assert_eq!(wallet.hotkey_path(), home.join("w/n/hotkeys/h"));
        }
        None => assert_eq!(expand_tilde(Path::new("~/a")), Path::new("~/a")),
    }
}

/// `derive_secret` is frozen: every stored object's key comes from it, so these bytes may never
/// change (a new derivation needs a new domain, and the old one kept for reading).
#[test]
fn derived_secrets_are_frozen() {
    let alice = Keypair::from_uri("//Alice").unwrap();
    let check = |domain: &[u8], context: &[u8], want: &str| {
        assert_eq!(
            hex::encode(alice.derive_secret(domain, context)),
            want,
            "{domain:?} {context:?}"
        );
    };
    check(
        b"tessera/object-key/v1",
        &[0; 16],
        "2c1bd0c032802268b195189f2a528fa0675acd518941ec2bd60d1889da010ffb",
    );
    check(
        b"tessera/http-object-key/v1",
        &[0xab; 16],
        "870766be59951ddcf752fef69a26b087443a180f7d13e9013b0cb6bea505b0be",
    );
    // The domain's length is part of the input: moving a byte from the domain into the context
    // gives another secret.
    assert_ne!(
        alice.derive_secret(b"ab", b"c"),
        alice.derive_secret(b"a", b"bc")
    );
}
