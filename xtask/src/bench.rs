//! `cargo xtask bench-data`: put and get throughput of client objects on loopback, through real
//! release-built miner, validator and `tessera` processes, against a baseline measured in the
//! same run: writing the same bytes, times n/k, straight into SQLite. Also reports the peak
//! memory of the client and of the gateway.
//!
//! `cargo xtask bench-s3` runs the same network with the S3 face on, and compares aws-cli's
//! `s3 cp` up and down with the `tessera` CLI's put and get of the same file.
//!
//! It only arranges files and processes and reads the clock; the nodes do all the work.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use tessera_chain::{Metagraph, Neuron};
use tessera_core::{Keypair, Wallet};

use crate::devnet::{Node, build, spawn, stop, write_metagraph};

const MIB: u64 = 1 << 20;

/// The benchmark's settings.
pub struct Bench {
    pub size_mib: u64,
    pub miners: usize,
    pub k: u16,
    pub n: u16,
    /// `bench-s3`: the same object through the S3 face with aws-cli and through the `tessera`
    /// CLI as the baseline, in rounds.
    pub s3: bool,
    /// `bench-s3 --tls`: the S3 face over TLS, with a certificate made for the run.
    pub tls: bool,
    /// `bench-s3`: rounds of runs through both faces, whose medians are compared.
    pub rounds: usize,
}

