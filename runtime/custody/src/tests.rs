use govchain_crypto::PrivateKey;
use govchain_crypto::threshold::DecryptionShare;

use super::*;

const CTX: &[u8] = b"certificate context";

fn seed() -> [u8; 32] {
    govchain_crypto::random_seed()
}

fn envelope(set: &KeySet, key: &[u8; DATA_KEY_LEN]) -> Envelope {
    let (bytes, proof) = set.seal_key(key, CTX, &seed()).unwrap();
    let env = Envelope::parse(&bytes).unwrap();
    env.verify_proof(&proof, CTX).unwrap();
    env
}

fn opened(
    set: &KeySet,
    shares: &[&SecretShare],
    env: &Envelope,
    to: &PrivateKey,
    request: u64,
) -> Vec<DecryptionShare> {
    let recipient = to.public_key().to_sec1();
    let ctx = release_context("c", request);
    shares
        .iter()
        .map(|s| {
            let bytes = s.release(env, &recipient, &ctx, &seed()).unwrap();
            assert_eq!(bytes.len(), SHARE_LEN);
            set.verify_share(s.number(), &bytes, env, &recipient, &ctx)
                .unwrap()
                .open(to)
        })
        .collect()
}

#[test]
fn threshold_of_shares_opens_and_fewer_do_not() {
    let (set, shares) = deal(4, 3).unwrap();
    assert_eq!(set.threshold(), 3);
    let key = *b"0123456789abcdef";
    let env = envelope(&set, &key);
    let bank = PrivateKey::generate();
    let all: Vec<&SecretShare> = shares.iter().collect();
    let opened = opened(&set, &all, &env, &bank, 1);
    for skip in 0..4 {
        let three: Vec<_> = opened
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != skip)
            .map(|(_, s)| s.clone())
            .collect();
        assert_eq!(set.combine(&three, &env).unwrap(), key);
    }
    assert_eq!(
        set.combine(&opened[..2], &env).unwrap_err(),
        CustodyError::NotEnoughShares { have: 2, need: 3 }
    );
    let same = vec![opened[0].clone(); 3];
    assert!(matches!(
        set.combine(&same, &env),
        Err(CustodyError::NotEnoughShares { have: 1, .. })
    ));
}

#[test]
fn bad_shares_are_named() {
    let (set, shares) = deal(3, 2).unwrap();
    let env = envelope(&set, &[1; 16]);
    let other = envelope(&set, &[1; 16]);
    let (bank, tax) = (PrivateKey::generate(), PrivateKey::generate());
    let (to_bank, to_tax) = (bank.public_key().to_sec1(), tax.public_key().to_sec1());
    let ctx = release_context("c", 5);
    let good = shares[0].release(&env, &to_bank, &ctx, &seed()).unwrap();
    assert!(set.verify_share(1, &good, &env, &to_bank, &ctx).is_ok());
    let refused = |number, bytes: &[u8], env, to: &[u8], ctx: &[u8]| match set
        .verify_share(number, bytes, env, to, ctx)
    {
        Err(CustodyError::BadShare { number: n, reason }) => {
            assert_eq!(n, number);
            reason
        }
        other => panic!("expected a bad share, got {other:?}"),
    };
    // Share 1's release claimed as share 2.
    assert!(refused(2, &good, &env, &to_bank, &ctx).contains("marked as share 1"));
    // Another envelope, recipient or request.
    refused(1, &good, &other, &to_bank, &ctx);
    refused(1, &good, &env, &to_tax, &ctx);
    refused(1, &good, &env, &to_bank, &release_context("c", 6));
    refused(1, &good, &env, &to_bank, &release_context("other chain", 5));
    // A share of another key set.
    let (_, foreign) = deal(3, 2).unwrap();
    let forged = foreign[0].release(&env, &to_bank, &ctx, &seed()).unwrap();
    assert!(refused(1, &forged, &env, &to_bank, &ctx).contains("fails its proof"));
    // Flipped bits, wrong length.
    let mut flipped = good.clone();
    flipped[150] ^= 1;
    refused(1, &flipped, &env, &to_bank, &ctx);
    refused(1, &good[..SHARE_LEN - 1], &env, &to_bank, &ctx);
    assert!(set.verify_share(0, &good, &env, &to_bank, &ctx).is_err());
}

#[test]
fn envelopes_are_checked() {
    let (set, _) = deal(1, 1).unwrap();
    let (bytes, proof) = set.seal_key(&[9; 16], CTX, &seed()).unwrap();
    assert!(bytes.len() <= MAX_ENVELOPE_LEN, "{} bytes", bytes.len());
    let env = Envelope::parse(&bytes).unwrap();
    env.verify_proof(&proof, CTX).unwrap();
    // The proof is bound to the certificate it was made for.
    assert!(env.verify_proof(&proof, b"another certificate").is_err());
    assert!(env.verify_proof(&proof[..63], CTX).is_err());
    assert!(Envelope::parse(&bytes[..bytes.len() - 1]).is_err());
    assert!(Envelope::parse(&[0; 100]).is_err());
    assert!(Envelope::parse(&[0; MAX_ENVELOPE_LEN + 1]).is_err());
    // A ciphertext of something other than a 16-byte key.
    let long = govchain_crypto::PublicKey::from_sec1(&set.public_key())
        .unwrap()
        .encrypt(&[1; 17]);
    let err = Envelope::parse(&long).unwrap_err().to_string();
    assert!(err.contains("17 bytes"), "{err}");
    // The tag is C1: two envelopes of one key differ.
    let again = Envelope::parse(&set.seal_key(&[9; 16], CTX, &seed()).unwrap().0).unwrap();
    assert_ne!(env.tag(), again.tag());
    assert_eq!(env.tag()[0], 4);
}

