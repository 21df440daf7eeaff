//! Block ordering for govchain.
//!
//! [`Chain`] is the part every consensus mode shares: admission of signed transactions
//! (signatures verified once, in parallel), the mempool, executing and committing an
//! ordered block atomically, notifying waiters and subscribers, and checking the stored
//! chain when the node starts. An ordering engine decides *which* transactions form the
//! next block and when; [`solo`] is the single-validator engine used by `govchain dev`.

mod block;
mod mempool;
pub mod raft;
pub mod solo;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use govchain_crypto::PrivateKey;
use govchain_state::{Admission, BlockContext, Executor, Genesis, StateWrites, VerifiedTx, tables};
use govchain_store::{BlockCommit, Records, Store};
use govchain_types::{Hash, HashHex, TxError, decode, pb};
use parking_lot::{Mutex, RwLock};
use tokio::sync::{Notify, broadcast, oneshot, watch};

/// Transactions whose signatures are verified together (one shared field inversion,
/// `govchain_crypto::fastverify`); chunks of this size also spread over the cores.
const VERIFY_BATCH: usize = 32;

pub use block::SealedBlock;
pub use mempool::Mempool;

/// Why a proposed block was not applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Invalid the same way on every node (does not extend the tip, not signed by a
    /// validator, a transaction fails admission): nothing was written.
    #[error("block rejected: {0}")]
    Rejected(String),
    /// This node executed the block to other roots than its proposer: its state has
    /// diverged (or is corrupt), and it must stop.
    #[error("STATE DIVERGED: {0}")]
    Diverged(String),
    /// A node-local failure (storage).
    #[error(transparent)]
    Node(#[from] ConsensusError),
}

/// Errors of the consensus layer.
#[derive(Debug, thiserror::Error)]
pub enum ConsensusError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] govchain_store::StoreError),
    /// State failed.
    #[error(transparent)]
    State(#[from] govchain_state::StateError),
    /// Stored chain data is inconsistent.
    #[error("stored chain is inconsistent: {0}")]
    Corrupt(String),
    /// Replication could not start or stopped (its address, TLS, openraft).
    #[error("replication: {0}")]
    Replication(String),
    /// The store belongs to another genesis.
    #[error(
        "data directory holds chain with genesis {found}, but genesis file hashes to {expected}"
    )]
    GenesisMismatch {
        /// Hash of the configured genesis.
        expected: String,
        /// Hash found in block 0.
        found: String,
    },
    /// A block was built on blocks that were abandoned meanwhile; its transactions are
    /// back in the mempool.
    #[error("block {height} was built on abandoned blocks")]
    Stale {
        /// Its height.
        height: u64,
    },
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, ConsensusError>;

/// A block that was committed, as announced to subscribers.
#[derive(Debug)]
pub struct CommittedBlock {
    /// The block.
    pub sealed: SealedBlock,
    /// Its receipts, in transaction order.
    pub receipts: Vec<pb::Receipt>,
}

/// The committed tip as the node sees it.
#[derive(Debug, Clone)]
pub struct TipInfo {
    /// Header of the last committed block.
    pub header: pb::BlockHeader,
    /// Its hash.
    pub hash: Hash,
}

/// Tuning of the shared chain core.
#[derive(Debug, Clone)]
pub struct ChainConfig {
    /// Mempool capacity.
    pub mempool_capacity: usize,
}

/// State shared by the API and the ordering engine.
#[derive(Debug)]
pub struct Chain {
    store: Arc<Store>,
    admission: Admission,
    executor: Executor,
    genesis_hash: Hash,
    mempool: Mutex<Mempool>,
    waiters: Mutex<HashMap<Hash, oneshot::Sender<pb::Receipt>>>,
    tip: RwLock<TipInfo>,
    commits: broadcast::Sender<Arc<CommittedBlock>>,
    pending: Notify,
    verify_pool: rayon::ThreadPool,
    /// The blocks this node built as leader, executed, until the log hands them back.
    built: Mutex<BuiltBlocks>,
    /// Counts admissions, for tasks other than the block producer that follow them.
    admissions: watch::Sender<u64>,
    /// The raft cluster as this node sees it (raft mode).
    cluster: RwLock<Option<pb::ClusterStatus>>,
}

/// The blocks this node built, oldest first: each extends the one before it, the first
/// extends the committed tip.
#[derive(Debug, Default)]
struct BuiltBlocks {
    blocks: VecDeque<Built>,
    /// Counts the times blocks were abandoned or the tip moved under them (another
    /// proposer's block): a block whose building began in an earlier epoch extends
    /// nothing that will commit.
    epoch: u64,
}

