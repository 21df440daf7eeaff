//! Threshold SM2 decryption (`docs/design/custody.md`, "Threshold SM2").
//!
//! The custody key `d` is Shamir-shared t-of-n over the SM2 group: holder `i` keeps
//! `d_i = f(i)` for a polynomial `f` of degree t−1 with `f(0) = d`, and everyone knows
//! its public share `P_i = d_i·G` and the custody public key `P = d·G`. A data key's
//! envelope is a standard SM2 ciphertext to `P` (GB/T 32918.4, the DER `SM2Cipher` that
//! `openssl pkeyutl -encrypt` writes), so nothing about it is ours.
//!
//! To open one, holder `i` gives its **decryption share** `D_i = d_i·C1` with a
//! Chaum–Pedersen proof that `log_G P_i = log_C1 D_i` (made non-interactive with SM3,
//! bound to a caller's context such as the request it answers). Anyone checks the proof
//! against `P_i`, so a wrong share is refused and its holder named. Any t verified shares
//! give `d·C1 = Σ λ_i·D_i` (Lagrange coefficients at 0); from that point the SM2 key
//! derivation and the C3 check run as in ordinary decryption: done by the `sm2` crate's
//! own decryption, given the combined point as C1 and the scalar 1.
//!
//! Only the `sm2`/`elliptic-curve` crates' group and field arithmetic is used; this
//! module adds the protocol around it (Shamir, Lagrange, the proof).

use ::sm2::elliptic_curve::sec1::ToSec1Point;
use ::sm2::elliptic_curve::{Generate, Group, PrimeField};
use ::sm2::pke::{Cipher, DecryptingKey, Mode};
use ::sm2::{AffinePoint, FieldBytes, NonZeroScalar, ProjectivePoint, Scalar};
use pkcs8::der::Decode;
use zeroize::Zeroize;

use crate::error::{CryptoError, Result};
use crate::hash::sm3_parts;

pub mod dkg;

/// Most holders a key is shared among.
pub const MAX_HOLDERS: u32 = 255;

/// Bytes of an encoded [`DecryptionShare`]: holder index (4), `D_i` uncompressed (65),
/// challenge (32), response (32).
pub const SHARE_LEN: usize = 4 + 65 + 32 + 32;

/// Domain separation of the proof's challenge.
const PROOF_DOMAIN: &[u8] = b"govchain/threshold-sm2/dleq/v1";

fn bad(reason: impl Into<String>) -> CryptoError {
    CryptoError::Threshold {
        reason: reason.into(),
    }
}

/// A point from its SEC1 encoding: on the curve and not the identity.
fn point(bytes: &[u8], what: &str) -> Result<AffinePoint> {
    ::sm2::PublicKey::from_sec1_bytes(bytes)
        .map(|k| *k.as_affine())
        .map_err(|_| bad(format!("{what} is not an SM2 curve point")))
}

fn encode(p: &AffinePoint) -> [u8; 65] {
    let sec1 = p.to_sec1_point(false);
    let mut out = [0u8; 65];
    out.copy_from_slice(sec1.as_bytes());
    out
}

fn scalar(bytes: &[u8], what: &str) -> Result<Scalar> {
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| bad(format!("{what} is not 32 bytes")))?;
    Option::from(Scalar::from_repr(bytes.into()))
        .ok_or_else(|| bad(format!("{what} is not below the group order")))
}

/// Holder `index` as a field element (holders count from 1; 0 is the secret).
fn x_of(index: u32) -> Scalar {
    Scalar::from(u64::from(index))
}

/// An envelope: a data key SM2-encrypted to the custody public key.
#[derive(Debug, Clone)]
pub struct Envelope {
    c1: AffinePoint,
    c3: [u8; 32],
    c2: Vec<u8>,
}

impl Envelope {
    /// Decodes the DER `SM2Cipher` (`openssl pkeyutl -encrypt`, or
    /// [`crate::PublicKey::encrypt`] to the custody key): C1 must be a curve point.
    ///
    /// # Errors
    /// [`CryptoError::Threshold`] naming what is malformed.
    pub fn parse(der: &[u8]) -> Result<Self> {
        let cipher = Cipher::<::sm2::Sm2, sm3::Sm3>::from_der(der)
            .map_err(|e| bad(format!("envelope is not a DER SM2 ciphertext: {e}")))?;
        let c1 = point(&cipher.c1().to_sec1_point(false).to_bytes(), "C1")?;
        let c3: [u8; 32] = cipher
            .c3()
            .as_slice()
            .try_into()
            .map_err(|_| bad("C3 is not an SM3 digest"))?;
        if cipher.c2().is_empty() {
            return Err(bad("the envelope encrypts nothing"));
        }
        Ok(Envelope {
            c1,
            c3,
            c2: cipher.c2().to_vec(),
        })
    }

