//! A local Subtensor chain for tests: the real runtime (spec 218) executed offline by chopsticks
//! on 127.0.0.1, with a subnet set up through the sudo key and blocks built at a steady pace.
//!
//! The chain's files come from `shared/subtensor/` beside the repository (or
//! `$TESSERA_SUBTENSOR_DIR`), which is read-only: they are copied to `target/localnet/`, where the
//! pinned npm packages are installed once. The subnet is set up, and storage read back, by
//! `localnet.mjs` with polkadot.js: a client independent of Tessera's own chain backend, so that
//! what a test reads back is what the chain holds and not what our decoder believes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The helper script run by Node beside the installed packages.
const SCRIPT: &str = include_str!("../localnet/localnet.mjs");

/// The files of `shared/subtensor/` the chain needs.
const FILES: [&str; 4] = [
    "package.json",
    "package-lock.json",
    "chopsticks.yml",
    "raonet.json",
];

/// Where the chain's source files are: `$TESSERA_SUBTENSOR_DIR`, or `shared/subtensor` beside the
/// repository.
pub fn source_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("TESSERA_SUBTENSOR_DIR") {
        return PathBuf::from(dir);
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    workspace.join("../shared/subtensor")
}

/// The cargo target folder of the running test or tool.
fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        let dir = PathBuf::from(dir);
        return if dir.is_absolute() {
            dir
        } else {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../..")
                .join(dir)
        };
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target")
}

