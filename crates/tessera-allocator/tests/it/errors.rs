//! Every bad input gives one `error: ` line naming the file, flag or value at fault, a non-zero
//! exit, and nothing half-written: the database folder is absent or byte for byte as it was.

use std::io::Write;
use std::process::Stdio;

use crate::support::{Node, Run, snapshot};

/// One bad input and what the operator must be told.
struct Case {
    name: &'static str,
    /// Prepares the node beyond [`Node::new`], such as a first allocation to break afterwards.
    setup: fn(&Node),
    /// Flags over [`Node::args`]: `--flag=value`, `--switch`, or `!--flag` to drop one.
    flags: &'static [&'static str],
    /// Environment variables of the run.
    env: &'static [(&'static str, &'static str)],
    /// Typed at the confirmation prompt.
    input: Option<&'static str>,
    code: i32,
    /// Parts of the error line, with `{node}`, `{Bob}` and the like expanded (see
    /// [`Node::expand`]).
    says: &'static [&'static str],
}

const CASE: Case = Case {
    name: "",
    setup: fresh,
    flags: &[],
    env: &[],
    input: None,
    code: 1,
    says: &[],
};

const CASES: &[Case] = &[
    // Sizes and the plan.
    Case {
        name: "not enough disk",
        flags: &["--capacity=1000TiB"],
        says: &["not enough disk", "1000.0 TiB", "{node}", "--capacity"],
        ..CASE
    },
    Case {
        name: "plan of zero chunks",
        flags: &["--capacity=100"],
        says: &["plan of zero chunks", "capacity of 100 bytes", "65536"],
        ..CASE
    },
    Case {
        name: "fewer chunks than validators",
        flags: &["--capacity=64KiB"],
        says: &["capacity of 1 chunks is too small", "2 validators"],
        ..CASE
    },
    Case {
        name: "capacity not a size",
        flags: &["--capacity=lots"],
        says: &[
            "invalid size 'lots'",
            "expected a number",
            "\"--capacity\" in the command line",
        ],
        ..CASE
    },
    Case {
        name: "chunk size not a power of two",
        flags: &["--chunk_size=1000"],
        says: &["invalid chunk size 1000", "power of two"],
        ..CASE
    },
    Case {
        name: "threshold above one",
        flags: &["!--capacity", "--threshold=2"],
        says: &["invalid --threshold 2"],
        ..CASE
    },
    Case {
        name: "unknown seal profile",
        flags: &["--seal=fast"],
        says: &["unknown seal profile 'fast'", "dev or production"],
        ..CASE
    },
    // The chain and the metagraph.
    Case {
        name: "unsupported network",
        flags: &["--subtensor.network=nonsense"],
        says: &["--subtensor.network 'nonsense'", "finney, test, local"],
        ..CASE
    },
    Case {
        name: "missing metagraph",
        flags: &["--metagraph.path={root}/missing.toml"],
        says: &["metagraph {root}/missing.toml", "No such file"],
        ..CASE
    },
    Case {
        name: "invalid metagraph line",
        setup: bad_metagraph_line,
        says: &["metagraph {metagraph}:6:", "\"lots\""],
        ..CASE
    },
    Case {
        name: "metagraph of another subnet",
        flags: &["--netuid=2"],
        says: &["metagraph {metagraph}:1:", "netuid 1", "2"],
        ..CASE
    },
    Case {
        name: "no validator but the miner itself",
        setup: only_self_validates,
        says: &["no validator in the metagraph"],
        ..CASE
    },
    // The wallet.
    Case {
        name: "missing wallet",
        flags: &["--wallet.hotkey=nobody"],
        says: &[
            "wallet file {wallets}/miner/hotkeys/nobody",
            "does not exist",
        ],
        ..CASE
    },
    Case {
        name: "malformed wallet",
        setup: malformed_wallet,
        says: &[
            "wallet file {wallets}/miner/hotkeys/default",
            "invalid json",
        ],
        ..CASE
    },
    // Configuration and the command line.
    Case {
        name: "missing config file",
        flags: &["--config={root}/missing.toml"],
        says: &["config file {root}/missing.toml does not exist"],
        ..CASE
    },
    Case {
        name: "unknown key in config file",
        setup: typo_config,
        flags: &["--config={root}/typo.toml"],
        says: &["unknown field", "treshold"],
        ..CASE
    },
    Case {
        name: "environment variable of the wrong type",
        // The flag would override the variable.
        flags: &["!--workers"],
        env: &[("TESSERA_WORKERS", "many")],
        says: &["\"many\"", "WORKERS", "TESSERA_"],
        ..CASE
    },
    Case {
        name: "unknown flag",
        flags: &["--bogus"],
        code: 2,
        says: &["--bogus"],
        ..CASE
    },
    Case {
        name: "flag value of the wrong type",
        flags: &["--workers=many"],
        code: 2,
        says: &["'many'", "--workers"],
        ..CASE
    },
    Case {
        name: "allocation declined at the prompt",
        flags: &["!--no_prompt"],
        input: Some("n\n"),
        says: &["not confirmed", "--no_prompt"],
        ..CASE
    },
    // Files already there that must not be used or touched.
    Case {
        name: "data file of another pair",
        setup: swapped_partition,
        says: &[
            "{node}/data-{Charlie}",
            "belongs to miner {Alice} and validator {Bob}",
        ],
        ..CASE
    },
    Case {
        name: "truncated data file",
        setup: truncated_partition,
        says: &["{node}/data-{Bob}", "truncated", "196608"],
        ..CASE
    },
    Case {
        name: "data file that is not a database",
        setup: foreign_partition,
        says: &["{node}/data-{Charlie}", "not a tessera partition database"],
        ..CASE
    },
    Case {
        name: "data file of another chunk size",
        setup: allocated,
        flags: &["--chunk_size=128KiB"],
        says: &["{node}/data-", "chunk size 65536", "--restart"],
        ..CASE
    },
    Case {
        name: "verify before allocating",
        flags: &["--verify"],
        says: &["{node}/partition.json", "allocate first"],
        ..CASE
    },
    Case {
        name: "verify with a malformed partition.json",
        setup: malformed_partition_json,
        flags: &["--verify"],
        says: &["{node}/partition.json", "malformed"],
        ..CASE
    },
];

