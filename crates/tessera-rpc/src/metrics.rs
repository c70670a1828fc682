//! The Prometheus `/metrics` endpoint every node can serve on its own port: plain HTTP/1.1, one
//! path, text exposition format.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The largest request head read; a scraper's GET is a few hundred bytes.
const MAX_HEAD: usize = 8 << 10;

/// Binds `addr` and serves `registry` at `/metrics` until `shutdown` resolves; returns the bound
/// address (for port 0) and the serving task.
pub async fn serve_metrics(
    addr: &str,
    registry: Arc<Registry>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let mut shutdown = std::pin::pin!(shutdown);
        // Each scrape's task, all ended when the endpoint stops.
        let mut scrapes = tokio::task::JoinSet::new();
        loop {
            // Finished scrapes leave the set as they go.
            while scrapes.try_join_next().is_some() {}
            let (stream, _) = tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "metrics endpoint: accept failed");
                        continue;
                    }
                },
            };
            let registry = registry.clone();
            scrapes.spawn(async move {
                // A scraper that stalls must not hold a task for ever.
                let _ =
                    tokio::time::timeout(Duration::from_secs(10), answer(stream, &registry)).await;
            });
        }
        scrapes.shutdown().await;
    });
    Ok((bound, task))
}

async fn answer(mut stream: tokio::net::TcpStream, registry: &Registry) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 || head.len() + n > MAX_HEAD {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = head.split(|b| *b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|b| *b == b' ');
    let (method, path) = (parts.next(), parts.next());
    let (status, content_type, body) = match (method, path) {
        (Some(b"GET"), Some(b"/metrics")) => {
            let mut text = String::new();
            match prometheus_client::encoding::text::encode(&mut text, registry) {
                Ok(()) => (
                    "200 OK",
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    text,
                ),
                Err(e) => ("500 Internal Server Error", "text/plain", format!("{e}\n")),
            }
        }
        (Some(b"GET"), _) => ("404 Not Found", "text/plain", "try /metrics\n".into()),
        _ => ("405 Method Not Allowed", "text/plain", "GET only\n".into()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

/// Fetches `http://<addr>/metrics` and returns the body: for tests, the devnet and `status`.
pub async fn scrape(addr: SocketAddr) -> std::io::Result<String> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream
        .write_all(
            format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await?;
    let mut out = String::new();
    stream.read_to_string(&mut out).await?;
    match out.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.1 200") => Ok(body.to_owned()),
        _ => Err(std::io::Error::other(format!(
            "{addr}: unexpected answer: {}",
            out.lines().next().unwrap_or_default()
        ))),
    }
}

/// The value of the first sample named `name` whose labels contain every `labels` pair, in a
/// text exposition; `None` when absent.
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (series, value) = l.rsplit_once(' ')?;
        let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
        if metric != name {
            return None;
        }
        labels
            .iter()
            .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
            .then(|| value.parse().ok())
            .flatten()
    })
}

/// The sum of every sample named `name`, over all label sets.
pub fn total(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let metric = series.split_once('{').map_or(series, |(m, _)| m);
            (metric == name)
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .sum()
}

/// Every node's view of its chain: whether the last read reached it, and the block it saw.
#[derive(Clone, Debug, Default)]
pub struct ChainGauges {
    connected: prometheus_client::metrics::gauge::Gauge,
    block: prometheus_client::metrics::gauge::Gauge,
}

impl ChainGauges {
    /// Registers `chain_connected` and `chain_block` under the registry's prefix.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "chain_connected",
            "1 while the last read of the chain (or metagraph file) succeeded",
            self.connected.clone(),
        );
        registry.register(
            "chain_block",
            "The block of the last metagraph read (0 for a metagraph file)",
            self.block.clone(),
        );
    }

    pub fn set(&self, connected: bool, block: u64) {
        self.connected.set(i64::from(connected));
        self.block.set(i64::try_from(block).unwrap_or(i64::MAX));
    }
}
