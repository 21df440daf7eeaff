//! Governance replaces a validator's block-signing key: from the approving block on the
//! old key signs nothing for the validator's account and the voting set is the new one;
//! the old key is kept in history and never registered again; a replacement without the
//! new key's proof, or a revocation, is refused and changes nothing.

use govchain_crypto::PrivateKey;
use govchain_store::Store;
use govchain_types::{ErrorCode, key_rotation_message, pb};

use crate::access::accounts::validator_account;
use crate::genesis::nanjing_access;
use crate::local::LocalChain;
use crate::{Overlay, nodes};

fn chain() -> LocalChain {
    LocalChain::with_holders(
        Store::in_memory().unwrap(),
        1_780_000_000_000,
        [5; 32],
        nanjing_access(),
        4,
        3,
    )
    .unwrap()
    .0
}

/// Governance's replacement of `validator:<id>`'s key by `new`, proven by `prover`:
/// the receipt of the approval that applies it, or of a refused proposal.
fn replace(c: &mut LocalChain, id: &str, new: &[u8], prover: &PrivateKey) -> pb::Receipt {
    let account = validator_account(id);
    let proof = prover.sign(&key_rotation_message("local", &account, "", new));
    c.govern(pb::proposal::Action::ReplaceKey(pb::KeyReplacement {
        department: account,
        operator: String::new(),
        public_key: new.to_vec(),
        proof: if new.is_empty() {
            vec![]
        } else {
            proof.to_bytes().to_vec()
        },
    }))
}

/// A validator account's transaction (an approval of a release no request has).
fn from_validator(c: &mut LocalChain, id: &str) -> pb::Receipt {
    let account = validator_account(id);
    let tx = c.tx(
        &account,
        pb::payload::Kind::Release(pb::ReleaseShares {
            approvals: vec![999],
            releases: vec![],
        }),
    );
    let r = c.block(&[tx], 1).unwrap().0.remove(0);
    if r.error_code == ErrorCode::KeyMismatch as u32 {
        c.unsend(&account);
    }
    r
}

#[test]
fn governance_replaces_a_validators_key_and_the_old_one_signs_nothing_more() {
    let mut c = chain();
    let set = |c: &LocalChain| {
        nodes::voting_set(&Overlay::new(c.store.clone()))
            .unwrap()
            .hash()
    };
    let before = set(&c);
    let old = c.key(&validator_account("node2")).clone();
    let new = PrivateKey::generate();
    let r = replace(&mut c, "node2", &new.public_key().to_sec1(), &new);
    assert_eq!(r.status, pb::TxStatus::Ok as i32, "{r:?}");
    assert!(r.events.iter().any(|e| e.kind == "key_rotated"), "{r:?}");
    let height = c.height;
    // the voting set of the next height has the new key
    assert_ne!(set(&c), before);
    let o = Overlay::new(c.store.clone());
    let v = crate::compute::validator(&o, "node2").unwrap().unwrap();
    assert_eq!(v.public_key, new.public_key().to_sec1());
    // the old key signs nothing more for the validator's account; the new one does
    let r = from_validator(&mut c, "node2");
    assert_eq!(r.error_code, ErrorCode::KeyMismatch as u32, "{r:?}");
    c.set_key(&validator_account("node2"), new.clone());
    let r = from_validator(&mut c, "node2");
    assert_ne!(r.error_code, ErrorCode::KeyMismatch as u32, "{r:?}");
    // history names the old key and the height it stopped at
    let h = crate::keys::history(&c.store, &validator_account("node2"), "").unwrap();
    assert_eq!(
        (h[0].public_key.clone(), h[0].until_height),
        (old.public_key().to_sec1(), height)
    );
    assert!(h[0].reason.starts_with("replaced by proposal"), "{h:?}");

    // refused, changing nothing: the retired key again (for node3), a key without its
    // holder's proof, another validator's key, a revocation
    let third = PrivateKey::generate();
    let node4 = c.key(&validator_account("node4")).public_key().to_sec1();
    for (key, prover, why) in [
        (old.public_key().to_sec1(), old.clone(), "retired"),
        (
            third.public_key().to_sec1(),
            PrivateKey::generate(),
            "proof",
        ),
        (node4, third.clone(), "proof"),
        (vec![], third.clone(), "a validator keeps a key"),
    ] {
        let hash = set(&c);
        let r = replace(&mut c, "node3", &key, &prover);
        assert_eq!(
            r.error_code,
            ErrorCode::InvalidArgument as u32,
            "{why}: {r:?}"
        );
        assert!(r.error_message.contains(why), "{why}: {r:?}");
        assert_eq!(set(&c), hash, "nothing changed");
    }
}
