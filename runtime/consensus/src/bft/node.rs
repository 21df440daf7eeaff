//! The BFT engine as a node runs it: Malachite's core ([`Core`]) driven by one task
//! that owns it. The task feeds it what peers send (through the `Consensus` service),
//! its timers and the importer's verdicts, and carries out what it asks: messages to
//! every peer, blocks built and streamed, decided blocks committed with their
//! certificates. Nothing a peer sends is trusted as it comes: votes and proposals are
//! checked by signature, blocks by the importer, decided blocks fetched in catch-up by
//! their commit certificates.
//!
//! A height starts when there is something to order (a waiting transaction, or a peer's
//! message for it): an idle chain makes no empty blocks.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use govchain_crypto::SharedSigner;
use govchain_proof::commit::ValidatorSet;
use govchain_proof::evidence::{Offence, check_evidence};
use govchain_types::pb;
use malachite_consensus::Input;
use malachite_types::LinearTimeouts;
use tokio::sync::mpsc;
use tonic::transport::Server;

use super::context::{Gov, Validators};
use super::core::{Core, Signed};
use super::engine::Engine;
use super::health::Health;
use super::links::{Links, MAX_MESSAGE};
use super::service::ConsensusService;
use super::wire::cpb;
use super::{pass_on, wal};
use crate::peer::TlsFiles;
use crate::{Chain, ConsensusError};

/// Where the double-signing guard's record is kept (store metadata).
const SIGNED_KEY: &[u8] = b"bft/signed";

/// Settings of the BFT engine.
#[derive(Debug, Clone)]
pub struct BftSettings {
    /// This node's validator id.
    pub validator_id: String,
    /// Address to listen on for node-to-node traffic.
    pub listen: SocketAddr,
    /// TLS identity.
    pub tls: TlsFiles,
    /// Longest wait between a transaction's arrival and the block a proposer builds.
    pub interval: Duration,
    /// Most transactions per block.
    pub max_txs: usize,
    /// How long validators wait for a round's proposal before prevoting nil.
    pub propose_timeout: Duration,
    /// How long validators wait for the rest of a round's votes once more than 2/3
    /// voted.
    pub vote_timeout: Duration,
    /// How much each timeout grows per round of a height.
    pub round_increase: Duration,
    /// How far ahead of this node's clock a proposed block's time may be.
    pub max_clock_drift: Duration,
}

/// Evidence of equivocation the engine caught, with what it proves (checked).
pub type Caught = (Offence, pb::Evidence);

/// Most caught equivocations waiting for the node to report them.
const CAUGHT_QUEUE: usize = 256;

/// A running BFT engine.
#[derive(Debug)]
pub struct BftHandle {
    tasks: tokio::task::JoinSet<crate::Result<()>>,
    caught: Option<mpsc::Receiver<Caught>>,
    health: Arc<Health>,
}

impl BftHandle {
    /// The equivocations the engine catches, for the node to put on chain (once; later
    /// calls get `None`).
    pub fn caught(&mut self) -> Option<mpsc::Receiver<Caught>> {
        self.caught.take()
    }

    /// The engine's health (height, round, peers), for `status` and the metrics.
    pub fn health(&self) -> Arc<Health> {
        self.health.clone()
    }

    /// Waits until the engine stops; an error if it failed.
    pub async fn wait(&mut self) -> crate::Result<()> {
        crate::join_engine(&mut self.tasks, "consensus").await
    }

    /// Stops the engine's tasks.
    pub fn shutdown(mut self) {
        self.tasks.abort_all();
    }
}

pub(super) use crate::replication as err;

/// Starts the BFT engine on `chain`: serves the `Consensus` service on
/// `settings.listen` with mutual TLS, links to every peer, and runs the engine.
pub async fn start(
    chain: Arc<Chain>,
    key: SharedSigner,
    settings: BftSettings,
) -> crate::Result<BftHandle> {
    #[cfg(feature = "byzantine")]
    super::byzantine::fault();
    let mut tasks = tokio::task::JoinSet::new();
    let (inbox_tx, inbox) = mpsc::channel(16_384);
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|e| err(&format!("binding consensus address {}", settings.listen), e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| err("consensus address", e))?;
    let service =
        cpb::consensus_server::ConsensusServer::new(ConsensusService::new(chain.clone(), inbox_tx))
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE);
    let server = Server::builder()
        .tls_config(settings.tls.server())
        .map_err(|e| err("consensus TLS", e))?
        .add_service(service)
        .serve_with_incoming(crate::accept_nodelay(listener));
    tasks.spawn(async move { server.await.map_err(|e| err("consensus server stopped", e)) });
    let local = Some(settings.listen.ip()).filter(|ip| !ip.is_unspecified());
    let health = Arc::new(Health::default());
    let links = Links::open(
        &chain,
        &settings.validator_id,
        settings.tls.client(),
        local,
        health.clone(),
    )?;
    tasks.spawn(pass_on::gossip(chain.clone(), links.shared()));
    let (caught_tx, caught) = mpsc::channel(CAUGHT_QUEUE);
    let engine = Engine::new(chain, key, settings, links, inbox, caught_tx)?;
    tasks.spawn(engine.run());
    tracing::info!(%addr, "BFT consensus started");
    Ok(BftHandle {
        tasks,
        caught: Some(caught),
        health,
    })
}