/// What is missing for the local chain, named so that the reader knows what to install; `None`
/// when Node and npm are there.
pub fn missing_tools() -> Option<String> {
    let works = |tool: &str| {
        Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let missing: Vec<&str> = ["node", "npm"].into_iter().filter(|t| !works(t)).collect();
    (!missing.is_empty()).then(|| {
        format!(
            "the local Subtensor chain needs {} (Node.js 20 or newer): install Node.js, or run \
             `cargo xtask test`, which installs it",
            missing.join(" and ")
        )
    })
}

/// Copies the chain's files to `target/localnet/` and installs the pinned npm packages there,
/// once: a stamp records which `package-lock.json` the installed packages came from. Several
/// test processes may call this at once; a lock file makes the others wait for the first.
/// Returns the prepared folder.
pub fn prepare() -> Result<PathBuf, String> {
    if let Some(missing) = missing_tools() {
        return Err(missing);
    }
    let source = source_dir();
    let lock_text = std::fs::read(source.join("package-lock.json")).map_err(|e| {
        format!(
            "{}: {e}: the local chain's files are expected in shared/subtensor beside the \
             repository, or in $TESSERA_SUBTENSOR_DIR",
            source.join("package-lock.json").display()
        )
    })?;
    let dir = target_dir().join("localnet");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let lock_path = dir.join(".lock");
    let lock =
        std::fs::File::create(&lock_path).map_err(|e| format!("{}: {e}", lock_path.display()))?;
    lock.lock()
        .map_err(|e| format!("{}: {e}", lock_path.display()))?;

    for name in FILES {
        let from = source.join(name);
        let to = dir.join(name);
        let same = std::fs::read(&to).ok() == std::fs::read(&from).ok();
        if !same {
            std::fs::copy(&from, &to)
                .map_err(|e| format!("copy {} to {}: {e}", from.display(), to.display()))?;
        }
    }
    std::fs::write(dir.join("localnet.mjs"), SCRIPT)
        .map_err(|e| format!("{}: {e}", dir.display()))?;

    let stamp_path = dir.join("node_modules/.tessera-stamp");
    let want = format!("{:x}", sha_of(&lock_text));
    let have = std::fs::read_to_string(&stamp_path).unwrap_or_default();
    if have.trim() != want {
        let out = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("npm ci in {}: {e}", dir.display()))?;
        if !out.status.success() {
            return Err(format!(
                "npm ci in {} failed ({}): {}",
                dir.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        std::fs::write(&stamp_path, want).map_err(|e| format!("{}: {e}", stamp_path.display()))?;
    }
    drop(lock);
    Ok(dir)
}

/// A short digest of the lock file, to notice when the pinned packages change. Not a security
/// boundary: it only decides whether to run `npm ci` again.
fn sha_of(bytes: &[u8]) -> u64 {
    // FNV-1a: enough to tell two lock files apart.
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A running chopsticks process executing the Subtensor runtime. Stopped when dropped.
#[derive(Debug)]
pub struct Localnet {
    dir: PathBuf,
    db: PathBuf,
    child: Option<Child>,
    pub port: u16,
    log: PathBuf,
    pacer: Option<Pacer>,
    _tmp: Arc<tempfile::TempDir>,
}

impl Localnet {
    /// Prepares the packages (see [`prepare`]) and starts the chain on a free port; panics with
    /// what is missing or what failed.
    pub fn start() -> Localnet {
        let dir = prepare().unwrap_or_else(|e| panic!("local Subtensor chain: {e}"));
        let tmp = Arc::new(tempfile::tempdir().expect("temporary directory"));
        let db = tmp.path().join("chain.sqlite");
        let log = tmp.path().join("chopsticks.log");
        let mut net = Localnet {
            dir,
            db,
            child: None,
            port: 0,
            log,
            pacer: None,
            _tmp: tmp,
        };
        net.launch(false);
        net
    }

    /// `ws://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn launch(&mut self, resume: bool) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("chain log");
        let config = if resume {
            // Resuming takes the head from the database. The flag form of `--resume` reaches
            // chopsticks as a string it refuses, so it goes in a config of its own, which also
            // leaves out the storage imports: applied again over a later head, the fixed
            // timestamp would go back in time and the next block's slot check would fail.
            let path = self.log.with_file_name("resume.yml");
            let text = format!(
                "genesis: {}\nhost: 127.0.0.1\nbuild-block-mode: Manual\nruntime-log-level: 1\n\
                 resume: true\n",
                self.dir.join("raonet.json").display()
            );
            std::fs::write(&path, text).expect("resume config");
            path
        } else {
            self.dir.join("chopsticks.yml")
        };
        let mut cmd = Command::new("node");
        cmd.arg("node_modules/@acala-network/chopsticks/chopsticks.cjs")
            .arg("-c")
            .arg(&config)
            .arg("--port")
            .arg(self.port.to_string())
            .arg("--db")
            .arg(&self.db);
        let mut child = cmd
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start chopsticks in {}: {e}", self.dir.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        let log_path = self.log.clone();
        std::thread::spawn(move || {
            let mut file = std::fs::OpenOptions::new().append(true).open(log_path).ok();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(f) = file.as_mut() {
                    let _ = writeln!(f, "{line}");
                }
                if let Some(port) = line
                    .split("ws://127.0.0.1:")
                    .nth(1)
                    .and_then(|rest| rest.trim().parse::<u16>().ok())
                {
                    let _ = tx.send(port);
                }
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(90))
            .unwrap_or_else(|_| {
                let _ = child.kill();
                panic!(
                    "chopsticks did not report its port within 90 s; log:\n{}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                )
            });
        self.port = port;
        self.child = Some(child);
    }

    /// Builds one block now, with whatever transactions are waiting.
    pub fn new_block(&self) {
        rpc(self.port, "dev_newBlock", "[]").unwrap_or_else(|e| panic!("dev_newBlock: {e}"));
    }

    /// Builds a block every `every` from now on, in a background thread, until stopped.
    pub fn pace(&mut self, every: Duration) {
        self.pacer = Some(Pacer::start(self.port, every));
    }

    /// Stops the chain (and its pacer); the nodes see the connection drop.
    pub fn stop(&mut self) {
        self.pacer = None;
        if let Some(mut child) = self.child.take() {
            // SIGTERM first, so that chopsticks closes its database cleanly for a restart.
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the chain again on the same port from the blocks it had built, and paces blocks
    /// again at `every`.
    pub fn restart(&mut self, every: Duration) {
        self.stop();
        self.launch(true);
        // Resumed from its database, chopsticks reports a genesis hash other than the one the
        // runtime keeps in `System::BlockHash(0)`, which every signature covers (CheckGenesis):
        // each transaction would be refused as a bad proof. Put the reported one in its place,
        // as a real node's would be.
        let body = rpc(self.port, "chain_getBlockHash", "[0]")
            .unwrap_or_else(|e| panic!("chain_getBlockHash: {e}"));
        let genesis = body
            .split('"')
            .find(|part| part.starts_with("0x") && part.len() == 66)
            .unwrap_or_else(|| panic!("no genesis hash in {body}"))
            .to_owned();
        rpc(
            self.port,
            "dev_setStorage",
            &format!(r#"[{{"System":{{"BlockHash":[[[0],"{genesis}"]]}}}}]"#),
        )
        .unwrap_or_else(|e| panic!("dev_setStorage: {e}"));
        self.pace(every);
    }

    /// Runs `localnet.mjs <args>` against this chain and returns its standard output, which is
    /// JSON; panics with its error output if it fails.
    pub fn script(&self, args: &[&str]) -> String {
        let out = Command::new("node")
            .arg("localnet.mjs")
            .arg(self.url())
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .output()
            .expect("run node localnet.mjs");
        if !out.status.success() {
            // The chain's own account of what happened (a block that failed to build, an
            // extrinsic it put back) is what a reader of a CI log needs next.
            let log = self.log_text();
            let lines: Vec<&str> = log.lines().collect();
            panic!(
                "localnet.mjs {args:?} failed ({}): {}\nlast lines of the chopsticks log:\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr),
                lines[lines.len().saturating_sub(40)..].join("\n")
            );
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Reads one storage item through polkadot.js, as JSON: `query("SubtensorModule", "Axons",
    /// &["1", hotkey])`.
    pub fn query(&self, pallet: &str, item: &str, keys: &[&str]) -> serde_json::Value {
        let keys = serde_json::to_string(keys).expect("keys");
        let text = self.script(&["query", pallet, item, &keys]);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("query output {text:?}: {e}"))
    }
}

impl Drop for Localnet {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A thread that asks chopsticks for a block at a steady pace.
#[derive(Debug)]
struct Pacer {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Pacer {
    fn start(port: u16, every: Duration) -> Pacer {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                let started = Instant::now();
                // A failed request (the chain restarting) is retried at the next beat.
                let _ = rpc(port, "dev_newBlock", "[]");
                let rest = every.saturating_sub(started.elapsed());
                let until = Instant::now() + rest;
                while Instant::now() < until && !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(20).min(rest));
                }
            }
        });
        Pacer {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Pacer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One JSON-RPC call over chopsticks' HTTP endpoint; the raw response body.
pub fn rpc(port: u16, method: &str, params: &str) -> Result<String, String> {
    let body = format!(r#"{{"id":1,"jsonrpc":"2.0","method":"{method}","params":{params}}}"#);
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| e.to_string())?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    if body.contains("\"error\"") {
        return Err(body);
    }
    Ok(body)
}
