//! Key generation without a dealer and resharing (`docs/design/threshold-sm2.md`):
//! the arithmetic of Pedersen's DKG with Feldman commitments, and of Desmedt and
//! Jajodia's redistribution, on the SM2 group. The rounds around it (who deals, who
//! complains, who is qualified) are the chain's; everything here is checkable from
//! public data except a dealer's own polynomial and the sub-shares it sends.
//!
//! A dealer picks a polynomial `f` of degree t−1 and publishes its commitments
//! `A_k = a_k·G`; holder `i` gets `s_i = f(i)` (encrypted to it, by the caller) and
//! checks `s_i·G = Σ_k i^k·A_k`. Over the qualified dealers `Q`: the key is
//! `P = Σ_{j∈Q} A_j0`, holder `i`'s share `d_i = Σ_{j∈Q} s_ji` and its public share
//! `P_i = Σ_{j∈Q} Σ_k i^k·A_jk`. In a resharing the dealers are old holders dealing
//! their own share (`A_0` must equal their stored public share) and the new share is
//! the Lagrange combination over the old holders, so `P` does not change.

use ::sm2::elliptic_curve::{Generate, Group, PrimeField};
use ::sm2::{AffinePoint, NonZeroScalar, ProjectivePoint, Scalar};
use zeroize::{Zeroize, Zeroizing};

use super::{MAX_HOLDERS, SecretShare, bad, encode, lagrange, point, scalar, x_of};
use crate::error::Result;

/// One dealer's polynomial: its commitments are public, its sub-shares go one to each
/// holder.
pub struct Dealing {
    coefficients: Vec<Scalar>,
    commitments: Commitments,
}

impl std::fmt::Debug for Dealing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Dealing(threshold {}, …)", self.coefficients.len())
    }
}

impl Drop for Dealing {
    fn drop(&mut self) {
        self.coefficients.iter_mut().for_each(Zeroize::zeroize);
    }
}

impl Dealing {
    /// A fresh polynomial of degree `threshold − 1` (a DKG dealer's contribution).
    ///
    /// # Errors
    /// [`crate::CryptoError::Threshold`] unless 1 ≤ `threshold` ≤ [`MAX_HOLDERS`].
    pub fn random(threshold: u32) -> Result<Self> {
        check_threshold(threshold)?;
        let coefficients = (0..threshold).map(|_| *NonZeroScalar::generate()).collect();
        Ok(Self::from_coefficients(coefficients))
    }

    /// [`Dealing::random`] with its coefficients drawn from `seed` (ChaCha20): the same
    /// seed deals the same polynomial (a validator derives it from its custody key, so
    /// a restart deals the same). A seeded polynomial is as secret as its seed.
    ///
    /// # Errors
    /// As [`Dealing::random`].
    pub fn seeded(threshold: u32, seed: &[u8; 32]) -> Result<Self> {
        use ::sm2::elliptic_curve::rand_core::SeedableRng;
        check_threshold(threshold)?;
        let mut rng = chacha20::ChaCha20Rng::from_seed(*seed);
        let coefficients = (0..threshold)
            .map(|_| *NonZeroScalar::generate_from_rng(&mut rng))
            .collect();
        Ok(Self::from_coefficients(coefficients))
    }

    /// A polynomial whose constant term is `share`'s secret (a resharing dealer), its
    /// other coefficients drawn from `seed` (ChaCha20) as in [`Dealing::seeded`]: its
    /// first commitment is `share`'s public share, which a verifier checks.
    ///
    /// # Errors
    /// As [`Dealing::random`].
    pub fn reshare(share: &SecretShare, threshold: u32, seed: &[u8; 32]) -> Result<Self> {
        let mut d = Self::seeded(threshold, seed)?;
        d.coefficients[0] = share.secret;
        d.commitments.0[0] = (ProjectivePoint::generator() * share.secret).into();
        Ok(d)
    }

    fn from_coefficients(coefficients: Vec<Scalar>) -> Self {
        let points = coefficients
            .iter()
            .map(|a| (ProjectivePoint::generator() * a).into())
            .collect();
        Dealing {
            coefficients,
            commitments: Commitments(points),
        }
    }

    /// The public commitments.
    pub fn commitments(&self) -> &Commitments {
        &self.commitments
    }

