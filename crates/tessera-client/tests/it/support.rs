//! A small network for client tests: miners started first on port 0, their axons published in
//! the metagraph, then one validator whose gateway is ready once it has challenged enough miners
//! to place every piece; and the `tessera` binary run against it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

use tessera_testkit::{Net, Process, Spec, bin};

/// Pieces are chunks of this size: small, so sealing takes milliseconds.
pub const CHUNK: usize = 64 << 10;
pub const CHUNK_FLAG: &str = "64KiB";
pub const VALIDATOR: &str = "Alice";

pub struct Devnet {
    pub net: Net,
    pub specs: Vec<Spec>,
    pub miners: BTreeMap<String, Process>,
    pub validator: Option<Process>,
    validator_args: Vec<String>,
}

impl Devnet {
    /// `miners` miners of `capacity` each and validator Alice coding `k` of `n`, running and
    /// ready to take pieces.
    pub async fn start(miners: &[&str], capacity: &str, k: u16, n: u16, extra: &[&str]) -> Devnet {
        let plain: Vec<(&str, &[&str])> = miners.iter().map(|m| (*m, &[][..])).collect();
        Self::start_with(&plain, capacity, k, n, extra).await
    }

    /// As `start`, with extra flags per miner.
    pub async fn start_with(
        miners: &[(&str, &[&str])],
        capacity: &str,
        k: u16,
        n: u16,
        extra: &[&str],
    ) -> Devnet {
        Self::start_among(miners, capacity, k, n, extra, &[]).await
    }

    /// As `start_with`, with more neurons in the metagraph (other validators, run by no one).
    pub async fn start_among(
        miners: &[(&str, &[&str])],
        capacity: &str,
        k: u16,
        n: u16,
        extra: &[&str],
        others: &[Spec],
    ) -> Devnet {
        let mut specs = vec![Spec::validator(VALIDATOR, 1000.0)];
        specs.extend(others.iter().cloned());
        specs.extend(miners.iter().map(|(m, _)| Spec::miner(m)));
        let net = Net::new();
        net.write_metagraph(&specs);
        let mut d = Devnet {
            net,
            specs,
            miners: BTreeMap::new(),
            validator: None,
            validator_args: Vec::new(),
        };
        for (m, flags) in miners {
            d.start_miner_with(m, capacity, flags).await;
        }
        d.publish_axons();
        let mut args = d.net.node_args(VALIDATOR);
        for (flag, value) in [
            ("--axon.ip", "127.0.0.1"),
            ("--axon.port", "0"),
            ("--seal", "dev"),
            ("--chunk_size", CHUNK_FLAG),
            ("--round_secs", "1"),
            ("--epoch_secs", "2"),
            ("--challenge.slack_ms", "300"),
            ("--data.hedge_ms", "300"),
        ] {
            args.extend([flag.to_owned(), value.to_owned()]);
        }
        args.extend([
            "--data.k".into(),
            k.to_string(),
            "--data.n".into(),
            n.to_string(),
        ]);
        args.extend(extra.iter().map(|s| s.to_string()));
        d.validator_args = args;
        d.start_validator().await;
        // Every miner, not just n: a miner's capacity counts (and it takes pieces) only once its
        // commitment's initial audit is through, and tests expect pieces on every miner.
        d.wait_ready(d.miners.len().max(usize::from(n))).await;
        d
    }

    pub async fn start_miner_with(&mut self, name: &str, capacity: &str, flags: &[&str]) {
        let mut args = self.net.node_args(name);
        args.extend(flags.iter().map(|f| f.to_string()));
        for (flag, value) in [
            ("--axon.ip", "127.0.0.1"),
            ("--axon.port", "0"),
            ("--seal", "dev"),
            ("--chunk_size", CHUNK_FLAG),
            ("--capacity", capacity),
            ("--step_secs", "1"),
        ] {
            args.extend([flag.to_owned(), value.to_owned()]);
        }
        let log = self.net.root.join(format!("{name}.log"));
        let p = Process::spawn(&bin("tessera-miner"), &args, &log, Duration::from_secs(60));
        tessera_testkit::wait_healthy(p.addr, Duration::from_secs(20)).await;
        self.miners.insert(name.into(), p);
    }

