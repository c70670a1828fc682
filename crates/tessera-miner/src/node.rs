//! The miner's life: allocate or resume, serve, re-read the metagraph every step and reallocate
//! every few steps without stopping service, and shut down in order.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tessera_allocator::{Outcome, PartitionEntry};
use tessera_chain::{AnyChain, Chain, ChainStatus, Follower, Served as AxonServed};
use tessera_core::AccountId;
use tessera_node::notify;
use tessera_partition::SealProfile;
use tessera_proto::miner::v1::miner_server::{MinerServer, SERVICE_NAME};
use tessera_proto::tonic::transport::Server;
use tessera_proto::tonic::transport::server::TcpIncoming;
use tessera_rpc::{Gate, ServingStatus};
use tessera_storage::{Meta, PartitionDb};

use crate::metrics::Metrics;
use crate::service::{MinerService, MinerState, Policy, Served};
use crate::throttle::Throttle;
use crate::{Config, Error};

/// How long in-flight requests may take to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Where the replay memory waits across a clean restart, in the node's folder.
const NONCES_FILE: &str = "nonces.json";

/// Runs the miner until `shutdown` resolves. Prints `listening on <addr>` on stdout once it
/// serves (and `metrics on <addr>` when metrics are on), so a supervisor or a test that bound
/// port 0 learns the addresses; tells systemd READY at the same moment.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let stop = tessera_node::stop_signal(shutdown);
    let keypair = config.wallet.keypair()?;
    let me = keypair.account();
    let (metrics, registry) = Metrics::new();
    let chain = Arc::new(AnyChain::new(
        tessera_chain::Source::choose(
            &config.subtensor.network,
            config.subtensor.chain_endpoint.as_deref(),
            config.metagraph.file(),
        )?,
        config.netuid,
    ));
    let observer = {
        let metrics = metrics.clone();
        Arc::new(move |s: ChainStatus| metrics.chain(s))
    };
    let Some(follower) = Follower::start(
        chain.clone(),
        Duration::from_secs(config.step_secs.max(1)),
        observer,
        stop.clone().cancelled_owned(),
    )
    .await?
    else {
        return Ok(());
    };
    // An unregistered hotkey is told so before anything is written.
    follower.metagraph().require(&me, &chain.describe())?;

    // Provision first: a miner that serves before its partitions exist fails every challenge.
    let entries = match allocate(&config, config.restart, stop.clone().cancelled_owned()).await? {
        Some(entries) => entries,
        None => return Ok(()),
    };
    let partitions = open_partitions(&me, &entries).await?;
    count_partitions(&metrics, &entries);

    let policy = Policy {
        metagraph: (*follower.metagraph()).clone(),
        min_stake: config.min_stake,
        blacklist: config.blacklisted()?,
    };
    let observer = {
        let metrics = metrics.clone();
        Arc::new(move |reason: &'static str| metrics.reject(reason))
    };
    let gate = Gate::new(
        me,
        config.auth.timestamp_window * 1000,
        config.auth.nonces_per_caller,
    )
    .with_observer(observer);
    restore_nonces(&gate, &config.node_dir());
    let shared = Arc::new(MinerState {
        keypair,
        gate,
        policy: RwLock::new(policy),
        partitions: RwLock::new(Arc::new(partitions)),
        max_items: config.max_challenge_items,
        max_request_bytes: config.auth.max_request_bytes,
        metrics: metrics.clone(),
        throttle: Throttle::new(config.limits.bandwidth.0),
        resealing: Arc::new(tokio::sync::Semaphore::new(1)),
        reseal_queued: Arc::default(),
        tasks: tokio_util::task::TaskTracker::new(),
        stop: tokio_util::sync::CancellationToken::new(),
    });

    let metrics_task = tessera_node::start_metrics(
        config.metrics.addr.as_deref(),
        registry,
        stop.clone().cancelled_owned(),
    )
    .await
    .map_err(|(addr, source)| Error::Bind { addr, source })?
    .map(|(bound, task)| {
        // For whoever started the node, as `listening on` is: a port 0 is learnt here.
        println!("metrics on {bound}");
        task
    });

    let (listener, bound) = tessera_rpc::bind(&config.axon.ip, config.axon.port)
        .await
        .map_err(|(addr, source)| Error::Bind { addr, source })?;
    let (health, health_service, reflection) = tessera_rpc::standard_services();
    health
        .set_service_status(SERVICE_NAME, ServingStatus::Serving)
        .await;
    health.set_service_status("", ServingStatus::Serving).await;
    // `Store` carries a whole chunk; the service holds every other method to the configured
    // limit itself.
    let decode_limit = config
        .auth
        .max_request_bytes
        .max(config.chunk_size.0 as usize + 4096);
    let miner =
        MinerServer::new(MinerService(shared.clone())).max_decoding_message_size(decode_limit);
    let oversize = {
        let metrics = metrics.clone();
        move |mut response| {
            if tessera_rpc::remap_oversize(&mut response) {
                metrics.reject("too_large");
            }
            response
        }
    };
    let server = Server::builder()
        // Chunks are a megabyte: HTTP/2's default 64 KiB windows would cut each into many
        // round trips of window updates.
        .initial_stream_window_size(Some(tessera_rpc::STREAM_WINDOW))
        .initial_connection_window_size(Some(tessera_rpc::CONNECTION_WINDOW))
        .max_frame_size(tessera_rpc::MAX_FRAME)
        // Past the limit requests queue rather than fail: a burst from many validators waits.
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
            config.limits.concurrent_requests.max(1),
        ))
        .layer(tower::util::MapResponseLayer::new(oversize))
        .add_service(health_service)
        .add_service(reflection)
        .add_service(miner)
        .serve_with_incoming_shutdown(
            // Without TCP_NODELAY a small answer waits for the peer's delayed ACK: measured
            // 50 ms per challenge on the devnet, against 5 ms with it.
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            stop.clone().cancelled_owned(),
        );

    println!("listening on {bound}");
    notify::notify("READY=1");
    tracing::info!(hotkey = %me, %bound, partitions = entries.len(), "miner serving");
    let watchdog = notify::watchdog_interval().map(|every| {
        let shared = shared.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                // Healthy: the runtime schedules this task and the served partitions are
                // readable. A wedged runtime or a poisoned partition set stops the pings, and
                // systemd restarts the miner.
                if shared.partitions.read().is_ok() && shared.policy.read().is_ok() {
                    notify::notify("WATCHDOG=1");
                } else {
                    tracing::error!("unhealthy: not pinging the watchdog");
                }
            }
        })
    });

    let published = published_axon(&config, bound);
    let steps = tokio::spawn(step_loop(
        config.clone(),
        follower,
        published,
        shared.clone(),
        stop.clone(),
    ));
    // Graceful shutdown waits for every connection to go; a peer that never closes its own
    // must not hold the node up, so in-flight work gets a bounded grace.
    let grace = async {
        stop.clone().cancelled_owned().await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    let served = tokio::select! {
        served = server => served,
        () = grace => {
            tracing::warn!(grace = ?SHUTDOWN_GRACE, "connections still open after the grace period; closing");
            Ok(())
        }
    };
    // In-flight requests have finished (or had their grace) once here.
    health
        .set_service_status("", ServingStatus::NotServing)
        .await;
    for task in [Some(steps), watchdog, metrics_task].into_iter().flatten() {
        task.abort();
        let _ = task.await;
    }
    // Reseals under way stop between chunks; every task is done before the partitions close.
    shared.stop.cancel();
    shared.tasks.close();
    shared.tasks.wait().await;
    save_nonces(&shared.gate, &config.node_dir());
    let partitions = shared
        .partitions
        .write()
        .map(|mut p| std::mem::take(&mut *p))
        .unwrap_or_default();
    for served in partitions.values() {
        // Clones share one pool: closing it flushes the WAL once every handle is done.
        served.db.clone().close().await;
    }
    served.map_err(|e| Error::Serve(e.to_string()))?;
    tracing::info!("miner stopped");
    Ok(())
}

