//! The block importer: a block proposed by a validator, checked and executed without
//! writing anything. An ordering engine imports a proposal to decide whether it is
//! valid (a BFT engine's vote) and hands the [`Imported`] block to the committer once
//! the block is decided ([`Chain::commit_imported`]), or does both at once
//! ([`Chain::apply_block`]).

use std::sync::Arc;

use govchain_state::{BlockContext, ExecutedBlock, VerifiedTx, tables};
use govchain_store::Records;
use govchain_types::{ExecError, Hash, HashHex, pb};

use crate::{
    ApplyError, Chain, CommittedBlock, ConsensusError, SealedBlock, TipInfo, VERIFY_BATCH,
};

/// A block that passed the importer's checks, ready for the committer.
#[derive(Debug)]
pub struct Imported {
    pub(crate) sealed: SealedBlock,
    pub(crate) body: Body,
}

#[derive(Debug)]
pub(crate) enum Body {
    /// This node built it: its execution waits among the built blocks.
    Own,
    /// Another validator's block, verified and executed here to the header's roots.
    Executed(Box<(Vec<VerifiedTx>, ExecutedBlock)>),
}

impl Imported {
    /// The block.
    pub fn sealed(&self) -> &SealedBlock {
        &self.sealed
    }
}

impl Chain {
    /// Imports a block a validator proposed: checks that it extends the tip, fits the
    /// chain's limits and carries its proposer's signature (the proposer must be a
    /// voting validator, and `proposer` when the engine names one), verifies every
    /// transaction, executes it and compares every root with the header. Writes nothing.
    /// A block invalid the same way on every node is [`ApplyError::Rejected`]; one this
    /// node executes to other roots is [`ApplyError::Diverged`]: the node must stop
    /// rather than serve that state.
    pub fn import(
        &self,
        raw: &[u8],
        proposer: Option<&str>,
    ) -> std::result::Result<Imported, ApplyError> {
        let reject = |why: String| ApplyError::Rejected(why);
        let sealed = SealedBlock::decode(raw).map_err(|e| reject(e.to_string()))?;
        let h = &sealed.header;
        let span = tracing::info_span!("import", height = h.height, txs = h.tx_count);
        let _g = span.enter();
        let tip = self.tip();
        self.check_header(&sealed, &tip, raw.len(), proposer)?;
        // This node's own block: executed when it was built.
        if self
            .built
            .lock()
            .blocks
            .iter()
            .any(|b| b.hash == sealed.hash)
        {
            return Ok(Imported {
                sealed,
                body: Body::Own,
            });
        }
        let executed = self.verify_and_execute(&sealed, &tip)?;
        Ok(Imported {
            sealed,
            body: Body::Executed(Box::new(executed)),
        })
    }

    /// Imports and commits a block at once: [`Chain::import`], then
    /// [`Chain::commit_imported`] with `meta` (what decided the block).
    pub fn apply_block(
        &self,
        raw: &[u8],
        proposer: Option<&str>,
        meta: Vec<(Vec<u8>, Vec<u8>)>,
    ) -> std::result::Result<Arc<CommittedBlock>, ApplyError> {
        let imported = self.import(raw, proposer)?;
        self.commit_imported(imported, meta)
    }

    /// The checks of a block's header and signature against `tip`: what makes a block
    /// invalid the same way on every node before any transaction is looked at.
    fn check_header(
        &self,
        sealed: &SealedBlock,
        tip: &TipInfo,
        size: usize,
        proposer: Option<&str>,
    ) -> std::result::Result<(), ApplyError> {
        let reject = |why: String| ApplyError::Rejected(why);
        let h = &sealed.header;
        if h.chain_id != self.chain_id() {
            return Err(reject(format!("block of chain '{}'", h.chain_id)));
        }
        if h.height != tip.header.height + 1 || h.prev_hash != tip.hash {
            return Err(reject(format!(
                "block {} does not extend the tip {} ({})",
                h.height,
                tip.header.height,
                HashHex(&tip.hash)
            )));
        }
        if h.time_ms < tip.header.time_ms {
            return Err(reject(format!("block time {} goes back", h.time_ms)));
        }
        if h.tx_count as usize != sealed.block.txs.len() {
            return Err(reject("tx_count differs from the transactions".into()));
        }
        let params = self.admission.params();
        if h.tx_count > params.max_block_txs {
            return Err(reject(format!(
                "{} transactions, over max_block_txs {}",
                h.tx_count, params.max_block_txs
            )));
        }
        if size as u64 > params.max_block_bytes {
            return Err(reject(format!(
                "{size} bytes, over max_block_bytes {}",
                params.max_block_bytes
            )));
        }
        if let Some(expected) = proposer.filter(|p| *p != h.proposer) {
            return Err(reject(format!(
                "block sealed by '{}', but the round's proposer is '{expected}'",
                h.proposer
            )));
        }
        let validator = self
            .store
            .read(&tables::VALIDATOR, &h.proposer)
            .map_err(|e| ApplyError::Node(e.into()))?
            .ok_or_else(|| reject(format!("proposer '{}' is not a validator", h.proposer)))?;
        sealed
            .verify_signature(&validator.public_key)
            .map_err(|e| reject(e.to_string()))?;
        if validator.observer {
            return Err(reject(format!(
                "'{}' is an observer and proposes no blocks",
                h.proposer
            )));
        }
        Ok(())
    }

