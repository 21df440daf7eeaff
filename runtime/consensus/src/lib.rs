//! Block ordering for govchain.
//!
//! [`Chain`] is the part every consensus mode shares: admission of signed transactions
//! (signatures verified once, in parallel), the mempool, and three steps an ordering
//! engine drives without touching execution:
//!
//! - the **builder** (`builder.rs`): [`Chain::build_block`] executes waiting transactions
//!   as the next block and seals it with the proposer's key, without committing it (a
//!   proposal); [`Chain::produce_block`] builds and commits at once (solo);
//! - the **importer** (`import.rs`): [`Chain::import`] checks a proposed block (extends
//!   the tip, limits, the proposer's signature), verifies its transactions and executes
//!   it to the header's roots, writing nothing: the validity an engine votes on;
//! - the **committer** (`commit.rs`): [`Chain::commit_imported`] writes a decided block
//!   atomically with what decided it (`meta`), moves the tip, releases waiters and
//!   announces it to subscribers.
//!
//! An engine decides *which* block comes next and when: [`solo`] (one validator, `govchain
//! dev`) and [`bft`] (Tendermint among the validators: it proposes with the builder,
//! votes on what the importer accepts and commits with the committer). The stored chain
//! is checked when the node starts.

pub mod bft;
mod block;
mod builder;
mod commit;
mod import;
mod mempool;
mod peer;
pub mod solo;

use std::collections::HashMap;
use std::sync::Arc;

use govchain_state::{Admission, Executor, Genesis, tables};
use govchain_store::{BlockCommit, Store};
use govchain_types::{ExecError, Hash, HashHex, NodeError, TxError, decode, pb};
use parking_lot::{Mutex, RwLock};
use tokio::sync::{Notify, broadcast, oneshot, watch};

/// Transactions whose signatures are verified together (one shared field inversion,
/// `govchain_crypto::fastverify`); chunks of this size also spread over the cores.
const VERIFY_BATCH: usize = 32;

pub use block::SealedBlock;
use builder::BuiltBlocks;
pub use import::Imported;
pub use mempool::Mempool;
pub use peer::TlsFiles;

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
    /// Replication could not start or stopped (its address, TLS).
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