fn count_partitions(metrics: &Metrics, entries: &[PartitionEntry]) {
    let (grace, planned): (Vec<_>, Vec<_>) =
        entries.iter().partition(|e| e.grace_until_ms.is_some());
    metrics.partitions.set(planned.len() as i64);
    // Kept from partition.json, never by walking the databases.
    metrics
        .sealed_bytes
        .set(planned.iter().map(|e| e.size as i64).sum());
    metrics.in_grace.set(grace.len() as i64);
    let first = grace.iter().filter_map(|e| e.grace_until_ms).min();
    metrics
        .grace_expires
        .set(first.map_or(0, |ms| (ms / 1000) as i64));
}

/// Takes back the nonces a clean stop saved; without them (first start, after a crash, or a
/// malformed file, which is named in a warning) only requests signed after this start are
/// admitted, so nothing signed before can be replayed.
fn restore_nonces(gate: &Gate, dir: &Path) {
    let path = dir.join(NONCES_FILE);
    let saved = match std::fs::read(&path) {
        Ok(bytes) => match parse_nonces(&bytes) {
            Ok(entries) => Some(entries),
            Err(reason) => {
                tracing::warn!(path = %path.display(), %reason, "replay memory malformed; admitting only requests signed from now on");
                None
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "replay memory unreadable; admitting only requests signed from now on");
            None
        }
    };
    let mut replay = gate.replay();
    match saved {
        Some(entries) => {
            tracing::info!(nonces = entries.len(), "replay memory restored");
            replay.import(entries);
        }
        None => replay.set_not_before(tessera_rpc::now_ms()),
    }
    // Used once: a crash after this start must not restore a memory that misses its nonces.
    let _ = std::fs::remove_file(&path);
}

