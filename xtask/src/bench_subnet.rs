//! `cargo xtask bench-subnet`: one release-built validator against a whole subnet of miners
//! (192 by default), all served by one process of real miners on loopback (the `many_miners`
//! example), at the validator's default settings. It reports the validator's CPU per hour, split
//! into checking challenges and sealing for audits, its memory, how long a round takes, the
//! proof bytes per item, and the honest miners' pass rate; then projects the cost for 1 MiB
//! `production` chunks against the one-seal-per-item validator before challenges v2, from a
//! production seal timed in the same run.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tessera_chain::{Metagraph, Neuron};
use tessera_core::{Keypair, Wallet};

use crate::bench::{cpu_secs, peak_rss, rss};
use crate::devnet::{build_example, build_packages, spawn, write_metagraph};

/// The validator's defaults this bench holds to (`tessera-validator --help`).
const ROUND_SECS: f64 = 12.0;
const AUDIT_SHARE: f64 = 0.2;
const INITIAL_SHARE: f64 = 0.5;
const INITIAL_AUDIT: f64 = 64.0;
/// What the validator before challenges v2 sealed per miner per round (`challenge.seal_budget`).
const V1_SEALS_PER_ROUND: f64 = 2.0;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn run(root: &Path, miners: usize, rounds: u64, capacity: &str) -> anyhow::Result<ExitCode> {
    if miners == 0 || rounds == 0 {
        bail!("--miners and --rounds must each be at least 1");
    }
    let release = build_packages(root, true, &["tessera-validator"])?;
    let many = build_example(root, "tessera-miner", "many_miners")?;
    let seal = build_example(root, "tessera-partition", "seal_threads")?;
    let dir = root.join("target").join("bench-subnet");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("logs"))
        .with_context(|| format!("create {}", dir.display()))?;

    // The baseline, timed first on an idle machine: one 1 MiB chunk sealed `production` on one
    // thread, as the validator seals an audit (and as v1 sealed every fresh item).
    let seal_secs = {
        let started = Instant::now();
        let status = Command::new(&seal)
            .args(["1", "1", &(1u64 << 20).to_string()])
            .stdout(Stdio::null())
            .status()
            .with_context(|| format!("run {}", seal.display()))?;
        if !status.success() {
            bail!("{} failed: {status}", seal.display());
        }
        started.elapsed().as_secs_f64()
    };

    // Wallets and the metagraph: one validator, then the miners with the ports they will bind.
    let wallets = dir.join("wallets");
    let validator = Keypair::from_uri("//bench-subnet-validator")?;
    Wallet::new(&wallets, "validator", "default")?.create_hotkey(&validator, true)?;
    let mut neurons = vec![Neuron {
        uid: 0,
        hotkey: validator.account(),
        coldkey: None,
        stake: 1000.0,
        validator_permit: true,
        axon: None,
        last_update: 0,
    }];
    // Ports found free now and bound by the miners a moment later.
    let listeners: Vec<TcpListener> = (0..miners)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()?;
    let mut pairs = Vec::with_capacity(miners);
    for (i, l) in listeners.iter().enumerate() {
        let name = format!("miner-{i}");
        let kp = Keypair::from_uri(&format!("//bench-subnet-{name}"))?;
        Wallet::new(&wallets, &name, "default")?.create_hotkey(&kp, true)?;
        let addr = l.local_addr()?;
        neurons.push(Neuron {
            uid: (i + 1) as u16,
            hotkey: kp.account(),
            coldkey: None,
            stake: 0.0,
            validator_permit: false,
            axon: Some(addr),
            last_update: 0,
        });
        pairs.push(format!("{name}={}", addr.port()));
    }
    drop(listeners);
    write_metagraph(&dir, &Metagraph::new(1, neurons))?;
    let metagraph = dir.join("metagraph.toml");

    println!(
        "bench-subnet: {miners} miners of {capacity} (1 MiB chunks, seal dev) in one process, one validator at its defaults, in {}",
        dir.display()
    );
    let started = Instant::now();
    let mut host = Command::new(&many);
    host.arg(&dir)
        .arg(&metagraph)
        .args([capacity, "1MiB", "dev"])
        .args(&pairs)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("logs/miners.log"))?);
    let mut host = Killed(
        host.spawn()
            .with_context(|| format!("start {}", many.display()))?,
    );
    let out = host.0.stdout.take().context("miners' stdout")?;
    let ready = BufReader::new(out)
        .lines()
        .map_while(Result::ok)
        .any(|l| l.starts_with("ready "));
    if !ready {
        bail!(
            "the miners did not start; see {}",
            dir.join("logs/miners.log").display()
        );
    }
    println!(
        "  {miners} miners allocated and serving in {:.0} s",
        started.elapsed().as_secs_f64()
    );

    let args: Vec<String> = [
        "--db_path",
        &dir.join("db").display().to_string(),
        "--wallet.path",
        &wallets.display().to_string(),
        "--wallet.name",
        "validator",
        "--metagraph.path",
        &metagraph.display().to_string(),
        "--axon.ip",
        "127.0.0.1",
        "--axon.port",
        "0",
        "--metrics.addr",
        "127.0.0.1:0",
        "--chunk_size",
        "1MiB",
        "--seal",
        "dev",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let node = spawn(
        &release.join("tessera-validator"),
        "validator",
        &args,
        &dir.join("logs"),
    )?;
    let pid = node.child.id();
    let metrics = node
        .metrics
        .context("the validator reported no metrics address")?;
    let _validator = Killed(node.child);
    let state = dir
        .join("db")
        .join("validator")
        .join("default")
        .join(tessera_validator::STATE_FILE);

    // Warm-up: every miner's initial audit through, so that what follows is the steady state.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let warm = Instant::now();
    loop {
        std::thread::sleep(Duration::from_secs(5));
        let rows = rt.block_on(tessera_validator::status::read(
            &state,
            &validator.account(),
        ))?;
        let counted = rows.iter().filter(|r| r.proven_bytes > 0).count();
        if counted == miners {
            break;
        }
        if warm.elapsed() > Duration::from_secs(1800) {
            bail!("only {counted} of {miners} miners audited after 30 minutes");
        }
    }
    println!(
        "  initial audits of all {miners} miners through in {:.0} s",
        warm.elapsed().as_secs_f64()
    );

    // The measured window: whole rounds at the default pace.
    let m0 = scrape(metrics)?;
    let cpu0 = cpu_secs(pid);
    let from_ms = now_ms();
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(rounds as f64 * ROUND_SECS));
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_secs(pid) - cpu0;
    let m1 = scrape(metrics)?;
    let peak = peak_rss(pid);
    let rss = rss(pid);
    let items = rt.block_on(items_since(&state, from_ms))?;

    let audit = m1.get("tessera_validator_audit_seal_seconds_total")
        - m0.get("tessera_validator_audit_seal_seconds_total");
    let rounds_done = m1.get("tessera_validator_round_duration_seconds_count")
        - m0.get("tessera_validator_round_duration_seconds_count");
    let round_secs = (m1.get("tessera_validator_round_duration_seconds_sum")
        - m0.get("tessera_validator_round_duration_seconds_sum"))
        / rounds_done.max(1.0);
    let audits =
        m1.get("tessera_validator_audits_total") - m0.get("tessera_validator_audits_total");
    let verify = (cpu - audit).max(0.0);
    let per_hour = 3600.0 / wall;
    let scale = 192.0 / miners as f64;

    println!("\nmeasured over {wall:.0} s ({rounds_done:.0} rounds) against {miners} miners:");
    println!(
        "  validator CPU          {:.1} core-s/h ({:.3} of a core)",
        cpu * per_hour,
        cpu / wall
    );
    println!(
        "    checking challenges  {:.1} core-s/h ({:.3} of a core)",
        verify * per_hour,
        verify / wall
    );
    println!(
        "    sealing for audits   {:.1} core-s/h ({:.3} of a core; {audits:.0} audited items, dev seal)",
        audit * per_hour,
        audit / wall
    );
    println!(
        "  memory                 {:.0} MiB resident, {:.0} MiB peak",
        rss as f64 / 1048576.0,
        peak as f64 / 1048576.0
    );
    println!(
        "  round duration         {round_secs:.2} s mean (every miner challenged, results recorded)"
    );
    println!(
        "  items                  {} ({} passed, {:.2}%), {:.0} proof bytes each (segment and hashes)",
        items.0,
        items.1,
        100.0 * items.1 as f64 / items.0.max(1) as f64,
        items.2
    );

    let verify_cores = verify / wall * scale;
    let v1_cores = 192.0 * V1_SEALS_PER_ROUND * (3600.0 / ROUND_SECS) * seal_secs / 3600.0;
    println!(
        "\nprojected for 192 miners, 1 MiB production chunks, the defaults (a production seal took {seal_secs:.2} s here):"
    );
    println!(
        "  checking challenges    {verify_cores:.3} of a core (measured, x{scale:.2}; the seal does not enter it)"
    );
    println!(
        "  background audits      {AUDIT_SHARE:.3} of a core (audit.cpu_share: {:.0} seals/h, each miner audited {:.1} times an hour)",
        AUDIT_SHARE * 3600.0 / seal_secs,
        AUDIT_SHARE * 3600.0 / seal_secs / 192.0
    );
    println!(
        "  total                  {:.3} of a core",
        verify_cores + AUDIT_SHARE
    );
    println!(
        "  onboarding, once       {:.1} h at audit.initial_cpu_share {INITIAL_SHARE} ({:.1} core-h)",
        192.0 * INITIAL_AUDIT * seal_secs / INITIAL_SHARE / 3600.0,
        192.0 * INITIAL_AUDIT * seal_secs / 3600.0
    );
    println!(
        "  baseline, v1           {v1_cores:.1} cores (a seal for each of {V1_SEALS_PER_ROUND} fresh items per miner per round)"
    );
    if items.1 != items.0 {
        println!(
            "\nwarning: honest miners failed {} items; see {}",
            items.0 - items.1,
            dir.join("logs").display()
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Items recorded since `from_ms`: how many, how many passed, mean proof bytes.
async fn items_since(state: &Path, from_ms: u64) -> anyhow::Result<(u64, u64, f64)> {
    use sqlx::Row;
    let url = format!("sqlite://{}?mode=ro", state.display());
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url).await?;
    let row = sqlx::query(
        "SELECT COUNT(*), COALESCE(SUM(success <> 0), 0), COALESCE(AVG(bytes), 0.0)
         FROM challenges WHERE at_ms >= ?",
    )
    .bind(from_ms as i64)
    .fetch_one(&mut conn)
    .await?;
    Ok((
        row.try_get::<i64, _>(0)? as u64,
        row.try_get::<i64, _>(1)? as u64,
        row.try_get::<f64, _>(2)?,
    ))
}

/// Samples of a Prometheus text page, by metric name (label-less ones only).
struct Samples(Vec<(String, f64)>);

impl Samples {
    fn get(&self, name: &str) -> f64 {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0.0, |(_, v)| *v)
    }
}

fn scrape(addr: SocketAddr) -> anyhow::Result<Samples> {
    let mut s = TcpStream::connect(addr)?;
    write!(s, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut body = String::new();
    s.read_to_string(&mut body)?;
    Ok(Samples(
        body.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let (name, value) = l.rsplit_once(' ')?;
                Some((name.to_owned(), value.parse().ok()?))
            })
            .collect(),
    ))
}
