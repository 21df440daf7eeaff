//! Consensus messages on the wire (`proto/govchain/v1/consensus.proto`) and back. A
//! message from a peer is checked here for shape only (its chain, field sizes, a defined
//! round); its signature is the core's to check, and who may send it is the service's.

use govchain_types::pb;
use malachite_consensus::{LivenessMsg, SignedConsensusMsg};
use malachite_types::{
    NilOrVal, PolkaCertificate, PolkaSignature, Round, RoundCertificate, RoundCertificateType,
    RoundSignature, SignedMessage, SignedProposal, SignedVote, VoteType,
};

use super::context::{BlockId, Gov, Height, Proposal, Sm2Signature, ValidatorId, Vote};

/// Generated messages and service of `proto/govchain/v1/consensus.proto`.
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod cpb {
    include!(concat!(env!("OUT_DIR"), "/govchain.v1.consensus.rs"));
}

/// A message from a peer, decoded.
#[derive(Debug, Clone)]
pub enum Inbound {
    /// A vote or proposal.
    Consensus(SignedConsensusMsg<Gov>),
    /// Round synchronisation.
    Liveness(LivenessMsg<Gov>),
    /// The sender started `height` on transactions of its own.
    Wake {
        /// The height.
        height: u64,
    },
    /// The sender is at `height` (it decided the ones below).
    Tip {
        /// The height.
        height: u64,
    },
    /// The block of the proposal of `height` and `round`.
    Block {
        /// Its height.
        height: u64,
        /// The round it is proposed in.
        round: u32,
        /// The encoded block.
        raw: Vec<u8>,
    },
}

impl Inbound {
    /// The height the message is about.
    pub fn height(&self) -> u64 {
        match self {
            Inbound::Consensus(m) => m.height().0,
            Inbound::Liveness(LivenessMsg::Vote(v)) => v.message.height.0,
            Inbound::Liveness(LivenessMsg::PolkaCertificate(c)) => c.height.0,
            Inbound::Liveness(LivenessMsg::SkipRoundCertificate(c)) => c.height.0,
            Inbound::Block { height, .. } | Inbound::Wake { height } | Inbound::Tip { height } => {
                *height
            }
        }
    }

    /// The validator whose own message this claims to be (only that validator's
    /// connection may deliver it); `None` for certificates, which any node relays.
    pub fn author(&self) -> Option<&str> {
        match self {
            Inbound::Consensus(SignedConsensusMsg::Vote(v))
            | Inbound::Liveness(LivenessMsg::Vote(v)) => Some(&v.message.validator.0),
            Inbound::Consensus(SignedConsensusMsg::Proposal(p)) => Some(&p.message.proposer.0),
            Inbound::Liveness(_)
            | Inbound::Block { .. }
            | Inbound::Wake { .. }
            | Inbound::Tip { .. } => None,
        }
    }
}

pub(super) fn hash(bytes: &[u8], what: &str) -> Result<BlockId, String> {
    bytes
        .try_into()
        .map(BlockId)
        .map_err(|_| format!("{what}: a block hash is 32 bytes, not {}", bytes.len()))
}

fn signature(bytes: &[u8]) -> Result<Sm2Signature, String> {
    bytes
        .try_into()
        .map(Sm2Signature)
        .map_err(|_| format!("an SM2 signature is 64 bytes, not {}", bytes.len()))
}

fn nil_or(bytes: &[u8]) -> Result<NilOrVal<BlockId>, String> {
    if bytes.is_empty() {
        Ok(NilOrVal::Nil)
    } else {
        hash(bytes, "vote").map(NilOrVal::Val)
    }
}

fn nil_bytes(v: &NilOrVal<BlockId>) -> Vec<u8> {
    match v {
        NilOrVal::Nil => Vec::new(),
        NilOrVal::Val(b) => b.0.to_vec(),
    }
}

fn kind_pb(k: VoteType) -> i32 {
    match k {
        VoteType::Prevote => pb::VoteKind::Prevote as i32,
        VoteType::Precommit => pb::VoteKind::Precommit as i32,
    }
}

fn kind(k: i32) -> Result<VoteType, String> {
    match pb::VoteKind::try_from(k) {
        Ok(pb::VoteKind::Prevote) => Ok(VoteType::Prevote),
        Ok(pb::VoteKind::Precommit) => Ok(VoteType::Precommit),
        _ => Err(format!("vote kind {k} is neither prevote nor precommit")),
    }
}

