//! Misbehaviour on purpose, for the fault suite only: compiled with the cargo feature
//! `byzantine` (which only the integration tests turn on, never a release build) and
//! active only in a node started with `GOVCHAIN_BYZANTINE=<fault>`.
//!
//! - `equivocate`: each vote this node sends goes out with a second one of the same
//!   step for another value, and each proposal with a second one for another block,
//!   both to every peer, signed past the double-signing guard.

use std::sync::OnceLock;

use govchain_crypto::{PrivateKey, sm3};
use malachite_consensus::SignedConsensusMsg;
use malachite_types::{NilOrVal, SignedMessage};

use super::context::{BlockId, Gov, Sm2Signature};
use super::core::{proposal_sign_bytes, vote_sign_bytes};
use super::wire::{self, cpb};

/// The fault this node was started with, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fault {
    Equivocate,
}

/// The fault named by `GOVCHAIN_BYZANTINE` (read once; an unknown name stops the node,
/// so that a typo never runs an honest node in a Byzantine test).
pub(super) fn fault() -> Option<Fault> {
    static FAULT: OnceLock<Option<Fault>> = OnceLock::new();
    *FAULT.get_or_init(|| {
        let name = std::env::var("GOVCHAIN_BYZANTINE").ok()?;
        let fault = match name.as_str() {
            "equivocate" => Fault::Equivocate,
            other => panic!("GOVCHAIN_BYZANTINE={other}: no such fault (known: equivocate)"),
        };
        tracing::warn!(
            ?fault,
            "this node misbehaves on purpose (GOVCHAIN_BYZANTINE)"
        );
        Some(fault)
    })
}

/// Under `equivocate`, a second message contradicting `m`, signed with `key`.
pub(super) fn twin(
    chain_id: &str,
    key: &PrivateKey,
    m: &SignedConsensusMsg<Gov>,
) -> Option<cpb::Message> {
    if fault() != Some(Fault::Equivocate) {
        return None;
    }
    let other = |b: &BlockId| BlockId(sm3(&[b.0.as_slice(), b"twin"].concat()));
    let twin = match m {
        SignedConsensusMsg::Vote(v) => {
            let mut vote = v.message.clone();
            vote.block = match &vote.block {
                NilOrVal::Val(b) => NilOrVal::Val(other(b)),
                NilOrVal::Nil => NilOrVal::Val(BlockId([0xBA; 32])),
            };
            let sig = key.sign(&vote_sign_bytes(chain_id, &vote));
            SignedConsensusMsg::Vote(SignedMessage::new(vote, Sm2Signature(sig.to_bytes())))
        }
        SignedConsensusMsg::Proposal(p) => {
            let mut proposal = p.message.clone();
            proposal.block = other(&proposal.block);
            let sig = key.sign(&proposal_sign_bytes(chain_id, &proposal));
            SignedConsensusMsg::Proposal(SignedMessage::new(proposal, Sm2Signature(sig.to_bytes())))
        }
    };
    Some(wire::consensus_pb(chain_id, &twin))
}
