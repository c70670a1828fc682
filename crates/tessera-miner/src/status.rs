//! `tessera-miner status`: the node's partitions, free space and, when its metrics endpoint is
//! on, its counters, from the shell and without Prometheus.

use std::fmt::Write;

use tessera_storage::PartitionDb;

use crate::{Config, Error};

/// The status report of the miner `config` describes, as printable text.
pub async fn report(config: &Config) -> Result<String, Error> {
    let dir = config.node_dir();
    let mut out = String::new();
    let entries = tessera_allocator::read_partition_json(&dir)?;
    let _ = writeln!(out, "miner folder {}", dir.display());
    let _ = writeln!(
        out,
        "  {:<50} {:>9} {:>9} {:>10} {:>6}",
        "validator", "chunks", "present", "size", "seal"
    );
    for e in &entries {
        // Counting rows reads the table's b-tree, not the chunks: cheap enough for a status.
        let present = match PartitionDb::open_existing(&e.path).await {
            Ok(db) => {
                let n = db.count().await.ok();
                db.close().await;
                n.map_or_else(|| "?".into(), |n| n.to_string())
            }
            Err(err) => format!("error: {err}"),
        };
        let _ = writeln!(
            out,
            "  {:<50} {:>9} {:>9} {:>10} {:>6}",
            e.validator.to_string(),
            e.n_chunks,
            present,
            tessera_node::ByteSize(e.size).to_string(),
            e.seal
        );
        if let Some(until) = e.grace_until_ms {
            let left = until.saturating_sub(tessera_rpc::now_ms()) / 1000;
            let _ = writeln!(
                out,
                "    in grace: its validator left the plan; kept for its client data until {} ({}h{:02}m from now)",
                humantime_utc(until),
                left / 3600,
                left % 3600 / 60
            );
        }
    }
    if let Ok(free) = fs4::available_space(&dir) {
        let low = if free < config.disk.min_free.0 {
            " (LOW)"
        } else {
            ""
        };
        let _ = writeln!(out, "disk free {}{low}", tessera_node::ByteSize(free));
    }
    if let Some(addr) = &config.metrics.addr {
        let scraped = match addr.parse() {
            Ok(a) => tessera_node::scrape(a).await.map_err(|e| e.to_string()),
            Err(e) => Err(format!("metrics.addr {addr}: {e}")),
        };
        match scraped {
            Ok(text) => {
                for (label, name) in [
                    ("challenge items", "tessera_miner_challenge_items_total"),
                    ("requests", "tessera_miner_requests_total"),
                    ("rejected", "tessera_miner_rejected_requests_total"),
                    ("bytes served", "tessera_miner_served_bytes_total"),
                ] {
                    let _ = writeln!(out, "{label}: {}", tessera_node::total(&text, name));
                }
            }
            Err(e) => {
                let _ = writeln!(out, "metrics unavailable: {e} (is the miner running?)");
            }
        }
    }
    Ok(out)
}

/// `ms` since the Unix epoch as an HTTP date (`Wed, 09 Dec 2026 04:40:00 GMT`), for the operator.
fn humantime_utc(ms: u64) -> String {
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms))
}
