//! SM4-GCM authenticated encryption (SM4 of GB/T 32907 / GM/T 0002 in the
//! Galois/Counter Mode of NIST SP 800-38D, as specified for TLS in RFC 8998).
//!
//! Sealed messages have the layout `nonce (12) || ciphertext || tag (16)`.
//!
//! ```
//! use govchain_crypto::sm4gcm::{DataKey, open, seal};
//!
//! let key = DataKey::generate();
//! let sealed = seal(&key, b"secret record", b"record-id-42");
//! assert_eq!(open(&key, &sealed, b"record-id-42").unwrap(), b"secret record");
//! assert!(open(&key, &sealed, b"record-id-43").is_err());
//! ```

use std::fmt;

use aes_gcm::AesGcm;
use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{AeadInOut, KeyInit};
use sm4::Sm4;
use sm4::cipher::{Array, BlockCipherEncrypt};
use zeroize::Zeroize;

use crate::error::{CryptoError, Result};

/// SM4 key length in bytes.
pub const KEY_LEN: usize = 16;
/// GCM nonce length in bytes.
pub const NONCE_LEN: usize = 12;
/// GCM authentication tag length in bytes.
pub const TAG_LEN: usize = 16;

/// SM4 in GCM mode with a 96-bit nonce and 128-bit tag.
type Sm4Gcm = AesGcm<Sm4, U12>;

/// A 128-bit SM4 data-encryption key.
///
/// The key bytes are zeroized when the value is dropped, and `Debug` does not
/// print them.
#[derive(Clone)]
pub struct DataKey([u8; KEY_LEN]);

impl DataKey {
    /// A fresh random key from the operating system's random number generator.
    ///
    /// # Panics
    /// If the operating system's random number generator fails.
    pub fn generate() -> Self {
        let mut key = Self([0u8; KEY_LEN]);
        fill_random(&mut key.0);
        key
    }

    /// A key from its 16 raw bytes.
    ///
    /// # Errors
    /// [`CryptoError::InvalidKeyLength`] unless `b` is exactly 16 bytes.
    pub fn from_bytes(b: &[u8]) -> Result<Self> {
        <[u8; KEY_LEN]>::try_from(b)
            .map(Self)
            .map_err(|_| CryptoError::InvalidKeyLength {
                expected: KEY_LEN,
                actual: b.len(),
            })
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    fn cipher(&self) -> Sm4Gcm {
        Sm4Gcm::new((&self.0).into())
    }
}

impl Drop for DataKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

/// Encrypt and authenticate `plaintext` (and authenticate `aad`) under a fresh
/// random nonce. Returns `nonce || ciphertext || tag`.
///
/// Random 96-bit nonces are safe for up to about 2^32 messages per key
/// (NIST SP 800-38D §8.3); rotate data keys well before that.
///
/// # Panics
/// If the operating system's random number generator fails, or if
/// `plaintext` exceeds GCM's limit of 2^36 − 32 bytes.
pub fn seal(key: &DataKey, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    fill_random(&mut nonce);
    seal_with_nonce(key, &nonce, plaintext, aad)
}

/// Like [`seal`] but with a caller-chosen nonce, for known-answer tests and
/// deterministic encodings. **Never** use the same nonce twice with one key:
/// that reveals the XOR of the plaintexts and lets an attacker forge tags.
///
/// # Panics
/// If `plaintext` exceeds GCM's limit of 2^36 − 32 bytes.
pub fn seal_with_nonce(
    key: &DataKey,
    nonce: &[u8; NONCE_LEN],
    plaintext: &[u8],
    aad: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
    out.extend_from_slice(nonce);
    out.extend_from_slice(plaintext);
    let tag = key
        .cipher()
        .encrypt_inout_detached(nonce.into(), aad, (&mut out[NONCE_LEN..]).into())
        .expect("plaintext within the SM4-GCM length limit");
    out.extend_from_slice(&tag);
    out
}

/// Check and decrypt `sealed` (`nonce || ciphertext || tag`, as [`seal`]
/// returns) with associated data `aad`.
///
/// # Errors
/// [`CryptoError::DecryptFailed`] if `sealed` is shorter than nonce plus tag,
/// or if authentication fails (tampered data, wrong key or wrong `aad`). No
/// plaintext is released in that case.
pub fn open(key: &DataKey, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(CryptoError::DecryptFailed);
    }
    let (nonce, rest) = sealed.split_at(NONCE_LEN);
    let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
    let nonce: &[u8; NONCE_LEN] = nonce.try_into().expect("split at NONCE_LEN");
    let tag: &[u8; TAG_LEN] = tag.try_into().expect("split at TAG_LEN");
    let mut buf = ciphertext.to_vec();
    key.cipher()
        .decrypt_inout_detached(nonce.into(), aad, buf.as_mut_slice().into(), tag.into())
        .map_err(|_| CryptoError::DecryptFailed)?;
    Ok(buf)
}

