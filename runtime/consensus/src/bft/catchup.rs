//! Catch-up: a node seen behind its peers fetches the decided blocks it lacks and
//! commits each only with a commit certificate of the validator set in force at its
//! height (its own state after the block before); nothing a peer serves is trusted as
//! it comes.
//!
//! A node learns that peers are ahead from their messages, and on a chain gone idle from
//! the `Tip` each node sends its peers every few seconds. Nor is a peer's claim to be
//! ahead trusted: any peer can send a message for a height far beyond the chain's. So the node keeps each peer's highest height seen, asks one of
//! them, and a peer whose answer commits nothing (an error, a forged certificate, no
//! blocks) is passed over for [`SHUN`], so the next ask goes to another peer ahead.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use tokio::time::Instant;

use govchain_proof::commit::verify_commit;

use super::engine::{Engine, Event};
use super::node::err;
use super::service::MAX_BLOCKS_PER_CALL;
use super::wire::cpb;
use crate::{ApplyError, ConsensusError, Imported, SealedBlock};

/// How long a peer seen ahead must stay ahead before this node asks it (a peer one
/// height ahead is usually just a moment faster).
const BEHIND_FOR: Duration = Duration::from_secs(1);
/// How long a peer whose catch-up answer committed nothing is passed over.
const SHUN: Duration = Duration::from_secs(30);

/// The peers seen ahead of this node, for catch-up.
#[derive(Debug, Default)]
pub(super) struct Ahead {
    /// This node's id: asks start with the peers after it (in id order, round the ring),
    /// so that nodes behind spread their asks.
    me: String,
    /// Each peer's highest height seen, and since when.
    seen: BTreeMap<String, (u64, Instant)>,
    /// When each peer was last asked.
    asked: HashMap<String, Instant>,
    /// Peers passed over until the given time.
    shunned: HashMap<String, Instant>,
    /// Whether an ask is under way.
    pub(super) fetching: bool,
}

impl Ahead {
    /// Nothing seen yet, for node `me`.
    pub(super) fn new(me: &str) -> Self {
        Ahead {
            me: me.to_string(),
            ..Ahead::default()
        }
    }

    /// `peer` sent a message for `height`.
    pub(super) fn saw(&mut self, peer: &str, height: u64) {
        self.saw_since(peer, height, Instant::now());
    }

    /// `peer` decided `height` (its precommit is in a certificate): ask it at once.
    pub(super) fn decided(&mut self, peer: &str, height: u64) {
        self.saw_since(peer, height, Instant::now() - BEHIND_FOR);
    }

    fn saw_since(&mut self, peer: &str, height: u64, since: Instant) {
        let e = self.seen.entry(peer.to_string()).or_insert((height, since));
        if height > e.0 {
            *e = (height, since);
        }
    }

    /// This node reached `height`: claims up to it are old news.
    pub(super) fn reached(&mut self, height: u64) {
        self.seen.retain(|_, (h, _)| *h > height);
    }

    /// `peer`'s answer committed nothing: ask others first for a while.
    pub(super) fn failed(&mut self, peer: &str) {
        tracing::warn!(%peer, "catch-up: nothing committed from this peer's answer; asking others for {}s", SHUN.as_secs());
        self.shunned.insert(peer.to_string(), Instant::now() + SHUN);
    }

    /// The peer to ask from `height` on: of those seen ahead for long enough and not
    /// passed over, the one asked least recently, first the peers after this node round
    /// the ring. How far ahead a peer claims to be does not matter: a liar gains nothing
    /// by claiming more.
    fn pick(&mut self, height: u64) -> Option<String> {
        let now = Instant::now();
        self.shunned.retain(|_, until| *until > now);
        let after_me = |p: &str| p <= self.me.as_str();
        let peer = self
            .seen
            .iter()
            .filter(|(p, (h, since))| {
                *h > height && since.elapsed() >= BEHIND_FOR && !self.shunned.contains_key(*p)
            })
            .min_by_key(|(p, _)| (self.asked.get(*p).copied(), after_me(p), (*p).clone()))
            .map(|(p, _)| p.clone())?;
        self.asked.insert(peer.clone(), now);
        Some(peer)
    }
}

