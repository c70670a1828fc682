//! The metagraph file format: a good file, a table of bad files with the error each must give, and
//! the round trip through `to_toml`.

use std::net::SocketAddr;
use std::path::Path;

use tessera_chain::{Error, Metagraph, Neuron};
use tessera_core::AccountId;

const ALICE: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
const BOB: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
const CHARLIE: &str = "5FLSigC9HGRKVhB9FiEo4Y3koPsNmBmLJbpXg2mp1hXcS59Y";

const PATH: &str = "/x/metagraph.toml";

/// Test files name accounts as ALICE, BOB and CHARLIE so that the tables stay readable.
fn expand(text: &str) -> String {
    text.replace("ALICE", ALICE)
        .replace("BOB", BOB)
        .replace("CHARLIE", CHARLIE)
}

fn account(ss58: &str) -> AccountId {
    AccountId::from_ss58(ss58).expect("test account is valid ss58")
}

fn parse(text: &str) -> Result<Metagraph, Error> {
    Metagraph::from_toml(&expand(text), Path::new(PATH), 1)
}

const GOOD: &str = r#"# The local network's subnet.
netuid = 1

[[neurons]]
uid = 0
hotkey = "ALICE"
coldkey = "BOB"
stake = 1000.0
validator_permit = true
axon = "127.0.0.1:7101"

[[neurons]]
uid = 1
hotkey = "BOB"
stake = 12
validator_permit = false
axon = "[::1]:7102"

[[neurons]]
uid = 2
hotkey = "CHARLIE"
stake = 0.0
validator_permit = true
"#;

