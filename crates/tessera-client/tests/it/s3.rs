//! The S3 face against the S3 clients people use, unmodified: boto3 making every call the face
//! answers (and the requests it must refuse), aws-cli moving a 100 MiB file and folders, and
//! rclone copying and checking a folder. Every download is compared byte for byte.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tessera_testkit::account;

use crate::support::{Devnet, VALIDATOR, bytes, text};

/// The clients: a Python environment with boto3 and aws-cli, and rclone, as `cargo xtask test`
/// installs them. Missing ones fail the test with what to install, never skip it.
struct Tools {
    venv: PathBuf,
}

impl Tools {
    fn find() -> Tools {
        let venv = std::env::var_os("TESSERA_S3_TOOLS")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/s3-tools"));
        let mut missing = Vec::new();
        for tool in ["python", "aws"] {
            if !venv.join("bin").join(tool).exists() {
                missing.push(format!(
                    "{} (pip: boto3, awscli)",
                    venv.join("bin").join(tool).display()
                ));
            }
        }
        for tool in ["rclone", "curl"] {
            if Command::new(tool).arg("--version").output().is_err() {
                missing.push(format!("{tool} (Debian package {tool})"));
            }
        }
        assert!(
            missing.is_empty(),
            "the S3 tests need {}; `cargo xtask test` installs them (requirements in crates/tessera-client/tests/s3/requirements.txt)",
            missing.join(", ")
        );
        Tools { venv }
    }

    fn bin(&self, name: &str) -> PathBuf {
        self.venv.join("bin").join(name)
    }
}

/// A devnet whose validator serves S3, and a key pair each for two owners.
struct S3Net {
    net: Devnet,
    endpoint: String,
    keys: [(String, String); 2],
    /// Over TLS: the self-signed certificate clients are told to trust.
    ca: Option<PathBuf>,
    _certs: tempfile::TempDir,
}

impl S3Net {
    /// With `tls`, S3 is served over TLS with a certificate made for the test.
    async fn start(capacity: &str, tls: bool) -> S3Net {
        let certs = tempfile::tempdir().unwrap();
        let tls_files = tls.then(|| tessera_testkit::self_signed_cert(certs.path()));
        let mut flags = vec!["--s3.addr", "127.0.0.1:0", "--data.http", "127.0.0.1:0"];
        if let Some((cert, key)) = &tls_files {
            flags.extend([
                "--s3.tls_cert",
                cert.to_str().unwrap(),
                "--s3.tls_key",
                key.to_str().unwrap(),
            ]);
        }
        let net = Devnet::start(&["Dave", "Ferdie", "Grace"], capacity, 2, 3, &flags).await;
        let addr = net
            .validator
            .as_ref()
            .and_then(|v| v.early_addr("s3 on "))
            .expect("the validator reports its S3 address");
        let key = |wallet: &str| {
            let out = net.tessera(wallet, &["s3-keys", "create"]);
            assert!(out.status.success(), "{}", text(&out.stderr));
            let out = text(&out.stdout);
            let field = |label: &str| {
                out.lines()
                    .find_map(|l| l.strip_prefix(label))
                    .map(|v| v.trim().to_owned())
                    .unwrap_or_else(|| panic!("no {label} in {out}"))
            };
            (field("access_key_id"), field("secret_access_key"))
        };
        let keys = [key("Eve"), key("Mallory")];
        S3Net {
            endpoint: format!("{}://{addr}", if tls { "https" } else { "http" }),
            net,
            keys,
            ca: tls_files.map(|(cert, _)| cert),
            _certs: certs,
        }
    }

