//! The engine's task: one loop owns the core and answers, in turn, what peers send, its
//! timers, the importer's verdicts and this node's own proposals (`node.rs` starts it).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use govchain_crypto::SharedSigner;
use govchain_proof::commit::ValidatorSet;
use govchain_types::{Hash, HashHex, pb};
use malachite_consensus::SignedConsensusMsg;
use malachite_types::{Round, Timeout, TimeoutKind};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::catchup::Ahead;
use super::context::{BlockId, Gov, Height, Proposal, Validators};
use super::core::{Action, Core, Step};
use super::links::Links;
use super::node::{self, BftSettings, Caught, err, hand_over, new_core, now_ms, voting_set};
use super::wire::{self, Inbound};
use crate::{ApplyError, Chain, ConsensusError, Imported, SealedBlock};

/// How often a node tells its peers its height.
const TIP_EVERY: Duration = Duration::from_secs(3);
/// Rounds ahead of this node's current one whose blocks it keeps.
const MAX_ROUNDS_AHEAD: u32 = 4;

/// What arrived for one proposal (height and round).
#[derive(Debug, Default)]
struct Slot {
    proposal: Option<Proposal>,
    /// The block and who sent it.
    block: Option<(String, Vec<u8>)>,
    /// The importer was asked.
    judged: bool,
}

/// What background work gives back to the engine.
pub(super) enum Event {
    Judged {
        proposal: Proposal,
        verdict: Result<Box<Imported>, String>,
    },
    Built {
        height: u64,
        round: u32,
        block: Result<(Hash, Vec<u8>), String>,
    },
    /// A peer's answer to a catch-up ask.
    Fetched(String, Result<Vec<Vec<u8>>, String>),
}

pub(super) struct Engine {
    pub(super) chain: Arc<Chain>,
    pub(super) me: String,
    pub(super) key: SharedSigner,
    pub(super) settings: BftSettings,
    core: Core,
    /// The height being decided (the tip's + 1).
    pub(super) height: u64,
    /// Whether the core was started at `height`.
    started: bool,
    /// The validator set in force at `height`.
    pub(super) set: ValidatorSet,
    pub(super) links: Links,
    inbox: mpsc::Receiver<(String, Inbound)>,
    pub(super) events: mpsc::UnboundedSender<Event>,
    events_rx: mpsc::UnboundedReceiver<Event>,
    /// Where caught equivocations go (the node reports them on chain).
    caught: mpsc::Sender<Caught>,
    slots: BTreeMap<(u64, u32), Slot>,
    /// Blocks of `height` the importer accepted, by hash.
    imported: HashMap<Hash, Imported>,
    /// Blocks of `height` by hash, as sent (to stream again, or to commit).
    raws: HashMap<Hash, Vec<u8>>,
    timers: Vec<(Instant, Timeout)>,
    /// Rounds of `height` whose block is being judged, and propose timeouts held till
    /// the verdict (they cover a proposal's arrival, not its block's execution).
    judging: BTreeSet<u32>,
    held: Vec<Timeout>,
    /// The highest height a peer was seen at, by whom, and since when.
    pub(super) ahead: Ahead,
    /// What the write-ahead log kept of `height` before a restart, till it is replayed.
    resume: Vec<malachite_consensus::Input<Gov>>,
    /// The next height, once a validator of the set is there already (it woke this node
    /// for it, or sent its messages): this node starts it as soon as it gets there, not
    /// when its own mempool or a later message says so.
    woken: Option<u64>,
}

