//! SM2 keys, signing and verification (GB/T 32918, GM/T 0003) with SM3 and the
//! GM/T 0009 default distinguishing identifier.

use std::fmt;
use std::hash::{Hash as StdHash, Hasher};

use ::sm2::dsa::signature::{RandomizedSigner, Signer, Verifier};
use ::sm2::dsa::{SigningKey, VerifyingKey};
use ::sm2::elliptic_curve::Generate;
use ::sm2::{NonZeroScalar, SecretKey};
use getrandom::SysRng;
use pkcs8::der::pem::PemLabel;
use pkcs8::der::{Document, ErrorKind, SecretDocument};
use pkcs8::pkcs5::pbes2;
use pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey,
    EncryptedPrivateKeyInfoRef, LineEnding, PrivateKeyInfoRef, SubjectPublicKeyInfoRef,
};

use crate::error::{CryptoError, Result};
use crate::hash::sm3;
use crate::signature::Signature;

/// The default SM2 distinguishing identifier (user ID) from GM/T 0009-2012,
/// `"1234567812345678"`. Every govchain key signs and verifies with it, as does
/// OpenSSL with `-pkeyopt distid:1234567812345678`.
pub const DEFAULT_DIST_ID: &str = "1234567812345678";

/// PEM label of an unencrypted PKCS#8 private key.
const LABEL_PKCS8: &str = PrivateKeyInfoRef::PEM_LABEL;
/// PEM label of an encrypted PKCS#8 private key.
const LABEL_ENCRYPTED_PKCS8: &str = EncryptedPrivateKeyInfoRef::PEM_LABEL;
/// PEM label of a SEC1 `ECPrivateKey` (as `openssl ecparam -genkey` writes).
const LABEL_SEC1: &str = "EC PRIVATE KEY";
/// PEM label OpenSSL 3 gives a SEC1 `ECPrivateKey` on the SM2 curve (`openssl
/// ec -in key.pem`).
const LABEL_SEC1_SM2: &str = "SM2 PRIVATE KEY";
/// PEM label of a SubjectPublicKeyInfo.
const LABEL_SPKI: &str = SubjectPublicKeyInfoRef::PEM_LABEL;

/// Number of leading bytes of `SM3(SEC1 point)` that form a key fingerprint.
const FINGERPRINT_LEN: usize = 20;

/// An SM2 private (signing) key, bound to [`DEFAULT_DIST_ID`].
///
/// Its `Debug` output shows only the public key's fingerprint, never the
/// secret.
#[derive(Clone)]
pub struct PrivateKey {
    inner: SigningKey,
}

impl PrivateKey {
    /// Generate a fresh key from the operating system's random number
    /// generator.
    ///
    /// # Panics
    /// If the operating system's random number generator fails.
    pub fn generate() -> Self {
        Self::from_scalar(NonZeroScalar::generate())
    }

    /// A key from its secret scalar, 32 bytes big-endian (as `openssl pkey -text`
    /// prints it). Meant for fixed keys in tests that pin bytes (the scenario golden
    /// test derives each department's key from a seed); real keys come from
    /// [`PrivateKey::generate`] or a key file.
    ///
    /// # Errors
    /// [`CryptoError::InvalidPrivateKey`] if the scalar is 0 or not below the
    /// curve order.
    pub fn from_bytes(secret: &[u8; 32]) -> Result<Self> {
        let secret = SecretKey::from_slice(secret).map_err(invalid_private)?;
        Ok(Self::from_scalar(secret.to_nonzero_scalar()))
    }

    /// Load an unencrypted PKCS#8 private key (`-----BEGIN PRIVATE KEY-----`),
    /// as written by `openssl genpkey -algorithm SM2`.
    ///
    /// # Errors
    /// [`CryptoError::MalformedPem`], [`CryptoError::UnexpectedPemLabel`] (also
    /// for `ENCRYPTED PRIVATE KEY`; use [`PrivateKey::from_pkcs8_encrypted_pem`]
    /// or [`PrivateKey::from_pem_any`]) or [`CryptoError::InvalidPrivateKey`].
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self> {
        let doc = decode_secret_pem(pem, LABEL_PKCS8, "PRIVATE KEY")?;
        Self::from_pkcs8_der(doc.as_bytes())
    }

