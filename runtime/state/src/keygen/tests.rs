//! Key generation on chain among four holders (3 of 4): the key no one dealt opens
//! envelopes with any three shares and not with two; a dealer whose sub-share fails its
//! holder's check and does not answer is left out, and the others still make the key; a
//! dealer that answers stays in; a round with too few dealers fails and the next one
//! starts; malformed, repeated, early, late or foreign steps are refused with
//! `KEYGEN_REFUSED` and leave nothing in state.

use std::collections::BTreeMap;

use govchain_crypto::PrivateKey;
use govchain_custody::{Envelope, KeySet, SecretShare, envelope_context, keygen, release_context};
use govchain_types::pb;
use pb::custody_keygen::Step;

use crate::access::accounts::validator_account;
use crate::genesis::{DEFAULT_KEYGEN_PHASE_MS, nanjing_access};
use crate::local::LocalChain;
use crate::{Overlay, VerifiedTx};

const T0: u64 = 1_780_000_000_000;
/// A block this long after the last closes a phase that is waiting for someone.
const LATER: u64 = DEFAULT_KEYGEN_PHASE_MS + 1;

fn chain4() -> (LocalChain, Vec<PrivateKey>) {
    LocalChain::with_holders(
        govchain_store::Store::in_memory().unwrap(),
        T0,
        [9; 32],
        nanjing_access(),
        4,
        3,
    )
    .unwrap()
}

fn holders(keys: &[PrivateKey]) -> Vec<(u32, Vec<u8>)> {
    (1..)
        .zip(keys.iter().map(|k| k.public_key().to_sec1()))
        .collect()
}

fn deal(keys: &[PrivateKey], n: u32) -> keygen::Deal {
    keygen::deal(
        &keys[n as usize - 1],
        "local",
        1,
        3,
        keygen::Dealt::Fresh,
        &holders(keys),
    )
    .unwrap()
}

fn deal_step(d: &keygen::Deal) -> Step {
    Step::Deal(pb::KeygenDeal {
        commitments: d.commitments.clone(),
        sub_shares: d.sub_shares.clone(),
    })
}

fn complain(against: &[u32]) -> Step {
    Step::Complaints(pb::KeygenComplaints {
        against: against.to_vec(),
    })
}

fn tx(chain: &mut LocalChain, holder: u32, round: u64, step: Step) -> VerifiedTx {
    chain.tx(
        &validator_account(&format!("node{holder}")),
        pb::payload::Kind::Keygen(pb::CustodyKeygen {
            round,
            step: Some(step),
        }),
    )
}

/// Runs `steps` (holder, step) of round 1 as one block `after` ms after the last.
fn run(chain: &mut LocalChain, after: u64, steps: Vec<(u32, Step)>) -> Vec<pb::Receipt> {
    let txs: Vec<VerifiedTx> = steps.into_iter().map(|(n, s)| tx(chain, n, 1, s)).collect();
    chain.block(&txs, after).unwrap().0
}

fn ok(receipts: &[pb::Receipt]) {
    for r in receipts {
        assert_eq!(r.status, pb::TxStatus::Ok as i32, "{r:?}");
    }
}

fn refused(r: &pb::Receipt, why: &str) {
    assert_eq!(r.status, pb::TxStatus::Failed as i32, "{r:?}");
    assert_eq!(r.error_code, pb::ErrorCode::KeygenRefused as u32, "{r:?}");
    assert!(r.error_message.contains(why), "{why}: {r:?}");
}

fn state(chain: &LocalChain) -> pb::KeygenState {
    super::state(&Overlay::new(chain.store.clone()))
        .unwrap()
        .unwrap()
}

fn key_set(chain: &LocalChain) -> Option<pb::CustodyKeySet> {
    crate::custody::key_set(&Overlay::new(chain.store.clone())).unwrap()
}

