//! One validator's consensus, sans I/O: Malachite's Tendermint state machine with every
//! effect answered here. Signing and verifying use the bytes of `govchain_proof::commit`,
//! so that what this decides is what any verifier checks; what must leave the machine
//! (messages to publish, timers, a value to propose, a decision) comes back as
//! [`Action`]s for the node's task to carry out.

use std::time::Duration;

use govchain_crypto::fastverify::{DEFAULT_KEY_WINDOW, KeyTables};
use govchain_crypto::{PublicKey, SharedSigner, Signature, Sm2Signer};
use govchain_proof::commit::{proposal_bytes, verify_commit, vote_bytes};
use govchain_types::pb;
use malachite_consensus::{
    ConsensusMsg, Effect, Error, Input, LivenessMsg, LocallyProposedValue, MisbehaviorEvidence,
    Params, ProposedValue, Resumable, Resume, SignedConsensusMsg, State, ValuePayload, process,
};
use malachite_types::{
    BoxError, CertificateError, CommitCertificate, LinearTimeouts, NilOrVal, Round, SignedMessage,
    ThresholdParams, Timeout, Timeouts, Validity, ValueOrigin, VoteType,
};

use super::context::{BlockId, Gov, Height, Proposal, Sm2Signature, ValidatorId, Validators, Vote};
use super::guard::Guard;
pub use super::guard::{Persist, Signed};
use super::{certs, wal, wire};

/// What the node's task must do for the core.
#[derive(Debug, Clone)]
pub enum Action {
    /// Send to every validator.
    Publish(SignedConsensusMsg<Gov>),
    /// Send to every validator (round synchronisation).
    Liveness(LivenessMsg<Gov>),
    /// Feed `Timeout` back after the duration, unless cancelled.
    Schedule(Timeout, Duration),
    /// Forget a scheduled timeout.
    Cancel(Timeout),
    /// Forget every scheduled timeout.
    CancelAll,
    /// This validator proposes at this height and round: build a block and call
    /// [`Core::propose`] with its hash (and stream its parts).
    Propose {
        /// The height.
        height: u64,
        /// The round.
        round: u32,
    },
    /// Send the parts of the block proposed at `round` again.
    Restream {
        /// The height.
        height: u64,
        /// The round.
        round: u32,
        /// The block.
        block: BlockId,
    },
    /// The height is decided: commit the block with this certificate, then call
    /// [`Core::start_height`] for the next one.
    Decided {
        /// The commit certificate, as blocks carry it.
        certificate: pb::CommitCertificate,
        /// Validators caught signing two different votes for one height, round and
        /// step, or two different proposals for one height and round: the evidence,
        /// as an `Evidence` transaction carries it.
        equivocations: Vec<pb::Evidence>,
    },
}

/// What a step of the state machine gives: the actions, or why the input was refused
/// (boxed: Malachite's error is large).
pub type Step = Result<Vec<Action>, Box<Error<Gov>>>;

/// One validator's consensus state.
pub struct Core {
    chain_id: String,
    me: ValidatorId,
    key: SharedSigner,
    state: State<Gov>,
    timeouts: LinearTimeouts,
    guard: Guard,
    wal: wal::Log,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("chain_id", &self.chain_id)
            .field("validator", &self.me)
            .field("height", &self.state.height())
            .finish_non_exhaustive()
    }
}

impl Core {
    /// The consensus of validator `me` (signing with `key`) on chain `chain_id`, before
    /// its first height.
    pub fn new(chain_id: &str, me: &str, key: SharedSigner, height: u64, set: Validators) -> Self {
        let params = Params {
            address: ValidatorId(me.into()),
            threshold_params: ThresholdParams::default(),
            value_payload: ValuePayload::ProposalAndParts,
            enabled: true,
        };
        Core {
            chain_id: chain_id.into(),
            me: ValidatorId(me.into()),
            key,
            state: State::new(Gov, Height(height), set, params, 1024, 64),
            timeouts: LinearTimeouts::default(),
            guard: Guard {
                signed: Signed::default(),
                persist: Box::new(|_| Ok(())),
            },
            wal: wal::Log {
                sink: Box::new(|_, _| Ok(())),
                keep: false,
            },
        }
    }

    /// Appending what must survive a restart to `sink` before each step goes on (see
    /// [`wal`]); without it, nothing is kept.
    #[must_use]
    pub fn with_wal(mut self, sink: wal::Sink) -> Self {
        self.wal.sink = sink;
        self
    }

