//! The client side of node-to-node traffic: openraft's RPCs (and forwarded
//! transactions) over gRPC with mutual TLS. The peer must present a certificate of the
//! chain's CA issued to the node id the membership names.

use std::future::Future;
use std::net::IpAddr;
use std::time::Duration;

use openraft::error::{
    Fatal, NetworkError, PayloadTooLarge, RPCError, RaftError, RemoteError, ReplicationClosed,
    StreamingError, Timeout, Unreachable,
};
use openraft::network::{Backoff, RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::{RPCTypes, Snapshot, Vote};
use prost::Message;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use super::codec::entry_to_pb;
use super::pb::raft_client::RaftClient;
use super::{GovRaft, RaftNode, pb, transfer};

/// Largest append request sent at once; more entries are split.
const MAX_APPEND_BYTES: usize = 16 << 20;
/// Largest gRPC message either way between nodes.
pub(crate) const MAX_MESSAGE: usize = 64 << 20;
/// Time allowed to transfer and install a whole snapshot.
const SNAPSHOT_DEADLINE: Duration = Duration::from_secs(120);

/// A gRPC client of a peer's Raft service, over mutual TLS. Connections leave from
/// `local` (this node's Raft listen address), so a multi-homed host talks to its peers
/// from the address it serves them on.
pub(crate) fn connect(
    node: &RaftNode,
    tls: &ClientTlsConfig,
    local: Option<IpAddr>,
) -> Result<RaftClient<Channel>, String> {
    let endpoint = Endpoint::from_shared(format!("https://{}", node.raft_addr))
        .map_err(|e| format!("raft address '{}': {e}", node.raft_addr))?
        .tls_config(tls.clone().domain_name(node.validator_id.clone()))
        .map_err(|e| format!("TLS for '{}': {e}", node.validator_id))?
        .local_address(local)
        .connect_timeout(Duration::from_secs(1))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(10));
    Ok(RaftClient::new(endpoint.connect_lazy())
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE))
}

/// Creates one [`Peer`] per replication target.
#[derive(Debug, Clone)]
pub(crate) struct Network {
    pub(crate) tls: ClientTlsConfig,
    pub(crate) local: Option<IpAddr>,
}

impl RaftNetworkFactory<GovRaft> for Network {
    type Network = Peer;

    async fn new_client(&mut self, target: u64, node: &RaftNode) -> Peer {
        Peer {
            target,
            node: node.clone(),
            client: connect(node, &self.tls, self.local),
        }
    }
}

/// The connection to one peer.
#[derive(Debug)]
pub(crate) struct Peer {
    target: u64,
    node: RaftNode,
    client: Result<RaftClient<Channel>, String>,
}

type RpcErr<E = RaftError<u64>> = RPCError<u64, RaftNode, E>;

/// A transport failure: a peer that cannot be reached (or refuses us) is backed off;
/// anything else is retried at the next tick.
fn status_err<E: std::error::Error>(s: tonic::Status) -> RpcErr<E> {
    match s.code() {
        tonic::Code::Unavailable | tonic::Code::PermissionDenied | tonic::Code::Unauthenticated => {
            RPCError::Unreachable(Unreachable::new(&s))
        }
        _ => RPCError::Network(NetworkError::new(&s)),
    }
}

impl Peer {
    fn client<E: std::error::Error>(&self) -> Result<RaftClient<Channel>, RpcErr<E>> {
        self.client
            .clone()
            .map_err(|e| RPCError::Unreachable(Unreachable::new(&std::io::Error::other(e))))
    }

    fn timeout<E: std::error::Error>(&self, action: RPCTypes, ttl: Duration) -> RpcErr<E> {
        RPCError::Timeout(Timeout {
            action,
            id: 0,
            target: self.target,
            timeout: ttl,
        })
    }

