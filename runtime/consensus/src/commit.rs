//! The committer: writes a decided block and everything its execution produced in one
//! atomic batch, moves the tip, releases the mempool and the receipt waiters, and
//! announces the block. What decided it (its commit certificate) travels in the
//! batch's metadata.

use std::sync::Arc;

use govchain_state::VerifiedTx;
use govchain_store::BlockCommit;
use govchain_types::HashHex;

use crate::import::{Body, Imported};
use crate::{ApplyError, Chain, CommittedBlock, Result, SealedBlock, TipInfo};

impl Chain {
    /// Commits an imported block with `meta` written in its batch. The block must still
    /// extend the tip: if another block was committed at its height since it was
    /// imported, it is [`ApplyError::Rejected`] and nothing is written. This node's own
    /// block commits the execution it was built with; a block built on what another
    /// proposer's block replaced is given back to the mempool.
    pub fn commit_imported(
        &self,
        imported: Imported,
        meta: Vec<(Vec<u8>, Vec<u8>)>,
    ) -> std::result::Result<Arc<CommittedBlock>, ApplyError> {
        let Imported { sealed, body } = imported;
        let tip = self.tip();
        let h = &sealed.header;
        if h.height != tip.header.height + 1 || h.prev_hash != tip.hash {
            return Err(ApplyError::Rejected(format!(
                "block {} ({}) no longer extends the tip {} ({}): another block was committed since it was imported",
                h.height,
                HashHex(&sealed.hash),
                tip.header.height,
                HashHex(&tip.hash)
            )));
        }
        let (txs, exec) = match body {
            Body::Own => {
                // The lock is held until the store and the tip have the block, so that a
                // block being built finds its writes among the built blocks or in the
                // store, never in neither.
                let mut built = self.built.lock();
                if built.blocks.front().is_some_and(|b| b.hash == sealed.hash) {
                    let mut b = built.blocks.pop_front().expect("checked");
                    b.exec.writes = Arc::unwrap_or_clone(b.writes);
                    return self
                        .commit(sealed, &b.txs, b.exec, meta)
                        .map_err(ApplyError::Node);
                }
                drop(built);
                // Abandoned since it was imported: execute it as any other block.
                self.verify_and_execute(&sealed, &tip)?
            }
            Body::Executed(executed) => *executed,
        };
        let committed = self
            .commit(sealed, &txs, exec, meta)
            .map_err(ApplyError::Node)?;
        // Another proposer's block: whatever this node built extends what is no longer
        // the tip, and will not commit.
        self.abandon_built();
        Ok(committed)
    }

    /// Commits an imported block that `certificate` decided, storing the certificate in
    /// the block (the BFT engine's path). The certificate must name the block.
    pub fn commit_decided(
        &self,
        mut imported: Imported,
        certificate: govchain_types::pb::CommitCertificate,
    ) -> std::result::Result<Arc<CommittedBlock>, ApplyError> {
        if certificate.block_hash != imported.sealed.hash
            || certificate.height != imported.sealed.header.height
        {
            return Err(ApplyError::Rejected(format!(
                "the commit certificate of block {} ({}) names block {} ({})",
                certificate.height,
                HashHex(&certificate.block_hash),
                imported.sealed.header.height,
                HashHex(&imported.sealed.hash)
            )));
        }
        imported.sealed.block.commit = Some(certificate);
        self.commit_imported(imported, vec![])
    }

    /// Commits an executed block atomically, moves the tip, releases the mempool and
    /// the receipt waiters, and announces it.
    pub(crate) fn commit(
        &self,
        sealed: SealedBlock,
        txs: &[VerifiedTx],
        exec: govchain_state::ExecutedBlock,
        meta: Vec<(Vec<u8>, Vec<u8>)>,
    ) -> Result<Arc<CommittedBlock>> {
        let height = sealed.header.height;
        let receipts_enc = exec.receipts.iter().map(govchain_types::encode);
        self.store.commit_block(BlockCommit {
            height,
            hash: sealed.hash,
            block: govchain_types::encode(&sealed.block),
            txs: txs.iter().map(|t| t.hash).zip(receipts_enc).collect(),
            state: exec.writes,
            index: exec.index,
            meta,
        })?;
        *self.tip.write() = TipInfo {
            header: sealed.header.clone(),
            hash: sealed.hash,
        };
        let stale = {
            let mut mempool = self.mempool.lock();
            mempool.committed(txs);
            let touched: std::collections::HashSet<String> =
                txs.iter().map(VerifiedTx::account).collect();
            mempool.drop_stale(&touched, |t| {
                self.admission
                    .committed_nonce(&t.body.sender, &t.body.operator)
                    .ok()
            })
        };
        {
            let mut waiters = self.waiters.lock();
            // Their clients learn that these will never commit.
            for h in &stale {
                waiters.remove(h);
            }
            for r in &exec.receipts {
                if let Some(w) = waiters.remove(r.tx_hash.as_slice()) {
                    let _ = w.send(r.clone());
                }
            }
        }
        tracing::info!(hash = %HashHex(&sealed.hash), "committed");
        let committed = Arc::new(CommittedBlock {
            sealed,
            receipts: exec.receipts,
        });
        let _ = self.commits.send(committed.clone());
        Ok(committed)
    }
}
