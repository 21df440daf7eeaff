//! Threshold custody of certificate data keys (`docs/design/custody.md`).
//!
//! A certificate's document is SM4-GCM encrypted under a fresh 16-byte data key; the
//! data key is encrypted to the validators' threshold public key (a key *envelope*).
//! No single validator can open an envelope: each validator holds one secret key share
//! and, for an approved request, produces a *decryption share*; any `t` decryption
//! shares recover the data key, `t − 1` do not.
//!
//! The scheme is threshold_crypto's (Baek–Zheng threshold encryption over BLS12-381),
//! as implemented by `blsttc`, its maintained fork on `blst`. This crate wraps it with
//! govchain's numbering (share *numbers* 1..=n, one per validator), fixed sizes and
//! errors that name what is wrong.
//!
//! ```
//! use govchain_custody::{deal, Envelope};
//!
//! let (set, shares) = deal(4, 3).unwrap();
//! let key = [7u8; 16];
//! let envelope = Envelope::parse(&set.encrypt_key(&key)).unwrap();
//! let released: Vec<_> = shares[1..].iter().map(|s| (s.number(), s.decryption_share(&envelope))).collect();
//! let verified: Vec<_> = released
//!     .iter()
//!     .map(|(n, bytes)| set.verify_share(*n, bytes, &envelope).unwrap())
//!     .collect();
//! assert_eq!(set.combine(&verified, &envelope).unwrap(), key);
//! assert!(set.combine(&verified[..2], &envelope).is_err());
//! ```

use std::collections::BTreeSet;

use blsttc::{Ciphertext, DecryptionShare, PublicKeySet, SecretKeySet, SecretKeyShare};
use zeroize::Zeroize;

/// Length of a data key (SM4).
pub const DATA_KEY_LEN: usize = 16;
/// Length of a key envelope: U (G1, 48) ‖ W (G2, 96) ‖ V (the masked key, 16).
pub const ENVELOPE_LEN: usize = 48 + 96 + DATA_KEY_LEN;
/// Length of a decryption share (a compressed G1 point).
pub const SHARE_LEN: usize = 48;
/// Length of a secret key share (a BLS12-381 scalar, big endian).
pub const SECRET_LEN: usize = 32;
/// Most share holders a key set may have.
pub const MAX_HOLDERS: usize = 64;

/// What went wrong, naming the part at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CustodyError {
    /// The public key set does not decode.
    #[error("bad custody key set: {0}")]
    BadKeySet(String),
    /// A key envelope is malformed or fails its validity check.
    #[error("bad key envelope: {0}")]
    BadEnvelope(String),
    /// A decryption share is malformed or does not verify for its number.
    #[error("decryption share {number} {reason}")]
    BadShare {
        /// Share number.
        number: u32,
        /// What is wrong.
        reason: String,
    },
    /// Too few (distinct, valid) shares to combine.
    #[error("{have} valid decryption share(s), {need} needed")]
    NotEnoughShares {
        /// Distinct valid shares given.
        have: usize,
        /// The threshold.
        need: usize,
    },
    /// A secret share does not decode.
    #[error("bad secret key share: {0}")]
    BadSecret(String),
    /// Dealing parameters out of range.
    #[error("cannot deal {threshold} of {holders}: {reason}")]
    BadParameters {
        /// Shares needed.
        threshold: usize,
        /// Share holders.
        holders: usize,
        /// Why not.
        reason: &'static str,
    },
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, CustodyError>;

/// Deals a fresh key set: `holders` secret shares, any `threshold` of which open an
/// envelope. The master secret exists only inside this call and is zeroized on return;
/// whoever runs it (the dealer) is trusted not to keep it (see the design notes).
pub fn deal(holders: usize, threshold: usize) -> Result<(KeySet, Vec<SecretShare>)> {
    deal_with_rng(holders, threshold, &mut rand::rngs::OsRng)
}

