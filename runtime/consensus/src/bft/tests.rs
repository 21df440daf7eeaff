//! Four validators' consensus cores on an in-memory network: what they decide, what a
//! silent, a lying or an equivocating validator can and cannot do.

use govchain_crypto::signer::in_memory;
use std::collections::{BTreeSet, VecDeque};

use govchain_crypto::{PrivateKey, sm3};
use govchain_proof::commit::{ValidatorSet, verify_commit};
use govchain_types::pb;
use malachite_consensus::{LivenessMsg, SignedConsensusMsg};
use malachite_types::{NilOrVal, Round, SignedMessage, Timeout, VoteType};

use super::context::{BlockId, Gov, Height, Proposal, Sm2Signature, ValidatorId, Validators, Vote};
use super::core::{Action, Core, Signed};

const CHAIN: &str = "bft-test";

/// The block a proposer offers at a height and round.
fn block(height: u64, round: u32) -> BlockId {
    BlockId(sm3(format!("block {height} {round}").as_bytes()))
}

enum Msg {
    Consensus(SignedConsensusMsg<Gov>),
    Liveness(LivenessMsg<Gov>),
}

struct Net {
    keys: Vec<(String, PrivateKey)>,
    set: ValidatorSet,
    cores: Vec<Core>,
    /// Validators that neither receive nor send.
    silent: BTreeSet<usize>,
    queue: VecDeque<(usize, Msg)>,
    timers: Vec<Vec<Timeout>>,
    /// What each validator decided, in height order.
    decided: Vec<Vec<pb::CommitCertificate>>,
    /// Equivocations each validator saw.
    evidence: Vec<Vec<pb::Evidence>>,
    /// Whether validator `i` finds proposal `p` valid.
    valid: fn(usize, &Proposal) -> bool,
}

impl Net {
    fn new(silent: &[usize], valid: fn(usize, &Proposal) -> bool) -> Net {
        let keys: Vec<(String, PrivateKey)> = (1..=4)
            .map(|i| (format!("node{i}"), PrivateKey::generate()))
            .collect();
        let set =
            ValidatorSet::new(keys.iter().map(|(id, k)| (id.clone(), k.public_key()))).unwrap();
        let cores = keys
            .iter()
            .map(|(id, k)| {
                Core::new(
                    CHAIN,
                    id,
                    in_memory(k.clone()),
                    1,
                    Validators::from_set(&set),
                )
            })
            .collect();
        let mut net = Net {
            keys,
            set,
            cores,
            silent: silent.iter().copied().collect(),
            queue: VecDeque::new(),
            timers: vec![vec![]; 4],
            decided: vec![vec![]; 4],
            evidence: vec![vec![]; 4],
            valid,
        };
        for i in net.live() {
            let actions = net.cores[i]
                .start_height(1, Validators::from_set(&net.set))
                .unwrap();
            net.act(i, actions);
        }
        net
    }

    fn live(&self) -> Vec<usize> {
        (0..4).filter(|i| !self.silent.contains(i)).collect()
    }

