//! The Prometheus `/metrics` endpoint every node can serve on its own port: HTTP/1.1 through
//! axum, one path, text exposition format.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::registry::Registry;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// How long one connection to the endpoint may live, and how long `scrape` waits for an answer:
/// an encoded registry is a few kilobytes, so anything slower is a stalled peer.
const DEADLINE: Duration = Duration::from_secs(10);

/// The content type of the text exposition `prometheus_client` encodes.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Binds `addr` and serves `registry` at `/metrics` until `shutdown` resolves; returns the bound
/// address (for port 0) and the serving task, which ends once every connection's task has.
pub async fn serve_metrics(
    addr: &str,
    registry: Arc<Registry>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    serve_within(addr, registry, shutdown, DEADLINE).await
}

/// `serve_metrics` with each connection cut off `deadline` after it was accepted.
async fn serve_within(
    addr: &str,
    registry: Arc<Registry>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    deadline: Duration,
) -> io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = DeadlineListener {
        inner: TcpListener::bind(addr).await?,
        deadline,
    };
    let bound = listener.inner.local_addr()?;
    let app = axum::Router::new()
        .route("/metrics", axum::routing::get(encode))
        .fallback(|| async { (StatusCode::NOT_FOUND, "try /metrics\n") })
        // One request per connection: the deadline caps a connection's whole life, so a reused
        // one could be cut off in the middle of a later scrape.
        .layer(axum::middleware::map_response(
            |mut response: Response| async {
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                response
            },
        ))
        .with_state(registry);
    let task = tokio::spawn(async move {
        // The graceful future resolves only after every connection's task has ended, which the
        // deadline bounds.
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::warn!(error = %e, "metrics endpoint failed");
        }
    });
    Ok((bound, task))
}

async fn encode(State(registry): State<Arc<Registry>>) -> Response {
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &registry) {
        Ok(()) => ([(header::CONTENT_TYPE, OPENMETRICS)], text).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

/// Accepts TCP connections that fail once `deadline` has passed: axum's server has no timeouts
/// of its own, and a scraper that stalls must not hold a task, or the graceful stop, for ever.
struct DeadlineListener {
    inner: TcpListener,
    deadline: Duration,
}

impl axum::serve::Listener for DeadlineListener {
    type Io = DeadlineStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // axum's own accept retries (and backs off from) failed accepts.
        let (stream, peer) = axum::serve::Listener::accept(&mut self.inner).await;
        let expiry = Box::pin(tokio::time::sleep(self.deadline));
        (DeadlineStream { stream, expiry }, peer)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A connection whose reads and writes fail once `expiry` fires; polling `expiry` alongside the
/// socket wakes hyper when it does, so even an idle connection ends.
struct DeadlineStream {
    stream: TcpStream,
    expiry: Pin<Box<tokio::time::Sleep>>,
}

impl DeadlineStream {
    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        match self.expiry.as_mut().poll(cx) {
            Poll::Ready(()) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "metrics connection outlived its deadline",
            )),
            Poll::Pending => Ok(()),
        }
    }
}

