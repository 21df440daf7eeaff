//! Resharing when governance changes the custody holders (3 of 4): a holder leaves and
//! the other three reshare among themselves, then a fifth joins and the four reshare to
//! five. The key stays the same, the new shares open, old shares do not count against
//! the new key set, numbers are never reused; a dealer cannot deal anything but its own
//! share, a newcomer cannot deal, and holders cannot change while a round runs.

use super::*;

/// Holder `n`'s resharing dealing of `share` in `round` to `to` (share number, custody
/// key).
fn reshare_deal(
    keys: &BTreeMap<u32, PrivateKey>,
    n: u32,
    round: u64,
    share: &SecretShare,
    to: &[(u32, Vec<u8>)],
) -> Step {
    deal_step(
        &keygen::deal(
            &keys[&n],
            "local",
            round,
            3,
            keygen::Dealt::Share(share),
            to,
        )
        .unwrap(),
    )
}

fn recipients(keys: &BTreeMap<u32, PrivateKey>) -> Vec<(u32, Vec<u8>)> {
    keys.iter()
        .map(|(n, k)| (*n, k.public_key().to_sec1()))
        .collect()
}

/// Runs `steps` (holder, step) of round `round` as one block.
fn run_round(chain: &mut LocalChain, round: u64, steps: Vec<(u32, Step)>) -> Vec<pb::Receipt> {
    let txs: Vec<VerifiedTx> = steps
        .into_iter()
        .map(|(n, s)| tx(chain, n, round, s))
        .collect();
    chain.block(&txs, 1).unwrap().0
}

/// Runs resharing round `round` to its end: `dealers` deal their `shares` (holder n's
/// at n − 1) to the holders in `custody`, who then complain about no one.
fn reshare_round(
    chain: &mut LocalChain,
    custody: &BTreeMap<u32, PrivateKey>,
    round: u64,
    dealers: &[u32],
    shares: &[SecretShare],
) {
    let to = recipients(custody);
    let deals = dealers
        .iter()
        .map(|&n| {
            (
                n,
                reshare_deal(custody, n, round, &shares[n as usize - 1], &to),
            )
        })
        .collect();
    ok(&run_round(chain, round, deals));
    let complaints = custody.keys().map(|&n| (n, complain(&[]))).collect();
    ok(&run_round(chain, round, complaints));
}

/// A holder's share of the key set in force, summed as its node does.
fn share_of(chain: &LocalChain, key: &PrivateKey, n: u32) -> Result<SecretShare, String> {
    let o = Overlay::new(chain.store.clone());
    let set = key_set(chain).unwrap();
    let deals = super::super::deals(&o, set.round).unwrap();
    let answers = super::super::answers(&o, set.round).unwrap();
    super::super::holder_share(key, n, &set, &deals, &answers)
}

fn add_node(chain: &mut LocalChain, node: pb::Validator) -> pb::Receipt {
    govern(
        chain,
        pb::NodeChange {
            node: Some(node),
            remove: false,
            rotate_custody_key: false,
        },
    )
}

/// Node `id` with custody key `custody_key`, signing with the key the local chain has
/// for `validator:<id>` from now on.
fn newcomer(chain: &mut LocalChain, id: &str, custody_key: &PrivateKey) -> pb::Validator {
    let key = PrivateKey::generate();
    let public_key = key.public_key().to_sec1();
    chain.set_key(&validator_account(id), key);
    pb::Validator {
        id: id.into(),
        department: "tax".into(),
        public_key,
        addr: "127.0.0.1:7005".into(),
        custody_key: custody_key.public_key().to_sec1(),
        ..Default::default()
    }
}