/// Holder `n`'s share as its node sums it: the qualified dealers' sub-shares to it, the
/// revealed one where it complained.
fn share(chain: &LocalChain, keys: &[PrivateKey], n: u32) -> SecretShare {
    let o = Overlay::new(chain.store.clone());
    let set = key_set(chain).unwrap();
    let deals = super::deals(&o, set.round).unwrap();
    let answers = super::answers(&o, set.round).unwrap();
    super::holder_share(&keys[n as usize - 1], n, &set, &deals, &answers).unwrap()
}

/// Whether `shares` open an envelope to the chain's key (3 needed).
fn opens(chain: &LocalChain, shares: &[&SecretShare]) -> bool {
    let set = KeySet::from_bytes(&key_set(chain).unwrap().public_key_set).unwrap();
    let ctx = envelope_context("local", "c");
    let (bytes, _) = set.seal_key(&[5; 16], &ctx, &[3; 32]).unwrap();
    let envelope = Envelope::parse(&bytes).unwrap();
    let bank = PrivateKey::generate();
    let to = bank.public_key().to_sec1();
    let rctx = release_context("local", 1);
    // A share that does not verify against the key set counts for nothing.
    let opened: Vec<_> = shares
        .iter()
        .filter_map(|s| {
            let r = s.release(&envelope, &to, &rctx, &[4; 32]).unwrap();
            set.verify_share(s.number(), &r, &envelope, &to, &rctx)
                .ok()
                .map(|v| v.open(&bank))
        })
        .collect();
    opened.len() == shares.len() && set.combine(&opened, &envelope).is_ok_and(|k| k == [5; 16])
}

#[test]
fn four_holders_make_a_key_no_one_dealt_which_three_open_and_two_do_not() {
    let (mut chain, keys) = chain4();
    // before: publishing is refused, naming the round and phase
    let attr = |k: &str, v: &str| pb::Attribute {
        key: k.into(),
        value: v.into(),
    };
    let publish = chain.tx(
        "real-estate",
        pb::payload::Kind::Publish(pb::PublishCertificate {
            cert_type: "property".into(),
            number: "1".into(),
            subject_id: vec![1; 32],
            issued_on: "2024-05-01".into(),
            metadata: vec![attr("district", "鼓楼区"), attr("usage", "住宅")],
            content_hash: vec![0; 32],
            ciphertext: vec![1; 64],
            key_envelope: vec![1],
            ..Default::default()
        }),
    );
    let publish = chain.block(&[publish], 1).unwrap().0;
    assert!(
        publish[0]
            .error_message
            .contains("have not generated the custody key yet (round 1, deal phase)"),
        "{publish:?}"
    );
    chain.generate_key(&keys).unwrap();
    let set = key_set(&chain).unwrap();
    assert_eq!((set.round, set.qualified.clone()), (1, vec![1, 2, 3, 4]));
    assert_eq!(state(&chain).phase(), pb::KeygenPhase::KeygenDone);
    let shares: Vec<SecretShare> = (1..=4).map(|n| share(&chain, &keys, n)).collect();
    // no dealer's own contribution is the key
    for n in 1..=4 {
        assert_ne!(deal(&keys, n).commitments[0], set.public_key_set[..65]);
    }
    assert!(opens(&chain, &[&shares[0], &shares[1], &shares[3]]));
    assert!(opens(&chain, &[&shares[1], &shares[2], &shares[3]]));
    // t − 1 colluding holders open nothing
    assert!(!opens(&chain, &[&shares[0], &shares[2]]));
    // and nothing more happens once the key exists
    let r = run(&mut chain, 1, vec![(2, Step::Close(pb::KeygenClose {}))]);
    refused(&r[0], "generated in round 1");
}

/// Holder 4's dealing with holder 1's sub-share replaced by a well-formed wrong one.
fn bad_deal(keys: &[PrivateKey]) -> keygen::Deal {
    let mut d = deal(keys, 4);
    d.sub_shares[0] = keys[0].public_key().encrypt(&[7; 32]);
    d
}