/// What admission made of one transaction: its hash and, when the caller waits, a
/// receiver of its receipt; or why it was refused.
pub type Admitted = std::result::Result<(Hash, Option<oneshot::Receiver<pb::Receipt>>), ExecError>;

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
    /// Most transactions one account may have in the mempool.
    pub mempool_per_account: usize,
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
    /// The blocks this node built as proposer, executed, until they are decided.
    built: Mutex<BuiltBlocks>,
    /// Counts admissions, for tasks other than the block producer that follow them.
    admissions: watch::Sender<u64>,
    /// The transactions this node's clients submitted, in admission order, for the
    /// task that passes them on to the peers; `None` while no task does (solo).
    outbox: Mutex<Option<Vec<(Hash, pb::SignedTx)>>>,
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
                    validators_hash: exec.validators_hash.to_vec(),
                    next_validators_hash: exec.next_validators_hash.to_vec(),
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
            Some(_) => verify_stored_chain(&store, &genesis_hash, genesis)?,
        };
        let admission = Admission::new(store.clone())?;
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Arc::new(Chain {
            admission,
            executor,
            genesis_hash,
            mempool: Mutex::new(Mempool::new(
                config.mempool_capacity,
                config.mempool_per_account,
            )),
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
            outbox: Mutex::new(None),
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
    pub fn next_nonce(&self, dept: &str, operator: &str) -> std::result::Result<u64, ExecError> {
        Ok(self.nonces(dept, operator)?.0)
    }

    /// The account's next nonce counting its transactions in the mempool, and after its
    /// committed transactions only.
    pub fn nonces(&self, dept: &str, operator: &str) -> std::result::Result<(u64, u64), ExecError> {
        let mempool = self.mempool.lock();
        let committed = self.admission.committed_nonce(dept, operator)?;
        let label = govchain_types::account_label(dept, operator);
        Ok((mempool.next_nonce(&label, committed), committed))
    }

    /// Admits a batch: signatures are verified in parallel on all cores, then the
    /// transactions enter the mempool in the given order. One result per transaction.
    /// With `wait`, each admitted transaction also gets a receiver of its receipt.
    pub async fn submit(self: &Arc<Self>, txs: Vec<pb::SignedTx>, wait: bool) -> Vec<Admitted> {
        self.admit(txs, wait, true).await
    }

    /// Admits a batch; `pass_on`: the transactions came from this node's clients, and
    /// what is admitted goes to the outbox (in the order the mempool took it).
    async fn admit(
        self: &Arc<Self>,
        txs: Vec<pb::SignedTx>,
        wait: bool,
        pass_on: bool,
    ) -> Vec<Admitted> {
        let this = self.clone();
        let (tx, rx) = oneshot::channel();
        self.verify_pool.spawn(move || {
            use rayon::prelude::*;
            let next_height = this.tip.read().header.height + 1;
            // A transaction this node already holds or committed (a peer passed it on
            // after a block carried it here) is a duplicate: answered without its
            // signatures verified a second time.
            let held = this.held(&txs);
            let fresh: Vec<pb::SignedTx> = txs
                .into_iter()
                .zip(&held)
                .filter(|(_, h)| h.is_none())
                .map(|(t, _)| t)
                .collect();
            let mut checked = fresh
                .into_par_iter()
                .chunks(VERIFY_BATCH)
                .flat_map_iter(|c| this.admission.check_batch(c, next_height))
                .collect::<Vec<_>>()
                .into_iter();
            let all: Vec<_> = held
                .into_iter()
                .map(|h| match h {
                    Some(err) => Err(err),
                    None => checked.next().expect("one result per fresh transaction"),
                })
                .collect();
            let _ = tx.send(all);
        });
        let checked = rx.await.unwrap_or_default();
        let mut out = Vec::with_capacity(checked.len());
        let mut admitted = false;
        {
            let mut mempool = self.mempool.lock();
            let mut outbox = self.outbox.lock();
            let outbox = outbox.as_mut().filter(|_| pass_on);
            let mut passed = Vec::new();
            for c in checked {
                out.push(c.and_then(|v| {
                    let hash = v.hash;
                    if self
                        .store
                        .has_tx(&hash)
                        .map_err(|e| ExecError::from(NodeError::new(e)))?
                    {
                        return Err(TxError::Duplicate {
                            tx_hash: HashHex(&hash).to_string(),
                        }
                        .into());
                    }
                    let committed = self
                        .admission
                        .committed_nonce(&v.body.sender, &v.body.operator)?;
                    let copy = outbox.is_some().then(|| v.tx.clone());
                    mempool.insert(v, committed)?;
                    // Only once admitted: a resubmitted duplicate must not replace (and
                    // so close) the first client's wait.
                    let receiver = wait.then(|| {
                        let (s, r) = oneshot::channel();
                        self.waiters.lock().insert(hash, s);
                        r
                    });
                    admitted = true;
                    passed.extend(copy.map(|t| (hash, t)));
                    Ok((hash, receiver))
                }));
            }
            if let Some(o) = outbox {
                o.extend(passed);
            }
        }
        if admitted {
            self.pending.notify_one();
            self.admissions.send_modify(|n| *n += 1);
        }
        out
    }

    /// For each transaction, the error it gets if this node already committed it or
    /// holds it in the mempool (`None`: not seen here; admission judges it).
    fn held(&self, txs: &[pb::SignedTx]) -> Vec<Option<ExecError>> {
        let hashes: Vec<Hash> = txs.iter().map(|t| govchain_crypto::sm3(&t.body)).collect();
        let committed: Vec<_> = hashes.iter().map(|h| self.store.has_tx(h)).collect();
        let mempool = self.mempool.lock();
        hashes
            .iter()
            .zip(committed)
            .map(|(h, committed)| match committed {
                Ok(false) if !mempool.holds(h) => None,
                Ok(_) => Some(
                    TxError::Duplicate {
                        tx_hash: HashHex(h).to_string(),
                    }
                    .into(),
                ),
                Err(e) => Some(ExecError::from(NodeError::new(e))),
            })
            .collect()
    }

    /// Memory and counts of admission's SM2 verification tables.
    pub fn key_table_stats(&self) -> govchain_crypto::fastverify::KeyTableStats {
        self.admission.key_table_stats()
    }

    /// Follows admissions (any number of followers, unlike [`Chain::admitted`]).
    pub fn admissions(&self) -> watch::Receiver<u64> {
        self.admissions.subscribe()
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

    /// Starts keeping the transactions this node's clients submit for the task that
    /// passes them on ([`Chain::take_outbox`]).
    pub fn open_outbox(&self) {
        self.outbox.lock().get_or_insert_with(Vec::new);
    }

    /// The transactions this node's clients submitted since the last call, in the
    /// order they were admitted (so each account's nonces are in order).
    pub fn take_outbox(&self) -> Vec<(Hash, pb::SignedTx)> {
        self.outbox
            .lock()
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }
}

/// Checks the stored chain on start: block 0 carries this genesis, and the last blocks
/// (up to 64) link by hash and carry valid proposer signatures, each checked with the
/// proposer's key in force at its height (a validator's key replaced, or the validator
/// removed, since then does not make its earlier blocks look forged).
fn verify_stored_chain(store: &Store, genesis_hash: &Hash, genesis: &Genesis) -> Result<TipInfo> {
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
    let changes = store
        .scan(&tables::SET_CHANGE, tables::SET_CHANGE.all(), None)
        .collect::<std::result::Result<Vec<_>, _>>()?;
    while child.header.height > lowest {
        let (h, proposer) = (child.header.height, child.header.proposer.as_str());
        // The set that decided height h: the last change below it, else genesis's.
        let key = match changes.iter().rev().find(|(c, _)| *c < h) {
            Some((_, set)) => set
                .validators
                .iter()
                .find(|v| v.id == proposer)
                .map(|v| v.public_key.clone()),
            None => genesis
                .validators
                .iter()
                .find(|v| v.id == proposer && !v.observer)
                .and_then(|v| hex::decode(&v.public_key).ok()),
        }
        .ok_or_else(|| {
            ConsensusError::Corrupt(format!(
                "block {h} proposed by '{proposer}', not a validator at that height"
            ))
        })?;
        child.verify_signature(&key)?;
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

/// Waits until an engine's tasks stop; the first error any of them reports (a storage
/// error or a diverged state stops an engine), or a panic, as `engine`'s failure. A task
/// that ends quietly does not hide the reason another task reports.
pub(crate) async fn join_engine(
    tasks: &mut tokio::task::JoinSet<Result<()>>,
    engine: &str,
) -> Result<()> {
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(e) => return Err(replication(&format!("{engine} task panicked"), e)),
        }
    }
    Ok(())
}

/// A replication failure: what failed, and why.
pub(crate) fn replication(what: &str, e: impl std::fmt::Display) -> ConsensusError {
    ConsensusError::Replication(format!("{what}: {e}"))
}

/// The transactions a peer passed on (encoded `SignedTx`s): all decoded, or an error
/// naming what is wrong.
pub(crate) fn decode_forwarded(raw: &[Vec<u8>]) -> std::result::Result<Vec<pb::SignedTx>, String> {
    raw.iter()
        .map(|r| decode::<pb::SignedTx>("transaction", r))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| format!("forwarded transaction: {e}"))
}

impl Chain {
    /// Admits transactions a peer passed on; how many were admitted (the rest this node
    /// had already, or refused).
    pub async fn admit_forwarded(self: &Arc<Self>, txs: Vec<pb::SignedTx>) -> u32 {
        let admitted = self.admit(txs, false, false).await;
        if let Some(Err(e)) = admitted.iter().find(|r| r.is_err()) {
            tracing::debug!(error = %e, "a transaction passed on is refused");
        }
        admitted.iter().filter(|r| r.is_ok()).count() as u32
    }
}

/// The connections `listener` accepts, with `TCP_NODELAY` set, for tonic's
/// `serve_with_incoming` (which ignores `Server::tcp_nodelay`). Without it a small
/// response waits for the peer's delayed ACK: about 40 ms per call on loopback, which
/// capped a paced client at one SubmitTxs per 40 ms.
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