    /// With these timeouts (Malachite's defaults otherwise).
    #[must_use]
    pub fn with_timeouts(mut self, timeouts: LinearTimeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// Signing guarded by what was signed before (`signed`, as persisted) and
    /// persisting each new signature with `persist` before it leaves.
    #[must_use]
    pub fn with_guard(mut self, signed: Signed, persist: Persist) -> Self {
        self.guard = Guard { signed, persist };
        self
    }

    /// The height the core is at.
    pub fn height(&self) -> u64 {
        self.state.height().0
    }

    /// The round the core is in (0 before its height starts).
    pub fn round(&self) -> u32 {
        self.state.round().as_u32().unwrap_or(0)
    }

    /// Starts `height` with the validator set in force at it.
    pub fn start_height(&mut self, height: u64, set: Validators) -> Step {
        self.wal.keep = set.set().key(&self.me.0).is_some();
        self.step(Input::StartHeight(
            Height(height),
            set,
            false,
            None,
            Default::default(),
        ))
    }

    /// Starts `height` again after a restart and replays the inputs its write-ahead log
    /// kept, in order: the core is where it was before (its lock included), and what it
    /// signed then is given again with the same signatures (Malachite's replay index;
    /// the guard refuses anything else). Stops at the first input the core refuses.
    pub fn replay(&mut self, height: u64, set: Validators, entries: &[Input<Gov>]) -> Step {
        let mut actions = self.start_height(height, set)?;
        self.state.index_wal_entries(entries);
        let keep = std::mem::replace(&mut self.wal.keep, false);
        let replayed = entries.iter().try_for_each(|input| {
            actions.extend(self.step(input.clone())?);
            Ok(())
        });
        self.wal.keep = keep;
        self.state.reset_entries_index();
        replayed.map(|()| actions)
    }

    /// This validator's own proposal of `block` at `height` and `round` (after
    /// [`Action::Propose`]).
    pub fn propose(&mut self, height: u64, round: u32, block: BlockId) -> Step {
        self.step(Input::Propose(LocallyProposedValue::new(
            Height(height),
            Round::new(round),
            block,
        )))
    }

    /// The verdict on a proposed block whose parts arrived and were imported: `valid`
    /// if the importer accepted it.
    pub fn proposed(&mut self, proposal: &Proposal, valid: bool) -> Step {
        self.step(Input::ProposedValue(
            ProposedValue {
                height: proposal.height,
                round: proposal.round,
                valid_round: proposal.valid_round,
                proposer: proposal.proposer.clone(),
                value: proposal.block,
                validity: if valid {
                    Validity::Valid
                } else {
                    Validity::Invalid
                },
            },
            ValueOrigin::Consensus,
        ))
    }

    /// A message from another validator (its signature is checked here).
    pub fn receive(&mut self, msg: SignedConsensusMsg<Gov>) -> Step {
        self.step(match msg {
            SignedConsensusMsg::Vote(v) => Input::Vote(v),
            SignedConsensusMsg::Proposal(p) => Input::Proposal(p),
        })
    }

    /// A round-synchronisation message from another validator.
    pub fn receive_liveness(&mut self, msg: LivenessMsg<Gov>) -> Step {
        self.step(match msg {
            LivenessMsg::Vote(v) => Input::Vote(v),
            LivenessMsg::PolkaCertificate(c) => Input::PolkaCertificate(c),
            LivenessMsg::SkipRoundCertificate(c) => Input::RoundCertificate(c),
        })
    }

    /// A scheduled timeout elapsed.
    pub fn timeout(&mut self, t: Timeout) -> Step {
        self.step(Input::TimeoutElapsed(t))
    }

    fn step(&mut self, input: Input<Gov>) -> Step {
        let mut actions = Vec::new();
        let host = Host {
            chain_id: &self.chain_id,
            me: &self.me,
            key: &self.key,
            timeouts: &self.timeouts,
        };
        let guard = &mut self.guard;
        let wal = &mut self.wal;
        let metrics = ();
        let done: Result<(), Error<Gov>> = process!(
            input: input,
            state: &mut self.state,
            metrics: &metrics,
            with: effect => host.handle(guard, wal, effect, &mut actions)
        );
        done.map(|()| actions).map_err(Box::new)
    }
}

/// The bytes a vote's signature covers.
pub(super) fn vote_sign_bytes(chain_id: &str, v: &Vote) -> Vec<u8> {
    let kind = match v.kind {
        VoteType::Prevote => pb::VoteKind::Prevote,
        VoteType::Precommit => pb::VoteKind::Precommit,
    };
    let block = match &v.block {
        NilOrVal::Nil => Vec::new(),
        NilOrVal::Val(b) => b.0.to_vec(),
    };
    vote_bytes(
        chain_id,
        v.height.0,
        round(v.round),
        kind,
        &block,
        &v.validator.0,
    )
}

/// The bytes a proposal's signature covers.
pub(super) fn proposal_sign_bytes(chain_id: &str, p: &Proposal) -> Vec<u8> {
    proposal_bytes(
        chain_id,
        p.height.0,
        round(p.round),
        p.valid_round.as_u32(),
        &p.block.0,
        &p.proposer.0,
    )
}

/// A defined round (votes and proposals always have one).
fn round(r: Round) -> u32 {
    r.as_u32().unwrap_or(u32::MAX)
}

/// Verification tables of the validators' keys (the keys come from the validator set,
/// never from a message): a vote verifies 3–4 times faster than with the generic
/// verifier, for 37 KiB per validator, and every height verifies each validator's votes.
static VOTE_KEYS: std::sync::LazyLock<KeyTables> =
    std::sync::LazyLock::new(|| KeyTables::new(4 << 20, DEFAULT_KEY_WINDOW));

pub(super) fn verifies(key: &PublicKey, bytes: &[u8], sig: &Sm2Signature) -> bool {
    Signature::from_slice(&sig.0).is_ok_and(|s| VOTE_KEYS.prepare(key).verify(bytes, &s).is_ok())
}

/// What the effects of a step are answered with.
struct Host<'a> {
    chain_id: &'a str,
    me: &'a ValidatorId,
    key: &'a dyn Sm2Signer,
    timeouts: &'a LinearTimeouts,
}