/// [`deal`] from a seed instead of the operating system's generator: the same seed
/// deals the same key set and shares. Only for tests that pin bytes (the scenario
/// golden test); a seeded key set is as secret as its seed, which a test writes down.
pub fn deal_seeded(
    holders: usize,
    threshold: usize,
    seed: [u8; 32],
) -> Result<(KeySet, Vec<SecretShare>)> {
    deal_with_rng(holders, threshold, &mut seeded(seed))
}

/// The generator of the `*_seeded` variants (ChaCha12, as `rand` 0.8's `StdRng`).
fn seeded(seed: [u8; 32]) -> rand::rngs::StdRng {
    rand::SeedableRng::from_seed(seed)
}

fn deal_with_rng<R: rand::Rng>(
    holders: usize,
    threshold: usize,
    rng: &mut R,
) -> Result<(KeySet, Vec<SecretShare>)> {
    let bad = |reason| CustodyError::BadParameters {
        threshold,
        holders,
        reason,
    };
    if holders == 0 || holders > MAX_HOLDERS {
        return Err(bad("1 to 64 holders"));
    }
    if threshold == 0 || threshold > holders {
        return Err(bad(
            "the threshold must be between 1 and the number of holders",
        ));
    }
    let set = SecretKeySet::random(threshold - 1, rng);
    let shares = (1..=holders as u32)
        .map(|number| SecretShare {
            number,
            inner: set.secret_key_share(number as usize - 1),
        })
        .collect();
    // `SecretKeySet` zeroizes its polynomial when dropped here.
    Ok((
        KeySet {
            public: set.public_keys(),
        },
        shares,
    ))
}

/// The validators' public key set: encrypts data keys, checks decryption shares and
/// combines them.
#[derive(Clone, PartialEq, Eq)]
pub struct KeySet {
    public: PublicKeySet,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "KeySet({} of n, {})",
            self.threshold(),
            &hex::encode(self.public.public_key().to_bytes())[..16]
        )
    }
}

fn share_index(number: u32) -> usize {
    number as usize - 1
}

impl KeySet {
    /// Decodes a public key set (its commitment coefficients, as [`KeySet::to_bytes`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.is_empty() || !bytes.len().is_multiple_of(48) || bytes.len() / 48 > MAX_HOLDERS {
            return Err(CustodyError::BadKeySet(format!(
                "{} bytes is not 1 to {MAX_HOLDERS} G1 points of 48 bytes",
                bytes.len()
            )));
        }
        let public = PublicKeySet::from_bytes(bytes.to_vec())
            .map_err(|e| CustodyError::BadKeySet(e.to_string()))?;
        Ok(KeySet { public })
    }

    /// The encoding stored in genesis and state.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.public.to_bytes()
    }

    /// Shares needed to open an envelope (`t`).
    pub fn threshold(&self) -> usize {
        self.public.threshold() + 1
    }

    /// Encrypts a data key to the key set.
    pub fn encrypt_key(&self, key: &[u8; DATA_KEY_LEN]) -> Vec<u8> {
        self.public.public_key().encrypt(key).to_bytes()
    }

    /// [`KeySet::encrypt_key`] with its randomness drawn from `seed`: the same key and
    /// seed give the same envelope. Only for tests that pin bytes (the scenario golden
    /// test); never seal two keys with one seed.
    pub fn encrypt_key_seeded(&self, key: &[u8; DATA_KEY_LEN], seed: [u8; 32]) -> Vec<u8> {
        self.public
            .public_key()
            .encrypt_with_rng(&mut seeded(seed), key)
            .to_bytes()
    }

    /// The public key of share `number` (what a holder's secret share must match).
    pub fn public_key_share(&self, number: u32) -> [u8; 48] {
        self.public
            .public_key_share(share_index(number.max(1)))
            .to_bytes()
    }

    /// Checks decryption share `bytes` claimed to be share `number` of `envelope`.
    pub fn verify_share(
        &self,
        number: u32,
        bytes: &[u8],
        envelope: &Envelope,
    ) -> Result<VerifiedShare> {
        let bad = |reason: &str| CustodyError::BadShare {
            number,
            reason: reason.to_string(),
        };
        if number == 0 || number as usize > MAX_HOLDERS {
            return Err(bad("has no valid number (1 to 64)"));
        }
        let raw: [u8; SHARE_LEN] = bytes
            .try_into()
            .map_err(|_| bad(&format!("is {} bytes, not {SHARE_LEN}", bytes.len())))?;
        let share = DecryptionShare::from_bytes(raw).map_err(|_| bad("is not a G1 point"))?;
        if !self
            .public
            .public_key_share(share_index(number))
            .verify_decryption_share(&share, &envelope.0)
        {
            return Err(bad(
                "does not verify against the custody key set (tampered, or made for another envelope)",
            ));
        }
        Ok(VerifiedShare { number, share })
    }

    /// Combines `threshold` verified shares into the data key. More shares are fine; the
    /// first `threshold` distinct numbers are used.
    pub fn combine(
        &self,
        shares: &[VerifiedShare],
        envelope: &Envelope,
    ) -> Result<[u8; DATA_KEY_LEN]> {
        let mut seen = BTreeSet::new();
        let distinct: Vec<(usize, &DecryptionShare)> = shares
            .iter()
            .filter(|s| seen.insert(s.number))
            .map(|s| (share_index(s.number), &s.share))
            .take(self.threshold())
            .collect();
        if distinct.len() < self.threshold() {
            return Err(CustodyError::NotEnoughShares {
                have: distinct.len(),
                need: self.threshold(),
            });
        }
        let mut key = self
            .public
            .decrypt(distinct, &envelope.0)
            .map_err(|e| CustodyError::BadEnvelope(e.to_string()))?;
        let out: [u8; DATA_KEY_LEN] = key
            .as_slice()
            .try_into()
            .map_err(|_| CustodyError::BadEnvelope("does not hold a 16-byte key".into()))?;
        key.zeroize();
        Ok(out)
    }
}