impl Engine {
    pub(super) fn new(
        chain: Arc<Chain>,
        key: SharedSigner,
        settings: BftSettings,
        links: Links,
        inbox: mpsc::Receiver<(String, Inbound)>,
        caught: mpsc::Sender<Caught>,
    ) -> crate::Result<Self> {
        let height = chain.tip().header.height + 1;
        let set = voting_set(&chain)?;
        let (events, events_rx) = mpsc::unbounded_channel();
        let core = new_core(&chain, &settings, &key, height, &set)?;
        node::clear_wal_below(&chain, height)?;
        let resume = node::wal_entries(&chain, height)?;
        let ahead = Ahead::new(&settings.validator_id);
        Ok(Engine {
            me: settings.validator_id.clone(),
            chain,
            key,
            settings,
            core,
            height,
            started: false,
            set,
            links,
            inbox,
            events,
            events_rx,
            caught,
            slots: BTreeMap::new(),
            imported: HashMap::new(),
            raws: HashMap::new(),
            timers: Vec::new(),
            judging: BTreeSet::new(),
            held: Vec::new(),
            ahead,
            resume,
            woken: None,
        })
    }

    pub(super) async fn run(mut self) -> crate::Result<()> {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        // Every node tells its peers its height now and then: one that missed a
        // decision on a chain gone idle would otherwise hear of no later height.
        let mut tip = tokio::time::interval(TIP_EVERY);
        if !self.resume.is_empty() {
            self.start(false).await?;
        }
        loop {
            let next_timer = self.timers.iter().map(|(at, _)| *at).min();
            tokio::select! {
                Some((from, msg)) = self.inbox.recv() => self.on_message(from, msg).await?,
                Some(event) = self.events_rx.recv() => self.on_event(event).await?,
                () = tokio::time::sleep_until(next_timer.unwrap_or_else(Instant::now)), if next_timer.is_some() => {
                    let now = Instant::now();
                    let due: Vec<Timeout> = self.timers.iter().filter(|(at, _)| *at <= now).map(|(_, t)| *t).collect();
                    self.timers.retain(|(at, _)| *at > now);
                    for t in due {
                        if t.kind == TimeoutKind::Propose && self.judging.contains(&t.round.as_u32().unwrap_or(u32::MAX)) {
                            self.held.push(t);
                            continue;
                        }
                        let step = self.core.timeout(t);
                        self.apply(step).await?;
                    }
                }
                () = self.chain.wait_pending(), if !self.started => self.start(true).await?,
                () = std::future::ready(()), if !self.started && self.woken == Some(self.height) => self.start(false).await?,
                _ = tick.tick() => self.catch_up(),
                _ = tip.tick() => self.links.broadcast(&wire::tip_pb(self.height)),
            }
        }
    }

    /// Starts the core at `height` and judges the blocks that arrived early; `own`: on
    /// this node's transactions, which the peers are told (they may not hold them yet).
    async fn start(&mut self, own: bool) -> crate::Result<()> {
        if self.started {
            return Ok(());
        }
        self.started = true;
        if own {
            self.links.broadcast(&wire::wake_pb(self.height));
        }
        let set = Validators::from_set(&self.set);
        let step = if self.resume.is_empty() {
            tracing::debug!(height = self.height, "height started");
            self.core.start_height(self.height, set)
        } else {
            let entries = std::mem::take(&mut self.resume);
            self.links.health.resumed(entries.len());
            tracing::info!(
                height = self.height,
                entries = entries.len(),
                "resuming the height from the write-ahead log"
            );
            self.core.replay(self.height, set, &entries)
        };
        self.apply(step).await?;
        let rounds: Vec<u32> = self
            .slots
            .keys()
            .filter(|(h, _)| *h == self.height)
            .map(|(_, r)| *r)
            .collect();
        for r in rounds {
            self.judge(r);
        }
        Ok(())
    }

    /// The proposer of a round at `height` (by the set in force at this node's height:
    /// for the next height, the set unless a change commits now).
    fn proposer(&self, height: u64, round: u32) -> String {
        use malachite_types::Context;
        let set = Validators::from_set(&self.set);
        Gov.select_proposer(&set, Height(height), Round::new(round))
            .id
            .0
            .clone()
    }