pub fn run(root: &Path, b: &Bench) -> anyhow::Result<ExitCode> {
    if b.k == 0 || b.k >= b.n || b.miners < usize::from(b.n) {
        bail!("need 1 <= k < n <= miners");
    }
    if b.rounds == 0 {
        bail!("--rounds must be at least 1");
    }
    let (miner_bin, validator_bin) = build(root, true)?;
    let client_bin = miner_bin.with_file_name("tessera");
    let dir = root.join("target").join("bench-data");
    let _ = std::fs::remove_dir_all(&dir);
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("create {}", logs.display()))?;

    let size = b.size_mib * MIB;
    // With S3, the object is stored twice a round: once through each face. Nothing is deleted
    // between runs, because miners reseal freed slots, which would load the runs after.
    let copies = if b.s3 { 2 * b.rounds as u64 } else { 1 };
    let stored = size * u64::from(b.n) / u64::from(b.k) * copies;
    // Each miner's share of the pieces, with room to spare for uneven placement.
    let per_miner_mib = (stored / b.miners as u64 / MIB) * 3 / 2 + 8;
    println!(
        "bench-data: {} MiB object, k={} n={}, {} miners of {per_miner_mib} MiB, 1 MiB pieces, in {}",
        b.size_mib,
        b.k,
        b.n,
        b.miners,
        dir.display()
    );

    // The input file, written before any clock starts.
    let input = dir.join("input.bin");
    write_input(&input, size)?;

    let baseline = baseline(&dir.join("baseline.sqlite"), stored)?;

    let mut neurons = Vec::new();
    let names: Vec<String> = std::iter::once("validator".to_owned())
        .chain((1..=b.miners).map(|i| format!("miner-{i}")))
        .chain(std::iter::once("client".to_owned()))
        .collect();
    for (uid, name) in names.iter().enumerate() {
        let keypair = Keypair::from_uri(&format!("//bench-{name}"))?;
        Wallet::new(dir.join("wallets"), name, "default")?.create_hotkey(&keypair, true)?;
        if name != "client" {
            neurons.push(Neuron {
                uid: uid as u16,
                hotkey: keypair.account(),
                coldkey: None,
                stake: if uid == 0 { 1000.0 } else { 0.0 },
                validator_permit: uid == 0,
                axon: None,
                last_update: 0,
            });
        }
    }
    let mut metagraph = Metagraph::new(1, neurons);
    write_metagraph(&dir, &metagraph)?;
    let common = |name: &str| -> Vec<String> {
        let p = |x: PathBuf| x.display().to_string();
        [
            ("--db_path", p(dir.join("db"))),
            ("--wallet.path", p(dir.join("wallets"))),
            ("--wallet.name", name.into()),
            ("--metagraph.path", p(dir.join("metagraph.toml"))),
            ("--axon.ip", "127.0.0.1".into()),
            ("--axon.port", "0".into()),
            ("--seal", "dev".into()),
            ("--chunk_size", "1MiB".into()),
        ]
        .into_iter()
        .flat_map(|(f, v)| [f.to_owned(), v])
        .collect()
    };

    let mut nodes: Vec<Node> = Vec::new();
    let outcome = (|| -> anyhow::Result<()> {
        for i in 1..=b.miners {
            let name = format!("miner-{i}");
            let mut args = common(&name);
            args.extend(["--capacity".into(), format!("{per_miner_mib}MiB")]);
            let node = spawn(&miner_bin, &name, &args, &logs)?;
            metagraph.neurons[i].axon = Some(node.addr);
            nodes.push(node);
        }
        write_metagraph(&dir, &metagraph)?;
        let mut args = common("validator");
        if b.s3 {
            args.extend(["--s3.addr".into(), "127.0.0.1:0".into()]);
        }
        let ca = if b.s3 && b.tls {
            let (cert, key) = tessera_testkit::self_signed_cert(&dir);
            args.extend([
                "--s3.tls_cert".into(),
                cert.display().to_string(),
                "--s3.tls_key".into(),
                key.display().to_string(),
            ]);
            Some(cert)
        } else {
            None
        };
        args.extend(
            [
                // Every node shares this machine's cores with the clients being measured, which
                // keep them all busy: a miner a little late to a challenge would fall out of
                // placement mid-run and fail the puts. Challenge timing is not what this
                // measures, so the deadlines are generous.
                "--challenge.slack_ms",
                "3000",
                "--challenge.max_rtt_ms",
                "3000",
                "--round_secs",
                "2",
                "--data.k",
                &b.k.to_string(),
                "--data.n",
                &b.n.to_string(),
            ]
            .map(String::from),
        );
        nodes.push(spawn(&validator_bin, "validator", &args, &logs)?);
        let gateway = nodes.last().map(|n| n.addr.to_string()).unwrap_or_default();
        let gateway_pid = nodes.last().map_or(0, |n| n.child.id());
        wait_ready(&gateway, b.n)?;

        let client = |args: &[&str]| {
            let mut c = Command::new(&client_bin);
            c.args(["--validator", &gateway, "--wallet.path"])
                .arg(dir.join("wallets"))
                .args(["--wallet.name", "client", "--quiet"])
                .args(args);
            c
        };
        let pids = Pids {
            gateway: gateway_pid,
            miners: nodes[..nodes.len() - 1]
                .iter()
                .map(|n| n.child.id())
                .collect(),
        };
        if b.s3 {
            let s3 = nodes.last().and_then(|n| n.s3).context("no S3 address")?;
            return s3_versus_cli(
                root,
                &dir,
                (&input, size, b.rounds),
                (s3, ca.as_deref()),
                &pids,
                &client,
            );
        }
        let cpu_before = pids.cpu();
        let (put_secs, put_peak, out) = timed(client(&["put", &input.display().to_string()]))?;
        let cpu_put = pids.cpu();
        let id = String::from_utf8_lossy(&out).trim().to_owned();
        let gateway_after_put = peak_rss(gateway_pid);
        let output = dir.join("output.bin");
        let (get_secs, get_peak, _) =
            timed(client(&["get", &id, "-o", &output.display().to_string()]))?;
        let gateway_peak = peak_rss(gateway_pid);
        let cpu_get = pids.cpu();
        let put_cpu = cpu_spent(cpu_before, cpu_put);
        let get_cpu = cpu_spent(cpu_put, cpu_get);
        if !same_file(&input, &output)? {
            bail!("object {id} came back different");
        }
        let _ = std::fs::remove_file(&output);

        let mibs = |secs: f64| b.size_mib as f64 / secs;
        println!();
        println!(
            "baseline  raw SQLite insert of {} MiB (size × n/k): {:.2} s = {:.0} MiB/s of object",
            stored / MIB,
            baseline,
            mibs(baseline)
        );
        println!(
            "put       {:.2} s = {:.0} MiB/s, {:.0}% of the baseline (target 50%)",
            put_secs,
            mibs(put_secs),
            100.0 * baseline / put_secs
        );
        println!(
            "get       {:.2} s = {:.0} MiB/s, {:.0}% of the baseline (target 70%)",
            get_secs,
            mibs(get_secs),
            100.0 * baseline / get_secs
        );
        println!("cpu during put: {put_cpu}; during get: {get_cpu}");
        println!(
            "peak memory: client put {} MiB, client get {} MiB, gateway {} MiB after put and {} MiB after get (target < 256 MiB)",
            put_peak / MIB,
            get_peak / MIB,
            gateway_after_put / MIB,
            gateway_peak / MIB
        );
        Ok(())
    })();
    let clean = stop(&mut nodes);
    outcome?;
    Ok(if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The node processes whose CPU the benches account for.
struct Pids {
    gateway: u32,
    miners: Vec<u32>,
}

impl Pids {
    /// CPU seconds used so far by the gateway, the miners together, and this process's waited-for
    /// children (the client being measured).
    fn cpu(&self) -> [f64; 3] {
        [
            cpu_secs(self.gateway),
            self.miners.iter().map(|p| cpu_secs(*p)).sum(),
            children_cpu_secs(),
        ]
    }
}

/// "gateway G s, miners M s, client C s" between two [`Pids::cpu`] readings.
fn cpu_spent(from: [f64; 3], to: [f64; 3]) -> String {
    cpu_line(std::array::from_fn(|i| to[i] - from[i]))
}

/// "gateway G s, miners M s, client C s" for CPU seconds in [`Pids::cpu`]'s order.
fn cpu_line(cpu: [f64; 3]) -> String {
    format!(
        "gateway {:.2} s, miners {:.2} s, client {:.2} s",
        cpu[0], cpu[1], cpu[2]
    )
}

/// `bench-s3`'s runs: in each of `rounds` rounds, aws-cli's `s3 cp` up and down and the
/// `tessera` CLI's put and get of the same file, each download compared with the input. Which
/// face goes first alternates between rounds, and every timed run starts after a `sync`, so
/// that neither face pays for the other's (or the set-up's) disk writeback; the ratios are of
/// the medians. This machine's cores are shared with other tenants, whose share (steal) is
/// shown per round. The gateway's peak memory is read after the first round's S3 upload, which
/// runs before any CLI put can raise it. CPU time is reported per process kind, because on a
/// small machine the client and the gateway compete for the same cores.
fn s3_versus_cli(
    root: &Path,
    dir: &Path,
    (input, size, rounds): (&Path, u64, usize),
    (s3, ca): (std::net::SocketAddr, Option<&Path>),
    pids: &Pids,
    client: &dyn Fn(&[&str]) -> Command,
) -> anyhow::Result<()> {
    let gateway_pid = pids.gateway;
    crate::test::s3_tools(root)?;
    let made = client(&["s3-keys", "create"])
        .output()
        .context("run tessera s3-keys create")?;
    if !made.status.success() {
        bail!(
            "tessera s3-keys create: {}",
            String::from_utf8_lossy(&made.stderr)
        );
    }
    let made = String::from_utf8_lossy(&made.stdout).into_owned();
    let field = |label: &str| {
        made.lines()
            .find_map(|l| l.strip_prefix(label))
            .map(|v| v.trim().to_owned())
            .with_context(|| format!("no {label} in {made}"))
    };
    let (access, secret) = (field("access_key_id")?, field("secret_access_key")?);
    let endpoint = format!("{}://{s3}", if ca.is_some() { "https" } else { "http" });
    let aws = |args: &[&str]| {
        let mut c = Command::new(root.join("target/s3-tools/bin/aws"));
        match ca {
            Some(ca) => c.env("AWS_CA_BUNDLE", ca),
            None => c.env_remove("AWS_CA_BUNDLE"),
        };
        c.args(["--endpoint-url", &endpoint])
            .args(args)
            .env("AWS_ACCESS_KEY_ID", &access)
            .env("AWS_SECRET_ACCESS_KEY", &secret)
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .stdout(Stdio::null());
        c
    };
    let (_, _, _) = timed(aws(&["s3", "mb", "s3://bench"]))?;
    let output = dir.join("output.bin");
    let out_arg = output.display().to_string();
    let in_arg = input.display().to_string();
    let mut s3_runs = Runs::default();
    let mut cli_runs = Runs::default();
    let mut gateway_after_s3_put = 0;
    println!();
    println!(
        "aws-cli over {endpoint}: {rounds} rounds, which face goes first alternating, a sync before each run"
    );
    for round in 0..rounds {
        let s3_first = round % 2 == 0;
        for s3_turn in [s3_first, !s3_first] {
            if s3_turn {
                let object = format!("s3://bench/input-{round}.bin");
                s3_runs.run(
                    pids,
                    aws(&["s3", "cp", "--only-show-errors", &in_arg, &object]),
                )?;
                if round == 0 {
                    gateway_after_s3_put = peak_rss(gateway_pid);
                }
                s3_runs.run(
                    pids,
                    aws(&["s3", "cp", "--only-show-errors", &object, &out_arg]),
                )?;
                if !same_file(input, &output)? {
                    bail!("the S3 object {object} came back different");
                }
            } else {
                let out = cli_runs.run(pids, client(&["put", &in_arg]))?;
                let id = String::from_utf8_lossy(&out).trim().to_owned();
                cli_runs.run(pids, client(&["get", &id, "-o", &out_arg]))?;
                if !same_file(input, &output)? {
                    bail!("object {id} came back different");
                }
            }
            let _ = std::fs::remove_file(&output);
        }
        println!(
            "round {}: tessera put {:.2} s, get {:.2} s; aws s3 cp up {:.2} s, down {:.2} s; steal {:.0}%; gateway resident {} MiB, peak so far {} MiB",
            round + 1,
            cli_runs.secs[2 * round],
            cli_runs.secs[2 * round + 1],
            s3_runs.secs[2 * round],
            s3_runs.secs[2 * round + 1],
            {
                // Over the round's four runs, weighted by their length.
                let (stolen, all) = cli_runs.steal[2 * round..]
                    .iter()
                    .chain(&s3_runs.steal[2 * round..])
                    .fold((0.0, 0.0), |(s, a), (ds, da)| (s + ds, a + da));
                100.0 * stolen / f64::max(all, 1.0)
            },
            rss(gateway_pid) / MIB,
            peak_rss(gateway_pid) / MIB
        );
    }
    let mibs = |secs: f64| size as f64 / MIB as f64 / secs;
    for (what, kind, s3_kind) in [("put", 0, "up"), ("get", 1, "down")] {
        let (cli, aws) = (cli_runs.median(kind), s3_runs.median(kind));
        println!(
            "median tessera {what} {cli:.2} s = {:.0} MiB/s; aws s3 cp {s3_kind} {aws:.2} s = {:.0} MiB/s, {:.2}× the CLI (target 0.8×)",
            mibs(cli),
            mibs(aws),
            cli / aws
        );
    }
    for (what, kind) in [("put", 0), ("get", 1)] {
        println!(
            "median cpu: aws {what} {}; tessera {what} {}",
            cpu_line(s3_runs.median_cpu(kind)),
            cpu_line(cli_runs.median_cpu(kind))
        );
    }
    println!(
        "gateway peak memory: {} MiB after the first S3 multipart upload, {} MiB after every run (target < 256 MiB)",
        gateway_after_s3_put / MIB,
        peak_rss(gateway_pid) / MIB
    );
    Ok(())
}

/// One face's timed runs, put and get alternating: wall seconds, the CPU each process kind
/// spent, and the share of the machine's time other tenants took.
#[derive(Default)]
struct Runs {
    secs: Vec<f64>,
    cpu: Vec<[f64; 3]>,
    /// Steal ticks and all ticks during each run.
    steal: Vec<(f64, f64)>,
}

impl Runs {
    /// Runs `cmd` after a `sync`, and records it; its stdout.
    fn run(&mut self, pids: &Pids, cmd: Command) -> anyhow::Result<Vec<u8>> {
        let synced = Command::new("sync").status().context("run sync")?;
        if !synced.success() {
            bail!("sync failed: {synced}");
        }
        let (cpu, steal) = (pids.cpu(), steal_ticks());
        let (secs, _, out) = timed(cmd)?;
        let (cpu_after, steal_after) = (pids.cpu(), steal_ticks());
        self.secs.push(secs);
        self.cpu
            .push(std::array::from_fn(|i| cpu_after[i] - cpu[i]));
        self.steal
            .push((steal_after.0 - steal.0, steal_after.1 - steal.1));
        Ok(out)
    }

    /// The median seconds of the puts (`kind` 0) or the gets (1).
    fn median(&self, kind: usize) -> f64 {
        median(self.secs.iter().skip(kind).step_by(2).copied())
    }

    /// The median CPU seconds of each process kind over the puts (`kind` 0) or the gets (1).
    fn median_cpu(&self, kind: usize) -> [f64; 3] {
        std::array::from_fn(|i| median(self.cpu.iter().skip(kind).step_by(2).map(|c| c[i])))
    }
}

/// The middle value (the mean of the middle two of an even count); 0 for none.
fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The machine's steal ticks and all its ticks so far, from /proc/stat's `cpu` line: user to
/// steal, since guest time is counted in user time already.
fn steal_ticks() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|v| v.parse().ok())
        .collect();
    (ticks.get(7).copied().unwrap_or(0.0), ticks.iter().sum())
}