    /// Load an encrypted PKCS#8 private key (`-----BEGIN ENCRYPTED PRIVATE
    /// KEY-----`, PBES2), as written by [`PrivateKey::to_pkcs8_encrypted_pem`]
    /// or by `openssl genpkey -algorithm SM2 -aes-256-cbc` / `openssl pkcs8
    /// -topk8 -v2 aes-256-cbc`.
    ///
    /// Supported schemes are PBES2 with PBKDF2 (HMAC-SHA-224/256/384/512) or
    /// scrypt as the KDF, and AES-128/192/256-CBC or AES-128/256-GCM as the
    /// cipher. Not supported: PBES1, PBKDF2 with HMAC-SHA1 and SM4-CBC (which
    /// OpenSSL can write with `-v2 sm4-cbc`).
    ///
    /// # Errors
    /// [`CryptoError::KeyDecryptionFailed`] for a wrong passphrase,
    /// [`CryptoError::UnsupportedKeyEncryption`] for other schemes (such as
    /// PBES1 or PBKDF2 with HMAC-SHA1), and the PEM and key errors of
    /// [`PrivateKey::from_pkcs8_pem`].
    pub fn from_pkcs8_encrypted_pem(pem: &str, passphrase: &[u8]) -> Result<Self> {
        let doc = decode_secret_pem(pem, LABEL_ENCRYPTED_PKCS8, "ENCRYPTED PRIVATE KEY")?;
        let info = EncryptedPrivateKeyInfoRef::try_from(doc.as_bytes()).map_err(|e| match e {
            // The scheme's algorithm identifiers are parsed eagerly, so an
            // unknown cipher or KDF (e.g. SM4-CBC) surfaces here.
            pkcs8::Error::Asn1(der) if matches!(der.kind(), ErrorKind::OidUnknown { .. }) => {
                CryptoError::UnsupportedKeyEncryption {
                    reason: der.to_string(),
                }
            }
            other => invalid_private(other),
        })?;
        let plain = info.decrypt(passphrase).map_err(|e| match e {
            pkcs8::Error::EncryptedPrivateKey(pkcs8::pkcs5::Error::DecryptFailed) => {
                CryptoError::KeyDecryptionFailed
            }
            pkcs8::Error::EncryptedPrivateKey(other) => CryptoError::UnsupportedKeyEncryption {
                reason: other.to_string(),
            },
            // The padding happened to check out but the "plaintext" is not DER:
            // still a wrong passphrase (or corrupted ciphertext).
            _ => CryptoError::KeyDecryptionFailed,
        })?;
        Self::from_pkcs8_der(plain.as_bytes())
    }

    /// Load a private key from PEM, whatever its kind:
    ///
    /// - `PRIVATE KEY` (unencrypted PKCS#8): `passphrase` is ignored;
    /// - `ENCRYPTED PRIVATE KEY` (PKCS#8/PBES2): decrypted with `passphrase`;
    /// - `EC PRIVATE KEY` or `SM2 PRIVATE KEY` (SEC1 `ECPrivateKey`, as
    ///   `openssl ecparam -name SM2 -genkey` and `openssl ec` write):
    ///   `passphrase` is ignored. Legacy OpenSSL-encrypted SEC1 files (with a
    ///   `Proc-Type` header) are not supported.
    ///
    /// # Errors
    /// [`CryptoError::PassphraseRequired`] for an encrypted key without a
    /// passphrase, [`CryptoError::UnexpectedPemLabel`] for other labels, and
    /// the errors of the specific loaders.
    pub fn from_pem_any(pem: &str, passphrase: Option<&[u8]>) -> Result<Self> {
        const EXPECTED: &str =
            "PRIVATE KEY, ENCRYPTED PRIVATE KEY, EC PRIVATE KEY or SM2 PRIVATE KEY";
        let label = pem_label(pem)?;
        match label {
            LABEL_PKCS8 => Self::from_pkcs8_pem(pem),
            LABEL_ENCRYPTED_PKCS8 => match passphrase {
                Some(passphrase) => Self::from_pkcs8_encrypted_pem(pem, passphrase),
                None => Err(CryptoError::PassphraseRequired),
            },
            LABEL_SEC1 | LABEL_SEC1_SM2 => {
                let doc = decode_secret_pem(pem, label, EXPECTED)?;
                let secret = SecretKey::from_sec1_der(doc.as_bytes()).map_err(invalid_private)?;
                Ok(Self::from_scalar(secret.to_nonzero_scalar()))
            }
            other => Err(CryptoError::UnexpectedPemLabel {
                expected: EXPECTED,
                found: other.to_owned(),
            }),
        }
    }

    /// Encode as unencrypted PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`, LF line
    /// endings), readable by `openssl pkey`.
    ///
    /// The returned string contains the secret key: zeroize or drop it
    /// promptly.
    pub fn to_pkcs8_pem(&self) -> String {
        let pem = self
            .secret_key()
            .to_pkcs8_pem(LineEnding::LF)
            .expect("PKCS#8 encoding of a valid SM2 key cannot fail");
        String::from(pem.as_str())
    }