#[test]
fn a_holder_leaves_then_one_joins_and_the_key_stays_while_old_shares_stop_counting() {
    let (mut chain, keys) = chain4();
    chain.generate_key(&keys).unwrap();
    let before = key_set(&chain).unwrap();
    let old: Vec<SecretShare> = (1..=4).map(|n| share(&chain, &keys, n)).collect();
    let mut custody: BTreeMap<u32, PrivateKey> = (1..).zip(keys.iter().cloned()).collect();

    // node4 leaves: holders 1..=3 reshare among themselves
    ok(&[remove_node(&mut chain, "node4")]);
    custody.remove(&4);
    let st = state(&chain);
    assert_eq!(
        (st.round, st.phase(), st.dealers.clone(), st.holders.clone()),
        (2, pb::KeygenPhase::KeygenDeal, vec![1, 2, 3], vec![1, 2, 3])
    );
    // until the resharing ends, the key set in force is the old one
    assert!(opens(&chain, &[&old[0], &old[1], &old[3]]));
    reshare_round(&mut chain, &custody, 2, &[1, 2, 3], &old);
    let after = key_set(&chain).unwrap();
    assert_eq!((after.round, after.reshared), (2, true));
    assert_eq!(
        after.public_key_set[..65],
        before.public_key_set[..65],
        "P unchanged"
    );
    assert_ne!(after.public_shares[0], before.public_shares[0]);
    assert!(
        after.public_shares[3].is_empty(),
        "the leaver's number is a gap"
    );
    let new: Vec<SecretShare> = (1..=3)
        .map(|n| share_of(&chain, &custody[&n], n).unwrap())
        .collect();
    assert!(opens(&chain, &[&new[0], &new[1], &new[2]]));
    // the leaver's old share with two new ones, or the old shares: nothing
    assert!(!opens(&chain, &[&new[0], &new[1], &old[3]]));
    assert!(!opens(&chain, &[&old[0], &old[1], &old[2]]));
    // and now no one more may leave: two holders could never open a stored certificate
    let r = remove_node(&mut chain, "node3");
    assert_eq!(r.error_code, pb::ErrorCode::InvalidArgument as u32, "{r:?}");
    assert!(
        r.error_message
            .contains("fewer than the 3 that open a data key"),
        "{r:?}"
    );

    // a fifth joins: the three reshare to four; its number is 5, not the leaver's 4
    let node5 = PrivateKey::generate();
    let node = newcomer(&mut chain, "node5", &node5);
    ok(&[add_node(&mut chain, node)]);
    let o = Overlay::new(chain.store.clone());
    assert_eq!(
        crate::compute::validator(&o, "node5")
            .unwrap()
            .unwrap()
            .custody_share,
        5
    );
    custody.insert(5, node5);
    let st = state(&chain);
    assert_eq!(
        (st.round, st.dealers.clone(), st.holders.clone()),
        (3, vec![1, 2, 3], vec![1, 2, 3, 5])
    );
    reshare_round(&mut chain, &custody, 3, &[1, 2, 3], &new);
    let last = key_set(&chain).unwrap();
    assert_eq!(last.round, 3);
    assert_eq!(
        last.public_key_set[..65],
        before.public_key_set[..65],
        "P unchanged"
    );
    assert_eq!(last.public_shares.len(), 5);
    let newest: Vec<SecretShare> = [1, 3, 5]
        .into_iter()
        .map(|n| share_of(&chain, &custody[&n], n).unwrap())
        .collect();
    assert!(opens(&chain, &newest.iter().collect::<Vec<_>>()));
    assert!(!opens(&chain, &[&newest[0], &newest[2], &new[1]]));
}