impl Engine {
    /// Asks a peer seen at a higher height for the decided blocks this node lacks, once
    /// it has stayed behind for a while.
    pub(super) fn catch_up(&mut self) {
        if self.ahead.fetching {
            return;
        }
        let Some(peer) = self.ahead.pick(self.height) else {
            return;
        };
        let Some(mut client) = self.links.client(&peer) else {
            return;
        };
        self.ahead.fetching = true;
        let events = self.events.clone();
        let from = self.height;
        tokio::spawn(async move {
            let req = cpb::GetBlocksRequest {
                from,
                max: MAX_BLOCKS_PER_CALL,
            };
            let r =
                match tokio::time::timeout(Duration::from_secs(10), client.get_blocks(req)).await {
                    Ok(Ok(r)) => Ok(r.into_inner().blocks),
                    Ok(Err(e)) => Err(e.message().to_string()),
                    Err(_) => Err("timed out".into()),
                };
            let _ = events.send(Event::Fetched(peer, r));
        });
    }

    /// Commits what `peer` answered, or passes it over if that is nothing.
    pub(super) async fn fetched(
        &mut self,
        peer: &str,
        answer: Result<Vec<Vec<u8>>, String>,
    ) -> crate::Result<()> {
        self.ahead.fetching = false;
        let committed = match answer {
            Ok(blocks) => self.apply_fetched(peer, blocks).await?,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "catch-up fetch failed");
                0
            }
        };
        if committed == 0 {
            self.ahead.failed(peer);
        }
        Ok(())
    }

    /// Commits blocks `peer` served, each only with a commit certificate of the set in
    /// force at its height; returns how many.
    async fn apply_fetched(&mut self, peer: &str, blocks: Vec<Vec<u8>>) -> crate::Result<usize> {
        let mut committed = 0;
        for raw in blocks {
            let sealed = match SealedBlock::decode(&raw) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(%peer, error = %e, "catch-up: an undecodable block");
                    return Ok(committed);
                }
            };
            if sealed.header.height != self.height {
                tracing::warn!(
                    %peer,
                    height = sealed.header.height,
                    expected = self.height,
                    "catch-up: a block out of order"
                );
                return Ok(committed);
            }
            let Some(cert) = sealed.block.commit.clone() else {
                tracing::warn!(
                    %peer,
                    height = self.height,
                    "catch-up: a block without its commit certificate"
                );
                return Ok(committed);
            };
            if let Err(e) = verify_commit(
                self.chain.chain_id(),
                &self.set,
                self.height,
                &sealed.hash,
                &cert,
            ) {
                tracing::warn!(%peer, height = self.height, error = %e, "catch-up: a commit certificate that does not verify");
                return Ok(committed);
            }
            let imported = self.import_decided(raw).await?;
            let chain = self.chain.clone();
            tokio::task::spawn_blocking(move || chain.commit_decided(imported, cert))
                .await
                .map_err(|e| err("commit", e))?
                .map_err(|e| {
                    ConsensusError::Corrupt(format!("a certified block cannot commit: {e}"))
                })?;
            tracing::info!(%peer, height = self.height, "caught up");
            self.next_height(true)?;
            committed += 1;
        }
        Ok(committed)
    }

    /// A block a commit certificate decided, imported for commit. One this node finds
    /// invalid means its own state is wrong: it stops rather than serve it.
    pub(super) async fn import_decided(&self, raw: Vec<u8>) -> crate::Result<Imported> {
        let chain = self.chain.clone();
        let imported = tokio::task::spawn_blocking(move || chain.import(&raw, None))
            .await
            .map_err(|e| err("import", e))?;
        imported.map_err(|e| match e {
            ApplyError::Node(e) => e,
            e => ConsensusError::Corrupt(format!(
                "STATE DIVERGED: more than 2/3 of the validators decided block {}, which this node finds invalid: {e}",
                self.height
            )),
        })
    }
}
