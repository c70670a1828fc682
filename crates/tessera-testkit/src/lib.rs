//! Fixtures for integration tests that run real node processes: a network folder with
//! Bittensor-format wallets and a metagraph, node binaries started on `127.0.0.1:0` and waited
//! for through their health check.
//!
//! Only tests depend on this crate. It panics freely: a fixture that cannot be built is a broken
//! test, and the panic message says which step failed.

pub mod localnet;
pub mod proxy;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tessera_chain::{Metagraph, Neuron};
use tessera_core::{AccountId, Keypair, Wallet};

/// The keypair of a development URI such as `//Alice`, or of any `//name`.
pub fn keypair(name: &str) -> Keypair {
    Keypair::from_uri(&format!("//{name}")).expect("development uri")
}

pub fn account(name: &str) -> AccountId {
    keypair(name).account()
}

/// A `Store` of `data` in `slot` of `miner`, signed by `by` the way validators sign it: over the
/// request with the bytes replaced by their Merkle root. Data that is not whole segments is
/// signed over its plain encoding, for tests of what a miner refuses.
pub fn store_request(
    slot: u64,
    data: Vec<u8>,
    by: &Keypair,
    miner: &AccountId,
) -> (
    tessera_proto::tonic::Request<tessera_proto::miner::v1::StoreRequest>,
    tessera_core::auth::Nonce,
) {
    use tessera_proto::miner::v1::{StoreRequest, methods};
    match tessera_core::merkle::root(&data) {
        Ok(root) => {
            let mut req = tessera_proto::tonic::Request::new(StoreRequest {
                slot,
                data: data.into(),
            });
            let nonce = tessera_rpc::sign_metadata(
                req.metadata_mut(),
                &tessera_rpc::chunk_signed::store(slot, &root),
                by,
                miner,
                methods::STORE,
            );
            (req, nonce)
        }
        Err(_) => tessera_rpc::signed(
            StoreRequest {
                slot,
                data: data.into(),
            },
            by,
            miner,
            methods::STORE,
        ),
    }
}

/// One neuron of a test metagraph; its hotkey is `//<name>`.
#[derive(Debug, Clone)]
pub struct Spec {
    pub name: String,
    pub stake: f64,
    pub permit: bool,
    pub axon: Option<SocketAddr>,
}

impl Spec {
    pub fn validator(name: &str, stake: f64) -> Self {
        Self {
            name: name.into(),
            stake,
            permit: true,
            axon: None,
        }
    }

    pub fn miner(name: &str) -> Self {
        Self {
            name: name.into(),
            stake: 0.0,
            permit: false,
            axon: None,
        }
    }

    pub fn with_axon(mut self, axon: SocketAddr) -> Self {
        self.axon = Some(axon);
        self
    }
}

/// A network's folder: `wallets/<name>/hotkeys/default` for every node, `metagraph.toml`, and
/// `db/` where the nodes keep their databases.
#[derive(Debug)]
pub struct Net {
    _tmp: tempfile::TempDir,
    pub root: PathBuf,
}

impl Default for Net {
    fn default() -> Self {
        Self::new()
    }
}

impl Net {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().expect("temporary directory");
        let root = tmp.path().to_owned();
        Self { _tmp: tmp, root }
    }

    pub fn wallets(&self) -> PathBuf {
        self.root.join("wallets")
    }

    pub fn db(&self) -> PathBuf {
        self.root.join("db")
    }

    pub fn metagraph(&self) -> PathBuf {
        self.root.join("metagraph.toml")
    }

    /// The folder of node `name`: `<db>/<name>/default`.
    pub fn node_dir(&self, name: &str) -> PathBuf {
        self.db().join(name).join("default")
    }

    /// Writes the hotkey file of wallet `name` holding `//<name>`.
    pub fn wallet(&self, name: &str) -> AccountId {
        let kp = keypair(name);
        Wallet::new(self.wallets(), name, "default")
            .expect("wallet names")
            .create_hotkey(&kp, true)
            .expect("hotkey file");
        kp.account()
    }

    /// Writes the metagraph, uids in the order given, creating every neuron's wallet.
    pub fn write_metagraph(&self, neurons: &[Spec]) {
        let metagraph = Metagraph {
            netuid: 1,
            block: 0,
            params: Default::default(),
            neurons: neurons
                .iter()
                .enumerate()
                .map(|(uid, s)| Neuron {
                    uid: uid as u16,
                    hotkey: self.wallet(&s.name),
                    coldkey: None,
                    stake: s.stake,
                    validator_permit: s.permit,
                    axon: s.axon,
                    last_update: 0,
                })
                .collect(),
        };
        let tmp = self.root.join(".metagraph.toml.new");
        std::fs::write(&tmp, metagraph.to_toml()).expect("metagraph file");
        // Nodes re-read the file while running: they must never see half of it.
        std::fs::rename(&tmp, self.metagraph()).expect("metagraph file");
    }

    /// The flags that point a node at this network as wallet `name`.
    pub fn node_args(&self, name: &str) -> Vec<String> {
        vec![
            "--db_path".into(),
            self.db().display().to_string(),
            "--wallet.path".into(),
            self.wallets().display().to_string(),
            "--wallet.name".into(),
            name.into(),
            "--metagraph.path".into(),
            self.metagraph().display().to_string(),
        ]
    }
}

/// The path of a workspace binary. Tests of one package may start another package's binary;
/// `cargo test --workspace` builds every binary before any test runs.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable in target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is not built: run `cargo test --workspace` or `cargo build -p {name}` first",
        path.display()
    );
    path
}

