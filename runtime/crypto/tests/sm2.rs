//! SM2 keys and signatures without OpenSSL: round trips and tampering.

use govchain_crypto::{PrivateKey, PublicKey, Signature, verify_sec1};

#[test]
fn sign_verify_and_tamper() {
    let key = PrivateKey::generate();
    let public = key.public_key();
    let sig = key.sign(b"household registration");
    public.verify(b"household registration", &sig).unwrap();
    assert!(public.verify(b"household registration!", &sig).is_err());
    let mut bad = sig.to_bytes();
    bad[40] ^= 1;
    assert!(
        public
            .verify(b"household registration", &Signature(bad))
            .is_err()
    );
    assert!(
        PrivateKey::generate()
            .public_key()
            .verify(b"household registration", &sig)
            .is_err()
    );
    verify_sec1(
        &public.to_sec1(),
        b"household registration",
        &sig.to_bytes(),
    )
    .unwrap();
    assert!(verify_sec1(&public.to_sec1(), b"x", &sig.to_bytes()[..63]).is_err());
}

#[test]
fn encodings_round_trip() {
    let key = PrivateKey::generate();
    let public = key.public_key();
    assert_eq!(public.to_sec1().len(), 65);
    assert_eq!(PublicKey::from_sec1(&public.to_sec1()).unwrap(), public);
    assert_eq!(
        PublicKey::from_spki_pem(&public.to_spki_pem()).unwrap(),
        public
    );
    assert_eq!(
        PrivateKey::from_pkcs8_pem(&key.to_pkcs8_pem())
            .unwrap()
            .public_key(),
        public
    );
    let enc = key.to_pkcs8_encrypted_pem(b"passphrase").unwrap();
    assert_eq!(
        PrivateKey::from_pkcs8_encrypted_pem(&enc, b"passphrase")
            .unwrap()
            .public_key(),
        public
    );
    assert!(PrivateKey::from_pkcs8_encrypted_pem(&enc, b"wrong").is_err());
    let sig = key.sign(b"m");
    assert_eq!(Signature::from_der(&sig.to_der()).unwrap(), sig);
    assert_eq!(Signature::from_slice(&sig.to_bytes()).unwrap(), sig);
    assert!(Signature::from_slice(&[0; 10]).is_err());
    assert!(PublicKey::from_sec1(&[4; 65]).is_err());
    assert_eq!(public.fingerprint().len(), 40);
}