    /// One unary call within the RPC's deadline; decodes the callee's
    /// `Result<T, RaftError>`.
    async fn call<Req, T, F, Fut>(
        &self,
        action: RPCTypes,
        option: RPCOption,
        req: Req,
        send: F,
    ) -> Result<T, RpcErr>
    where
        T: serde::de::DeserializeOwned,
        F: FnOnce(RaftClient<Channel>, tonic::Request<Req>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<pb::RaftReply>, tonic::Status>>,
    {
        let ttl = option.hard_ttl();
        let mut req = tonic::Request::new(req);
        req.set_timeout(ttl);
        let reply = tokio::time::timeout(ttl, send(self.client()?, req))
            .await
            .map_err(|_| self.timeout(action, ttl))?
            .map_err(status_err)?;
        self.reply(reply.into_inner())
    }

    /// Decodes the callee's `Result<T, RaftError>`.
    fn reply<T: serde::de::DeserializeOwned>(&self, reply: pb::RaftReply) -> Result<T, RpcErr> {
        let r: Result<T, RaftError<u64>> = serde_json::from_str(&reply.json)
            .map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        r.map_err(|e| {
            RPCError::RemoteError(RemoteError::new_with_node(
                self.target,
                self.node.clone(),
                e,
            ))
        })
    }
}

impl RaftNetwork<GovRaft> for Peer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<GovRaft>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RpcErr> {
        let entries: Vec<pb::Entry> = rpc.entries.iter().map(entry_to_pb).collect();
        let size: usize = entries.iter().map(|e| e.encoded_len()).sum();
        if size > MAX_APPEND_BYTES && entries.len() > 1 {
            let hint = (entries.len() as u64 / 2).max(1);
            return Err(RPCError::PayloadTooLarge(
                PayloadTooLarge::new_entries_hint(hint),
            ));
        }
        let header_json = serde_json::to_string(&(&rpc.vote, &rpc.prev_log_id, &rpc.leader_commit))
            .expect("serialises");
        let req = pb::AppendEntriesRequest {
            header_json,
            entries,
        };
        self.call(
            RPCTypes::AppendEntries,
            option,
            req,
            |mut c, r| async move { c.append_entries(r).await },
        )
        .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> Result<VoteResponse<u64>, RpcErr> {
        let req = pb::RaftJson {
            json: serde_json::to_string(&rpc).expect("serialises"),
        };
        self.call(RPCTypes::Vote, option, req, |mut c, r| async move {
            c.vote(r).await
        })
        .await
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote<u64>,
        snapshot: Snapshot<GovRaft>,
        cancel: impl Future<Output = ReplicationClosed> + Send + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<u64>, StreamingError<GovRaft, Fatal<u64>>> {
        let unreachable =
            |e: String| StreamingError::Unreachable(Unreachable::new(&std::io::Error::other(e)));
        let mut client = self.client.clone().map_err(unreachable)?;
        // Every file is opened before anything is sent: a newer snapshot may replace
        // (delete) this one while it streams, and an open file outlives its name. One
        // already replaced is retried with the current snapshot, not a storage failure.
        let files = transfer::open_checkpoint(&snapshot.snapshot.db()).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                StreamingError::Network(NetworkError::new(&std::io::Error::other(format!(
                    "snapshot {} was replaced before it was sent: {e}",
                    snapshot.meta.snapshot_id
                ))))
            } else {
                StreamingError::StorageError(openraft::StorageError::from(
                    openraft::StorageIOError::read_snapshot(Some(snapshot.meta.signature()), &e),
                ))
            }
        })?;
        let meta_json = serde_json::to_string(&(&vote, &snapshot.meta)).expect("serialises");
        let (tx, rx) = tokio::sync::mpsc::channel::<pb::SnapshotChunk>(2);
        let reader = tokio::task::spawn_blocking(move || {
            transfer::send_files(meta_json, files, |part| {
                tx.blocking_send(pb::SnapshotChunk { part: Some(part) })
                    .is_ok()
            })
        });
        let call = client.install_snapshot(tokio_stream::wrappers::ReceiverStream::new(rx));
        let reply = tokio::select! {
            closed = cancel => return Err(StreamingError::Closed(closed)),
            r = tokio::time::timeout(SNAPSHOT_DEADLINE, call) => r,
        };
        let reply = reply
            .map_err(|_| {
                StreamingError::Timeout(Timeout {
                    action: RPCTypes::InstallSnapshot,
                    id: 0,
                    target: self.target,
                    timeout: SNAPSHOT_DEADLINE,
                })
            })?
            .map_err(|s| match status_err::<Fatal<u64>>(s) {
                RPCError::Unreachable(u) => StreamingError::Unreachable(u),
                RPCError::Network(n) => StreamingError::Network(n),
                other => StreamingError::Network(NetworkError::new(&other)),
            })?;
        if let Ok(Err(e)) = reader.await {
            return Err(StreamingError::StorageError(openraft::StorageError::from(
                openraft::StorageIOError::read_snapshot(Some(snapshot.meta.signature()), &e),
            )));
        }
        let r: Result<SnapshotResponse<u64>, Fatal<u64>> =
            serde_json::from_str(&reply.into_inner().json)
                .map_err(|e| StreamingError::Network(NetworkError::new(&e)))?;
        r.map_err(|e| {
            StreamingError::RemoteError(RemoteError::new_with_node(
                self.target,
                self.node.clone(),
                e,
            ))
        })
    }

    fn backoff(&self) -> Backoff {
        // A peer that is down is retried every 500 ms at first, every 2 s later.
        Backoff::new((0..).map(|i| Duration::from_millis((500 * (i + 1)).min(2000))))
    }
}
