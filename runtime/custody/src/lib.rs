//! Threshold custody of certificate data keys in national cryptography
//! (`docs/design/custody.md`).
//!
//! A certificate's document is SM4-GCM encrypted under a fresh 16-byte data key; the
//! data key is SM2-encrypted to the validators' custody public key (a key *envelope*, a
//! standard GM/T 0009 `SM2Cipher`), with the publisher's proof that it knows the
//! envelope's ephemeral scalar. No single validator can open an envelope: each holds one
//! Shamir share of the custody key and, for an approved request, *releases* its
//! decryption share encrypted to the recipient with a proof anyone checks; any `t`
//! released shares open the envelope for their recipient, `t − 1` do not.
//!
//! The arithmetic is `govchain_crypto::threshold` (threshold SM2 on the `sm2` crate);
//! this crate gives it govchain's numbering (share *numbers* 1..=n, one per validator),
//! the key set's encoding in genesis and state, the contexts proofs are bound to, and
//! errors that name what is wrong.
//!
//! ```
//! use govchain_crypto::PrivateKey;
//! use govchain_custody::{deal, release_context, Envelope};
//!
//! let (set, shares) = deal(4, 3).unwrap();
//! let (bytes, proof) = set.seal_key(&[7; 16], b"cert context", &[1; 32]).unwrap();
//! let envelope = Envelope::parse(&bytes).unwrap();
//! envelope.verify_proof(&proof, b"cert context").unwrap();
//! let bank = PrivateKey::generate();
//! let to = bank.public_key().to_sec1();
//! let ctx = release_context("chain", 9);
//! let opened: Vec<_> = shares[1..]
//!     .iter()
//!     .map(|s| {
//!         let released = s.release(&envelope, &to, &ctx, &[2; 32]).unwrap();
//!         set.verify_share(s.number(), &released, &envelope, &to, &ctx).unwrap().open(&bank)
//!     })
//!     .collect();
//! assert_eq!(set.combine(&opened, &envelope).unwrap(), [7; 16]);
//! assert!(set.combine(&opened[..2], &envelope).is_err());
//! ```

use govchain_crypto::PrivateKey;
use govchain_crypto::threshold::{self, DecryptionShare, ReleasedShare, dkg};
use zeroize::Zeroize;

pub mod keygen;

/// Length of a data key (SM4).
pub const DATA_KEY_LEN: usize = 16;
/// Longest key envelope: the DER `SM2Cipher` of a 16-byte key is 107 to 109 bytes.
pub const MAX_ENVELOPE_LEN: usize = 128;
/// Length of the publisher's proof of knowledge beside an envelope.
pub const ENVELOPE_PROOF_LEN: usize = threshold::ENVELOPE_PROOF_LEN;
/// Length of a released share (encrypted to its recipient, with its proof).
pub const SHARE_LEN: usize = threshold::RELEASE_LEN;
/// Length of a secret key share (an SM2 scalar, big endian).
pub const SECRET_LEN: usize = 32;
/// Length of a point of the key set (SEC1 uncompressed).
pub const POINT_LEN: usize = 65;
/// Most share holders a key set may have.
pub const MAX_HOLDERS: usize = 64;

/// What went wrong, naming the part at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CustodyError {
    /// The public key set does not decode.
    #[error("bad custody key set: {0}")]
    BadKeySet(String),
    /// A key envelope is malformed or its proof fails.
    #[error("bad key envelope: {0}")]
    BadEnvelope(String),
    /// A released share is malformed or does not verify for its number.
    #[error("key share {number} {reason}")]
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
    /// A dealing, complaint answer or sub-share of key generation is malformed or does
    /// not match its dealer's commitments.
    #[error("bad key generation dealing: {0}")]
    BadDeal(String),
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

/// What an envelope's proof is bound to: the chain and the certificate it backs, so an
/// envelope copied into another certificate (or chain) fails its proof.
pub fn envelope_context(chain_id: &str, cert_id: &str) -> Vec<u8> {
    context(b"govchain-envelope-v1\0", chain_id, cert_id.as_bytes())
}

/// What a released share's proof is bound to: the chain and the access request it
/// answers, so a share released for one request cannot be replayed for another.
pub fn release_context(chain_id: &str, request: u64) -> Vec<u8> {
    context(b"govchain-release-v1\0", chain_id, &request.to_be_bytes())
}

