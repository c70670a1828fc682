//! Operations: the systemd units verify, and a restart keeps the replay memory, so a request
//! answered before a restart cannot be replayed after it.

use std::process::Command;
use std::time::Duration;

use tessera_proto::miner::v1::{PingRequest, methods};
use tessera_proto::tonic::Code;
use tessera_rpc::signed;
use tessera_testkit::{bin, keypair};

use crate::support::{Miner, connect, spawn};

/// `systemd-analyze verify` on each unit in deploy/systemd, with `ExecStart` pointed at the
/// binary just built (verify insists the executable exists).
#[test]
fn systemd_units_verify() {
    let dir = tempfile::tempdir().unwrap();
    for node in ["tessera-miner", "tessera-validator"] {
        let unit = format!(
            "{}/../../deploy/systemd/{node}.service",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&unit).unwrap();
        let installed = format!("/usr/local/bin/{node}");
        assert!(text.contains(&installed), "{unit} runs {installed}");
        let copy = dir.path().join(format!("{node}.service"));
        let built = bin(node);
        std::fs::write(
            &copy,
            text.replace(&installed, &built.display().to_string()),
        )
        .unwrap();
        let out = Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(&copy)
            .output()
            .expect("systemd-analyze is installed (.ci/run installs it)");
        let said = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        // Only lines about our unit count: a container's own units may be noisy.
        let ours: Vec<&str> = said.lines().filter(|l| l.contains(node)).collect();
        assert!(out.status.success() && ours.is_empty(), "{unit}:\n{said}");
    }
}

#[tokio::test]
async fn replay_memory_survives_a_restart() {
    let mut miner = Miner::start(&[]).await;
    let alice = keypair("Alice");
    let (request, _) = signed(PingRequest {}, &alice, &miner.hotkey(), methods::PING);
    let copy = clone(&request);
    let mut client = miner.client().await;
    client.ping(request).await.expect("first use");
    drop(client);
    let status = miner
        .process
        .terminate(Duration::from_secs(10))
        .await
        .expect("stops");
    assert!(status.success());

    miner.process = spawn(&miner.net, &[]);
    tessera_testkit::wait_healthy(miner.process.addr, Duration::from_secs(20)).await;
    let mut client = connect(miner.process.addr).await;
    let replay = client.ping(copy).await.unwrap_err();
    assert_eq!(replay.code(), Code::AlreadyExists, "{}", replay.message());
    // And a fresh request goes through.
    let (fresh, _) = signed(PingRequest {}, &alice, &miner.hotkey(), methods::PING);
    client.ping(fresh).await.expect("fresh request");

    // After a crash the memory is gone, and requests signed before the start are refused for
    // their age instead.
    let (old, _) = signed(PingRequest {}, &alice, &miner.hotkey(), methods::PING);
    miner.process.kill();
    miner.process = spawn(&miner.net, &[]);
    tessera_testkit::wait_healthy(miner.process.addr, Duration::from_secs(20)).await;
    let mut client = connect(miner.process.addr).await;
    let refused = client.ping(old).await.unwrap_err();
    assert_eq!(
        refused.code(),
        Code::Unauthenticated,
        "{}",
        refused.message()
    );
    assert!(
        refused.message().contains("restart"),
        "{}",
        refused.message()
    );
}

fn clone(
    r: &tessera_proto::tonic::Request<PingRequest>,
) -> tessera_proto::tonic::Request<PingRequest> {
    let mut c = tessera_proto::tonic::Request::new(*r.get_ref());
    *c.metadata_mut() = r.metadata().clone();
    c
}

/// Low disk raises the metric and logs once; logs can be JSON lines for journald and shippers.
#[tokio::test]
async fn low_disk_is_a_metric_and_a_log_line() {
    let miner = Miner::start(&[
        "--disk.min_free",
        "1000000TiB",
        "--metrics.addr",
        "127.0.0.1:0",
        "--logging.json",
    ])
    .await;
    let addr = miner.process.metrics_addr().expect("metrics address");
    let text = tessera_node::scrape(addr).await.unwrap();
    assert_eq!(
        tessera_node::sample(&text, "tessera_miner_disk_low", &[]),
        Some(1.0),
        "{text}"
    );
    let log = miner.process.log_text();
    let low: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("disk space low"))
        .collect();
    assert_eq!(low.len(), 1, "{log}");
    for line in log.lines() {
        assert!(
            line.starts_with('{') && line.ends_with('}'),
            "not a JSON line: {line}"
        );
    }
}

/// The `Type=notify` protocol without systemd: a datagram socket stands in for it and hears
/// READY once the miner serves, watchdog pings while it is healthy, and STOPPING at SIGTERM.
#[tokio::test]
async fn tells_systemd_ready_watchdog_and_stopping() {
    let net = tessera_testkit::Net::new();
    net.write_metagraph(&crate::support::subnet());
    let socket_path = net.root.join("notify.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let env = [
        ("NOTIFY_SOCKET", socket_path.display().to_string()),
        // A 200 ms watchdog: pings every 100 ms.
        ("WATCHDOG_USEC", "200000".to_owned()),
    ];
    let mut process = crate::support::spawn_env(&net, &[], &env);
    let mut heard = Vec::new();
    let mut buf = [0u8; 256];
    while heard.iter().filter(|m| *m == "WATCHDOG=1").count() < 2 {
        let n = socket.recv(&mut buf).expect("a notification within 10 s");
        heard.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert_eq!(heard[0], "READY=1", "{heard:?}");
    let status = process
        .terminate(Duration::from_secs(10))
        .await
        .expect("stops");
    assert!(status.success());
    let mut rest = Vec::new();
    while let Ok(n) = socket.recv(&mut buf) {
        rest.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        if rest.last().is_some_and(|m| m == "STOPPING=1") {
            break;
        }
    }
    assert!(rest.iter().any(|m| m == "STOPPING=1"), "{rest:?}");
}