    fn act(&mut self, i: usize, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::Publish(m) => self.broadcast(i, || Msg::Consensus(m.clone())),
                Action::Liveness(m) => self.broadcast(i, || Msg::Liveness(m.clone())),
                Action::Schedule(t, _) => self.timers[i].push(t),
                Action::Cancel(t) => self.timers[i].retain(|x| *x != t),
                Action::CancelAll => self.timers[i].clear(),
                Action::Propose { height, round } => {
                    let more = self.cores[i]
                        .propose(height, round, block(height, round))
                        .unwrap();
                    self.act(i, more);
                }
                Action::Restream { .. } => {}
                Action::Decided {
                    certificate,
                    equivocations,
                } => {
                    let next = certificate.height + 1;
                    self.decided[i].push(certificate);
                    self.evidence[i].extend(equivocations);
                    let more = self.cores[i]
                        .start_height(next, Validators::from_set(&self.set))
                        .unwrap();
                    self.act(i, more);
                }
            }
        }
    }

    fn broadcast(&mut self, from: usize, msg: impl Fn() -> Msg) {
        for j in self.live() {
            if j != from {
                self.queue.push_back((j, msg()));
            }
        }
    }

    fn deliver(&mut self, to: usize, msg: Msg) {
        let actions = match msg {
            Msg::Consensus(SignedConsensusMsg::Proposal(p)) => {
                // The block's parts arrive with the proposal; the importer judges it.
                let proposal = p.message.clone();
                let mut a = self.cores[to]
                    .receive(SignedConsensusMsg::Proposal(p))
                    .unwrap();
                let valid = (self.valid)(to, &proposal);
                a.extend(self.cores[to].proposed(&proposal, valid).unwrap());
                a
            }
            Msg::Consensus(m) => self.cores[to].receive(m).unwrap(),
            Msg::Liveness(m) => self.cores[to].receive_liveness(m).unwrap(),
        };
        self.act(to, actions);
    }

    /// Runs until every live validator decided `heights` heights.
    fn run(&mut self, heights: usize) {
        for _ in 0..10_000 {
            if self
                .live()
                .iter()
                .all(|&i| self.decided[i].len() >= heights)
            {
                return;
            }
            if let Some((to, msg)) = self.queue.pop_front() {
                self.deliver(to, msg);
                continue;
            }
            // Nothing in flight: the earliest timeouts fire.
            for i in self.live() {
                for t in std::mem::take(&mut self.timers[i]) {
                    let actions = self.cores[i].timeout(t).unwrap();
                    self.act(i, actions);
                }
            }
        }
        panic!(
            "no decision: {:?}",
            self.decided.iter().map(Vec::len).collect::<Vec<_>>()
        );
    }

    /// Each decided height's certificate, which all live validators agree on and which
    /// verifies against the set.
    fn agreed(&self, heights: usize) -> Vec<pb::CommitCertificate> {
        let first = self.live()[0];
        (0..heights)
            .map(|h| {
                let c = self.decided[first][h].clone();
                for &i in &self.live() {
                    assert_eq!(
                        self.decided[i][h].block_hash,
                        c.block_hash,
                        "validators {first} and {i} decided different blocks at height {}",
                        h + 1
                    );
                }
                let signed = verify_commit(CHAIN, &self.set, c.height, &c.block_hash, &c)
                    .unwrap_or_else(|e| panic!("height {}: {e}", h + 1));
                assert!(signed >= 3);
                c
            })
            .collect()
    }
}

fn all_valid(_: usize, _: &Proposal) -> bool {
    true
}

#[test]
fn four_validators_decide_one_block_per_height_with_certificates_anyone_can_check() {
    let mut net = Net::new(&[], all_valid);
    net.run(3);
    for (h, c) in net.agreed(3).iter().enumerate() {
        let h = h as u64 + 1;
        assert_eq!(c.height, h);
        assert_eq!(c.round, 0, "no round lost with four honest validators");
        assert_eq!(c.block_hash, block(h, 0).0);
    }
}

#[test]
fn one_silent_validator_costs_its_rounds_but_never_the_chain() {
    // node3 (index 2) is silent: it would propose at height 2, round 0.
    let mut net = Net::new(&[2], all_valid);
    net.run(4);
    let certs = net.agreed(4);
    assert_eq!(
        certs[1].round, 1,
        "height 2 waits out the silent proposer's round"
    );
    assert!(
        certs
            .iter()
            .all(|c| c.signatures.iter().all(|s| s.validator != "node3"))
    );
}

#[test]
fn a_block_the_importer_refuses_costs_a_round_and_is_never_decided() {
    // Every honest validator refuses what round 0 proposes at height 1.
    fn refuse_round_zero(_: usize, p: &Proposal) -> bool {
        !(p.height == Height(1) && p.round == Round::new(0))
    }
    let mut net = Net::new(&[], refuse_round_zero);
    net.run(2);
    let certs = net.agreed(2);
    assert!(certs[0].round >= 1);
    assert_ne!(
        certs[0].block_hash,
        block(1, 0).0,
        "the refused block is not decided"
    );
}

