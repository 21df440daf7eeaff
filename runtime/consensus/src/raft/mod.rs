//! The `raft` ordering mode: validators replicate a log of blocks with openraft
//! (`docs/design/raft.md`). The leader cuts blocks from its mempool and appends them;
//! every node (the leader too) applies committed entries by executing the block and
//! comparing its roots with the header; followers forward their clients' transactions
//! to the leader; observers are non-voting learners; membership follows the validator
//! set that governance commits.

// openraft's storage and RPC traits return its own (large) error types by value.
#![allow(clippy::result_large_err)]

mod codec;
mod driver;
mod log_store;
mod network;
mod service;
mod state_machine;
mod transfer;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use govchain_crypto::PrivateKey;
use govchain_store::RaftLog;
use openraft::{Config, Raft, SnapshotPolicy};
use serde::{Deserialize, Serialize};
use tonic::transport::Server;

pub use state_machine::{CheckpointDir, StateMachine};

pub use crate::peer::TlsFiles;

use crate::Chain;

/// Generated messages and service of `proto/govchain/v1/raft.proto`.
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/govchain.v1.raft.rs"));
}

/// A member of the Raft membership.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaftNode {
    /// Validator (node) id; its TLS certificate is issued to this name.
    pub validator_id: String,
    /// host:port of its Raft endpoint.
    pub raft_addr: String,
}

/// The application data of a log entry: an encoded, signed block.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BlockProposal(pub Vec<u8>);

/// What applying an entry gave.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ApplyResult {
    /// No block in the entry (blank or membership).
    Noop,
    /// The block was committed.
    Committed {
        /// Its height.
        height: u64,
        /// Its hash.
        hash: [u8; 32],
    },
    /// The block was invalid (the same on every node) and was skipped.
    Rejected {
        /// Why.
        reason: String,
    },
}

openraft::declare_raft_types!(
    /// openraft's type configuration for govchain.
    pub GovRaft:
        D = BlockProposal,
        R = ApplyResult,
        NodeId = u64,
        Node = RaftNode,
        Entry = openraft::Entry<GovRaft>,
        SnapshotData = CheckpointDir,
);

type Entry = openraft::Entry<GovRaft>;

/// Settings of the raft mode.
#[derive(Debug, Clone)]
pub struct RaftSettings {
    /// This node's Raft id.
    pub raft_id: u64,
    /// This node's validator id.
    pub validator_id: String,
    /// Address to listen on for Raft traffic.
    pub listen: SocketAddr,
    /// TLS identity.
    pub tls: TlsFiles,
    /// Directory of the Raft log and snapshots.
    pub dir: PathBuf,
    /// Longest wait between a transaction's arrival and its block.
    pub interval: Duration,
    /// Most transactions per block.
    pub max_txs: usize,
    /// Build a snapshot every this many log entries.
    pub snapshot_every: u64,
    /// Log entries kept behind a snapshot (followers that lag more catch up by snapshot).
    pub keep_logs: u64,
    /// Leader heartbeat, ms.
    pub heartbeat_ms: u64,
    /// Election timeout range, ms.
    pub election_ms: (u64, u64),
}

/// A running raft engine.
pub struct RaftHandle {
    raft: Raft<GovRaft>,
    tasks: tokio::task::JoinSet<crate::Result<()>>,
}

impl std::fmt::Debug for RaftHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftHandle").finish_non_exhaustive()
    }
}

impl RaftHandle {
    /// Waits until the engine stops; an error if it failed (a storage error or a
    /// diverged state stops it). A task that ends quietly because Raft stopped does
    /// not hide the reason another task reports.
    pub async fn wait(&mut self) -> crate::Result<()> {
        crate::join_engine(&mut self.tasks, "raft").await
    }

    /// Stops Raft and its tasks.
    pub async fn shutdown(mut self) {
        self.tasks.abort_all();
        let _ = self.raft.shutdown().await;
    }
}

use crate::replication as err;

/// The address outgoing Raft connections leave from: the listen address's IP, unless
/// the node listens on every address.
pub(crate) fn local_ip(listen: &SocketAddr) -> Option<std::net::IpAddr> {
    Some(listen.ip()).filter(|ip| !ip.is_unspecified())
}