/// One bad file: what it tests, its text, the line the error must name, and a part of the reason.
type Case = (&'static str, &'static str, usize, &'static str);

/// Each case has exactly one mistake. An empty reason means only the line is checked, because the
/// TOML parser's own wording for syntax errors is not ours to pin down.
const CASES: &[Case] = &[
    (
        "unclosed table header",
        "netuid = 1\n[[neurons]\nuid = 0\n",
        2,
        "unclosed array table",
    ),
    (
        "value missing",
        "netuid = 1\n[[neurons]]\nuid = 0\nhotkey = \"ALICE\"\nstake =\nvalidator_permit = true\n",
        5,
        "",
    ),
    (
        "key repeated within a neuron",
        "netuid = 1\n[[neurons]]\nuid = 0\nuid = 1\nhotkey = \"ALICE\"\nstake = 1.0\nvalidator_permit = true\n",
        4,
        "duplicate key",
    ),
    (
        "netuid missing",
        "[[neurons]]\nuid = 0\nhotkey = \"ALICE\"\nstake = 1.0\nvalidator_permit = true\n",
        1,
        "missing field `netuid`",
    ),
    (
        "hotkey missing",
        "netuid = 1\n\n[[neurons]]\nuid = 0\nstake = 1.0\nvalidator_permit = true\n",
        3,
        "missing field `hotkey`",
    ),
    (
        "validator_permit missing in the second neuron",
        r#"netuid = 1
[[neurons]]
uid = 0
hotkey = "ALICE"
stake = 1.0
validator_permit = true
[[neurons]]
uid = 1
hotkey = "BOB"
stake = 1.0
"#,
        7,
        "missing field `validator_permit`",
    ),
    (
        "misspelt neuron field",
        "netuid = 1\n[[neurons]]\nuid = 0\nhotkey = \"ALICE\"\nstke = 1.0\nstake = 1.0\nvalidator_permit = true\n",
        5,
        "unknown field `stke`",
    ),
    (
        "misspelt top-level field",
        "netuid = 1\nneuron = []\n",
        2,
        "unknown field `neuron`",
    ),
    (
        "permit as a string",
        "netuid = 1\n[[neurons]]\nuid = 0\nhotkey = \"ALICE\"\nstake = 1.0\nvalidator_permit = \"yes\"\n",
        6,
        "invalid type: string \"yes\", expected a boolean",
    ),
    (
        "uid out of range",
        "netuid = 1\n[[neurons]]\nuid = 65536\nhotkey = \"ALICE\"\nstake = 1.0\nvalidator_permit = true\n",
        3,
        "invalid value: integer `65536`, expected u16",
    ),
    (
        "negative uid",
        "netuid = 1\n[[neurons]]\nuid = -1\nhotkey = \"ALICE\"\nstake = 1.0\nvalidator_permit = true\n",
        3,
        "invalid value: integer `-1`, expected u16",
    ),
    (
        "duplicate uid",
        r#"netuid = 1

[[neurons]]
uid = 3
hotkey = "ALICE"
stake = 1.0
validator_permit = true

[[neurons]]
uid = 3
hotkey = "BOB"
stake = 1.0
validator_permit = false
"#,
        10,
        "duplicate uid 3 (first at line 4)",
    ),
    (
        "duplicate hotkey",
        r#"netuid = 1

[[neurons]]
uid = 0
hotkey = "ALICE"
stake = 1.0
validator_permit = true

[[neurons]]
uid = 1
hotkey = "BOB"
stake = 1.0
validator_permit = false

[[neurons]]
uid = 2
hotkey = "ALICE"
stake = 1.0
validator_permit = false
"#,
        17,
        "duplicate hotkey 5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY (first at line 5)",
    ),
    (
        "hotkey with a bad checksum",
        "netuid = 1\n[[neurons]]\nuid = 0\nhotkey = \"5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQZ\"\nstake = 1.0\nvalidator_permit = true\n",
        4,
        "bad hotkey: invalid ss58 address '5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQZ': checksum mismatch",
    ),
    (
        "hotkey not base58",
        "netuid = 1\n[[neurons]]\nuid = 0\nhotkey = \"0xd43593c715fdd31c\"\nstake = 1.0\nvalidator_permit = true\n",
        4,
        "bad hotkey: invalid ss58 address '0xd43593c715fdd31c': not base58",
    ),
    (
        "coldkey too short",
        "netuid = 1\n[[neurons]]\nuid = 0\nhotkey = \"ALICE\"\ncoldkey = \"5Grw\"\nstake = 1.0\nvalidator_permit = true\n",
        5,
        "bad coldkey: invalid ss58 address '5Grw'",
    ),
    (
        "negative stake",
        "netuid = 1\n[[neurons]]\nuid = 0\nhotkey = \"ALICE\"\nstake = -0.5\nvalidator_permit = true\n",
        5,
        "negative stake -0.5",
    ),
    (
        "nan stake",
        "netuid = 1\n[[neurons]]\nuid = 0\nhotkey = \"ALICE\"\nstake = nan\nvalidator_permit = true\n",
        5,
        "stake nan is not a finite number",
    ),
    (
        "infinite stake",
        "netuid = 1\n[[neurons]]\nuid = 0\nhotkey = \"ALICE\"\nstake = -inf\nvalidator_permit = true\n",
        5,
        "stake -inf is not a finite number",
    ),
    (
        "stake as a string",
        "netuid = 1\n[[neurons]]\nuid = 0\nhotkey = \"ALICE\"\nstake = \"1000\"\nvalidator_permit = true\n",
        5,
        "invalid type: string \"1000\", expected f64",
    ),
    (
        "axon as a host name",
        "netuid = 1\n[[neurons]]\nuid = 0\nhotkey = \"ALICE\"\nstake = 1.0\nvalidator_permit = true\naxon = \"localhost:7101\"\n",
        7,
        "bad axon address 'localhost:7101': expected ip:port",
    ),
    (
        "axon without a port",
        "netuid = 1\n[[neurons]]\nuid = 0\nhotkey = \"ALICE\"\nstake = 1.0\nvalidator_permit = true\naxon = \"127.0.0.1\"\n",
        7,
        "bad axon address '127.0.0.1': expected ip:port",
    ),
    (
        "axon with a bind-all address",
        "netuid = 1\n[[neurons]]\nuid = 0\nhotkey = \"ALICE\"\nstake = 1.0\nvalidator_permit = true\naxon = \"0.0.0.0:7101\"\n",
        7,
        "bad axon address '0.0.0.0:7101': an unspecified ip cannot be dialled",
    ),
    (
        "axon on port 0",
        "netuid = 1\n[[neurons]]\nuid = 0\nhotkey = \"ALICE\"\nstake = 1.0\nvalidator_permit = true\naxon = \"10.0.0.1:0\"\n",
        7,
        "bad axon address '10.0.0.1:0': port 0 cannot be dialled",
    ),
    (
        "another subnet's file",
        "# Written for subnet 2.\nnetuid = 2\n",
        2,
        "netuid 2 does not match the requested netuid 1",
    ),
];

/// Parses `text` and checks that it fails with one line naming `PATH:line` and containing `reason`.
fn check(text: &str, line: usize, reason: &str) -> Result<(), String> {
    let error = match parse(text) {
        Ok(metagraph) => return Err(format!("parsed, but should have failed: {metagraph:?}")),
        Err(error) => error,
    };
    let message = error.to_string();
    let prefix = format!("metagraph {PATH}:{line}: ");
    if !message.starts_with(&prefix) {
        return Err(format!("expected {prefix:?} at the start of {message:?}"));
    }
    if !message.contains(reason) {
        return Err(format!("expected {reason:?} in {message:?}"));
    }
    if message.contains('\n') || message.ends_with('.') {
        return Err(format!(
            "not one line without a trailing period: {message:?}"
        ));
    }
    match error {
        Error::Invalid { line: found, .. } if found == line => Ok(()),
        other => Err(format!(
            "expected Error::Invalid at line {line}, got {other:?}"
        )),
    }
}

#[test]
fn bad_files_are_rejected_with_the_line() {
    // Every case is checked before failing, so one run shows all the mismatches.
    let failures: Vec<String> = CASES
        .iter()
        .filter_map(|(name, text, line, reason)| {
            check(text, *line, reason)
                .err()
                .map(|why| format!("{name}: {why}"))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn test_accounts_are_valid_and_distinct() {
    let accounts = [account(ALICE), account(BOB), account(CHARLIE)];
    for (a, text) in accounts.iter().zip([ALICE, BOB, CHARLIE]) {
        assert_eq!(a.to_ss58(), text);
    }
    assert_ne!(accounts[0], accounts[1]);
    assert_ne!(accounts[1], accounts[2]);
    assert_ne!(accounts[0], accounts[2]);
}

#[test]
fn good_file_parses() {
    let metagraph = parse(GOOD).expect("the good file parses");
    let expected = Metagraph {
        netuid: 1,
        block: 0,
        params: Default::default(),
        neurons: vec![
            Neuron {
                uid: 0,
                hotkey: account(ALICE),
                coldkey: Some(account(BOB)),
                stake: 1000.0,
                validator_permit: true,
                axon: Some(SocketAddr::from(([127, 0, 0, 1], 7101))),
                last_update: 0,
            },
            Neuron {
                uid: 1,
                hotkey: account(BOB),
                coldkey: None,
                // An integer stake is read as a float, since people will write `stake = 12`.
                stake: 12.0,
                validator_permit: false,
                axon: Some("[::1]:7102".parse().expect("valid socket address")),
                last_update: 0,
            },
            Neuron {
                uid: 2,
                hotkey: account(CHARLIE),
                coldkey: None,
                stake: 0.0,
                validator_permit: true,
                axon: None,
                last_update: 0,
            },
        ],
    };
    assert_eq!(metagraph, expected);

    let validators: Vec<u16> = metagraph.validators(0.0).map(|n| n.uid).collect();
    assert_eq!(validators, [0, 2]);
    assert_eq!(metagraph.neuron(&account(BOB)).map(|n| n.uid), Some(1));
    let stranger = AccountId([7; 32]);
    assert!(metagraph.neuron(&stranger).is_none());
}

#[test]
fn a_subnet_without_neurons_is_valid() {
    let metagraph = parse("netuid = 1\n").expect("an empty subnet parses");
    assert!(metagraph.neurons.is_empty());
    assert_eq!(metagraph.to_toml(), "netuid = 1\n");
}

#[test]
fn to_toml_round_trips() {
    let metagraph = Metagraph {
        netuid: 1,
        block: 0,
        params: Default::default(),
        neurons: vec![
            Neuron {
                uid: 5,
                hotkey: account(CHARLIE),
                coldkey: Some(account(ALICE)),
                // Awkward floats: exponents both ways here and below, and 0.1 + 0.2 with no short form.
                stake: 1e20,
                validator_permit: true,
                axon: Some("[2001:db8::1]:443".parse().expect("valid socket address")),
                last_update: 0,
            },
            Neuron {
                uid: 0,
                hotkey: account(ALICE),
                coldkey: None,
                stake: 1.5e-7,
                validator_permit: false,
                axon: None,
                last_update: 0,
            },
            Neuron {
                uid: 1,
                hotkey: account(BOB),
                coldkey: Some(account(BOB)),
                stake: 0.1 + 0.2,
                validator_permit: false,
                axon: Some(SocketAddr::from(([192, 168, 1, 20], 7101))),
                last_update: 0,
            },
        ],
    };
    let text = metagraph.to_toml();
    let back = Metagraph::from_toml(&text, Path::new(PATH), 1).expect("written file parses");
    assert_eq!(back, metagraph);

    // Parsing, writing and parsing again changes nothing either.
    let good = parse(GOOD).expect("the good file parses");
    let again = Metagraph::from_toml(&good.to_toml(), Path::new(PATH), 1).expect("parses");
    assert_eq!(again, good);
}

#[test]
fn to_toml_writes_the_documented_layout() {
    let metagraph = Metagraph {
        netuid: 1,
        block: 0,
        params: Default::default(),
        neurons: vec![Neuron {
            uid: 0,
            hotkey: account(ALICE),
            coldkey: Some(account(BOB)),
            stake: 1000.0,
            validator_permit: true,
            axon: Some(SocketAddr::from(([127, 0, 0, 1], 7101))),
            last_update: 0,
        }],
    };
    let expected = expand(
        r#"netuid = 1

[[neurons]]
uid = 0
hotkey = "ALICE"
coldkey = "BOB"
stake = 1000.0
validator_permit = true
axon = "127.0.0.1:7101"
"#,
    );
    assert_eq!(metagraph.to_toml(), expected);
}

#[test]
fn non_finite_stake_is_written_so_that_reading_names_it() {
    let metagraph = Metagraph {
        netuid: 1,
        block: 0,
        params: Default::default(),
        neurons: vec![Neuron {
            uid: 0,
            hotkey: account(ALICE),
            coldkey: None,
            stake: f64::NAN,
            validator_permit: false,
            axon: None,
            last_update: 0,
        }],
    };
    let error = Metagraph::from_toml(&metagraph.to_toml(), Path::new(PATH), 1)
        .expect_err("a nan stake is rejected");
    assert_eq!(
        error.to_string(),
        format!("metagraph {PATH}:6: stake nan is not a finite number")
    );
}

proptest::proptest! {
    /// Fuzzing on stable Rust: any text, and the good file with bytes changed, parses or gives
    /// an error naming the file; never a panic. `cargo xtask fuzz` runs many more cases.
    #[test]
    fn fuzz_metagraph_parsing(
        text in ".{0,400}",
        edits in proptest::collection::vec((proptest::prelude::any::<proptest::sample::Index>(), proptest::prelude::any::<char>()), 0..6),
    ) {
        if let Err(e) = Metagraph::from_toml(&text, Path::new(PATH), 1) {
            proptest::prop_assert!(e.to_string().contains(PATH), "{e}");
        }
        let mut good: Vec<char> = expand(GOOD).chars().collect();
        for (at, c) in edits {
            let i = at.index(good.len());
            good[i] = c;
        }
        let good: String = good.into_iter().collect();
        if let Err(e) = Metagraph::from_toml(&good, Path::new(PATH), 1) {
            proptest::prop_assert!(e.to_string().contains(PATH), "{e}");
        }
    }
}