/// A checked key envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope(Ciphertext);

impl Envelope {
    /// Decodes an envelope and runs its validity check (a pairing equation; about a
    /// millisecond). An envelope that passes is one no one can maul into another
    /// envelope of the same key without knowing the key.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != ENVELOPE_LEN {
            return Err(CustodyError::BadEnvelope(format!(
                "{} bytes, expected {ENVELOPE_LEN} (a 16-byte key encrypted to the custody key set)",
                bytes.len()
            )));
        }
        // Compressed points carry an infinity flag (0x40 in the first byte): an envelope
        // whose U or W is the identity would open for anyone.
        if bytes[0] & 0x40 != 0 || bytes[48] & 0x40 != 0 {
            return Err(CustodyError::BadEnvelope(
                "its points are the identity (anyone could open it)".into(),
            ));
        }
        let ct = Ciphertext::from_bytes(bytes)
            .map_err(|e| CustodyError::BadEnvelope(format!("does not decode: {e}")))?;
        if !ct.verify() {
            return Err(CustodyError::BadEnvelope(
                "fails its validity check (corrupted or forged)".into(),
            ));
        }
        Ok(Envelope(ct))
    }

    /// Decodes an envelope that this node's admission already checked with [`Envelope::parse`]
    /// (a certificate read back from committed state), without the pairing check again:
    /// a validator computes a share per read, and the check would cost it three times the
    /// share. Malformed bytes are still an error.
    pub fn from_committed(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != ENVELOPE_LEN {
            return Err(CustodyError::BadEnvelope(format!(
                "{} bytes, expected {ENVELOPE_LEN}",
                bytes.len()
            )));
        }
        Ciphertext::from_bytes(bytes)
            .map(Envelope)
            .map_err(|e| CustodyError::BadEnvelope(format!("does not decode: {e}")))
    }

    /// The envelope's random point U: unique per encryption, so a certificate that
    /// reuses another's envelope is recognised by it.
    pub fn tag(bytes: &[u8]) -> &[u8] {
        &bytes[..bytes.len().min(48)]
    }
}

/// A decryption share that verified against the key set.
#[derive(Debug, Clone)]
pub struct VerifiedShare {
    number: u32,
    share: DecryptionShare,
}

impl VerifiedShare {
    /// Its share number.
    pub fn number(&self) -> u32 {
        self.number
    }
}

