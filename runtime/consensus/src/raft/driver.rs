//! The tasks around openraft: the leader's block loop, forwarding of transactions to
//! the leader, the membership reconciler, and the metrics watch that keeps the node's
//! cluster status current and stops the node when Raft stops.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use govchain_crypto::PrivateKey;
use govchain_types::Hash;
use govchain_types::pb::{ClusterStatus, PeerStatus};
use openraft::error::ClientWriteError;
use openraft::raft::ClientWriteResult;
use openraft::{ChangeMembers, Raft, RaftMetrics, ServerState};
use tokio::sync::oneshot;
use tonic::transport::ClientTlsConfig;

use super::{
    ApplyResult, BlockProposal, GovRaft, RaftNode, RaftSettings, network, pb, state_nodes,
};
use crate::{Chain, ConsensusError};

type Metrics = RaftMetrics<u64, RaftNode>;

/// Most blocks a leader has built and not yet seen applied.
const PIPELINE: usize = 3;

/// A block handed to Raft, not yet applied.
struct InFlight {
    height: u64,
    hash: Hash,
    txs: u32,
    build_ms: f64,
    written_at: Instant,
    rx: oneshot::Receiver<ClientWriteResult<GovRaft>>,
}

/// Most transactions, and most of their bytes, in one forward call (well inside the
/// 64 MiB message limit between nodes).
const FORWARD_TXS: usize = 1000;
const FORWARD_BYTES: usize = 8 << 20;