/// The voting validators in the committed state: the set in force at the next height.
pub(super) fn voting_set(chain: &Chain) -> crate::Result<ValidatorSet> {
    let o = govchain_state::Overlay::new(chain.store().clone());
    govchain_state::voting_set(&o).map_err(|e| ConsensusError::Corrupt(e.to_string()))
}

/// A core at `height`, its signing guarded by what this node recorded it signed.
pub(super) fn new_core(
    chain: &Arc<Chain>,
    settings: &BftSettings,
    key: &SharedSigner,
    height: u64,
    set: &ValidatorSet,
) -> crate::Result<Core> {
    let signed = chain
        .store()
        .get(govchain_store::Column::Meta, SIGNED_KEY)?
        .and_then(|b| Signed::decode(&b))
        .unwrap_or_default();
    let store = chain.store().clone();
    let log = chain.store().clone();
    // The next sequence number at a height: after every entry a restart found there
    // (counted, not decoded: the engine decodes them once, to replay them).
    let kept = chain
        .store()
        .scan_prefix(govchain_store::Column::Meta, wal::height_key(height), None)
        .count();
    let mut next = (height, kept as u32);
    let append: wal::Sink = Box::new(move |h, bytes| {
        if h != next.0 {
            next = (h, 0);
        }
        log.append_meta(&wal::key(h, next.1), bytes)
            .map_err(|e| e.to_string())?;
        next.1 += 1;
        Ok(())
    });
    Ok(Core::new(
        chain.chain_id(),
        &settings.validator_id,
        key.clone(),
        height,
        Validators::from_set(set),
    )
    .with_timeouts(LinearTimeouts {
        propose: settings.propose_timeout,
        propose_delta: settings.round_increase,
        prevote: settings.vote_timeout,
        prevote_delta: settings.round_increase,
        precommit: settings.vote_timeout,
        precommit_delta: settings.round_increase,
        ..LinearTimeouts::default()
    })
    .with_guard(
        signed,
        Box::new(move |s: &Signed| {
            store
                .put_meta_batch(&[(SIGNED_KEY, &s.encode())])
                .map_err(|e| e.to_string())
        }),
    )
    .with_wal(append))
}

/// What this node's write-ahead log kept of `height`, in order: the inputs a restart
/// replays. Stops at an entry that does not decode (with a log line): what precedes it
/// is still this node's state.
pub(super) fn wal_entries(chain: &Chain, height: u64) -> crate::Result<Vec<Input<Gov>>> {
    let mut entries = Vec::new();
    for kv in chain
        .store()
        .scan_prefix(govchain_store::Column::Meta, wal::height_key(height), None)
    {
        let (_, bytes) = kv?;
        match wal::decode(chain.chain_id(), &bytes) {
            Ok(input) => entries.push(input),
            Err(e) => {
                tracing::error!(height, entry = entries.len(), error = %e, "write-ahead log entry unreadable: replaying the entries before it");
                break;
            }
        }
    }
    Ok(entries)
}

/// Drops the write-ahead log of the heights below `height` (they are decided).
pub(super) fn clear_wal_below(chain: &Chain, height: u64) -> crate::Result<()> {
    Ok(chain
        .store()
        .delete_meta_range(wal::PREFIX, &wal::height_key(height))?)
}

pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Hands what the core caught to the node through `caught`, checked as execution will
/// check it.
pub(super) fn hand_over(
    caught: &mpsc::Sender<Caught>,
    chain_id: &str,
    set: &ValidatorSet,
    equivocations: Vec<pb::Evidence>,
) {
    for ev in equivocations {
        match check_evidence(chain_id, set, &ev) {
            Ok(offence) => {
                tracing::warn!(
                    validator = %offence.validator,
                    height = offence.height,
                    round = offence.round,
                    step = offence.step,
                    "caught a validator signing two contradicting messages"
                );
                if caught.try_send((offence, ev)).is_err() {
                    tracing::warn!("evidence queue full: this equivocation is not reported");
                }
            }
            Err(e) => tracing::warn!(error = %e, "equivocation the chain would not accept"),
        }
    }
}