#[test]
fn a_resharing_dealer_deals_only_its_own_share_and_holders_change_only_between_rounds() {
    let (mut chain, keys) = chain4();
    // during key generation no holder may join or leave
    let node5 = PrivateKey::generate();
    let node = newcomer(&mut chain, "node5", &node5);
    let r = add_node(&mut chain, node);
    assert!(r.error_message.contains("only between rounds"), "{r:?}");
    let r = remove_node(&mut chain, "node4");
    assert!(r.error_message.contains("only between rounds"), "{r:?}");
    chain.generate_key(&keys).unwrap();
    let old: Vec<SecretShare> = (1..=4).map(|n| share(&chain, &keys, n)).collect();
    // a custody key that is another holder's, or an observer holding one: refused
    let mut twin = newcomer(&mut chain, "node5", &node5);
    twin.custody_key = keys[1].public_key().to_sec1();
    let r = add_node(&mut chain, twin);
    assert!(
        r.error_message.contains("custody key of node 'node2'"),
        "{r:?}"
    );
    let mut observer = newcomer(&mut chain, "node5", &node5);
    observer.observer = true;
    let r = add_node(&mut chain, observer);
    assert!(
        r.error_message
            .contains("an observer holds no custody share"),
        "{r:?}"
    );

    let node = newcomer(&mut chain, "node5", &node5);
    ok(&[add_node(&mut chain, node)]);
    // a second change while the resharing runs: refused
    let r = remove_node(&mut chain, "node4");
    assert!(
        r.error_message
            .contains("round 2 of resharing is in its deal phase"),
        "{r:?}"
    );
    let mut custody: BTreeMap<u32, PrivateKey> = (1..).zip(keys.iter().cloned()).collect();
    custody.insert(5, node5.clone());
    let to = recipients(&custody);
    // holder 1 dealing a fresh secret instead of its share: refused, nothing stored
    let fresh =
        deal_step(&keygen::deal(&keys[0], "local", 2, 3, keygen::Dealt::Fresh, &to).unwrap());
    let r = run_round(&mut chain, 2, vec![(1, fresh)]);
    refused(&r[0], "not holder 1's public share of key set round 1");
    // holder 2 dealing holder 1's share: refused
    let r = run_round(
        &mut chain,
        2,
        vec![(2, reshare_deal(&custody, 2, 2, &old[0], &to))],
    );
    refused(&r[0], "not holder 2's public share");
    // the newcomer has no share to deal
    let own = deal_step(&keygen::deal(&node5, "local", 2, 3, keygen::Dealt::Fresh, &to).unwrap());
    let r = run_round(&mut chain, 2, vec![(5, own)]);
    refused(&r[0], "holder 5 is not a dealer of this resharing");
    let o = Overlay::new(chain.store.clone());
    assert!(super::super::deals(&o, 2).unwrap().is_empty());
    assert_eq!(
        key_set(&chain).unwrap().round,
        1,
        "the old key set stays in force"
    );
}

/// Holder `n`'s release of `share` for request `seq`, as its custodian makes it.
fn release_tx(chain: &mut LocalChain, n: u32, seq: u64, share: &SecretShare) -> VerifiedTx {
    let o = Overlay::new(chain.store.clone());
    let req = crate::custody::request(&o, seq).unwrap().unwrap();
    let cert = crate::certs::get(&o, &req.cert_id).unwrap();
    let envelope = govchain_custody::Envelope::parse(&cert.key_envelope).unwrap();
    let encrypted_share = share
        .release(
            &envelope,
            &req.requester_key,
            &release_context("local", seq),
            &[6; 32],
        )
        .unwrap();
    chain.tx(
        &validator_account(&format!("node{n}")),
        pb::payload::Kind::Release(pb::ReleaseShares {
            approvals: vec![],
            releases: vec![pb::ShareRelease {
                request: seq,
                encrypted_share,
            }],
        }),
    )
}

