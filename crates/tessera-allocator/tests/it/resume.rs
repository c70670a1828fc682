//! Interrupted allocations: killed outright (SIGKILL) or asked to stop (SIGINT) midway, a second
//! run seals only what is missing and then every chunk verifies.

use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::time::Duration;

use crate::support::{CHUNK, Node, Run, account, live_count, poll};

/// How the first run is stopped.
#[derive(Clone, Copy, Debug)]
enum Stop {
    /// `kill -9`: no chance to clean up; only committed transactions survive.
    Kill,
    /// Ctrl-C: chunks in flight are committed, and the run says how many it wrote.
    Interrupt,
}

/// 128 MiB of dev seal on one worker, a quarter for the first partition in plan order and the
/// rest for the second. The writer commits in batches of about 16 MiB, so the second partition's
/// first rows appear some 40% of the way in, leaving the rest of the run to interrupt.
const CAPACITY: u64 = 128 << 20;

#[test]
fn killed_run_resumes() {
    interrupt_and_resume(Stop::Kill);
}

#[test]
fn interrupted_run_exits_130_and_resumes() {
    interrupt_and_resume(Stop::Interrupt);
}

fn interrupt_and_resume(stop: Stop) {
    let node = Node::new();
    // Partitions are sealed in plan order, which is by hotkey; the later one gets the larger stake.
    let mut order = ["Bob", "Charlie"];
    order.sort_by_key(|name| account(name));
    let [first, second] = order;
    node.write_metagraph(&[
        ("Alice", 0.0, false),
        (first, 1000.0, true),
        (second, 3000.0, true),
    ]);
    let capacity = format!("--capacity={CAPACITY}");
    let mut child = node.spawn(&node.args().with(&[&capacity, "--workers=1"]));
    // Rows the running process committed to the second partition, seen through a separate
    // read-only connection: once there are some, the run is well past the first partition.
    let path = node.data_file(second);
    let seen = poll(Duration::from_secs(60), || {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("{stop:?}: the run ended ({status}) before it could be interrupted");
        }
        live_count(&path).filter(|n| *n > 0)
    })
    .unwrap_or_else(|| panic!("{stop:?}: no chunk committed within 60 s"));

    match stop {
        Stop::Kill => child.kill().unwrap(),
        Stop::Interrupt => {
            let sent = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status()
                .unwrap();
            assert!(sent.success());
        }
    }
    let run = Run::from(child.wait_with_output().unwrap());
    let written = match stop {
        Stop::Kill => {
            assert_eq!(run.status.signal(), Some(9), "{run}");
            None
        }
        Stop::Interrupt => {
            run.assert_code(130);
            let line = run.error_line().unwrap_or_else(|e| panic!("{e}\n{run}"));
            let n: u64 = line
                .strip_prefix("error: interrupted after writing ")
                .and_then(|rest| rest.strip_suffix(" chunks; run again to resume"))
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("unexpected error line\n{run}"));
            Some(n)
        }
    };

    let total = CAPACITY / CHUNK;
    let rerun = node.run(&node.args().with(&[&capacity]));
    rerun.assert_code(0);
    let plan = rerun.plan();
    let [done, partial] = &plan[..] else {
        panic!("not two partitions\n{rerun}");
    };
    // The first partition was committed in full as the second began, not held back to the end,
    // and only the second is partial: at least what was seen, and interrupted midway.
    assert_eq!(done.validator, account(first).to_string());
    assert_eq!(done.already, done.n_chunks, "{stop:?}\n{rerun}");
    assert!(
        partial.already >= seen,
        "{stop:?}: saw {seen} rows\n{rerun}"
    );
    assert!(
        partial.already < partial.n_chunks,
        "{stop:?}: nothing to resume\n{rerun}"
    );
    let already = done.already + partial.already;
    if let Some(written) = written {
        assert_eq!(
            already, written,
            "{stop:?}: the run said it wrote {written}\n{rerun}"
        );
    }
    assert_eq!(rerun.sealed_now(), total - already, "{rerun}");

    let verify = node.run(&node.args().with(&[&capacity, "--verify"]));
    verify.assert_code(0);
    assert!(
        verify
            .stdout
            .contains(&format!("verified {total} chunks in 2 partitions: 0 bad")),
        "{verify}"
    );
}
