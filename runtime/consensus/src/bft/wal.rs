//! The write-ahead log of the height a validator is deciding: every input Malachite asks
//! to keep (`Effect::WalAppend`: votes, proposals, polka certificates, elapsed timeouts,
//! the importer's verdicts) is appended to node metadata before the step that follows
//! it goes on, and replayed when the validator restarts. Without it a validator that
//! precommitted a block and crashed would come back unlocked and could prevote another
//! block in a later round of the same height (lock amnesia), which is what lets up to f
//! Byzantine validators fork the chain with a crashed honest one
//! (`docs/design/bft.md`, "WAL and double signing").

use malachite_consensus::{Input, ProposedValue};
use malachite_types::{Round, Timeout, TimeoutKind, Validity, ValueOrigin};
use prost::Message;

use super::context::{Gov, Height, ValidatorId};
use super::wire::{self, cpb};

/// Where a validator's log is appended to: `(height, encoded entry)`.
pub type Sink = Box<dyn FnMut(u64, &[u8]) -> Result<(), String> + Send + Sync>;

/// Prefix of the log's keys in node metadata; a key is the prefix, the height and the
/// entry's sequence number (both big-endian, so keys sort as they were appended).
pub(super) const PREFIX: &[u8] = b"bft/wal/";

/// The key of entry `seq` of `height`.
pub(super) fn key(height: u64, seq: u32) -> Vec<u8> {
    let mut k = PREFIX.to_vec();
    k.extend_from_slice(&height.to_be_bytes());
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// The first key of `height`'s entries (and the end of the ones before it).
pub(super) fn height_key(height: u64) -> Vec<u8> {
    let mut k = PREFIX.to_vec();
    k.extend_from_slice(&height.to_be_bytes());
    k
}

/// The stored form of an input, if it is one the log keeps.
pub fn encode(chain_id: &str, input: &Input<Gov>) -> Option<Vec<u8>> {
    use cpb::wal_entry::Kind;
    let kind = match input {
        Input::Vote(v) => Kind::Vote(wire::vote_pb(chain_id, v)),
        Input::Proposal(p) => Kind::Proposal(wire::proposal_pb(p)),
        Input::PolkaCertificate(c) => Kind::Polka(wire::polka_pb(c)),
        Input::TimeoutElapsed(t) => Kind::Timeout(cpb::WalTimeout {
            round: t.round.as_u32()?,
            kind: match t.kind {
                TimeoutKind::Propose => cpb::TimeoutKind::Propose,
                TimeoutKind::Prevote => cpb::TimeoutKind::Prevote,
                TimeoutKind::Precommit => cpb::TimeoutKind::Precommit,
                _ => return None,
            } as i32,
        }),
        Input::ProposedValue(v, _) => Kind::ProposedValue(cpb::WalProposedValue {
            height: v.height.0,
            round: v.round.as_u32()?,
            valid_round: v.valid_round.as_u32(),
            proposer: v.proposer.0.clone(),
            block_hash: v.value.0.to_vec(),
            valid: v.validity == Validity::Valid,
        }),
        _ => return None,
    };
    Some(cpb::WalEntry { kind: Some(kind) }.encode_to_vec())
}

/// An input back from its stored form.
pub fn decode(chain_id: &str, bytes: &[u8]) -> Result<Input<Gov>, String> {
    use cpb::wal_entry::Kind;
    let entry = cpb::WalEntry::decode(bytes).map_err(|e| format!("undecodable entry: {e}"))?;
    Ok(match entry.kind.ok_or("an entry without its input")? {
        Kind::Vote(v) => Input::Vote(wire::vote(chain_id, &v)?),
        Kind::Proposal(p) => Input::Proposal(wire::proposal(&p)?),
        Kind::Polka(c) => Input::PolkaCertificate(wire::polka(&c)?),
        Kind::Timeout(t) => {
            let round = wire::wire_round(t.round)?;
            Input::TimeoutElapsed(match cpb::TimeoutKind::try_from(t.kind) {
                Ok(cpb::TimeoutKind::Propose) => Timeout::propose(round),
                Ok(cpb::TimeoutKind::Prevote) => Timeout::prevote(round),
                Ok(cpb::TimeoutKind::Precommit) => Timeout::precommit(round),
                _ => return Err(format!("timeout kind {} is not one the log keeps", t.kind)),
            })
        }
        Kind::ProposedValue(v) => {
            let round = wire::wire_round(v.round)?;
            let valid_round = match v.valid_round {
                None => Round::Nil,
                Some(r) if r < v.round => Round::new(r),
                Some(r) => return Err(format!("valid round {r} is not before round {}", v.round)),
            };
            Input::ProposedValue(
                ProposedValue {
                    height: Height(v.height),
                    round,
                    valid_round,
                    proposer: ValidatorId(v.proposer),
                    value: wire::hash(&v.block_hash, "proposed value")?,
                    validity: if v.valid {
                        Validity::Valid
                    } else {
                        Validity::Invalid
                    },
                },
                ValueOrigin::Consensus,
            )
        }
    })
}

/// Where the core's write-ahead log goes, and whether to append to it: not while it is
/// replayed (the entries are the log's own), nor at a height where this node does not
/// vote (an observer has no lock to keep).
pub(super) struct Log {
    pub(super) sink: Sink,
    pub(super) keep: bool,
}

impl Log {
    /// Appends `input` if it is one the log keeps, when it keeps any.
    pub(super) fn append(
        &mut self,
        chain_id: &str,
        height: u64,
        input: &Input<Gov>,
    ) -> Result<(), String> {
        if self.keep
            && let Some(bytes) = encode(chain_id, input)
        {
            (self.sink)(height, &bytes)
                .map_err(|e| format!("cannot append to the write-ahead log: {e}"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use govchain_crypto::sm3;
    use malachite_types::{NilOrVal, PolkaCertificate, PolkaSignature, SignedMessage, VoteType};

    use super::*;
    use crate::bft::context::{BlockId, Proposal, Sm2Signature, Vote};

    #[test]
    fn every_kept_input_comes_back_as_it_was_kept() {
        let block = BlockId(sm3(b"block"));
        let vote = SignedMessage::new(
            Vote {
                kind: VoteType::Precommit,
                height: Height(7),
                round: Round::new(2),
                block: NilOrVal::Val(block),
                validator: ValidatorId("node2".into()),
            },
            Sm2Signature([3; 64]),
        );
        let proposal = SignedMessage::new(
            Proposal {
                height: Height(7),
                round: Round::new(2),
                block,
                valid_round: Round::new(1),
                proposer: ValidatorId("node3".into()),
            },
            Sm2Signature([4; 64]),
        );
        let inputs: Vec<Input<Gov>> = vec![
            Input::Vote(vote),
            Input::Proposal(proposal),
            Input::PolkaCertificate(PolkaCertificate {
                height: Height(7),
                round: Round::new(1),
                value_id: block,
                polka_signatures: vec![PolkaSignature::new(
                    ValidatorId("node1".into()),
                    Sm2Signature([5; 64]),
                )],
            }),
            Input::TimeoutElapsed(Timeout::propose(Round::new(0))),
            Input::TimeoutElapsed(Timeout::prevote(Round::new(1))),
            Input::TimeoutElapsed(Timeout::precommit(Round::new(2))),
            Input::ProposedValue(
                ProposedValue {
                    height: Height(7),
                    round: Round::new(2),
                    valid_round: Round::Nil,
                    proposer: ValidatorId("node3".into()),
                    value: block,
                    validity: Validity::Invalid,
                },
                ValueOrigin::Consensus,
            ),
        ];
        for input in inputs {
            let bytes = encode("c", &input).expect("kept");
            assert_eq!(decode("c", &bytes).unwrap(), input);
        }
        // A vote of another chain is not replayed.
        let bytes = encode("c", &Input::TimeoutElapsed(Timeout::propose(Round::new(0)))).unwrap();
        assert!(decode("other", &bytes).is_ok(), "timeouts name no chain");
        let e = decode(
            "other",
            &encode(
                "c",
                &Input::Vote(SignedMessage::new(
                    Vote {
                        kind: VoteType::Prevote,
                        height: Height(1),
                        round: Round::new(0),
                        block: NilOrVal::Nil,
                        validator: ValidatorId("node1".into()),
                    },
                    Sm2Signature([1; 64]),
                )),
            )
            .unwrap(),
        )
        .unwrap_err();
        assert!(e.contains("chain 'c'"), "{e}");
        assert!(
            decode("c", &[0xff, 0xff])
                .unwrap_err()
                .contains("undecodable")
        );
    }
}