fn context(tag: &[u8], chain_id: &str, what: &[u8]) -> Vec<u8> {
    let mut out = tag.to_vec();
    out.extend_from_slice(&(chain_id.len() as u32).to_be_bytes());
    out.extend_from_slice(chain_id.as_bytes());
    out.extend_from_slice(what);
    out
}

/// Deals a fresh key set: `holders` secret shares, any `threshold` of which open an
/// envelope. One party (the dealer, whoever runs this) knows every share while it runs:
/// for tests and fixtures only; a network's key comes from its validators' key
/// generation ([`keygen`]).
pub fn deal(holders: usize, threshold: usize) -> Result<(KeySet, Vec<SecretShare>)> {
    check_parameters(holders, threshold)?;
    let dealing = dkg::Dealing::random(threshold as u32)
        .map_err(|e| CustodyError::BadSecret(e.to_string()))?;
    let shares = (1..=holders as u32)
        .map(|number| {
            dealing
                .sub_share(number)
                .and_then(|s| dkg::share_from(number, &[&s[..]]))
                .map(SecretShare)
                .map_err(|e| CustodyError::BadSecret(e.to_string()))
        })
        .collect::<Result<_>>()?;
    // `Dealing` zeroizes its polynomial when dropped here.
    Ok((KeySet::new(dealing.commitments().clone()), shares))
}

fn check_parameters(holders: usize, threshold: usize) -> Result<()> {
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
    Ok(())
}

/// The validators' public key set: the Feldman commitments of the custody key's sharing
/// polynomial. Its first point is the custody public key; share `i`'s public key is the
/// polynomial's commitment evaluated at `i`.
#[derive(Clone, PartialEq, Eq)]
pub struct KeySet {
    commitments: dkg::Commitments,
    public_key: [u8; POINT_LEN],
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "KeySet({} of n, {})",
            self.threshold(),
            &hex::encode(&self.public_key[1..])[..16]
        )
    }
}

impl KeySet {
    fn new(commitments: dkg::Commitments) -> Self {
        let public_key = commitments.constant();
        KeySet {
            commitments,
            public_key,
        }
    }

    /// Decodes a key set: `threshold` SEC1 uncompressed points, lowest degree first (as
    /// [`KeySet::to_bytes`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.is_empty()
            || !bytes.len().is_multiple_of(POINT_LEN)
            || bytes.len() / POINT_LEN > MAX_HOLDERS
        {
            return Err(CustodyError::BadKeySet(format!(
                "{} bytes is not 1 to {MAX_HOLDERS} SM2 points of {POINT_LEN} bytes",
                bytes.len()
            )));
        }
        let points: Vec<Vec<u8>> = bytes.chunks(POINT_LEN).map(<[u8]>::to_vec).collect();
        dkg::Commitments::parse(&points)
            .map(KeySet::new)
            .map_err(|e| CustodyError::BadKeySet(e.to_string()))
    }

    /// The encoding stored in genesis and state.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.commitments.to_bytes().concat()
    }

    /// Shares needed to open an envelope (`t`).
    pub fn threshold(&self) -> usize {
        self.commitments.threshold()
    }

    /// The custody public key `P` (SEC1 uncompressed): envelopes are SM2 ciphertexts to it.
    pub fn public_key(&self) -> [u8; POINT_LEN] {
        self.public_key
    }

    /// Encrypts a data key to the custody public key, with the proof of knowledge bound
    /// to `context` ([`envelope_context`]). `seed` is fresh randomness (the operating
    /// system's in every product path).
    pub fn seal_key(
        &self,
        key: &[u8; DATA_KEY_LEN],
        context: &[u8],
        seed: &[u8; 32],
    ) -> Result<(Vec<u8>, [u8; ENVELOPE_PROOF_LEN])> {
        threshold::Envelope::seal(&self.public_key, key, context, seed)
            .map_err(|e| CustodyError::BadEnvelope(e.to_string()))
    }

    /// The public key of share `number` (what a holder's secret share must match, and
    /// what its releases are checked against).
    pub fn public_key_share(&self, number: u32) -> Result<[u8; POINT_LEN]> {
        dkg::public_share(&[&self.commitments], number).map_err(|e| CustodyError::BadShare {
            number,
            reason: e.to_string(),
        })
    }

    /// Checks released share `bytes`, claimed to be share `number` of `envelope`, made
    /// for `recipient` (SEC1) under `context` ([`release_context`]).
    pub fn verify_share(
        &self,
        number: u32,
        bytes: &[u8],
        envelope: &Envelope,
        recipient: &[u8],
        context: &[u8],
    ) -> Result<VerifiedShare> {
        verify_share(
            &self.public_key_share(number)?,
            number,
            bytes,
            envelope,
            recipient,
            context,
        )
    }

    /// Combines `threshold` opened shares into the data key. More shares are fine; the
    /// first `threshold` distinct numbers are used.
    pub fn combine(
        &self,
        shares: &[DecryptionShare],
        envelope: &Envelope,
    ) -> Result<[u8; DATA_KEY_LEN]> {
        let mut numbers: Vec<u32> = shares.iter().map(DecryptionShare::index).collect();
        numbers.sort_unstable();
        numbers.dedup();
        if numbers.len() < self.threshold() {
            return Err(CustodyError::NotEnoughShares {
                have: numbers.len(),
                need: self.threshold(),
            });
        }
        let mut key = threshold::open(&envelope.0, shares, self.threshold()).map_err(|_| {
            CustodyError::BadEnvelope(
                "the shares do not open it (made for another key set, or tampered)".into(),
            )
        })?;
        let out: std::result::Result<[u8; DATA_KEY_LEN], _> = key.as_slice().try_into();
        key.zeroize();
        out.map_err(|_| CustodyError::BadEnvelope("does not hold a 16-byte key".into()))
    }
}

