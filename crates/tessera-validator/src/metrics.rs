//! The validator's Prometheus metrics: challenge items sent, passed and failed per miner,
//! verification latency, scores, weights, when weights were last set; and the gateway's own
//! (`tessera_gateway::GatewayMetrics`), registered beside them.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ItemLabels {
    pub(crate) miner: String,
    pub(crate) outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct MinerLabel {
    pub(crate) miner: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;
type FloatCounter = Counter<f64, AtomicU64>;

fn verify_histogram() -> Histogram {
    // 10 µs to about 0.3 s: a batch of Merkle checks.
    Histogram::new(exponential_buckets(0.00001, 2.0, 16))
}

#[derive(Clone, Debug)]
pub(crate) struct Metrics {
    pub(crate) chain: tessera_node::ChainGauges,
    pub(crate) items: Family<ItemLabels, Counter>,
    pub(crate) rounds: Counter,
    pub(crate) verify: Histogram,
    /// Audited items compared with the validator's own seal.
    pub(crate) audits: Counter,
    /// Lies caught: committed leaves that are not the seal of their slot.
    pub(crate) lies: Counter,
    /// Seconds spent sealing for audits, the validator's only seals.
    pub(crate) audit_seconds: FloatCounter,
    /// How long each round took, challenging every miner and recording the results.
    pub(crate) round_duration: Histogram,
    pub(crate) score: Family<MinerLabel, FloatGauge>,
    pub(crate) weight: Family<MinerLabel, FloatGauge>,
    pub(crate) weights_set: Counter,
    pub(crate) commits: Counter,
    pub(crate) reveals: Counter,
    pub(crate) last_weights: FloatGauge,
    /// The gateway's calls, bytes, pieces, repairs and replay memory.
    pub(crate) gateway: tessera_gateway::GatewayMetrics,
}

impl Metrics {
    pub(crate) fn new() -> (Self, Arc<Registry>) {
        let m = Metrics {
            chain: tessera_node::ChainGauges::default(),
            items: Family::default(),
            rounds: Counter::default(),
            verify: verify_histogram(),
            audits: Counter::default(),
            lies: Counter::default(),
            audit_seconds: FloatCounter::default(),
            // 10 ms to about 5 minutes.
            round_duration: Histogram::new(exponential_buckets(0.01, 2.0, 15)),
            score: Family::default(),
            weight: Family::default(),
            weights_set: Counter::default(),
            commits: Counter::default(),
            reveals: Counter::default(),
            last_weights: FloatGauge::default(),
            gateway: tessera_gateway::GatewayMetrics::default(),
        };
        let mut r = Registry::with_prefix("tessera_validator");
        m.chain.register(&mut r);
        r.register(
            "challenge_items",
            "Challenge items sent, by miner and outcome (passed or failed)",
            m.items.clone(),
        );
        r.register("rounds", "Challenge rounds completed", m.rounds.clone());
        r.register(
            "verify_duration_seconds",
            "Time to verify one miner's answer with hashes against its commitment",
            m.verify.clone(),
        );
        r.register(
            "audits",
            "Audited challenge items compared with the validator's own seal",
            m.audits.clone(),
        );
        r.register(
            "lies",
            "Miners caught committing to a leaf that is not the seal of its slot",
            m.lies.clone(),
        );
        r.register(
            "audit_seal_seconds",
            "Seconds spent sealing audit roots, the validator's only seals",
            m.audit_seconds.clone(),
        );
        r.register(
            "round_duration_seconds",
            "Time to challenge every miner once and record the results",
            m.round_duration.clone(),
        );
        r.register("miner_score", "Each miner's current score", m.score.clone());
        r.register(
            "miner_weight",
            "Each miner's last weight set",
            m.weight.clone(),
        );
        r.register(
            "weight_commits",
            "Weight commits submitted on a subnet with commit-reveal",
            m.commits.clone(),
        );
        r.register(
            "weight_reveals",
            "Weight commits revealed",
            m.reveals.clone(),
        );
        r.register(
            "weights_set",
            "Weight settings on the chain",
            m.weights_set.clone(),
        );
        r.register(
            "last_weights_set_timestamp_seconds",
            "Unix time of the last weight setting",
            m.last_weights.clone(),
        );
        m.gateway.register(&mut r);
        (m, Arc::new(r))
    }

    pub(crate) fn item(&self, miner: &str, passed: bool, n: u64) {
        if n == 0 {
            return;
        }
        self.items
            .get_or_create(&ItemLabels {
                miner: miner.to_owned(),
                outcome: if passed { "passed" } else { "failed" }.to_owned(),
            })
            .inc_by(n);
    }

    pub(crate) fn miner(&self, miner: &str) -> MinerLabel {
        MinerLabel {
            miner: miner.to_owned(),
        }
    }
}