    /// Refuses a block that holds a transaction twice, or one committed before: it would
    /// execute as a failure and overwrite the original's receipt and location. Every node
    /// judges this on the same committed state, so every node refuses the same block.
    fn check_new(&self, height: u64, hashes: &[Hash]) -> std::result::Result<(), ApplyError> {
        let mut seen = std::collections::HashSet::with_capacity(hashes.len());
        for hash in hashes {
            if !seen.insert(hash) {
                return Err(ApplyError::Rejected(format!(
                    "block {height} holds transaction {} twice",
                    HashHex(hash)
                )));
            }
            let committed = self
                .store
                .tx_location(hash)
                .map_err(|e| ApplyError::Node(e.into()))?;
            if let Some(at) = committed {
                return Err(ApplyError::Rejected(format!(
                    "block {height} holds transaction {}, committed in block {} already",
                    HashHex(hash),
                    at.height
                )));
            }
        }
        Ok(())
    }

    /// Verifies a block's transactions and executes them on `tip`, comparing every root
    /// with the header.
    pub(crate) fn verify_and_execute(
        &self,
        sealed: &SealedBlock,
        tip: &TipInfo,
    ) -> std::result::Result<(Vec<VerifiedTx>, ExecutedBlock), ApplyError> {
        let h = &sealed.header;
        // Transactions this node admitted itself were verified then; verify the rest, by
        // their bytes only: key, nonce and expiry are execution's to judge (a failed
        // receipt), so that every node decides the same whatever its mempool held.
        let hashes: Vec<Hash> = sealed
            .block
            .txs
            .iter()
            .map(|t| govchain_crypto::sm3(&t.body))
            .collect();
        self.check_new(h.height, &hashes)?;
        let txs: Vec<VerifiedTx> = self
            .verify_pool
            .install(|| {
                use rayon::prelude::*;
                // Looked up once the pool runs this, after the admissions queued before
                // it: transactions passed on to this node are then in the mempool, not
                // verified a second time here.
                let known = self.mempool.lock().find(&hashes.iter().copied().collect());
                let pairs: Vec<_> = sealed.block.txs.iter().zip(&hashes).collect();
                pairs
                    .par_chunks(VERIFY_BATCH)
                    .flat_map_iter(|chunk| {
                        // The ones this node admitted itself stay as they are; the rest
                        // are verified in one batch.
                        let unknown: Vec<pb::SignedTx> = chunk
                            .iter()
                            .filter(|(t, h)| !known.get(*h).is_some_and(|k| k.tx == **t))
                            .map(|(t, _)| (*t).clone())
                            .collect();
                        let mut verified = self.admission.verify_batch(unknown).into_iter();
                        chunk
                            .iter()
                            .map(|(t, h)| match known.get(*h).filter(|k| k.tx == **t) {
                                Some(k) => Ok(k.clone()),
                                None => verified.next().expect("one result per transaction"),
                            })
                            .collect::<Vec<_>>()
                    })
                    .collect::<std::result::Result<_, ExecError>>()
            })
            .map_err(|e| ApplyError::Rejected(format!("transaction: {e}")))?;
        let ctx = BlockContext {
            height: h.height,
            time_ms: h.time_ms,
            proposer: h.proposer.clone(),
        };
        let prev_root: Hash = tip.header.state_root.as_slice().try_into().map_err(|_| {
            ApplyError::Node(ConsensusError::Corrupt(
                "tip state root is not 32 bytes".into(),
            ))
        })?;
        let exec = self
            .executor
            .execute(&ctx, &txs, &prev_root, vec![])
            .map_err(|e| ApplyError::Node(e.into()))?;
        let roots = [
            ("tx root", &h.tx_root, exec.tx_root),
            ("state root", &h.state_root, exec.state_root),
            ("receipts root", &h.receipts_root, exec.receipts_root),
            ("audit root", &h.audit_root, exec.audit_root),
            ("validators hash", &h.validators_hash, exec.validators_hash),
            (
                "next validators hash",
                &h.next_validators_hash,
                exec.next_validators_hash,
            ),
        ];
        for (name, theirs, ours) in roots {
            if theirs.as_slice() != ours {
                return Err(ApplyError::Diverged(format!(
                    "block {}: {name} {} in the header, {} executed here",
                    h.height,
                    HashHex(theirs),
                    HashHex(&ours)
                )));
            }
        }
        if h.audit_count != exec.audit_count {
            return Err(ApplyError::Diverged(format!(
                "block {}: {} audit records in the header, {} executed here",
                h.height, h.audit_count, exec.audit_count
            )));
        }
        Ok((txs, exec))
    }
}
