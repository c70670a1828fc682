//! `cargo xtask tidy`: keeps the workspace's shape true, as docs/ARCHITECTURE.md states it. The
//! layering between crates is read from `cargo metadata` (a library that gains a dependency it
//! must not have fails here, not in review), then the conventions every crate follows: folder
//! name = crate name, version 0.0.0 and unpublished, and a `//!` line opening every `.rs` file.
//! `cargo xtask test` runs it first.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// What a crate must not depend on (normal or build dependencies; tests may use anything), and
/// why, in the words of the code map.
const FORBIDDEN: &[(&str, &[&str], &str)] = &[
    (
        "tessera-core",
        &[
            "tonic",
            "prost",
            "sqlx",
            "tokio",
            "axum",
            "tessera-proto",
            "tessera-rpc",
            "tessera-storage",
        ],
        "core does no networking, no SQL and no async I/O",
    ),
    (
        "tessera-partition",
        &["tonic", "sqlx", "tokio", "tessera-storage", "tessera-proto"],
        "the seal is pure computation",
    ),
    (
        "tessera-object",
        &["tonic", "sqlx", "tokio", "tessera-storage", "tessera-proto"],
        "erasure coding and encryption are pure computation",
    ),
    (
        "tessera-storage",
        &["tonic", "prost", "axum", "tessera-proto", "tessera-rpc"],
        "storage knows SQLite, not the wire",
    ),
    (
        "tessera-chain",
        &["tonic", "sqlx", "tessera-storage", "tessera-proto"],
        "the chain backends know the chain only",
    ),
    (
        "tessera-proto",
        &["sqlx", "tessera-storage", "tessera-rpc"],
        "the wire types carry no policy",
    ),
    (
        "tessera-rpc",
        &[
            "sqlx",
            "axum",
            "prometheus-client",
            "tessera-storage",
            "tessera-allocator",
            "tessera-node",
        ],
        "rpc is gRPC glue only",
    ),
    (
        "tessera-node",
        &[
            "tonic",
            "prost",
            "sqlx",
            "tessera-proto",
            "tessera-rpc",
            "tessera-storage",
            "tessera-chain",
            "tessera-allocator",
        ],
        "node plumbing knows no gRPC, no SQL and no chain",
    ),
    (
        "tessera-gateway",
        &[
            "tessera-allocator",
            "tessera-partition",
            "indicatif",
            "clap",
        ],
        "the gateway neither provisions nor seals, and has no command line",
    ),
    (
        "tessera-allocator",
        &[
            "tonic",
            "axum",
            "tessera-proto",
            "tessera-rpc",
            "tessera-gateway",
        ],
        "provisioning is local: no wire, no gateway",
    ),
    (
        "tessera-validator",
        &["tessera-allocator", "indicatif"],
        "the validator does not provision, and draws no bars",
    ),
    (
        "tessera-client",
        &["sqlx", "tessera-storage", "tessera-allocator", "axum"],
        "a client holds no node state",
    ),
];

/// Crates no other crate may depend on, except `xtask`, which drives them all.
const LEAVES: &[&str] = &["tessera-miner", "tessera-validator", "tessera-client"];

/// The files of library crates that may write to the terminal: the command-line layers. Every
/// other file of a library reports through return values, callbacks and `tracing`. The binaries'
/// own crates (`LEAVES`) and xtask are their command lines, and are not checked.
const TERMINAL_ALLOWED: &[&str] = &["src/cli.rs", "src/main.rs", "tessera-node/src/args.rs"];

/// What writes to the terminal in Rust source.
const TERMINAL_IO: &[&str] = &[
    "println!",
    "print!(",
    "eprintln!",
    "eprint!(",
    "indicatif::",
];

/// Only binaries' glue and xtask may use `anyhow`; libraries have typed errors.
const ANYHOW_ALLOWED: &[&str] = &["xtask"];

pub fn run(root: &Path) -> anyhow::Result<()> {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps", "--locked"])
        .current_dir(root)
        .output()
        .context("run cargo metadata")?;
    if !out.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let meta: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("parse cargo metadata's output")?;
    let packages = meta["packages"]
        .as_array()
        .context("cargo metadata lists no packages")?;
    let mut problems = Vec::new();
    for p in packages {
        let name = p["name"].as_str().unwrap_or_default();
        let deps: Vec<&str> = p["dependencies"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| d["kind"].is_null() || d["kind"] == "build")
            .filter_map(|d| d["name"].as_str())
            .collect();
        problems.extend(layering(name, &deps));
        if p["version"] != "0.0.0" {
            problems.push(format!(
                "{name}: version {} (internal crates are 0.0.0)",
                p["version"]
            ));
        }
        if p["publish"] != serde_json::json!([]) {
            problems.push(format!("{name}: publish is not false"));
        }
        let manifest = PathBuf::from(p["manifest_path"].as_str().unwrap_or_default());
        let dir = manifest.parent().unwrap_or(root);
        if name != "xtask" {
            let folder = dir.file_name().and_then(|f| f.to_str()).unwrap_or_default();
            let parent = dir.parent().and_then(|d| d.file_name());
            if folder != name || parent.and_then(|f| f.to_str()) != Some("crates") {
                problems.push(format!(
                    "{name}: lives in {}, not crates/{name}",
                    dir.display()
                ));
            }
        }
        for file in rust_files(dir)? {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("read {}", file.display()))?;
            if !text.trim_start().starts_with("//!") {
                problems.push(format!(
                    "{}: does not open with a `//!` line saying what it is for",
                    file.display()
                ));
            }
            if is_library_source(name, &file) {
                problems.extend(terminal_io(&file, &text));
            }
        }
    }
    if problems.is_empty() {
        println!(
            "   tidy: {} crates, layering and conventions hold",
            packages.len()
        );
        return Ok(());
    }
    for p in &problems {
        eprintln!("   tidy: {p}");
    }
    bail!(
        "tidy found {} problems (docs/ARCHITECTURE.md says why each rule holds)",
        problems.len()
    )
}

