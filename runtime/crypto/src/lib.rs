//! Chinese national ("ShangMi") cryptography for govchain.
//!
//! This crate is the single place where the rest of the workspace gets its
//! cryptographic primitives from:
//!
//! - **SM3** hashing ([`sm3()`], [`sm3_parts`], [`Sm3Hasher`]) — GB/T 32905 / GM/T 0004.
//! - **SM2** digital signatures ([`PrivateKey`], [`PublicKey`], [`Signature`]) —
//!   GB/T 32918 / GM/T 0003, always with SM3 and the GM/T 0009 default
//!   distinguishing identifier [`DEFAULT_DIST_ID`], so signatures interoperate
//!   with OpenSSL 3 (`openssl pkeyutl -rawin -digest sm3 -pkeyopt
//!   distid:1234567812345678`). Keys load from and save to the PEM formats
//!   OpenSSL writes (PKCS#8, encrypted PKCS#8, SPKI).
//! - **Merkle trees** ([`merkle`]) — RFC 9162 tree hashing with SM3 in place
//!   of SHA-256, with inclusion proofs.
//! - **SM2 encryption** ([`PublicKey::encrypt`], [`PrivateKey::decrypt`]) — GB/T 32918.4,
//!   in the DER form `openssl pkeyutl -encrypt` writes.
//! - **Secret files** ([`secret`]) — other secrets in PEM, PBES2-encrypted like the keys.
//! - **SM4-GCM** authenticated encryption ([`sm4gcm`]) — GB/T 32907 / GM/T
//!   0002 block cipher in NIST SP 800-38D Galois/Counter Mode (RFC 8998).
//!
//! All fallible operations return [`Result`] with the crate's single error type
//! [`CryptoError`].
//!
//! ```
//! use govchain_crypto::{PrivateKey, sm3};
//!
//! let key = PrivateKey::generate();
//! let sig = key.sign(b"hello");
//! key.public_key().verify(b"hello", &sig).unwrap();
//! assert_eq!(sm3(b"abc").len(), 32);
//! ```

mod error;
pub mod fastverify;
mod hash;
pub mod merkle;
pub mod secret;
mod signature;
pub mod signer;
mod sm2;
pub mod sm4gcm;
pub mod threshold;

pub use crate::error::{CryptoError, ProofFailure, Result};
pub use crate::hash::{Hash, Sm3Hasher, hmac_sm3, sm3, sm3_parts};
pub use crate::signature::Signature;
pub use crate::signer::{SharedSigner, Sm2Signer};
pub use crate::sm2::{DEFAULT_DIST_ID, PrivateKey, PublicKey, verify_sec1};

/// 32 bytes from the operating system's generator: the fresh randomness that seeded
/// operations take (threshold custody's envelopes and released shares).
pub fn random_seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).expect("operating system random number generator failed");
    seed
}
