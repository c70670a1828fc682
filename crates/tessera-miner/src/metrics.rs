//! The miner's Prometheus metrics: partitions and bytes sealed, challenge items by outcome,
//! request latency, refusals by reason, bytes served and disk space.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct Outcome {
    pub(crate) outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct Method {
    pub(crate) method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct Reason {
    pub(crate) reason: String,
}

/// Every refusal reason the gate and the service report.
const REASONS: &[&str] = &[
    "unsigned",
    "malformed",
    "unknown",
    "blacklisted",
    "stale",
    "bad_signature",
    "replayed",
    "too_many",
    "too_large",
    "too_many_items",
];

fn latency_histogram() -> Histogram {
    // 0.5 ms to about 16 s: challenges of production-sized chunks on slow disks fit.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

/// Every metric the miner keeps; cheap to clone into the service and the step loop.
#[derive(Clone, Debug)]
pub(crate) struct Metrics {
    pub(crate) partitions: Gauge,
    pub(crate) sealed_bytes: Gauge,
    pub(crate) in_grace: Gauge,
    pub(crate) grace_expires: Gauge,
    pub(crate) items: Family<Outcome, Counter>,
    pub(crate) requests: Family<Method, Counter>,
    pub(crate) latency: Family<Method, Histogram, fn() -> Histogram>,
    pub(crate) rejected: Family<Reason, Counter>,
    pub(crate) served_bytes: Counter,
    pub(crate) disk_free: Gauge<i64, std::sync::atomic::AtomicI64>,
    pub(crate) disk_low: Gauge,
    pub(crate) reallocations: Counter<u64, AtomicU64>,
    pub(crate) chain: tessera_node::ChainGauges,
}

impl Metrics {
    pub(crate) fn new() -> (Self, Arc<Registry>) {
        let m = Metrics {
            partitions: Gauge::default(),
            sealed_bytes: Gauge::default(),
            in_grace: Gauge::default(),
            grace_expires: Gauge::default(),
            items: Family::default(),
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            rejected: Family::default(),
            served_bytes: Counter::default(),
            disk_free: Gauge::default(),
            disk_low: Gauge::default(),
            reallocations: Counter::default(),
            chain: tessera_node::ChainGauges::default(),
        };
        let mut r = Registry::with_prefix("tessera_miner");
        r.register(
            "partitions",
            "Partitions served, one per validator",
            m.partitions.clone(),
        );
        r.register(
            "sealed_bytes",
            "Bytes of sealed chunks claimed across partitions",
            m.sealed_bytes.clone(),
        );
        r.register(
            "partitions_in_grace",
            "Partitions of validators that left the plan, kept because they hold client data",
            m.in_grace.clone(),
        );
        r.register(
            "partition_grace_expiry_seconds",
            "When the first partition in grace is removed, in Unix seconds (0: none in grace)",
            m.grace_expires.clone(),
        );
        r.register(
            "challenge_items",
            "Challenge items answered, by outcome (proved or missing)",
            m.items.clone(),
        );
        r.register(
            "requests",
            "Requests admitted, by method",
            m.requests.clone(),
        );
        r.register(
            "request_duration_seconds",
            "Time to answer an admitted request, by method",
            m.latency.clone(),
        );
        r.register(
            "rejected_requests",
            "Requests refused, by reason",
            m.rejected.clone(),
        );
        r.register(
            "served_bytes",
            "Proof bytes sent to validators",
            m.served_bytes.clone(),
        );
        r.register(
            "disk_free_bytes",
            "Free space on the filesystem holding the partitions",
            m.disk_free.clone(),
        );
        r.register(
            "disk_low",
            "1 while free space is under disk.min_free",
            m.disk_low.clone(),
        );
        r.register(
            "reallocations",
            "Reallocations completed while serving",
            m.reallocations.clone(),
        );
        m.chain.register(&mut r);
        // Every known series starts at zero, so dashboards and rate() see it from the start
        // rather than from the first event.
        for outcome in ["proved", "missing"] {
            let _ = m.items.get_or_create(&Outcome {
                outcome: outcome.into(),
            });
        }
        for method in ["Ping", "Info", "Challenge"] {
            let label = Method {
                method: method.into(),
            };
            let _ = m.requests.get_or_create(&label);
            let _ = m.latency.get_or_create(&label);
        }
        for reason in REASONS {
            let _ = m.rejected.get_or_create(&Reason {
                reason: (*reason).into(),
            });
        }
        (m, Arc::new(r))
    }

    pub(crate) fn chain(&self, status: tessera_chain::ChainStatus) {
        self.chain.set(status.connected, status.block);
    }

    pub(crate) fn reject(&self, reason: &str) {
        self.rejected
            .get_or_create(&Reason {
                reason: reason.to_owned(),
            })
            .inc();
    }
}