/// Checks released share `bytes` against the public key share `public` (SEC1) of
/// share `number`: what execution runs, with the public shares it keeps in state.
pub fn verify_share(
    public: &[u8],
    number: u32,
    bytes: &[u8],
    envelope: &Envelope,
    recipient: &[u8],
    context: &[u8],
) -> Result<VerifiedShare> {
    let bad = |reason: String| CustodyError::BadShare { number, reason };
    let share = ReleasedShare::from_bytes(bytes).map_err(|e| bad(e.to_string()))?;
    if share.index() != number {
        return Err(bad(format!("is marked as share {}", share.index())));
    }
    share
        .verify(public, &envelope.0, recipient, context)
        .map_err(|e| bad(format!("fails its proof: {e}")))?;
    Ok(VerifiedShare(share))
}

/// One released share to check, as execution holds it: share `number`'s bytes, its
/// public key share (SEC1), the envelope, the recipient (SEC1) and the context
/// ([`release_context`]) it must have been made for.
#[derive(Debug, Clone, Copy)]
pub struct ShareCheck<'a> {
    /// The public key share of share `number`.
    pub public: &'a [u8],
    /// The share number it claims.
    pub number: u32,
    /// The released share's bytes.
    pub bytes: &'a [u8],
    /// The envelope it is a share of.
    pub envelope: &'a Envelope,
    /// The recipient's key.
    pub recipient: &'a [u8],
    /// The release's context.
    pub context: &'a [u8],
}