fn round(r: Round) -> u32 {
    r.as_u32().unwrap_or(u32::MAX)
}

/// A defined round from the wire (`u32::MAX` stands for none in Malachite's `Round`).
pub(super) fn wire_round(r: u32) -> Result<Round, String> {
    if r == u32::MAX {
        return Err("round 2^32 - 1 is not a round".into());
    }
    Ok(Round::new(r))
}

/// A signed vote as sent.
pub fn vote_pb(chain_id: &str, v: &SignedVote<Gov>) -> pb::SignedVote {
    let m = &v.message;
    pb::SignedVote {
        vote: Some(pb::ConsensusVote {
            chain_id: chain_id.into(),
            height: m.height.0,
            round: round(m.round),
            kind: kind_pb(m.kind),
            block_hash: nil_bytes(&m.block),
            validator: m.validator.0.clone(),
        }),
        signature: v.signature.0.to_vec(),
    }
}

/// A signed vote received.
pub fn vote(chain_id: &str, v: &pb::SignedVote) -> Result<SignedVote<Gov>, String> {
    let m = v.vote.as_ref().ok_or("a vote without its vote")?;
    if m.chain_id != chain_id {
        return Err(format!("a vote of chain '{}'", m.chain_id));
    }
    Ok(SignedMessage::new(
        Vote {
            kind: kind(m.kind)?,
            height: Height(m.height),
            round: wire_round(m.round)?,
            block: nil_or(&m.block_hash)?,
            validator: ValidatorId(m.validator.clone()),
        },
        signature(&v.signature)?,
    ))
}

/// A signed proposal as sent.
pub fn proposal_pb(p: &SignedProposal<Gov>) -> pb::SignedBlockProposal {
    let m = &p.message;
    pb::SignedBlockProposal {
        proposal: Some(pb::BlockProposal {
            height: m.height.0,
            round: round(m.round),
            block_hash: m.block.0.to_vec(),
            valid_round: m.valid_round.as_u32(),
            proposer: m.proposer.0.clone(),
        }),
        signature: p.signature.0.to_vec(),
    }
}

/// A signed proposal received.
pub fn proposal(p: &pb::SignedBlockProposal) -> Result<SignedProposal<Gov>, String> {
    let m = p
        .proposal
        .as_ref()
        .ok_or("a proposal without its proposal")?;
    let valid_round = match m.valid_round {
        None => Round::Nil,
        Some(r) if r < m.round => Round::new(r),
        Some(r) => return Err(format!("valid round {r} is not before round {}", m.round)),
    };
    Ok(SignedMessage::new(
        Proposal {
            height: Height(m.height),
            round: wire_round(m.round)?,
            block: hash(&m.block_hash, "proposal")?,
            valid_round,
            proposer: ValidatorId(m.proposer.clone()),
        },
        signature(&p.signature)?,
    ))
}

/// One validator's signature as certificates carry it.
pub(super) fn signature_pb(
    validator: &ValidatorId,
    signature: &Sm2Signature,
) -> pb::CommitSignature {
    pb::CommitSignature {
        validator: validator.0.clone(),
        signature: signature.0.to_vec(),
    }
}

pub(super) fn polka_pb(c: &PolkaCertificate<Gov>) -> cpb::PolkaCertificate {
    cpb::PolkaCertificate {
        height: c.height.0,
        round: round(c.round),
        block_hash: c.value_id.0.to_vec(),
        signatures: c
            .polka_signatures
            .iter()
            .map(|s| signature_pb(&s.address, &s.signature))
            .collect(),
    }
}

pub(super) fn polka(c: &cpb::PolkaCertificate) -> Result<PolkaCertificate<Gov>, String> {
    Ok(PolkaCertificate {
        height: Height(c.height),
        round: wire_round(c.round)?,
        value_id: hash(&c.block_hash, "polka certificate")?,
        polka_signatures: c
            .signatures
            .iter()
            .map(|s| {
                Ok(PolkaSignature::new(
                    ValidatorId(s.validator.clone()),
                    signature(&s.signature)?,
                ))
            })
            .collect::<Result<_, String>>()?,
    })
}