/// Holders 1 to 3 deal well, holder 4 deals [`bad_deal`]; holder 1 (whose check of
/// dealer 4's sub-share fails) complains against it, the others about no one: the answer
/// phase opens.
fn complained_about_four(chain: &mut LocalChain, keys: &[PrivateKey]) {
    let mut deals: Vec<(u32, Step)> = (1..=3).map(|n| (n, deal_step(&deal(keys, n)))).collect();
    deals.push((4, deal_step(&bad_deal(keys))));
    ok(&run(chain, 1, deals));
    let d4 = &super::deals(&Overlay::new(chain.store.clone()), 1).unwrap()[3];
    assert!(keygen::open_sub_share(&keys[0], 1, &d4.commitments, &d4.sub_shares[0]).is_err());
    let complaints = vec![
        (1, complain(&[4])),
        (2, complain(&[])),
        (3, complain(&[])),
        (4, complain(&[])),
    ];
    ok(&run(chain, 1, complaints));
}

#[test]
fn a_dealer_whose_sub_share_fails_and_who_does_not_answer_is_left_out() {
    let (mut chain, keys) = chain4();
    complained_about_four(&mut chain, &keys);
    assert_eq!(state(&chain).phase(), pb::KeygenPhase::KeygenAnswer);
    // a wrong answer is refused and stored nothing; closing early is refused
    let r = run(
        &mut chain,
        1,
        vec![
            (
                4,
                Step::Answer(pb::KeygenAnswer {
                    holder: 1,
                    sub_share: vec![7; 32],
                }),
            ),
            (2, Step::Close(pb::KeygenClose {})),
        ],
    );
    refused(&r[0], "does not match");
    refused(&r[1], "answer phase is still open");
    assert!(
        super::answers(&Overlay::new(chain.store.clone()), 1)
            .unwrap()
            .is_empty()
    );
    // when the answer phase runs out, any holder closes it: dealer 4 is left out
    ok(&run(
        &mut chain,
        LATER,
        vec![(2, Step::Close(pb::KeygenClose {}))],
    ));
    let set = key_set(&chain).unwrap();
    assert_eq!(set.qualified, [1, 2, 3]);
    let commitments: Vec<Vec<Vec<u8>>> = (1..=3).map(|n| deal(&keys, n).commitments).collect();
    let refs: Vec<&[Vec<u8>]> = commitments.iter().map(Vec::as_slice).collect();
    assert_eq!(
        set.public_key_set,
        keygen::key_set(&refs).unwrap().to_bytes()
    );
    // every holder, dealer 4 too, has a working share
    let shares: Vec<SecretShare> = (1..=4).map(|n| share(&chain, &keys, n)).collect();
    assert!(opens(&chain, &[&shares[0], &shares[3], &shares[2]]));
}

#[test]
fn a_dealer_that_answers_a_complaint_stays_in_and_its_holder_uses_the_answer() {
    let (mut chain, keys) = chain4();
    complained_about_four(&mut chain, &keys);
    let sub = keygen::answer(&keys[3], "local", 1, 3, keygen::Dealt::Fresh, 1).unwrap();
    let r = run(
        &mut chain,
        1,
        vec![(
            4,
            Step::Answer(pb::KeygenAnswer {
                holder: 1,
                sub_share: sub.to_vec(),
            }),
        )],
    );
    ok(&r);
    assert!(r[0].events.iter().any(|e| e.kind == "keygen_ended"));
    let set = key_set(&chain).unwrap();
    assert_eq!(set.qualified, [1, 2, 3, 4]);
    let one = share(&chain, &keys, 1);
    let (two, three) = (share(&chain, &keys, 2), share(&chain, &keys, 3));
    assert!(opens(&chain, &[&one, &two, &three]));
}

