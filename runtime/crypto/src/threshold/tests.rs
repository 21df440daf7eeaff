//! Threshold SM2: any t released shares open an envelope for their recipient, fewer or
//! wrong ones do not, a wrong share is caught by its proof, and an envelope's proof of
//! knowledge stops the re-randomised copy of another's envelope.

use ::sm2::elliptic_curve::Group;
use ::sm2::elliptic_curve::ops::LinearCombination;
use ::sm2::{ProjectivePoint, Scalar};

use super::{
    DecryptionShare, ENVELOPE_PROOF_LEN, Envelope, RELEASE_LEN, ReleaseCheck, ReleasedShare,
    SecretShare, deal, open, point, verify_releases,
};
use crate::{CryptoError, PrivateKey};

const KEY: &[u8] = b"a 16-byte SM4 k.";

fn envelope(public: &[u8]) -> Envelope {
    let (der, _) = Envelope::seal(public, KEY, b"cert", &rand32()).unwrap();
    Envelope::parse(&der).unwrap()
}

fn rand32() -> [u8; 32] {
    crate::random_seed()
}

fn release(h: &SecretShare, env: &Envelope, to: &PrivateKey, context: &[u8]) -> ReleasedShare {
    h.release(env, &to.public_key().to_sec1(), context, &rand32())
        .unwrap()
}

fn opened(
    holders: &[&SecretShare],
    env: &Envelope,
    to: &PrivateKey,
    context: &[u8],
) -> Vec<DecryptionShare> {
    holders
        .iter()
        .map(|h| release(h, env, to, context).decrypt(to))
        .collect()
}

#[test]
fn any_threshold_of_released_shares_opens_the_envelope_for_its_recipient() {
    let (public, holders) = deal(4, 3).unwrap();
    let env = envelope(&public);
    let bank = PrivateKey::generate();
    let recipient = bank.public_key().to_sec1();
    for skip in 0..4 {
        let chosen: Vec<&SecretShare> = holders
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != skip)
            .map(|(_, h)| h)
            .collect();
        let mut shares = vec![];
        for h in &chosen {
            let r = release(h, &env, &bank, b"request 7");
            r.verify(&h.public(), &env, &recipient, b"request 7")
                .unwrap();
            shares.push(r.decrypt(&bank));
        }
        assert_eq!(
            open(&env, &shares, 3).unwrap(),
            KEY,
            "without holder {}",
            skip + 1
        );
    }
}

#[test]
fn released_shares_open_nothing_for_anyone_but_their_recipient() {
    let (public, holders) = deal(3, 2).unwrap();
    let env = envelope(&public);
    let (bank, tax) = (PrivateKey::generate(), PrivateKey::generate());
    let released: Vec<ReleasedShare> = holders[..2]
        .iter()
        .map(|h| release(h, &env, &bank, b"c"))
        .collect();
    let by_tax: Vec<DecryptionShare> = released.iter().map(|r| r.decrypt(&tax)).collect();
    assert!(matches!(
        open(&env, &by_tax, 2),
        Err(CryptoError::DecryptFailed)
    ));
    let by_bank: Vec<DecryptionShare> = released.iter().map(|r| r.decrypt(&bank)).collect();
    assert_eq!(open(&env, &by_bank, 2).unwrap(), KEY);
}

#[test]
fn fewer_than_the_threshold_open_nothing() {
    let (public, holders) = deal(4, 3).unwrap();
    let env = envelope(&public);
    let bank = PrivateKey::generate();
    let two = opened(&[&holders[0], &holders[2]], &env, &bank, b"c");
    let err = open(&env, &two, 3).unwrap_err();
    assert!(matches!(err, CryptoError::Threshold { .. }), "{err}");
    // t−1 colluding holders who claim a threshold of 2 interpolate the wrong point.
    assert!(matches!(
        open(&env, &two, 2),
        Err(CryptoError::DecryptFailed)
    ));
    // The same holder twice counts once.
    let twice = vec![two[0].clone(), two[0].clone(), two[1].clone()];
    assert!(matches!(
        open(&env, &twice, 3),
        Err(CryptoError::Threshold { .. })
    ));
}

#[test]
fn a_wrong_share_fails_its_proof_and_names_its_holder() {
    let (public, holders) = deal(4, 3).unwrap();
    let env = envelope(&public);
    let bank = PrivateKey::generate();
    let recipient = bank.public_key().to_sec1();
    // Holder 2 answers with a share of another key, under its own index.
    let (_, other) = deal(4, 3).unwrap();
    let forged = release(&other[1], &env, &bank, b"c");
    let err = forged
        .verify(&holders[1].public(), &env, &recipient, b"c")
        .unwrap_err();
    assert!(err.to_string().contains("holder 2"), "{err}");
    // Unverified, it spoils the opening instead of yielding a wrong key.
    let mut shares = opened(&[&holders[0], &holders[2]], &env, &bank, b"c");
    shares.push(forged.decrypt(&bank));
    assert!(matches!(
        open(&env, &shares, 3),
        Err(CryptoError::DecryptFailed)
    ));
}

