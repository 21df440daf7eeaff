//! Threshold SM2 decryption (`docs/design/custody.md`).
//!
//! The custody key `d` is Shamir-shared t-of-n over the SM2 group: holder `i` keeps
//! `d_i = f(i)` for a polynomial `f` of degree t−1 with `f(0) = d`, and everyone knows
//! its public share `P_i = d_i·G` and the custody public key `P = d·G`. A data key's
//! envelope is a standard SM2 ciphertext to `P` (GB/T 32918.4, the DER `SM2Cipher` that
//! `openssl pkeyutl -encrypt` writes), and beside it the encryptor's proof that it knows
//! the ephemeral scalar `k` of `C1 = k·G` ([`Envelope::seal`]): without it, anyone could
//! publish `r·C1` of someone else's envelope, obtain the shares of *that*, and unblind
//! them into the other envelope's key.
//!
//! To open one for a recipient with key `Q`, holder `i` **releases** its decryption share
//! `D_i = d_i·C1` ElGamal-encrypted to `Q` (`E1 = k·G`, `E2 = D_i + k·Q`) with a proof
//! that it did so with the `d_i` behind `P_i` ([`ReleasedShare`]). Anyone checks the
//! proof, so a wrong share is refused and its holder named, while only the recipient
//! learns `D_i`. The recipient decrypts `t` of them and `d·C1 = Σ λ_i·D_i` (Lagrange at
//! 0) opens the envelope: the SM2 key derivation and the C3 check are the `sm2` crate's
//! own decryption, given the combined point as C1 and the scalar 1.
//!
//! Only the `sm2`/`elliptic-curve` crates' group and field arithmetic is used; this
//! module adds the protocol around it (Shamir, Lagrange, the proofs).

use ::sm2::elliptic_curve::ops::{LinearCombination, Reduce};
use ::sm2::elliptic_curve::rand_core::SeedableRng;
use ::sm2::elliptic_curve::sec1::ToSec1Point;
use ::sm2::elliptic_curve::{Generate, Group, PrimeField};
use ::sm2::pke::{Cipher, DecryptingKey, EncryptingKey, Mode};
use ::sm2::{AffinePoint, FieldBytes, NonZeroScalar, ProjectivePoint, Scalar};
use pkcs8::der::Decode;
use zeroize::Zeroize;

use crate::error::{CryptoError, Result};
use crate::hash::sm3_parts;

pub mod dkg;
mod release;

pub use release::{RELEASE_LEN, ReleaseCheck, ReleasedShare, verify_releases};

/// Most holders a key is shared among.
pub const MAX_HOLDERS: u32 = 255;

/// Bytes of an envelope's proof of knowledge: challenge and response.
pub const ENVELOPE_PROOF_LEN: usize = 64;

/// Domain of an envelope proof's challenge.
const ENVELOPE_DOMAIN: &[u8] = b"govchain/threshold-sm2/envelope/v1";
/// Domain of the nonces derived from a secret and fresh randomness.
const NONCE_DOMAIN: &[u8] = b"govchain/threshold-sm2/nonce/v1";

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

/// SM3 of `parts` reduced mod n: a Fiat–Shamir challenge.
fn hash_to_scalar(parts: &[&[u8]]) -> Scalar {
    <Scalar as Reduce<FieldBytes>>::reduce(&FieldBytes::from(sm3_parts(parts)))
}

/// A proof's challenge over its domain, its points (in order) and a caller's context.
fn challenge(domain: &[u8], index: u32, points: &[&AffinePoint], context: &[u8]) -> Scalar {
    let encoded: Vec<[u8; 65]> = points.iter().map(|p| encode(p)).collect();
    let len = (context.len() as u64).to_be_bytes();
    let index = index.to_be_bytes();
    let mut parts: Vec<&[u8]> = vec![domain, &index];
    parts.extend(encoded.iter().map(|e| &e[..]));
    parts.push(&len);
    parts.push(context);
    hash_to_scalar(&parts)
}

