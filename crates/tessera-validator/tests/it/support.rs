//! A subnet of real processes: miners first (on port 0), then their axons published in the
//! metagraph, then validators; and readers of what the validators recorded and set.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tessera_chain::{LocalChain, WeightsRecord};
use tessera_testkit::{Net, Process, Spec, account, bin};
use tessera_validator::status::MinerRow;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The chunk size of these tests: small, so sealing takes milliseconds.
pub const CHUNK_FLAG: &str = "64KiB";

pub struct Subnet {
    pub net: Net,
    pub specs: Vec<Spec>,
    pub miners: BTreeMap<String, Process>,
    pub validators: BTreeMap<String, Process>,
    /// Axons served from the test process (adversaries), by name.
    pub extra_axons: BTreeMap<String, SocketAddr>,
    /// Addresses published instead of a running miner's own (a fault-injecting proxy's).
    pub published: BTreeMap<String, SocketAddr>,
    /// The seal profile every node of the subnet uses.
    pub seal: &'static str,
}

impl Subnet {
    pub fn new(specs: Vec<Spec>) -> Subnet {
        let net = Net::new();
        net.write_metagraph(&specs);
        Subnet {
            net,
            specs,
            miners: BTreeMap::new(),
            validators: BTreeMap::new(),
            extra_axons: BTreeMap::new(),
            published: BTreeMap::new(),
            seal: "dev",
        }
    }

    /// Starts miner `name` with the dev seal and `capacity`, plus `extra` flags.
    pub async fn start_miner(&mut self, name: &str, capacity: &str, extra: &[&str]) {
        self.start_miner_env(name, capacity, extra, &[]).await;
    }

    /// As `start_miner`, with environment variables for the miner (its test hooks).
    pub async fn start_miner_env(
        &mut self,
        name: &str,
        capacity: &str,
        extra: &[&str],
        env: &[(&str, String)],
    ) {
        let mut args = self.net.node_args(name);
        let defaults = [
            ("--axon.ip", "127.0.0.1"),
            ("--axon.port", "0"),
            ("--seal", self.seal),
            ("--chunk_size", CHUNK_FLAG),
            ("--capacity", capacity),
            ("--step_secs", "1"),
        ];
        args.extend(with_defaults(&defaults, extra));
        let log = self.net.root.join(format!("{name}.log"));
        let p = Process::spawn_env(
            &bin("tessera-miner"),
            &args,
            env,
            &log,
            Duration::from_secs(60),
        );
        tessera_testkit::wait_healthy(p.addr, Duration::from_secs(20)).await;
        self.miners.insert(name.into(), p);
    }

    /// Rewrites the metagraph with the axon of every running miner and adversary.
    pub fn publish_axons(&self) {
        let specs: Vec<Spec> = self
            .specs
            .iter()
            .map(|s| {
                let axon = self
                    .published
                    .get(&s.name)
                    .copied()
                    .or_else(|| self.miners.get(&s.name).map(|p| p.addr))
                    .or_else(|| self.extra_axons.get(&s.name).copied());
                match axon {
                    Some(a) => s.clone().with_axon(a),
                    None => s.clone(),
                }
            })
            .collect();
        self.net.write_metagraph(&specs);
    }

    /// Starts validator `name` with one-second rounds and two-second epochs, plus `extra`.
    pub async fn start_validator(&mut self, name: &str, extra: &[&str]) {
        let p = self.spawn_validator(name, extra);
        tessera_testkit::wait_healthy(p.addr, Duration::from_secs(20)).await;
        self.validators.insert(name.into(), p);
    }

    /// Starts validator Alice coding 2 of 3 with her HTTP face, and returns its address.
    pub async fn start_http_validator(&mut self) -> SocketAddr {
        self.start_validator(
            "Alice",
            &[
                "--data.k",
                "2",
                "--data.n",
                "3",
                "--data.http",
                "127.0.0.1:0",
            ],
        )
        .await;
        self.validators["Alice"]
            .early_addr("http on ")
            .expect("the validator reports its http address")
    }

    /// Waits until Alice proves capacity for `n` miners.
    pub async fn wait_proven(&self, n: usize, timeout: Duration) {
        eventually(timeout, "miners with proven capacity", || async {
            let rows = self.rows("Alice").await;
            (rows.values().filter(|r| r.proven_bytes > 0).count() >= n).then_some(())
        })
        .await;
    }