/// The entries of a saved `nonces.json`: (caller, 16-byte nonce in hex, time).
fn parse_nonces(bytes: &[u8]) -> Result<Vec<(AccountId, [u8; 16], u64)>, String> {
    let saved: Vec<(AccountId, String, u64)> =
        serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    saved
        .into_iter()
        .map(|(caller, nonce, at)| {
            let mut n = [0u8; 16];
            hex::decode_to_slice(&nonce, &mut n).map_err(|e| format!("nonce {nonce:?}: {e}"))?;
            Ok((caller, n, at))
        })
        .collect()
}

/// Saves the replay memory for the next start, beside and then over the old file.
fn save_nonces(gate: &Gate, dir: &Path) {
    let entries: Vec<(AccountId, String, u64)> = gate
        .replay()
        .export()
        .into_iter()
        .map(|(caller, nonce, at)| (caller, hex::encode(nonce), at))
        .collect();
    let path = dir.join(NONCES_FILE);
    let tmp: PathBuf = dir.join(format!(".{NONCES_FILE}.new"));
    let result = serde_json::to_vec(&entries)
        .map_err(std::io::Error::other)
        .and_then(|bytes| std::fs::write(&tmp, bytes))
        .and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(e) = result {
        tracing::warn!(error = %e, path = %path.display(), "replay memory not saved");
    }
}