fn round_certificate_pb(c: &RoundCertificate<Gov>) -> cpb::RoundCertificate {
    cpb::RoundCertificate {
        height: c.height.0,
        round: round(c.round),
        kind: match c.cert_type {
            RoundCertificateType::Skip => cpb::RoundCertificateKind::Skip,
            RoundCertificateType::Precommit => cpb::RoundCertificateKind::Precommit,
        } as i32,
        signatures: c
            .round_signatures
            .iter()
            .map(|s| cpb::RoundSignature {
                validator: s.address.0.clone(),
                kind: kind_pb(s.vote_type),
                block_hash: nil_bytes(&s.value_id),
                signature: s.signature.0.to_vec(),
            })
            .collect(),
    }
}

fn round_certificate(c: &cpb::RoundCertificate) -> Result<RoundCertificate<Gov>, String> {
    let cert_type = match cpb::RoundCertificateKind::try_from(c.kind) {
        Ok(cpb::RoundCertificateKind::Skip) => RoundCertificateType::Skip,
        Ok(cpb::RoundCertificateKind::Precommit) => RoundCertificateType::Precommit,
        _ => return Err(format!("round certificate kind {}", c.kind)),
    };
    Ok(RoundCertificate {
        height: Height(c.height),
        round: wire_round(c.round)?,
        cert_type,
        round_signatures: c
            .signatures
            .iter()
            .map(|s| {
                Ok(RoundSignature::new(
                    kind(s.kind)?,
                    nil_or(&s.block_hash)?,
                    ValidatorId(s.validator.clone()),
                    signature(&s.signature)?,
                ))
            })
            .collect::<Result<_, String>>()?,
    })
}

/// A consensus message as sent.
pub fn consensus_pb(chain_id: &str, m: &SignedConsensusMsg<Gov>) -> cpb::Message {
    use cpb::message::Kind;
    let kind = match m {
        SignedConsensusMsg::Vote(v) => Kind::Vote(vote_pb(chain_id, v)),
        SignedConsensusMsg::Proposal(p) => Kind::Proposal(proposal_pb(p)),
    };
    cpb::Message { kind: Some(kind) }
}

/// A round-synchronisation message as sent.
pub fn liveness_pb(chain_id: &str, m: &LivenessMsg<Gov>) -> cpb::Message {
    use cpb::message::Kind;
    let kind = match m {
        LivenessMsg::Vote(v) => Kind::Rebroadcast(vote_pb(chain_id, v)),
        LivenessMsg::PolkaCertificate(c) => Kind::Polka(polka_pb(c)),
        LivenessMsg::SkipRoundCertificate(c) => Kind::RoundCertificate(round_certificate_pb(c)),
    };
    cpb::Message { kind: Some(kind) }
}

/// A proposed block as sent.
pub fn block_pb(height: u64, round: u32, raw: Vec<u8>) -> cpb::Message {
    cpb::Message {
        kind: Some(cpb::message::Kind::Block(cpb::ProposedBlock {
            height,
            round,
            block: raw,
        })),
    }
}

/// A wake-up for `height` as sent.
pub fn wake_pb(height: u64) -> cpb::Message {
    cpb::Message {
        kind: Some(cpb::message::Kind::Wake(cpb::Wake { height })),
    }
}

/// This node's height, for a peer seen behind.
pub fn tip_pb(height: u64) -> cpb::Message {
    cpb::Message {
        kind: Some(cpb::message::Kind::Tip(cpb::Tip { height })),
    }
}

