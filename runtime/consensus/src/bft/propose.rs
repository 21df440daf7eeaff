//! A proposer's block: when the core asks this validator to propose, the block is built
//! off the engine's task (transactions gathered for up to the block interval, then
//! executed on the tip) and handed back as [`Event::Built`].

use super::engine::{Engine, Event};
use super::node::now_ms;

impl Engine {
    /// Builds this node's proposal off the task: waits up to the block interval for
    /// transactions to gather, then executes them on the tip.
    pub(super) fn build(&self, height: u64, round: u32) {
        let chain = self.chain.clone();
        let key = self.key.clone();
        let me = self.me.clone();
        let (interval, max_txs) = (self.settings.interval, self.settings.max_txs);
        // A proposer woken by a peer may not hold the transactions it was woken for yet
        // (they are on their way): it waits for some up to half the propose timeout
        // before it proposes an empty block.
        let empty_wait = self.settings.propose_timeout / 2;
        let events = self.events.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(empty_wait, chain.wait_pending()).await;
            let deadline = chain.block_due(interval);
            while chain.mempool_len() < max_txs {
                if tokio::time::timeout_at(deadline, chain.admitted())
                    .await
                    .is_err()
                {
                    break;
                }
            }
            let began = std::time::Instant::now();
            let block = tokio::task::spawn_blocking(move || {
                // A proposal extends the tip: what this node built in an earlier round
                // goes back to the mempool first.
                chain.abandon_built();
                let txs = chain.take_pending(max_txs);
                #[cfg(feature = "byzantine")]
                let txs = super::byzantine::block_txs(&chain, txs);
                let time = now_ms().max(chain.tip().header.time_ms + 1);
                #[cfg(feature = "byzantine")]
                let time = super::byzantine::block_time(time);
                chain
                    .build_block(txs, time, &me, &key)
                    .map(|b| (b.hash, govchain_types::encode(&b.block)))
                    .map_err(|e| e.to_string())
            })
            .await
            .unwrap_or_else(|e| Err(format!("block building panicked: {e}")));
            tracing::debug!(
                height,
                round,
                ms = began.elapsed().as_millis() as u64,
                "built a block"
            );
            let _ = events.send(Event::Built {
                height,
                round,
                block,
            });
        });
    }
}