/// `txs` cut into forward calls of at most [`FORWARD_TXS`] and about [`FORWARD_BYTES`]
/// (a call holds at least one transaction), in order.
fn forward_batches<'a, T: prost::Message>(txs: &'a [&'a (Hash, T)]) -> Vec<&'a [&'a (Hash, T)]> {
    let mut batches = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, (_, t)) in txs.iter().enumerate() {
        let n = t.encoded_len();
        if i > start && (i - start == FORWARD_TXS || bytes + n > FORWARD_BYTES) {
            batches.push(&txs[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += n;
    }
    if start < txs.len() {
        batches.push(&txs[start..]);
    }
    batches
}

/// What the tasks share.
pub(crate) struct Driver {
    pub(crate) raft: Raft<GovRaft>,
    pub(crate) chain: Arc<Chain>,
    pub(crate) key: PrivateKey,
    pub(crate) settings: RaftSettings,
    pub(crate) client_tls: ClientTlsConfig,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver").finish_non_exhaustive()
    }
}

fn role(s: ServerState) -> &'static str {
    match s {
        ServerState::Leader => "leader",
        ServerState::Follower => "follower",
        ServerState::Candidate => "candidate",
        ServerState::Learner => "learner",
        ServerState::Shutdown => "shutdown",
    }
}

/// The cluster as `m` shows it.
fn status(m: &Metrics) -> ClusterStatus {
    let membership = m.membership_config.membership();
    let voters: BTreeSet<u64> = membership.voter_ids().collect();
    let last = m.last_log_index.unwrap_or(0);
    let peers = membership
        .nodes()
        .map(|(id, n)| {
            let matched = m
                .replication
                .as_ref()
                .and_then(|r| r.get(id).cloned().flatten())
                .map(|l| l.index);
            PeerStatus {
                id: n.validator_id.clone(),
                raft_id: *id,
                role: if voters.contains(id) {
                    "voter"
                } else {
                    "learner"
                }
                .into(),
                matched_index: matched.unwrap_or(0),
                lag: matched.map_or(0, |i| last.saturating_sub(i)),
                raft_addr: n.raft_addr.clone(),
            }
        })
        .collect();
    ClusterStatus {
        role: role(m.state).into(),
        leader: m
            .current_leader
            .and_then(|l| membership.get_node(&l))
            .map(|n| n.validator_id.clone())
            .unwrap_or_default(),
        term: m.current_term,
        last_log_index: last,
        applied_index: m.last_applied.map_or(0, |l| l.index),
        peers,
        quorum_ack_ms: m.millis_since_quorum_ack.unwrap_or(0),
        snapshot_index: m.snapshot.map_or(0, |l| l.index),
        purged_index: m.purged.map_or(0, |l| l.index),
    }
}

fn log_change<E: std::fmt::Display>(what: &str, r: Result<(), E>) {
    match r {
        Ok(()) => tracing::info!("membership: {what}"),
        Err(e) => tracing::warn!(error = %e, "membership: {what} not done yet"),
    }
}

impl Driver {
    fn leads(&self, m: &Metrics) -> bool {
        m.state == ServerState::Leader && m.current_leader == Some(self.settings.raft_id)
    }

    fn metrics(&self) -> Metrics {
        self.raft.metrics().borrow().clone()
    }

    /// Publishes the cluster status; returns (an error) when Raft stops, which stops
    /// the node: a storage failure or a diverged state must not keep serving.
    pub(crate) async fn watch_metrics(self: Arc<Self>) -> crate::Result<()> {
        let mut rx = self.raft.metrics();
        loop {
            {
                let m = rx.borrow_and_update();
                if let Err(e) = &m.running_state {
                    return Err(ConsensusError::Replication(format!("raft stopped: {e}")));
                }
                self.chain.set_cluster(status(&m));
            }
            if rx.changed().await.is_err() {
                return Err(ConsensusError::Replication("raft stopped".into()));
            }
        }
    }

    /// While this node leads: make sure every earlier leader's blocks are applied, then
    /// cut blocks.
    pub(crate) async fn lead(self: Arc<Self>) -> crate::Result<()> {
        let mut rx = self.raft.metrics();
        loop {
            while !self.leads(&rx.borrow_and_update()) {
                if rx.changed().await.is_err() {
                    return Ok(());
                }
            }
            let term = self.metrics().current_term;
            let started = Instant::now();
            match self.raft.ensure_linearizable().await {
                Ok(_) => {
                    tracing::info!(
                        term,
                        height = self.chain.tip().header.height,
                        ms = started.elapsed().as_millis() as u64,
                        "leading: proposing blocks"
                    );
                    self.propose_while_leader().await?;
                    self.chain.abandon_built();
                }
                Err(e) => {
                    tracing::debug!(error = %e, "not confirmed as leader yet");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    /// Cuts blocks while this node leads, keeping up to [`PIPELINE`] in flight: the
    /// next block is built on the uncommitted ones (their writes) while they replicate,
    /// so a block's wait is the block interval, not the one before it committing.
    async fn propose_while_leader(self: &Arc<Self>) -> crate::Result<()> {
        let mut in_flight: VecDeque<InFlight> = VecDeque::new();
        loop {
            if !self.leads(&self.metrics()) {
                return Ok(());
            }
            let room = in_flight.len() < PIPELINE;
            let waiting = !in_flight.is_empty();
            let oldest = in_flight.front_mut().map(|f| &mut f.rx);
            tokio::select! {
                outcome = async { oldest.expect("guarded").await }, if waiting => {
                    let f = in_flight.pop_front().expect("guarded");
                    if !self.settle(f, outcome).await {
                        return Ok(());
                    }
                }
                due = self.block_due(!waiting), if room => {
                    if due && !self.propose(&mut in_flight).await? {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Waits until a block is due: transactions wait and either no block is in flight
    /// (`idle`: nothing to batch behind, so they go at once), or the oldest has waited
    /// the block interval, or enough wait to fill a block. False after 300 ms with none
    /// waiting (the caller checks that it still leads). Cancel-safe.
    async fn block_due(&self, idle: bool) -> bool {
        let waited =
            tokio::time::timeout(Duration::from_millis(300), self.chain.wait_pending()).await;
        if waited.is_err() {
            return false;
        }
        if idle {
            return true;
        }
        let deadline = self.chain.block_due(self.settings.interval);
        while self.chain.mempool_len() < self.settings.max_txs {
            if tokio::time::timeout_at(deadline, self.chain.admitted())
                .await
                .is_err()
            {
                break;
            }
        }
        true
    }

    /// Builds the next block from the waiting transactions and hands it to Raft. False
    /// when Raft has stopped.
    async fn propose(self: &Arc<Self>, in_flight: &mut VecDeque<InFlight>) -> crate::Result<bool> {
        let txs = self.chain.take_pending(self.settings.max_txs);
        if txs.is_empty() {
            return Ok(true);
        }
        let this = self.clone();
        // Block time is the leader's clock; execution only ever sees the header's.
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let built_at = Instant::now();
        let built = tokio::task::spawn_blocking(move || {
            this.chain
                .build_block(txs, now, &this.settings.validator_id, &this.key)
        })
        .await
        .map_err(|e| ConsensusError::Corrupt(format!("block building panicked: {e}")))?;
        let sealed = match built {
            Ok(b) => b,
            Err(ConsensusError::Stale { height }) => {
                tracing::debug!(
                    height,
                    "block built on abandoned blocks; its transactions wait again"
                );
                return Ok(true);
            }
            Err(e) => return Err(e),
        };
        let written_at = Instant::now();
        let raw = govchain_types::encode(&sealed.block);
        match self.raft.client_write_ff(BlockProposal(raw)).await {
            Ok(rx) => {
                in_flight.push_back(InFlight {
                    height: sealed.header.height,
                    hash: sealed.hash,
                    txs: sealed.header.tx_count,
                    build_ms: (written_at - built_at).as_secs_f64() * 1e3,
                    written_at,
                    rx,
                });
                Ok(true)
            }
            Err(e) => {
                tracing::warn!(height = sealed.header.height, error = %e, "raft stopped; the block's transactions go back to the mempool");
                self.chain.abandon_from(&sealed.hash);
                Ok(false)
            }
        }
    }

    /// Handles the outcome of the oldest block in flight. A block that does not commit
    /// takes those built on it along (their transactions wait again; the ones still in
    /// flight will be refused by every node, as they extend it). False when this node
    /// no longer leads or Raft has stopped.
    async fn settle(
        &self,
        f: InFlight,
        outcome: Result<ClientWriteResult<GovRaft>, oneshot::error::RecvError>,
    ) -> bool {
        tracing::debug!(
            height = f.height,
            txs = f.txs,
            build_ms = f.build_ms,
            commit_ms = f.written_at.elapsed().as_secs_f64() * 1e3,
            "block cycle"
        );
        match outcome {
            Ok(Ok(r)) => {
                if let ApplyResult::Rejected { reason } = r.data {
                    tracing::warn!(height = f.height, %reason, "own block rejected; its transactions go back to the mempool");
                    self.chain.abandon_from(&f.hash);
                }
                true
            }
            Ok(Err(e)) => {
                tracing::warn!(height = f.height, error = %e, "block not committed; its transactions go back to the mempool");
                self.chain.abandon_from(&f.hash);
                if matches!(e, ClientWriteError::ForwardToLeader(_)) {
                    return false;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                true
            }
            Err(_) => {
                tracing::warn!(
                    height = f.height,
                    "raft stopped; the block's transactions go back to the mempool"
                );
                self.chain.abandon_from(&f.hash);
                false
            }
        }
    }

    /// On a follower: passes the transactions its clients submitted on to the leader,
    /// again after a leader change and every few seconds while they wait, until its own
    /// log applies them.
    pub(crate) async fn forward(self: Arc<Self>) -> crate::Result<()> {
        let mut admissions = self.chain.admissions();
        let mut sent: HashSet<[u8; 32]> = HashSet::new();
        let mut target: Option<(u64, pb::raft_client::RaftClient<tonic::transport::Channel>)> =
            None;
        let mut last_full = Instant::now();
        loop {
            let _ = tokio::time::timeout(Duration::from_millis(200), admissions.changed()).await;
            let m = self.metrics();
            let Some(leader) = m.current_leader.filter(|l| *l != self.settings.raft_id) else {
                target = None;
                continue;
            };
            if target.as_ref().map(|t| t.0) != Some(leader) {
                let Some(node) = m.membership_config.membership().get_node(&leader).cloned() else {
                    continue;
                };
                match network::connect(
                    &node,
                    &self.client_tls,
                    super::local_ip(&self.settings.listen),
                ) {
                    Ok(c) => target = Some((leader, c)),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot reach the leader to forward transactions");
                        continue;
                    }
                }
                sent.clear();
            }
            if last_full.elapsed() > Duration::from_secs(5) {
                sent.clear();
                last_full = Instant::now();
            }
            let waiting = self.chain.waiting_txs();
            let fresh: Vec<_> = waiting.iter().filter(|(h, _)| !sent.contains(h)).collect();
            let client = &mut target.as_mut().expect("set above").1;
            for batch in forward_batches(&fresh) {
                let req = pb::ForwardRequest {
                    txs: batch
                        .iter()
                        .map(|(_, t)| govchain_types::encode(t))
                        .collect(),
                };
                // A leader that is paused or cut off must not hold the forwarder up.
                let outcome =
                    match tokio::time::timeout(Duration::from_secs(2), client.forward(req)).await {
                        Ok(Ok(_)) => Ok(()),
                        Ok(Err(status)) => Err(status.to_string()),
                        Err(_) => Err("timed out".to_string()),
                    };
                match outcome {
                    Ok(()) => sent.extend(batch.iter().map(|(h, _)| *h)),
                    Err(e) => {
                        tracing::debug!(error = %e, "forwarding to the leader failed; retrying");
                        target = None;
                        break;
                    }
                }
            }
            let still: HashSet<[u8; 32]> = waiting.iter().map(|(h, _)| *h).collect();
            sent.retain(|h| still.contains(h));
        }
    }

    /// On the leader: makes the Raft membership follow the validator and observer set
    /// in the committed state. New nodes join as learners; validators become voters
    /// once they have caught up; removed ones are demoted, then dropped.
    pub(crate) async fn reconcile(self: Arc<Self>) -> crate::Result<()> {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let m = self.metrics();
            if !self.leads(&m) {
                continue;
            }
            let wanted = state_nodes(&self.chain)?;
            let want_voters: BTreeSet<u64> = wanted
                .iter()
                .filter(|(_, (_, observer))| !observer)
                .map(|(id, _)| *id)
                .collect();
            if want_voters.is_empty() {
                continue;
            }
            let membership = m.membership_config.membership().clone();
            let nodes: BTreeMap<u64, RaftNode> =
                membership.nodes().map(|(id, n)| (*id, n.clone())).collect();
            let voters: BTreeSet<u64> = membership.voter_ids().collect();
            for (id, (node, observer)) in &wanted {
                if !nodes.contains_key(id) {
                    let kind = if *observer { "observer" } else { "validator" };
                    let what = format!(
                        "{kind} '{}' (raft {id}) joins as a learner",
                        node.validator_id
                    );
                    let r = self.raft.add_learner(*id, node.clone(), false).await;
                    log_change(&what, r.map(|_| ()));
                }
            }
            let last = m.last_log_index.unwrap_or(0);
            let caught_up = |id: &u64| {
                m.replication
                    .as_ref()
                    .and_then(|r| r.get(id).cloned().flatten())
                    .is_some_and(|l| last.saturating_sub(l.index) <= 16)
            };
            let promote: BTreeSet<u64> = want_voters
                .difference(&voters)
                .filter(|id| nodes.contains_key(id) && caught_up(id))
                .copied()
                .collect();
            let demote: BTreeSet<u64> = voters.difference(&want_voters).copied().collect();
            let gone: BTreeSet<u64> = nodes
                .keys()
                .filter(|id| !wanted.contains_key(id) && !voters.contains(id))
                .copied()
                .collect();
            let mut changes = Vec::new();
            if !promote.is_empty() {
                changes.push((
                    format!("raft {promote:?} become voters"),
                    ChangeMembers::AddVoterIds(promote),
                ));
            }
            // Never the last voter.
            if !demote.is_empty() && demote.len() < voters.len() {
                changes.push((
                    format!("raft {demote:?} stop voting"),
                    ChangeMembers::RemoveVoters(demote),
                ));
            }
            if !gone.is_empty() {
                changes.push((
                    format!("raft {gone:?} leave the cluster"),
                    ChangeMembers::RemoveNodes(gone),
                ));
            }
            for (what, change) in changes {
                let r = self.raft.change_membership(change, false).await;
                log_change(&what, r.map(|_| ()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use govchain_types::pb::SignedTx;
    use prost::Message;

    #[test]
    fn forward_calls_stay_within_their_count_and_bytes() {
        let tx = |len: usize| {
            (
                [0u8; 32],
                SignedTx {
                    body: vec![0; len],
                    ..Default::default()
                },
            )
        };
        let size = |len| tx(len).1.encoded_len();
        let small: Vec<_> = (0..2500).map(|_| tx(10)).collect();
        let refs: Vec<_> = small.iter().collect();
        let lens: Vec<usize> = forward_batches(&refs).iter().map(|b| b.len()).collect();
        assert_eq!(lens, [1000, 1000, 500]);

        // 256 KiB transactions: 31 fit in 8 MiB with their encoding
        let big: Vec<_> = (0..70).map(|_| tx(256 << 10)).collect();
        let refs: Vec<_> = big.iter().collect();
        let batches = forward_batches(&refs);
        assert!(
            batches
                .iter()
                .all(|b| b.len() * size(256 << 10) <= FORWARD_BYTES)
        );
        assert_eq!(batches.iter().map(|b| b.len()).sum::<usize>(), 70);
        assert_eq!(batches[0].len(), FORWARD_BYTES / size(256 << 10));

        // one transaction larger than the budget still goes, alone
        let huge = [tx(9 << 20), tx(10)];
        let refs: Vec<_> = huge.iter().collect();
        let lens: Vec<usize> = forward_batches(&refs).iter().map(|b| b.len()).collect();
        assert_eq!(lens, [1, 1]);
        assert!(forward_batches::<SignedTx>(&[]).is_empty());
    }
}
