//! The validator's life: open its state, serve health, challenge every miner each round, score
//! them, set weights each epoch, and stop in order.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::TryRngCore;
use rand::seq::SliceRandom;

use tessera_chain::{AnyChain, ChainStatus, Follower, Metagraph};
use tessera_core::AccountId;
use tessera_node::notify;
use tessera_partition::SealProfile;
use tessera_proto::tonic::transport::Server;
use tessera_proto::tonic::transport::server::TcpIncoming;
use tessera_rpc::{Gate, ServingStatus, now_ms};
use tessera_storage::{MinerStats, StateDb};

use crate::metrics::Metrics;
use crate::round::{self, Rules, Target};
use crate::{Config, Error};
use tessera_core::score::{self, Reputation};
use tessera_gateway::{Gateway, GatewayService, GatewayState, Ledger, Miners, Slots};

/// The validator's state file inside its node folder.
pub const STATE_FILE: &str = "validator.sqlite";

/// How far a client's request timestamp may be from the validator's clock.
const GATEWAY_WINDOW_MS: u64 = 60_000;

/// Requests one client may make within that window, which bounds the replay memory it fills.
const GATEWAY_NONCES_PER_CLIENT: usize = 100_000;

/// Nonces the gateway remembers over all clients: anyone may call it, so a flood of fresh
/// hotkeys is refused past this (a few tens of megabytes) rather than growing memory; they
/// leave the memory a window after they came.
const GATEWAY_MAX_NONCES: usize = 200_000;

/// Of those, what one network source (an IPv4 address, an IPv6 /64) may hold: a flood from one
/// place fills its quarter and is refused, while clients elsewhere are still served.
const GATEWAY_MAX_NONCES_PER_SOURCE: usize = 50_000;

/// The node folder, `<db_path>/<wallet.name>/<wallet.hotkey>`, as the allocator lays it out.
pub fn node_dir(config: &Config) -> PathBuf {
    tessera_node::node_dir(
        &tessera_core::expand_tilde(&config.db_path),
        &config.wallet.name,
        &config.wallet.hotkey,
    )
}

