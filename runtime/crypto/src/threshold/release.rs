//! A released decryption share and its proof, and the batch check execution runs
//! (`docs/design/custody.md`).

use ::sm2::elliptic_curve::Group;
use ::sm2::elliptic_curve::PrimeField;
use ::sm2::elliptic_curve::ops::LinearCombination;
use ::sm2::{AffinePoint, ProjectivePoint, Scalar};
use zeroize::Zeroize;

use super::{
    DecryptionShare, Envelope, MAX_HOLDERS, bad, challenge, encode, hash_to_scalar, point, scalar,
};
use crate::error::Result;

/// Bytes of an encoded [`ReleasedShare`]: holder index (4), `E1` and `E2`, the proof's
/// commitments `A1`, `A2`, `A3` (uncompressed, 65 each) and its two responses (32 each).
pub const RELEASE_LEN: usize = 4 + 5 * 65 + 2 * 32;

/// Domain of a release proof's challenge.
const RELEASE_DOMAIN: &[u8] = b"govchain/threshold-sm2/release/v2";
/// Domain of the weights of a batch check of release proofs.
const BATCH_DOMAIN: &[u8] = b"govchain/threshold-sm2/release-batch/v1";

/// One holder's decryption share `D_i = d_i·C1`, encrypted to a recipient's key `Q`
/// (`E1 = k·G`, `E2 = D_i + k·Q`), with a proof of knowledge of `(d_i, k)` such that
/// `P_i = d_i·G`, `E1 = k·G` and `E2 = d_i·C1 + k·Q` (a Fiat–Shamir sigma protocol for
/// a linear relation, SM3 as the random oracle), in commitment form (`A1`, `A2`, `A3`,
/// `z1`, `z2`) so that many are checked in one multi-scalar multiplication
/// ([`verify_releases`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleasedShare {
    pub(super) index: u32,
    pub(super) e1: AffinePoint,
    pub(super) e2: AffinePoint,
    pub(super) a1: AffinePoint,
    pub(super) a2: AffinePoint,
    pub(super) a3: AffinePoint,
    pub(super) z1: Scalar,
    pub(super) z2: Scalar,
}

/// One release to check: the share, and the public share, envelope, recipient (SEC1)
/// and context it must have been made for.
#[derive(Debug, Clone, Copy)]
pub struct ReleaseCheck<'a> {
    /// The released share.
    pub share: &'a ReleasedShare,
    /// Its holder's public key share `d_i·G` (SEC1).
    pub public: &'a [u8],
    /// The envelope it is a share of.
    pub envelope: &'a Envelope,
    /// The recipient's key (SEC1).
    pub recipient: &'a [u8],
    /// What the release answers (chain and request).
    pub context: &'a [u8],
}