/// What is wrong with crate `name` depending on `deps`.
fn layering(name: &str, deps: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for (krate, forbidden, why) in FORBIDDEN {
        if *krate != name {
            continue;
        }
        for d in deps.iter().filter(|d| forbidden.contains(d)) {
            out.push(format!("{name} depends on {d}: {why}"));
        }
    }
    if name != "xtask" {
        for d in deps.iter().filter(|d| LEAVES.contains(d)) {
            out.push(format!(
                "{name} depends on {d}: binaries' crates are leaves"
            ));
        }
        if name != "tessera-testkit" && deps.contains(&"tessera-testkit") {
            out.push(format!(
                "{name} depends on tessera-testkit outside its tests"
            ));
        }
    }
    if deps.contains(&"anyhow") && !ANYHOW_ALLOWED.contains(&name) {
        out.push(format!(
            "{name} depends on anyhow: libraries have typed errors"
        ));
    }
    out
}

/// Whether `file` of crate `name` is library code held to printing nothing.
fn is_library_source(name: &str, file: &Path) -> bool {
    let path = file.to_string_lossy().replace('\\', "/");
    name.starts_with("tessera-")
        && !LEAVES.contains(&name)
        && name != "tessera-testkit"
        && path.contains(&format!("{name}/src/"))
        && !TERMINAL_ALLOWED.iter().any(|allowed| {
            // An entry names a crate's file, or (without a crate) that file in every crate.
            let allowed = if allowed.starts_with("tessera-") {
                (*allowed).to_owned()
            } else {
                format!("{name}/{allowed}")
            };
            path.ends_with(&format!("/{allowed}"))
        })
}

/// Each line of `text` that writes to the terminal, tests left out (they may print freely).
fn terminal_io(file: &Path, text: &str) -> Vec<String> {
    let code = text.split("#[cfg(test)]").next().unwrap_or(text);
    code.lines()
        .enumerate()
        .filter(|(_, line)| {
            let line = line.trim_start();
            !line.starts_with("//") && TERMINAL_IO.iter().any(|io| line.contains(io))
        })
        .map(|(i, _)| {
            format!(
                "{}:{}: a library writes to the terminal; report through the caller (its `cli` draws)",
                file.display(),
                i + 1
            )
        })
        .collect()
}

/// Every `.rs` file under `dir`, build output (`target`) and hidden folders left out.
fn rust_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("list {}", d.display()))? {
            let path = entry?.path();
            let file_name = path
                .file_name()
                .and_then(|f| f.to_str())
                .unwrap_or_default();
            if path.is_dir() {
                if file_name != "target" && !file_name.starts_with('.') {
                    stack.push(path);
                }
            } else if file_name.ends_with(".rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::layering;

    #[test]
    fn each_rule_catches_what_it_names() {
        assert!(layering("tessera-core", &["sha2", "serde"]).is_empty());
        let found = layering("tessera-core", &["sqlx", "tonic"]);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].contains("no SQL"), "{found:?}");
        assert_eq!(layering("tessera-storage", &["tessera-rpc"]).len(), 1);
        assert_eq!(layering("tessera-rpc", &["tessera-validator"]).len(), 1);
        assert_eq!(layering("tessera-object", &["anyhow"]).len(), 1);
        assert_eq!(layering("tessera-miner", &["tessera-testkit"]).len(), 1);
        assert!(layering("xtask", &["tessera-validator", "anyhow", "tessera-testkit"]).is_empty());
        assert_eq!(
            layering("tessera-validator", &["tessera-allocator"]).len(),
            1
        );
        assert_eq!(layering("tessera-gateway", &["tessera-allocator"]).len(), 1);
        assert_eq!(layering("tessera-gateway", &["tessera-validator"]).len(), 1);
        assert_eq!(
            layering("tessera-node", &["tessera-chain", "tonic"]).len(),
            2
        );
        assert_eq!(layering("tessera-rpc", &["axum"]).len(), 1);
    }

    #[test]
    fn libraries_may_not_print_outside_their_command_line() {
        use super::{is_library_source, terminal_io};
        use std::path::Path;
        let check = |name: &str, file: &str, held: bool| {
            assert_eq!(
                is_library_source(name, Path::new(file)),
                held,
                "{name} {file}"
            );
        };
        check(
            "tessera-allocator",
            "/w/crates/tessera-allocator/src/allocate.rs",
            true,
        );
        check(
            "tessera-allocator",
            "/w/crates/tessera-allocator/src/cli.rs",
            false,
        );
        check(
            "tessera-allocator",
            "/w/crates/tessera-allocator/tests/it/main.rs",
            false,
        );
        check("tessera-node", "/w/crates/tessera-node/src/args.rs", false);
        check("tessera-node", "/w/crates/tessera-node/src/config.rs", true);
        check(
            "tessera-validator",
            "/w/crates/tessera-validator/src/node.rs",
            false,
        );
        let file = Path::new("x.rs");
        let found = terminal_io(file, "fn a() {\n    println!(\"x\");\n    // println!\n}\n");
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("x.rs:2:"), "{found:?}");
        let tests_only = "fn a() {}\n#[cfg(test)]\nmod tests { fn b() { println!(\"ok\"); } }\n";
        assert!(terminal_io(file, tests_only).is_empty());
    }
}