#[test]
fn a_release_is_bound_to_its_envelope_recipient_and_context() {
    let (public, holders) = deal(3, 2).unwrap();
    let env = envelope(&public);
    let (bank, tax) = (PrivateKey::generate(), PrivateKey::generate());
    let (to_bank, to_tax) = (bank.public_key().to_sec1(), tax.public_key().to_sec1());
    let share = release(&holders[0], &env, &bank, b"request 1");
    let pk = holders[0].public();
    share.verify(&pk, &env, &to_bank, b"request 1").unwrap();
    assert!(share.verify(&pk, &env, &to_bank, b"request 2").is_err());
    assert!(share.verify(&pk, &env, &to_tax, b"request 1").is_err());
    assert!(
        share
            .verify(&pk, &envelope(&public), &to_bank, b"request 1")
            .is_err()
    );
    assert!(
        share
            .verify(&holders[1].public(), &env, &to_bank, b"request 1")
            .is_err()
    );
    // Every byte of the proof counts.
    let bytes = share.to_bytes();
    for i in [3, 40, 100, 150, 200, 260, 300, 340, 380] {
        let mut b = bytes.clone();
        b[i] ^= 1;
        let ok = ReleasedShare::from_bytes(&b)
            .is_ok_and(|s| s.verify(&pk, &env, &to_bank, b"request 1").is_ok());
        assert!(!ok, "byte {i} flipped still verifies");
    }
    // The same seed for another statement gives other nonces (hedged).
    let seed = [9; 32];
    let a = holders[0].release(&env, &to_bank, b"x", &seed).unwrap();
    let b = holders[0].release(&env, &to_bank, b"y", &seed).unwrap();
    assert_ne!(a.to_bytes()[4..69], b.to_bytes()[4..69]);
}

#[test]
fn an_envelope_proves_its_encryptor_knows_its_scalar() {
    let (public, holders) = deal(3, 2).unwrap();
    let (der, proof) = Envelope::seal(&public, KEY, b"cert A", &rand32()).unwrap();
    let env = Envelope::parse(&der).unwrap();
    env.verify_knowledge(&proof, b"cert A").unwrap();
    // Bound to its certificate: copied to another, it fails.
    assert!(env.verify_knowledge(&proof, b"cert B").is_err());
    assert!(env.verify_knowledge(&proof[1..], b"cert A").is_err());
    let mut flipped = proof;
    flipped[40] ^= 1;
    assert!(env.verify_knowledge(&flipped, b"cert A").is_err());
    // The attack the proof stops: r·C1 of a victim's envelope, published as one's own,
    // gets shares that unblind into the victim's key. The re-randomised envelope has no
    // proof anyone can make without the victim's scalar.
    let mauled = Envelope {
        c1: (super::ProjectivePoint::from(env.c1) * super::Scalar::from(7u64)).into(),
        ..env.clone()
    };
    assert!(mauled.verify_knowledge(&proof, b"cert A").is_err());
    let bank = PrivateKey::generate();
    let shares = opened(&[&holders[0], &holders[1]], &mauled, &bank, b"c");
    let inv7 = Option::<super::Scalar>::from(super::Scalar::from(7u64).invert()).unwrap();
    let unblinded: Vec<DecryptionShare> = shares
        .into_iter()
        .map(|s| DecryptionShare {
            index: s.index,
            point: (super::ProjectivePoint::from(s.point) * inv7).into(),
        })
        .collect();
    assert_eq!(
        open(&env, &unblinded, 2).unwrap(),
        KEY,
        "the attack works without the proof"
    );
    // Same key and seed, same envelope and proof (reproducible for pinned tests).
    let seed = [3; 32];
    assert_eq!(
        Envelope::seal(&public, KEY, b"c", &seed).unwrap(),
        Envelope::seal(&public, KEY, b"c", &seed).unwrap()
    );
    assert_eq!(proof.len(), ENVELOPE_PROOF_LEN);
}