/// Checks many release proofs at once. With weights `ρ` derived from every share in the
/// batch (so no prover can choose its share knowing them), the three equations of each,
/// `z1·G = A1 + e·P_i`, `z2·G = A2 + e·E1`, `z1·C1 + z2·Q = A3 + e·E2`, are summed into
/// one multi-scalar multiplication that must give the identity: all hold, or a false one
/// makes the sum fail except with probability about 2⁻²⁵⁶. The batch does not say which
/// failed (check them one by one to name it). A point shared by several releases (a
/// holder's public share, a recipient, an envelope) counts once.
///
/// # Errors
/// [`crate::CryptoError::Threshold`] if a key is not a point or the batch fails.
pub fn verify_releases(checks: &[ReleaseCheck<'_>]) -> Result<()> {
    let mut stated = Vec::with_capacity(checks.len());
    for c in checks {
        let public = point(c.public, "the holder's public share")?;
        let q = point(c.recipient, "the recipient's key")?;
        let e = c.share.challenge(&public, &c.envelope.c1, &q, c.context);
        stated.push((c.share, public, q, c.envelope.c1, e));
    }
    // The weights' seed binds every challenge (hence every statement and commitment) and
    // every response of the batch.
    let mut seed = Vec::with_capacity(BATCH_DOMAIN.len() + 96 * stated.len());
    seed.extend_from_slice(BATCH_DOMAIN);
    for (s, _, _, _, e) in &stated {
        for x in [e, &s.z1, &s.z2] {
            seed.extend_from_slice(&x.to_repr());
        }
    }
    let seed = crate::sm3(&seed);
    let mut shared: std::collections::BTreeMap<[u8; 65], (AffinePoint, Scalar)> =
        std::collections::BTreeMap::new();
    let mut terms: Vec<(ProjectivePoint, Scalar)> = Vec::with_capacity(5 * stated.len() + 4);
    let mut g = Scalar::ZERO;
    for (n, (s, public, q, c1, e)) in stated.iter().enumerate() {
        let n = (n as u64).to_be_bytes();
        let weight = |eq: u8| hash_to_scalar(&[&seed, &n, &[eq]]);
        let (r1, r2, r3) = (weight(1), weight(2), weight(3));
        g += r1 * s.z1 + r2 * s.z2;
        for (p, k) in [(public, -(r1 * e)), (q, r3 * s.z2), (c1, r3 * s.z1)] {
            shared.entry(encode(p)).or_insert((*p, Scalar::ZERO)).1 += k;
        }
        terms.extend([
            (s.a1.into(), -r1),
            (s.e1.into(), -(r2 * e)),
            (s.a2.into(), -r2),
            (s.e2.into(), -(r3 * e)),
            (s.a3.into(), -r3),
        ]);
    }
    terms.push((ProjectivePoint::generator(), g));
    terms.extend(
        shared
            .into_values()
            .map(|(p, k)| (ProjectivePoint::from(p), k)),
    );
    if bool::from(ProjectivePoint::lincomb_vartime(terms.as_slice()).is_identity()) {
        Ok(())
    } else {
        Err(bad(
            "a released share does not match its public share, envelope, recipient and request",
        ))
    }
}

impl ReleasedShare {
    /// The holder index.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// [`RELEASE_LEN`] bytes: index, `E1`, `E2`, `A1`, `A2`, `A3`, `z1`, `z2`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(RELEASE_LEN);
        out.extend_from_slice(&self.index.to_be_bytes());
        for p in [&self.e1, &self.e2, &self.a1, &self.a2, &self.a3] {
            out.extend_from_slice(&encode(p));
        }
        out.extend_from_slice(&self.z1.to_repr());
        out.extend_from_slice(&self.z2.to_repr());
        out
    }

    /// Decodes [`ReleasedShare::to_bytes`] (the proof is checked by
    /// [`ReleasedShare::verify`] or [`verify_releases`]).
    ///
    /// # Errors
    /// [`crate::CryptoError::Threshold`] naming the malformed part.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != RELEASE_LEN {
            return Err(bad(format!(
                "a released share is {RELEASE_LEN} bytes, not {}",
                bytes.len()
            )));
        }
        let index = u32::from_be_bytes(bytes[..4].try_into().expect("4 bytes"));
        if index == 0 || index > MAX_HOLDERS {
            return Err(bad(format!(
                "holder index {index} is not 1..={MAX_HOLDERS}"
            )));
        }
        let at = |n: usize, what: &str| point(&bytes[4 + 65 * n..4 + 65 * (n + 1)], what);
        Ok(ReleasedShare {
            index,
            e1: at(0, "the share's E1")?,
            e2: at(1, "the share's E2")?,
            a1: at(2, "the proof's A1")?,
            a2: at(3, "the proof's A2")?,
            a3: at(4, "the proof's A3")?,
            z1: scalar(&bytes[329..361], "the proof's first response")?,
            z2: scalar(&bytes[361..], "the proof's second response")?,
        })
    }

    /// The proof's challenge, `SM3(domain ‖ i ‖ P_i ‖ C1 ‖ Q ‖ E1 ‖ E2 ‖ A1 ‖ A2 ‖ A3 ‖
    /// context)` reduced.
    pub(super) fn challenge(
        &self,
        public: &AffinePoint,
        c1: &AffinePoint,
        q: &AffinePoint,
        context: &[u8],
    ) -> Scalar {
        let points = [
            public, c1, q, &self.e1, &self.e2, &self.a1, &self.a2, &self.a3,
        ];
        challenge(RELEASE_DOMAIN, self.index, &points, context)
    }

    /// Checks the proof: this is the encryption to `recipient` (SEC1) of `d_i·C1` for
    /// the `d_i` behind `public` (`d_i·G`, SEC1), given for `envelope` under `context`.
    ///
    /// # Errors
    /// [`crate::CryptoError::Threshold`] if a key is not a point or the proof fails.
    pub fn verify(
        &self,
        public: &[u8],
        envelope: &Envelope,
        recipient: &[u8],
        context: &[u8],
    ) -> Result<()> {
        let check = ReleaseCheck {
            share: self,
            public,
            envelope,
            recipient,
            context,
        };
        verify_releases(&[check]).map_err(|_| {
            bad(format!(
                "holder {}'s released share does not match its public share, this envelope, recipient and request",
                self.index
            ))
        })
    }

    /// The decryption share inside, with the recipient's key: `D_i = E2 − q·E1`.
    pub fn decrypt(&self, recipient: &crate::PrivateKey) -> DecryptionShare {
        let mut q = recipient.scalar();
        let point =
            (ProjectivePoint::from(self.e2) - ProjectivePoint::from(self.e1) * q).to_affine();
        q.zeroize();
        DecryptionShare {
            index: self.index,
            point,
        }
    }
}