#[test]
fn bad_inputs_fail_cleanly() {
    let failures: Vec<String> = CASES.iter().filter_map(|c| check(c).err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n\n")
    );
}

/// Runs one case on a fresh node; the error says which case and what went wrong.
fn check(case: &Case) -> Result<(), String> {
    let node = Node::new();
    (case.setup)(&node);
    let before = snapshot(&node.db());
    let flags: Vec<String> = case.flags.iter().map(|f| node.expand(f)).collect();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let args = node.args().with(&flags);
    let mut cmd = node.command(&args);
    cmd.envs(case.env.iter().copied());
    let run = Run::from(match case.input {
        Some(input) => {
            let mut child = cmd.stdin(Stdio::piped()).spawn().unwrap();
            // An early error may exit before reading: a broken pipe is fine.
            let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
            child.wait_with_output().unwrap()
        }
        None => cmd.output().unwrap(),
    });
    let fail = |why: String| Err(format!("{}: {why}\n{run}", case.name));

    if run.status.code() != Some(case.code) {
        return fail(format!("exit {:?}, not {}", run.status.code(), case.code));
    }
    let line = match run.error_line() {
        Ok(line) => line,
        Err(e) => return fail(e),
    };
    for part in case.says {
        let part = node.expand(part);
        if !line.contains(&part) {
            return fail(format!("the error line does not say {part:?}"));
        }
    }
    // Our own errors are the only line; clap's usage errors (exit 2) follow theirs with usage.
    if case.code == 1 && run.stderr.lines().count() != 1 {
        return fail("stderr holds more than the error line".into());
    }
    if snapshot(&node.db()) != before {
        return fail("the database folder changed".into());
    }
    Ok(())
}

fn fresh(_: &Node) {}

fn allocated(node: &Node) {
    node.allocate(&[]);
}

/// A metagraph whose sixth line has a stake that is not a number.
fn bad_metagraph_line(node: &Node) {
    let text = node.expand(
        "netuid = 1\n\n[[neurons]]\nuid = 0\nhotkey = \"{Bob}\"\nstake = \"lots\"\nvalidator_permit = true\n",
    );
    std::fs::write(node.metagraph(), text).unwrap();
}

/// The miner holds the only validator permit, and a miner does not store for itself.
fn only_self_validates(node: &Node) {
    node.write_metagraph(&[("Alice", 5000.0, true), ("Dave", 0.0, false)]);
}

fn malformed_wallet(node: &Node) {
    let path = node.wallets().join("miner/hotkeys/default");
    std::fs::write(path, "{not json").unwrap();
}

fn typo_config(node: &Node) {
    std::fs::write(node.root.join("typo.toml"), "treshold = 0.5\n").unwrap();
}

/// Bob's partition copied in under Charlie's name.
fn swapped_partition(node: &Node) {
    allocated(node);
    std::fs::copy(node.data_file("Bob"), node.data_file("Charlie")).unwrap();
}

/// Bob's partition cut to its first three 64 KiB SQLite pages: whole pages, so only the page
/// count in the header tells.
fn truncated_partition(node: &Node) {
    allocated(node);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(node.data_file("Bob"))
        .unwrap();
    file.set_len(3 << 16).unwrap();
}

fn foreign_partition(node: &Node) {
    allocated(node);
    std::fs::write(node.data_file("Charlie"), "hello\n").unwrap();
}

fn malformed_partition_json(node: &Node) {
    allocated(node);
    std::fs::write(node.node_dir().join("partition.json"), "{").unwrap();
}