    async fn on_message(&mut self, from: String, msg: Inbound) -> crate::Result<()> {
        let h = msg.height();
        self.links.health.heard(&from, h);
        // A wake-up counts only from a validator of the set: for this height it starts
        // it, for the next one it is kept (this node starts that height on arrival);
        // it says nothing about heights beyond.
        if let Inbound::Wake { height } = msg {
            if self.set.key(&from).is_some() {
                if height == self.height {
                    self.start(false).await?;
                } else if height == self.height + 1 {
                    self.woken = Some(height);
                }
            }
            return Ok(());
        }
        if let Inbound::Tip { height } = msg {
            if height > self.height {
                self.ahead.saw(&from, height);
            }
            return Ok(());
        }
        if h < self.height {
            return Ok(());
        }
        if h > self.height {
            self.ahead.saw(&from, h);
            // Beyond the next height, this node needs the blocks in between first.
            if h > self.height + 1 {
                return Ok(());
            }
            if self.set.key(&from).is_some() {
                self.woken = Some(h);
            }
        } else if !self.started {
            self.start(false).await?;
        }
        match msg {
            Inbound::Wake { .. } | Inbound::Tip { .. } => {}
            Inbound::Block { height, round, raw } => {
                if raw.len() as u64 > self.chain.admission.params().max_block_bytes {
                    tracing::warn!(peer = %from, height, round, bytes = raw.len(), "dropping a proposed block over max_block_bytes");
                    return Ok(());
                }
                // Only the round's proposer sends its block (first or again): anyone
                // else's would take its place. Rounds far ahead are not kept: a
                // proposer could fill memory with blocks for rounds never reached.
                let current = if height == self.height {
                    self.core.round()
                } else {
                    0
                };
                if round > current + MAX_ROUNDS_AHEAD {
                    tracing::warn!(peer = %from, height, round, "dropping a block for a round far ahead");
                    return Ok(());
                }
                if from != self.proposer(height, round) {
                    tracing::warn!(peer = %from, height, round, "dropping a block from a validator that does not propose this round");
                    return Ok(());
                }
                let slot = self.slots.entry((height, round)).or_default();
                if slot.block.is_none() {
                    slot.block = Some((from, raw));
                    self.judge(round);
                }
            }
            Inbound::Consensus(m) => {
                if let SignedConsensusMsg::Proposal(p) = &m {
                    let p = p.message.clone();
                    let round = p.round.as_u32().unwrap_or(u32::MAX);
                    let current = if h == self.height {
                        self.core.round()
                    } else {
                        0
                    };
                    if round <= current + MAX_ROUNDS_AHEAD
                        && p.proposer.0 == self.proposer(h, round)
                    {
                        let slot = self.slots.entry((h, round)).or_default();
                        if slot.proposal.is_none() {
                            slot.proposal = Some(p);
                            self.judge(round);
                        }
                    }
                }
                let step = self.core.receive(m);
                self.apply(step).await?;
            }
            Inbound::Liveness(m) => {
                let step = self.core.receive_liveness(m);
                self.apply(step).await?;
            }
        }
        Ok(())
    }

