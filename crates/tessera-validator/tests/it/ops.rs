//! Operations: a miner and a validator started from the example configs in deploy/examples, both
//! metrics endpoints scraped with non-zero challenge counters, the `status` subcommands, and an
//! orderly SIGTERM for both.

use std::time::Duration;

use tessera_node::{sample, scrape, total};
use tessera_testkit::{Spec, account, bin};

use crate::support::{Subnet, eventually};

fn example(name: &str) -> String {
    format!(
        "{}/../../deploy/examples/{name}.toml",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_configs_serve_metrics_and_stop_cleanly() {
    let mut subnet = Subnet::new(vec![Spec::validator("Alice", 100.0), Spec::miner("Dave")]);
    // The example files set systemd paths and metrics on fixed ports; flags move both into the
    // test's folder and onto free ports, as an operator's flags would.
    let miner_config = example("miner");
    let validator_config = example("validator");
    subnet
        .start_miner(
            "Dave",
            "1MiB",
            &["--config", &miner_config, "--metrics.addr", "127.0.0.1:0"],
        )
        .await;
    subnet.publish_axons();
    subnet
        .start_validator(
            "Alice",
            &[
                "--config",
                &validator_config,
                "--metrics.addr",
                "127.0.0.1:0",
            ],
        )
        .await;
    let miner_metrics = subnet.miners["Dave"].metrics_addr().expect("miner metrics");
    let validator_metrics = subnet.validators["Alice"]
        .metrics_addr()
        .expect("validator metrics");

    let dave = account("Dave").to_string();
    let (m, v) = eventually(Duration::from_secs(60), "challenge counters", || async {
        let m = scrape(miner_metrics).await.ok()?;
        let v = scrape(validator_metrics).await.ok()?;
        let passed = sample(
            &v,
            "tessera_validator_challenge_items_total",
            &[("miner", &dave), ("outcome", "passed")],
        )?;
        let proved = sample(
            &m,
            "tessera_miner_challenge_items_total",
            &[("outcome", "proved")],
        )?;
        let weighted = total(&v, "tessera_validator_weights_set_total") > 0.0;
        (passed > 0.0 && proved > 0.0 && weighted).then_some((m, v))
    })
    .await;
    assert_eq!(
        sample(&m, "tessera_miner_partitions", &[]),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        sample(&m, "tessera_miner_sealed_bytes", &[]),
        Some(1048576.0)
    );
    assert!(sample(&m, "tessera_miner_disk_free_bytes", &[]).unwrap_or(0.0) > 0.0);
    assert!(
        total(&m, "tessera_miner_request_duration_seconds_count") > 0.0,
        "{m}"
    );
    assert!(
        sample(&v, "tessera_validator_miner_weight", &[("miner", &dave)]) == Some(1.0),
        "{v}"
    );
    assert!(total(&v, "tessera_validator_last_weights_set_timestamp_seconds") > 1.7e9);
    assert!(total(&v, "tessera_validator_verify_duration_seconds_count") > 0.0);

    // Every metric the example Grafana dashboard plots is one the nodes export.
    let dashboard = std::fs::read_to_string(format!(
        "{}/../../deploy/grafana/tessera.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let names: std::collections::BTreeSet<&str> = dashboard
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("tessera_"))
        .collect();
    assert!(names.len() >= 10, "{names:?}");
    for name in names {
        assert!(
            m.contains(name) || v.contains(name),
            "dashboard plots unknown {name}"
        );
    }

    // The status subcommands read the same state from the shell.
    let args = |who: &str, config: &str| {
        let mut a = subnet.net.node_args(who);
        a.extend(["--config".into(), config.into()]);
        a.push("status".into());
        a
    };
    let out = std::process::Command::new(bin("tessera-validator"))
        .args(args("Alice", &validator_config))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains(&dave), "{text}");
    let out = std::process::Command::new(bin("tessera-miner"))
        .args(args("Dave", &miner_config))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&account("Alice").to_string()) && text.contains("disk free"),
        "{text}"
    );

    // SIGTERM: both exit 0 within seconds, having recorded everything they did.
    let before = subnet.rows("Alice").await["Dave"].challenges;
    for (who, p) in subnet.validators.iter_mut().chain(subnet.miners.iter_mut()) {
        let status = p
            .terminate(Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("{who} still running 10 s after SIGTERM"));
        assert!(status.success(), "{who}: {status:?}\n{}", p.log_text());
    }
    let after = subnet.rows("Alice").await["Dave"].challenges;
    assert!(after >= before, "{after} < {before}");
    assert!(subnet.net.node_dir("Dave").join("nonces.json").exists());
}