    /// Holder `holder`'s sub-share `f(holder)`, 32 bytes, to be encrypted to it.
    ///
    /// # Errors
    /// [`crate::CryptoError::Threshold`] for holder 0 or above [`MAX_HOLDERS`].
    pub fn sub_share(&self, holder: u32) -> Result<Zeroizing<[u8; 32]>> {
        check_holder(holder)?;
        let x = x_of(holder);
        let mut v = self
            .coefficients
            .iter()
            .rev()
            .fold(Scalar::ZERO, |acc, c| acc * x + c);
        let out = Zeroizing::new(v.to_repr().into());
        v.zeroize();
        Ok(out)
    }
}

fn check_threshold(threshold: u32) -> Result<()> {
    if threshold == 0 || threshold > MAX_HOLDERS {
        return Err(bad(format!(
            "threshold {threshold} is not 1..={MAX_HOLDERS}"
        )));
    }
    Ok(())
}

fn check_holder(holder: u32) -> Result<()> {
    if holder == 0 || holder > MAX_HOLDERS {
        return Err(bad(format!(
            "holder index {holder} is not 1..={MAX_HOLDERS}"
        )));
    }
    Ok(())
}

/// A dealer's Feldman commitments `A_k = a_k·G`, lowest degree first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commitments(Vec<AffinePoint>);

impl Commitments {
    /// Decodes SEC1 points, one per coefficient.
    ///
    /// # Errors
    /// [`crate::CryptoError::Threshold`] for none, more than [`MAX_HOLDERS`], or a bad
    /// point (named by its position).
    pub fn parse(points: &[Vec<u8>]) -> Result<Self> {
        if points.is_empty() || points.len() > MAX_HOLDERS as usize {
            return Err(bad(format!(
                "{} commitments: 1 to {MAX_HOLDERS} expected",
                points.len()
            )));
        }
        points
            .iter()
            .enumerate()
            .map(|(k, p)| point(p, &format!("commitment {k}")))
            .collect::<Result<_>>()
            .map(Commitments)
    }

    /// SEC1 uncompressed, one per coefficient.
    pub fn to_bytes(&self) -> Vec<Vec<u8>> {
        self.0.iter().map(|p| encode(p).to_vec()).collect()
    }

    /// The threshold these commitments deal (the polynomial's degree + 1).
    pub fn threshold(&self) -> usize {
        self.0.len()
    }

    /// The first commitment `a_0·G`: the dealer's contribution to the key (in a
    /// resharing, the old holder's public share).
    pub fn constant(&self) -> [u8; 65] {
        encode(&self.0[0])
    }

    /// `f(x)·G = Σ_k x^k·A_k`.
    fn eval(&self, holder: u32) -> ProjectivePoint {
        let x = x_of(holder);
        self.0
            .iter()
            .rev()
            .fold(ProjectivePoint::IDENTITY, |acc, a| acc * x + a)
    }

    /// Checks that `sub_share` is `f(holder)` for the polynomial committed to.
    ///
    /// # Errors
    /// [`crate::CryptoError::Threshold`] if it is malformed or does not match: the
    /// holder's grounds for a complaint.
    pub fn verify_sub_share(&self, holder: u32, sub_share: &[u8]) -> Result<()> {
        check_holder(holder)?;
        let s = scalar(sub_share, "the sub-share")?;
        if ProjectivePoint::generator() * s == self.eval(holder) {
            Ok(())
        } else {
            Err(bad(format!(
                "the sub-share for holder {holder} does not match the dealer's commitments"
            )))
        }
    }
}

fn same_threshold(dealers: &[&Commitments]) -> Result<usize> {
    let t = dealers.first().map(|c| c.threshold()).unwrap_or(0);
    if t == 0 || dealers.iter().any(|c| c.threshold() != t) {
        return Err(bad("the dealers' commitments are not all of one threshold"));
    }
    Ok(t)
}

/// Key generation: the commitments of the joint polynomial `Σ_j f_j` over the qualified
/// dealers, `Σ_j A_jk` for each k: a Feldman commitment like one dealer's, whose
/// constant is the custody public key and whose value at `i` is holder `i`'s public
/// share. The chain stores it as the key set.
///
/// # Errors
/// As [`public_key`].
pub fn combine(qualified: &[&Commitments]) -> Result<Commitments> {
    let t = same_threshold(qualified)?;
    let sums: Vec<ProjectivePoint> = (0..t)
        .map(|k| {
            qualified
                .iter()
                .fold(ProjectivePoint::IDENTITY, |acc, c| acc + c.0[k])
        })
        .collect();
    nonzero(sums[0])?;
    Ok(Commitments(sums.into_iter().map(Into::into).collect()))
}

