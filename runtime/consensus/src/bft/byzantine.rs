//! Misbehaviour on purpose, for the fault suite only: compiled with the cargo feature
//! `byzantine` (which only the integration tests turn on, never a release build) and
//! active only in a node started with `GOVCHAIN_BYZANTINE=<fault>`.
//!
//! - `equivocate`: each vote this node sends goes out with a second one of the same
//!   step for another value, and each proposal with a second one for another block,
//!   both to every peer, signed past the double-signing guard;
//! - `impersonate`: each vote also goes out under the name of another validator (the
//!   next in the set), signed with this node's own key;
//! - `clock-ahead`: the blocks it proposes carry a time a year ahead of its clock (a
//!   block consistent in every other respect: executed at that time);
//! - `reinclude`: the blocks it proposes also carry the transactions of the last
//!   committed block;
//! - `oversized`: the blocks it proposes carry every waiting transaction, past the
//!   chain's `max_block_txs` and `max_block_bytes`;
//! - `forged-catchup`: it claims to be 1,000 heights ahead (a vote for that height goes
//!   with each of its votes), and answers catch-up asks with blocks whose commit
//!   certificates keep one signature of their quorum.
//!
//! A proposer at fault proposes its block even though its own importer refuses it.

use std::sync::OnceLock;

use govchain_crypto::{Sm2Signer, sm3};
use govchain_state::VerifiedTx;
use govchain_types::pb;
use malachite_consensus::SignedConsensusMsg;
use malachite_types::{NilOrVal, SignedMessage};

use super::context::{BlockId, Gov, Height, Sm2Signature, ValidatorId, Vote};
use super::core::{proposal_sign_bytes, vote_sign_bytes};
use super::links::Links;
use super::wire::{self, cpb};
use crate::Chain;

/// The fault this node was started with, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fault {
    Equivocate,
    Impersonate,
    ClockAhead,
    Reinclude,
    Oversized,
    ForgedCatchup,
}

/// A year, in ms.
const YEAR_MS: u64 = 365 * 86_400_000;

/// The fault named by `GOVCHAIN_BYZANTINE` (read once; an unknown name stops the node,
/// so that a typo never runs an honest node in a Byzantine test).
pub(super) fn fault() -> Option<Fault> {
    static FAULT: OnceLock<Option<Fault>> = OnceLock::new();
    *FAULT.get_or_init(|| {
        let name = std::env::var("GOVCHAIN_BYZANTINE").ok()?;
        let fault = match name.as_str() {
            "equivocate" => Fault::Equivocate,
            "impersonate" => Fault::Impersonate,
            "clock-ahead" => Fault::ClockAhead,
            "reinclude" => Fault::Reinclude,
            "oversized" => Fault::Oversized,
            "forged-catchup" => Fault::ForgedCatchup,
            other => panic!(
                "GOVCHAIN_BYZANTINE={other}: no such fault (known: equivocate, impersonate, clock-ahead, reinclude, oversized, forged-catchup)"
            ),
        };
        tracing::warn!(
            ?fault,
            "this node misbehaves on purpose (GOVCHAIN_BYZANTINE)"
        );
        Some(fault)
    })
}

/// The time a proposer puts in its block: `honest`, or a year later under `clock-ahead`.
pub(super) fn block_time(honest: u64) -> u64 {
    match fault() {
        Some(Fault::ClockAhead) => honest + YEAR_MS,
        _ => honest,
    }
}

/// The transactions a proposer puts in its block: `honest` (what the mempool gave within
/// the caps), plus the last committed block's under `reinclude`, plus every other waiting
/// one under `oversized`.
pub(super) fn block_txs(chain: &Chain, mut txs: Vec<VerifiedTx>) -> Vec<VerifiedTx> {
    match fault() {
        Some(Fault::Reinclude) => {
            let tip = chain.tip().header.height;
            let committed = chain
                .store()
                .block(tip)
                .ok()
                .flatten()
                .and_then(|raw| govchain_types::decode::<pb::Block>("block", &raw).ok())
                .map(|b| b.txs)
                .unwrap_or_default();
            txs.extend(
                chain
                    .admission
                    .verify_batch(committed)
                    .into_iter()
                    .flatten(),
            );
        }
        Some(Fault::Oversized) => txs.extend(chain.mempool.lock().take(usize::MAX, u64::MAX)),
        _ => {}
    }
    txs
}

/// A catch-up answer: `blocks` as stored, or under `forged-catchup` with certificates cut
/// down to one signature.
pub(super) fn served(blocks: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    if fault() != Some(Fault::ForgedCatchup) {
        return blocks;
    }
    blocks
        .into_iter()
        .map(|raw| {
            let Ok(mut block) = govchain_types::decode::<pb::Block>("block", &raw) else {
                return raw;
            };
            if let Some(c) = block.commit.as_mut() {
                c.signatures.truncate(1);
            }
            govchain_types::encode(&block)
        })
        .collect()
}

/// Sends to every peer what goes out besides `m` under the fault, if anything.
pub(super) fn publish_extra(
    chain_id: &str,
    key: &dyn Sm2Signer,
    links: &Links,
    m: &SignedConsensusMsg<Gov>,
) {
    let peers = links.ids();
    if let Some(extra) = extra(chain_id, key, &peers, m) {
        links.broadcast(&extra);
    }
}

/// What goes out besides `m`: under `equivocate` a second message contradicting it,
/// under `impersonate` a copy of a vote naming another validator (the first of
/// `others`), under `forged-catchup` a vote 1,000 heights ahead; signed with `key`.
fn extra(
    chain_id: &str,
    key: &dyn Sm2Signer,
    others: &[String],
    m: &SignedConsensusMsg<Gov>,
) -> Option<cpb::Message> {
    let fault = fault()?;
    let other = |b: &BlockId| BlockId(sm3(&[b.0.as_slice(), b"twin"].concat()));
    let sign_vote = |vote: Vote| {
        let sig = key.sign(&vote_sign_bytes(chain_id, &vote));
        SignedConsensusMsg::Vote(SignedMessage::new(vote, Sm2Signature(sig.to_bytes())))
    };
    let out = match (fault, m) {
        (Fault::Equivocate, SignedConsensusMsg::Vote(v)) => {
            let mut vote = v.message.clone();
            vote.block = match &vote.block {
                NilOrVal::Val(b) => NilOrVal::Val(other(b)),
                NilOrVal::Nil => NilOrVal::Val(BlockId([0xBA; 32])),
            };
            sign_vote(vote)
        }
        (Fault::Equivocate, SignedConsensusMsg::Proposal(p)) => {
            let mut proposal = p.message.clone();
            proposal.block = other(&proposal.block);
            let sig = key.sign(&proposal_sign_bytes(chain_id, &proposal));
            SignedConsensusMsg::Proposal(SignedMessage::new(proposal, Sm2Signature(sig.to_bytes())))
        }
        (Fault::Impersonate, SignedConsensusMsg::Vote(v)) => {
            let mut vote = v.message.clone();
            vote.validator = ValidatorId(others.first()?.clone());
            sign_vote(vote)
        }
        (Fault::ForgedCatchup, SignedConsensusMsg::Vote(v)) => {
            let mut vote = v.message.clone();
            vote.height = Height(vote.height.0 + 1_000);
            sign_vote(vote)
        }
        _ => return None,
    };
    Some(wire::consensus_pb(chain_id, &out))
}