impl BuiltBlocks {
    /// Drops the blocks from `i` on; returns their transactions, in order.
    fn abandon(&mut self, i: usize) -> Vec<VerifiedTx> {
        self.epoch += 1;
        self.blocks.drain(i..).flat_map(|b| b.txs).collect()
    }
}

/// A block built and executed by this node, waiting to be applied from the log.
#[derive(Debug)]
struct Built {
    header: pb::BlockHeader,
    hash: Hash,
    txs: Vec<VerifiedTx>,
    /// Its state writes, which the blocks built on it read through.
    writes: Arc<StateWrites>,
    /// The rest of its execution (`writes` left empty).
    exec: govchain_state::ExecutedBlock,
}

impl Chain {
    /// Opens the chain in `store`: writes block 0 from `genesis` into an empty store, or
    /// checks the stored chain (genesis hash, the last blocks' hash links and proposer
    /// signatures) and resumes from its tip.
    pub fn open(store: Arc<Store>, genesis: &Genesis, config: ChainConfig) -> Result<Arc<Self>> {
        let executor = Executor::new(store.clone())?;
        let genesis_hash = genesis.hash();
        let tip = match store.tip()? {
            None => {
                let exec = executor.execute_genesis(genesis)?;
                let header = pb::BlockHeader {
                    chain_id: genesis.chain_id.clone(),
                    height: 0,
                    prev_hash: genesis_hash.to_vec(),
                    time_ms: genesis.genesis_time_ms,
                    proposer: String::new(),
                    tx_root: exec.tx_root.to_vec(),
                    state_root: exec.state_root.to_vec(),
                    receipts_root: exec.receipts_root.to_vec(),
                    audit_root: exec.audit_root.to_vec(),
                    tx_count: 0,
                    audit_count: 0,
                };
                let sealed = SealedBlock::seal(header, vec![], None);
                store.commit_block(BlockCommit {
                    height: 0,
                    hash: sealed.hash,
                    block: govchain_types::encode(&sealed.block),
                    txs: vec![],
                    state: exec.writes,
                    index: exec.index,
                    meta: vec![],
                })?;
                tracing::info!(chain_id = %genesis.chain_id, genesis = %HashHex(&genesis_hash), "wrote genesis block");
                TipInfo {
                    header: sealed.header,
                    hash: sealed.hash,
                }
            }
            Some(_) => verify_stored_chain(&store, &genesis_hash)?,
        };
        let admission = Admission::new(store.clone())?;
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Arc::new(Chain {
            admission,
            executor,
            genesis_hash,
            mempool: Mutex::new(Mempool::new(config.mempool_capacity)),
            waiters: Mutex::new(HashMap::new()),
            tip: RwLock::new(tip),
            commits: broadcast::channel(1024).0,
            pending: Notify::new(),
            verify_pool: rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .thread_name(|i| format!("sm2-verify-{i}"))
                .build()
                .expect("thread pool"),
            store,
            built: Mutex::new(BuiltBlocks::default()),
            admissions: watch::channel(0).0,
            cluster: RwLock::new(None),
        }))
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Chain id.
    pub fn chain_id(&self) -> &str {
        self.admission.chain_id()
    }

    /// Hash of the genesis document.
    pub fn genesis_hash(&self) -> Hash {
        self.genesis_hash
    }

    /// The committed tip.
    pub fn tip(&self) -> TipInfo {
        self.tip.read().clone()
    }

    /// The executor (for read-only contract queries).
    pub fn executor(&self) -> &Executor {
        &self.executor
    }

    /// Transactions waiting in the mempool.
    pub fn mempool_len(&self) -> usize {
        self.mempool.lock().len()
    }