    /// C1, the ephemeral point each holder's share multiplies.
    pub fn c1(&self) -> [u8; 65] {
        encode(&self.c1)
    }
}

/// Holder `index`'s share of the custody key.
pub struct SecretShare {
    index: u32,
    secret: Scalar,
    /// `d_i·G`, computed once.
    public: AffinePoint,
}

impl Drop for SecretShare {
    fn drop(&mut self) {
        self.secret.zeroize();
    }
}

impl std::fmt::Debug for SecretShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretShare({}, …)", self.index)
    }
}

impl SecretShare {
    /// A share from its holder index and 32-byte scalar.
    ///
    /// # Errors
    /// [`CryptoError::Threshold`] for index 0 or above [`MAX_HOLDERS`], or a scalar 0 or
    /// not below the group order.
    pub fn from_bytes(index: u32, bytes: &[u8]) -> Result<Self> {
        if index == 0 || index > MAX_HOLDERS {
            return Err(bad(format!(
                "holder index {index} is not 1..={MAX_HOLDERS}"
            )));
        }
        let secret = scalar(bytes, "the share")?;
        if bool::from(secret.is_zero()) {
            return Err(bad("the share is zero"));
        }
        Ok(SecretShare::new(index, secret))
    }

    fn new(index: u32, secret: Scalar) -> Self {
        let public = (ProjectivePoint::generator() * secret).into();
        SecretShare {
            index,
            secret,
            public,
        }
    }

    /// The scalar, 32 bytes big-endian.
    pub fn to_bytes(&self) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(self.secret.to_repr().into())
    }

    /// The holder index.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// `d_i·G`, SEC1 uncompressed.
    pub fn public(&self) -> [u8; 65] {
        encode(&self.public)
    }

    /// This holder's decryption share of `envelope`, with its proof bound to `context`
    /// (for example the chain id and the request it answers: a share given for one
    /// request cannot be passed off for another).
    pub fn decryption_share(&self, envelope: &Envelope, context: &[u8]) -> DecryptionShare {
        let c1 = ProjectivePoint::from(envelope.c1);
        let d = AffinePoint::from(c1 * self.secret);
        let r = *NonZeroScalar::generate();
        let a = AffinePoint::from(ProjectivePoint::generator() * r);
        let b = AffinePoint::from(c1 * r);
        let e = challenge(self.index, &self.public, &envelope.c1, &d, &a, &b, context);
        let z = r + e * self.secret;
        DecryptionShare {
            index: self.index,
            point: d,
            e,
            z,
        }
    }
}

/// The proof's challenge: SM3 over everything the proof speaks of, reduced mod n.
fn challenge(
    index: u32,
    public: &AffinePoint,
    c1: &AffinePoint,
    d: &AffinePoint,
    a: &AffinePoint,
    b: &AffinePoint,
    context: &[u8],
) -> Scalar {
    let len = (context.len() as u64).to_be_bytes();
    let h = sm3_parts(&[
        PROOF_DOMAIN,
        &index.to_be_bytes(),
        &encode(public),
        &encode(c1),
        &encode(d),
        &encode(a),
        &encode(b),
        &len,
        context,
    ]);
    <Scalar as ::sm2::elliptic_curve::ops::Reduce<FieldBytes>>::reduce(&FieldBytes::from(h))
}

/// One holder's `d_i·C1` and the proof that it used the share behind its public share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecryptionShare {
    index: u32,
    point: AffinePoint,
    e: Scalar,
    z: Scalar,
}

impl DecryptionShare {
    /// The holder index.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// [`SHARE_LEN`] bytes: index, `D_i`, challenge, response.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(SHARE_LEN);
        out.extend_from_slice(&self.index.to_be_bytes());
        out.extend_from_slice(&encode(&self.point));
        out.extend_from_slice(&self.e.to_repr());
        out.extend_from_slice(&self.z.to_repr());
        out
    }

    /// Decodes [`DecryptionShare::to_bytes`] (the proof is not checked here: see
    /// [`DecryptionShare::verify`]).
    ///
    /// # Errors
    /// [`CryptoError::Threshold`] naming the malformed part.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != SHARE_LEN {
            return Err(bad(format!(
                "a decryption share is {SHARE_LEN} bytes, not {}",
                bytes.len()
            )));
        }
        let index = u32::from_be_bytes(bytes[..4].try_into().expect("4 bytes"));
        if index == 0 || index > MAX_HOLDERS {
            return Err(bad(format!(
                "holder index {index} is not 1..={MAX_HOLDERS}"
            )));
        }
        Ok(DecryptionShare {
            index,
            point: point(&bytes[4..69], "the share's point")?,
            e: scalar(&bytes[69..101], "the proof's challenge")?,
            z: scalar(&bytes[101..], "the proof's response")?,
        })
    }

    /// Checks the proof: this share is `d_i·C1` for the `d_i` behind `public`
    /// (`d_i·G`, SEC1), given for `envelope` under `context`.
    ///
    /// # Errors
    /// [`CryptoError::Threshold`] if `public` is not a point or the proof fails.
    pub fn verify(&self, public: &[u8], envelope: &Envelope, context: &[u8]) -> Result<()> {
        let public = point(public, "the holder's public share")?;
        let g = ProjectivePoint::generator();
        let c1 = ProjectivePoint::from(envelope.c1);
        let a = AffinePoint::from(g * self.z - ProjectivePoint::from(public) * self.e);
        let b = AffinePoint::from(c1 * self.z - ProjectivePoint::from(self.point) * self.e);
        let e = challenge(
            self.index,
            &public,
            &envelope.c1,
            &self.point,
            &a,
            &b,
            context,
        );
        if e == self.e {
            Ok(())
        } else {
            Err(bad(format!(
                "holder {}'s decryption share does not match its public share",
                self.index
            )))
        }
    }
}