/// Runs the validator until `shutdown` resolves. Prints `listening on <addr>` on stdout once its
/// endpoint serves. A round in progress when the signal comes is finished and recorded first.
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
        Arc::new(move |s: ChainStatus| metrics.chain.set(s.connected, s.block))
    };
    // One refresh per round's worth of time; rounds and the gateway read what it last fetched.
    let Some(follower) = Follower::start(
        chain.clone(),
        Duration::from_secs(config.round_secs.max(1)),
        observer,
        stop.clone().cancelled_owned(),
    )
    .await?
    else {
        return Ok(());
    };
    // An unregistered hotkey is told so before anything is written.
    follower.metagraph().require(&me, &chain.describe())?;

    let dir = node_dir(&config);
    std::fs::create_dir_all(&dir).map_err(|source| {
        Error::Storage(tessera_storage::Error::Io {
            path: dir.clone(),
            source,
        })
    })?;
    let state = StateDb::open(&dir.join(STATE_FILE), &me).await?;
    let profile: SealProfile = config.seal.parse()?;
    let keypair = Arc::new(keypair);
    let slots = Arc::new(Slots::default());
    let rules = Arc::new(Rules {
        keypair: keypair.clone(),
        chunk_size: config.chunk_size.0,
        profile,
        items: config.challenge.items,
        slack: Duration::from_millis(config.challenge.slack_ms),
        max_rtt: Duration::from_millis(config.challenge.max_rtt_ms),
        audit_initial: config.audit.initial,
        cpu_share: config.audit.cpu_share,
        initial_cpu_share: config.audit.initial_cpu_share,
        pool: config.audit.pool,
        bar: Duration::from_secs(config.audit.bar_secs),
        slots: slots.clone(),
    });
    // Slots released before a restart that their miners may still be resealing stay spared.
    let grace = tessera_gateway::RESEAL_GRACE.as_millis() as u64;
    for (miner, slot, at) in state.resealing(now_ms().saturating_sub(grace)).await? {
        slots.mark_at(&miner, &[slot], at);
    }
    // Beside the state file: the folder `allocate --validator` fills too.
    let pools = Arc::new(crate::audit::Pools::new(rules.clone(), dir.clone()));
    let auditor = tokio::spawn(crate::audit::run(
        rules.clone(),
        state.clone(),
        pools.clone(),
        follower.subscribe(),
        config.min_stake,
        metrics.clone(),
        stop.clone(),
    ));

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

    let params = tessera_object::Params::new(config.data.k, config.data.n, config.chunk_size.0)
        .map_err(|e| Error::Config(format!("data.k, data.n and chunk_size: {e}")))?;
    let ledger = Arc::new(Ledger::default());
    let gateway = Gateway::new(GatewayState {
        keypair: keypair.clone(),
        state: state.clone(),
        metagraph: follower.subscribe(),
        min_stake: config.min_stake,
        data: config.data.clone(),
        params,
        chunk_size: config.chunk_size.0,
        gate: Gate::new(me, GATEWAY_WINDOW_MS, GATEWAY_NONCES_PER_CLIENT)
            .with_max_nonces(GATEWAY_MAX_NONCES)
            .with_max_per_source(GATEWAY_MAX_NONCES_PER_SOURCE),
        miners: Miners::new(keypair.clone(), config.chunk_size.0, slots.clone()),
        ledger: ledger.clone(),
        metrics: metrics.gateway.clone(),
        tasks: tokio_util::task::TaskTracker::new(),
        stop: tokio_util::sync::CancellationToken::new(),
    });
    let repairer = gateway.clone();
    let http_task = match config.data.http.as_deref() {
        Some(addr) => {
            let (listener, bound) =
                tessera_gateway::http::bind(addr)
                    .await
                    .map_err(|source| Error::Bind {
                        addr: addr.to_owned(),
                        source,
                    })?;
            println!("http on {bound}");
            tracing::info!(%bound, "http gateway and web page serving");
            let shutdown = stop.clone().cancelled_owned();
            let served = gateway.clone();
            let scoreboard = crate::status::routes(state.clone());
            Some(tokio::spawn(async move {
                if let Err(e) =
                    tessera_gateway::http::serve(listener, served, scoreboard, shutdown).await
                {
                    tracing::error!(error = %e, "http gateway failed");
                }
            }))
        }
        None => None,
    };
    let s3_task = match config.s3.addr.as_deref() {
        Some(addr) => {
            let tls =
                tessera_gateway::s3::tls(&config.s3).map_err(|e| Error::Config(e.to_string()))?;
            let scheme = if tls.is_some() { "https" } else { "http" };
            let (listener, bound) =
                tessera_gateway::s3::bind(addr)
                    .await
                    .map_err(|source| Error::Bind {
                        addr: addr.to_owned(),
                        source,
                    })?;
            println!("s3 on {bound}");
            tracing::info!(%bound, scheme, domain = %config.s3.domain, "s3 face serving");
            let shutdown = stop.clone().cancelled_owned();
            let served = gateway.clone();
            let s3 = config.s3.clone();
            Some(tokio::spawn(async move {
                if let Err(e) =
                    tessera_gateway::s3::serve(listener, served, &s3, tls, shutdown).await
                {
                    tracing::error!(error = %e, "s3 face failed");
                }
            }))
        }
        None => None,
    };
    let started_ms = now_ms();

    let (listener, bound) = tessera_rpc::bind(&config.axon.ip, config.axon.port)
        .await
        .map_err(|(addr, source)| Error::Bind { addr, source })?;
    let (health, health_service, reflection) = tessera_rpc::standard_services();
    health.set_service_status("", ServingStatus::Serving).await;
    let server = tokio::spawn(
        Server::builder()
            .initial_stream_window_size(Some(tessera_rpc::STREAM_WINDOW))
            .initial_connection_window_size(Some(tessera_rpc::CONNECTION_WINDOW))
            .max_frame_size(tessera_rpc::MAX_FRAME)
            .add_service(health_service)
            .add_service(reflection)
            .add_service(GatewayService::server(gateway))
            .serve_with_incoming_shutdown(
                TcpIncoming::from(listener).with_nodelay(Some(true)),
                stop.clone().cancelled_owned(),
            ),
    );
    println!("listening on {bound}");
    notify::notify("READY=1");
    let watchdog = notify::watchdog_interval().map(|every| {
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                notify::notify("WATCHDOG=1");
            }
        })
    });

    let mut round = state.last_round().await? + 1;
    let mut epoch = state.last_weights().await?.map_or(0, |(e, _, _)| e) + 1;
    tracing::info!(hotkey = %me, %bound, round, epoch, "validator running");
    let mut rounds = Rounds {
        rules: rules.clone(),
        state: state.clone(),
        metrics: metrics.clone(),
        ledger: ledger.clone(),
        slack_ms: config.challenge.slack_ms,
        hedge_ms: config.data.hedge_ms,
        min_stake: config.min_stake,
        pools: pools.clone(),
        serving: HashMap::new(),
        round: Duration::from_secs(config.round_secs.max(1)),
        stop: stop.clone(),
    };
    let mut tick = tokio::time::interval(Duration::from_secs(config.round_secs.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_epoch = Instant::now();
    // Backoff between retries of a weights submission that failed on the way to the chain.
    let mut retry = Duration::ZERO;
    let mut weights_task: Option<tokio::task::JoinHandle<Result<crate::weights::Done, Error>>> =
        None;
    let weigher = crate::weights::Weigher {
        chain: chain.clone(),
        rules: rules.clone(),
        state: state.clone(),
        metrics: metrics.clone(),
        min_stake: config.min_stake,
        landed: Arc::default(),
    };
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        {
            let metagraph = follower.metagraph();
            {
                let started = Instant::now();
                if let Err(e) = run_round(&mut rounds, &metagraph, round).await {
                    tracing::error!(error = %e, round, "round failed");
                }
                metrics
                    .round_duration
                    .observe(started.elapsed().as_secs_f64());
                metrics.rounds.inc();
                match tessera_gateway::release_pending(&repairer, &metagraph).await {
                    // Slots went back to filler: the gateway reads its slot books afresh.
                    Ok(n) if n > 0 => repairer.miners.reread_slots().await,
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "sending pending releases failed"),
                }
                // Before the reclaim, so that the objects expired S3 entries held go this round.
                match tessera_gateway::s3::sweep(&repairer, now_ms()).await {
                    Ok(s) if s.expired_objects + s.aborted_uploads > 0 => tracing::info!(
                        expired_objects = s.expired_objects,
                        aborted_uploads = s.aborted_uploads,
                        "s3 sweep"
                    ),
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "s3 sweep failed"),
                }
                match tessera_gateway::reclaim(&repairer, &metagraph, started_ms).await {
                    Ok(n) if n > 0 => repairer.miners.reread_slots().await,
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "reclaiming expired objects failed"),
                }
                match tessera_gateway::sweep(&repairer).await {
                    Ok(s) if s.weak > 0 => tracing::info!(
                        weak_segments = s.weak,
                        repaired_pieces = s.repaired_pieces,
                        failed = s.failed_segments,
                        "repair sweep"
                    ),
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "repair sweep failed"),
                }
                round += 1;
                // The weights of the last epoch may still be on their way to a block: rounds
                // never wait for the chain.
                if let Some(task) = weights_task.take_if(|t| t.is_finished()) {
                    match task.await {
                        Ok(Ok(crate::weights::Done::Epoch)) => {
                            epoch += 1;
                            retry = Duration::ZERO;
                        }
                        Ok(Ok(crate::weights::Done::Nothing)) => {}
                        Ok(Err(e)) => {
                            let transient = matches!(&e, Error::Chain(c) if c.is_transient());
                            if transient {
                                // The chain was unreachable or the transaction did not land:
                                // try again after a backoff rather than a whole epoch.
                                let epoch_len = Duration::from_secs(config.epoch_secs.max(1));
                                retry = (retry * 2).clamp(tick.period(), epoch_len);
                                last_epoch = Instant::now()
                                    .checked_sub(epoch_len.saturating_sub(retry))
                                    .unwrap_or(last_epoch);
                                tracing::warn!(error = %e, epoch, retry_in = ?retry, "setting weights failed; retrying");
                            } else {
                                tracing::error!(error = %e, epoch, "setting weights failed");
                            }
                        }
                        Err(e) => tracing::error!(error = %e, epoch, "the weights task failed"),
                    }
                }
                // Every round the task reveals what is due; once an epoch, within the chain's
                // rate limit, it sets (or commits) new weights.
                if weights_task.is_none() {
                    let due = last_epoch.elapsed() >= Duration::from_secs(config.epoch_secs.max(1))
                        && weigher.allowed(&metagraph);
                    if due {
                        last_epoch = Instant::now();
                    }
                    weights_task = Some(tokio::spawn(weigher.clone().run(
                        metagraph.clone(),
                        epoch,
                        due,
                    )));
                }
            }
        }
    }
    if let Some(task) = weights_task {
        // A submission in flight is given a moment to land; the next start sets weights anew.
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    }
    follower.stop().await;

    health
        .set_service_status("", ServingStatus::NotServing)
        .await;
    // Both servers stopped accepting at the signal; calls in flight finish (within a grace)
    // before the state they write to is closed.
    let served = tokio::time::timeout(Duration::from_secs(5), server).await;
    for task in [http_task, s3_task].into_iter().flatten() {
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    }
    for task in [watchdog, metrics_task].into_iter().flatten() {
        task.abort();
        let _ = task.await;
    }
    // Tasks calls started (streams of gets and puts) are cancelled and waited for.
    repairer.stop_tasks().await;
    // The auditor stops at the signal; a seal in progress finishes first.
    let _ = auditor.await;
    pools.close().await;
    state.close().await;
    match served {
        Ok(Ok(Err(e))) => return Err(Error::Serve(e.to_string())),
        Ok(Err(e)) => return Err(Error::Serve(e.to_string())),
        _ => {}
    }
    tracing::info!("validator stopped");
    Ok(())
}