#[test]
fn a_share_released_before_a_resharing_is_replaced_and_an_old_share_is_refused_after_it() {
    let (mut chain, keys) = chain4();
    chain.generate_key(&keys).unwrap();
    let old: Vec<SecretShare> = (1..=4).map(|n| share(&chain, &keys, n)).collect();
    // tax asks to read a title the registry granted it; holders 1 and 2 approve and
    // release under the first key set
    let (cert, txs) = chain.title_granted_to_tax();
    ok(&chain.block(&txs, 1).unwrap().0);
    let read = chain.tx(
        "tax",
        pb::payload::Kind::Request(pb::RequestAccess {
            cert_id: cert,
            purpose: "tax_assessment".into(),
        }),
    );
    let r = chain.block(&[read], 1).unwrap().0.remove(0);
    let seq: u64 = r
        .events
        .iter()
        .find(|e| e.kind == "access")
        .unwrap()
        .attributes
        .iter()
        .find(|a| a.key == "request")
        .unwrap()
        .value
        .parse()
        .unwrap();
    let approvals: Vec<VerifiedTx> = (1..=3)
        .map(|n| {
            chain.tx(
                &validator_account(&format!("node{n}")),
                pb::payload::Kind::Release(pb::ReleaseShares {
                    approvals: vec![seq],
                    releases: vec![],
                }),
            )
        })
        .collect();
    ok(&chain.block(&approvals, 1).unwrap().0);
    let releases: Vec<VerifiedTx> = (1..=2)
        .map(|n| release_tx(&mut chain, n, seq, &old[n as usize - 1]))
        .collect();
    ok(&chain.block(&releases, 1).unwrap().0);
    let visible = |c: &LocalChain| {
        crate::custody::releases(&Overlay::new(c.store.clone()), seq)
            .unwrap()
            .len()
    };
    assert_eq!(visible(&chain), 2);

    // node4 leaves; holders 1..=3 reshare
    ok(&[remove_node(&mut chain, "node4")]);
    let mut custody: BTreeMap<u32, PrivateKey> = (1..).zip(keys.iter().cloned()).collect();
    custody.remove(&4);
    let to = recipients(&custody);
    let deals = [1, 2, 3]
        .map(|n| (n, reshare_deal(&custody, n, 2, &old[n as usize - 1], &to)))
        .to_vec();
    ok(&run_round(&mut chain, 2, deals));
    // holder 3 approved before the resharing; its old share goes in the block that ends
    // the resharing, after the complaints that end it. Checked ahead of the block, against
    // the key set the block starts with, it verifies; when it runs the key set has
    // changed, and it is checked again and refused.
    let mut txs: Vec<VerifiedTx> = custody
        .keys()
        .map(|&n| tx(&mut chain, n, 2, complain(&[])))
        .collect();
    txs.push(release_tx(&mut chain, 3, seq, &old[2]));
    let mut r = chain.block(&txs, 1).unwrap().0;
    let late = r.pop().unwrap();
    ok(&r);
    assert_eq!(
        late.error_code,
        pb::ErrorCode::BadKeyShare as u32,
        "{late:?}"
    );
    // the old releases are no longer served: they do not combine with new shares
    assert_eq!(visible(&chain), 0);
    // holder 1's old share is refused; its new share replaces its old release, once
    let deliver = |chain: &mut LocalChain, share: &SecretShare| {
        let tx = release_tx(chain, 1, seq, share);
        chain.block(&[tx], 1).unwrap().0.remove(0)
    };
    let r = deliver(&mut chain, &old[0]);
    assert_eq!(r.error_code, pb::ErrorCode::BadKeyShare as u32, "{r:?}");
    let new = share_of(&chain, &custody[&1], 1).unwrap();
    ok(&[deliver(&mut chain, &new)]);
    assert_eq!(visible(&chain), 1);
    let r = deliver(&mut chain, &new);
    assert_eq!(r.error_code, pb::ErrorCode::AlreadyExists as u32, "{r:?}");
}