/// A nonzero nonce derived from a secret, fresh randomness and what it is used for: it
/// stays unpredictable if either the secret or the randomness is, and never repeats for
/// two different statements (hedged nonces, as RFC 6979 with added randomness).
fn nonce(label: &[u8], secret: &Scalar, seed: &[u8; 32], statement: &[&[u8]]) -> Scalar {
    let mut secret_bytes: [u8; 32] = secret.to_repr().into();
    let mut counter = 0u32;
    let n = loop {
        let mut parts: Vec<&[u8]> = vec![NONCE_DOMAIN, label, &secret_bytes, seed];
        let c = counter.to_be_bytes();
        parts.extend_from_slice(statement);
        parts.push(&c);
        let n = hash_to_scalar(&parts);
        if !bool::from(n.is_zero()) {
            break n;
        }
        counter += 1;
    };
    secret_bytes.zeroize();
    n
}

/// `a·A + b·B (+ c·C)` in variable time: verification handles public values only.
fn lincomb(terms: &[(ProjectivePoint, Scalar)]) -> AffinePoint {
    ProjectivePoint::lincomb_vartime(terms).to_affine()
}

/// An envelope: a data key SM2-encrypted to the custody public key.
#[derive(Debug, Clone)]
pub struct Envelope {
    c1: AffinePoint,
    c3: [u8; 32],
    c2: Vec<u8>,
}

impl Envelope {
    /// Decodes the DER `SM2Cipher` (`openssl pkeyutl -encrypt`, or [`Envelope::seal`]):
    /// C1 must be a curve point.
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

    /// C1, the ephemeral point each holder's share multiplies (SEC1 uncompressed): unique
    /// per encryption.
    pub fn c1(&self) -> [u8; 65] {
        encode(&self.c1)
    }

    /// Bytes of the encrypted message (C2).
    pub fn message_len(&self) -> usize {
        self.c2.len()
    }

    /// Encrypts `msg` to `public_key` (SEC1) with plain SM2 encryption, and proves
    /// knowledge of the ephemeral scalar behind C1 for `context` (for example the chain
    /// and the certificate the envelope backs). `seed` is fresh randomness: the
    /// ciphertext's ephemeral scalar is drawn from it.
    ///
    /// # Errors
    /// [`CryptoError::Threshold`] if `public_key` is not a point or `msg` is empty.
    pub fn seal(
        public_key: &[u8],
        msg: &[u8],
        context: &[u8],
        seed: &[u8; 32],
    ) -> Result<(Vec<u8>, [u8; ENVELOPE_PROOF_LEN])> {
        let to = ::sm2::PublicKey::from_sec1_bytes(public_key)
            .map_err(|_| bad("the custody public key is not an SM2 curve point"))?;
        let key = EncryptingKey::new_with_mode(to, Mode::C1C3C2);
        let der = key
            .encrypt_der(&mut chacha20::ChaCha20Rng::from_seed(*seed), msg)
            .map_err(|_| bad("nothing to encrypt"))?;
        // The crate drew its ephemeral scalar first from this generator: drawing it again
        // from the same seed gives k, which must match C1 (checked, not assumed).
        let mut again = chacha20::ChaCha20Rng::from_seed(*seed);
        let mut k = *NonZeroScalar::generate_from_rng(&mut again);
        let envelope = Envelope::parse(&der)?;
        if ProjectivePoint::mul_by_generator(&k).to_affine() != envelope.c1 {
            k.zeroize();
            return Err(bad(
                "could not recover the envelope's ephemeral scalar (the sm2 crate changed how it draws it)",
            ));
        }
        let r = nonce(b"envelope", &k, seed, &[&envelope.c1(), context]);
        let a = ProjectivePoint::mul_by_generator(&r).to_affine();
        let e = challenge(ENVELOPE_DOMAIN, 0, &[&envelope.c1, &a], context);
        let s = r + e * k;
        k.zeroize();
        let mut proof = [0u8; ENVELOPE_PROOF_LEN];
        proof[..32].copy_from_slice(&e.to_repr());
        proof[32..].copy_from_slice(&s.to_repr());
        Ok((der, proof))
    }