/// Allocates or resumes through the allocator library; `None` when interrupted by shutdown.
async fn allocate(
    config: &Config,
    restart: bool,
    stop: impl Future<Output = ()>,
) -> Result<Option<Vec<PartitionEntry>>, Error> {
    match tessera_allocator::run(
        &config.allocator(restart),
        &mut tessera_allocator::Logged,
        stop,
    )
    .await
    {
        Ok(Outcome::Allocated { partitions, .. }) => Ok(Some(partitions)),
        Ok(_) => Err(Error::Serve("the allocator did not allocate".into())),
        Err(tessera_allocator::Error::Interrupted { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

async fn open_partitions(
    me: &AccountId,
    entries: &[PartitionEntry],
) -> Result<HashMap<AccountId, Served>, Error> {
    let mut out = HashMap::new();
    for e in entries {
        let profile = SealProfile::from_str(&e.seal)
            .map_err(|err| Error::Config(format!("{}: {err}", e.path.display())))?;
        let meta = Meta {
            miner: *me,
            validator: e.validator,
            chunk_size: e.chunk_size,
            seal_profile: profile.name().to_owned(),
            seal_passes: profile.params().passes,
        };
        let db = PartitionDb::open(&e.path, &meta).await?;
        // The allocator sets it too; a partition from before commitments learns it here.
        db.set_size(e.n_chunks).await?;
        #[cfg(debug_assertions)]
        crate::junk::apply(&db, e.n_chunks, e.chunk_size).await?;
        out.insert(
            e.validator,
            Served {
                db,
                n_chunks: e.n_chunks,
                chunk_size: e.chunk_size,
                profile: meta.seal_profile,
                passes: meta.seal_passes,
            },
        );
    }
    Ok(out)
}

/// Updates the free-space gauge and warns once each time free space falls under the minimum.
fn check_disk(config: &Config, metrics: &Metrics, was_low: &mut bool) {
    let dir = config.node_dir();
    let Ok(free) = fs4::available_space(&dir) else {
        return;
    };
    metrics.disk_free.set(free.min(i64::MAX as u64) as i64);
    let low = free < config.disk.min_free.0;
    metrics.disk_low.set(i64::from(low));
    if low && !*was_low {
        tracing::warn!(
            free,
            min_free = config.disk.min_free.0,
            dir = %dir.display(),
            "disk space low"
        );
    }
    *was_low = low;
}

/// The address published on chain: `--axon.external_ip` and `--axon.external_port`, each
/// defaulting to the bound one; `None` when the bound IP is unspecified and no external IP is
/// set, since nobody can dial 0.0.0.0.
fn published_axon(config: &Config, bound: SocketAddr) -> Option<SocketAddr> {
    let ip = match config.axon.external_ip.as_deref() {
        Some(text) => match text.parse::<IpAddr>() {
            Ok(ip) => ip,
            Err(_) => {
                tracing::error!(
                    ip = text,
                    "axon.external_ip is not an IP address; publishing no axon"
                );
                return None;
            }
        },
        None if bound.ip().is_unspecified() => {
            tracing::warn!(%bound, "bound to an unspecified IP and no axon.external_ip set; publishing no axon");
            return None;
        }
        None => bound.ip(),
    };
    Some(SocketAddr::new(
        ip,
        config.axon.external_port.unwrap_or(bound.port()),
    ))
}

/// Publishes `axon` on chain unless the metagraph shows it already; a failure is logged and
/// tried again at the next step.
async fn publish_axon(
    chain: &AnyChain,
    keypair: &tessera_core::Keypair,
    axon: SocketAddr,
    current: Option<SocketAddr>,
) {
    if current == Some(axon) {
        return;
    }
    match chain.serve_axon(keypair, axon).await {
        Ok(AxonServed::Published) => tracing::info!(%axon, "axon published on chain"),
        Ok(AxonServed::Unchanged) => {}
        Err(e) => {
            tracing::warn!(error = %e, %axon, "publishing the axon failed; trying again next step")
        }
    }
}

/// Every step re-reads the metagraph for the gate and checks free space; every
/// `steps_per_reallocate` steps the partitions follow the metagraph. Service goes on meanwhile:
/// the allocator writes through its own connections, and the served set is swapped only once the
/// new one is complete.
async fn step_loop(
    config: Config,
    follower: Follower,
    published: Option<SocketAddr>,
    shared: Arc<MinerState>,
    stop: tessera_node::CancellationToken,
) {
    let me = shared.keypair.account();
    let chain = follower.chain().clone();
    let my_axon = |f: &Follower| f.metagraph().neuron(&me).and_then(|n| n.axon);
    if let Some(axon) = published {
        publish_axon(&chain, &shared.keypair, axon, my_axon(&follower)).await;
    }
    let mut tick = tokio::time::interval(Duration::from_secs(config.step_secs.max(1)));
    let mut step = 0u64;
    let mut disk_low = false;
    check_disk(&config, &shared.metrics, &mut disk_low);
    tick.tick().await;
    loop {
        tick.tick().await;
        step += 1;
        check_disk(&config, &shared.metrics, &mut disk_low);
        // The follower refreshes the metagraph in the background; the gate takes its latest.
        let latest = follower.metagraph();
        if let Ok(mut p) = shared.policy.write() {
            p.metagraph = (*latest).clone();
        }
        if let Some(axon) = published {
            publish_axon(&chain, &shared.keypair, axon, my_axon(&follower)).await;
        }
        if config.steps_per_reallocate == 0 || !step.is_multiple_of(config.steps_per_reallocate) {
            continue;
        }
        let result = match allocate(&config, false, stop.clone().cancelled_owned()).await {
            Ok(Some(entries)) => open_partitions(&me, &entries).await.map(|p| (p, entries)),
            Ok(None) => return,
            Err(e) => Err(e),
        };
        match result {
            Ok((partitions, entries)) => {
                tracing::info!(partitions = partitions.len(), step, "reallocated");
                count_partitions(&shared.metrics, &entries);
                shared.metrics.reallocations.inc();
                if let Ok(mut p) = shared.partitions.write() {
                    *p = Arc::new(partitions);
                }
            }
            Err(e) => tracing::warn!(error = %e, "reallocation failed; serving the old partitions"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_nonces;

    #[test]
    fn malformed_nonces_are_errors_never_panics() {
        let caller = tessera_core::Keypair::from_uri("//Alice")
            .unwrap()
            .account();
        let good = format!(r#"[["{caller}","000102030405060708090a0b0c0d0e0f",5]]"#);
        assert_eq!(parse_nonces(good.as_bytes()).unwrap().len(), 1);
        for bad in [
            format!(r#"[["{caller}","ééééééééééééééééé",5]]"#),
            format!(r#"[["{caller}","00",5]]"#),
            format!(r#"[["{caller}","zz0102030405060708090a0b0c0d0e0f",5]]"#),
            "[".to_owned(),
            "\u{0}\u{ff}".to_owned(),
            r#"[["not an address","000102030405060708090a0b0c0d0e0f",5]]"#.to_owned(),
        ] {
            assert!(parse_nonces(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
