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
        Arc::new(Metrics { registry, ..m })
    }

    /// Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("string write");
        out
    }
}
