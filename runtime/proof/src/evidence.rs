//! Evidence of equivocation (`docs/design/bft.md`, "Evidence"): two signatures of one
//! validator that contradict each other, checked from the validator's key alone. Two
//! different votes of one step (prevote or precommit) at one height and round, or two
//! different proposals for one height and round, are something an honest validator
//! never signs (its double-signing guard refuses), so a pair of them proves the key
//! holder misbehaved.

use govchain_crypto::Signature;
use govchain_types::pb;

use crate::commit::{ValidatorSet, proposal_bytes, vote_bytes};

/// What a piece of evidence proves: who signed twice, where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offence {
    /// The validator that equivocated.
    pub validator: String,
    /// Height of both messages.
    pub height: u64,
    /// Round of both messages.
    pub round: u32,
    /// `prevote`, `precommit` or `proposal`.
    pub step: &'static str,
}

/// Why evidence is refused: what is wrong, in words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EvidenceError(pub String);

fn refuse<T>(reason: impl Into<String>) -> Result<T, EvidenceError> {
    Err(EvidenceError(reason.into()))
}

/// Checks that `evidence` proves an equivocation on chain `chain_id` by a validator of
/// `set`: both messages are for the same height, round and step, they differ, and both
/// signatures verify under that validator's key.
pub fn check_evidence(
    chain_id: &str,
    set: &ValidatorSet,
    evidence: &pb::Evidence,
) -> Result<Offence, EvidenceError> {
    use pb::evidence::Kind;
    match &evidence.kind {
        Some(Kind::Votes(d)) => double_vote(chain_id, set, d),
        Some(Kind::Proposals(d)) => double_proposal(chain_id, set, d),
        None => refuse("evidence without its messages (votes or proposals)"),
    }
}

fn double_vote(
    chain_id: &str,
    set: &ValidatorSet,
    d: &pb::DoubleVote,
) -> Result<Offence, EvidenceError> {
    let (Some(a), Some(b)) = (
        d.first
            .as_ref()
            .and_then(|s| s.vote.as_ref().map(|v| (v, s))),
        d.second
            .as_ref()
            .and_then(|s| s.vote.as_ref().map(|v| (v, s))),
    ) else {
        return refuse("double vote: both signed votes are needed");
    };
    let ((first, first_sig), (second, second_sig)) = (a, b);
    let step = match pb::VoteKind::try_from(first.kind) {
        Ok(pb::VoteKind::Prevote) => "prevote",
        Ok(pb::VoteKind::Precommit) => "precommit",
        _ => {
            return refuse(format!(
                "double vote: vote kind {} is not a step",
                first.kind
            ));
        }
    };
    if first.chain_id != chain_id || second.chain_id != chain_id {
        return refuse(format!(
            "double vote: votes of chain '{}' and '{}', not of '{chain_id}'",
            first.chain_id, second.chain_id
        ));
    }
    let same_step = (first.height, first.round, first.kind, &first.validator)
        == (second.height, second.round, second.kind, &second.validator);
    if !same_step {
        return refuse("double vote: the votes are not of one validator, height, round and step");
    }
    if first.block_hash == second.block_hash {
        return refuse("double vote: both votes are for the same block");
    }
    let offence = Offence {
        validator: first.validator.clone(),
        height: first.height,
        round: first.round,
        step,
    };
    for (v, s) in [(first, first_sig), (second, second_sig)] {
        let kind = pb::VoteKind::try_from(v.kind).unwrap_or(pb::VoteKind::Unspecified);
        let bytes = vote_bytes(
            chain_id,
            v.height,
            v.round,
            kind,
            &v.block_hash,
            &v.validator,
        );
        verify(set, &offence.validator, &bytes, &s.signature)?;
    }
    Ok(offence)
}

fn double_proposal(
    chain_id: &str,
    set: &ValidatorSet,
    d: &pb::DoubleProposal,
) -> Result<Offence, EvidenceError> {
    let (Some(a), Some(b)) = (
        d.first
            .as_ref()
            .and_then(|s| s.proposal.as_ref().map(|p| (p, s))),
        d.second
            .as_ref()
            .and_then(|s| s.proposal.as_ref().map(|p| (p, s))),
    ) else {
        return refuse("double proposal: both signed proposals are needed");
    };
    let ((first, first_sig), (second, second_sig)) = (a, b);
    if (first.height, first.round, &first.proposer)
        != (second.height, second.round, &second.proposer)
    {
        return refuse("double proposal: the proposals are not of one proposer, height and round");
    }
    if (&first.block_hash, first.valid_round) == (&second.block_hash, second.valid_round) {
        return refuse("double proposal: both proposals are the same");
    }
    let offence = Offence {
        validator: first.proposer.clone(),
        height: first.height,
        round: first.round,
        step: "proposal",
    };
    for (p, s) in [(first, first_sig), (second, second_sig)] {
        let bytes = proposal_bytes(
            chain_id,
            p.height,
            p.round,
            p.valid_round,
            &p.block_hash,
            &p.proposer,
        );
        verify(set, &offence.validator, &bytes, &s.signature)?;
    }
    Ok(offence)
}

fn verify(
    set: &ValidatorSet,
    validator: &str,
    bytes: &[u8],
    signature: &[u8],
) -> Result<(), EvidenceError> {
    let Some(key) = set.key(validator) else {
        return refuse(format!("'{validator}' is not a voting validator"));
    };
    Signature::from_slice(signature)
        .and_then(|sig| key.verify(bytes, &sig))
        .or_else(|_| refuse(format!("a signature of '{validator}' does not verify")))
}