    /// Runs `program` with the first owner's key pair in the environment, as every S3 tool
    /// reads it.
    fn run(&self, program: &Path, args: &[&str]) -> Output {
        let mut command = Command::new(program);
        match &self.ca {
            Some(ca) => command.env("AWS_CA_BUNDLE", ca),
            // A CA bundle from the machine's environment is no use on plain HTTP, and rclone
            // refuses to start with one.
            None => command.env_remove("AWS_CA_BUNDLE"),
        };
        command
            .args(args)
            .env("AWS_ACCESS_KEY_ID", &self.keys[0].0)
            .env("AWS_SECRET_ACCESS_KEY", &self.keys[0].1)
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("S3_ENDPOINT", &self.endpoint)
            .env("S3_KEY", &self.keys[0].0)
            .env("S3_SECRET", &self.keys[0].1)
            .env("S3_OTHER_KEY", &self.keys[1].0)
            .env("S3_OTHER_SECRET", &self.keys[1].1)
            // rclone's remote `tess:`, from the environment alone.
            .env("RCLONE_CONFIG", "/dev/null")
            .env("RCLONE_CONFIG_TESS_TYPE", "s3")
            .env("RCLONE_CONFIG_TESS_PROVIDER", "Other")
            .env("RCLONE_CONFIG_TESS_ENDPOINT", &self.endpoint)
            .env("RCLONE_CONFIG_TESS_ACCESS_KEY_ID", &self.keys[0].0)
            .env("RCLONE_CONFIG_TESS_SECRET_ACCESS_KEY", &self.keys[0].1)
            .env("RCLONE_CONFIG_TESS_REGION", "us-east-1")
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", program.display()))
    }

    /// Runs `program` and fails the test, with its output and the nodes' logs, unless it
    /// succeeds; returns its stdout.
    fn check(&self, program: &Path, args: &[&str]) -> String {
        let out = self.run(program, args);
        assert!(
            out.status.success(),
            "{} {args:?} failed ({}):\n{}\n{}\n{}",
            program.display(),
            out.status,
            text(&out.stdout),
            text(&out.stderr),
            self.net.logs()
        );
        text(&out.stdout)
    }

    /// Runs aws-cli against the face and fails the test unless it succeeds; returns its
    /// stdout.
    fn aws(&self, tools: &Tools, args: &[&str]) -> String {
        let mut all = vec!["--endpoint-url", self.endpoint.as_str()];
        all.extend_from_slice(args);
        self.check(&tools.bin("aws"), &all)
    }
}