#[test]
fn a_round_with_too_few_dealers_fails_and_the_next_one_starts() {
    let (mut chain, keys) = chain4();
    ok(&run(
        &mut chain,
        1,
        vec![
            (1, deal_step(&deal(&keys, 1))),
            (2, deal_step(&deal(&keys, 2))),
        ],
    ));
    // the deal phase waits for holders 3 and 4, then closes; complaints wait, then close
    let r = run(&mut chain, 1, vec![(1, Step::Close(pb::KeygenClose {}))]);
    refused(&r[0], "deal phase is still open until block time");
    ok(&run(
        &mut chain,
        LATER,
        vec![(1, Step::Close(pb::KeygenClose {}))],
    ));
    ok(&run(
        &mut chain,
        1,
        vec![(1, complain(&[])), (2, complain(&[]))],
    ));
    let r = run(
        &mut chain,
        LATER,
        vec![(2, Step::Close(pb::KeygenClose {}))],
    );
    ok(&r);
    let ended = r[0]
        .events
        .iter()
        .find(|e| e.kind == "keygen_ended")
        .unwrap();
    assert_eq!(ended.attributes[1].value, "1,2");
    assert_eq!(ended.attributes[2].value, "");
    assert!(key_set(&chain).is_none());
    let st = state(&chain);
    assert_eq!((st.round, st.phase()), (2, pb::KeygenPhase::KeygenDeal));
    // a step of the old round is refused; round 2 makes the key
    let r = run(&mut chain, 1, vec![(3, deal_step(&deal(&keys, 3)))]);
    refused(&r[0], "the current round is 2");
    let round2: Vec<keygen::Deal> = keys
        .iter()
        .map(|k| keygen::deal(k, "local", 2, 3, keygen::Dealt::Fresh, &holders(&keys)).unwrap())
        .collect();
    let mut steps: Vec<VerifiedTx> = (1..=4)
        .map(|n| tx(&mut chain, n, 2, deal_step(&round2[n as usize - 1])))
        .collect();
    steps.extend((1..=4).map(|n| tx(&mut chain, n, 2, complain(&[]))));
    ok(&chain.block(&steps, 1).unwrap().0);
    assert_eq!(key_set(&chain).unwrap().round, 2);
}

#[test]
fn malformed_repeated_and_foreign_steps_are_refused_and_store_nothing() {
    let (mut chain, keys) = chain4();
    let good = deal(&keys, 1);
    let mut short = good.clone();
    short.commitments.pop();
    let mut off_curve = good.clone();
    off_curve.commitments[1][64] ^= 1;
    let mut missing = good.clone();
    missing.sub_shares.pop();
    let mut garbage = good.clone();
    garbage.sub_shares[2] = vec![0x30, 3, 1, 2, 3];
    let mut long = good.clone();
    long.sub_shares[2] = keys[2].public_key().encrypt(&[1; 40]);
    let r = run(
        &mut chain,
        1,
        vec![
            (1, deal_step(&short)),
            (1, deal_step(&off_curve)),
            (1, deal_step(&missing)),
            (1, deal_step(&garbage)),
            (1, deal_step(&long)),
            (1, complain(&[])),
            (
                1,
                Step::Answer(pb::KeygenAnswer {
                    holder: 2,
                    sub_share: vec![1; 32],
                }),
            ),
        ],
    );
    refused(&r[0], "2 commitments for a threshold of 3");
    refused(&r[1], "commitment 1");
    refused(&r[2], "3 sub-shares for 4 holders");
    refused(&r[3], "sub-share 3");
    refused(&r[4], "encrypts 40 bytes");
    refused(&r[5], "complaints only in the complain phase; it is deal");
    refused(&r[6], "an answer only in the answer phase");
    assert!(
        super::deals(&Overlay::new(chain.store.clone()), 1)
            .unwrap()
            .is_empty()
    );
    // a department, or a step without one, is not a holder's
    let dept = chain.tx(
        "tax",
        pb::payload::Kind::Keygen(pb::CustodyKeygen {
            round: 1,
            step: Some(deal_step(&good)),
        }),
    );
    let r = chain.block(&[dept], 1).unwrap().0;
    assert_eq!(r[0].error_code, pb::ErrorCode::Unauthorized as u32, "{r:?}");
    // a second dealing by the same holder, a complaint against itself or a non-dealer
    let r = run(
        &mut chain,
        1,
        vec![(1, deal_step(&good)), (1, deal_step(&good))],
    );
    ok(&r[..1]);
    refused(&r[1], "holder 1 has dealt in this round");
    ok(&run(
        &mut chain,
        1,
        (2..=4).map(|n| (n, deal_step(&deal(&keys, n)))).collect(),
    ));
    let r = run(
        &mut chain,
        1,
        vec![(1, complain(&[1])), (2, complain(&[1])), (2, complain(&[]))],
    );
    refused(&r[0], "cannot complain against itself");
    ok(&r[1..2]);
    refused(&r[2], "holder 2 has sent its complaints");
    assert_eq!(
        super::complaints(&Overlay::new(chain.store.clone()), 1)
            .unwrap()
            .len(),
        1
    );
    // an answer to a complaint no one made
    ok(&run(
        &mut chain,
        1,
        (3..=4)
            .map(|n| (n, complain(&[])))
            .chain([(1, complain(&[]))])
            .collect(),
    ));
    let r = run(
        &mut chain,
        1,
        vec![(
            3,
            Step::Answer(pb::KeygenAnswer {
                holder: 2,
                sub_share: vec![1; 32],
            }),
        )],
    );
    refused(&r[0], "holder 2 made no complaint against holder 3");
}