    /// Encode as encrypted PKCS#8 PEM (`-----BEGIN ENCRYPTED PRIVATE
    /// KEY-----`).
    ///
    /// The scheme is PBES2 with scrypt (N = 2^14, r = 8, p = 1, random
    /// 16-byte salt) as the key derivation function and AES-256-CBC (random IV)
    /// as the cipher — the parameters RustCrypto's `pkcs5` recommends, chosen
    /// to stay within OpenSSL 3's scrypt memory limit, so that `openssl pkey
    /// -passin ...` reads the result.
    ///
    /// # Errors
    /// [`CryptoError::EmptyPassphrase`] if `passphrase` is empty;
    /// [`CryptoError::KeyEncryptionFailed`] if the random number generator or
    /// the encryption fails.
    pub fn to_pkcs8_encrypted_pem(&self, passphrase: &[u8]) -> Result<String> {
        if passphrase.is_empty() {
            return Err(CryptoError::EmptyPassphrase);
        }
        let encryption_failed = |reason: String| CryptoError::KeyEncryptionFailed { reason };
        let plain = self
            .secret_key()
            .to_pkcs8_der()
            .map_err(|e| encryption_failed(e.to_string()))?;
        let info = PrivateKeyInfoRef::try_from(plain.as_bytes())
            .map_err(|e| encryption_failed(e.to_string()))?;
        let params = pbes2::Parameters::generate_scrypt(&mut SysRng)
            .map_err(|e| encryption_failed(e.to_string()))?;
        let encrypted = info
            .encrypt_with_params(params, passphrase)
            .map_err(|e| encryption_failed(e.to_string()))?;
        encrypted
            .to_pem(LABEL_ENCRYPTED_PKCS8, LineEnding::LF)
            .map(|pem| String::from(pem.as_str()))
            .map_err(|e| encryption_failed(e.to_string()))
    }

    /// Decrypts what [`PublicKey::encrypt`] (or `openssl pkeyutl -encrypt`) made
    /// for this key.
    ///
    /// # Errors
    /// [`CryptoError::DecryptFailed`] if the ciphertext is malformed or was made
    /// for another key.
    pub fn decrypt(&self, ciphertext: &[u8]) -> Result<Vec<u8>> {
        ::sm2::pke::DecryptingKey::new_with_mode(
            *self.inner.as_nonzero_scalar(),
            ::sm2::pke::Mode::C1C3C2,
        )
        .decrypt_der(ciphertext)
        .map_err(|_| CryptoError::DecryptFailed)
    }

    /// A secret derived from this key for `context`: `SM3(domain || d || context)` with
    /// the 32-byte secret scalar `d`, a pseudorandom function keyed by the key (the
    /// digest is never published). What a validator deals in a custody key generation
    /// round is derived from its custody key and the round this way, so that after a
    /// crash it deals, and answers complaints about, the same polynomial without keeping
    /// it in a file.
    pub fn derive_secret(&self, context: &[u8]) -> zeroize::Zeroizing<[u8; 32]> {
        let d =
            zeroize::Zeroizing::new(<[u8; 32]>::from(self.inner.as_nonzero_scalar().to_bytes()));
        let mut h = crate::hash::Sm3Hasher::new();
        h.update(b"govchain/derive-secret/v1");
        h.update(&d[..]);
        h.update(context);
        zeroize::Zeroizing::new(h.finalize())
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey {
            inner: self.inner.verifying_key().clone(),
        }
    }

    /// Sign `msg` with SM2/SM3 under [`DEFAULT_DIST_ID`]: the signed digest is
    /// `SM3(Z_A || msg)` with `Z_A` the GM/T 0003 user-information hash, as
    /// the standard prescribes. The per-signature nonce is derived
    /// deterministically (RFC 6979 with HMAC-SM3), so signing the same message
    /// twice with the same key gives the same signature.
    ///
    /// # Panics
    /// Only if the deterministic nonce is rejected (probability about 2^-256)
    /// *and* the operating system's random number generator then fails.
    pub fn sign(&self, msg: &[u8]) -> Signature {
        /// Randomized attempts after a rejected deterministic nonce; each one
        /// fails with probability about 2^-256 unless the RNG itself fails.
        const RANDOMIZED_ATTEMPTS: usize = 16;
        // The deterministic nonce is unusable only if r = 0, r + k = n or
        // s = 0; retry with a randomized (hedged) nonce in that case.
        let sig = self
            .inner
            .try_sign(msg)
            .ok()
            .or_else(|| {
                (0..RANDOMIZED_ATTEMPTS)
                    .find_map(|_| self.inner.try_sign_with_rng(&mut SysRng, msg).ok())
            })
            .expect("SM2 signing failed repeatedly: the OS random number generator is failing");
        Signature(sig.to_bytes().into())
    }

    pub(crate) fn from_scalar(scalar: NonZeroScalar) -> Self {
        let inner = SigningKey::from_nonzero_scalar(DEFAULT_DIST_ID, scalar)
            .expect("DEFAULT_DIST_ID is a valid distinguishing identifier");
        Self { inner }
    }

    fn from_pkcs8_der(der: &[u8]) -> Result<Self> {
        let secret = SecretKey::from_pkcs8_der(der).map_err(invalid_private)?;
        Ok(Self::from_scalar(secret.to_nonzero_scalar()))
    }

    /// The secret scalar (zeroize the copy after use).
    pub(crate) fn scalar(&self) -> ::sm2::Scalar {
        *self.inner.as_nonzero_scalar().as_ref()
    }

    /// The secret key in `elliptic_curve` form (zeroized when dropped).
    fn secret_key(&self) -> SecretKey {
        SecretKey::from(self.inner.as_nonzero_scalar())
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("public_key", &self.public_key().fingerprint())
            .finish_non_exhaustive()
    }
}