#[test]
fn an_equivocating_validator_is_caught_and_cannot_forge_a_certificate() {
    // node4 (index 3) stays out of the protocol and instead prevotes two different
    // blocks at height 1, round 0, to everyone.
    let mut net = Net::new(&[3], all_valid);
    let (id, key) = net.keys[3].clone();
    for b in [block(1, 0), block(1, 7)] {
        let vote = Vote {
            kind: VoteType::Prevote,
            height: Height(1),
            round: Round::new(0),
            block: NilOrVal::Val(b),
            validator: ValidatorId(id.clone()),
        };
        let bytes = super::core::vote_sign_bytes(CHAIN, &vote);
        let signed = SignedMessage::new(vote, Sm2Signature(key.sign(&bytes).to_bytes()));
        for i in 0..3 {
            net.queue
                .push_back((i, Msg::Consensus(SignedConsensusMsg::Vote(signed.clone()))));
        }
    }
    net.run(2);
    net.agreed(2);
    // The evidence an honest core reports is what execution accepts: both signatures
    // check out under node4's key alone.
    let caught: Vec<_> = net
        .evidence
        .iter()
        .flatten()
        .map(|ev| govchain_proof::evidence::check_evidence(CHAIN, &net.set, ev).unwrap())
        .collect();
    assert!(
        caught
            .iter()
            .any(|o| (o.validator.as_str(), o.height, o.step) == ("node4", 1, "prevote")),
        "node4's double prevote is reported: {caught:?}"
    );
    // A certificate made of node4's precommit and one honest one decides nothing.
    let c = &net.decided[0][0];
    let mut forged = c.clone();
    forged.signatures.truncate(1);
    let bytes = govchain_proof::commit::vote_bytes(
        CHAIN,
        1,
        c.round,
        pb::VoteKind::Precommit,
        &c.block_hash,
        "node4",
    );
    forged.signatures.push(pb::CommitSignature {
        validator: "node4".into(),
        signature: key.sign(&bytes).to_bytes().to_vec(),
    });
    assert!(verify_commit(CHAIN, &net.set, 1, &c.block_hash, &forged).is_err());
}

/// Validator `i`'s signed vote.
fn vote_of(
    keys: &[(String, PrivateKey)],
    i: usize,
    kind: VoteType,
    round: u32,
    block: NilOrVal<BlockId>,
) -> SignedConsensusMsg<Gov> {
    let vote = Vote {
        kind,
        height: Height(1),
        round: Round::new(round),
        block,
        validator: ValidatorId(keys[i].0.clone()),
    };
    let bytes = super::core::vote_sign_bytes(CHAIN, &vote);
    SignedConsensusMsg::Vote(SignedMessage::new(
        vote,
        Sm2Signature(keys[i].1.sign(&bytes).to_bytes()),
    ))
}

/// Validator `i`'s signed proposal of `block` at height 1 and `round`.
fn proposal_of(keys: &[(String, PrivateKey)], i: usize, round: u32, block: BlockId) -> Proposal {
    Proposal {
        height: Height(1),
        round: Round::new(round),
        block,
        valid_round: Round::Nil,
        proposer: ValidatorId(keys[i].0.clone()),
    }
}

/// Feeds `core` validator `i`'s proposal and the importer's "valid" for it.
fn propose_to(
    core: &mut Core,
    keys: &[(String, PrivateKey)],
    i: usize,
    p: &Proposal,
) -> Vec<Action> {
    let bytes = super::core::proposal_sign_bytes(CHAIN, p);
    let signed = SignedMessage::new(p.clone(), Sm2Signature(keys[i].1.sign(&bytes).to_bytes()));
    let mut actions = core.receive(SignedConsensusMsg::Proposal(signed)).unwrap();
    actions.extend(core.proposed(p, true).unwrap());
    actions
}