/// Checks many released shares at once (one multi-scalar multiplication,
/// `threshold::verify_releases`); if the batch fails, checks them one by one to name the
/// first bad one: its position in `checks` and why.
pub fn verify_shares(checks: &[ShareCheck<'_>]) -> std::result::Result<(), (usize, CustodyError)> {
    let mut decoded = Vec::with_capacity(checks.len());
    for (i, c) in checks.iter().enumerate() {
        let bad = |reason: String| {
            (
                i,
                CustodyError::BadShare {
                    number: c.number,
                    reason,
                },
            )
        };
        let share = ReleasedShare::from_bytes(c.bytes).map_err(|e| bad(e.to_string()))?;
        if share.index() != c.number {
            return Err(bad(format!("is marked as share {}", share.index())));
        }
        decoded.push(share);
    }
    let batch: Vec<threshold::ReleaseCheck<'_>> = checks
        .iter()
        .zip(&decoded)
        .map(|(c, share)| threshold::ReleaseCheck {
            share,
            public: c.public,
            envelope: &c.envelope.0,
            recipient: c.recipient,
            context: c.context,
        })
        .collect();
    if threshold::verify_releases(&batch).is_ok() {
        return Ok(());
    }
    for (i, c) in checks.iter().enumerate() {
        verify_share(
            c.public,
            c.number,
            c.bytes,
            c.envelope,
            c.recipient,
            c.context,
        )
        .map_err(|e| (i, e))?;
    }
    Err((
        0,
        CustodyError::BadShare {
            number: checks.first().map_or(0, |c| c.number),
            reason: "the batch of shares fails its check".into(),
        },
    ))
}

/// A checked key envelope.
#[derive(Debug, Clone)]
pub struct Envelope(threshold::Envelope);

impl Envelope {
    /// Decodes an envelope: a DER SM2 ciphertext of a 16-byte key whose C1 is a curve
    /// point. Its proof is checked by [`Envelope::verify_proof`].
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_ENVELOPE_LEN {
            return Err(CustodyError::BadEnvelope(format!(
                "{} bytes, at most {MAX_ENVELOPE_LEN} (a 16-byte key SM2-encrypted to the custody key)",
                bytes.len()
            )));
        }
        let envelope = threshold::Envelope::parse(bytes)
            .map_err(|e| CustodyError::BadEnvelope(e.to_string()))?;
        if envelope.message_len() != DATA_KEY_LEN {
            return Err(CustodyError::BadEnvelope(format!(
                "encrypts {} bytes, not a {DATA_KEY_LEN}-byte key",
                envelope.message_len()
            )));
        }
        Ok(Envelope(envelope))
    }

    /// Checks the publisher's proof that it made this envelope for `context`
    /// ([`envelope_context`]). Without it, a publisher could submit a multiple of
    /// another envelope's C1 and unblind the shares it obtains into that envelope's key.
    pub fn verify_proof(&self, proof: &[u8], context: &[u8]) -> Result<()> {
        self.0
            .verify_knowledge(proof, context)
            .map_err(|e| CustodyError::BadEnvelope(e.to_string()))
    }

    /// The envelope's C1: unique per encryption, so a certificate that reuses another's
    /// envelope is recognised by it.
    pub fn tag(&self) -> [u8; POINT_LEN] {
        self.0.c1()
    }
}

/// A released share whose proof verified (still encrypted to its recipient).
#[derive(Debug, Clone)]
pub struct VerifiedShare(ReleasedShare);

impl VerifiedShare {
    /// Its share number.
    pub fn number(&self) -> u32 {
        self.0.index()
    }

    /// The decryption share inside, with the recipient's key.
    pub fn open(&self, recipient: &PrivateKey) -> DecryptionShare {
        self.0.decrypt(recipient)
    }
}

/// One validator's secret key share. Its `Debug` shows the number only.
pub struct SecretShare(threshold::SecretShare);

impl std::fmt::Debug for SecretShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretShare({})", self.number())
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
        if bytes.len() != SECRET_LEN {
            return Err(CustodyError::BadSecret(format!(
                "{} bytes, not {SECRET_LEN}",
                bytes.len()
            )));
        }
        threshold::SecretShare::from_bytes(number, bytes)
            .map(SecretShare)
            .map_err(|e| CustodyError::BadSecret(e.to_string()))
    }

    /// The 32-byte scalar (secret: zeroized when the returned value drops).
    pub fn to_bytes(&self) -> zeroize::Zeroizing<[u8; SECRET_LEN]> {
        self.0.to_bytes()
    }

    /// Its share number (1-based).
    pub fn number(&self) -> u32 {
        self.0.index()
    }

    /// Its public key share, to compare with [`KeySet::public_key_share`].
    pub fn public_key_share(&self) -> [u8; POINT_LEN] {
        self.0.public()
    }

    /// This holder's released share of `envelope` for `recipient` (SEC1) under
    /// `context` ([`release_context`]): [`SHARE_LEN`] bytes. `seed` is fresh randomness.
    pub fn release(
        &self,
        envelope: &Envelope,
        recipient: &[u8],
        context: &[u8],
        seed: &[u8; 32],
    ) -> Result<Vec<u8>> {
        self.0
            .release(&envelope.0, recipient, context, seed)
            .map(|s| s.to_bytes())
            .map_err(|e| CustodyError::BadShare {
                number: self.number(),
                reason: e.to_string(),
            })
    }
}

#[cfg(test)]
mod tests;