#[test]
fn encodings_roundtrip() {
    let (set, shares) = deal(4, 3).unwrap();
    let back = KeySet::from_bytes(&set.to_bytes()).unwrap();
    assert_eq!(back, set);
    assert_eq!(set.to_bytes().len(), 3 * POINT_LEN);
    let s = SecretShare::from_bytes(2, &*shares[1].to_bytes()).unwrap();
    assert_eq!(s.public_key_share(), set.public_key_share(2).unwrap());
    assert_ne!(s.public_key_share(), set.public_key_share(3).unwrap());
    assert!(set.public_key_share(0).is_err());
    assert!(KeySet::from_bytes(&[0; 64]).is_err());
    assert!(KeySet::from_bytes(&[4; 65]).is_err());
    assert!(KeySet::from_bytes(&[]).is_err());
    assert!(SecretShare::from_bytes(0, &*shares[0].to_bytes()).is_err());
    assert!(SecretShare::from_bytes(1, &[0xff; 32]).is_err());
    assert!(SecretShare::from_bytes(1, &[1; 31]).is_err());
    assert!(deal(3, 4).is_err());
    assert!(deal(3, 0).is_err());
    assert!(deal(65, 2).is_err());
    let (one, only) = deal(1, 1).unwrap();
    let env = envelope(&one, &[5; 16]);
    let bank = PrivateKey::generate();
    let opened = opened(&one, &[&only[0]], &env, &bank, 1);
    assert_eq!(one.combine(&opened, &env).unwrap(), [5; 16]);
    assert_eq!(format!("{:?}", only[0]), "SecretShare(1)");
}

#[test]
fn a_holder_deals_the_same_polynomial_for_a_round_after_a_restart_and_another_for_the_next() {
    let keys: Vec<PrivateKey> = (0..3).map(|_| PrivateKey::generate()).collect();
    let holders: Vec<(u32, Vec<u8>)> = (1..)
        .zip(keys.iter().map(|k| k.public_key().to_sec1()))
        .collect();
    let d = keygen::deal(&keys[0], "c", 1, 2, keygen::Dealt::Fresh, &holders).unwrap();
    assert_eq!(
        d,
        keygen::deal(&keys[0], "c", 1, 2, keygen::Dealt::Fresh, &holders).unwrap()
    );
    assert_ne!(
        d.commitments,
        keygen::deal(&keys[0], "c", 2, 2, keygen::Dealt::Fresh, &holders)
            .unwrap()
            .commitments
    );
    assert_ne!(
        d.commitments,
        keygen::deal(&keys[0], "d", 1, 2, keygen::Dealt::Fresh, &holders)
            .unwrap()
            .commitments
    );
    keygen::check_deal(2, 3, &d).unwrap();
    // each holder opens its own sub-share, and no one else's; the answer to a complaint
    // is the same sub-share in the clear
    for (i, k) in (1..).zip(&keys) {
        let sub =
            keygen::open_sub_share(k, i, &d.commitments, &d.sub_shares[i as usize - 1]).unwrap();
        assert_eq!(
            *sub,
            *keygen::answer(&keys[0], "c", 1, 2, keygen::Dealt::Fresh, i).unwrap()
        );
        keygen::check_answer(&d.commitments, i, &sub[..]).unwrap();
        let other = (i % 3) as usize;
        assert!(keygen::open_sub_share(k, i, &d.commitments, &d.sub_shares[other]).is_err());
    }
    assert!(keygen::check_answer(&d.commitments, 2, &[1; 32]).is_err());
}

#[test]
fn seeded_envelopes_are_reproducible() {
    let (set, shares) = deal(3, 2).unwrap();
    let sealed = set.seal_key(&[6; 16], CTX, &[7; 32]).unwrap();
    assert_eq!(sealed, set.seal_key(&[6; 16], CTX, &[7; 32]).unwrap());
    assert_ne!(sealed.0, set.seal_key(&[6; 16], CTX, &[8; 32]).unwrap().0);
    let env = Envelope::parse(&sealed.0).unwrap();
    let bank = PrivateKey::generate();
    let opened = opened(&set, &[&shares[0], &shares[1]], &env, &bank, 3);
    assert_eq!(set.combine(&opened, &env).unwrap(), [6; 16]);
}

#[test]
fn contexts_differ_by_chain_and_subject() {
    assert_ne!(envelope_context("a", "x"), envelope_context("b", "x"));
    assert_ne!(envelope_context("a", "x"), envelope_context("a", "y"));
    assert_ne!(release_context("a", 1), release_context("a", 2));
    // The chain id is length-prefixed: no two (chain, subject) pairs share a context.
    assert_ne!(envelope_context("ab", "c"), envelope_context("a", "bc"));
}