#[cfg(test)]
mod tests {
    use govchain_crypto::PrivateKey;

    use super::*;

    const CHAIN: &str = "evidence-test";

    fn keys() -> (Vec<PrivateKey>, ValidatorSet) {
        let keys: Vec<_> = (0..4).map(|_| PrivateKey::generate()).collect();
        let set = ValidatorSet::new(
            keys.iter()
                .enumerate()
                .map(|(i, k)| (format!("node{}", i + 1), k.public_key())),
        )
        .unwrap();
        (keys, set)
    }

    fn vote(key: &PrivateKey, who: &str, kind: pb::VoteKind, block: &[u8]) -> pb::SignedVote {
        let bytes = vote_bytes(CHAIN, 7, 1, kind, block, who);
        pb::SignedVote {
            vote: Some(pb::ConsensusVote {
                chain_id: CHAIN.into(),
                height: 7,
                round: 1,
                kind: kind as i32,
                block_hash: block.to_vec(),
                validator: who.into(),
            }),
            signature: key.sign(&bytes).to_bytes().to_vec(),
        }
    }

    fn votes(first: pb::SignedVote, second: pb::SignedVote) -> pb::Evidence {
        pb::Evidence {
            kind: Some(pb::evidence::Kind::Votes(pb::DoubleVote {
                first: Some(first),
                second: Some(second),
            })),
        }
    }

    fn proposal(
        key: &PrivateKey,
        who: &str,
        block: &[u8],
        valid: Option<u32>,
    ) -> pb::SignedBlockProposal {
        let bytes = proposal_bytes(CHAIN, 7, 2, valid, block, who);
        pb::SignedBlockProposal {
            proposal: Some(pb::BlockProposal {
                height: 7,
                round: 2,
                block_hash: block.to_vec(),
                valid_round: valid,
                proposer: who.into(),
            }),
            signature: key.sign(&bytes).to_bytes().to_vec(),
        }
    }

    #[test]
    fn two_votes_of_one_step_for_different_blocks_prove_an_equivocation() {
        let (k, set) = keys();
        let pre = pb::VoteKind::Precommit;
        let ev = votes(
            vote(&k[2], "node3", pre, &[1; 32]),
            vote(&k[2], "node3", pre, &[]),
        );
        let offence = check_evidence(CHAIN, &set, &ev).unwrap();
        assert_eq!(
            offence,
            Offence {
                validator: "node3".into(),
                height: 7,
                round: 1,
                step: "precommit"
            }
        );
    }

    #[test]
    fn two_proposals_for_one_round_prove_an_equivocation() {
        let (k, set) = keys();
        let ev = pb::Evidence {
            kind: Some(pb::evidence::Kind::Proposals(pb::DoubleProposal {
                first: Some(proposal(&k[0], "node1", &[1; 32], None)),
                second: Some(proposal(&k[0], "node1", &[1; 32], Some(0))),
            })),
        };
        assert_eq!(check_evidence(CHAIN, &set, &ev).unwrap().step, "proposal");
    }

    #[test]
    fn what_an_honest_validator_signs_is_no_evidence() {
        let (k, set) = keys();
        let (pre, com) = (pb::VoteKind::Prevote, pb::VoteKind::Precommit);
        let cases = [
            // The same vote twice.
            votes(
                vote(&k[0], "node1", pre, &[1; 32]),
                vote(&k[0], "node1", pre, &[1; 32]),
            ),
            // A prevote and a precommit: two steps.
            votes(
                vote(&k[0], "node1", pre, &[1; 32]),
                vote(&k[0], "node1", com, &[2; 32]),
            ),
            // Two validators' votes.
            votes(
                vote(&k[0], "node1", pre, &[1; 32]),
                vote(&k[1], "node2", pre, &[2; 32]),
            ),
        ];
        for ev in cases {
            assert!(check_evidence(CHAIN, &set, &ev).is_err(), "{ev:?}");
        }
    }

    #[test]
    fn evidence_no_key_signed_frames_nobody() {
        let (k, set) = keys();
        let pre = pb::VoteKind::Prevote;
        // node1 forges a second vote "of node2" with its own key.
        let forged = votes(
            vote(&k[1], "node2", pre, &[1; 32]),
            vote(&k[0], "node2", pre, &[2; 32]),
        );
        let e = check_evidence(CHAIN, &set, &forged).unwrap_err();
        assert!(e.0.contains("'node2' does not verify"), "{e}");
        // Real votes of another chain.
        let mut other = votes(
            vote(&k[1], "node2", pre, &[1; 32]),
            vote(&k[1], "node2", pre, &[2; 32]),
        );
        assert!(check_evidence("other-chain", &set, &other).is_err());
        // A validator that is not in the set.
        let outsider = PrivateKey::generate();
        other = votes(
            vote(&outsider, "node9", pre, &[1; 32]),
            vote(&outsider, "node9", pre, &[2; 32]),
        );
        let e = check_evidence(CHAIN, &set, &other).unwrap_err();
        assert!(e.0.contains("not a voting validator"), "{e}");
        assert!(check_evidence(CHAIN, &set, &pb::Evidence { kind: None }).is_err());
    }
}
