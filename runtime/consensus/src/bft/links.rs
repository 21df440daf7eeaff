//! The client side: one link per peer carries this node's consensus messages in the
//! order they were sent (batched, over mutual TLS to the certificate of the node id the
//! chain registers); transactions go over the same clients (`pass_on.rs`). A peer that is down
//! loses what was sent meanwhile: consensus recovers it with its timeouts, round
//! synchronisation and catch-up, so nothing waits for a peer. The links follow the
//! committed set: a node governance adds is linked at the next height, one it removes
//! is unlinked.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;
use tokio::sync::mpsc;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use super::health::Health;
use super::wire::cpb::{self, consensus_client::ConsensusClient};
use crate::Chain;

/// Largest gRPC message either way between nodes.
pub(crate) const MAX_MESSAGE: usize = 64 << 20;
/// Messages waiting for one peer before more are dropped.
const QUEUE: usize = 4096;
/// Messages sent in one call.
const BATCH: usize = 256;

/// A gRPC client of a peer's `Consensus` service at `addr`, whose certificate must name
/// node `id`.
pub(crate) fn connect(
    id: &str,
    addr: &str,
    tls: &ClientTlsConfig,
    local: Option<IpAddr>,
) -> Result<ConsensusClient<Channel>, String> {
    let endpoint = Endpoint::from_shared(format!("https://{addr}"))
        .map_err(|e| format!("address of '{id}' ({addr}): {e}"))?
        .tls_config(tls.clone().domain_name(id.to_string()))
        .map_err(|e| format!("TLS for '{id}': {e}"))?
        .local_address(local)
        .connect_timeout(Duration::from_secs(1))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(10));
    Ok(ConsensusClient::new(endpoint.connect_lazy())
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE))
}

/// One peer.
#[derive(Debug, Clone)]
pub(crate) struct Peer {
    pub(crate) id: String,
    pub(crate) addr: String,
    pub(crate) client: ConsensusClient<Channel>,
    queue: mpsc::Sender<cpb::Message>,
}

/// The peers linked now, shared with the task that passes transactions on.
pub(crate) type Peers = Arc<RwLock<Vec<Peer>>>;

/// The links to every peer.
#[derive(Debug)]
pub(crate) struct Links {
    me: String,
    tls: ClientTlsConfig,
    local: Option<IpAddr>,
    peers: Peers,
    /// What the peers' deliveries show, for `status` and the metrics.
    pub(crate) health: Arc<Health>,
}

impl Links {
    /// Links to the validators and observers the committed state registers with an
    /// address, except `me`.
    pub(crate) fn open(
        chain: &Chain,
        me: &str,
        tls: ClientTlsConfig,
        local: Option<IpAddr>,
        health: Arc<Health>,
    ) -> crate::Result<Links> {
        let links = Links {
            me: me.to_string(),
            tls,
            local,
            peers: Peers::default(),
            health,
        };
        links.follow(chain)?;
        Ok(links)
    }

    /// Makes the links match the committed set: a node added is linked, one removed
    /// (or moved to another address) unlinked, its sending task ending with its queue.
    pub(crate) fn follow(&self, chain: &Chain) -> crate::Result<()> {
        let nodes: Vec<(String, String)> = govchain_state::query::validators(chain.store())?
            .into_iter()
            .filter(|v| v.id != self.me && !v.addr.is_empty())
            .map(|v| (v.id, v.addr))
            .collect();
        let mut peers = self.peers.write();
        peers.retain(|p| {
            let kept = nodes
                .iter()
                .any(|(id, addr)| *id == p.id && *addr == p.addr);
            if !kept {
                tracing::info!(peer = %p.id, "unlinked a node no longer in the set");
            }
            kept
        });
        let opening = peers.is_empty();
        for (id, addr) in nodes {
            if peers.iter().any(|p| p.id == id) {
                continue;
            }
            let client = match connect(&id, &addr, &self.tls, self.local) {
                Ok(c) => c,
                Err(e) => {
                    // One peer's bad address costs its link, never this node.
                    tracing::warn!(peer = %id, error = %e, "cannot link to a node of the set");
                    continue;
                }
            };
            let (queue, rx) = mpsc::channel(QUEUE);
            tokio::spawn(send_loop(
                id.clone(),
                client.clone(),
                rx,
                self.health.clone(),
            ));
            if !opening {
                tracing::info!(peer = %id, %addr, "linked to a node added to the set");
            }
            peers.push(Peer {
                id,
                addr,
                client,
                queue,
            });
        }
        let linked: Vec<_> = peers
            .iter()
            .map(|p| (p.id.clone(), p.addr.clone()))
            .collect();
        self.health.linked(&linked);
        Ok(())
    }

    /// The peers, for the task that passes transactions on.
    pub(crate) fn shared(&self) -> Peers {
        self.peers.clone()
    }

    /// The ids of the peers.
    #[cfg(feature = "byzantine")]
    pub(crate) fn ids(&self) -> Vec<String> {
        self.peers.read().iter().map(|p| p.id.clone()).collect()
    }

    /// Sends `m` to every peer (dropped for a peer whose queue is full).
    pub(crate) fn broadcast(&self, m: &cpb::Message) {
        for p in self.peers.read().iter() {
            if p.queue.try_send(m.clone()).is_err() {
                tracing::debug!(peer = %p.id, "peer queue full: message dropped");
            }
        }
    }

    /// A client of peer `id`.
    pub(crate) fn client(&self, id: &str) -> Option<ConsensusClient<Channel>> {
        self.peers
            .read()
            .iter()
            .find(|p| p.id == id)
            .map(|p| p.client.clone())
    }
}

/// Sends one peer's queue in order, in batches; a failed batch is dropped.
async fn send_loop(
    peer: String,
    mut client: ConsensusClient<Channel>,
    mut rx: mpsc::Receiver<cpb::Message>,
    health: Arc<Health>,
) -> crate::Result<()> {
    let mut failing = false;
    while let Some(first) = rx.recv().await {
        let mut messages = vec![first];
        while messages.len() < BATCH {
            match rx.try_recv() {
                Ok(m) => messages.push(m),
                Err(_) => break,
            }
        }
        let sent = tokio::time::timeout(
            Duration::from_secs(2),
            client.deliver(cpb::Batch { messages }),
        )
        .await;
        health.delivered(
            &peer,
            match &sent {
                Ok(Ok(_)) => None,
                Ok(Err(e)) => Some(e.message().to_string()),
                Err(_) => Some("delivery timed out".into()),
            },
        );
        match sent {
            Ok(Ok(_)) => {
                if failing {
                    tracing::info!(%peer, "peer reachable again");
                }
                failing = false;
            }
            Ok(Err(e)) if !failing => {
                tracing::warn!(%peer, error = %e.message(), "cannot deliver to peer");
                failing = true;
            }
            Err(_) if !failing => {
                tracing::warn!(%peer, "delivery to peer timed out");
                failing = true;
            }
            _ => {}
        }
    }
    Ok(())
}