/// The vote of `kind` and `round` a core published among `actions`.
fn published(actions: &[Action], kind: VoteType, round: u32) -> Option<NilOrVal<BlockId>> {
    actions.iter().find_map(|a| match a {
        Action::Publish(SignedConsensusMsg::Vote(v))
            if v.message.kind == kind && v.message.round == Round::new(round) =>
        {
            Some(v.message.block)
        }
        _ => None,
    })
}

#[test]
fn a_validator_restarted_mid_height_keeps_its_lock() {
    use std::sync::{Arc, Mutex};
    let keys: Vec<(String, PrivateKey)> = (1..=4)
        .map(|i| (format!("node{i}"), PrivateKey::generate()))
        .collect();
    let set = ValidatorSet::new(keys.iter().map(|(id, k)| (id.clone(), k.public_key()))).unwrap();
    let wal: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let signed: Arc<Mutex<Signed>> = Arc::default();
    // node1, its log and its guard's record kept where a restart finds them.
    let node1 = |record: Signed| {
        let (w, s) = (wal.clone(), signed.clone());
        Core::new(
            CHAIN,
            "node1",
            in_memory(keys[0].1.clone()),
            1,
            Validators::from_set(&set),
        )
        .with_guard(
            record,
            Box::new(move |r: &Signed| {
                *s.lock().unwrap() = r.clone();
                Ok(())
            }),
        )
        .with_wal(Box::new(move |h, bytes| {
            assert_eq!(h, 1);
            w.lock().unwrap().push(bytes.to_vec());
            Ok(())
        }))
    };

    // Round 0: node2 proposes x; node1, node2 and node3 prevote it (a polka), so node1
    // locks on x and precommits it. The round decides nothing (the precommits of the
    // others are lost), and node1 crashes.
    let x = block(1, 0);
    let mut a = node1(Signed::default());
    a.start_height(1, Validators::from_set(&set)).unwrap();
    let mut acts = propose_to(&mut a, &keys, 1, &proposal_of(&keys, 1, 0, x));
    assert_eq!(
        published(&acts, VoteType::Prevote, 0),
        Some(NilOrVal::Val(x))
    );
    for i in [1, 2] {
        acts.extend(
            a.receive(vote_of(&keys, i, VoteType::Prevote, 0, NilOrVal::Val(x)))
                .unwrap(),
        );
    }
    assert_eq!(
        published(&acts, VoteType::Precommit, 0),
        Some(NilOrVal::Val(x))
    );
    drop(a);
    let at_crash = signed.lock().unwrap().clone();

    // Round 1, reached on the nil prevotes of node2 and node4: node3 proposes y.
    let y = block(1, 1);
    let round_one = |core: &mut Core| {
        let mut acts = Vec::new();
        for i in [1, 3] {
            acts.extend(
                core.receive(vote_of(&keys, i, VoteType::Prevote, 1, NilOrVal::Nil))
                    .unwrap(),
            );
        }
        acts.extend(propose_to(core, &keys, 2, &proposal_of(&keys, 2, 1, y)));
        published(&acts, VoteType::Prevote, 1)
    };

    // Restarted with its log replayed, node1 is still locked on x: it prevotes nil.
    let entries: Vec<_> = wal
        .lock()
        .unwrap()
        .iter()
        .map(|b| super::wal::decode(CHAIN, b).unwrap())
        .collect();
    assert!(
        entries.len() >= 5,
        "the proposal, the verdict and the votes are kept"
    );
    let mut b = node1(at_crash.clone());
    let replayed = b.replay(1, Validators::from_set(&set), &entries).unwrap();
    assert_eq!(
        published(&replayed, VoteType::Precommit, 0),
        Some(NilOrVal::Val(x)),
        "the precommit is given again, as it was signed"
    );
    assert_eq!(
        round_one(&mut b),
        Some(NilOrVal::Nil),
        "node1 keeps its lock on x"
    );

    // Restarted without its log (the flaw the log fixes), node1 forgets its lock and
    // prevotes y: with f Byzantine validators, x and y could both be decided.
    let mut c = node1(at_crash);
    c.start_height(1, Validators::from_set(&set)).unwrap();
    assert_eq!(round_one(&mut c), Some(NilOrVal::Val(y)));
}
