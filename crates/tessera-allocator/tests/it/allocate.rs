//! A miner's allocation from a fresh node: the partitions on disk, `--verify` on good and damaged
//! ones, and later runs that shrink, grow, drop a validator or start over.

use crate::support::{CHUNK, Node, SUBNET, Tamper, account, chunk_ids, chunks, dev_key, hex};

/// The "done when" of the issue: partition.json and one `data-*` file per validator, chunk
/// counts in the stake proportion, every chunk the sealed bytes of its id, and `--verify` agrees.
#[test]
fn allocates_in_stake_proportion_and_verifies() {
    // (stakes of Bob and Charlie, capacity, chunks each is expected to get). Weights are
    // stake + 1, so 3000:1000 of 128 chunks is 95.98:32.02, which rounds to 96:32.
    let cases: &[(f64, f64, &str, u64, u64)] = &[
        (3000.0, 1000.0, "8MiB", 96, 32),
        (1000.0, 1000.0, "4MiB", 32, 32),
        (0.0, 99.0, "2MiB", 1, 31),
    ];
    for &(bob, charlie, capacity, want_bob, want_charlie) in cases {
        let node = Node::new();
        node.write_metagraph(&[
            ("Alice", 0.0, false),
            ("Bob", bob, true),
            ("Charlie", charlie, true),
            ("Dave", 0.0, false),
        ]);
        let run = node.allocate(&[&format!("--capacity={capacity}")]);
        let case = format!("stakes {bob}:{charlie}, capacity {capacity}");
        assert_eq!(run.sealed_now(), want_bob + want_charlie, "{case}\n{run}");

        let entries = node.partition_json();
        assert_eq!(entries.len(), 2, "{case}");
        for (name, want) in [("Bob", want_bob), ("Charlie", want_charlie)] {
            let entry = entries
                .iter()
                .find(|e| e.validator == account(name))
                .unwrap_or_else(|| panic!("{case}: no partition for {name}"));
            assert_eq!(entry.path, node.data_file(name), "{case}");
            assert_eq!(entry.owner, account("Alice"), "{case}");
            assert_eq!(entry.n_chunks, want, "{case}: {name}");
            assert_eq!(entry.size, want * CHUNK, "{case}");
            assert_eq!(entry.chunk_size, CHUNK, "{case}");
            assert_eq!(entry.seal, "dev", "{case}");
            let key = dev_key("Alice", name, CHUNK);
            assert_eq!(entry.seed, hex(&key.partition_seed()), "{case}");

            // The database itself, not just what partition.json claims: ids 0..n, each chunk
            // the sealed bytes of its id with their Merkle root.
            let rows = chunks(&entry.path);
            let ids: Vec<u64> = rows.iter().map(|r| r.0).collect();
            assert_eq!(ids, (0..want).collect::<Vec<_>>(), "{case}: {name}");
            for (id, data, root) in rows.iter().take(3) {
                assert!(*data == key.seal(*id), "{case}: {name} chunk {id}");
                assert_eq!(root[..], key.expected_root(*id), "{case}: {name} {id}");
            }
        }
        // Closed cleanly: no temporary files, WAL or shared-memory files left behind.
        let mut expected = vec![
            "partition.json".to_owned(),
            node.data_file("Bob")
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned(),
            node.data_file("Charlie")
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned(),
        ];
        expected.sort();
        assert_eq!(
            crate::support::listing(&node.node_dir()),
            expected,
            "{case}"
        );

        let verify = node.run(&node.args().with(&["--verify"]));
        verify.assert_code(0);
        let total = want_bob + want_charlie;
        assert!(
            verify
                .stdout
                .contains(&format!("verified {total} chunks in 2 partitions: 0 bad")),
            "{case}\n{verify}"
        );
    }
}

/// Damage made by hand is found chunk by chunk: `--verify` exits 1, names every bad id of each
/// file on stdout and says how many on the one error line.
#[test]
fn verify_names_damaged_chunks() {
    let node = Node::new();
    node.allocate(&[]);
    // Bob has chunks 0..96 and Charlie 0..32.
    let damage = [
        ("Bob", 7, Tamper::Data),
        ("Bob", 5, Tamper::Delete),
        ("Bob", 96, Tamper::Extra),
        ("Charlie", 3, Tamper::Root),
        ("Charlie", 31, Tamper::Data),
        ("Charlie", 17, Tamper::WrongType),
    ];
    for (name, id, how) in damage {
        crate::support::tamper(&node.data_file(name), id, how);
    }
    let verify = node.run(&node.args().with(&["--verify"]));
    verify.assert_code(1);
    for (name, line) in [
        ("Bob", "3 bad chunks: 5, 7, 96"),
        ("Charlie", "3 bad chunks: 3, 17, 31"),
    ] {
        let want = format!("{}: {line}", node.data_file(name).display());
        assert!(
            verify.stdout.lines().any(|l| l == want),
            "missing {want:?}\n{verify}"
        );
    }
    assert_eq!(
        verify.error_line(),
        Ok("error: verify found 6 bad chunks"),
        "{verify}"
    );
}

