//! Solo ordering: one validator cuts a block when `max_txs` transactions are waiting or
//! `interval` has passed since the first of them arrived. No empty blocks are produced.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use govchain_crypto::SharedSigner;

use crate::Chain;

/// Solo engine settings.
#[derive(Debug, Clone)]
pub struct SoloConfig {
    /// Validator id written as proposer.
    pub validator_id: String,
    /// Longest wait between the first pending transaction and its block.
    pub interval: Duration,
    /// Most transactions per block (capped by the chain parameter).
    pub max_txs: usize,
}

/// Runs the block production loop until the task is dropped or the store fails; a
/// store failure is fatal (the node must not acknowledge what it cannot persist).
pub async fn run(chain: Arc<Chain>, key: SharedSigner, config: SoloConfig) -> crate::Result<()> {
    tracing::info!(validator = %config.validator_id, interval_ms = config.interval.as_millis() as u64, max_txs = config.max_txs, "solo ordering started");
    loop {
        chain.wait_pending().await;
        // Wait for a full block or the deadline (the interval after the oldest waiting
        // transaction arrived), whichever comes first; each admission
        // wakes this task to re-check the count.
        let deadline = chain.block_due(config.interval);
        while chain.mempool_len() < config.max_txs {
            if tokio::time::timeout_at(deadline, chain.admitted())
                .await
                .is_err()
            {
                break;
            }
        }
        let txs = chain.take_pending(config.max_txs);
        if txs.is_empty() {
            continue;
        }
        let chain2 = chain.clone();
        let key2 = key.clone();
        let id = config.validator_id.clone();
        // Block time is the proposer's clock; execution only ever sees the header's time.
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        tokio::task::spawn_blocking(move || chain2.produce_block(txs, now, &id, &key2))
            .await
            .expect("block production panicked")?;
    }
}
