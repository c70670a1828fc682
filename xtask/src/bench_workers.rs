//! `cargo xtask bench-workers`: how much a second sealing worker speeds up a `production`
//! allocation, measured in interleaved pairs against plain sealing threads in the same run.
//!
//! On a shared machine a core's speed drifts by a fifth within seconds, so timing all
//! one-worker runs and then all two-worker runs (as criterion does) mostly measures the drift.
//! Here each pair runs both counts back to back, in alternating order, and the figure is the
//! median of the pairs' ratios. The same pairs are timed for plain threads that only seal, with
//! no allocator and no SQLite: the ceiling this machine allows at that moment. Both run as
//! release-built processes, since `cargo xtask` itself is built unoptimised.
//!
//! The CPU time of each run splits the speed-up in two: how many cores the process kept busy
//! with two workers (the allocator's part: its CPU seconds, sealing, writing and starting up,
//! over the wall seconds; 2.0 on two cores means nothing ever waited), and how much more CPU
//! the same work took with two cores sealing than with one (the machine's part: shared caches,
//! clock speed and the host's other tenants).

use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};
use tessera_chain::{Metagraph, Neuron};
use tessera_core::{Keypair, Wallet, sha256};

use crate::bench::children_cpu_secs;
use crate::devnet::{build_example, build_packages, write_metagraph};

/// Small chunks: the production seal costs the same per byte at any chunk size, and 8 KiB ones
/// make a run of many full batches take seconds rather than hours.
const CHUNK: u64 = 8 << 10;

pub fn run(root: &Path, pairs: usize, chunks: u64) -> anyhow::Result<ExitCode> {
    if pairs == 0 || chunks == 0 {
        bail!("--pairs and --chunks must each be at least 1");
    }
    let Some(capacity) = chunks.checked_mul(CHUNK) else {
        bail!("--chunks {chunks} is too many");
    };
    let release = build_packages(root, true, &["tessera-allocator"])?;
    let bin = release.join("tessera-allocator");
    let seal_bin = build_example(root, "tessera-partition", "seal_threads")?;
    let dir = root.join("target").join("bench-workers");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;

    let miner = Keypair::from_uri("//bench-workers-miner")?;
    Wallet::new(dir.join("wallets"), "miner", "default")?.create_hotkey(&miner, true)?;
    // Two validators of different stake, so that the run fills two partitions like a real one.
    let validators = [("//Alice", 3000.0), ("//Bob", 1000.0)];
    let mut neurons = Vec::new();
    for (uid, (uri, stake)) in validators.into_iter().enumerate() {
        neurons.push(Neuron {
            uid: uid as u16,
            hotkey: Keypair::from_uri(uri)?.account(),
            coldkey: None,
            stake,
            validator_permit: true,
            axon: None,
            last_update: 0,
        });
    }
    write_metagraph(&dir, &Metagraph::new(1, neurons))?;

    let lanes = sha256::preferred_lanes();
    println!(
        "bench-workers: {pairs} pairs, {chunks} chunks of {} KiB sealed `production` ({lanes} lanes), in {}",
        CHUNK >> 10,
        dir.display()
    );
    let kinds = ["allocate", "seal only"];
    // Per kind: speed-up, cores the process kept busy with two workers, CPU for the same work with
    // two against one.
    let mut figures = [[vec![], vec![], vec![]], [vec![], vec![], vec![]]];
    for pair in 0..pairs {
        // Alternating the order cancels a steady drift in the machine's speed.
        let order: [usize; 2] = if pair % 2 == 0 { [1, 2] } else { [2, 1] };
        let mut runs = [[Run::default(); 3]; 2];
        for workers in order {
            runs[0][workers] = timed(allocate(&bin, &dir, capacity, workers))?;
            runs[1][workers] = timed(seal_only(&seal_bin, chunks, workers))?;
        }
        let mut line = format!("pair {}:", pair + 1);
        for (k, [_, one, two]) in runs.iter().enumerate() {
            let speedup = one.wall / two.wall;
            let busy = two.cpu / two.wall;
            let per_chunk = two.cpu / one.cpu;
            line += &format!(
                "{} {} {:.2} s -> {:.2} s: {speedup:.2}x ({busy:.2} cores busy, CPU x{per_chunk:.2})",
                if k == 0 { "" } else { " |" },
                kinds[k],
                one.wall,
                two.wall
            );
            for (figure, value) in figures[k].iter_mut().zip([speedup, busy, per_chunk]) {
                figure.push(value);
            }
        }
        println!("{line}");
    }
    println!("median of {pairs} pairs (range):");
    for (row, what) in [
        "speed-up from a second worker",
        "cores busy with two",
        "CPU for the same work, two vs one",
    ]
    .iter()
    .enumerate()
    {
        println!(
            "  {what:<34} allocate {:<20} seal only {}",
            summary(&figures[0][row]),
            summary(&figures[1][row])
        );
    }
    let _ = std::fs::remove_dir_all(dir.join("db"));
    Ok(ExitCode::SUCCESS)
}

/// `median (min-max)`.
fn summary(values: &[f64]) -> String {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    format!("{median:.2} ({:.2}-{:.2})", v[0], v[n - 1])
}

/// Wall and CPU seconds of one child process.
#[derive(Clone, Copy, Default)]
struct Run {
    wall: f64,
    cpu: f64,
}

/// Runs `cmd` to completion: its wall seconds and the user and system CPU seconds of all its
/// threads. Fails with its stderr if it fails.
fn timed(mut cmd: Command) -> anyhow::Result<Run> {
    let cpu = children_cpu_secs();
    let started = Instant::now();
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("run {}", cmd.get_program().display()))?;
    let wall = started.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!(
            "{} failed: {}",
            cmd.get_program().display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(Run {
        wall,
        cpu: children_cpu_secs() - cpu,
    })
}

/// A fresh allocation of `capacity` bytes by the release binary, as an operator runs it.
fn allocate(bin: &Path, dir: &Path, capacity: u64, workers: usize) -> Command {
    let db = dir.join("db");
    let _ = std::fs::remove_dir_all(&db);
    let mut cmd = Command::new(bin);
    cmd.arg("--db_path")
        .arg(&db)
        .arg("--wallet.path")
        .arg(dir.join("wallets"))
        .arg("--metagraph.path")
        .arg(dir.join("metagraph.toml"))
        .args([
            "--wallet.name",
            "miner",
            "--seal",
            "production",
            "--no_prompt",
        ])
        .args(["--chunk_size", &CHUNK.to_string()])
        .args(["--capacity", &capacity.to_string()])
        .args(["--workers", &workers.to_string()]);
    cmd
}

/// The same number of chunks sealed by plain threads in a release-built process
/// (tessera-partition's `seal_threads` example).
fn seal_only(bin: &Path, chunks: u64, threads: usize) -> Command {
    let mut cmd = Command::new(bin);
    cmd.args([threads.to_string(), chunks.to_string(), CHUNK.to_string()]);
    cmd
}
