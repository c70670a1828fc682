//! A fault-injecting TCP proxy for tests, standing in for the internet where the kernel has no
//! `netem`: the metagraph lists the proxy's address as a miner's axon, and every byte between the
//! validator and the miner goes through it, each way delayed by a latency with jitter, sometimes
//! stalled as a lost segment would be; on demand every connection is cut (reset), or the proxy
//! becomes a black hole (connections accepted, nothing delivered). All on loopback.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// What the proxy does to traffic, each way.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Faults {
    /// One-way latency added to every read's bytes.
    pub delay: Duration,
    /// Up to this much more or less, uniformly.
    pub jitter: Duration,
    /// The chance that a read's bytes are held a further `stall` (a lost segment's
    /// retransmission): 0.005 for 0.5%.
    pub stall_chance: f64,
    pub stall: Duration,
}

impl Faults {
    /// No faults: a plain relay.
    pub const NONE: Faults = Faults {
        delay: Duration::ZERO,
        jitter: Duration::ZERO,
        stall_chance: 0.0,
        stall: Duration::ZERO,
    };

    /// `delay` ± `jitter` each way, and `stall_chance` of reads held `stall` more.
    pub fn wan(delay_ms: u64, jitter_ms: u64, stall_chance: f64, stall_ms: u64) -> Faults {
        Faults {
            delay: Duration::from_millis(delay_ms),
            jitter: Duration::from_millis(jitter_ms),
            stall_chance,
            stall: Duration::from_millis(stall_ms),
        }
    }
}

/// How the proxy treats connections now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Relay,
    /// Every connection is reset, new ones too.
    Cut,
    /// Connections are accepted and held; nothing is delivered either way.
    BlackHole,
}

#[derive(Debug)]
struct Control {
    faults: Faults,
    mode: Mode,
    /// Counts of what went through: reads relayed and reads stalled.
    relayed: u64,
    stalled: u64,
    rng: u64,
}

/// A running proxy in front of one target; stops when dropped.
#[derive(Debug)]
pub struct Proxy {
    pub addr: SocketAddr,
    control: Arc<Mutex<Control>>,
    mode: watch::Sender<Mode>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    /// Listens on `127.0.0.1:0` and relays to `target` with `faults`.
    pub async fn start(target: SocketAddr, faults: Faults) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let control = Arc::new(Mutex::new(Control {
            faults,
            mode: Mode::Relay,
            relayed: 0,
            stalled: 0,
            // Any odd seed: the faults need spread, not secrecy.
            rng: u64::from(addr.port()) << 17 | 1,
        }));
        let (mode, mode_rx) = watch::channel(Mode::Relay);
        let task = tokio::spawn(accept(listener, target, control.clone(), mode_rx));
        Proxy {
            addr,
            control,
            mode,
            task,
        }
    }

    pub fn set_faults(&self, faults: Faults) {
        self.lock().faults = faults;
    }

    /// Resets every connection and every new one until `heal`.
    pub fn cut(&self) {
        self.set_mode(Mode::Cut);
    }

    /// Holds every connection without delivering a byte until `heal`.
    pub fn black_hole(&self) {
        self.set_mode(Mode::BlackHole);
    }

    pub fn heal(&self) {
        self.set_mode(Mode::Relay);
    }

    /// Reads relayed and reads stalled so far, over both directions.
    pub fn counts(&self) -> (u64, u64) {
        let c = self.lock();
        (c.relayed, c.stalled)
    }

    fn set_mode(&self, mode: Mode) {
        self.lock().mode = mode;
        let _ = self.mode.send(mode);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Control> {
        self.control.lock().unwrap_or_else(|p| p.into_inner())
    }
}

async fn accept(
    listener: TcpListener,
    target: SocketAddr,
    control: Arc<Mutex<Control>>,
    mode: watch::Receiver<Mode>,
) {
    let mut links = JoinSet::new();
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        while links.try_join_next().is_some() {}
        if *mode.borrow() == Mode::Cut {
            reset(client);
            continue;
        }
        let (control, mode) = (control.clone(), mode.clone());
        links.spawn(async move {
            let Ok(server) = TcpStream::connect(target).await else {
                reset(client);
                return;
            };
            link(client, server, control, mode).await;
        });
    }
}

/// Closes `stream` with a reset rather than an orderly FIN, as a cut link looks to its peer.
fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

/// Relays both ways until either side closes or the proxy cuts the link.
async fn link(
    client: TcpStream,
    server: TcpStream,
    control: Arc<Mutex<Control>>,
    mut mode: watch::Receiver<Mode>,
) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    // A cut drops the sockets mid-stream: with no linger, that is a reset, as a broken link
    // looks to both ends.
    let _ = client.set_zero_linger();
    let _ = server.set_zero_linger();
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let up = pump(client_read, server_write, control.clone(), mode.clone());
    let down = pump(server_read, client_write, control, mode.clone());
    let cut = async {
        let _ = mode.wait_for(|m| *m == Mode::Cut).await;
    };
    tokio::select! {
        _ = async { tokio::join!(up, down) } => {}
        () = cut => {}
    }
}

/// Moves bytes from `from` to `to`, each read delivered at its due time: now + delay ± jitter
/// (+ a stall, sometimes), never before an earlier read's, so order is kept.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    control: Arc<Mutex<Control>>,
    mode: watch::Receiver<Mode>,
) -> Option<()> {
    // Reads queue here with their due times, so that reading goes on while earlier bytes wait:
    // latency, not a bandwidth limit.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let writer = async move {
        while let Some((due, bytes)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            to.write_all(&bytes).await.ok()?;
        }
        to.shutdown().await.ok()
    };
    let reader = async move {
        let mut buf = vec![0u8; 64 << 10];
        let mut last = Instant::now();
        loop {
            let n = from.read(&mut buf).await.ok()?;
            if n == 0 {
                return Some(());
            }
            if *mode.borrow() == Mode::BlackHole {
                continue;
            }
            let wait = {
                let mut c = control.lock().unwrap_or_else(|p| p.into_inner());
                c.relayed += 1;
                let f = c.faults;
                let mut wait = f.delay;
                if !f.jitter.is_zero() {
                    let spread = f.jitter.as_micros() as u64;
                    let r = next(&mut c.rng) % (2 * spread + 1);
                    wait = (wait + Duration::from_micros(r)).saturating_sub(f.jitter);
                }
                if f.stall_chance > 0.0
                    && (next(&mut c.rng) as f64 / u64::MAX as f64) < f.stall_chance
                {
                    c.stalled += 1;
                    wait += f.stall;
                }
                wait
            };
            let due = (Instant::now() + wait).max(last);
            last = due;
            tx.send((due, buf[..n].to_vec())).ok()?;
        }
    };
    let (r, w) = tokio::join!(reader, writer);
    r.and(w)
}

/// xorshift64: a fault's dice.
fn next(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x
}