    pub fn spawn_validator(&self, name: &str, extra: &[&str]) -> Process {
        let mut args = self.net.node_args(name);
        let defaults = [
            ("--axon.ip", "127.0.0.1"),
            ("--axon.port", "0"),
            ("--seal", self.seal),
            ("--chunk_size", CHUNK_FLAG),
            ("--round_secs", "1"),
            ("--epoch_secs", "2"),
            ("--challenge.items", "8"),
            ("--challenge.slack_ms", "300"),
        ];
        args.extend(with_defaults(&defaults, extra));
        let log = self.net.root.join(format!("{name}.log"));
        Process::spawn(
            &bin("tessera-validator"),
            &args,
            &log,
            Duration::from_secs(30),
        )
    }

    /// What validator `name` has recorded, by miner name.
    pub async fn rows(&self, validator: &str) -> BTreeMap<String, MinerRow> {
        let path = self
            .net
            .node_dir(validator)
            .join(tessera_validator::STATE_FILE);
        let rows = tessera_validator::status::read(&path, &account(validator))
            .await
            .expect("validator state readable");
        rows.into_iter()
            .map(|r| {
                let name = self
                    .specs
                    .iter()
                    .find(|s| account(&s.name) == r.hotkey)
                    .map_or_else(|| r.hotkey.to_string(), |s| s.name.clone());
                (name, r)
            })
            .collect()
    }

    /// The weights validator `name` last set on the local chain, by miner name.
    pub async fn weights(&self, validator: &str) -> Option<(WeightsRecord, BTreeMap<String, f64>)> {
        let chain = LocalChain::new(self.net.metagraph(), 1);
        let record = chain
            .weights(&account(validator))
            .await
            .expect("weights file")?;
        let by_name = record
            .weights
            .iter()
            .filter_map(|(uid, w)| self.specs.get(*uid as usize).map(|s| (s.name.clone(), *w)))
            .collect();
        Some((record, by_name))
    }

    /// Every log, for a failing assertion's message.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for (name, p) in self.miners.iter().chain(&self.validators) {
            out.push_str(&format!("--- {name}\n{}\n", p.log_text()));
        }
        out
    }
}

/// `extra` (flag, value pairs) after the `defaults` it does not override.
fn with_defaults(defaults: &[(&str, &str)], extra: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (flag, value) in defaults {
        if !extra.contains(flag) {
            out.extend([flag.to_string(), value.to_string()]);
        }
    }
    out.extend(extra.iter().map(|s| s.to_string()));
    out
}

/// Polls `check` every 200 ms until it returns `Some`, or panics with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One HTTP/1.1 request on a fresh connection: (status, head, body).
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    let mut s = match tokio::net::TcpStream::connect(addr).await {
        Ok(s) => s,
        Err(e) => return (0, format!("connect: {e}"), Vec::new()),
    };
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    // A server may answer (and close) before taking the whole body, as it does when it refuses
    // a put early: the answer is read whatever happened to the writes.
    let sent = async {
        s.write_all(head.as_bytes()).await?;
        s.write_all(body).await
    }
    .await;
    let mut raw = Vec::new();
    let read = s.read_to_end(&mut raw).await;
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return (0, format!("no answer: sent {sent:?}, read {read:?}"), raw);
    };
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head[9..12].parse().expect("status code");
    let mut body = raw[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    (status, head, body)
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line = raw.windows(2).position(|w| w == b"\r\n").unwrap();
        let len =
            usize::from_str_radix(std::str::from_utf8(&raw[..line]).unwrap().trim(), 16).unwrap();
        if len == 0 {
            return out;
        }
        out.extend_from_slice(&raw[line + 2..line + 2 + len]);
        raw = &raw[line + 2 + len + 2..];
    }
}

/// Held for their whole run by the tests that keep both cores busy (the flood, the soak) and by
/// the test whose verdict rests on deadlines over a slow network: tests of one binary run side
/// by side, and on a 2-core machine a flood's CPU would make honest miners miss their deadlines.
pub async fn cpu_heavy() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::OnceLock<tokio::sync::Mutex<()>> = std::sync::OnceLock::new();
    LOCK.get_or_init(|| tokio::sync::Mutex::new(()))
        .lock()
        .await
}