impl AsyncRead for DeadlineStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check(cx)?;
        Pin::new(&mut this.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for DeadlineStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check(cx)?;
        Pin::new(&mut this.stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check(cx)?;
        Pin::new(&mut this.stream).poll_flush(cx)
    }

    // Closing is let through after the deadline: it is how the connection ends.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// Fetches `http://<addr>/metrics` and returns the body: for tests, the devnet and `status`.
pub async fn scrape(addr: SocketAddr) -> io::Result<String> {
    scrape_within(addr, DEADLINE).await
}

/// `scrape`, giving up after `deadline`.
///
/// Hand-written rather than hyper's client: hyper and hyper-util are in the tree (through tonic
/// and axum) but not workspace dependencies, and driving a hyper connection (handshake, spawned
/// connection task, body collection, error conversions) takes more lines than one
/// `Connection: close` request read to the end, which is all a scrape of our own endpoint needs.
async fn scrape_within(addr: SocketAddr, deadline: Duration) -> io::Result<String> {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        stream
            .write_all(
                format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await?;
        let mut out = String::new();
        stream.read_to_string(&mut out).await?;
        Ok::<_, io::Error>(out)
    };
    let out = tokio::time::timeout(deadline, exchange)
        .await
        .map_err(|_| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{addr}: no answer within {deadline:?}"),
            )
        })??;
    match out.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.1 200") => Ok(body.to_owned()),
        _ => Err(io::Error::other(format!(
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

/// Serves `registry` at `addr` when metrics are on, and says where it is bound (for port 0);
/// `None` when `addr` is unset. An error names the setting.
pub async fn start_metrics(
    addr: Option<&str>,
    registry: Arc<Registry>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<Option<(SocketAddr, tokio::task::JoinHandle<()>)>, (String, io::Error)> {
    let Some(addr) = addr else {
        return Ok(None);
    };
    serve_metrics(addr, registry, shutdown)
        .await
        .map(Some)
        .map_err(|e| (format!("metrics.addr {addr}"), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    use prometheus_client::metrics::counter::Counter;

    /// A registry with one counter at 3, served until the returned sender is dropped or fired.
    async fn endpoint(
        deadline: Duration,
    ) -> (
        SocketAddr,
        tokio::task::JoinHandle<()>,
        tokio::sync::oneshot::Sender<()>,
    ) {
        let mut registry = Registry::with_prefix("test");
        let counter = Counter::<u64>::default();
        counter.inc_by(3);
        registry.register("hits", "Hits", counter);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (addr, task) = serve_within(
            "127.0.0.1:0",
            Arc::new(registry),
            async move {
                let _ = stopped.await;
            },
            deadline,
        )
        .await
        .unwrap();
        (addr, task, stop)
    }

    /// Sends `request` raw and returns the whole answer.
    async fn raw(addr: SocketAddr, request: &str) -> String {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn serves_the_registry_and_stops() {
        let (addr, task, stop) = endpoint(DEADLINE).await;
        let text = scrape(addr).await.unwrap();
        assert_eq!(sample(&text, "test_hits_total", &[]), Some(3.0), "{text}");
        assert_eq!(total(&text, "test_hits_total"), 3.0);

        let answer = raw(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
        let head = answer
            .split_once("\r\n\r\n")
            .unwrap()
            .0
            .to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 200"), "{answer}");
        assert!(
            head.contains(&format!("content-type: {OPENMETRICS}")),
            "{answer}"
        );
        // Closed after one answer, though the request did not ask for it.
        assert!(head.contains("connection: close"), "{answer}");

        let answer = raw(addr, "GET /other HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
        let answer = raw(addr, "POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");

        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("stops")
            .unwrap();
        assert!(TcpStream::connect(addr).await.is_err(), "still listening");
    }

    #[tokio::test]
    async fn a_stalled_scraper_neither_holds_its_connection_nor_the_stop() {
        let deadline = Duration::from_millis(300);
        let (addr, task, stop) = endpoint(deadline).await;
        // Half a request, then silence: only the deadline ends this connection.
        let mut stalled = TcpStream::connect(addr).await.unwrap();
        stalled.write_all(b"GET /metr").await.unwrap();
        let mut idle = TcpStream::connect(addr).await.unwrap();
        let mut out = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(5), idle.read_to_end(&mut out)).await;
        assert!(closed.is_ok(), "an idle connection outlived the deadline");

        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("a stalled connection held the stop")
            .unwrap();
        let closed =
            tokio::time::timeout(Duration::from_secs(5), stalled.read_to_end(&mut out)).await;
        assert!(closed.is_ok(), "the stalled connection is still open");
    }

    #[tokio::test]
    async fn a_scrape_of_a_silent_peer_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Accepts, then never answers.
        let _held = tokio::spawn(async move {
            let _conn = listener.accept().await;
            std::future::pending::<()>().await;
        });
        let err = scrape_within(addr, Duration::from_millis(200))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
    }
}