/// The miners of the metagraph: neurons other than this validator that do not count as
/// validators (see `Neuron::is_validator`) and serve an axon.
pub(crate) fn targets(metagraph: &Metagraph, me: &AccountId, min_stake: f64) -> Vec<Target> {
    metagraph
        .neurons
        .iter()
        .filter(|n| n.hotkey != *me && !n.is_validator(min_stake))
        .filter_map(|n| {
            n.axon.map(|axon| Target {
                hotkey: n.hotkey,
                uid: n.uid,
                axon,
            })
        })
        .collect()
}

/// What every round uses and keeps.
struct Rounds {
    rules: Arc<Rules>,
    state: StateDb,
    metrics: Metrics,
    ledger: Arc<Ledger>,
    slack_ms: u64,
    hedge_ms: u64,
    min_stake: f64,
    pools: Arc<crate::audit::Pools>,
    /// Bytes each miner served the gateway correctly and the seconds they took, decayed by
    /// `score::SERVING_DECAY` per round.
    serving: HashMap<AccountId, (f64, f64)>,
    /// The time between rounds, over which each round's challenges are spread.
    round: Duration,
    /// Set at shutdown: challenges not yet started are skipped, those under way finish.
    stop: tessera_node::CancellationToken,
}

/// The share of a round over which its challenges start, one after another: the rest is left
/// for the last ones to finish before the next round.
const SPREAD: f64 = 0.75;

