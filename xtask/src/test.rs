//! `cargo xtask test`: the README's test command. Installs or finds what the tests need (Debian's
//! `systemd`, `chromium`, `rclone` and `curl`, Node.js and the local chain's npm packages, and
//! the S3 clients boto3 and aws-cli from PyPI), then runs tidy, fmt, clippy and every test. A tool that cannot be had is an error naming it, never a skipped test.

use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};

/// Debian packages the tests drive, with the command each provides.
const PACKAGES: [(&str, &str); 7] = [
    ("systemd-analyze", "systemd"),
    ("chromium", "chromium"),
    ("node", "nodejs"),
    ("npm", "npm"),
    ("rclone", "rclone"),
    ("curl", "curl"),
    ("python3", "python3-venv"),
];

/// The S3 clients' pinned requirements, installed into [`S3_TOOLS`] under the workspace.
const S3_REQUIREMENTS: &str = "crates/tessera-client/tests/s3/requirements.txt";
const S3_TOOLS: &str = "target/s3-tools";

pub fn run(root: &Path) -> anyhow::Result<ExitCode> {
    install_missing()?;
    println!("== npm packages of the local Subtensor chain");
    let dir = tessera_testkit::localnet::prepare().map_err(anyhow::Error::msg)?;
    println!("   ready in {}", dir.display());
    println!("== S3 clients (boto3, aws-cli) from PyPI");
    s3_tools(root)?;
    println!("== tidy");
    crate::tidy::run(root)?;
    for (what, args) in [
        ("cargo fmt", &["fmt", "--all", "--", "--check"][..]),
        (
            "cargo clippy",
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--locked",
                "--",
                "-D",
                "warnings",
            ][..],
        ),
        ("cargo test", &["test", "--workspace", "--locked"][..]),
    ] {
        println!("== {what}");
        let status = Command::new(env!("CARGO"))
            .args(args)
            .current_dir(root)
            .status()
            .with_context(|| format!("run {what}"))?;
        if !status.success() {
            return Ok(ExitCode::FAILURE);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `cargo xtask fuzz`: the `fuzz_` tests of every crate, `cases` each (`http_cases` real
/// requests for the HTTP routes), on as many threads as there are cores. A crash is a failing
/// test, and proptest saves the input that made it beside the test (`*.proptest-regressions`).
pub fn fuzz(root: &Path, cases: u64, http_cases: u64) -> anyhow::Result<ExitCode> {
    println!("== fuzz: {cases} cases per target, {http_cases} HTTP requests");
    let started = std::time::Instant::now();
    let status = Command::new(env!("CARGO"))
        .args([
            "test",
            "--workspace",
            "--locked",
            "--",
            "fuzz_",
            "--nocapture",
        ])
        .env("PROPTEST_CASES", cases.to_string())
        .env("FUZZ_HTTP_CASES", http_cases.to_string())
        .current_dir(root)
        .status()
        .context("run cargo test")?;
    println!(
        "== fuzz {} in {:.0} s",
        if status.success() {
            "passed"
        } else {
            "FOUND A CRASH"
        },
        started.elapsed().as_secs_f64()
    );
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// A Python environment with the pinned S3 clients, made once and made again when the
/// requirements change (their copy beside the environment says which it holds).
pub fn s3_tools(root: &Path) -> anyhow::Result<()> {
    let venv = root.join(S3_TOOLS);
    let wanted = std::fs::read_to_string(root.join(S3_REQUIREMENTS))
        .with_context(|| format!("read {S3_REQUIREMENTS}"))?;
    let stamp = venv.join("requirements.txt");
    if std::fs::read_to_string(&stamp).is_ok_and(|have| have == wanted)
        && venv.join("bin/aws").exists()
    {
        println!("   ready in {}", venv.display());
        return Ok(());
    }
    let run = |program: &Path, args: &[&str]| -> anyhow::Result<()> {
        let status = Command::new(program)
            .args(args)
            .status()
            .with_context(|| format!("run {}", program.display()))?;
        if !status.success() {
            bail!(
                "`{} {}` failed: the S3 tests need boto3 and aws-cli ({S3_REQUIREMENTS})",
                program.display(),
                args.join(" ")
            );
        }
        Ok(())
    };
    let _ = std::fs::remove_dir_all(&venv);
    run(
        Path::new("python3"),
        &[
            "-m",
            "venv",
            venv.to_str().context("target path is not UTF-8")?,
        ],
    )?;
    let requirements = root.join(S3_REQUIREMENTS);
    run(
        &venv.join("bin/pip"),
        &[
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
            requirements.to_str().context("path is not UTF-8")?,
        ],
    )?;
    std::fs::write(&stamp, wanted).context("write the S3 tools' stamp")?;
    println!("   installed in {}", venv.display());
    Ok(())
}

fn have(command: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {command} >/dev/null 2>&1")])
        .status()
        .is_ok_and(|s| s.success())
}

/// Installs the missing packages with apt-get, as root or through sudo; otherwise fails naming
/// them and the command that installs them.
fn install_missing() -> anyhow::Result<()> {
    let missing: Vec<&str> = PACKAGES
        .iter()
        .filter(|(cmd, _)| !have(cmd))
        .map(|(_, pkg)| *pkg)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let list = missing.join(" ");
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let sudo = if root {
        Vec::new()
    } else if have("sudo") {
        vec!["sudo"]
    } else {
        bail!(
            "the tests need {list}: install them with `apt-get install {list}` (as root), then run again"
        );
    };
    println!("== installing {list}");
    let apt = |args: &[&str]| -> anyhow::Result<()> {
        let mut argv: Vec<&str> = sudo.clone();
        argv.extend(["env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]);
        argv.extend(args);
        let status = Command::new(argv[0])
            .args(&argv[1..])
            .status()
            .with_context(|| format!("run {}", argv.join(" ")))?;
        if !status.success() {
            bail!(
                "`apt-get {}` failed: the tests need {list}; install them and run again",
                args.join(" ")
            );
        }
        Ok(())
    };
    apt(&["update", "-qq"])?;
    let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
    args.extend(missing.iter().copied());
    apt(&args)
}