/// A node process that reported its bound address. Killed when dropped.
#[derive(Debug)]
pub struct Process {
    child: Child,
    pub addr: SocketAddr,
    pub log: PathBuf,
    /// What the node printed before its address, such as `metrics on <addr>`.
    pub early: Vec<String>,
    lines: mpsc::Receiver<String>,
}

impl Process {
    /// Starts `bin` with `args`, stderr to `log`, and waits (up to `timeout`) for the
    /// `listening on <addr>` line; stdout keeps being drained so the node never blocks on it.
    pub fn spawn(bin: &Path, args: &[String], log: &Path, timeout: Duration) -> Process {
        Self::spawn_env(bin, args, &[], log, timeout)
    }

    /// As `spawn`, with extra environment variables (`NOTIFY_SOCKET`, say).
    pub fn spawn_env(
        bin: &Path,
        args: &[String],
        env: &[(&str, String)],
        log: &Path,
        timeout: Duration,
    ) -> Process {
        let err = std::fs::File::create(log).expect("log file");
        let mut cmd = Command::new(bin);
        // Nodes read every TESSERA_* variable as configuration; the test run's own (such as
        // TESSERA_SLOW_TESTS) are not theirs.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("TESSERA_") {
                cmd.env_remove(&key);
            }
        }
        let mut child = cmd
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env(
                "RUST_LOG",
                std::env::var("TESTKIT_NODE_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    // Nobody listens any more; keep draining so the node never blocks.
                    continue;
                }
            }
        });
        let deadline = Instant::now() + timeout;
        let mut early = Vec::new();
        let addr = loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => {
                    if let Some(a) = line.strip_prefix("listening on ") {
                        break a.trim().parse().expect("bound address");
                    }
                    early.push(line);
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {
                    // A node that exited (bad flags, say) will never report: fail at once.
                    if let Ok(Some(status)) = child.try_wait() {
                        panic!(
                            "{} exited ({status}) before reporting an address; log:\n{}",
                            bin.display(),
                            std::fs::read_to_string(log).unwrap_or_default()
                        );
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "{} did not report an address within {timeout:?}; log:\n{}",
                        bin.display(),
                        std::fs::read_to_string(log).unwrap_or_default()
                    );
                }
            }
        };
        Process {
            child,
            addr,
            log: log.to_owned(),
            early,
            lines: rx,
        }
    }

    /// The metrics endpoint the node reported (`metrics on <addr>`), if it serves one.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.early_addr("metrics on ")
    }

    /// An address the node reported before it listened, on a line `<prefix><addr>`.
    pub fn early_addr(&self, prefix: &str) -> Option<SocketAddr> {
        self.early
            .iter()
            .find_map(|l| l.strip_prefix(prefix)?.trim().parse().ok())
    }

    /// Lines the node printed on stdout since the last call.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.lines.try_iter().collect()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits up to `timeout` for the exit. Async, so that the test's own gRPC
    /// connections keep running and can answer the node's goodbye.
    pub async fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits up to `timeout` until the node at `addr` answers the standard health check with
/// SERVING; panics otherwise.
pub async fn wait_healthy(addr: SocketAddr, timeout: Duration) {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    while Instant::now() < deadline {
        match try_channel(addr).await.map(HealthClient::new) {
            Ok(mut c) => match c.check(HealthCheckRequest::default()).await {
                Ok(r) if r.get_ref().status == 1 => return,
                Ok(r) => last = format!("status {}", r.get_ref().status),
                Err(e) => last = e.to_string(),
            },
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{addr} not healthy within {timeout:?}: {last}");
}

async fn try_channel(
    addr: SocketAddr,
) -> Result<tessera_proto::tonic::transport::Channel, tessera_proto::tonic::transport::Error> {
    tessera_proto::tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("endpoint address")
        .connect()
        .await
}

/// A gRPC channel to `addr`, for any generated client's `new`.
pub async fn channel(addr: SocketAddr) -> tessera_proto::tonic::transport::Channel {
    try_channel(addr)
        .await
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"))
}

/// The dotted keys of every setting `defaults` serializes that the TOML file at `path` does not
/// name: an example config must show them all.
pub fn missing_settings<T: serde::Serialize>(defaults: &T, path: &Path) -> Vec<String> {
    fn keys(prefix: &str, v: &toml::Value, out: &mut std::collections::BTreeSet<String>) {
        if let toml::Value::Table(t) = v {
            for (k, v) in t {
                keys(&format!("{prefix}{k}."), v, out);
            }
        } else {
            out.insert(prefix.trim_end_matches('.').to_owned());
        }
    }
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (mut example, mut wanted) = Default::default();
    keys(
        "",
        &toml::from_str::<toml::Value>(&text).expect("example parses"),
        &mut example,
    );
    keys(
        "",
        &toml::Value::try_from(defaults).expect("defaults serialize"),
        &mut wanted,
    );
    wanted.difference(&example).cloned().collect()
}

/// A self-signed certificate for `localhost` and `127.0.0.1`, written into `dir` as
/// `cert.pem` and `key.pem` (returned in that order), for nodes served over TLS in tests.
pub fn self_signed_cert(dir: &Path) -> (PathBuf, PathBuf) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("generate a self-signed certificate");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).expect("write cert.pem");
    std::fs::write(&key, made.signing_key.serialize_pem()).expect("write key.pem");
    (cert, key)
}

/// The DOM of the page at `url` once headless Chromium has run its scripts (up to 30 s of the
/// page's virtual time), with Chromium's stderr for failure messages.
pub async fn page_dom(url: &str) -> (String, String) {
    let profile = tempfile::tempdir().expect("a Chromium profile directory");
    let out = tokio::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--virtual-time-budget=30000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(url)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), out)
        .await
        .expect("chromium finished")
        .expect("chromium is installed (Debian's chromium package; .ci/run installs it)");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