/// An SM2 public (verifying) key, bound to [`DEFAULT_DIST_ID`].
///
/// Equality and hashing are over the curve point. `Debug` shows the
/// [fingerprint](PublicKey::fingerprint).
#[derive(Clone)]
pub struct PublicKey {
    inner: VerifyingKey,
}

impl PublicKey {
    /// Parse a SEC1-encoded point: uncompressed (65 bytes, `04 || x || y`) or
    /// compressed (33 bytes, `02`/`03 || x`).
    ///
    /// # Errors
    /// [`CryptoError::InvalidPublicKey`] if the bytes are not a point on the
    /// SM2 curve, or are the point at infinity.
    pub fn from_sec1(bytes: &[u8]) -> Result<Self> {
        let point = ::sm2::PublicKey::from_sec1_bytes(bytes).map_err(|_| {
            CryptoError::InvalidPublicKey {
                reason: format!(
                    "{} bytes are not a SEC1-encoded SM2 curve point",
                    bytes.len()
                ),
            }
        })?;
        Ok(Self::from_point(point))
    }

    /// The uncompressed SEC1 encoding (65 bytes, `04 || x || y`).
    pub fn to_sec1(&self) -> Vec<u8> {
        self.inner.to_sec1_bytes().into_vec()
    }

    /// SM2 public-key encryption (GB/T 32918.4) of `msg` to this key, with SM3,
    /// as the ASN.1 DER `SM2Cipher` structure (C1 coordinates, C3 hash, C2) that
    /// `openssl pkeyutl -encrypt` writes and `-decrypt` reads.
    ///
    /// # Panics
    /// If the operating system's random number generator fails.
    pub fn encrypt(&self, msg: &[u8]) -> Vec<u8> {
        ::sm2::pke::EncryptingKey::new_with_mode(
            ::sm2::PublicKey::from(&self.inner),
            ::sm2::pke::Mode::C1C3C2,
        )
        .encrypt_der(&mut SysRng, msg)
        .expect("SM2 encryption to a valid point cannot fail")
    }

    /// [`PublicKey::encrypt`] with the ephemeral key drawn from `seed` (ChaCha20 as a
    /// seeded generator) instead of the operating system: the same key, message and
    /// seed give the same ciphertext. For tests that pin bytes (the scenario golden
    /// test); everything else uses [`PublicKey::encrypt`]. Never encrypt two
    /// messages to one key with one seed: the ciphertexts would reveal their XOR.
    pub fn encrypt_with_seed(&self, msg: &[u8], seed: &[u8; 32]) -> Vec<u8> {
        ::sm2::pke::EncryptingKey::new_with_mode(
            ::sm2::PublicKey::from(&self.inner),
            ::sm2::pke::Mode::C1C3C2,
        )
        .encrypt_der(
            &mut <chacha20::ChaCha20Rng as ::sm2::elliptic_curve::rand_core::SeedableRng>::from_seed(*seed),
            msg,
        )
        .expect("SM2 encryption to a valid point cannot fail")
    }

    /// Parse a SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`), as
    /// written by `openssl pkey -pubout`.
    ///
    /// # Errors
    /// [`CryptoError::MalformedPem`], [`CryptoError::UnexpectedPemLabel`] or
    /// [`CryptoError::InvalidPublicKey`] (for example a key on another curve).
    pub fn from_spki_pem(pem: &str) -> Result<Self> {
        check_label(pem, LABEL_SPKI, "PUBLIC KEY")?;
        let (_, doc) =
            Document::from_pem(pem.trim_start()).map_err(|e| pem_or(e, invalid_public))?;
        let point = ::sm2::PublicKey::from_public_key_der(doc.as_bytes()).map_err(|e| {
            CryptoError::InvalidPublicKey {
                reason: e.to_string(),
            }
        })?;
        Ok(Self::from_point(point))
    }

    /// Encode as SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`, LF line
    /// endings), the form `openssl pkey -pubout` writes.
    pub fn to_spki_pem(&self) -> String {
        ::sm2::PublicKey::from(&self.inner)
            .to_public_key_pem(LineEnding::LF)
            .expect("SPKI encoding of a valid SM2 point cannot fail")
    }

    /// Verify an SM2/SM3 signature over `msg` under [`DEFAULT_DIST_ID`].
    ///
    /// # Errors
    /// [`CryptoError::BadSignature`] if the signature does not verify, including
    /// when `r` or `s` is outside `[1, n-1]`.
    pub fn verify(&self, msg: &[u8], sig: &Signature) -> Result<()> {
        let sig =
            ::sm2::dsa::Signature::from_slice(&sig.0).map_err(|_| CryptoError::BadSignature)?;
        self.inner
            .verify(msg, &sig)
            .map_err(|_| CryptoError::BadSignature)
    }

    /// The key's "derived id": the first 20 bytes of `SM3(to_sec1())` as 40
    /// lowercase hex characters.
    pub fn fingerprint(&self) -> String {
        hex::encode(&sm3(&self.to_sec1())[..FINGERPRINT_LEN])
    }

    /// The curve point.
    pub(crate) fn affine(&self) -> &::sm2::AffinePoint {
        self.inner.as_affine()
    }