    pub fn publish_axons(&self) {
        let specs: Vec<Spec> = self
            .specs
            .iter()
            .map(|s| match self.miners.get(&s.name) {
                Some(p) => s.clone().with_axon(p.addr),
                None => s.clone(),
            })
            .collect();
        self.net.write_metagraph(&specs);
    }

    pub async fn start_validator(&mut self) {
        // A restarted validator logs to a new file, so the earlier run's log survives.
        let runs = std::fs::read_dir(&self.net.root)
            .map(|d| {
                d.filter(|e| {
                    e.as_ref()
                        .is_ok_and(|e| e.file_name().to_string_lossy().starts_with(VALIDATOR))
                })
                .count()
            })
            .unwrap_or(0);
        let log = self.net.root.join(format!("{VALIDATOR}.{runs}.log"));
        let p = Process::spawn(
            &bin("tessera-validator"),
            &self.validator_args,
            &log,
            Duration::from_secs(30),
        );
        tessera_testkit::wait_healthy(p.addr, Duration::from_secs(20)).await;
        self.validator = Some(p);
    }

    /// Waits until the gateway reports at least `n` miners ready for pieces.
    pub async fn wait_ready(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let client =
                tessera_client::Client::connect(&self.addr(), tessera_testkit::keypair("Eve"))
                    .await;
            if client.is_ok_and(|c| c.ready_miners as usize >= n) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "gateway never had {n} ready miners\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub fn addr(&self) -> String {
        self.validator
            .as_ref()
            .expect("validator running")
            .addr
            .to_string()
    }

    /// Runs `tessera` as client `wallet` with `args`.
    pub fn tessera(&self, wallet: &str, args: &[&str]) -> Output {
        self.net.wallet(wallet);
        std::process::Command::new(bin("tessera"))
            .args(["--validator", &self.addr(), "--wallet.path"])
            .arg(self.net.wallets())
            .args(["--wallet.name", wallet, "--quiet"])
            .args(args)
            .output()
            .expect("run tessera")
    }

    /// `tessera put` of `data` as `wallet`; returns the object id.
    pub fn put(&self, wallet: &str, data: &[u8]) -> String {
        let path = self.file(&format!("in-{}", data.len()), data);
        let out = self.tessera(wallet, &["put", path.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "put failed: {}\n{}",
            text(&out.stderr),
            self.logs()
        );
        text(&out.stdout).trim().to_owned()
    }

    /// `tessera get` of `id` as `wallet` into a file; returns its bytes.
    pub fn get(&self, wallet: &str, id: &str) -> Result<Vec<u8>, String> {
        let path = self.net.root.join(format!("out-{id}"));
        let out = self.tessera(wallet, &["get", id, "-o", path.to_str().unwrap()]);
        if !out.status.success() {
            return Err(format!("{}: {}", out.status, text(&out.stderr)));
        }
        Ok(std::fs::read(&path).expect("output file"))
    }

    pub fn file(&self, name: &str, data: &[u8]) -> PathBuf {
        let path = self.net.root.join(name);
        std::fs::write(&path, data).expect("input file");
        path
    }

    pub fn logs(&self) -> String {
        let mut out = String::new();
        for (name, p) in &self.miners {
            out.push_str(&format!("--- {name}\n{}\n", tail(&p.log_text())));
        }
        if let Some(v) = &self.validator {
            out.push_str(&format!("--- {VALIDATOR}\n{}\n", tail(&v.log_text())));
        }
        out
    }
}

fn tail(s: &str) -> &str {
    let start = s.len().saturating_sub(6000);
    let start = (start..s.len())
        .find(|i| s.is_char_boundary(*i))
        .unwrap_or(s.len());
    &s[start..]
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Deterministic, incompressible-looking test bytes.
pub fn bytes(len: usize, seed: u8) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ u64::from(seed);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