#[test]
fn a_holder_rotates_its_custody_key_and_its_new_share_opens_only_under_the_new_key() {
    let (mut chain, keys) = chain4();
    chain.generate_key(&keys).unwrap();
    let before = key_set(&chain).unwrap();
    let old: Vec<SecretShare> = (1..=4).map(|n| share(&chain, &keys, n)).collect();
    let rotate = |chain: &mut LocalChain, key: Vec<u8>| {
        govern(
            chain,
            pb::NodeChange {
                node: Some(pb::Validator {
                    id: "node2".into(),
                    custody_key: key,
                    ..Default::default()
                }),
                remove: false,
                rotate_custody_key: true,
            },
        )
    };
    // another holder's key, or the key in force: refused
    for (key, why) in [
        (
            keys[2].public_key().to_sec1(),
            "custody key of node 'node3'",
        ),
        (
            keys[1].public_key().to_sec1(),
            "custody key of node 'node2'",
        ),
    ] {
        let r = rotate(&mut chain, key);
        assert!(r.error_message.contains(why), "{why}: {r:?}");
    }
    let fresh = PrivateKey::generate();
    let r = rotate(&mut chain, fresh.public_key().to_sec1());
    ok(&[r]);
    let st = state(&chain);
    assert_eq!(
        (st.round, st.dealers.clone(), st.holders.clone()),
        (2, vec![1, 2, 3, 4], vec![1, 2, 3, 4])
    );
    // every holder reshares its share; holder 2 receives under its new key
    let mut custody: BTreeMap<u32, PrivateKey> = (1..).zip(keys.iter().cloned()).collect();
    custody.insert(2, fresh.clone());
    reshare_round(&mut chain, &custody, 2, &[1, 2, 3, 4], &old);
    let after = key_set(&chain).unwrap();
    assert_eq!(
        after.public_key_set[..65],
        before.public_key_set[..65],
        "P unchanged"
    );
    // the new key gives holder 2's new share; the old key with the chain gives nothing
    let two = share_of(&chain, &fresh, 2).unwrap();
    assert!(share_of(&chain, &keys[1], 2).is_err());
    let one = share_of(&chain, &keys[0], 1).unwrap();
    let four = share_of(&chain, &keys[3], 4).unwrap();
    assert!(opens(&chain, &[&one, &two, &four]));
    assert!(
        !opens(&chain, &[&one, &old[1], &four]),
        "holder 2's old share counts for nothing"
    );
}

#[test]
fn a_resharing_dealer_that_sends_the_newcomer_a_bad_sub_share_is_left_out_and_the_key_stays() {
    let (mut chain, keys) = chain4();
    chain.generate_key(&keys).unwrap();
    let before = key_set(&chain).unwrap();
    let old: Vec<SecretShare> = (1..=4).map(|n| share(&chain, &keys, n)).collect();
    let node5 = PrivateKey::generate();
    let node = newcomer(&mut chain, "node5", &node5);
    ok(&[add_node(&mut chain, node)]);
    let mut custody: BTreeMap<u32, PrivateKey> = (1..).zip(keys.iter().cloned()).collect();
    custody.insert(5, node5.clone());
    let to = recipients(&custody);
    // dealer 4 deals its own share, but its sub-share to the newcomer is a wrong one
    let mut deals: Vec<(u32, Step)> = (1..=3)
        .map(|n| (n, reshare_deal(&custody, n, 2, &old[n as usize - 1], &to)))
        .collect();
    let mut bad =
        keygen::deal(&keys[3], "local", 2, 3, keygen::Dealt::Share(&old[3]), &to).unwrap();
    bad.sub_shares[4] = node5.public_key().encrypt(&[9; 32]);
    deals.push((4, deal_step(&bad)));
    ok(&run_round(&mut chain, 2, deals));
    // the newcomer complains; dealer 4 does not answer, and the answer phase runs out
    let mut complaints: Vec<(u32, Step)> = (1..=4).map(|n| (n, complain(&[]))).collect();
    complaints.push((5, complain(&[4])));
    ok(&run_round(&mut chain, 2, complaints));
    assert_eq!(
        key_set(&chain).unwrap().round,
        1,
        "not over while dealer 4 may answer"
    );
    let close = tx(&mut chain, 1, 2, Step::Close(pb::KeygenClose {}));
    ok(&chain.block(&[close], LATER).unwrap().0);
    // Q = {1, 2, 3}: the Lagrange combination over them keeps the key
    let after = key_set(&chain).unwrap();
    assert_eq!((after.round, after.qualified.clone()), (2, vec![1, 2, 3]));
    assert_eq!(
        after.public_key_set[..65],
        before.public_key_set[..65],
        "P unchanged"
    );
    let five = share_of(&chain, &node5, 5).unwrap();
    let two = share_of(&chain, &keys[1], 2).unwrap();
    let four = share_of(&chain, &keys[3], 4).unwrap();
    assert!(opens(&chain, &[&two, &four, &five]));
}