#[test]
fn shares_and_envelopes_decode_strictly() {
    let (public, holders) = deal(3, 2).unwrap();
    let env = envelope(&public);
    let bank = PrivateKey::generate();
    let share = release(&holders[2], &env, &bank, b"c");
    let bytes = share.to_bytes();
    assert_eq!(bytes.len(), RELEASE_LEN);
    assert_eq!(ReleasedShare::from_bytes(&bytes).unwrap(), share);
    assert!(ReleasedShare::from_bytes(&bytes[1..]).is_err());
    let mut zero_index = bytes.clone();
    zero_index[..4].copy_from_slice(&[0; 4]);
    assert!(ReleasedShare::from_bytes(&zero_index).is_err());
    let mut off_curve = bytes.clone();
    off_curve[10] ^= 1;
    assert!(ReleasedShare::from_bytes(&off_curve).is_err());
    let mut big = bytes;
    big[361..].copy_from_slice(&[0xff; 32]);
    assert!(ReleasedShare::from_bytes(&big).is_err());
    assert!(Envelope::parse(b"not der").is_err());
    assert!(holders[0].release(&env, &[4; 65], b"c", &[0; 32]).is_err());
    let restored = SecretShare::from_bytes(3, &*holders[2].to_bytes()).unwrap();
    assert_eq!(restored.public(), holders[2].public());
    assert!(SecretShare::from_bytes(0, &*holders[2].to_bytes()).is_err());
    assert!(deal(3, 4).is_err() && deal(3, 0).is_err());
    assert!(Envelope::seal(&public, b"", b"c", &[0; 32]).is_err());
}

/// A release and what it is checked against: public share, envelope, recipient, context.
type Item = (ReleasedShare, [u8; 65], Envelope, Vec<u8>, String);

fn verify_items(items: &[Item]) -> crate::Result<()> {
    let checks: Vec<ReleaseCheck<'_>> = items
        .iter()
        .map(
            |(share, public, envelope, recipient, context)| ReleaseCheck {
                share,
                public,
                envelope,
                recipient,
                context: context.as_bytes(),
            },
        )
        .collect();
    verify_releases(&checks)
}

#[test]
fn a_batch_of_releases_verifies_together_and_fails_with_any_bad_one() {
    let (public, holders) = deal(4, 3).unwrap();
    let envs = [envelope(&public), envelope(&public)];
    let (bank, tax) = (PrivateKey::generate(), PrivateKey::generate());
    let mut good: Vec<Item> = vec![];
    for (n, h) in holders.iter().enumerate() {
        for (env, to) in [(&envs[0], &bank), (&envs[1], &tax), (&envs[n % 2], &bank)] {
            let context = format!("request {}", good.len());
            let share = release(h, env, to, context.as_bytes());
            good.push((
                share,
                h.public(),
                env.clone(),
                to.public_key().to_sec1(),
                context,
            ));
        }
    }
    verify_items(&good).unwrap();
    verify_items(&good[..1]).unwrap();
    // One share checked against another request, or another holder's public share.
    let mut bad = good.clone();
    bad[5].4 = "request 0".into();
    assert!(verify_items(&bad).is_err());
    let mut bad = good.clone();
    bad[7].1 = good[0].1;
    assert!(verify_items(&bad).is_err());
}

/// Two false releases whose errors cancel in a plain sum (`A1` of one moved by `+D`, of
/// the other by `−D`): the batch's weights keep them apart.
#[test]
fn errors_that_cancel_in_a_plain_sum_do_not_pass_a_batch() {
    let (public, holders) = deal(3, 2).unwrap();
    let env = envelope(&public);
    let bank = PrivateKey::generate();
    let q = point(&bank.public_key().to_sec1(), "q").unwrap();
    let offset = ProjectivePoint::mul_by_generator(&Scalar::from(7u64));
    let forge = |context: &[u8], shift: ProjectivePoint| {
        let h = &holders[0];
        let (k, a, b) = (
            Scalar::from(11u64),
            Scalar::from(13u64),
            Scalar::from(17u64),
        );
        let c1 = ProjectivePoint::from(env.c1);
        let mut share = ReleasedShare {
            index: h.index,
            e1: ProjectivePoint::mul_by_generator(&k).to_affine(),
            e2: ProjectivePoint::lincomb(&[(c1, h.secret), (q.into(), k)]).to_affine(),
            a1: (ProjectivePoint::mul_by_generator(&a) + shift).to_affine(),
            a2: ProjectivePoint::mul_by_generator(&b).to_affine(),
            a3: ProjectivePoint::lincomb(&[(c1, a), (q.into(), b)]).to_affine(),
            z1: Scalar::ZERO,
            z2: Scalar::ZERO,
        };
        let e = share.challenge(&h.public, &env.c1, &q, context);
        share.z1 = a + e * h.secret;
        share.z2 = b + e * k;
        share
    };
    let honest = forge(b"x", ProjectivePoint::IDENTITY);
    let to = bank.public_key().to_sec1();
    let pk = holders[0].public();
    honest.verify(&pk, &env, &to, b"x").unwrap();
    let (up, down) = (forge(b"x", offset), forge(b"y", -offset));
    assert!(up.verify(&pk, &env, &to, b"x").is_err());
    assert!(down.verify(&pk, &env, &to, b"y").is_err());
    let check = |share, context| ReleaseCheck {
        share,
        public: &pk,
        envelope: &env,
        recipient: &to,
        context,
    };
    assert!(verify_releases(&[check(&up, b"x"), check(&down, b"y")]).is_err());
}
