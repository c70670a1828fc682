//! `cargo xtask test`: the README's test command. Installs or finds what the tests need (Debian's
//! `systemd` and `chromium`, Node.js and the local chain's npm packages), then runs tidy, fmt,
//! clippy and every test. A tool that cannot be had is an error naming it, never a skipped test.

use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};

/// Debian packages the tests drive, with the command each provides.
const PACKAGES: [(&str, &str); 4] = [
    ("systemd-analyze", "systemd"),
    ("chromium", "chromium"),
    ("node", "nodejs"),
    ("npm", "npm"),
];

pub fn run(root: &Path) -> anyhow::Result<ExitCode> {
    install_missing()?;
    println!("== npm packages of the local Subtensor chain");
    let dir = tessera_testkit::localnet::prepare().map_err(anyhow::Error::msg)?;
    println!("   ready in {}", dir.display());
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