    fn from_point(point: ::sm2::PublicKey) -> Self {
        let inner = VerifyingKey::new(DEFAULT_DIST_ID, point)
            .expect("DEFAULT_DIST_ID is a valid distinguishing identifier");
        Self { inner }
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.inner.as_affine() == other.inner.as_affine()
    }
}

impl Eq for PublicKey {}

impl StdHash for PublicKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.to_sec1().hash(state);
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.fingerprint())
    }
}

/// Verify a raw 64-byte `r || s` signature over `msg` with a SEC1-encoded
/// public key, under [`DEFAULT_DIST_ID`].
///
/// # Errors
/// [`CryptoError::InvalidPublicKey`], [`CryptoError::InvalidSignatureLength`]
/// or [`CryptoError::BadSignature`].
pub fn verify_sec1(pubkey_sec1: &[u8], msg: &[u8], sig: &[u8]) -> Result<()> {
    let key = PublicKey::from_sec1(pubkey_sec1)?;
    let sig = Signature::from_slice(sig)?;
    key.verify(msg, &sig)
}

/// The label of a PEM document.
pub(crate) fn pem_label(pem: &str) -> Result<&str> {
    pkcs8::der::pem::decode_label(pem.trim_start().as_bytes()).map_err(|e| {
        CryptoError::MalformedPem {
            reason: e.to_string(),
        }
    })
}

/// Check that `pem` carries `label`.
fn check_label(pem: &str, label: &str, expected: &'static str) -> Result<()> {
    let found = pem_label(pem)?;
    if found == label {
        Ok(())
    } else {
        Err(CryptoError::UnexpectedPemLabel {
            expected,
            found: found.to_owned(),
        })
    }
}

/// Decode a PEM document holding secret material, checking its label first.
fn decode_secret_pem(pem: &str, label: &str, expected: &'static str) -> Result<SecretDocument> {
    check_label(pem, label, expected)?;
    let (_, doc) =
        SecretDocument::from_pem(pem.trim_start()).map_err(|e| pem_or(e, invalid_private))?;
    Ok(doc)
}

/// Classify a DER/PEM decoding error: PEM-level problems become
/// [`CryptoError::MalformedPem`], anything else goes through `other`.
fn pem_or(e: pkcs8::der::Error, other: fn(pkcs8::der::Error) -> CryptoError) -> CryptoError {
    match e.kind() {
        ErrorKind::Pem(pem) => CryptoError::MalformedPem {
            reason: pem.to_string(),
        },
        _ => other(e),
    }
}

pub(crate) fn invalid_private(e: impl fmt::Display) -> CryptoError {
    CryptoError::InvalidPrivateKey {
        reason: e.to_string(),
    }
}