/// One validator's secret key share. Its `Debug` shows the number only.
#[derive(Clone)]
pub struct SecretShare {
    number: u32,
    inner: SecretKeyShare,
}

impl std::fmt::Debug for SecretShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretShare({})", self.number)
    }
}

impl SecretShare {
    /// Decodes share `number` from its 32-byte scalar.
    pub fn from_bytes(number: u32, bytes: &[u8]) -> Result<Self> {
        if number == 0 || number as usize > MAX_HOLDERS {
            return Err(CustodyError::BadSecret(format!(
                "share number {number} is not 1 to {MAX_HOLDERS}"
            )));
        }
        let mut raw: [u8; SECRET_LEN] = bytes.try_into().map_err(|_| {
            CustodyError::BadSecret(format!("{} bytes, not {SECRET_LEN}", bytes.len()))
        })?;
        let inner = SecretKeyShare::from_bytes(raw);
        raw.zeroize();
        Ok(SecretShare {
            number,
            inner: inner.map_err(|e| CustodyError::BadSecret(e.to_string()))?,
        })
    }

    /// The 32-byte scalar (secret: zeroize it after use).
    pub fn to_bytes(&self) -> [u8; SECRET_LEN] {
        self.inner.to_bytes()
    }

    /// Its share number (1-based).
    pub fn number(&self) -> u32 {
        self.number
    }

    /// Its public key share, to compare with [`KeySet::public_key_share`].
    pub fn public_key_share(&self) -> [u8; 48] {
        self.inner.public_key_share().to_bytes()
    }

    /// This holder's decryption share of a checked envelope.
    pub fn decryption_share(&self, envelope: &Envelope) -> [u8; SHARE_LEN] {
        self.inner.decrypt_share_no_verify(&envelope.0).to_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_envelopes_decode_without_the_check_and_give_the_same_shares() {
        let (set, shares) = deal(3, 2).unwrap();
        let bytes = set.encrypt_key(b"0123456789abcdef");
        let checked = Envelope::parse(&bytes).unwrap();
        let committed = Envelope::from_committed(&bytes).unwrap();
        assert_eq!(
            shares[0].decryption_share(&checked),
            shares[0].decryption_share(&committed)
        );
        assert!(Envelope::from_committed(&bytes[..100]).is_err());
        assert!(Envelope::from_committed(&[0xff; ENVELOPE_LEN]).is_err());
    }

    #[test]
    fn threshold_of_shares_opens_and_fewer_do_not() {
        let (set, shares) = deal(4, 3).unwrap();
        assert_eq!(set.threshold(), 3);
        let key = *b"0123456789abcdef";
        let bytes = set.encrypt_key(&key);
        assert_eq!(bytes.len(), ENVELOPE_LEN);
        let env = Envelope::parse(&bytes).unwrap();
        let verified: Vec<VerifiedShare> = shares
            .iter()
            .map(|s| {
                set.verify_share(s.number(), &s.decryption_share(&env), &env)
                    .unwrap()
            })
            .collect();
        // Any three open it.
        for skip in 0..4 {
            let three: Vec<_> = verified
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != skip)
                .map(|(_, s)| s.clone())
                .collect();
            assert_eq!(set.combine(&three, &env).unwrap(), key);
        }
        // Two, or the same share three times, do not.
        assert_eq!(
            set.combine(&verified[..2], &env).unwrap_err(),
            CustodyError::NotEnoughShares { have: 2, need: 3 }
        );
        let same = vec![verified[0].clone(); 3];
        assert!(matches!(
            set.combine(&same, &env),
            Err(CustodyError::NotEnoughShares { have: 1, .. })
        ));
    }

