//! Threshold SM2: any t verified shares open an envelope, fewer or wrong ones do not, and
//! a wrong share is caught by its proof.

use super::{DecryptionShare, Envelope, SHARE_LEN, SecretShare, deal, open};
use crate::{CryptoError, PublicKey};

const KEY: &[u8] = b"a 16-byte SM4 k.";

fn envelope(public: &[u8]) -> Envelope {
    Envelope::parse(&PublicKey::from_sec1(public).unwrap().encrypt(KEY)).unwrap()
}

fn shares_of(holders: &[&SecretShare], env: &Envelope, context: &[u8]) -> Vec<DecryptionShare> {
    holders
        .iter()
        .map(|h| h.decryption_share(env, context))
        .collect()
}

#[test]
fn any_threshold_of_verified_shares_opens_the_envelope() {
    let (public, holders) = deal(4, 3).unwrap();
    let env = envelope(&public);
    for skip in 0..4 {
        let chosen: Vec<&SecretShare> = holders
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != skip)
            .map(|(_, h)| h)
            .collect();
        let shares = shares_of(&chosen, &env, b"request 7");
        for (s, h) in shares.iter().zip(&chosen) {
            s.verify(&h.public(), &env, b"request 7").unwrap();
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
fn fewer_than_the_threshold_open_nothing() {
    let (public, holders) = deal(4, 3).unwrap();
    let env = envelope(&public);
    let two = shares_of(&[&holders[0], &holders[2]], &env, b"c");
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
    // Holder 2 answers with a share of another key, under its own index.
    let (_, other) = deal(4, 3).unwrap();
    let forged = other[1].decryption_share(&env, b"c");
    let err = forged.verify(&holders[1].public(), &env, b"c").unwrap_err();
    assert!(err.to_string().contains("holder 2"), "{err}");
    // Unverified, it spoils the opening instead of yielding a wrong key.
    let mut shares = shares_of(&[&holders[0], &holders[2]], &env, b"c");
    shares.push(forged);
    assert!(matches!(
        open(&env, &shares, 3),
        Err(CryptoError::DecryptFailed)
    ));
}

#[test]
fn a_share_is_bound_to_its_envelope_and_context() {
    let (public, holders) = deal(3, 2).unwrap();
    let env = envelope(&public);
    let share = holders[0].decryption_share(&env, b"request 1");
    let pk = holders[0].public();
    share.verify(&pk, &env, b"request 1").unwrap();
    assert!(share.verify(&pk, &env, b"request 2").is_err());
    assert!(share.verify(&pk, &envelope(&public), b"request 1").is_err());
    assert!(
        share
            .verify(&holders[1].public(), &env, b"request 1")
            .is_err()
    );
}

#[test]
fn shares_and_envelopes_decode_strictly() {
    let (public, holders) = deal(3, 2).unwrap();
    let env = envelope(&public);
    let share = holders[2].decryption_share(&env, b"c");
    let bytes = share.to_bytes();
    assert_eq!(bytes.len(), SHARE_LEN);
    assert_eq!(DecryptionShare::from_bytes(&bytes).unwrap(), share);
    assert!(DecryptionShare::from_bytes(&bytes[1..]).is_err());
    let mut zero_index = bytes.clone();
    zero_index[..4].copy_from_slice(&[0; 4]);
    assert!(DecryptionShare::from_bytes(&zero_index).is_err());
    let mut off_curve = bytes.clone();
    off_curve[10] ^= 1;
    assert!(DecryptionShare::from_bytes(&off_curve).is_err());
    let mut big = bytes;
    big[101..].copy_from_slice(&[0xff; 32]);
    assert!(DecryptionShare::from_bytes(&big).is_err());
    assert!(Envelope::parse(b"not der").is_err());
    let restored = SecretShare::from_bytes(3, &*holders[2].to_bytes()).unwrap();
    assert_eq!(restored.public(), holders[2].public());
    assert!(SecretShare::from_bytes(0, &*holders[2].to_bytes()).is_err());
    assert!(deal(3, 4).is_err() && deal(3, 0).is_err());
}