/// Challenges every miner at once, then records each outcome with its new statistics in one
/// transaction per miner.
async fn run_round(r: &mut Rounds, metagraph: &Metagraph, round: u64) -> Result<(), Error> {
    let (rules, state, metrics, ledger, slack_ms) =
        (&r.rules, &r.state, &r.metrics, &r.ledger, r.slack_ms);
    let pools = &r.pools;
    let now = now_ms();
    // Serving since the last round, folded into what is remembered of it.
    for (bytes, secs) in r.serving.values_mut() {
        *bytes *= score::SERVING_DECAY;
        *secs *= score::SERVING_DECAY;
    }
    for (miner, (bytes, took)) in ledger.take_served() {
        let e = r.serving.entry(miner).or_default();
        e.0 += bytes as f64;
        e.1 += took.as_secs_f64();
    }
    let busiest = r.serving.values().map(|(b, _)| *b).fold(0.0, f64::max);
    let serving = &r.serving;
    let mut tasks = tokio::task::JoinSet::new();
    // Challenges start spread over the round, in a new random order each round: a validator that
    // sent them all at once would measure its own burst (and its miners') as their latency.
    let mut all = targets(metagraph, &rules.keypair.account(), r.min_stake);
    all.shuffle(&mut rand::rngs::OsRng.unwrap_err());
    let step = r.round.mul_f64(SPREAD) / u32::try_from(all.len().max(1)).unwrap_or(u32::MAX);
    for (i, target) in all.into_iter().enumerate() {
        let delay = step * u32::try_from(i).unwrap_or(u32::MAX);
        let axon = target.axon.to_string();
        state
            .upsert_miner(&target.hotkey, target.uid, Some(&axon), now)
            .await?;
        if state.is_blacklisted(&target.hotkey).await? {
            continue;
        }
        // A miner caught lying is not challenged while barred, and scores nothing.
        if state.barred_until(&target.hotkey, now).await?.is_some() {
            let prev = state.stats(&target.hotkey).await?;
            let stats = MinerStats {
                alpha: prev
                    .as_ref()
                    .map_or(Reputation::default().alpha, |s| s.alpha),
                beta: prev.as_ref().map_or(Reputation::default().beta, |s| s.beta),
                claimed_bytes: 0,
                proven_bytes: 0,
                score: 0.0,
                updated_ms: now,
            };
            state
                .record_round(&target.hotkey, round, &[], &stats)
                .await?;
            metrics
                .score
                .get_or_create(&metrics.miner(&target.hotkey.to_string()))
                .set(0.0);
            continue;
        }
        let rules = rules.clone();
        let state = state.clone();
        let pools = pools.clone();
        let stop = r.stop.clone();
        tasks.spawn(async move {
            tokio::select! {
                () = stop.cancelled() => return None,
                () = tokio::time::sleep(delay) => {}
            }
            // Slots holding client data are checked against the roots recorded when they were
            // stored, never against a seal: read when the challenge starts, not when the round
            // did, so that pieces placed meanwhile are known.
            let data: HashMap<u64, Option<tessera_core::merkle::Hash>> =
                match state.data_slots(&target.hotkey).await {
                    Ok(d) => d.into_iter().collect(),
                    Err(e) => return Some((target, Err(e.into()), HashMap::new())),
                };
            let outcome = round::challenge(&rules, &target, &pools, &data, &state).await;
            Some((target, outcome, data))
        });
    }
    while let Some(joined) = tasks.join_next().await {
        let (target, outcome, data) = match joined {
            Ok(Some(done)) => done,
            // Not started before the shutdown.
            Ok(None) => continue,
            Err(_) => {
                tracing::error!("a challenge task panicked");
                continue;
            }
        };
        let mut outcome = outcome?;
        // A data slot that failed in an answer holds a piece repair must replace. A round that
        // failed whole says nothing about any slot (its items all name slot 0).
        for item in outcome
            .items
            .iter()
            .filter(|i| outcome.answered && !i.success)
        {
            if matches!(data.get(&item.chunk_id), Some(Some(_)))
                && state
                    .mark_failed(&target.hotkey, item.chunk_id, now)
                    .await?
            {
                tracing::warn!(miner = %target.hotkey, slot = item.chunk_id, "a data slot failed its challenge; its piece will be repaired");
            }
        }
        // Wrong bytes the gateway was served since the last round count like failed items.
        outcome.items.extend(ledger.take_penalties(&target.hotkey));
        if outcome.items.is_empty() {
            continue;
        }
        let miner = target.hotkey.to_string();
        let passed = outcome.items.iter().filter(|i| i.success).count() as u64;
        metrics.item(&miner, true, passed);
        metrics.item(&miner, false, outcome.items.len() as u64 - passed);
        if let Some(secs) = outcome.verify_secs {
            metrics.verify.observe(secs);
        }
        if outcome.audits > 0 {
            metrics.audits.inc_by(u64::from(outcome.audits));
        }
        if outcome.lied {
            metrics.lies.inc();
        }
        let mut stats = next_stats(state, &target.hotkey, &outcome, slack_ms).await?;
        // Client data earns more where it is served well and where it is rare.
        let (served, secs) = serving.get(&target.hotkey).copied().unwrap_or_default();
        let pieces = served / r_chunk(rules);
        let serve = score::serving_factor(
            if busiest > 0.0 { served / busiest } else { 0.0 },
            if pieces > 0.0 {
                secs * 1000.0 / pieces
            } else {
                0.0
            },
            r.hedge_ms,
        );
        let rare = score::rarity_factor(ledger.rare_bytes(&target.hotkey), stats.claimed_bytes);
        stats.score *= serve * rare;
        if outcome.lied {
            stats.score = 0.0;
        }
        state
            .record_round(&target.hotkey, round, &outcome.items, &stats)
            .await?;
        metrics
            .score
            .get_or_create(&metrics.miner(&miner))
            .set(stats.score);
        tracing::debug!(miner = %target.hotkey, round, score = stats.score, "recorded");
    }
    Ok(())
}

