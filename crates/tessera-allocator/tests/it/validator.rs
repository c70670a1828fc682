//! `--validator`: one `hashes-<miner>` database per miner, holding roots the validator derived
//! itself, equal to what the miner stores; later runs top the samples up.

use std::collections::BTreeMap;

use crate::support::{CHUNK, Node, VALIDATOR_WALLET, account, chunks, dev_key, listing, roots};

/// The miners of [`crate::support::SUBNET`] as Bob sees them: neurons without a permit.
const MINERS: &[&str] = &["Alice", "Dave"];

#[test]
fn validator_samples_roots_per_miner() {
    let node = Node::new();
    let wallet = format!("--wallet.name={VALIDATOR_WALLET}");
    // (--samples, roots each miner then holds, roots derived by the run).
    let steps = [(8, 8, 16), (12, 12, 8), (12, 12, 0)];
    let mut earlier: BTreeMap<&str, Vec<(u64, Vec<u8>)>> = BTreeMap::new();
    for (samples, held, derived) in steps {
        let samples = format!("--samples={samples}");
        let run = node.run(&node.args().with(&[&wallet, "--validator", &samples]));
        run.assert_code(0);
        assert!(
            run.stdout.contains(&format!("derived {derived} roots")),
            "{samples}\n{run}"
        );
        let mut want: Vec<String> = MINERS
            .iter()
            .map(|m| tessera_storage::hash_file_name(&account(m)))
            .collect();
        want.sort();
        assert_eq!(listing(&node.validator_dir()), want, "{samples}");

        for miner in MINERS {
            let path = node
                .validator_dir()
                .join(tessera_storage::hash_file_name(&account(miner)));
            let rows = roots(&path);
            assert_eq!(rows.len(), held, "{samples}: {miner}");
            let key = dev_key(miner, "Bob", CHUNK);
            for (id, root) in &rows {
                // Bob's share of a miner of --capacity (8 MiB) is 96 chunks: every miner
                // holding that much has these ids.
                assert!(*id < 96, "{samples}: {miner} id {id}");
                assert_eq!(root[..], key.expected_root(*id), "{miner} {id}");
            }
            // A top-up keeps the roots already derived.
            for row in earlier.get(miner).into_iter().flatten() {
                assert!(rows.contains(row), "{samples}: {miner} lost {}", row.0);
            }
            earlier.insert(miner, rows);
        }
    }

    // The other side: the miner Alice allocating the same 8 MiB stores exactly these roots.
    node.allocate(&[]);
    let stored: BTreeMap<u64, Vec<u8>> = chunks(&node.data_file("Bob"))
        .into_iter()
        .map(|(id, _, root)| (id, root))
        .collect();
    for (id, root) in &earlier["Alice"] {
        assert_eq!(stored.get(id), Some(root), "chunk {id}");
    }
}