/// Encrypt one 16-byte block with raw SM4 (no mode). Meant for known-answer
/// tests; never use it to encrypt data directly.
pub fn encrypt_block(key: &[u8; KEY_LEN], block: &[u8; 16]) -> [u8; 16] {
    let cipher = Sm4::new(key.into());
    let mut b = Array::from(*block);
    cipher.encrypt_block(&mut b);
    b.into()
}

fn fill_random(buf: &mut [u8]) {
    getrandom::fill(buf).expect("operating system random number generator failed");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex<const N: usize>(s: &str) -> [u8; N] {
        let mut out = [0u8; N];
        hex::decode_to_slice(s, &mut out).unwrap();
        out
    }

    #[test]
    fn sm4_gmt_0002_example() {
        // GM/T 0002-2012 Appendix A, example 1.
        let k = unhex::<16>("0123456789abcdeffedcba9876543210");
        assert_eq!(
            encrypt_block(&k, &k),
            unhex::<16>("681edf34d206965e86b3e94f536e4246")
        );
    }

    #[test]
    fn sm4_gmt_0002_million_rounds() {
        // GM/T 0002-2012 Appendix A, example 2: encrypt 1,000,000 times.
        let k = unhex::<16>("0123456789abcdeffedcba9876543210");
        let cipher = Sm4::new((&k).into());
        let mut b = Array::from(k);
        for _ in 0..1_000_000 {
            cipher.encrypt_block(&mut b);
        }
        assert_eq!(
            <[u8; 16]>::from(b),
            unhex::<16>("595298c7c6fd271f0402f804c33d3f66")
        );
    }

    #[test]
    fn rfc8998_sm4_gcm_vector() {
        // RFC 8998 Appendix A.1 (SM4-GCM); also reproduced with Python
        // `cryptography` 48.0.0 (OpenSSL backend):
        // Cipher(algorithms.SM4(key), modes.GCM(iv)).encryptor() with
        // authenticate_additional_data(aad).
        let key = DataKey::from_bytes(&unhex::<16>("0123456789abcdeffedcba9876543210")).unwrap();
        let nonce = unhex::<12>("00001234567800000000abcd");
        let aad = unhex::<20>("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        let pt = hex::decode(
            "aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbccccccccccccccccdddddddddddddddd\
             eeeeeeeeeeeeeeeeffffffffffffffffeeeeeeeeeeeeeeeeaaaaaaaaaaaaaaaa",
        )
        .unwrap();
        let expected = [
            "00001234567800000000abcd",
            "17f399f08c67d5ee19d0dc9969c4bb7d5fd46fd3756489069157b282bb200735",
            "d82710ca5c22f0ccfa7cbf93d496ac15a56834cbcf98c397b4024a2691233b8d",
            "83de3541e4c2b58177e065a9bf7b62ec",
        ]
        .concat();
        let sealed = seal_with_nonce(&key, &nonce, &pt, &aad);
        assert_eq!(hex::encode(&sealed), expected);
        assert_eq!(open(&key, &sealed, &aad).unwrap(), pt);
    }

    #[test]
    fn python_cryptography_sm4_gcm_vector() {
        // Produced once with Python `cryptography` 48.0.0 (OpenSSL backend):
        //   enc = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
        //   enc.authenticate_additional_data(b"govchain-aad")
        //   ct = enc.update(pt) + enc.finalize(); tag = enc.tag
        // with a 46-byte plaintext (not a multiple of the block size).
        let key = DataKey::from_bytes(&unhex::<16>("0123456789abcdeffedcba9876543210")).unwrap();
        let nonce = unhex::<12>("00001234567800000000abcd");
        let pt = b"govchain SM4-GCM known-answer test: 47 bytes..";
        assert_eq!(pt.len(), 46);
        let expected = [
            "00001234567800000000abcd",
            "da3645394eac162a82382a16ff38438bb373cd70cec668ab22f9183a14ddae8d45bdc40486fb3e407cf7251f0547",
            "f4364917250edcd015db47fddc84c802",
        ]
        .concat();
        let sealed = seal_with_nonce(&key, &nonce, pt, b"govchain-aad");
        assert_eq!(hex::encode(&sealed), expected);
        assert_eq!(open(&key, &sealed, b"govchain-aad").unwrap(), pt);
    }

    #[test]
    fn seal_open_roundtrip_and_layout() {
        let key = DataKey::generate();
        for len in [0usize, 1, 15, 16, 17, 1000] {
            let pt: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let a = seal(&key, &pt, b"aad");
            let b = seal(&key, &pt, b"aad");
            assert_eq!(a.len(), NONCE_LEN + len + TAG_LEN);
            assert_ne!(a[..NONCE_LEN], b[..NONCE_LEN], "nonces must be fresh");
            assert_eq!(open(&key, &a, b"aad").unwrap(), pt);
            assert_eq!(open(&key, &b, b"aad").unwrap(), pt);
        }
    }

    #[test]
    fn tampering_is_detected() {
        let key = DataKey::generate();
        let sealed = seal(&key, b"attack at dawn", b"ctx");
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert_eq!(
                open(&key, &bad, b"ctx"),
                Err(CryptoError::DecryptFailed),
                "byte {i}"
            );
        }
        assert_eq!(
            open(&key, &sealed, b"ctx2"),
            Err(CryptoError::DecryptFailed)
        );
        assert_eq!(open(&key, &sealed, b""), Err(CryptoError::DecryptFailed));
        let other = DataKey::generate();
        assert_eq!(
            open(&other, &sealed, b"ctx"),
            Err(CryptoError::DecryptFailed)
        );
        assert_eq!(
            open(&key, &sealed[..sealed.len() - 1], b"ctx"),
            Err(CryptoError::DecryptFailed)
        );
        for short in 0..NONCE_LEN + TAG_LEN {
            assert_eq!(
                open(&key, &sealed[..short], b"ctx"),
                Err(CryptoError::DecryptFailed)
            );
        }
    }

    #[test]
    fn data_key_bytes_and_debug() {
        let raw = [0x5au8; KEY_LEN];
        let key = DataKey::from_bytes(&raw).unwrap();
        assert_eq!(key.as_bytes(), &raw);
        assert_eq!(key.clone().as_bytes(), &raw);
        let dbg = format!("{key:?}");
        assert_eq!(dbg, "DataKey(<redacted>)");
        assert!(!dbg.to_lowercase().contains("5a"));
        assert!(matches!(
            DataKey::from_bytes(&[0u8; 15]),
            Err(CryptoError::InvalidKeyLength {
                expected: 16,
                actual: 15
            })
        ));
        assert!(DataKey::from_bytes(&[0u8; 32]).is_err());
        assert_ne!(
            DataKey::generate().as_bytes(),
            DataKey::generate().as_bytes()
        );
    }
}
