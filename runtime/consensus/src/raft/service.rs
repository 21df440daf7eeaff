//! The server side of node-to-node traffic. Mutual TLS has already checked that the
//! caller's certificate was issued by the chain's CA; each call then checks that it was
//! issued to a node of the current validator/observer set, and refuses (and logs) any
//! other caller.

use std::sync::Arc;

use openraft::raft::AppendEntriesRequest;
use openraft::{Raft, Snapshot};
use tonic::{Request, Response, Status, Streaming};

use super::codec::entry_from_pb;
use super::state_machine::CheckpointDir;
use super::{GovRaft, pb, transfer};
use crate::Chain;
use crate::peer::PeerGate;

/// The Raft gRPC service.
pub(crate) struct RaftService {
    pub(crate) raft: Raft<GovRaft>,
    pub(crate) chain: Arc<Chain>,
    gate: PeerGate,
}

impl std::fmt::Debug for RaftService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftService").finish_non_exhaustive()
    }
}

fn json_reply<T: serde::Serialize>(v: &T) -> Response<pb::RaftReply> {
    Response::new(pb::RaftReply {
        json: serde_json::to_string(v).expect("serialises"),
    })
}

fn bad(what: &str, e: impl std::fmt::Display) -> Status {
    Status::invalid_argument(format!("{what}: {e}"))
}

impl RaftService {
    pub(crate) fn new(raft: Raft<GovRaft>, chain: Arc<Chain>) -> Self {
        RaftService {
            raft,
            chain,
            gate: PeerGate::default(),
        }
    }

    /// The node ids a peer may hold: validators and observers in the committed state,
    /// and the members of the current Raft membership (a node being removed keeps
    /// replicating until the membership drops it).
    fn members(&self) -> Vec<String> {
        let mut ids: Vec<String> = govchain_state::query::validators(self.chain.store())
            .map(|v| v.into_iter().map(|v| v.id).collect())
            .unwrap_or_default();
        let m = self.raft.metrics().borrow().membership_config.clone();
        ids.extend(m.membership().nodes().map(|(_, n)| n.validator_id.clone()));
        ids.sort();
        ids.dedup();
        ids
    }

    /// Which member the caller's certificate names, or a refusal.
    fn admit<T>(&self, req: &Request<T>) -> Result<String, Status> {
        self.gate.admit(req, &self.members())
    }
}

#[tonic::async_trait]
impl pb::raft_server::Raft for RaftService {
    async fn append_entries(
        &self,
        req: Request<pb::AppendEntriesRequest>,
    ) -> Result<Response<pb::RaftReply>, Status> {
        self.admit(&req)?;
        let r = req.into_inner();
        let (vote, prev_log_id, leader_commit) =
            serde_json::from_str(&r.header_json).map_err(|e| bad("append header", e))?;
        let entries = r
            .entries
            .into_iter()
            .map(entry_from_pb)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad("entry", e))?;
        let res = self
            .raft
            .append_entries(AppendEntriesRequest {
                vote,
                prev_log_id,
                entries,
                leader_commit,
            })
            .await;
        Ok(json_reply(&res))
    }

    async fn vote(&self, req: Request<pb::RaftJson>) -> Result<Response<pb::RaftReply>, Status> {
        self.admit(&req)?;
        let rpc = serde_json::from_str(&req.into_inner().json).map_err(|e| bad("vote", e))?;
        Ok(json_reply(&self.raft.vote(rpc).await))
    }

    async fn install_snapshot(
        &self,
        req: Request<Streaming<pb::SnapshotChunk>>,
    ) -> Result<Response<pb::RaftReply>, Status> {
        use pb::snapshot_chunk::Part;
        let from = self.admit(&req)?;
        let mut stream = req.into_inner();
        let Some(pb::SnapshotChunk {
            part: Some(Part::MetaJson(meta)),
        }) = stream.message().await?
        else {
            return Err(bad("snapshot", "the first message must be the meta"));
        };
        let (vote, meta): (
            openraft::Vote<u64>,
            openraft::SnapshotMeta<u64, super::RaftNode>,
        ) = serde_json::from_str(&meta).map_err(|e| bad("snapshot meta", e))?;
        // The id names a directory here: only the `term-index-time` form we generate.
        if meta.snapshot_id.split('-').count() != 3
            || !meta
                .snapshot_id
                .chars()
                .all(|c| c.is_ascii_digit() || c == '-')
        {
            return Err(bad("snapshot id", &meta.snapshot_id));
        }
        tracing::info!(%from, snapshot = %meta.snapshot_id, "receiving a snapshot");
        let snap = self
            .raft
            .begin_receiving_snapshot()
            .await
            .map_err(|e| Status::internal(e.to_string()))?;
        // Removed unless it is handed to Raft: a refused transfer leaves nothing behind.
        let incoming = Incoming(Some(snap));
        let sent = transfer::receive_files(&mut stream, &incoming.dir().db()).await?;
        tracing::info!(%from, snapshot = %meta.snapshot_id, files = sent.files, bytes = sent.bytes, "snapshot received; installing");
        let (chain, m, dir) = (
            self.chain.clone(),
            meta.clone(),
            incoming.dir().path.clone(),
        );
        tokio::task::spawn_blocking(move || {
            super::state_machine::check_received(&chain, &m, &CheckpointDir { path: dir })
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))?
        .map_err(|e| bad("snapshot", e))?;
        let res = self
            .raft
            .install_full_snapshot(
                vote,
                Snapshot {
                    meta,
                    snapshot: incoming.take(),
                },
            )
            .await;
        Ok(json_reply(&res))
    }

    async fn forward(
        &self,
        req: Request<pb::ForwardRequest>,
    ) -> Result<Response<pb::ForwardResponse>, Status> {
        self.admit(&req)?;
        let txs =
            crate::decode_forwarded(&req.into_inner().txs).map_err(Status::invalid_argument)?;
        let admitted = self.chain.admit_forwarded(txs).await;
        Ok(Response::new(pb::ForwardResponse { admitted }))
    }
}

/// A snapshot directory being received; deleted on drop unless taken.
struct Incoming(Option<Box<CheckpointDir>>);

impl Incoming {
    fn dir(&self) -> &CheckpointDir {
        self.0.as_ref().expect("not taken")
    }

    fn take(mut self) -> Box<CheckpointDir> {
        self.0.take().expect("not taken")
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        if let Some(d) = self.0.take() {
            let _ = std::fs::remove_dir_all(&d.path);
        }
    }
}