fn remove_node(chain: &mut LocalChain, id: &str) -> pb::Receipt {
    govern(
        chain,
        pb::NodeChange {
            node: Some(pb::Validator {
                id: id.into(),
                ..Default::default()
            }),
            remove: true,
            rotate_custody_key: false,
        },
    )
}

/// Governance's node change `change` (see [`LocalChain::govern`]).
fn govern(chain: &mut LocalChain, change: pb::NodeChange) -> pb::Receipt {
    chain.govern(pb::proposal::Action::Node(change))
}

#[test]
fn a_removed_holder_can_no_longer_send_as_a_validator() {
    let (mut chain, keys) = chain4();
    chain.generate_key(&keys).unwrap();
    // node4 may leave (three holders remain, enough to open); its account is gone
    ok(&[remove_node(&mut chain, "node4")]);
    let r = chain.tx(
        &validator_account("node4"),
        pb::payload::Kind::Release(pb::ReleaseShares {
            approvals: vec![1],
            releases: vec![],
        }),
    );
    let r = chain.block(&[r], 1).unwrap().0.remove(0);
    assert_eq!(
        r.error_code,
        pb::ErrorCode::UnknownDepartment as u32,
        "{r:?}"
    );
}

#[test]
fn a_holder_that_did_not_complain_about_a_bad_sub_share_has_no_usable_share() {
    let (mut chain, keys) = chain4();
    let mut deals: Vec<(u32, Step)> = (1..=3).map(|n| (n, deal_step(&deal(&keys, n)))).collect();
    deals.push((4, deal_step(&bad_deal(&keys))));
    ok(&run(&mut chain, 1, deals));
    // holder 1 lets dealer 4's bad sub-share pass: dealer 4 is qualified
    ok(&run(
        &mut chain,
        1,
        (1..=4).map(|n| (n, complain(&[]))).collect(),
    ));
    let set = key_set(&chain).unwrap();
    assert_eq!(set.qualified, [1, 2, 3, 4]);
    let o = Overlay::new(chain.store.clone());
    let (deals, answers) = (super::deals(&o, 1).unwrap(), super::answers(&o, 1).unwrap());
    let e = super::holder_share(&keys[0], 1, &set, &deals, &answers).unwrap_err();
    assert!(
        e.contains("dealer 4") && e.contains("did not complain in time"),
        "{e}"
    );
    // the others' shares are sound
    let shares: Vec<SecretShare> = (2..=4).map(|n| share(&chain, &keys, n)).collect();
    assert!(opens(&chain, &[&shares[0], &shares[1], &shares[2]]));
}

mod reshare;