/// Lagrange coefficient at 0 of holder `i` among `indices`.
fn lagrange(i: u32, indices: &[u32]) -> Scalar {
    let xi = x_of(i);
    let (mut num, mut den) = (Scalar::ONE, Scalar::ONE);
    for &j in indices.iter().filter(|&&j| j != i) {
        let xj = x_of(j);
        num *= xj;
        den *= xj - xi;
    }
    // Distinct nonzero indices below the order: den is never zero.
    num * Option::<Scalar>::from(den.invert()).expect("distinct holder indices")
}

/// Opens `envelope` from `threshold` decryption shares (already verified, each from a
/// different holder): `d·C1` by Lagrange interpolation, then SM2's key derivation and
/// C3 check.
///
/// # Errors
/// [`CryptoError::Threshold`] if fewer than `threshold` distinct holders gave shares;
/// [`CryptoError::DecryptFailed`] if the shares do not open it (wrong key, or a share
/// that was not verified and is wrong).
pub fn open(envelope: &Envelope, shares: &[DecryptionShare], threshold: usize) -> Result<Vec<u8>> {
    let mut indices: Vec<u32> = shares.iter().map(|s| s.index).collect();
    indices.sort_unstable();
    indices.dedup();
    if threshold == 0 || indices.len() < threshold {
        return Err(bad(format!(
            "{} distinct holders' shares, {threshold} needed",
            indices.len()
        )));
    }
    let used: Vec<&DecryptionShare> = indices
        .iter()
        .take(threshold)
        .map(|i| shares.iter().find(|s| s.index == *i).expect("listed"))
        .collect();
    let chosen: Vec<u32> = used.iter().map(|s| s.index).collect();
    let combined = used.iter().fold(ProjectivePoint::IDENTITY, |acc, s| {
        acc + ProjectivePoint::from(s.point) * lagrange(s.index, &chosen)
    });
    if bool::from(combined.is_identity()) {
        return Err(CryptoError::DecryptFailed);
    }
    // The combined point is d·C1: decrypting with it as C1 and the scalar 1 runs the
    // crate's own key derivation and C3 check.
    let mut raw = Vec::with_capacity(65 + 32 + envelope.c2.len());
    raw.extend_from_slice(&encode(&combined.into()));
    raw.extend_from_slice(&envelope.c3);
    raw.extend_from_slice(&envelope.c2);
    let one = NonZeroScalar::new(Scalar::ONE).expect("1 is not 0");
    DecryptingKey::new_with_mode(one, Mode::C1C3C2)
        .decrypt(&raw)
        .map_err(|_| CryptoError::DecryptFailed)
}

/// Shares a fresh key t-of-n by one dealer: the custody public key (SEC1) and each
/// holder's share. For tests and benchmarks only; a network's key comes from its
/// validators' distributed key generation, where no one learns `d`.
///
/// # Errors
/// [`CryptoError::Threshold`] unless 1 ≤ `threshold` ≤ `holders` ≤ [`MAX_HOLDERS`].
pub fn deal(holders: u32, threshold: u32) -> Result<([u8; 65], Vec<SecretShare>)> {
    if threshold == 0 || threshold > holders || holders > MAX_HOLDERS {
        return Err(bad(format!(
            "a {threshold}-of-{holders} sharing is not possible (at most {MAX_HOLDERS} holders)"
        )));
    }
    let coefficients: Vec<Scalar> = (0..threshold).map(|_| *NonZeroScalar::generate()).collect();
    let public = encode(&(ProjectivePoint::generator() * coefficients[0]).into());
    let shares = (1..=holders)
        .map(|i| {
            let x = x_of(i);
            let secret = coefficients
                .iter()
                .rev()
                .fold(Scalar::ZERO, |acc, c| acc * x + c);
            SecretShare::new(i, secret)
        })
        .collect();
    Ok((public, shares))
}

#[cfg(test)]
mod tests;