    /// Checks the encryptor's proof that it knows the scalar behind C1, made for
    /// `context` (a Schnorr proof: `A = s·G − e·C1`, `e = SM3(domain ‖ C1 ‖ A ‖ context)`).
    ///
    /// # Errors
    /// [`CryptoError::Threshold`] if the proof is malformed or does not hold.
    pub fn verify_knowledge(&self, proof: &[u8], context: &[u8]) -> Result<()> {
        if proof.len() != ENVELOPE_PROOF_LEN {
            return Err(bad(format!(
                "the envelope's proof is {} bytes, not {ENVELOPE_PROOF_LEN}",
                proof.len()
            )));
        }
        let e = scalar(&proof[..32], "the envelope proof's challenge")?;
        let s = scalar(&proof[32..], "the envelope proof's response")?;
        let a = lincomb(&[
            (ProjectivePoint::generator(), s),
            (ProjectivePoint::from(self.c1), -e),
        ]);
        if challenge(ENVELOPE_DOMAIN, 0, &[&self.c1, &a], context) == e {
            Ok(())
        } else {
            Err(bad(
                "the envelope's proof does not hold: its encryptor did not make it for this certificate",
            ))
        }
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

    /// Releases this holder's decryption share of `envelope` to `recipient` (SEC1):
    /// `D_i = d_i·C1` ElGamal-encrypted to the recipient, with the proof that it is
    /// the share of `d_i` behind this holder's public share, bound to `context` (the
    /// chain and the request it answers: a release for one request cannot be passed
    /// off for another). `seed` is fresh randomness.
    ///
    /// # Errors
    /// [`CryptoError::Threshold`] if `recipient` is not a point.
    pub fn release(
        &self,
        envelope: &Envelope,
        recipient: &[u8],
        context: &[u8],
        seed: &[u8; 32],
    ) -> Result<ReleasedShare> {
        let q = point(recipient, "the recipient's key")?;
        let (c1p, qp) = (ProjectivePoint::from(envelope.c1), ProjectivePoint::from(q));
        let statement: [&[u8]; 3] = [&envelope.c1(), recipient, context];
        let k = nonce(b"elgamal", &self.secret, seed, &statement);
        let a = nonce(b"proof share", &self.secret, seed, &statement);
        let b = nonce(b"proof elgamal", &self.secret, seed, &statement);
        // Constant time: the scalars are secret. Each pair shares its doublings.
        let e1 = ProjectivePoint::mul_by_generator(&k).to_affine();
        let e2 = ProjectivePoint::lincomb(&[(c1p, self.secret), (qp, k)]).to_affine();
        let a1 = ProjectivePoint::mul_by_generator(&a).to_affine();
        let a2 = ProjectivePoint::mul_by_generator(&b).to_affine();
        let a3 = ProjectivePoint::lincomb(&[(c1p, a), (qp, b)]).to_affine();
        let mut share = ReleasedShare {
            index: self.index,
            e1,
            e2,
            a1,
            a2,
            a3,
            z1: Scalar::ZERO,
            z2: Scalar::ZERO,
        };
        let e = share.challenge(&self.public, &envelope.c1, &q, context);
        share.z1 = a + e * self.secret;
        share.z2 = b + e * k;
        Ok(share)
    }
}

/// A holder's decryption share `d_i·C1`, as its recipient decrypted it from a
/// [`ReleasedShare`] (secret: `t` of them open the envelope).
#[derive(Clone, PartialEq, Eq)]
pub struct DecryptionShare {
    index: u32,
    point: AffinePoint,
}

impl std::fmt::Debug for DecryptionShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DecryptionShare({}, …)", self.index)
    }
}

impl DecryptionShare {
    /// The holder index.
    pub fn index(&self) -> u32 {
        self.index
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

/// Opens `envelope` from `threshold` decryption shares (from verified releases, each
/// from a different holder): `d·C1` by Lagrange interpolation, then SM2's key derivation and
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
    let dealing = dkg::Dealing::random(threshold)?;
    let shares = (1..=holders)
        .map(|i| dkg::share_from(i, &[&dealing.sub_share(i)?[..]]))
        .collect::<Result<_>>()?;
    Ok((dealing.commitments().constant(), shares))
}

#[cfg(test)]
mod tests;