    /// Once the proposal of `round` at this height and its block are both here, asks
    /// the importer (off this task) whether the block is valid.
    fn judge(&mut self, round: u32) {
        if !self.started {
            return;
        }
        let proposer = self.proposer(self.height, round);
        let Some(slot) = self.slots.get_mut(&(self.height, round)) else {
            return;
        };
        let (Some(proposal), Some((from, raw)), false) = (&slot.proposal, &slot.block, slot.judged)
        else {
            return;
        };
        slot.judged = true;
        let proposal = proposal.clone();
        let verdict = |why: String| Event::Judged {
            proposal: proposal.clone(),
            verdict: Err(why),
        };
        if proposal.proposer.0 != proposer || *from != proposer {
            // Not the round's proposer: the core ignores such a proposal; the block is
            // not ours to judge.
            tracing::warn!(peer = %from, round, "a proposal or block not from the round's proposer");
            return;
        }
        let sealed = match SealedBlock::decode(raw) {
            Ok(s) => s,
            Err(e) => {
                let _ = self.events.send(verdict(format!("undecodable block: {e}")));
                return;
            }
        };
        if sealed.hash != proposal.block.0 {
            let _ = self.events.send(verdict(format!(
                "the block sent hashes to {}, the proposal names {}",
                HashHex(&sealed.hash),
                proposal.block
            )));
            return;
        }
        let parent_time = self.chain.tip().header.time_ms;
        let limit = now_ms() + self.settings.max_clock_drift.as_millis() as u64;
        if sealed.header.time_ms <= parent_time || sealed.header.time_ms > limit {
            let _ = self.events.send(verdict(format!(
                "block time {} is not after its parent's ({parent_time}) and within {} ms of this validator's clock",
                sealed.header.time_ms,
                self.settings.max_clock_drift.as_millis()
            )));
            return;
        }
        self.raws.insert(sealed.hash, raw.clone());
        self.judging.insert(round);
        let chain = self.chain.clone();
        let events = self.events.clone();
        let raw = raw.clone();
        let height = self.height;
        tokio::task::spawn_blocking(move || {
            let began = std::time::Instant::now();
            let verdict = chain
                .import(&raw, Some(&proposer))
                .map(Box::new)
                .map_err(|e| e.to_string());
            tracing::debug!(
                height,
                round,
                ms = began.elapsed().as_millis() as u64,
                "judged a proposed block"
            );
            let _ = events.send(Event::Judged { proposal, verdict });
        });
    }

    async fn on_event(&mut self, event: Event) -> crate::Result<()> {
        match event {
            Event::Judged { proposal, verdict } => {
                if proposal.height.0 != self.height {
                    return Ok(());
                }
                let valid = match verdict {
                    Ok(imported) => {
                        self.imported.insert(proposal.block.0, *imported);
                        true
                    }
                    Err(why) => {
                        tracing::warn!(height = self.height, proposer = %proposal.proposer, block = %proposal.block, reason = %why, "prevoting nil: the proposed block is invalid");
                        false
                    }
                };
                let step = self.core.proposed(&proposal, valid);
                self.apply(step).await?;
                self.judging
                    .remove(&proposal.round.as_u32().unwrap_or(u32::MAX));
                for t in std::mem::take(&mut self.held) {
                    if t.round == proposal.round {
                        let step = self.core.timeout(t);
                        self.apply(step).await?;
                    } else {
                        self.held.push(t);
                    }
                }
                Ok(())
            }
            Event::Built {
                height,
                round,
                block,
            } => {
                if height != self.height {
                    return Ok(());
                }
                let (hash, raw) = match block {
                    Ok(b) => b,
                    Err(why) => {
                        tracing::warn!(height, round, reason = %why, "could not build a block to propose");
                        return Ok(());
                    }
                };
                match self.chain.import(&raw, None) {
                    Ok(imported) => {
                        self.imported.insert(hash, imported);
                    }
                    Err(e) => {
                        tracing::warn!(height, round, error = %e, "own block does not import");
                        if !super::misbehaves() {
                            return Ok(());
                        }
                    }
                }
                self.links
                    .broadcast(&wire::block_pb(height, round, raw.clone()));
                self.raws.insert(hash, raw);
                let step = self.core.propose(height, round, BlockId(hash));
                self.apply(step).await
            }
            Event::Fetched(peer, answer) => self.fetched(&peer, answer).await,
        }
    }

