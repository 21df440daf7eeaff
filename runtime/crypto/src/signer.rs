//! The seam between code that signs and where the private key lives
//! (`docs/design/keys.md`, "Where signing keys live"). Everything that signs with a
//! validator's block key (proposals, votes, blocks, the validator account's
//! transactions) holds a [`SharedSigner`], not a key: today a [`PrivateKey`] in memory,
//! opened from its sealed file; a GM/T 0018 (SDF) or PKCS#11 cryptographic device, which
//! keeps the key inside and signs on request, is another implementation of the same
//! trait, with no change to consensus or the workers.

use std::sync::Arc;

use crate::{PrivateKey, PublicKey, Signature};

/// Signs with one SM2 key, as GM/T 0003.2 prescribes: the signed digest is
/// `SM3(Z_A ‖ message)` under [`crate::DEFAULT_DIST_ID`], the signature raw `r‖s`.
/// An implementation must give signatures that [`PublicKey::verify`] accepts under
/// [`Sm2Signer::public_key`].
pub trait Sm2Signer: Send + Sync + std::fmt::Debug {
    /// The public half of the key it signs with.
    fn public_key(&self) -> PublicKey;

    /// Signs `message`.
    fn sign(&self, message: &[u8]) -> Signature;
}

/// A signer shared by the tasks that sign with it.
pub type SharedSigner = Arc<dyn Sm2Signer>;

impl Sm2Signer for PrivateKey {
    fn public_key(&self) -> PublicKey {
        PrivateKey::public_key(self)
    }

    fn sign(&self, message: &[u8]) -> Signature {
        PrivateKey::sign(self, message)
    }
}

impl<S: Sm2Signer + ?Sized> Sm2Signer for Arc<S> {
    fn public_key(&self) -> PublicKey {
        (**self).public_key()
    }

    fn sign(&self, message: &[u8]) -> Signature {
        (**self).sign(message)
    }
}

/// A signer holding `key` in memory.
pub fn in_memory(key: PrivateKey) -> SharedSigner {
    Arc::new(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_in_memory_signs_what_its_public_key_verifies() {
        let key = PrivateKey::generate();
        let signer = in_memory(key.clone());
        let sig = signer.sign(b"block 7");
        assert!(signer.public_key().verify(b"block 7", &sig).is_ok());
        assert!(key.public_key().verify(b"block 8", &sig).is_err());
        assert_eq!(signer.public_key(), key.public_key());
    }
}