    /// Subscribes to committed blocks.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<CommittedBlock>> {
        self.commits.subscribe()
    }

    /// Next nonce of an account including pending transactions.
    pub fn next_nonce(&self, dept: &str, operator: &str) -> std::result::Result<u64, TxError> {
        let mempool = self.mempool.lock();
        let committed = self.admission.committed_nonce(dept, operator)?;
        Ok(mempool.next_nonce(
            &govchain_state::admission::account_label(dept, operator),
            committed,
        ))
    }

    /// Admits a batch: signatures are verified in parallel on all cores, then the
    /// transactions enter the mempool in the given order. One result per transaction.
    /// With `wait`, each admitted transaction also gets a receiver of its receipt.
    pub async fn submit(
        self: &Arc<Self>,
        txs: Vec<pb::SignedTx>,
        wait: bool,
    ) -> Vec<std::result::Result<(Hash, Option<oneshot::Receiver<pb::Receipt>>), TxError>> {
        let this = self.clone();
        let (tx, rx) = oneshot::channel();
        self.verify_pool.spawn(move || {
            use rayon::prelude::*;
            let next_height = this.tip.read().header.height + 1;
            let checked: Vec<_> = txs
                .into_par_iter()
                .chunks(VERIFY_BATCH)
                .flat_map_iter(|c| this.admission.check_batch(c, next_height))
                .collect();
            let _ = tx.send(checked);
        });
        let checked = rx.await.unwrap_or_default();
        let mut out = Vec::with_capacity(checked.len());
        let mut admitted = false;
        {
            let mut mempool = self.mempool.lock();
            for c in checked {
                out.push(c.and_then(|v| {
                    let hash = v.hash;
                    if self
                        .store
                        .has_tx(&hash)
                        .map_err(|e| TxError::Internal(e.to_string()))?
                    {
                        return Err(TxError::Duplicate {
                            tx_hash: HashHex(&hash).to_string(),
                        });
                    }
                    let committed = self
                        .admission
                        .committed_nonce(&v.body.sender, &v.body.operator)?;
                    mempool.insert(v, committed)?;
                    // Only once admitted: a resubmitted duplicate must not replace (and
                    // so close) the first client's wait.
                    let receiver = wait.then(|| {
                        let (s, r) = oneshot::channel();
                        self.waiters.lock().insert(hash, s);
                        r
                    });
                    admitted = true;
                    Ok((hash, receiver))
                }));
            }
        }
        if admitted {
            self.pending.notify_one();
            self.admissions.send_modify(|n| *n += 1);
        }
        out
    }

    /// Memory and counts of admission's SM2 verification tables.
    pub fn key_table_stats(&self) -> govchain_crypto::fastverify::KeyTableStats {
        self.admission.key_table_stats()
    }

    /// Follows admissions (any number of followers, unlike [`Chain::admitted`]).
    pub fn admissions(&self) -> watch::Receiver<u64> {
        self.admissions.subscribe()
    }

    /// The raft cluster as this node sees it; `None` outside the raft mode.
    pub fn cluster(&self) -> Option<pb::ClusterStatus> {
        self.cluster.read().clone()
    }

    /// Publishes the cluster status (the raft engine does).
    pub fn set_cluster(&self, status: pb::ClusterStatus) {
        *self.cluster.write() = Some(status);
    }

    /// Waits until more transactions are admitted.
    pub async fn admitted(&self) {
        self.pending.notified().await;
    }

    /// Waits until the mempool has transactions.
    pub async fn wait_pending(&self) {
        loop {
            let notified = self.pending.notified();
            if !self.mempool.lock().is_empty() {
                return;
            }
            notified.await;
        }
    }

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
    /// `proposer`, commits it atomically and announces it (the solo engine's path).
    pub fn produce_block(
        &self,
        txs: Vec<VerifiedTx>,
        time_ms: u64,
        proposer: &str,
        key: &PrivateKey,
    ) -> Result<Arc<CommittedBlock>> {
        let (sealed, exec) =
            self.execute_and_seal(&self.tip(), vec![], &txs, time_ms, proposer, key)?;
        self.commit(sealed, &txs, exec, vec![])
    }

    /// Executes `txs` as the next block and seals it, without committing: the leader's
    /// proposal in the raft mode. The block extends the last block built and not yet
    /// applied, if any (reading through their writes), else the committed tip, so the
    /// leader builds the next block while the last one replicates. The execution is kept,
    /// so that applying the same block from the log commits it without executing or
    /// verifying it a second time.
    ///
    /// Only one task may build at a time (the leader's block loop).
    pub fn build_block(
        &self,
        txs: Vec<VerifiedTx>,
        time_ms: u64,
        proposer: &str,
        key: &PrivateKey,
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

    /// Gives the transactions of the built block `hash` and of those built on it back
    /// to the mempool: they will not commit (this node lost its leadership, or the log
    /// refused the block). Blocks already applied or abandoned are ignored.
    pub fn abandon_from(&self, hash: &Hash) {
        let mut built = self.built.lock();
        if let Some(i) = built.blocks.iter().position(|b| b.hash == *hash) {
            let txs = built.abandon(i);
            drop(built);
            self.requeue(txs);
        }
    }

    /// Gives the transactions of every built block back to the mempool, and makes a
    /// block being built now stale.
    pub fn abandon_built(&self) {
        let txs = self.built.lock().abandon(0);
        if !txs.is_empty() {
            self.requeue(txs);
        }
    }

    fn requeue(&self, txs: Vec<VerifiedTx>) {
        self.mempool.lock().requeue(txs);
        self.pending.notify_one();
    }

    fn execute_and_seal(
        &self,
        tip: &TipInfo,
        base: Vec<Arc<StateWrites>>,
        txs: &[VerifiedTx],
        time_ms: u64,
        proposer: &str,
        key: &PrivateKey,
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
        };
        let signed: Vec<pb::SignedTx> = txs.iter().map(|t| t.tx.clone()).collect();
        Ok((SealedBlock::seal(header, signed, Some(key)), exec))
    }

    /// Writes node metadata alone, synced (the raft mode's applied position for log
    /// entries that carry no block).
    pub fn record_meta(&self, entries: &[(&[u8], &[u8])]) -> Result<()> {
        Ok(self.store.put_meta_batch(entries)?)
    }

    /// Re-reads the tip after the store's content was replaced by a snapshot, and
    /// re-admits the waiting transactions against the new state (releasing the receipt
    /// waiters of those the snapshot already holds).
    pub fn reload(&self) -> Result<()> {
        let tip = self
            .store
            .tip()?
            .ok_or_else(|| ConsensusError::Corrupt("snapshot holds no blocks".into()))?;
        let raw = self.store.block(tip.height)?.ok_or_else(|| {
            ConsensusError::Corrupt(format!("snapshot lacks its tip block {}", tip.height))
        })?;
        let top = SealedBlock::decode(&raw)?;
        *self.tip.write() = TipInfo {
            header: top.header,
            hash: top.hash,
        };
        let built = self.built.lock().abandon(0);
        let mut mempool = self.mempool.lock();
        mempool.requeue(built);
        let mut waiters = self.waiters.lock();
        for t in mempool.clear() {
            if self.store.has_tx(&t.hash)? {
                if let (Some(w), Some(r)) = (waiters.remove(&t.hash), self.store.receipt(&t.hash)?)
                    && let Ok(r) = decode("receipt", &r)
                {
                    let _ = w.send(r);
                }
                continue;
            }
            let committed = self
                .admission
                .committed_nonce(&t.body.sender, &t.body.operator);
            if committed
                .and_then(|c| mempool.insert(t.clone(), c))
                .is_err()
            {
                waiters.remove(&t.hash);
            }
        }
        tracing::info!(height = tip.height, "chain reloaded from a snapshot");
        Ok(())
    }

    /// Copies of the waiting transactions (a follower forwards them to the leader).
    pub fn waiting_txs(&self) -> Vec<(Hash, pb::SignedTx)> {
        self.mempool
            .lock()
            .waiting()
            .map(|t| (t.hash, t.tx.clone()))
            .collect()
    }

    /// Applies a block another node proposed (a follower's path): checks that it extends
    /// the tip and carries a validator's signature, verifies every transaction, executes
    /// it and compares every root with the header, then commits it exactly as the
    /// proposer did. A block that is invalid the same way on every node is
    /// [`ApplyError::Rejected`] and writes nothing; a block this node executes to other
    /// roots is [`ApplyError::Diverged`]: the node must stop rather than serve that state.
    ///
    /// `leader` names the validator whose log entry carried the block: the proposer must
    /// be that validator. `meta` is written in the block's batch (the raft mode's applied
    /// log position).
    #[expect(
        clippy::too_many_lines,
        reason = "a block's import checks in their order; they move to the block importer when consensus goes behind a seam"
    )]
    pub fn apply_block(
        &self,
        raw: &[u8],
        leader: Option<&str>,
        meta: Vec<(Vec<u8>, Vec<u8>)>,
    ) -> std::result::Result<Arc<CommittedBlock>, ApplyError> {
        let reject = |why: String| ApplyError::Rejected(why);
        let sealed = SealedBlock::decode(raw).map_err(|e| reject(e.to_string()))?;
        let h = &sealed.header;
        let span = tracing::info_span!("apply", height = h.height, txs = h.tx_count);
        let _g = span.enter();
        let tip = self.tip();
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
        if raw.len() as u64 > params.max_block_bytes {
            return Err(reject(format!(
                "{} bytes, over max_block_bytes {}",
                raw.len(),
                params.max_block_bytes
            )));
        }
        if let Some(leader) = leader.filter(|l| *l != h.proposer) {
            return Err(reject(format!(
                "block proposed by '{}' in an entry of leader '{leader}'",
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
        // This node's own block: executed when it was built, commit it as it is. The
        // lock is held until the store and the tip have it, so that a block being built
        // finds its writes among the built blocks or in the store, never in neither.
        {
            let mut built = self.built.lock();
            if built.blocks.front().is_some_and(|b| b.hash == sealed.hash) {
                let mut b = built.blocks.pop_front().expect("checked");
                b.exec.writes = Arc::unwrap_or_clone(b.writes);
                return self
                    .commit(sealed, &b.txs, b.exec, meta)
                    .map_err(ApplyError::Node);
            }
        }
        // Transactions this node admitted itself were verified then; verify the rest, by
        // their bytes only: key, nonce and expiry are execution's to judge (a failed
        // receipt), so that every node decides the same whatever its mempool held.
        let hashes: Vec<Hash> = sealed
            .block
            .txs
            .iter()
            .map(|t| govchain_crypto::sm3(&t.body))
            .collect();
        let known = self.mempool.lock().find(&hashes.iter().copied().collect());
        let txs: Vec<VerifiedTx> = self
            .verify_pool
            .install(|| {
                use rayon::prelude::*;
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
                    .collect::<std::result::Result<_, TxError>>()
            })
            .map_err(|e| reject(format!("transaction: {e}")))?;
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
        let committed = self
            .commit(sealed, &txs, exec, meta)
            .map_err(ApplyError::Node)?;
        // Another proposer's block: whatever this node built extends what is no longer
        // the tip, and will not commit.
        self.abandon_built();
        Ok(committed)
    }

    /// Commits an executed block atomically, moves the tip, releases the mempool and
    /// the receipt waiters, and announces it.
    fn commit(
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

/// Checks the stored chain on start: block 0 carries this genesis, and the last blocks
/// (up to 64) link by hash and carry valid proposer signatures.
fn verify_stored_chain(store: &Store, genesis_hash: &Hash) -> Result<TipInfo> {
    let tip = store.tip()?.expect("caller checked");
    let load = |h: u64| -> Result<SealedBlock> {
        let raw = store.block(h)?.ok_or_else(|| {
            ConsensusError::Corrupt(format!("block {h} missing below tip {}", tip.height))
        })?;
        SealedBlock::decode(&raw)
    };
    let b0 = load(0)?;
    if b0.header.prev_hash != genesis_hash {
        return Err(ConsensusError::GenesisMismatch {
            expected: HashHex(genesis_hash).to_string(),
            found: HashHex(&b0.header.prev_hash).to_string(),
        });
    }
    let top = load(tip.height)?;
    if top.hash != tip.hash {
        return Err(ConsensusError::Corrupt(format!(
            "tip record names {} but block {} hashes to {}",
            HashHex(&tip.hash),
            tip.height,
            HashHex(&top.hash)
        )));
    }
    let mut child = top.clone();
    let lowest = tip.height.saturating_sub(64);
    while child.header.height > lowest {
        let v = store
            .read(&tables::VALIDATOR, &child.header.proposer)?
            .ok_or_else(|| {
                ConsensusError::Corrupt(format!(
                    "block {} proposed by unknown validator '{}'",
                    child.header.height, child.header.proposer
                ))
            })?;
        child.verify_signature(&v.public_key)?;
        let parent = load(child.header.height - 1)?;
        if child.header.prev_hash != parent.hash {
            return Err(ConsensusError::Corrupt(format!(
                "block {} does not link to block {}",
                child.header.height, parent.header.height
            )));
        }
        child = parent;
    }
    tracing::info!(height = tip.height, hash = %HashHex(&tip.hash), "resumed from stored tip");
    Ok(TipInfo {
        header: top.header,
        hash: top.hash,
    })
}

/// The connections `listener` accepts, with `TCP_NODELAY` set, for tonic's
/// `serve_with_incoming` (which ignores `Server::tcp_nodelay`). Without it a small
/// response waits for the peer's delayed ACK: about 40 ms per call on loopback, which
/// capped a paced client at one SubmitTxs and a raft leader at one append per 40 ms.
pub fn accept_nodelay(
    listener: tokio::net::TcpListener,
) -> impl futures::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    use futures::StreamExt;
    tokio_stream::wrappers::TcpListenerStream::new(listener).map(|conn| {
        let conn = conn?;
        conn.set_nodelay(true)?;
        Ok(conn)
    })
}
