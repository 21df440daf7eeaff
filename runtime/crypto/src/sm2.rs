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
use pkcs8::der::{Document, SecretDocument};
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
    /// scrypt, and AES-128/192/256-CBC or AES-GCM.
    ///
    /// # Errors
    /// [`CryptoError::KeyDecryptionFailed`] for a wrong passphrase,
    /// [`CryptoError::UnsupportedKeyEncryption`] for other schemes (such as
    /// PBES1 or PBKDF2 with HMAC-SHA1), and the PEM and key errors of
    /// [`PrivateKey::from_pkcs8_pem`].
    pub fn from_pkcs8_encrypted_pem(pem: &str, passphrase: &[u8]) -> Result<Self> {
        let doc = decode_secret_pem(pem, LABEL_ENCRYPTED_PKCS8, "ENCRYPTED PRIVATE KEY")?;
        let info = EncryptedPrivateKeyInfoRef::try_from(doc.as_bytes()).map_err(invalid_private)?;
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
    /// - `EC PRIVATE KEY` (SEC1, as `openssl ecparam -name SM2 -genkey`
    ///   writes): `passphrase` is ignored. Legacy OpenSSL-encrypted SEC1 files
    ///   (with a `Proc-Type` header) are not supported.
    ///
    /// # Errors
    /// [`CryptoError::PassphraseRequired`] for an encrypted key without a
    /// passphrase, [`CryptoError::UnexpectedPemLabel`] for other labels, and
    /// the errors of the specific loaders.
    pub fn from_pem_any(pem: &str, passphrase: Option<&[u8]>) -> Result<Self> {
        const EXPECTED: &str = "PRIVATE KEY, ENCRYPTED PRIVATE KEY or EC PRIVATE KEY";
        let label = pem_label(pem)?;
        match label {
            LABEL_PKCS8 => Self::from_pkcs8_pem(pem),
            LABEL_ENCRYPTED_PKCS8 => match passphrase {
                Some(passphrase) => Self::from_pkcs8_encrypted_pem(pem, passphrase),
                None => Err(CryptoError::PassphraseRequired),
            },
            LABEL_SEC1 => {
                let doc = decode_secret_pem(pem, LABEL_SEC1, EXPECTED)?;
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
        // The deterministic nonce is unusable only if r = 0, r + k = n or
        // s = 0; retry with a randomized (hedged) nonce in that case.
        let sig = match self.inner.try_sign(msg) {
            Ok(sig) => sig,
            Err(_) => loop {
                if let Ok(sig) = self.inner.try_sign_with_rng(&mut SysRng, msg) {
                    break sig;
                }
            },
        };
        Signature(sig.to_bytes().into())
    }

    fn from_scalar(scalar: NonZeroScalar) -> Self {
        let inner = SigningKey::from_nonzero_scalar(DEFAULT_DIST_ID, scalar)
            .expect("DEFAULT_DIST_ID is a valid distinguishing identifier");
        Self { inner }
    }

    fn from_pkcs8_der(der: &[u8]) -> Result<Self> {
        let secret = SecretKey::from_pkcs8_der(der).map_err(invalid_private)?;
        Ok(Self::from_scalar(secret.to_nonzero_scalar()))
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
                reason: format!("{} bytes are not a SEC1-encoded SM2 curve point", bytes.len()),
            }
        })?;
        Ok(Self::from_point(point))
    }

    /// The uncompressed SEC1 encoding (65 bytes, `04 || x || y`).
    pub fn to_sec1(&self) -> Vec<u8> {
        self.inner.to_sec1_bytes().into_vec()
    }

    /// Parse a SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`), as
    /// written by `openssl pkey -pubout`.
    ///
    /// # Errors
    /// [`CryptoError::MalformedPem`], [`CryptoError::UnexpectedPemLabel`] or
    /// [`CryptoError::InvalidPublicKey`] (for example a key on another curve).
    pub fn from_spki_pem(pem: &str) -> Result<Self> {
        check_label(pem, LABEL_SPKI, "PUBLIC KEY")?;
        let (_, doc) = Document::from_pem(pem.trim_start()).map_err(|e| pem_or(e, invalid_public))?;
        let point = ::sm2::PublicKey::from_public_key_der(doc.as_bytes())
            .map_err(|e| CryptoError::InvalidPublicKey { reason: e.to_string() })?;
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
        let sig = ::sm2::dsa::Signature::from_slice(&sig.0).map_err(|_| CryptoError::BadSignature)?;
        self.inner
            .verify(msg, &sig)
            .map_err(|_| CryptoError::BadSignature)
    }

    /// The key's "derived id": the first 20 bytes of `SM3(to_sec1())` as 40
    /// lowercase hex characters.
    pub fn fingerprint(&self) -> String {
        hex::encode(&sm3(&self.to_sec1())[..FINGERPRINT_LEN])
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
fn pem_label(pem: &str) -> Result<&str> {
    pkcs8::der::pem::decode_label(pem.trim_start().as_bytes())
        .map_err(|e| CryptoError::MalformedPem { reason: e.to_string() })
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
        pkcs8::der::ErrorKind::Pem(pem) => CryptoError::MalformedPem {
            reason: pem.to_string(),
        },
        _ => other(e),
    }
}

fn invalid_private(e: impl fmt::Display) -> CryptoError {
    CryptoError::InvalidPrivateKey {
        reason: e.to_string(),
    }
}

fn invalid_public(e: pkcs8::der::Error) -> CryptoError {
    CryptoError::InvalidPublicKey {
        reason: e.to_string(),
    }
}
