//! The block builder: a proposer's side. It takes waiting transactions, executes them as
//! the next block on the committed tip or on the blocks it built that are not committed
//! yet, and seals the block with the proposer's key. The execution is kept, so that the
//! committer commits this node's own block without executing it again.

use std::collections::VecDeque;
use std::sync::Arc;

use govchain_crypto::Sm2Signer;
use govchain_state::{BlockContext, StateWrites, VerifiedTx};
use govchain_types::{Hash, pb};

use crate::{Chain, CommittedBlock, ConsensusError, Result, SealedBlock, TipInfo};

/// The blocks this node built, oldest first: each extends the one before it, the first
/// extends the committed tip.
#[derive(Debug, Default)]
pub(crate) struct BuiltBlocks {
    pub(crate) blocks: VecDeque<Built>,
    /// Counts the times blocks were abandoned or the tip moved under them (another
    /// proposer's block): a block whose building began in an earlier epoch extends
    /// nothing that will commit.
    pub(crate) epoch: u64,
}

impl BuiltBlocks {
    /// Drops the blocks from `i` on; returns their transactions, in order.
    pub(crate) fn abandon(&mut self, i: usize) -> Vec<VerifiedTx> {
        self.epoch += 1;
        self.blocks.drain(i..).flat_map(|b| b.txs).collect()
    }
}

/// A block built and executed by this node, waiting to be decided.
#[derive(Debug)]
pub(crate) struct Built {
    pub(crate) header: pb::BlockHeader,
    pub(crate) hash: Hash,
    pub(crate) txs: Vec<VerifiedTx>,
    /// Its state writes, which the blocks built on it read through.
    pub(crate) writes: Arc<StateWrites>,
    /// The rest of its execution (`writes` left empty).
    pub(crate) exec: govchain_state::ExecutedBlock,
}

impl Chain {
    /// When the next block is due: `interval` after the oldest waiting transaction
    /// arrived (now + `interval` when none waits).
    pub fn block_due(&self, interval: std::time::Duration) -> tokio::time::Instant {
        let since = self.mempool.lock().waiting_since();
        tokio::time::Instant::from_std(since.unwrap_or_else(std::time::Instant::now)) + interval
    }

    /// Takes up to `max` transactions for the next block, as many as fit the chain's
    /// `max_block_bytes`.
    pub fn take_pending(&self, max: usize) -> Vec<VerifiedTx> {
        let bytes = self.admission.params().block_tx_bytes();
        self.mempool.lock().take(max, bytes)
    }

    /// Executes `txs` as the next block with `time_ms`, signs it with `key` as
    /// `proposer`, decides it with `proposer`'s precommit alone (a one-of-one commit
    /// certificate), commits it atomically and announces it (the solo engine's path).
    pub fn produce_block(
        &self,
        txs: Vec<VerifiedTx>,
        time_ms: u64,
        proposer: &str,
        key: &dyn Sm2Signer,
    ) -> Result<Arc<CommittedBlock>> {
        let (mut sealed, exec) =
            self.execute_and_seal(&self.tip(), vec![], &txs, time_ms, proposer, key)?;
        sealed.block.commit = Some(sealed.solo_certificate(proposer, key));
        self.commit(sealed, &txs, exec, vec![])
    }