fn r_chunk(rules: &Rules) -> f64 {
    rules.chunk_size.max(1) as f64
}

/// The miner's statistics after this round's items: reputation folded item by item, capacity and
/// latency judged over the last `score::WINDOW` items including these.
async fn next_stats(
    state: &StateDb,
    miner: &AccountId,
    outcome: &round::Outcome,
    slack_ms: u64,
) -> Result<MinerStats, Error> {
    let prev = state.stats(miner).await?;
    let reputation = outcome.items.iter().fold(
        prev.map_or_else(Reputation::default, |s| Reputation {
            alpha: s.alpha,
            beta: s.beta,
        }),
        |r, item| r.update(item.success),
    );
    let recent: Vec<_> = outcome
        .items
        .iter()
        .rev()
        .take(score::WINDOW as usize)
        .collect();
    let k = recent.len() as u32;
    let earlier = state.window(miner, score::WINDOW - k).await?;
    let items = earlier.items + u64::from(k);
    let successes = earlier.successes + recent.iter().filter(|r| r.success).count() as u64;
    let latency_sum = earlier.mean_latency_ms * earlier.items as f64
        + recent.iter().map(|r| r.latency_ms as f64).sum::<f64>();
    let mean_latency = if items > 0 {
        latency_sum / items as f64
    } else {
        0.0
    };
    let proven = score::proven_bytes(outcome.claimed_bytes, items, successes);
    let factor = score::latency_factor(mean_latency, slack_ms);
    Ok(MinerStats {
        alpha: reputation.alpha,
        beta: reputation.beta,
        claimed_bytes: outcome.claimed_bytes,
        proven_bytes: proven,
        score: score::score(proven, reputation, factor),
        updated_ms: now_ms(),
    })
}