/// Pseudo-random bytes that do not compress, so no layer gets an easy ride.
fn write_input(path: &Path, size: u64) -> anyhow::Result<()> {
    use std::io::Write;
    let file = std::fs::File::create(path).with_context(|| format!("create {}", path.display()))?;
    let mut w = std::io::BufWriter::with_capacity(MIB as usize, file);
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut block = vec![0u8; MIB as usize];
    let mut left = size;
    while left > 0 {
        for chunk in block.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes());
        }
        let n = left.min(MIB) as usize;
        w.write_all(&block[..n])?;
        left -= n as u64;
    }
    w.flush()?;
    Ok(())
}

/// Seconds to insert `bytes` as 1 MiB blobs, with their 32-byte roots, into a fresh SQLite file
/// with the pragmas of Tessera's partition databases, committed every 17 blobs.
fn baseline(path: &Path, bytes: u64) -> anyhow::Result<f64> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .page_size(65536)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        sqlx::query(
            "CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB NOT NULL, root BLOB NOT NULL)",
        )
        .execute(&pool)
        .await?;
        let blob: Vec<u8> = (0..MIB).map(|i| (i * 31 + i / 977) as u8).collect();
        let blobs = bytes.div_ceil(MIB);
        let started = Instant::now();
        let mut id = 0i64;
        while id < blobs as i64 {
            let mut tx = pool.begin().await?;
            for _ in 0..17 {
                if id >= blobs as i64 {
                    break;
                }
                sqlx::query("INSERT INTO blobs (id, data, root) VALUES (?, ?, ?)")
                    .bind(id)
                    .bind(&blob[..])
                    .bind(&blob[..32])
                    .execute(&mut *tx)
                    .await?;
                id += 1;
            }
            tx.commit().await?;
        }
        let secs = started.elapsed().as_secs_f64();
        pool.close().await;
        let _ = std::fs::remove_file(path);
        Ok(secs)
    })
}