    /// Executes `txs` as the next block and seals it, without committing: this
    /// validator's proposal. The block extends the last block built and not yet
    /// committed, if any (reading through their writes), else the committed tip. The
    /// execution is kept, so that committing the same block once it is decided neither
    /// executes nor verifies it a second time.
    ///
    /// Only one task may build at a time (the consensus task).
    pub fn build_block(
        &self,
        txs: Vec<VerifiedTx>,
        time_ms: u64,
        proposer: &str,
        key: &dyn Sm2Signer,
    ) -> Result<SealedBlock> {
        let (parent, base, epoch) = {
            let built = self.built.lock();
            let parent = built.blocks.back().map_or_else(
                || self.tip(),
                |b| TipInfo {
                    header: b.header.clone(),
                    hash: b.hash,
                },
            );
            let base = built.blocks.iter().map(|b| b.writes.clone()).collect();
            (parent, base, built.epoch)
        };
        let (sealed, mut exec) =
            match self.execute_and_seal(&parent, base, &txs, time_ms, proposer, key) {
                Ok(done) => done,
                Err(e) => {
                    self.requeue(txs);
                    return Err(e);
                }
            };
        let mut built = self.built.lock();
        if built.epoch != epoch {
            // What it extends was abandoned, or another proposer's block committed,
            // while it was executed.
            drop(built);
            self.requeue(txs);
            return Err(ConsensusError::Stale {
                height: sealed.header.height,
            });
        }
        built.blocks.push_back(Built {
            header: sealed.header.clone(),
            hash: sealed.hash,
            txs,
            writes: Arc::new(std::mem::take(&mut exec.writes)),
            exec,
        });
        Ok(sealed)
    }

    /// Gives the transactions of every built block back to the mempool, and makes a
    /// block being built now stale.
    pub fn abandon_built(&self) {
        let txs = self.built.lock().abandon(0);
        if !txs.is_empty() {
            self.requeue(txs);
        }
    }

    /// Gives the transactions of blocks that will not commit back to the mempool, in
    /// admission order, except those whose nonce a committed block spent meanwhile (the
    /// client resubmitted through another node): they can never commit, and their
    /// waiters learn it now.
    pub(crate) fn requeue(&self, txs: Vec<VerifiedTx>) {
        let accounts: std::collections::HashSet<String> =
            txs.iter().map(VerifiedTx::account).collect();
        let stale = {
            let mut mempool = self.mempool.lock();
            mempool.requeue(txs);
            mempool.drop_stale(&accounts, |t| {
                self.admission
                    .committed_nonce(&t.body.sender, &t.body.operator)
                    .ok()
            })
        };
        if !stale.is_empty() {
            let mut waiters = self.waiters.lock();
            for h in &stale {
                waiters.remove(h);
            }
        }
        self.pending.notify_one();
    }

    fn execute_and_seal(
        &self,
        tip: &TipInfo,
        base: Vec<Arc<StateWrites>>,
        txs: &[VerifiedTx],
        time_ms: u64,
        proposer: &str,
        key: &dyn Sm2Signer,
    ) -> Result<(SealedBlock, govchain_state::ExecutedBlock)> {
        let height = tip.header.height + 1;
        let span = tracing::info_span!("block", height, txs = txs.len());
        let _g = span.enter();
        let time_ms = time_ms.max(tip.header.time_ms);
        let ctx = BlockContext {
            height,
            time_ms,
            proposer: proposer.to_string(),
        };
        let prev_root: Hash = tip.header.state_root.as_slice().try_into().map_err(|_| {
            ConsensusError::Corrupt(format!(
                "state root of block {} is not 32 bytes",
                tip.header.height
            ))
        })?;
        let exec = self.executor.execute(&ctx, txs, &prev_root, base)?;
        let header = pb::BlockHeader {
            chain_id: self.chain_id().to_string(),
            height,
            prev_hash: tip.hash.to_vec(),
            time_ms,
            proposer: proposer.to_string(),
            tx_root: exec.tx_root.to_vec(),
            state_root: exec.state_root.to_vec(),
            receipts_root: exec.receipts_root.to_vec(),
            audit_root: exec.audit_root.to_vec(),
            tx_count: txs.len() as u32,
            audit_count: exec.audit_count,
            validators_hash: exec.validators_hash.to_vec(),
            next_validators_hash: exec.next_validators_hash.to_vec(),
        };
        let signed: Vec<pb::SignedTx> = txs.iter().map(|t| t.tx.clone()).collect();
        Ok((SealedBlock::seal(header, signed, Some(key)), exec))
    }
}
