//! The `Consensus` gRPC service: what peers send this node. Every call is admitted by
//! the caller's certificate (a node of the validator or observer set); a message that
//! names a validator is accepted only from that validator's connection, so one node
//! cannot speak for another even with a valid signature replayed from it. Malformed
//! messages are dropped with a log line naming the peer; nothing a peer sends can stop
//! this node.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::mpsc;
use tonic::{Request, Response, Status};

use super::wire::{Inbound, cpb, inbound};
use crate::Chain;
use crate::peer::PeerGate;

/// Most decided blocks served by one `GetBlocks` call.
pub(crate) const MAX_BLOCKS_PER_CALL: u32 = 64;
/// Most bytes of blocks served by one `GetBlocks` call (below the message limit).
const MAX_BLOCKS_BYTES: usize = 32 << 20;

/// The service's share of the node: where accepted messages go.
pub(crate) struct ConsensusService {
    pub(crate) chain: Arc<Chain>,
    pub(crate) gate: PeerGate,
    /// To the engine: (sender's node id, message).
    pub(crate) inbox: mpsc::Sender<(String, Inbound)>,
    /// When a drop was last logged, per peer (to log, not flood).
    dropped: Mutex<std::collections::HashMap<String, Instant>>,
}

impl ConsensusService {
    pub(crate) fn new(chain: Arc<Chain>, inbox: mpsc::Sender<(String, Inbound)>) -> Self {
        ConsensusService {
            chain,
            gate: PeerGate::default(),
            inbox,
            dropped: Mutex::default(),
        }
    }

    /// The node ids that may call: validators and observers in the committed state.
    fn members(&self) -> Vec<String> {
        govchain_state::query::validators(self.chain.store())
            .map(|v| v.into_iter().map(|v| v.id).collect())
            .unwrap_or_default()
    }

    fn admit<T>(&self, req: &Request<T>) -> Result<String, Status> {
        self.gate.admit(req, &self.members())
    }

    /// Logs a dropped message, at most once a second per peer.
    fn drop_message(&self, peer: &str, why: &str) {
        let mut last = self.dropped.lock();
        let now = Instant::now();
        if last
            .get(peer)
            .is_none_or(|t| now.duration_since(*t) > Duration::from_secs(1))
        {
            last.insert(peer.to_string(), now);
            tracing::warn!(%peer, reason = why, "dropping a consensus message");
        }
    }
}

impl std::fmt::Debug for ConsensusService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsensusService").finish_non_exhaustive()
    }
}

#[tonic::async_trait]
impl cpb::consensus_server::Consensus for ConsensusService {
    async fn deliver(&self, req: Request<cpb::Batch>) -> Result<Response<cpb::Delivered>, Status> {
        let peer = self.admit(&req)?;
        let chain_id = self.chain.chain_id();
        for m in req.into_inner().messages {
            let msg = match inbound(chain_id, m) {
                Ok(msg) => msg,
                Err(e) => {
                    self.drop_message(&peer, &format!("malformed: {e}"));
                    continue;
                }
            };
            if let Some(author) = msg.author()
                && author != peer
            {
                self.drop_message(
                    &peer,
                    &format!("it names validator '{author}', not the sender"),
                );
                continue;
            }
            if self.inbox.try_send((peer.clone(), msg)).is_err() {
                self.drop_message(&peer, "the engine's inbox is full");
            }
        }
        Ok(Response::new(cpb::Delivered {}))
    }

    async fn forward(
        &self,
        req: Request<cpb::ForwardRequest>,
    ) -> Result<Response<cpb::ForwardResponse>, Status> {
        let peer = self.admit(&req)?;
        let txs = crate::decode_forwarded(&req.into_inner().txs).map_err(|e| {
            self.drop_message(&peer, &e);
            Status::invalid_argument(e)
        })?;
        // Not passed on again: every peer gets them from the node they were submitted to.
        let n = txs.len();
        let admitted = self.chain.admit_forwarded(txs).await;
        tracing::debug!(%peer, txs = n, admitted, "admitted transactions passed on");
        Ok(Response::new(cpb::ForwardResponse { admitted }))
    }

    async fn get_blocks(
        &self,
        req: Request<cpb::GetBlocksRequest>,
    ) -> Result<Response<cpb::GetBlocksResponse>, Status> {
        self.admit(&req)?;
        let r = req.into_inner();
        let tip = self.chain.tip().header.height;
        let mut blocks = Vec::new();
        let mut bytes = 0;
        let from = r.from.max(1);
        let count = u64::from(r.max.clamp(1, MAX_BLOCKS_PER_CALL));
        for h in from..=tip.min(from.saturating_add(count - 1)) {
            let Some(raw) = self
                .chain
                .store()
                .block(h)
                .map_err(|e| Status::internal(e.to_string()))?
            else {
                break;
            };
            bytes += raw.len();
            if bytes > MAX_BLOCKS_BYTES && !blocks.is_empty() {
                break;
            }
            blocks.push(raw);
        }
        #[cfg(feature = "byzantine")]
        let blocks = super::byzantine::served(blocks);
        Ok(Response::new(cpb::GetBlocksResponse { blocks }))
    }
}
