//! Evidence of equivocation through the executor: what is recorded, once, and what is
//! refused with nothing written.

use govchain_crypto::PrivateKey;
use govchain_proof::commit::vote_bytes;
use govchain_proof::evidence::Offence;
use govchain_state::genesis::nanjing_access;
use govchain_state::local::LocalChain;
use govchain_state::{evidence, query, supervision};
use govchain_store::Store;
use govchain_types::{ErrorCode, pb};

const T0: u64 = 1_795_392_000_000;
const VALIDATOR: &str = "validator:node1";

fn chain() -> LocalChain {
    let mut c =
        LocalChain::nanjing(Store::in_memory().unwrap(), T0, [9; 32], nanjing_access()).unwrap();
    // Heights 1 and 2, so that evidence about height 1 is about the past.
    for _ in 0..2 {
        c.block(&[], 1_000).unwrap();
    }
    c
}

fn vote(key: &PrivateKey, height: u64, block: &[u8]) -> pb::SignedVote {
    let kind = pb::VoteKind::Prevote;
    let bytes = vote_bytes("local", height, 0, kind, block, "node1");
    pb::SignedVote {
        vote: Some(pb::ConsensusVote {
            chain_id: "local".into(),
            height,
            round: 0,
            kind: kind as i32,
            block_hash: block.to_vec(),
            validator: "node1".into(),
        }),
        signature: key.sign(&bytes).to_bytes().to_vec(),
    }
}

fn double_vote(first: pb::SignedVote, second: pb::SignedVote) -> pb::payload::Kind {
    pb::payload::Kind::Evidence(pb::Evidence {
        kind: Some(pb::evidence::Kind::Votes(pb::DoubleVote {
            first: Some(first),
            second: Some(second),
        })),
    })
}

fn run(c: &mut LocalChain, sender: &str, kind: pb::payload::Kind) -> pb::Receipt {
    let tx = c.tx(sender, kind);
    c.block(&[tx], 1_000).unwrap().0.pop().unwrap()
}

fn failed_with(r: &pb::Receipt, code: ErrorCode, says: &str) {
    assert_eq!(r.status, pb::TxStatus::Failed as i32, "{r:?}");
    assert_eq!(r.error_code, code as u32, "{}", r.error_message);
    assert!(r.error_message.contains(says), "{}", r.error_message);
}

#[test]
fn a_double_vote_is_recorded_once_with_an_event() {
    let mut c = chain();
    let key = c.key(VALIDATOR).clone();
    let ev = double_vote(vote(&key, 1, &[1; 32]), vote(&key, 1, &[2; 32]));
    let r = run(&mut c, VALIDATOR, ev.clone());
    assert_eq!(r.status, pb::TxStatus::Ok as i32, "{}", r.error_message);
    let event = r.events.iter().find(|e| e.kind == "equivocation").unwrap();
    let attr = |k: &str| {
        event
            .attributes
            .iter()
            .find(|a| a.key == k)
            .unwrap()
            .value
            .clone()
    };
    assert_eq!(
        (attr("validator"), attr("step"), attr("height")),
        ("node1".into(), "prevote".into(), "1".into())
    );
    let records = query::evidence(&c.store).unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(
        (records[0].reporter.as_str(), records[0].recorded_height),
        ("node1", c.height)
    );
    let offence = Offence {
        validator: "node1".into(),
        height: 1,
        round: 0,
        step: "prevote",
    };
    assert!(evidence::is_recorded(&c.store, &offence).unwrap());
    // Supervisors see it among the alerts of the period it was recorded in.
    let alerts = supervision::insights(&c.store, None, T0, T0 + 60_000).unwrap();
    assert_eq!(alerts.equivocations.len(), 1);
    assert_eq!(
        (
            alerts.equivocations[0].validator.as_str(),
            alerts.equivocations[0].step.as_str()
        ),
        ("node1", "prevote")
    );
    let before = supervision::insights(&c.store, None, 0, T0 - 1).unwrap();
    assert!(before.equivocations.is_empty());
    // The same offence again (even as the pair in the other order) is refused.
    let again = double_vote(vote(&key, 1, &[2; 32]), vote(&key, 1, &[1; 32]));
    failed_with(
        &run(&mut c, VALIDATOR, again),
        ErrorCode::AlreadyExists,
        "evidence of node1's prevote",
    );
    assert_eq!(query::evidence(&c.store).unwrap().len(), 1);
}

#[test]
fn evidence_that_proves_nothing_or_comes_from_no_validator_records_nothing() {
    let mut c = chain();
    let key = c.key(VALIDATOR).clone();
    let other = PrivateKey::generate();
    // A second vote "of node1" signed by another key frames nobody.
    let forged = double_vote(vote(&key, 1, &[1; 32]), vote(&other, 1, &[2; 32]));
    failed_with(
        &run(&mut c, VALIDATOR, forged),
        ErrorCode::InvalidArgument,
        "does not verify",
    );
    // The same vote twice is no equivocation.
    let same = double_vote(vote(&key, 1, &[1; 32]), vote(&key, 1, &[1; 32]));
    failed_with(
        &run(&mut c, VALIDATOR, same),
        ErrorCode::InvalidArgument,
        "same block",
    );
    // Evidence about a height not yet decided.
    let future = double_vote(vote(&key, 99, &[1; 32]), vote(&key, 99, &[2; 32]));
    failed_with(
        &run(&mut c, VALIDATOR, future),
        ErrorCode::InvalidArgument,
        "height 99",
    );
    // Real evidence sent by a department, not a validator.
    let real = double_vote(vote(&key, 1, &[1; 32]), vote(&key, 1, &[2; 32]));
    failed_with(
        &run(&mut c, "tax", real),
        ErrorCode::Unauthorized,
        "only voting validators",
    );
    assert!(query::evidence(&c.store).unwrap().is_empty());
}