/// The membership nodes of the validator set in the committed state: every validator
/// and observer with a Raft id.
pub(crate) fn state_nodes(chain: &Chain) -> crate::Result<BTreeMap<u64, (RaftNode, bool)>> {
    Ok(govchain_state::query::validators(chain.store())?
        .into_iter()
        .filter(|v| v.raft_id != 0)
        .map(|v| {
            (
                v.raft_id,
                (
                    RaftNode {
                        validator_id: v.id,
                        raft_addr: v.raft_addr,
                    },
                    v.observer,
                ),
            )
        })
        .collect())
}

/// Starts Raft on `chain`: opens the log, serves the Raft service on `settings.listen`
/// with mutual TLS, initializes a pristine cluster with the genesis validators, and
/// runs the leader, forwarding and membership tasks.
pub async fn start(
    chain: Arc<Chain>,
    key: PrivateKey,
    settings: RaftSettings,
) -> crate::Result<RaftHandle> {
    let config = Config {
        cluster_name: chain.chain_id().to_string(),
        heartbeat_interval: settings.heartbeat_ms,
        election_timeout_min: settings.election_ms.0,
        election_timeout_max: settings.election_ms.1,
        install_snapshot_timeout: 120_000,
        max_payload_entries: 16,
        replication_lag_threshold: 16,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(settings.snapshot_every),
        max_in_snapshot_log_to_keep: settings.keep_logs,
        purge_batch_size: 256,
        ..Default::default()
    };
    let config = Arc::new(config.validate().map_err(|e| err("raft config", e))?);
    let log = RaftLog::open(&settings.dir.join("log"))?;
    let sm = state_machine::StateMachine::open(chain.clone(), settings.dir.join("snapshots"))
        .map_err(|e| err("raft state machine", e))?;
    let client_tls = settings.tls.client();
    let network = network::Network {
        tls: client_tls.clone(),
        local: local_ip(&settings.listen),
    };
    let raft = Raft::new(
        settings.raft_id,
        config,
        network,
        log_store::LogStore::new(log),
        sm,
    )
    .await
    .map_err(|e| err("starting raft", e))?;

    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|e| err(&format!("binding raft address {}", settings.listen), e))?;
    let addr = listener.local_addr().map_err(|e| err("raft address", e))?;
    let service =
        pb::raft_server::RaftServer::new(service::RaftService::new(raft.clone(), chain.clone()))
            .max_decoding_message_size(network::MAX_MESSAGE)
            .max_encoding_message_size(network::MAX_MESSAGE);
    let server = Server::builder()
        .tls_config(settings.tls.server())
        .map_err(|e| err("raft TLS", e))?
        .add_service(service)
        .serve_with_incoming(crate::accept_nodelay(listener));

    if !raft.is_initialized().await.map_err(|e| err("raft", e))? {
        let nodes = state_nodes(&chain)?;
        let voters: BTreeMap<u64, RaftNode> = nodes
            .iter()
            .filter(|(_, (_, observer))| !observer)
            .map(|(id, (n, _))| (*id, n.clone()))
            .collect();
        // Only a genesis voter starting on an untouched chain initializes; every such
        // node proposes the same membership, so it does not matter who goes first. A
        // node added later (or an observer) waits for the leader to add it.
        if chain.tip().header.height == 0 && voters.contains_key(&settings.raft_id) {
            match raft.initialize(voters).await {
                Ok(()) => tracing::info!("raft cluster initialized with the genesis validators"),
                Err(e) => tracing::info!(reason = %e, "raft cluster already initialized"),
            }
        }
    }

    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(async move { server.await.map_err(|e| err("raft server stopped", e)) });
    let ctx = Arc::new(driver::Driver {
        raft: raft.clone(),
        chain,
        key,
        settings,
        client_tls,
    });
    tasks.spawn(ctx.clone().watch_metrics());
    tasks.spawn(ctx.clone().lead());
    tasks.spawn(ctx.clone().forward());
    tasks.spawn(ctx.reconcile());
    tracing::info!(%addr, "raft started");
    Ok(RaftHandle { raft, tasks })
}