/// Key generation: the custody public key `Σ A_j0` over the qualified dealers.
///
/// # Errors
/// [`crate::CryptoError::Threshold`] for no dealers, mixed thresholds, or a sum that is
/// the identity.
pub fn public_key(qualified: &[&Commitments]) -> Result<[u8; 65]> {
    same_threshold(qualified)?;
    let p = qualified
        .iter()
        .fold(ProjectivePoint::IDENTITY, |acc, c| acc + c.0[0]);
    nonzero(p)
}

/// Key generation: holder `holder`'s public share `Σ_j f_j(holder)·G`.
///
/// # Errors
/// As [`public_key`], and for a bad holder index.
pub fn public_share(qualified: &[&Commitments], holder: u32) -> Result<[u8; 65]> {
    check_holder(holder)?;
    same_threshold(qualified)?;
    nonzero(
        qualified
            .iter()
            .fold(ProjectivePoint::IDENTITY, |acc, c| acc + c.eval(holder)),
    )
}

/// Key generation: holder `holder`'s share, the sum of the sub-shares the qualified
/// dealers sent it (each verified with [`Commitments::verify_sub_share`]).
///
/// # Errors
/// [`crate::CryptoError::Threshold`] for a malformed sub-share or a zero sum.
pub fn share_from(holder: u32, sub_shares: &[&[u8]]) -> Result<SecretShare> {
    let mut sum = Scalar::ZERO;
    for s in sub_shares {
        sum += scalar(s, "a sub-share")?;
    }
    let out = SecretShare::from_bytes(holder, &sum.to_repr());
    sum.zeroize();
    out
}

/// Resharing: the commitments of the new sharing polynomial `Σ_i λ_i·g_i` over the
/// old holders `(index, commitments)`, `Σ_i λ_i·B_ik` for each k. Its constant is the
/// key the dealings carry, equal to the stored key when each `B_i0` is the old holder's
/// public share (the chain checks that first), and its value at `j` new holder `j`'s
/// public share.
///
/// # Errors
/// [`crate::CryptoError::Threshold`] for no dealers, mixed thresholds, repeated old
/// holders, or a constant that is the identity.
pub fn reshared_commitments(old: &[(u32, &Commitments)]) -> Result<Commitments> {
    let commitments: Vec<&Commitments> = old.iter().map(|(_, c)| *c).collect();
    let t = same_threshold(&commitments)?;
    let indices = distinct(old.iter().map(|(i, _)| *i))?;
    let weights: Vec<Scalar> = indices.iter().map(|i| lagrange(*i, &indices)).collect();
    let sums: Vec<ProjectivePoint> = (0..t)
        .map(|k| {
            old.iter()
                .zip(&weights)
                .fold(ProjectivePoint::IDENTITY, |acc, ((_, c), w)| {
                    acc + ProjectivePoint::from(c.0[k]) * w
                })
        })
        .collect();
    nonzero(sums[0])?;
    Ok(Commitments(sums.into_iter().map(Into::into).collect()))
}

/// Resharing: new holder `holder`'s share `Σ λ_i·s_i` from the sub-shares the old
/// holders `(index, sub-share)` sent it.
///
/// # Errors
/// [`crate::CryptoError::Threshold`] for repeated old holders or a malformed
/// sub-share.
pub fn reshared_share(holder: u32, sub_shares: &[(u32, &[u8])]) -> Result<SecretShare> {
    let indices = distinct(sub_shares.iter().map(|(i, _)| *i))?;
    let mut sum = Scalar::ZERO;
    for (i, s) in sub_shares {
        sum += scalar(s, "a sub-share")? * lagrange(*i, &indices);
    }
    let out = SecretShare::from_bytes(holder, &sum.to_repr());
    sum.zeroize();
    out
}

fn distinct(indices: impl Iterator<Item = u32>) -> Result<Vec<u32>> {
    let all: Vec<u32> = indices.collect();
    let mut sorted = all.clone();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.len() != all.len() || sorted.first() == Some(&0) {
        return Err(bad("old holders must be distinct and numbered from 1"));
    }
    Ok(all)
}

fn nonzero(p: ProjectivePoint) -> Result<[u8; 65]> {
    if bool::from(p.is_identity()) {
        return Err(bad("the combined point is the identity"));
    }
    Ok(encode(&p.into()))
}

#[cfg(test)]
mod tests;