    /// Carries out what the core asked.
    async fn apply(&mut self, step: Step) -> crate::Result<()> {
        let actions = match step {
            Ok(actions) => actions,
            Err(e) => {
                tracing::warn!(height = self.height, error = %e, "consensus step refused");
                return Ok(());
            }
        };
        let chain_id = self.chain.chain_id().to_string();
        for action in actions {
            match action {
                Action::Publish(m) => {
                    self.links.broadcast(&wire::consensus_pb(&chain_id, &m));
                    #[cfg(feature = "byzantine")]
                    super::byzantine::publish_extra(&chain_id, &self.key, &self.links, &m);
                }
                Action::Liveness(m) => self.links.broadcast(&wire::liveness_pb(&chain_id, &m)),
                Action::Schedule(t, d) => {
                    self.timers.retain(|(_, x)| *x != t);
                    self.timers.push((Instant::now() + d, t));
                }
                Action::Cancel(t) => self.timers.retain(|(_, x)| *x != t),
                Action::CancelAll => self.timers.clear(),
                Action::Propose { height, round } => self.build(height, round),
                Action::Restream {
                    height,
                    round,
                    block,
                } => {
                    if let Some(raw) = self.raws.get(&block.0) {
                        self.links
                            .broadcast(&wire::block_pb(height, round, raw.clone()));
                    }
                }
                Action::Decided {
                    certificate,
                    equivocations,
                } => {
                    self.links.health.decided(certificate.round);
                    hand_over(
                        &self.caught,
                        self.chain.chain_id(),
                        &self.set,
                        equivocations,
                    );
                    self.commit(certificate).await?;
                }
            }
        }
        self.links.health.at(self.height, self.core.round());
        Ok(())
    }

    /// Commits the block `certificate` decided and moves to the next height.
    async fn commit(&mut self, certificate: pb::CommitCertificate) -> crate::Result<()> {
        let hash: Hash =
            certificate.block_hash.as_slice().try_into().map_err(|_| {
                ConsensusError::Corrupt("a decided block hash is not 32 bytes".into())
            })?;
        let imported = match self.imported.remove(&hash) {
            Some(i) => i,
            None => {
                let Some(raw) = self.raws.get(&hash).cloned() else {
                    // Decided without its block here: catch-up fetches it from a signer.
                    tracing::warn!(height = self.height, block = %HashHex(&hash), "decided a block this node does not hold; fetching it");
                    for s in certificate
                        .signatures
                        .iter()
                        .filter(|s| s.validator != self.me)
                    {
                        self.ahead.decided(&s.validator, self.height + 1);
                    }
                    return Ok(());
                };
                self.import_decided(raw).await?
            }
        };
        let chain = self.chain.clone();
        let began = std::time::Instant::now();
        let committed =
            tokio::task::spawn_blocking(move || chain.commit_decided(imported, certificate))
                .await
                .map_err(|e| err("commit", e))?;
        match committed {
            Ok(b) => {
                tracing::info!(
                    height = b.sealed.header.height,
                    txs = b.sealed.header.tx_count,
                    commit_ms = began.elapsed().as_millis() as u64,
                    "decided"
                );
            }
            Err(ApplyError::Node(e)) => return Err(e),
            Err(e) => {
                return Err(ConsensusError::Corrupt(format!(
                    "a decided block cannot commit: {e}"
                )));
            }
        }
        // The same core goes on: it holds the messages that came early for the next
        // height.
        self.next_height(false)
    }

    /// Moves to the height after the tip, with the set now in force; with `fresh`, on
    /// a new core (the old one is at a height this node skipped in catch-up).
    pub(super) fn next_height(&mut self, fresh: bool) -> crate::Result<()> {
        self.height = self.chain.tip().header.height + 1;
        self.set = voting_set(&self.chain)?;
        if fresh {
            self.core = new_core(
                &self.chain,
                &self.settings,
                &self.key,
                self.height,
                &self.set,
            )?;
        }
        self.started = false;
        self.timers.clear();
        self.judging.clear();
        self.held.clear();
        self.imported.clear();
        self.raws.clear();
        let height = self.height;
        self.slots.retain(|(h, _), _| *h >= height);
        self.ahead.reached(height);
        node::clear_wal_below(&self.chain, height)?;
        self.links.follow(&self.chain)
    }
}