/// Every file under `dir`, by path relative to it, with its bytes.
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// A folder of mixed sizes with nested keys, from empty to several segments.
fn folder(root: &Path) -> PathBuf {
    let dir = root.join("folder");
    for (i, (name, size)) in [
        ("a.txt", 0usize),
        ("b.bin", 1),
        ("nested/c.bin", 70_000),
        ("nested/deeper/d.bin", 300_001),
        ("nested/deeper/e f.bin", 1 << 20),
        ("z/ü.bin", 12_345),
    ]
    .iter()
    .enumerate()
    {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes(*size, 40 + i as u8)).unwrap();
    }
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_makes_every_call_and_the_face_refuses_what_it_must() {
    let tools = Tools::find();
    let s3 = S3Net::start("64MiB", false).await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/s3/boto3_calls.py");
    let out = s3.check(&tools.bin("python"), &[script.to_str().unwrap()]);
    assert!(out.contains("all boto3 checks passed"), "{out}");

    // The web page's view: every owner's buckets, and a bucket's objects.
    let http = s3
        .net
        .validator
        .as_ref()
        .and_then(|v| v.early_addr("http on "))
        .expect("the validator reports its HTTP address");
    let curl = |path: &str| -> serde_json::Value {
        let url = format!("http://{http}{path}");
        let body = s3.check(Path::new("curl"), &["-sf", &url]);
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: {e}: {body}"))
    };
    let eve = s3.net.net.wallet("Eve").to_ss58();
    let mallory = s3.net.net.wallet("Mallory").to_ss58();
    let buckets = curl("/v1/buckets");
    let listed: Vec<(String, String)> = buckets
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["owner"].as_str().unwrap().to_owned(),
                b["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        listed.contains(&(eve.clone(), "photos".into())),
        "{buckets}"
    );
    assert!(listed.contains(&(mallory, "photos".into())), "{buckets}");
    let objects = curl(&format!("/v1/buckets/{eve}/photos"));
    let keys: Vec<&str> = objects
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["key"].as_str().unwrap())
        .collect();
    assert!(
        keys.contains(&"copy.txt") && keys.contains(&"multi.bin"),
        "{objects}"
    );

    // And the page itself, in headless Chromium: Eve's bucket clicked in the bucket list shows
    // its objects (the page's self-test does the clicking; its file-store half runs too).
    let page = format!("http://{http}/?selftest&bucket={eve}/photos");
    let (dom, stderr) = tessera_testkit::page_dom(&page).await;
    let shown = format!("bucket photos {}", keys.len());
    assert!(
        dom.contains("selftest: ok") && dom.contains(&shown),
        "{page}: the page's self-test did not show {shown}:\n{dom}\n{stderr}"
    );
    for key in ["copy.txt", "multi.bin"] {
        assert!(
            dom.contains(&format!("<td>{key}</td>")),
            "{key} not shown:\n{dom}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_and_rclone_move_files_and_folders() {
    let tools = Tools::find();
    let s3 = S3Net::start("96MiB", false).await;
    let root = s3.net.net.root.clone();
    let aws_check = |args: &[&str]| s3.aws(&tools, args);

    // A 100 MiB file up and down: aws-cli splits it into parts by itself.
    let big = root.join("big.bin");
    std::fs::write(&big, bytes(100 << 20, 7)).unwrap();
    aws_check(&["s3", "mb", "s3://cli"]);
    aws_check(&["s3", "cp", big.to_str().unwrap(), "s3://cli/big/big.bin"]);
    // The objects under an S3 entry are the face's own: `tessera ls` leaves them out, and
    // `tessera rm` of one is refused, naming the entry, so the entry stays whole (read back
    // next).
    let state = tessera_storage::StateDb::open(
        &s3.net.net.node_dir(VALIDATOR).join("validator.sqlite"),
        &account(VALIDATOR),
    )
    .await
    .unwrap();
    let entry = state
        .entry(&account("Eve"), "cli", "big/big.bin")
        .await
        .unwrap()
        .expect("the entry of big.bin");
    state.close().await;
    let object = tessera_object::ObjectId(entry.parts[1].object).to_string();
    let ls = s3.net.tessera("Eve", &["ls"]);
    assert!(ls.status.success(), "{}", text(&ls.stderr));
    assert!(!text(&ls.stdout).contains(&object), "{}", text(&ls.stdout));
    let rm = s3.net.tessera("Eve", &["rm", &object]);
    let err = text(&rm.stderr);
    assert!(!rm.status.success(), "tessera rm of an S3 part succeeded");
    assert!(
        err.contains(&format!("object {object} holds S3 entry cli/big/big.bin")),
        "{err}"
    );
    // Nor does `tessera get` hand out a part's ciphertext, which only the gateway can open:
    // refused, naming the entry, and no file left behind.
    let part = root.join("part.bin");
    let get = s3
        .net
        .tessera("Eve", &["get", &object, "-o", part.to_str().unwrap()]);
    let err = text(&get.stderr);
    assert!(!get.status.success(), "tessera get of an S3 part succeeded");
    assert!(
        err.contains(&format!(
            "object {object} holds S3 entry cli/big/big.bin; read it through S3"
        )),
        "{err}"
    );
    assert!(!part.exists(), "a failed get left {}", part.display());
    let back = root.join("big.back");
    aws_check(&["s3", "cp", "s3://cli/big/big.bin", back.to_str().unwrap()]);
    assert!(
        std::fs::read(&big).unwrap() == std::fs::read(&back).unwrap(),
        "the 100 MiB file came back different"
    );
    let head = aws_check(&[
        "s3api",
        "head-object",
        "--bucket",
        "cli",
        "--key",
        "big/big.bin",
    ]);
    assert!(
        head.contains("-13\\\"") || head.contains("-13\""),
        "not multipart: {head}"
    );
    let listed = aws_check(&["s3", "ls", "s3://cli/big/"]);
    assert!(listed.contains("104857600 big.bin"), "{listed}");

    let buckets = aws_check(&["s3", "ls"]);
    assert!(buckets.contains("cli"), "{buckets}");

    // A folder with nested keys, synced up, listed, synced down, and removed.
    let dir = folder(&root);
    aws_check(&["s3", "sync", dir.to_str().unwrap(), "s3://cli/folder"]);
    let listed = aws_check(&["s3", "ls", "--recursive", "s3://cli/folder/"]);
    assert_eq!(listed.lines().count(), 6, "{listed}");
    let down = root.join("synced");
    aws_check(&["s3", "sync", "s3://cli/folder", down.to_str().unwrap()]);
    assert!(
        tree(&dir) == tree(&down),
        "the synced folder came back different"
    );
    // A second sync has nothing to do.
    let again = aws_check(&["s3", "sync", dir.to_str().unwrap(), "s3://cli/folder"]);
    assert!(again.trim().is_empty(), "{again}");
    aws_check(&["s3", "rm", "--recursive", "s3://cli/"]);
    let empty = aws_check(&["s3", "ls", "--recursive", "s3://cli/"]);
    assert!(empty.trim().is_empty(), "{empty}");
    aws_check(&["s3", "rb", "s3://cli"]);

    // rclone: copy a folder up, check sizes and hashes (its MD5s against our ETags), copy it
    // down and compare.
    let rclone = Path::new("rclone");
    s3.check(rclone, &["mkdir", "tess:rclone-files"]);
    s3.check(
        rclone,
        &["copy", dir.to_str().unwrap(), "tess:rclone-files/folder"],
    );
    s3.check(
        rclone,
        &["check", dir.to_str().unwrap(), "tess:rclone-files/folder"],
    );
    let hashes = s3.check(rclone, &["md5sum", "tess:rclone-files/folder"]);
    assert_eq!(hashes.lines().count(), 6, "{hashes}");
    let copied = root.join("rcloned");
    s3.check(
        rclone,
        &["copy", "tess:rclone-files/folder", copied.to_str().unwrap()],
    );
    assert!(
        tree(&dir) == tree(&copied),
        "rclone's copy came back different"
    );
    s3.check(rclone, &["purge", "tess:rclone-files"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_over_tls_sends_unsigned_bodies_with_checksum_trailers() {
    let tools = Tools::find();
    let s3 = S3Net::start("64MiB", true).await;
    let root = s3.net.net.root.clone();
    let aws_check = |args: &[&str]| s3.aws(&tools, args);
    // Over TLS, aws-cli signs no body: each part streams aws-chunked with a CRC32 trailer,
    // which the face checks. 20 MiB is three parts and a single put below.
    let file = root.join("tls.bin");
    std::fs::write(&file, bytes(20 << 20, 11)).unwrap();
    aws_check(&["s3", "mb", "s3://secure"]);
    aws_check(&["s3", "cp", file.to_str().unwrap(), "s3://secure/tls.bin"]);
    let small = root.join("small.bin");
    std::fs::write(&small, bytes(300_001, 12)).unwrap();
    aws_check(&["s3", "cp", small.to_str().unwrap(), "s3://secure/small.bin"]);
    for (name, path) in [("tls.bin", &file), ("small.bin", &small)] {
        let back = root.join(format!("{name}.back"));
        aws_check(&[
            "s3",
            "cp",
            &format!("s3://secure/{name}"),
            back.to_str().unwrap(),
        ]);
        assert!(
            std::fs::read(path).unwrap() == std::fs::read(&back).unwrap(),
            "{name} came back different over TLS"
        );
    }
    let listed = aws_check(&["s3", "ls", "s3://secure/"]);
    assert!(listed.contains("20971520 tls.bin"), "{listed}");
    // Plain HTTP to a TLS face gets no S3 answer.
    let plain = s3.endpoint.replace("https://", "http://");
    let out = s3.run(&tools.bin("aws"), &["--endpoint-url", &plain, "s3", "ls"]);
    assert!(
        !out.status.success(),
        "plain HTTP answered: {}",
        text(&out.stdout)
    );
}
