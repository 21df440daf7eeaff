//! Prometheus metrics of the node, served as text on the HTTP port.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Label of a rejection counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabel {
    /// Stable error code name.
    pub code: String,
}

/// Label of a per-peer gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PeerLabel {
    /// The peer's node id.
    pub peer: String,
}

/// The node's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Transactions admitted to the mempool.
    pub tx_admitted: Counter,
    /// Transactions rejected at admission, by code.
    pub tx_rejected: Family<CodeLabel, Counter>,
    /// Blocks committed.
    pub blocks: Counter,
    /// Transactions committed.
    pub txs_committed: Counter,
    /// Height of the committed tip.
    pub height: Gauge,
    /// Transactions waiting in the mempool (sampled on commit).
    pub mempool: Gauge,
    /// Transactions per block.
    pub block_txs: Histogram,
    /// Access-gate decisions committed (audit records).
    pub audit_records: Counter,
    /// Keys holding an SM2 verification table (sampled on commit).
    pub verify_table_keys: Gauge,
    /// Memory of those tables, bytes (sampled on commit).
    pub verify_table_bytes: Gauge,
    /// SM2 verification tables built.
    pub verify_table_builds: Counter,
    /// SM2 verification tables dropped to stay under the memory cap.
    pub verify_table_evictions: Counter,
    /// BFT: the height being decided and this node's round of it.
    bft_height: Gauge,
    bft_round: Gauge,
    /// BFT: heights decided since the node started, the rounds beyond the first they
    /// took, and the round of the last one.
    bft_decided: Gauge,
    bft_extra_rounds: Gauge,
    bft_last_decided_round: Gauge,
    /// BFT: 1 if the last delivery to a peer succeeded, 0 if it failed; the highest
    /// height a peer's message was for.
    bft_peer_up: Family<PeerLabel, Gauge>,
    bft_peer_height: Family<PeerLabel, Gauge>,
}

impl Metrics {
    /// Registers every metric under the `govchain_` prefix.
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("govchain");
        let m = Metrics {
            tx_admitted: Counter::default(),
            tx_rejected: Family::default(),
            blocks: Counter::default(),
            txs_committed: Counter::default(),
            height: Gauge::default(),
            mempool: Gauge::default(),
            block_txs: Histogram::new(exponential_buckets(1.0, 4.0, 8)),
            audit_records: Counter::default(),
            verify_table_keys: Gauge::default(),
            verify_table_bytes: Gauge::default(),
            verify_table_builds: Counter::default(),
            verify_table_evictions: Counter::default(),
            bft_height: Gauge::default(),
            bft_round: Gauge::default(),
            bft_decided: Gauge::default(),
            bft_extra_rounds: Gauge::default(),
            bft_last_decided_round: Gauge::default(),
            bft_peer_up: Family::default(),
            bft_peer_height: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "tx_admitted",
            "Transactions admitted to the mempool",
            m.tx_admitted.clone(),
        );
        registry.register(
            "tx_rejected",
            "Transactions rejected at admission",
            m.tx_rejected.clone(),
        );
        registry.register("blocks", "Blocks committed", m.blocks.clone());
        registry.register(
            "txs_committed",
            "Transactions committed",
            m.txs_committed.clone(),
        );
        registry.register("height", "Height of the committed tip", m.height.clone());
        registry.register(
            "mempool_txs",
            "Transactions waiting in the mempool",
            m.mempool.clone(),
        );
        registry.register("block_txs", "Transactions per block", m.block_txs.clone());
        registry.register(
            "audit_records",
            "Access-gate decisions committed (audit records)",
            m.audit_records.clone(),
        );
        registry.register(
            "verify_table_keys",
            "Registered keys holding an SM2 verification table",
            m.verify_table_keys.clone(),
        );
        registry.register(
            "verify_table_bytes",
            "Memory of the SM2 verification tables",
            m.verify_table_bytes.clone(),
        );
        registry.register(
            "verify_table_builds",
            "SM2 verification tables built",
            m.verify_table_builds.clone(),
        );
        registry.register(
            "verify_table_evictions",
            "SM2 verification tables dropped to stay under the memory cap",
            m.verify_table_evictions.clone(),
        );
        let bft: [(&str, &str, &Gauge); 5] = [
            ("bft_height", "BFT: the height being decided", &m.bft_height),
            (
                "bft_round",
                "BFT: this node's round of that height",
                &m.bft_round,
            ),
            (
                "bft_decided_heights",
                "BFT: heights decided since the node started",
                &m.bft_decided,
            ),
            (
                "bft_extra_rounds",
                "BFT: rounds beyond the first those heights took",
                &m.bft_extra_rounds,
            ),
            (
                "bft_last_decided_round",
                "BFT: the round the last decided height was decided in",
                &m.bft_last_decided_round,
            ),
        ];
        for (name, help, g) in bft {
            registry.register(name, help, g.clone());
        }
        registry.register(
            "bft_peer_up",
            "BFT: 1 if the last delivery to the peer succeeded, 0 if it failed",
            m.bft_peer_up.clone(),
        );
        registry.register(
            "bft_peer_height",
            "BFT: the highest height a message of the peer was for",
            m.bft_peer_height.clone(),
        );
        Arc::new(Metrics { registry, ..m })
    }

    /// Sets the BFT gauges from the engine's health (at each scrape).
    pub fn observe_bft(&self, h: &govchain_consensus::bft::HealthView) {
        self.bft_height.set(h.height as i64);
        self.bft_round.set(i64::from(h.round));
        self.bft_decided.set(h.decided as i64);
        self.bft_extra_rounds.set(h.extra_rounds as i64);
        self.bft_last_decided_round
            .set(i64::from(h.last_decided_round));
        self.bft_peer_up.clear();
        self.bft_peer_height.clear();
        for (id, p) in &h.peers {
            let label = PeerLabel { peer: id.clone() };
            if let Some(up) = p.reachable {
                self.bft_peer_up.get_or_create(&label).set(i64::from(up));
            }
            self.bft_peer_height
                .get_or_create(&label)
                .set(p.height as i64);
        }
    }

    /// Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("string write");
        out
    }
}
