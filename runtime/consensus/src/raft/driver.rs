//! The tasks around openraft: the leader's block loop, forwarding of transactions to
//! the leader, the membership reconciler, and the metrics watch that keeps the node's
//! cluster status current and stops the node when Raft stops.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use govchain_crypto::PrivateKey;
use govchain_types::pb::{ClusterStatus, PeerStatus};
use openraft::{ChangeMembers, Raft, RaftMetrics, ServerState};
use tonic::transport::ClientTlsConfig;

use super::{
    ApplyResult, BlockProposal, GovRaft, RaftNode, RaftSettings, network, pb, state_nodes,
};
use crate::{Chain, ConsensusError};

type Metrics = RaftMetrics<u64, RaftNode>;

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
                    return Err(ConsensusError::Corrupt(format!("raft stopped: {e}")));
                }
                self.chain.set_cluster(status(&m));
            }
            if rx.changed().await.is_err() {
                return Err(ConsensusError::Corrupt("raft stopped".into()));
            }
        }
    }

    /// While this node leads: make sure every earlier leader's blocks are applied, then
    /// cut blocks as the solo engine does, one in flight at a time.
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

    async fn propose_while_leader(self: &Arc<Self>) -> crate::Result<()> {
        let interval = self.settings.interval;
        let max = self.settings.max_txs;
        loop {
            let waited =
                tokio::time::timeout(Duration::from_millis(300), self.chain.wait_pending()).await;
            if !self.leads(&self.metrics()) {
                return Ok(());
            }
            if waited.is_err() {
                continue;
            }
            let deadline = self.chain.block_due(interval);
            while self.chain.mempool_len() < max {
                if tokio::time::timeout_at(deadline, self.chain.admitted())
                    .await
                    .is_err()
                {
                    break;
                }
            }
            let txs = self.chain.take_pending(max);
            if txs.is_empty() {
                continue;
            }
            let this = self.clone();
            // Block time is the leader's clock; execution only ever sees the header's.
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            let built_at = Instant::now();
            let sealed = tokio::task::spawn_blocking(move || {
                this.chain
                    .build_block(txs, now, &this.settings.validator_id, &this.key)
            })
            .await
            .map_err(|e| ConsensusError::Corrupt(format!("block building panicked: {e}")))??;
            let height = sealed.header.height;
            let raw = govchain_types::encode(&sealed.block);
            let written_at = Instant::now();
            let outcome = self.raft.client_write(BlockProposal(raw)).await;
            tracing::debug!(
                height,
                txs = sealed.header.tx_count,
                build_ms = (written_at - built_at).as_secs_f64() * 1e3,
                commit_ms = written_at.elapsed().as_secs_f64() * 1e3,
                "block cycle"
            );
            match outcome {
                Ok(r) => {
                    if let ApplyResult::Rejected { reason } = r.data {
                        tracing::warn!(height, %reason, "own block rejected; its transactions go back to the mempool");
                        self.chain.abandon_built();
                    }
                }
                Err(e) => {
                    tracing::warn!(height, error = %e, "block not committed; its transactions go back to the mempool");
                    self.chain.abandon_built();
                    if e.forward_to_leader().is_some() {
                        return Ok(());
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
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
            for batch in fresh.chunks(1000) {
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