/// Runs `cmd` to completion: wall seconds, its peak resident memory, and its stdout.
fn timed(mut cmd: Command) -> anyhow::Result<(f64, u64, Vec<u8>)> {
    let started = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("start tessera")?;
    let pid = child.id();
    let mut peak = 0;
    // VmHWM is the process's own high-water mark, so sampling it shortly before exit is enough.
    while child.try_wait()?.is_none() {
        peak = peak.max(peak_rss(pid));
        std::thread::sleep(Duration::from_millis(20));
    }
    let secs = started.elapsed().as_secs_f64();
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("tessera failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok((secs, peak, out.stdout))
}

/// User and system CPU seconds process `pid` has used, from /proc (0 where unavailable).
pub(crate) fn cpu_secs(pid: u32) -> f64 {
    stat_secs(&pid.to_string(), 11)
}

/// User and system CPU seconds this process has used.
pub(crate) fn own_cpu_secs() -> f64 {
    stat_secs("self", 11)
}

/// User and system CPU seconds used by the children of this process that it has waited for.
pub(crate) fn children_cpu_secs() -> f64 {
    stat_secs("self", 13)
}

/// The sum of two adjacent CPU-time fields of `/proc/<who>/stat` in seconds, counting from the
/// field after the parenthesised command name (0 where unavailable).
fn stat_secs(who: &str, first: usize) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{who}/stat")) else {
        return 0.0;
    };
    // The command name may hold spaces; the fields proper follow its closing parenthesis. Counted
    // from 0 there, utime and stime are fields 11 and 12, cutime and cstime 13 and 14.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // Linux reports in USER_HZ, which is 100 on every architecture Tessera runs on.
    (ticks(first) + ticks(first + 1)) / 100.0
}

