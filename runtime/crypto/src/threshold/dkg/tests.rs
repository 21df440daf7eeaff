//! Key generation without a dealer and resharing: the key no one dealt opens envelopes,
//! a bad sub-share is caught, and a resharing keeps the key while the old shares stop
//! counting.

use super::{
    Commitments, Dealing, combine, public_key, public_share, reshared_commitments, reshared_share,
    share_from,
};
use crate::threshold::{Envelope, SecretShare, open};
use crate::{PrivateKey, PublicKey};

const KEY: &[u8] = b"sixteen byte key";

/// Holders 1..=n from the dealings of the qualified dealers.
fn run_dkg(dealings: &[&Dealing], holders: u32) -> ([u8; 65], Vec<SecretShare>) {
    let commitments: Vec<&Commitments> = dealings.iter().map(|d| d.commitments()).collect();
    let public = public_key(&commitments).unwrap();
    // The joint commitments, as the chain stores them, agree with the sums.
    let joint = combine(&commitments).unwrap();
    assert_eq!(joint.constant(), public);
    let shares = (1..=holders)
        .map(|i| {
            let subs: Vec<_> = dealings.iter().map(|d| d.sub_share(i).unwrap()).collect();
            for (d, s) in dealings.iter().zip(&subs) {
                d.commitments().verify_sub_share(i, &s[..]).unwrap();
            }
            let refs: Vec<&[u8]> = subs.iter().map(|s| &s[..]).collect();
            let share = share_from(i, &refs).unwrap();
            assert_eq!(share.public(), public_share(&commitments, i).unwrap());
            assert_eq!(share.public(), public_share(&[&joint], i).unwrap());
            share
        })
        .collect();
    (public, shares)
}

fn opens(public: &[u8], holders: &[&SecretShare], threshold: usize) -> bool {
    let env = Envelope::parse(&PublicKey::from_sec1(public).unwrap().encrypt(KEY)).unwrap();
    let bank = PrivateKey::generate();
    let to = bank.public_key().to_sec1();
    let shares: Vec<_> = holders
        .iter()
        .map(|h| {
            let r = h.release(&env, &to, b"c", &crate::random_seed()).unwrap();
            r.verify(&h.public(), &env, &to, b"c").unwrap();
            r.decrypt(&bank)
        })
        .collect();
    open(&env, &shares, threshold).is_ok_and(|k| k == KEY)
}

#[test]
fn a_key_no_one_dealt_opens_envelopes_from_any_threshold() {
    let dealings: Vec<Dealing> = (0..4).map(|_| Dealing::random(3).unwrap()).collect();
    let refs: Vec<&Dealing> = dealings.iter().collect();
    let (public, shares) = run_dkg(&refs, 4);
    assert!(opens(&public, &[&shares[0], &shares[1], &shares[3]], 3));
    assert!(opens(&public, &[&shares[1], &shares[2], &shares[3]], 3));
    // No dealer's own polynomial is the key.
    for d in &dealings {
        assert_ne!(d.commitments().constant(), public);
    }
}

#[test]
fn a_bad_sub_share_is_caught_and_its_dealer_can_be_left_out() {
    let dealings: Vec<Dealing> = (0..4).map(|_| Dealing::random(3).unwrap()).collect();
    // Dealer 4 sends holder 2 a sub-share of another polynomial.
    let other = Dealing::random(3).unwrap();
    let forged = other.sub_share(2).unwrap();
    let err = dealings[3]
        .commitments()
        .verify_sub_share(2, &forged[..])
        .unwrap_err();
    assert!(err.to_string().contains("holder 2"), "{err}");
    // Without the disqualified dealer the other three still make a working key.
    let qualified: Vec<&Dealing> = dealings[..3].iter().collect();
    let (public, shares) = run_dkg(&qualified, 4);
    assert!(opens(&public, &[&shares[0], &shares[2], &shares[3]], 3));
}

#[test]
fn resharing_keeps_the_key_and_old_shares_stop_counting() {
    let dealings: Vec<Dealing> = (0..4).map(|_| Dealing::random(3).unwrap()).collect();
    let refs: Vec<&Dealing> = dealings.iter().collect();
    let (public, old) = run_dkg(&refs, 4);
    // Holder 4 leaves and a fifth joins: holders 1..=3 reshare to new holders 1..=4
    // (the leaver's seat goes to the newcomer), threshold 3.
    let resharing: Vec<(u32, Dealing)> = old[..3]
        .iter()
        .map(|s| {
            (
                s.index(),
                Dealing::reshare(s, 3, &[s.index() as u8; 32]).unwrap(),
            )
        })
        .collect();
    for ((_, d), s) in resharing.iter().zip(&old) {
        assert_eq!(d.commitments().constant(), s.public(), "checked on chain");
    }
    let commitments: Vec<(u32, &Commitments)> = resharing
        .iter()
        .map(|(i, d)| (*i, d.commitments()))
        .collect();
    let joint = reshared_commitments(&commitments).unwrap();
    assert_eq!(joint.constant(), public, "P unchanged");
    let new: Vec<SecretShare> = (1..=4)
        .map(|j| {
            let subs: Vec<(u32, zeroize::Zeroizing<[u8; 32]>)> = resharing
                .iter()
                .map(|(i, d)| {
                    let s = d.sub_share(j).unwrap();
                    d.commitments().verify_sub_share(j, &s[..]).unwrap();
                    (*i, s)
                })
                .collect();
            let refs: Vec<(u32, &[u8])> = subs.iter().map(|(i, s)| (*i, &s[..])).collect();
            let share = reshared_share(j, &refs).unwrap();
            assert_eq!(share.public(), public_share(&[&joint], j).unwrap());
            share
        })
        .collect();
    assert!(opens(&public, &[&new[0], &new[1], &new[3]], 3));
    // The leaver's old share with two new ones: points of different polynomials.
    assert!(!opens(&public, &[&new[0], &new[1], &old[3]], 3));
}

#[test]
fn commitments_decode_strictly() {
    let d = Dealing::random(2).unwrap();
    let bytes = d.commitments().to_bytes();
    assert_eq!(&Commitments::parse(&bytes).unwrap(), d.commitments());
    assert!(Commitments::parse(&[]).is_err());
    let mut bad = bytes.clone();
    bad[1][5] ^= 1;
    let err = Commitments::parse(&bad).unwrap_err();
    assert!(err.to_string().contains("commitment 1"), "{err}");
    let three = Dealing::random(3).unwrap();
    assert!(public_key(&[d.commitments(), three.commitments()]).is_err());
    assert!(reshared_share(1, &[(1, &[1; 32][..]), (1, &[2; 32][..])]).is_err());
    assert!(Dealing::random(0).is_err() && d.sub_share(0).is_err());
}