impl Host<'_> {
    /// Answers one effect; what must leave the machine goes to `actions`. A signature
    /// the guard refuses is an error: Malachite abandons the step, nothing is sent.
    fn handle(
        &self,
        guard: &mut Guard,
        wal: &mut wal::Log,
        effect: Effect<Gov>,
        actions: &mut Vec<Action>,
    ) -> Result<Resume<Gov>, String> {
        let Host {
            chain_id,
            me,
            key,
            timeouts,
        } = *self;
        Ok(match effect {
            Effect::CancelAllTimeouts(r) => {
                actions.push(Action::CancelAll);
                r.resume_with(())
            }
            Effect::CancelTimeout(t, r) => {
                actions.push(Action::Cancel(t));
                r.resume_with(())
            }
            Effect::ScheduleTimeout(t, r) => {
                actions.push(Action::Schedule(
                    t,
                    Timeouts::<Gov>::duration_for(timeouts, t),
                ));
                r.resume_with(())
            }
            Effect::StartRound(height, round, proposer, _, r) => {
                tracing::debug!(height = height.0, round = ?round, %proposer, "round");
                r.resume_with(())
            }
            Effect::PublishConsensusMsg(msg, r) => {
                actions.push(Action::Publish(msg));
                r.resume_with(())
            }
            Effect::PublishLivenessMsg(msg, r) => {
                actions.push(Action::Liveness(msg));
                r.resume_with(())
            }
            Effect::RepublishVote(v, r) => {
                actions.push(Action::Liveness(LivenessMsg::Vote(v)));
                r.resume_with(())
            }
            Effect::RepublishRoundCertificate(c, r) => {
                actions.push(Action::Liveness(LivenessMsg::SkipRoundCertificate(c)));
                r.resume_with(())
            }
            Effect::GetValue(height, round, _, r) => {
                actions.push(Action::Propose {
                    height: height.0,
                    round: self::round(round),
                });
                r.resume_with(())
            }
            Effect::RestreamProposal(height, round, _, _, block, r) => {
                actions.push(Action::Restream {
                    height: height.0,
                    round: self::round(round),
                    block,
                });
                r.resume_with(())
            }
            // Value sync is not used: catch-up fetches blocks with their certificates.
            Effect::CertVerifiedSyncValue(_, _, r) | Effect::CertRejectedSyncValue(_, _, _, r) => {
                r.resume_with(())
            }
            Effect::Decide(cert, _, r) => {
                tracing::debug!(height = cert.height.0, "decided");
                r.resume_with(())
            }
            Effect::Finalize(cert, _, evidence, r) => {
                actions.push(decided(self.chain_id, &cert, &evidence));
                r.resume_with(())
            }
            Effect::SignVote(v, r) => {
                tracing::debug!(height = v.height.0, round = ?v.round, kind = ?v.kind, block = v.block.is_val(), "voting");
                let sig = guard.sign_vote(key, &v, &vote_sign_bytes(chain_id, &v))?;
                r.resume_with(SignedMessage::new(v, sig))
            }
            Effect::SignProposal(p, r) => {
                debug_assert_eq!(&p.proposer, me);
                let sig = guard.sign_proposal(key, &p, &proposal_sign_bytes(chain_id, &p))?;
                r.resume_with(SignedMessage::new(p, sig))
            }
            Effect::VerifySignature(msg, key, r) => {
                let bytes = match &msg.message {
                    ConsensusMsg::Vote(v) => vote_sign_bytes(chain_id, v),
                    ConsensusMsg::Proposal(p) => proposal_sign_bytes(chain_id, p),
                };
                r.resume_with(verifies(&key, &bytes, &msg.signature))
            }
            // A decision is checked by the very function outside verifiers run.
            Effect::VerifyCommitCertificate(cert, set, _, r) => {
                let checked = verify_commit(
                    chain_id,
                    set.set(),
                    cert.height.0,
                    &cert.value_id.0,
                    &to_pb(&cert),
                )
                .map(|_| ())
                .map_err(|e| CertificateError::VerificationError(Some(BoxError(Box::new(e)))));
                r.resume_with(checked)
            }
            Effect::VerifyPolkaCertificate(cert, set, _, r) => {
                r.resume_with(certs::check_polka(chain_id, &cert, &set))
            }
            Effect::VerifyRoundCertificate(cert, set, _, r) => {
                r.resume_with(certs::check_round(chain_id, &cert, &set))
            }
            // Vote extensions are not used: a certificate that carries them is refused.
            Effect::VerifyExtendedCommitCertificate(_, _, _, _, r) => {
                r.resume_with(Err(CertificateError::VerificationError(Some(BoxError(
                    "vote extensions are not used on this chain".into(),
                )))))
            }
            Effect::ExtendVote(_, _, _, _, r) => r.resume_with(None),
            Effect::VerifyVoteExtension(_, _, _, _, _, _, r) => r.resume_with(Err(
                malachite_consensus::VoteExtensionError::InvalidVoteExtension,
            )),
            // Appended before the step goes on: a failure stops the step, so nothing that
            // follows from an input the log lost (a vote above all) leaves this node.
            Effect::WalAppend(height, input, r) => {
                wal.append(chain_id, height.0, &input)?;
                r.resume_with(())
            }
        })
    }
}

