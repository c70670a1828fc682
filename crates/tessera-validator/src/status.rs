//! A validator's view of its miners, read from its state database: for the devnet scoreboard
//! and for operators, without asking the running process.

use std::collections::HashMap;
use std::path::Path;

use tessera_core::AccountId;
use tessera_storage::StateDb;

use crate::Error;
use tessera_core::score::{self, Reputation};

/// One miner's line on the scoreboard.
#[derive(Debug, Clone, PartialEq)]
pub struct MinerRow {
    pub hotkey: AccountId,
    pub uid: u16,
    pub claimed_bytes: u64,
    pub proven_bytes: u64,
    /// Success rate over the last `score::WINDOW` items.
    pub success_rate: f64,
    pub mean_latency_ms: f64,
    pub reputation: f64,
    pub score: f64,
    /// The weight last set for this miner, 0 if none.
    pub weight: f64,
    pub challenges: u64,
    /// Bytes of client data (pieces) the miner holds for this validator.
    pub data_bytes: u64,
    /// Audited slots passed by the commitment held (challenges v2), if one is held.
    pub audited: Option<u32>,
    /// Until when the miner is barred for a lie, if it is now.
    pub barred_until_ms: Option<u64>,
}

/// Reads the rows of the validator `me` whose state file is at `path`, by uid.
pub async fn read(path: &Path, me: &AccountId) -> Result<Vec<MinerRow>, Error> {
    // Before the validator's first start there is nothing to show, and nothing to create.
    if !path.exists() {
        return Ok(Vec::new());
    }
    let state = StateDb::open(path, me).await?;
    let rows = rows(&state).await;
    state.close().await;
    rows
}

pub(crate) async fn rows(state: &StateDb) -> Result<Vec<MinerRow>, Error> {
    let data: HashMap<AccountId, u64> = state.data_bytes().await?.into_iter().collect();
    let stats: HashMap<AccountId, _> = state.all_stats().await?.into_iter().collect();
    let weights: HashMap<AccountId, f64> = state
        .last_weights()
        .await?
        .map(|(_, _, rows)| rows.into_iter().map(|(_, h, w)| (h, w)).collect())
        .unwrap_or_default();
    let mut out = Vec::new();
    for m in state.miners().await? {
        let window = state.window(&m.hotkey, score::WINDOW).await?;
        let s = stats.get(&m.hotkey);
        out.push(MinerRow {
            hotkey: m.hotkey,
            uid: m.uid,
            claimed_bytes: s.map_or(0, |s| s.claimed_bytes),
            proven_bytes: s.map_or(0, |s| s.proven_bytes),
            success_rate: if window.items > 0 {
                window.successes as f64 / window.items as f64
            } else {
                0.0
            },
            mean_latency_ms: window.mean_latency_ms,
            reputation: s.map_or(0.0, |s| {
                Reputation {
                    alpha: s.alpha,
                    beta: s.beta,
                }
                .value()
            }),
            score: s.map_or(0.0, |s| s.score),
            weight: weights.get(&m.hotkey).copied().unwrap_or(0.0),
            challenges: state.challenge_count(&m.hotkey).await?,
            data_bytes: data.get(&m.hotkey).copied().unwrap_or(0),
            audited: state.commitment(&m.hotkey).await?.map(|c| c.audited),
            barred_until_ms: state.barred_until(&m.hotkey, tessera_rpc::now_ms()).await?,
        });
    }
    out.sort_by_key(|r| r.uid);
    Ok(out)
}

/// The `status` subcommand's text: one line per miner, as the devnet scoreboard shows it.
pub async fn report(config: &crate::Config) -> Result<String, Error> {
    use std::fmt::Write;
    let keypair = config.wallet.keypair()?;
    let path = crate::node_dir(config).join(crate::STATE_FILE);
    let rows = read(&path, &keypair.account()).await?;
    let mut out = String::new();
    let _ = writeln!(out, "validator {} ({})", keypair.account(), path.display());
    let _ = writeln!(
        out,
        "  {:>4} {:<50} {:>10} {:>10} {:>10} {:>8} {:>9} {:>6} {:>7} {:>10} {:>8}",
        "uid",
        "miner",
        "claimed",
        "proven",
        "data",
        "success",
        "latency",
        "rep",
        "weight",
        "challenges",
        "audited"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "  {:>4} {:<50} {:>10} {:>10} {:>10} {:>7.0}% {:>7.1}ms {:>6.3} {:>7.3} {:>10} {:>8}",
            r.uid,
            r.hotkey.to_string(),
            tessera_node::ByteSize(r.claimed_bytes).to_string(),
            tessera_node::ByteSize(r.proven_bytes).to_string(),
            tessera_node::ByteSize(r.data_bytes).to_string(),
            100.0 * r.success_rate,
            r.mean_latency_ms,
            r.reputation,
            r.weight,
            r.challenges,
            // Slots of its commitment audited, or why there are none to show.
            match (r.barred_until_ms, r.audited) {
                (Some(_), _) => "barred".to_owned(),
                (None, Some(n)) => n.to_string(),
                (None, None) => "-".to_owned(),
            }
        );
    }
    Ok(out)
}

/// The scoreboard as JSON at `/v1/miners`, served beside the HTTP gateway.
pub(crate) fn routes(state: StateDb) -> axum::Router {
    axum::Router::new()
        .route("/v1/miners", axum::routing::get(miners_json))
        .with_state(state)
}

async fn miners_json(
    axum::extract::State(state): axum::extract::State<StateDb>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match rows(&state).await {
        Ok(rows) => {
            let rows: Vec<serde_json::Value> = rows
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "uid": r.uid,
                        "hotkey": r.hotkey.to_ss58(),
                        "claimed_bytes": r.claimed_bytes,
                        "proven_bytes": r.proven_bytes,
                        "data_bytes": r.data_bytes,
                        "success_rate": r.success_rate,
                        "latency_ms": r.mean_latency_ms,
                        "reputation": r.reputation,
                        "weight": r.weight,
                    })
                })
                .collect();
            (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                serde_json::Value::Array(rows).to_string(),
            )
                .into_response()
        }
        Err(e) => {
            // The details are for the operator's log, as for every internal error a client sees.
            tracing::error!(error = %e, "reading the scoreboard failed");
            (
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "internal error; the operator's log has it\n",
            )
                .into_response()
        }
    }
}
