//! Settings layered end to end through the binary: defaults < `--config` TOML < `TESSERA_*`
//! environment < flags.

use crate::support::{CHUNK, Node, Run, account};

#[test]
fn file_env_and_flags_layer() {
    let node = Node::new();
    let file = node.root.join("allocate.toml");
    // Debug formatting quotes and escapes a path the way a TOML basic string needs.
    let toml = format!(
        r#"
db_path = {db:?}
seal = "production"
chunk_size = "64KiB"
capacity = "16MiB"
no_prompt = true
workers = 3

[wallet]
name = "nobody"
hotkey = "default"
path = {wallets:?}

[metagraph]
path = {metagraph:?}
"#,
        db = node.db().display().to_string(),
        wallets = node.wallets().display().to_string(),
        metagraph = node.metagraph().display().to_string(),
    );
    std::fs::write(&file, toml).unwrap();

    let mut cmd = node.command(&Default::default());
    cmd.arg(format!("--config={}", file.display()))
        .arg("--capacity=8MiB")
        // The environment beats the file: dev, not production; the miner's wallet, not
        // "nobody"; and the flag beats the environment's capacity.
        .env("TESSERA_SEAL", "dev")
        .env("TESSERA_WALLET__NAME", "miner")
        .env("TESSERA_CAPACITY", "32MiB");
    let run = Run::from(cmd.output().unwrap());
    run.assert_code(0);

    let entries = node.partition_json();
    for entry in &entries {
        assert_eq!(entry.seal, "dev", "env over file");
        assert_eq!(entry.chunk_size, CHUNK, "file over default");
        assert_eq!(entry.owner, account("Alice"), "env wallet over file");
    }
    let total: u64 = entries.iter().map(|e| e.n_chunks).sum();
    assert_eq!(total, 128, "flag over env and file: 8 MiB of 64 KiB");
    // Set by the file alone; the default is one per core.
    assert!(run.stdout.contains("with 3 workers"), "{run}");
}