/// A message received.
pub fn inbound(chain_id: &str, m: cpb::Message) -> Result<Inbound, String> {
    use cpb::message::Kind;
    Ok(match m.kind.ok_or("an empty message")? {
        Kind::Vote(v) => Inbound::Consensus(SignedConsensusMsg::Vote(vote(chain_id, &v)?)),
        Kind::Proposal(p) => Inbound::Consensus(SignedConsensusMsg::Proposal(proposal(&p)?)),
        Kind::Block(b) => Inbound::Block {
            height: b.height,
            round: b.round,
            raw: b.block,
        },
        Kind::Wake(w) => Inbound::Wake { height: w.height },
        Kind::Tip(t) => Inbound::Tip { height: t.height },
        Kind::Rebroadcast(v) => Inbound::Liveness(LivenessMsg::Vote(vote(chain_id, &v)?)),
        Kind::Polka(c) => Inbound::Liveness(LivenessMsg::PolkaCertificate(polka(&c)?)),
        Kind::RoundCertificate(c) => {
            Inbound::Liveness(LivenessMsg::SkipRoundCertificate(round_certificate(&c)?))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed_vote(block: NilOrVal<BlockId>) -> SignedVote<Gov> {
        SignedMessage::new(
            Vote {
                kind: VoteType::Precommit,
                height: Height(7),
                round: Round::new(2),
                block,
                validator: ValidatorId("node3".into()),
            },
            Sm2Signature([9; 64]),
        )
    }

    #[test]
    fn messages_come_back_as_they_were_sent() {
        for block in [NilOrVal::Nil, NilOrVal::Val(BlockId([5; 32]))] {
            let v = signed_vote(block);
            let m = consensus_pb("c", &SignedConsensusMsg::Vote(v.clone()));
            match inbound("c", m).unwrap() {
                Inbound::Consensus(SignedConsensusMsg::Vote(back)) => assert_eq!(back, v),
                other => panic!("{other:?}"),
            }
        }
        let p = SignedMessage::new(
            Proposal {
                height: Height(3),
                round: Round::new(4),
                block: BlockId([1; 32]),
                valid_round: Round::new(1),
                proposer: ValidatorId("node2".into()),
            },
            Sm2Signature([3; 64]),
        );
        let m = consensus_pb("c", &SignedConsensusMsg::Proposal(p.clone()));
        let back = inbound("c", m).unwrap();
        assert_eq!(back.author(), Some("node2"));
        assert!(matches!(back, Inbound::Consensus(SignedConsensusMsg::Proposal(b)) if b == p));
        let cert = RoundCertificate::<Gov> {
            height: Height(7),
            round: Round::new(2),
            cert_type: RoundCertificateType::Skip,
            round_signatures: vec![RoundSignature::new(
                VoteType::Prevote,
                NilOrVal::Nil,
                ValidatorId("node1".into()),
                Sm2Signature([4; 64]),
            )],
        };
        let m = liveness_pb("c", &LivenessMsg::SkipRoundCertificate(cert.clone()));
        let back = inbound("c", m).unwrap();
        assert_eq!(back.author(), None, "certificates are relayed by anyone");
        assert!(
            matches!(back, Inbound::Liveness(LivenessMsg::SkipRoundCertificate(c)) if c == cert)
        );
        let back = inbound("c", wake_pb(9)).unwrap();
        assert!(matches!(back, Inbound::Wake { height: 9 }));
        assert_eq!((back.height(), back.author()), (9, None));
        let back = inbound("c", tip_pb(12)).unwrap();
        assert!(matches!(back, Inbound::Tip { height: 12 }));
        assert_eq!((back.height(), back.author()), (12, None));
    }

    #[test]
    fn malformed_messages_are_refused_with_what_is_wrong() {
        let good = vote_pb("c", &signed_vote(NilOrVal::Nil));
        let e = vote("other", &good).unwrap_err();
        assert!(e.contains("chain 'c'"), "{e}");
        let mut short = good.clone();
        short.signature.pop();
        assert!(vote("c", &short).unwrap_err().contains("64 bytes"));
        let mut hash = good.clone();
        hash.vote.as_mut().unwrap().block_hash = vec![1; 31];
        assert!(vote("c", &hash).unwrap_err().contains("32 bytes"));
        let mut kind = good.clone();
        kind.vote.as_mut().unwrap().kind = 0;
        assert!(vote("c", &kind).unwrap_err().contains("vote kind"));
        let mut round = good;
        round.vote.as_mut().unwrap().round = u32::MAX;
        assert!(vote("c", &round).unwrap_err().contains("not a round"));
        let p = pb::SignedBlockProposal {
            proposal: Some(pb::BlockProposal {
                height: 1,
                round: 1,
                block_hash: vec![0; 32],
                valid_round: Some(1),
                proposer: "node1".into(),
            }),
            signature: vec![0; 64],
        };
        assert!(proposal(&p).unwrap_err().contains("not before round"));
        assert_eq!(
            inbound("c", cpb::Message { kind: None }).unwrap_err(),
            "an empty message"
        );
    }
}