/// The peak resident set of process `pid` in bytes, from /proc (0 where unavailable).
pub(crate) fn peak_rss(pid: u32) -> u64 {
    status_bytes(pid, "VmHWM:")
}

/// The resident set of process `pid` in bytes, from /proc (0 where unavailable).
pub(crate) fn rss(pid: u32) -> u64 {
    status_bytes(pid, "VmRSS:")
}

/// A size field (in kB) of `/proc/<pid>/status`, in bytes.
fn status_bytes(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn same_file(a: &Path, b: &Path) -> anyhow::Result<bool> {
    use std::io::Read;
    let (mut fa, mut fb) = (std::fs::File::open(a)?, std::fs::File::open(b)?);
    let (mut ba, mut bb) = (vec![0u8; MIB as usize], vec![0u8; MIB as usize]);
    loop {
        let na = fa.read(&mut ba)?;
        let mut nb = 0;
        while nb < na {
            let r = fb.read(&mut bb[nb..na])?;
            if r == 0 {
                return Ok(false);
            }
            nb += r;
        }
        if na == 0 {
            return Ok(fb.read(&mut bb)? == 0);
        }
        if ba[..na] != bb[..na] {
            return Ok(false);
        }
    }
}

/// Waits until the gateway trusts `n` miners with pieces.
fn wait_ready(gateway: &str, n: u16) -> anyhow::Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    let keypair = || Keypair::from_uri("//bench-client");
    rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let c = tessera_client::Client::connect(gateway, keypair()?).await?;
            if c.ready_miners >= u32::from(n) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("only {} miners ready after 60 s", c.ready_miners);
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    })
}
