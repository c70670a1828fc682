//! The gateway's Prometheus metrics: calls, bytes, bad pieces, hedges, repairs and the replay
//! memory. Registered into the node's registry under the node's prefix, so their names stay
//! `tessera_validator_gateway_calls` and so on.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MinerLabel {
    pub miner: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    pub method: String,
    pub code: String,
}

#[derive(Clone, Debug, Default)]
pub struct GatewayMetrics {
    /// Gateway calls by method and gRPC code.
    pub calls: Family<CallLabels, Counter>,
    pub bytes_in: Counter,
    pub bytes_out: Counter,
    /// Pieces a miner returned that did not match their recorded root.
    pub bad_pieces: Family<MinerLabel, Counter>,
    /// Fetches hedged with a spare piece because one was slow.
    pub hedges: Counter,
    pub repaired_pieces: Counter,
    pub repair_failures: Counter,
    /// Segments at or below the repair threshold at the last sweep.
    pub weak_segments: Gauge,
    /// Client nonces the gateway's replay memory holds, and the callers and network sources
    /// they belong to: bounded however many hotkeys call.
    pub replay_nonces: Gauge,
    pub replay_callers: Gauge,
    pub replay_sources: Gauge,
}

impl GatewayMetrics {
    /// Adds every metric to `r`, the node's registry.
    pub fn register(&self, r: &mut Registry) {
        let m = self;
        r.register(
            "gateway_calls",
            "Gateway calls by method and gRPC status code",
            m.calls.clone(),
        );
        r.register(
            "gateway_bytes_in",
            "Ciphertext bytes clients put",
            m.bytes_in.clone(),
        );
        r.register(
            "gateway_bytes_out",
            "Ciphertext bytes clients got",
            m.bytes_out.clone(),
        );
        r.register(
            "bad_pieces",
            "Pieces a miner returned that did not match their recorded root",
            m.bad_pieces.clone(),
        );
        r.register(
            "hedged_fetches",
            "Piece fetches hedged with a spare because one was slow",
            m.hedges.clone(),
        );
        r.register(
            "repaired_pieces",
            "Pieces rebuilt and placed on another miner",
            m.repaired_pieces.clone(),
        );
        r.register(
            "repair_failures",
            "Segment repairs that could not complete",
            m.repair_failures.clone(),
        );
        r.register(
            "weak_segments",
            "Segments at or below the repair threshold at the last sweep",
            m.weak_segments.clone(),
        );
        r.register(
            "gateway_replay_nonces",
            "Client request nonces held by the gateway's replay memory",
            m.replay_nonces.clone(),
        );
        r.register(
            "gateway_replay_callers",
            "Client hotkeys with a nonce held by the gateway's replay memory",
            m.replay_callers.clone(),
        );
        r.register(
            "gateway_replay_sources",
            "Network sources (IPv4 addresses, IPv6 /64s) with a nonce held by the gateway",
            m.replay_sources.clone(),
        );
    }

    pub fn call(&self, method: &str, code: tessera_proto::tonic::Code) {
        self.calls
            .get_or_create(&CallLabels {
                method: method.to_owned(),
                code: format!("{code:?}"),
            })
            .inc();
    }

    pub fn miner(&self, miner: &str) -> MinerLabel {
        MinerLabel {
            miner: miner.to_owned(),
        }
    }
}