fn invalid_public(e: pkcs8::der::Error) -> CryptoError {
    CryptoError::InvalidPublicKey {
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `openssl genpkey -algorithm SM2` (OpenSSL 3.0.19).
    const OPENSSL_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqBHM9VAYItBG0wawIBAQQgb4ML+kt5IQlF1pnl
Yp1bQ5yDVMz0nLOldv/sJg8pOcGhRANCAAQUq8Eu3+NtOLUXT573R+Zyxz4V8RoI
mq5aZY9yR7G+zhpvAY3E1DWdfCcCtZcCRALaOKONScxuR8DIJe2dGGhl
-----END PRIVATE KEY-----
";
    /// `openssl pkey -in key.pem -pubout`.
    const OPENSSL_PUB: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoEcz1UBgi0DQgAEFKvBLt/jbTi1F0+e90fmcsc+FfEa
CJquWmWPckexvs4abwGNxNQ1nXwnArWXAkQC2jijjUnMbkfAyCXtnRhoZQ==
-----END PUBLIC KEY-----
";
    /// `openssl ec -in key.pem` (SEC1; OpenSSL labels it "SM2 PRIVATE KEY").
    const OPENSSL_SEC1: &str = "-----BEGIN SM2 PRIVATE KEY-----
MHcCAQEEIG+DC/pLeSEJRdaZ5WKdW0Ocg1TM9JyzpXb/7CYPKTnBoAoGCCqBHM9V
AYItoUQDQgAEFKvBLt/jbTi1F0+e90fmcsc+FfEaCJquWmWPckexvs4abwGNxNQ1
nXwnArWXAkQC2jijjUnMbkfAyCXtnRhoZQ==
-----END SM2 PRIVATE KEY-----
";
    /// `openssl pkcs8 -topk8 -v2 aes-256-cbc -passout pass:correct-horse`
    /// (PBES2, PBKDF2-HMAC-SHA256 with 2048 iterations, AES-256-CBC).
    const OPENSSL_ENCRYPTED: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----
MIHsMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAgBM0iPBIOobAICCAAw
DAYIKoZIhvcNAgkFADAdBglghkgBZQMEASoEEBq944mTKnaC2wUwVGpYY3YEgZAr
kbBFRpmwRZPDyWM8vcmOyUK2AIog0FDxWu4MX3Zrj4v320IhRnTn6Auog5bGFVoR
MS8F0BxWwQPxNnWsBnSg8ZLIwSZ7JP2QiciwokHv3LpDrSKugMM3P2w38f+Nvz7N
QCLEMWSDeeo4x7QtGnV9DqSOYybp+lLcl5LQ4RwVxeIHTIVvLVewo7nChkfX7Mw=
-----END ENCRYPTED PRIVATE KEY-----
";
    /// The key's public point (`openssl pkey -text`).
    const OPENSSL_PUB_SEC1: &str = "0414abc12edfe36d38b5174f9ef747e672c73e15f11a089aae5a658f7247b1bece1a6f018dc4d4359d7c2702b597024402da38a38d49cc6e47c0c825ed9d186865";
    /// The secret scalar (`openssl pkey -text`); must never appear in `Debug`.
    const OPENSSL_SECRET_HEX: &str =
        "6f830bfa4b79210945d699e5629d5b439c8354ccf49cb3a576ffec260f2939c1";
    /// `openssl pkeyutl -sign -rawin -digest sm3 -pkeyopt
    /// distid:1234567812345678` over [`KAT_MSG`] with [`OPENSSL_KEY`].
    const OPENSSL_SIG_DER: &str = "30450220496cfe18a0f80af88e0fd32ed40e98c55af19c542bceef193f24775b9c8b71bb0221008c01c75142abd4a088587c1e39ba4741c87f8ac3469649aab77386e5cc8976aa";
    const KAT_MSG: &[u8] = b"govchain known-answer message";

    #[test]
    fn sign_verify_roundtrip() {
        let key = PrivateKey::generate();
        let public = key.public_key();
        for msg in [&b""[..], b"x", &[0xa5; 1000]] {
            let sig = key.sign(msg);
            public.verify(msg, &sig).unwrap();
            verify_sec1(&public.to_sec1(), msg, &sig.0).unwrap();
            // RFC 6979 nonces: deterministic.
            assert_eq!(key.sign(msg), sig);
        }
        assert_ne!(key.sign(b"a"), key.sign(b"b"));
    }

    #[test]
    fn changed_message_signature_or_key_fails() {
        let key = PrivateKey::generate();
        let public = key.public_key();
        let msg = b"transfer 100 to dept-7";
        let sig = key.sign(msg);

        assert_eq!(
            public.verify(b"transfer 900 to dept-7", &sig),
            Err(CryptoError::BadSignature)
        );
        assert_eq!(
            public.verify(&msg[..msg.len() - 1], &sig),
            Err(CryptoError::BadSignature)
        );
        for i in 0..64 {
            let mut bad = sig;
            bad.0[i] ^= 0x01;
            assert_eq!(
                public.verify(msg, &bad),
                Err(CryptoError::BadSignature),
                "byte {i}"
            );
        }
        let other = PrivateKey::generate().public_key();
        assert_eq!(other.verify(msg, &sig), Err(CryptoError::BadSignature));

        // Out-of-range scalars are just bad signatures.
        assert_eq!(
            public.verify(msg, &Signature([0; 64])),
            Err(CryptoError::BadSignature)
        );
        assert_eq!(
            public.verify(msg, &Signature([0xff; 64])),
            Err(CryptoError::BadSignature)
        );

        assert_eq!(
            verify_sec1(&public.to_sec1(), msg, &sig.0[..63]),
            Err(CryptoError::InvalidSignatureLength { len: 63 })
        );
        assert!(matches!(
            verify_sec1(&public.to_sec1()[..64], msg, &sig.0),
            Err(CryptoError::InvalidPublicKey { .. })
        ));
    }

    #[test]
    fn der_roundtrip_of_real_signatures() {
        let key = PrivateKey::generate();
        for i in 0..32u8 {
            let sig = key.sign(&[i]);
            let der = sig.to_der();
            assert_eq!(Signature::from_der(&der).unwrap(), sig);
            let theirs = ::sm2::dsa::Signature::from_slice(&sig.0).unwrap().to_der();
            assert_eq!(der, theirs.as_bytes());
        }
    }

    #[test]
    fn openssl_known_answer() {
        let key = PrivateKey::from_pkcs8_pem(OPENSSL_KEY).unwrap();
        let public = PublicKey::from_spki_pem(OPENSSL_PUB).unwrap();
        assert_eq!(key.public_key(), public);
        assert_eq!(hex::encode(public.to_sec1()), OPENSSL_PUB_SEC1);

        let sig = Signature::from_der(&hex::decode(OPENSSL_SIG_DER).unwrap()).unwrap();
        public.verify(KAT_MSG, &sig).unwrap();
        assert_eq!(
            public.verify(b"other", &sig),
            Err(CryptoError::BadSignature)
        );
        // Our own signature over the same message verifies too (the two differ:
        // OpenSSL draws a random nonce).
        public.verify(KAT_MSG, &key.sign(KAT_MSG)).unwrap();

        let sec1 = PrivateKey::from_pem_any(OPENSSL_SEC1, None).unwrap();
        assert_eq!(sec1.public_key(), public);

        let enc =
            PrivateKey::from_pkcs8_encrypted_pem(OPENSSL_ENCRYPTED, b"correct-horse").unwrap();
        assert_eq!(enc.public_key(), public);
        assert_eq!(
            PrivateKey::from_pkcs8_encrypted_pem(OPENSSL_ENCRYPTED, b"wrong").unwrap_err(),
            CryptoError::KeyDecryptionFailed
        );
    }

    #[test]
    fn pkcs8_pem_roundtrip() {
        let key = PrivateKey::generate();
        let pem = key.to_pkcs8_pem();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let back = PrivateKey::from_pkcs8_pem(&pem).unwrap();
        assert_eq!(back.public_key(), key.public_key());
        assert_eq!(back.sign(b"m"), key.sign(b"m"));
        // Leading whitespace and CRLF line endings are tolerated.
        let crlf = format!("\n  {}", pem.replace('\n', "\r\n"));
        assert_eq!(
            PrivateKey::from_pkcs8_pem(&crlf).unwrap().public_key(),
            key.public_key()
        );
    }

    #[test]
    fn encrypted_pkcs8_pem_roundtrip() {
        let key = PrivateKey::generate();
        let pem = key.to_pkcs8_encrypted_pem(b"s3cret passphrase").unwrap();
        assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"));
        let back = PrivateKey::from_pkcs8_encrypted_pem(&pem, b"s3cret passphrase").unwrap();
        assert_eq!(back.public_key(), key.public_key());
        assert_eq!(
            PrivateKey::from_pkcs8_encrypted_pem(&pem, b"s3cret passphrasE").unwrap_err(),
            CryptoError::KeyDecryptionFailed
        );
        assert_eq!(
            PrivateKey::from_pkcs8_encrypted_pem(&pem, b"").unwrap_err(),
            CryptoError::KeyDecryptionFailed
        );
        // Fresh salt and IV each time.
        assert_ne!(
            key.to_pkcs8_encrypted_pem(b"s3cret passphrase").unwrap(),
            pem
        );
        assert_eq!(
            key.to_pkcs8_encrypted_pem(b""),
            Err(CryptoError::EmptyPassphrase)
        );
    }

    #[test]
    fn pem_any_dispatch() {
        let key = PrivateKey::generate();
        let plain = key.to_pkcs8_pem();
        let enc = key.to_pkcs8_encrypted_pem(b"pw").unwrap();

        assert_eq!(
            PrivateKey::from_pem_any(&plain, None).unwrap().public_key(),
            key.public_key()
        );
        assert_eq!(
            PrivateKey::from_pem_any(&plain, Some(b"ignored"))
                .unwrap()
                .public_key(),
            key.public_key()
        );
        assert_eq!(
            PrivateKey::from_pem_any(&enc, Some(b"pw"))
                .unwrap()
                .public_key(),
            key.public_key()
        );
        assert_eq!(
            PrivateKey::from_pem_any(&enc, None).unwrap_err(),
            CryptoError::PassphraseRequired
        );
        assert_eq!(
            PrivateKey::from_pem_any(&enc, Some(b"nope")).unwrap_err(),
            CryptoError::KeyDecryptionFailed
        );
        let sec1 = OPENSSL_SEC1.replace("SM2 PRIVATE KEY", "EC PRIVATE KEY");
        assert!(PrivateKey::from_pem_any(&sec1, None).is_ok());
        assert!(matches!(
            PrivateKey::from_pem_any(&key.public_key().to_spki_pem(), None),
            Err(CryptoError::UnexpectedPemLabel { found, .. }) if found == "PUBLIC KEY"
        ));
    }

    #[test]
    fn pem_errors() {
        let key = PrivateKey::generate();
        let plain = key.to_pkcs8_pem();
        let enc = key.to_pkcs8_encrypted_pem(b"pw").unwrap();
        let spki = key.public_key().to_spki_pem();

        assert!(matches!(
            PrivateKey::from_pkcs8_pem(&enc),
            Err(CryptoError::UnexpectedPemLabel {
                expected: "PRIVATE KEY",
                ..
            })
        ));
        assert!(matches!(
            PrivateKey::from_pkcs8_encrypted_pem(&plain, b"pw"),
            Err(CryptoError::UnexpectedPemLabel { .. })
        ));
        assert!(matches!(
            PublicKey::from_spki_pem(&plain),
            Err(CryptoError::UnexpectedPemLabel { .. })
        ));
        assert!(matches!(
            PrivateKey::from_pkcs8_pem(&spki),
            Err(CryptoError::UnexpectedPemLabel { .. })
        ));
        let malformed = |r: Result<()>| matches!(r, Err(CryptoError::MalformedPem { .. }));
        for garbage in ["", "hello", "-----BEGIN PRIVATE KEY-----\nMAMCAQA=\n"] {
            assert!(
                malformed(PrivateKey::from_pkcs8_pem(garbage).map(drop)),
                "{garbage:?}"
            );
            assert!(malformed(PrivateKey::from_pem_any(garbage, None).map(drop)));
            assert!(malformed(PublicKey::from_spki_pem(garbage).map(drop)));
        }
        // Right label, broken Base64 body.
        let bad_body =
            |label: &str| format!("-----BEGIN {label}-----\n!!!!\n-----END {label}-----\n");
        assert!(malformed(
            PrivateKey::from_pkcs8_pem(&bad_body("PRIVATE KEY")).map(drop)
        ));
        assert!(malformed(
            PrivateKey::from_pkcs8_encrypted_pem(&bad_body("ENCRYPTED PRIVATE KEY"), b"pw")
                .map(drop)
        ));
        assert!(malformed(
            PrivateKey::from_pem_any(&bad_body("EC PRIVATE KEY"), None).map(drop)
        ));
        assert!(malformed(
            PublicKey::from_spki_pem(&bad_body("PUBLIC KEY")).map(drop)
        ));
        // Well-formed PEM around a structure that is not an SM2 key.
        let not_a_key = "-----BEGIN PRIVATE KEY-----\nMAMCAQA=\n-----END PRIVATE KEY-----\n";
        assert!(matches!(
            PrivateKey::from_pkcs8_pem(not_a_key),
            Err(CryptoError::InvalidPrivateKey { .. })
        ));
        // A P-256 key (same id-ecPublicKey algorithm, different curve).
        let p256 = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEQ1uKwzSo2WKXvtYCaH2hdMzp0eUa
Ekzs4mS/7OZBqB5ElXfqYMcZvyaUKd6mW4Z8e6Y6Sf4szkeT2pYXD/PLoA==
-----END PUBLIC KEY-----
";
        assert!(matches!(
            PublicKey::from_spki_pem(p256),
            Err(CryptoError::InvalidPublicKey { .. })
        ));
    }

    #[test]
    fn public_key_encodings() {
        let public = PrivateKey::generate().public_key();
        let sec1 = public.to_sec1();
        assert_eq!(sec1.len(), 65);
        assert_eq!(sec1[0], 0x04);
        assert_eq!(PublicKey::from_sec1(&sec1).unwrap(), public);

        // Compressed form: 02/03 by the parity of y.
        let mut compressed = vec![0x02 | (sec1[64] & 1)];
        compressed.extend_from_slice(&sec1[1..33]);
        assert_eq!(PublicKey::from_sec1(&compressed).unwrap(), public);
        compressed[0] ^= 1;
        assert_ne!(PublicKey::from_sec1(&compressed).unwrap(), public);

        let pem = public.to_spki_pem();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        assert_eq!(PublicKey::from_spki_pem(&pem).unwrap(), public);

        for bad in [&[][..], &[0x00][..], &sec1[..64], &[0x04; 65][..]] {
            assert!(matches!(
                PublicKey::from_sec1(bad),
                Err(CryptoError::InvalidPublicKey { .. })
            ));
        }
        // Off-curve point: y + 1.
        let mut off = sec1.clone();
        off[64] ^= 1;
        assert!(PublicKey::from_sec1(&off).is_err());
    }

    #[test]
    fn fingerprint_and_debug() {
        let key = PrivateKey::from_pkcs8_pem(OPENSSL_KEY).unwrap();
        let public = key.public_key();
        let fp = public.fingerprint();
        assert_eq!(fp.len(), 40);
        assert!(
            fp.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        assert_eq!(
            fp,
            hex::encode(&sm3(&hex::decode(OPENSSL_PUB_SEC1).unwrap())[..20])
        );
        assert_eq!(format!("{public:?}"), format!("PublicKey({fp})"));

        let dbg = format!("{key:?} {key:#?}");
        assert!(dbg.contains(&fp));
        assert!(!dbg.to_lowercase().contains(&OPENSSL_SECRET_HEX[..16]));
        assert!(!dbg.contains("6F830BFA"));
    }

    #[test]
    fn public_keys_hash_by_point() {
        use std::collections::HashSet;
        let a = PrivateKey::generate().public_key();
        let b = PrivateKey::generate().public_key();
        let set: HashSet<PublicKey> = [a.clone(), b.clone(), a.clone()].into_iter().collect();
        assert_eq!(set.len(), 2);
        assert!(set.contains(&PublicKey::from_sec1(&a.to_sec1()).unwrap()));
    }

    #[test]
    fn keys_from_bytes_and_seeded_encryption_are_reproducible() {
        let secret: [u8; 32] = hex::decode(OPENSSL_SECRET_HEX).unwrap().try_into().unwrap();
        let key = PrivateKey::from_bytes(&secret).unwrap();
        assert_eq!(
            key.public_key(),
            PrivateKey::from_pkcs8_pem(OPENSSL_KEY)
                .unwrap()
                .public_key()
        );
        assert!(PrivateKey::from_bytes(&[0; 32]).is_err());
        assert!(PrivateKey::from_bytes(&[0xff; 32]).is_err());

        let public = key.public_key();
        let once = public.encrypt_with_seed(b"share", &[1; 32]);
        assert_eq!(once, public.encrypt_with_seed(b"share", &[1; 32]));
        assert_ne!(once, public.encrypt_with_seed(b"share", &[2; 32]));
        assert_eq!(key.decrypt(&once).unwrap(), b"share");
    }
}
