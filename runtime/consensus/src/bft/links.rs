//! The client side: one link per peer carries this node's consensus messages in the
//! order they were sent (batched, over mutual TLS to the certificate of the node id the
//! chain registers), and transactions this node's clients submitted are passed on to
//! every peer once, so whichever validator proposes next holds them. A peer that is down
//! loses what was sent meanwhile: consensus recovers it with its timeouts, round
//! synchronisation and catch-up, so nothing waits for a peer.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use govchain_types::Hash;
use parking_lot::Mutex;
use tokio::sync::mpsc;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use super::wire::cpb::{self, consensus_client::ConsensusClient};
use crate::Chain;

/// Largest gRPC message either way between nodes.
pub(crate) const MAX_MESSAGE: usize = 64 << 20;
/// Messages waiting for one peer before more are dropped.
const QUEUE: usize = 4096;
/// Messages sent in one call.
const BATCH: usize = 256;
/// Transactions passed on in one call.
const FORWARD_BATCH: usize = 512;

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
    pub(crate) client: ConsensusClient<Channel>,
    queue: mpsc::Sender<cpb::Message>,
}

/// The links to every peer.
#[derive(Debug, Default)]
pub(crate) struct Links {
    pub(crate) peers: Vec<Peer>,
}

impl Links {
    /// Links to the validators and observers the committed state registers with an
    /// address, except `me`; each gets a sending task in `tasks`.
    pub(crate) fn open(
        chain: &Chain,
        me: &str,
        tls: &ClientTlsConfig,
        local: Option<IpAddr>,
        tasks: &mut tokio::task::JoinSet<crate::Result<()>>,
    ) -> crate::Result<Links> {
        let mut peers = Vec::new();
        for v in govchain_state::query::validators(chain.store())? {
            if v.id == me || v.raft_addr.is_empty() {
                continue;
            }
            let client = connect(&v.id, &v.raft_addr, tls, local)
                .map_err(crate::ConsensusError::Replication)?;
            let (queue, rx) = mpsc::channel(QUEUE);
            tasks.spawn(send_loop(v.id.clone(), client.clone(), rx));
            peers.push(Peer {
                id: v.id,
                client,
                queue,
            });
        }
        Ok(Links { peers })
    }

    /// Sends `m` to every peer (dropped for a peer whose queue is full).
    pub(crate) fn broadcast(&self, m: &cpb::Message) {
        for p in &self.peers {
            if p.queue.try_send(m.clone()).is_err() {
                tracing::debug!(peer = %p.id, "peer queue full: message dropped");
            }
        }
    }

    /// The link to `id`.
    pub(crate) fn peer(&self, id: &str) -> Option<&Peer> {
        self.peers.iter().find(|p| p.id == id)
    }
}

/// Sends one peer's queue in order, in batches; a failed batch is dropped.
async fn send_loop(
    peer: String,
    mut client: ConsensusClient<Channel>,
    mut rx: mpsc::Receiver<cpb::Message>,
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

/// Passes the transactions this node's clients submitted on to every peer, once each
/// (those that came from a peer are not passed on again: every validator holds them).
pub(crate) async fn gossip(
    chain: Arc<Chain>,
    peers: Vec<Peer>,
    from_peers: Arc<Mutex<HashSet<Hash>>>,
) -> crate::Result<()> {
    let mut admissions = chain.admissions();
    let mut sent: HashMap<String, HashSet<Hash>> = HashMap::new();
    loop {
        let _ = tokio::time::timeout(Duration::from_millis(500), admissions.changed()).await;
        let waiting = chain.waiting_txs();
        let still: HashSet<Hash> = waiting.iter().map(|(h, _)| *h).collect();
        from_peers.lock().retain(|h| still.contains(h));
        let own: Vec<_> = {
            let from_peers = from_peers.lock();
            waiting
                .into_iter()
                .filter(|(h, _)| !from_peers.contains(h))
                .collect()
        };
        let sends = peers.iter().map(|p| {
            let done = sent.remove(&p.id).unwrap_or_default();
            let fresh: Vec<_> = own.iter().filter(|(h, _)| !done.contains(h)).collect();
            let mut client = p.client.clone();
            async move {
                let mut done = done;
                for batch in fresh.chunks(FORWARD_BATCH) {
                    let req = cpb::ForwardRequest {
                        txs: batch
                            .iter()
                            .map(|(_, t)| govchain_types::encode(t))
                            .collect(),
                    };
                    match tokio::time::timeout(Duration::from_secs(2), client.forward(req)).await {
                        Ok(Ok(_)) => done.extend(batch.iter().map(|(h, _)| *h)),
                        _ => break,
                    }
                }
                (p.id.clone(), done)
            }
        });
        for (id, mut done) in futures::future::join_all(sends).await {
            done.retain(|h| still.contains(h));
            sent.insert(id, done);
        }
    }
}