    #[test]
    fn bad_shares_are_named() {
        let (set, shares) = deal(3, 2).unwrap();
        let env = Envelope::parse(&set.encrypt_key(&[1; 16])).unwrap();
        let other = Envelope::parse(&set.encrypt_key(&[1; 16])).unwrap();
        let good = shares[0].decryption_share(&env);
        // Share 1's value claimed as share 2.
        assert!(matches!(
            set.verify_share(2, &good, &env),
            Err(CustodyError::BadShare { number: 2, .. })
        ));
        // A share of another envelope.
        let stale = shares[0].decryption_share(&other);
        assert!(set.verify_share(1, &stale, &env).is_err());
        // A share from another key set.
        let (_, foreign) = deal(3, 2).unwrap();
        assert!(
            set.verify_share(1, &foreign[0].decryption_share(&env), &env)
                .is_err()
        );
        // Flipped bits, wrong length.
        let mut flipped = good;
        flipped[20] ^= 1;
        assert!(set.verify_share(1, &flipped, &env).is_err());
        assert!(set.verify_share(1, &good[..47], &env).is_err());
        assert!(set.verify_share(0, &good, &env).is_err());
        assert!(set.verify_share(1, &good, &env).is_ok());
    }

    #[test]
    fn envelopes_are_checked() {
        let (set, _) = deal(1, 1).unwrap();
        let bytes = set.encrypt_key(&[9; 16]);
        assert!(Envelope::parse(&bytes).is_ok());
        for i in [0, 60, 150, 159] {
            let mut b = bytes.clone();
            b[i] ^= 0x40;
            assert!(Envelope::parse(&b).is_err(), "byte {i}");
        }
        assert!(Envelope::parse(&bytes[..159]).is_err());
        assert!(Envelope::parse(&[0; ENVELOPE_LEN]).is_err());
        let mut identity = [0u8; ENVELOPE_LEN];
        identity[0] = 0xc0;
        identity[48] = 0xc0;
        assert!(Envelope::parse(&identity).is_err());
        assert_eq!(Envelope::tag(&bytes), &bytes[..48]);
    }

    #[test]
    fn encodings_roundtrip() {
        let (set, shares) = deal(4, 3).unwrap();
        let back = KeySet::from_bytes(&set.to_bytes()).unwrap();
        assert_eq!(back, set);
        assert_eq!(set.to_bytes().len(), 3 * 48);
        let s = SecretShare::from_bytes(2, &shares[1].to_bytes()).unwrap();
        assert_eq!(s.public_key_share(), set.public_key_share(2));
        assert_ne!(s.public_key_share(), set.public_key_share(3));
        assert!(KeySet::from_bytes(&[0; 47]).is_err());
        assert!(KeySet::from_bytes(&[]).is_err());
        assert!(SecretShare::from_bytes(0, &shares[0].to_bytes()).is_err());
        assert!(SecretShare::from_bytes(1, &[0xff; 32]).is_err());
        assert!(deal(3, 4).is_err());
        assert!(deal(3, 0).is_err());
        let (one, only) = deal(1, 1).unwrap();
        let env = Envelope::parse(&one.encrypt_key(&[5; 16])).unwrap();
        let v = one
            .verify_share(1, &only[0].decryption_share(&env), &env)
            .unwrap();
        assert_eq!(one.combine(&[v], &env).unwrap(), [5; 16]);
        assert_eq!(format!("{:?}", only[0]), "SecretShare(1)");
    }

    #[test]
    fn seeded_dealing_and_envelopes_are_reproducible() {
        let (set, shares) = deal_seeded(3, 2, [4; 32]).unwrap();
        let (again, shares_again) = deal_seeded(3, 2, [4; 32]).unwrap();
        assert_eq!(set, again);
        assert_eq!(shares[2].to_bytes(), shares_again[2].to_bytes());
        assert_ne!(set, deal_seeded(3, 2, [5; 32]).unwrap().0);
        let bytes = set.encrypt_key_seeded(&[6; 16], [7; 32]);
        assert_eq!(bytes, set.encrypt_key_seeded(&[6; 16], [7; 32]));
        assert_ne!(bytes, set.encrypt_key_seeded(&[6; 16], [8; 32]));
        let env = Envelope::parse(&bytes).unwrap();
        let verified: Vec<_> = shares[..2]
            .iter()
            .map(|s| {
                set.verify_share(s.number(), &s.decryption_share(&env), &env)
                    .unwrap()
            })
            .collect();
        assert_eq!(set.combine(&verified, &env).unwrap(), [6; 16]);
    }
}