/// The decision of a height: its certificate and the equivocations seen.
fn decided(
    chain_id: &str,
    cert: &CommitCertificate<Gov>,
    evidence: &MisbehaviorEvidence<Gov>,
) -> Action {
    use pb::evidence::Kind;
    let votes = evidence.votes.iter().flat_map(|(_, doubles)| {
        doubles.iter().map(|(a, b)| {
            Kind::Votes(pb::DoubleVote {
                first: Some(wire::vote_pb(chain_id, a)),
                second: Some(wire::vote_pb(chain_id, b)),
            })
        })
    });
    let proposals = evidence.proposals.iter().flat_map(|(_, doubles)| {
        doubles.iter().map(|(a, b)| {
            Kind::Proposals(pb::DoubleProposal {
                first: Some(wire::proposal_pb(a)),
                second: Some(wire::proposal_pb(b)),
            })
        })
    });
    Action::Decided {
        certificate: to_pb(cert),
        equivocations: votes
            .chain(proposals)
            .map(|kind| pb::Evidence { kind: Some(kind) })
            .collect(),
    }
}

/// Malachite's commit certificate as blocks carry it.
fn to_pb(cert: &CommitCertificate<Gov>) -> pb::CommitCertificate {
    pb::CommitCertificate {
        height: cert.height.0,
        round: round(cert.round),
        block_hash: cert.value_id.0.to_vec(),
        signatures: cert
            .commit_signatures
            .iter()
            .map(|s| wire::signature_pb(&s.address, &s.signature))
            .collect(),
    }
}