/// partition.json names its files by absolute path even when `--db_path` is relative, so the
/// miner and `--verify` find them from any working directory.
#[test]
fn relative_db_path_is_recorded_absolute() {
    let node = Node::new();
    let run = node.run(&node.args().with(&["--db_path=db"]));
    run.assert_code(0);
    for entry in node.partition_json() {
        assert!(entry.path.is_absolute(), "{}", entry.path.display());
        // Canonical on both sides: the child's working directory is the temporary directory
        // with any symlink on its way resolved.
        let dir = node.node_dir().canonicalize().unwrap();
        assert_eq!(entry.path.canonicalize().unwrap().parent(), Some(&*dir));
    }
    let elsewhere = tempfile::tempdir().unwrap();
    let verify = node
        .command(&node.args().with(&["--verify"]))
        .current_dir(elsewhere.path())
        .output()
        .unwrap();
    let verify = crate::support::Run::from(verify);
    verify.assert_code(0);
}

/// One step of a node's life: the subnet, the flags of the run, and what the plan summary must
/// say per validator: (name, chunks, already sealed), then how many chunks get sealed.
struct Step {
    subnet: &'static [(&'static str, f64, bool)],
    flags: &'static [&'static str],
    plan: &'static [(&'static str, u64, u64)],
    sealed: u64,
}

/// Later runs reuse what is there: a smaller plan deletes the excess, a larger one seals only
/// what is missing, a validator gone from the metagraph loses its file, and `--restart` (even
/// with another chunk size) starts over.
#[test]
fn later_runs_shrink_grow_and_restart() {
    const WITHOUT_CHARLIE: &[(&str, f64, bool)] = &[("Alice", 0.0, false), ("Bob", 3000.0, true)];
    let steps = [
        Step {
            subnet: SUBNET,
            flags: &[],
            plan: &[("Bob", 96, 0), ("Charlie", 32, 0)],
            sealed: 128,
        },
        Step {
            subnet: SUBNET,
            flags: &["--capacity=4MiB"],
            plan: &[("Bob", 48, 48), ("Charlie", 16, 16)],
            sealed: 0,
        },
        Step {
            subnet: SUBNET,
            flags: &["--capacity=6MiB"],
            plan: &[("Bob", 72, 48), ("Charlie", 24, 16)],
            sealed: 32,
        },
        Step {
            subnet: WITHOUT_CHARLIE,
            flags: &["--capacity=6MiB"],
            plan: &[("Bob", 96, 72)],
            sealed: 24,
        },
        Step {
            subnet: SUBNET,
            flags: &["--restart"],
            plan: &[("Bob", 96, 0), ("Charlie", 32, 0)],
            sealed: 128,
        },
        Step {
            subnet: SUBNET,
            flags: &["--restart", "--chunk_size=128KiB"],
            plan: &[("Bob", 48, 0), ("Charlie", 16, 0)],
            sealed: 64,
        },
    ];
    let node = Node::new();
    for (i, step) in steps.iter().enumerate() {
        node.write_metagraph(step.subnet);
        let run = node.allocate(step.flags);
        let got: Vec<(String, u64, u64)> = run
            .plan()
            .into_iter()
            .map(|p| (p.validator, p.n_chunks, p.already))
            .collect();
        let mut want: Vec<(String, u64, u64)> = step
            .plan
            .iter()
            .map(|(name, n, already)| (account(name).to_string(), *n, *already))
            .collect();
        // The summary lists validators in plan order, which is by hotkey.
        want.sort_by_key(|(v, _, _)| v.parse::<tessera_core::AccountId>().unwrap());
        assert_eq!(got, want, "step {i}\n{run}");
        assert_eq!(run.sealed_now(), step.sealed, "step {i}\n{run}");

        // On disk: exactly the planned files, each holding exactly ids 0..n.
        let entries = node.partition_json();
        assert_eq!(entries.len(), step.plan.len(), "step {i}");
        for (name, n, _) in step.plan {
            assert_eq!(
                chunk_ids(&node.data_file(name)),
                (0..*n).collect::<Vec<_>>()
            );
        }
        let files = crate::support::listing(&node.node_dir())
            .into_iter()
            .filter(|f| f.starts_with("data-"))
            .count();
        assert_eq!(files, step.plan.len(), "step {i}");
        node.run(
            &node
                .args()
                .with(step.flags)
                .with(&["--verify", "!--restart"]),
        )
        .assert_code(0);
    }
}
